"""Genesys Cloud user recordings (`/api/v2/userrecordings`), behind the provider interface.

What this adapter survives (reference: the provider page `genesys.md`):

- **Auth**: either a user access token from the config (user recordings belong to a user; on a
  401 there is nothing to refresh, so `AuthError`), or the OAuth client-credentials grant
  against the region's login origin (`login_url`), fetched again shortly before it expires and
  once after a 401, then the call replayed. The bearer token goes to the API origin only; the
  client secret goes to the login origin only.
- **Paging**: 1-based `pageNumber` + `pageSize`, exact `total`/`pageCount`. The page links
  (`nextUri` …) are host-relative and may be missing; the adapter computes page numbers itself
  and uses the links only as an "is there more" signal, so a link that repeats or cycles cannot
  make it loop. Rows repeated from the page the cursor came from (the list changed meanwhile)
  are dropped.
- **No sort, no filter, order unconfirmed**: every server sort or filter is `Unsupported`; rows
  are sorted newest-first within each page and the page is marked "order approximate".
- **Fields may be missing, null, of the wrong type or unknown** (the model changed over time:
  `contentUri` went away, `MP3`/`async` arrived): every field is optional and a bad one becomes
  "—" with a warning; an item without an id is dropped with a warning.
- **`expand=conversation` makes items huge**: never asked for in listings, only for the detail
  (it gives the caller, callee, direction and conversation id).
- **Media in two steps**: `…/media?formatId=MP3&async=true` answers 202 while transcoding
  (polled every 1–2 s, at most 60 s), then a `contentLocationUri`: a temporary, pre-signed link
  on another host, fetched with no credentials, checked first (http(s) only, no private or
  loopback target unless the provider itself is local), re-requested once when it expired. A
  server that does not know `MP3` (older API generations) gets `WAV`.
- **DELETE is asynchronous (202) and permanent**, and the item may stay listed for a while:
  recordings this adapter deleted are hidden from its listings for a few minutes. An ambiguous
  delete (5xx, timeout) is verified with a GET (RELIABILITY.md §1.3).
- **Rename**: GET the item, change `name`, PUT the whole object back. No tags.
- **429** always carries `Retry-After` (seconds); without one the SDKs wait 3 s, so our backoff
  for a bare 429 starts from 3 s.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import json
import os
import re
from collections.abc import Generator, Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any, ClassVar

import httpx
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveInt,
    SecretStr,
    StrictBool,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from rectui.errors import (
    AuthError,
    BadResponse,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from rectui.logs import redact, register_secret
from rectui.mediafiles import cache_key, cache_path, sniff_file, temp_path
from rectui.models import Capabilities, Cursor, DeleteOutcome, ListQuery, Media, Page, Recording
from rectui.providers.base import DEFAULT_MAX_MEDIA_BYTES, BaseProvider
from rectui.providers.http import OriginBoundAuth, RetryPolicy, origin_of, parse_retry_after, safe_path
from rectui.sanitize import one_line

API_ROOT = "/api/v2/userrecordings"
MEDIA_FORMAT = "MP3"              # what a terminal player decodes best; smaller than WAV
FALLBACK_FORMAT = "WAV"           # for servers from before MP3 was a formatId
POLL_FIRST, POLL_FACTOR, POLL_MAX = 1.0, 1.5, 2.0
POLL_DEADLINE = 60.0              # seconds of 202s before "still transcoding"
GHOST_SECONDS = 300.0             # hide what we deleted from listings for this long (async delete)
TOKEN_MARGIN = 300.0              # fetch a new client-credentials token this long before expiry
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


# -- wire models ----------------------------------------------------------------------------------

def _as_utc(value: datetime) -> datetime:
    """Genesys sends UTC with a `Z`; a time without a zone is taken as UTC too."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcTime = Annotated[datetime, AfterValidator(_as_utc)]


class _Wire(BaseModel):
    """Every field optional; unknown fields ignored (the raw document keeps them); a field of the
    wrong type becomes None and its name is noted in the validation context's `bad` list."""

    model_config = ConfigDict(extra="ignore")

    @field_validator("*", mode="wrap")
    @classmethod
    def _lenient(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        try:
            return handler(value)
        except ValidationError:
            bad = info.context.get("bad") if isinstance(info.context, dict) else None
            if isinstance(bad, list) and info.field_name:
                bad.append(info.field_name)
            return None


class _Ref(BaseModel):
    """`DomainEntityRef`: `{id, name, selfUri}` (a bad part makes the whole reference unreadable)."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    name: str | None = None
    selfUri: str | None = None

    def label(self) -> str | None:
        if self.name and self.id:
            return f"{self.name} ({self.id})"
        return self.name or self.id


class _UserRecording(_Wire):
    """`UserRecording`; a single item has the shape of one listing entity."""

    id: str | None = None
    name: str | None = None
    dateCreated: UtcTime | None = None
    dateModified: UtcTime | None = None
    contentUri: str | None = None          # older API generations only
    workspace: _Ref | None = None
    createdBy: _Ref | None = None
    conversation: dict[str, Any] | None = None   # only with expand=conversation
    contentLength: NonNegativeInt | None = None
    durationMilliseconds: NonNegativeFloat | None = None
    thumbnails: list[Any] | None = None
    read: StrictBool | None = None
    selfUri: str | None = None

    def to_recording(self, adapter: GenesysProvider, raw: dict[str, Any], bad: list[str]) -> Recording:
        rid = self.id or ""
        conv = _Conversation.of(self.conversation)
        return Recording(
            provider=adapter.id,
            id=rid,
            id_valid=adapter.id_is_safe(rid),
            title=self.name or "",
            start=self.dateCreated,
            duration=None if self.durationMilliseconds is None else self.durationMilliseconds / 1000,
            caller=conv.caller,
            callee=conv.callee,
            owner=self.createdBy.label() if self.createdBy else None,
            direction=conv.direction,
            status="available",
            call_id=conv.id,
            size=self.contentLength,
            has_media=True,
            details=partial(self.details, raw, bad, conv),     # built when the row is opened
            raw=raw,
        )

    def details(self, raw: dict[str, Any], bad: list[str], conv: _Conversation) -> dict[str, str]:
        """Every field of the document as label → readable value, in the document's order."""
        out: dict[str, str] = {}
        for key, value in raw.items():
            label = _LABELS.get(key, key)
            if key in bad:
                out[label] = "—"
                continue
            if key == "conversation":
                out.update(conv.details)
                continue
            parsed = getattr(self, key, None) if key in _LABELS else None
            if key in ("dateCreated", "dateModified") and isinstance(parsed, datetime):
                out[label] = parsed.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
            elif key == "durationMilliseconds" and parsed is not None:
                out[label] = _clock(parsed / 1000)
            elif key == "contentLength" and parsed is not None:
                out[label] = f"{parsed:,} bytes"
            elif key == "read" and parsed is not None:
                out[label] = "yes" if parsed else "no"
            elif isinstance(parsed, _Ref):
                out[label] = parsed.label() or "—"
            elif key == "thumbnails" and isinstance(parsed, list):
                out[label] = str(len(parsed)) if parsed else "none"
            else:
                out[label] = _readable(value)
        if bad:
            out["Unreadable fields"] = ", ".join(_LABELS.get(k, k) for k in dict.fromkeys(bad))
        return out


_LABELS = {"id": "Id", "name": "Name", "dateCreated": "Created", "dateModified": "Modified",
           "contentUri": "Content URI", "workspace": "Workspace", "createdBy": "Created by",
           "conversation": "Conversation", "contentLength": "Size", "durationMilliseconds": "Duration",
           "thumbnails": "Thumbnails", "read": "Read", "selfUri": "Self URI"}


class _Conversation:
    """What the detail pane needs from the (large, loosely typed) expanded `Conversation`."""

    def __init__(self) -> None:
        self.id: str | None = None
        self.caller: str | None = None
        self.callee: str | None = None
        self.direction: str | None = None
        self.details: dict[str, str] = {}

    @classmethod
    def of(cls, conv: dict[str, Any] | None) -> _Conversation:
        out = cls()
        if not isinstance(conv, dict):
            return out
        out.id = _str(conv.get("id"))
        parts = [p for p in conv.get("participants") or [] if isinstance(p, dict)] \
            if isinstance(conv.get("participants"), list) else []
        for p in parts:
            if out.caller is None and _str(p.get("ani")):
                out.caller, out.callee = _address(p.get("ani")), _address(p.get("dnis"))
            for call in p.get("calls") or [] if isinstance(p.get("calls"), list) else []:
                if isinstance(call, dict) and out.direction is None and _str(call.get("direction")):
                    out.direction = _str(call.get("direction"))
        if out.id:
            out.details["Conversation id"] = out.id
        for key, label in (("startTime", "Conversation start"), ("endTime", "Conversation end")):
            if _str(conv.get(key)):
                out.details[label] = str(conv[key])
        if parts:
            out.details["Participants"] = "; ".join(
                " ".join(x for x in (_str(p.get("purpose")) or "participant", _str(p.get("name")),
                                     f"({_address(p.get('address'))})" if _str(p.get("address")) else None) if x)
                for p in parts)
        return out


class _Listing(_Wire):
    """`UserRecordingEntityListing`."""

    entities: list[Any] | None = None
    pageSize: PositiveInt | None = None
    pageNumber: PositiveInt | None = None
    total: NonNegativeInt | None = None
    pageCount: NonNegativeInt | None = None
    nextUri: str | None = None
    previousUri: str | None = None


class _DownloadResponse(_Wire):
    """`DownloadResponse`: only `contentLocationUri` matters."""

    contentLocationUri: str | None = None
    state: str | None = None


class _Summary(_Wire):
    """`FaxSummary` of `/userrecordings/summary`."""

    readCount: NonNegativeInt | None = None
    unreadCount: NonNegativeInt | None = None
    totalCount: NonNegativeInt | None = None


class _Token(BaseModel):
    model_config = ConfigDict(extra="ignore")
    access_token: Annotated[str, Field(min_length=1)]
    token_type: str | None = None
    expires_in: float | None = None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _address(value: Any) -> str | None:
    s = _str(value)
    if s is None:
        return None
    for prefix in ("tel:", "sip:"):
        if s.startswith(prefix):
            return s[len(prefix):]
    return s


def _clock(seconds: float) -> str:
    s = round(seconds)
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def _readable(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))[:2000]


def _hash(rid: str) -> str:
    return hashlib.sha256(rid.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def _is_private_host(host: str) -> bool:
    """Loopback, private, link-local, multicast or otherwise non-public IP literals, and
    `localhost`. (Names are not resolved here.)"""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
            or ip.is_unspecified)


# -- credentials ----------------------------------------------------------------------------------

class _BearerAuth(OriginBoundAuth):
    """`Authorization: Bearer <token>` for the API origin only; the token can be replaced."""

    def __init__(self, origins: tuple[str, ...], token: SecretStr | None = None) -> None:
        super().__init__(origins)
        self.token: SecretStr | None = None
        if token is not None:
            self.set(token.get_secret_value())

    def set(self, token: str | None) -> None:
        register_secret(token)
        self.token = SecretStr(token) if token else None

    def current(self) -> str | None:
        return self.token.get_secret_value() if self.token else None

    def credential_headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {self.token.get_secret_value()}"} if self.token else {}

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        # A request that carries its own Authorization (the token request's Basic header, should
        # the login and API origins ever be one) keeps it.
        if "authorization" in request.headers:
            yield request
            return
        yield from super().auth_flow(request)


# -- the adapter ------------------------------------------------------------------------------------

class GenesysProvider(BaseProvider):
    kind: ClassVar[str] = "genesys"
    capabilities: ClassVar[Capabilities] = Capabilities(
        page_style="number",
        exact_total=True,                 # `total` and `pageCount` in every listing
        server_sort=frozenset(),          # the endpoint has no sort parameter
        server_filters=frozenset(),       # … and no filter (no dates, no read state)
        max_page_size=100,                # unconfirmed; many Genesys listings cap at 100
        media=True,
        can_delete=True,                  # 202, asynchronous and permanent
        can_restore=False,
        can_purge=False,
        server_tags=False,                # no tag concept at all
        can_rename=True,
        rename_fields=("name",),
    )
    ID_PATTERN = re.compile(_UUID)
    ORDER_APPROXIMATE: ClassVar[bool] = True

    def __init__(self, name: str, settings: Any, **kwargs: Any) -> None:
        super().__init__(name, settings, **kwargs)
        self._token_lock = asyncio.Lock()
        self._token_expires: float | None = None      # on self.http.clock
        self._gone: dict[str, float] = {}             # id → hide from listings until (wall clock)
        self.delete_outcomes: dict[str, DeleteOutcome] = {}
        """How each delete ended: `deleted`, or `deleted-confirmed-by-404` after an ambiguous try."""
        self.check_note: str | None = None
        """Set by `check()` when it has something to say beyond "ok" (no recordings visible)."""
        if self._client_credentials:
            register_secret(settings.client_secret.get_secret_value())

    # -- hooks ----------------------------------------------------------------------------------------
    def make_auth(self) -> OriginBoundAuth:
        # The bearer token goes to the API origin only (the login origin gets the client secret).
        self._auth = _BearerAuth((origin_of(self.settings.base_url),), self.settings.access_token)
        return self._auth

    def default_policy(self) -> RetryPolicy:
        # The Genesys SDKs wait 3 s on a 429 without Retry-After (rare: the platform sends one).
        return RetryPolicy(rate_limit_base=3.0)

    @property
    def _client_credentials(self) -> bool:
        s = self.settings
        return s.access_token is None and bool(s.client_id and s.client_secret and s.login_url)

    # -- auth -----------------------------------------------------------------------------------------
    async def _ensure_token(self) -> None:
        if not self._client_credentials:
            return
        expires = self._token_expires
        if self._auth.token is None or (expires is not None and self.http.clock() >= expires):
            await self._fetch_token(stale=self._auth.current())

    async def _fetch_token(self, stale: str | None) -> None:
        """The client-credentials grant on the login origin; `stale` is the token the caller saw
        fail (or expire): when another call already replaced it, nothing is fetched."""
        async with self._token_lock:
            if self._auth.current() != stale:
                return
            s = self.settings
            basic = base64.b64encode(f"{s.client_id}:{s.client_secret.get_secret_value()}".encode()).decode()
            register_secret(basic)
            url = httpx.URL(s.login_url.rstrip("/") + "/oauth/token")
            response = await self.http.request(
                "POST", url, data={"grant_type": "client_credentials"}, idempotent=True,
                headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
                ok=lambda st: 200 <= st < 300 or st in (400, 401))
            if response.status_code in (400, 401):
                raise self._login_refused(response)
            token = self.parse(_Token, self.http.parse_json(response), "POST /oauth/token")
            self._auth.set(token.access_token)
            now = self.http.clock()
            if token.expires_in and token.expires_in > 0:
                margin = min(TOKEN_MARGIN, token.expires_in / 10)
                self._token_expires = now + token.expires_in - margin
            else:
                self._token_expires = None

    def _login_refused(self, response: httpx.Response) -> AuthError:
        detail = ""
        try:
            body = json.loads(response.content[:65536])
        except (ValueError, UnicodeDecodeError):
            body = None
        if isinstance(body, dict):
            parts = [str(body[k]) for k in ("error", "error_description") if isinstance(body.get(k), str)]
            detail = one_line(redact(": ".join(parts)), limit=200)
        return AuthError(f"the Genesys login service refused the client credentials"
                         f"{f' ({detail})' if detail else ''}; check client_id, client_secret and login_url "
                         "(the login host of your region)", provider=self.id, status=response.status_code)

    async def _api(self, method: str, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """An API request with a valid token; after a 401, one new token (client credentials)
        and one replay: a 401 means the request was not carried out, so a replay is safe."""
        await self._ensure_token()
        used = self._auth.current()
        try:
            return await self.http.request(method, url, **kwargs)
        except AuthError as exc:
            if not self._client_credentials:
                raise AuthError(f"{exc.message} The configured access_token is wrong or has expired: user tokens "
                                "are short-lived; get a new one, or configure client_id, client_secret and "
                                "login_url instead.", provider=self.id, status=exc.status,
                                correlation_id=exc.correlation_id) from None
            await self._fetch_token(stale=used)
        try:
            return await self.http.request(method, url, **kwargs)
        except AuthError as exc:
            raise AuthError(f"{exc.message} A freshly issued token was refused too: the OAuth client may be "
                            "disabled or lack the user-recordings scope.", provider=self.id, status=exc.status,
                            correlation_id=exc.correlation_id) from None

    async def _get_json(self, url: str | httpx.URL, **kwargs: Any) -> Any:
        return self.http.parse_json(await self._api("GET", url, **kwargs))

    def _item(self, recording_id: str) -> str:
        return f"{API_ROOT}/{self.seg(recording_id)}"

    # -- listing --------------------------------------------------------------------------------------
    def _listable(self, query: ListQuery) -> ListQuery:
        if query.status == "deleted":
            raise self.unsupported("list deleted recordings", "Genesys has no recycle bin; deletes are permanent")
        if query.status == "available":          # everything listed is available: not a filter
            query = query.model_copy(update={"status": None})
        self.require(query)
        return query

    def page_cursor(self, query: ListQuery, number: int) -> Cursor:
        """The cursor of page `number` (1-based) of `query`: Genesys numbers its pages, so this is
        the cursor "next" would reach, without the previous page's rows to skip (nothing to
        compare with). A number past the last page (the list shrank since its count was shown)
        lists the last page instead (`j`: a jump). ValueError below 1."""
        query = self._listable(query)
        return self.cursor(n=self.jump_number(number), s=self.page_size(query), x=[], j=1)

    async def list_recordings(self, query: ListQuery, cursor: Cursor | None = None) -> Page:
        query = self._listable(query)
        state = self.read_cursor(cursor)
        number = int(state.get("n", 1))
        size = int(state.get("s", self.page_size(query)))
        if number < 1 or not 1 <= size <= self.capabilities.max_page_size:
            raise ValueError("malformed Genesys cursor")
        seen = frozenset(state.get("x", ()))
        data = await self._get_json(API_ROOT, params={"pageSize": size, "pageNumber": number})
        listing = self.parse(_Listing, data, f"GET {API_ROOT}")
        if listing.entities is None and listing.total != 0:
            raise BadResponse(f"GET {API_ROOT}: the listing has no entities", provider=self.id)
        if listing.pageSize and listing.pageSize < size:   # the server clamped: number pages its way
            size = listing.pageSize
        warnings: list[str] = []
        items, dropped, unreadable, repeated, hidden = [], 0, 0, 0, 0
        now = self.wall()
        self._gone = {k: v for k, v in self._gone.items() if v > now}
        for raw in listing.entities or ():
            bad: list[str] = []
            rec = self._recording(raw, bad)
            if rec is None:
                dropped += 1
                continue
            if rec.id in self._gone:
                hidden += 1
                continue
            if _hash(rec.id) in seen:
                repeated += 1
                continue
            if bad:
                unreadable += 1
            items.append(rec)
        if dropped:
            warnings.append(f"{dropped} item{'s' if dropped > 1 else ''} without a usable id dropped")
        if unreadable:
            warnings.append(f"{unreadable} item{'s' if unreadable > 1 else ''} had unreadable fields")
        if repeated:
            warnings.append(f"{repeated} shown on the page just viewed skipped (the list changed while paging)")
        if hidden:
            warnings.append(f"{hidden} deleted moments ago still listed by Genesys; hidden")
        total = listing.total
        page_count = listing.pageCount
        if page_count is None and total is not None:
            page_count = -(-total // size)
        if state.get("j") and not listing.entities and page_count is not None and number > max(1, page_count):
            # A jump past the end (the list shrank since its count was shown): the last page.
            return await self.list_recordings(query, self.cursor(n=max(1, page_count), s=size, x=[]))
        # Page numbers are ours; the links only say whether there is more when no count is given.
        has_next = number < page_count if page_count is not None else bool(listing.nextUri and listing.entities)
        if not listing.entities and page_count is not None and number <= page_count:
            warnings.append(f"empty page {number} of {page_count}")
        items.sort(key=lambda r: r.start.timestamp() if r.start else float("-inf"), reverse=True)
        mark = sorted(_hash(r.id) for r in items)
        nxt = self.cursor(n=number + 1, s=size, x=mark) if has_next else None
        prev = None
        if number > 1:
            prev = self.cursor(n=max(1, min(number - 1, page_count or number - 1)), s=size, x=mark)
        return Page(items=tuple(items), next=nxt, prev=prev, total=total, page_number=number,
                    page_count=page_count, sorted_on_server=False, order_approximate=True,
                    warnings=tuple(warnings))

    def _recording(self, raw: Any, bad: list[str] | None = None) -> Recording | None:
        """One wire entity as a Recording, or None when it has no usable id; the fields that
        could not be read are added to `bad`."""
        if not isinstance(raw, dict):
            return None
        bad = [] if bad is None else bad
        try:
            wire = _UserRecording.model_validate(raw, context={"bad": bad})
        except ValidationError:
            return None
        if not wire.id or not wire.id.strip():
            return None
        try:
            return wire.to_recording(self, raw, bad)
        except ValidationError:
            return None

    # -- one recording ----------------------------------------------------------------------------------
    async def get_recording(self, recording_id: str) -> Recording:
        path = self._item(recording_id)
        try:
            data = await self._get_json(path, params={"expand": "conversation"})
        except BadResponse as exc:
            if exc.status != 400:
                raise
            data = await self._get_json(path)      # a server that does not know this expand value
        rec = self._recording(data)
        if rec is None:
            raise BadResponse(f"GET {API_ROOT}/…: the recording has no usable id", provider=self.id)
        return rec

    async def rename(self, recording_id: str, fields: Mapping[str, str | None]) -> Recording:
        path = self._item(recording_id)
        self._writable("rename recordings")
        unknown = sorted(set(fields) - {"name", "title"})
        if unknown or not fields:
            raise self.unsupported(f"change {', '.join(unknown) or 'nothing'}", "only the name can be changed")
        name = fields.get("name", fields.get("title")) or ""
        # Safe practice for a whole-object PUT: read it, change the name, send it all back.
        current = await self._get_json(path)
        if not isinstance(current, dict):
            raise BadResponse(f"GET {API_ROOT}/…: expected an object", provider=self.id)
        body = {k: v for k, v in current.items() if k != "conversation"}
        body["name"] = name
        try:
            response = await self._api("PUT", path, json_body=body)
        except Unavailable:
            # Unknown outcome: look before trying again (RELIABILITY.md §1.3).
            again = await self._get_json(path)
            if not (isinstance(again, dict) and again.get("name") == name):
                response = await self._api("PUT", path, json_body=body)
            else:
                return self._must(again)
        return self._must(self.http.parse_json(response))

    def _must(self, data: Any) -> Recording:
        rec = self._recording(data)
        if rec is None:
            raise BadResponse(f"{API_ROOT}/…: the recording has no usable id", provider=self.id)
        return rec

    def _writable(self, what: str) -> None:
        if self.read_only:
            raise PermissionDenied(f"{self.display_name} is read-only in the config; cannot {what}",
                                   provider=self.id, title="Read-only")

    # -- delete ---------------------------------------------------------------------------------------------
    async def delete_recording(self, recording_id: str) -> DeleteOutcome:
        """Permanent. A 404 on the first try raises `NotFound` ("already gone"); after an ambiguous
        failure the outcome is checked with a GET and the delete tried once more only if the
        recording is still there (`BaseProvider.verified_write`). `delete_outcomes[id]` says how it
        ended, as the return value does."""
        path = self._item(recording_id)
        self._writable("delete recordings")

        def ok(status: int) -> bool:
            return status in (200, 202, 204)

        async def send() -> None:
            await self._api("DELETE", path, ok=ok)

        async def still_there() -> bool:
            await self._api("GET", path)
            return True

        def gone(exc: NotFound) -> NotFound:
            return NotFound(f"{recording_id} was already gone: deleted elsewhere, or never there", provider=self.id,
                            status=404, correlation_id=exc.correlation_id, title="Already deleted")

        outcome = await self.verified_write(send, still_there, already_gone=gone)
        self._deleted(recording_id, outcome)
        return outcome

    def _deleted(self, recording_id: str, outcome: DeleteOutcome) -> None:
        self.delete_outcomes[recording_id] = outcome
        self._gone[recording_id] = self.wall() + GHOST_SECONDS

    # -- media -------------------------------------------------------------------------------------------------
    async def fetch_media(self, recording: Recording, dest_dir: Path, *,
                          max_bytes: int = DEFAULT_MAX_MEDIA_BYTES) -> Media:
        rid = recording.id
        path = self._item(rid) + "/media"
        account = self.settings.client_id or "user-token"
        tmp = temp_path(dest_dir / (cache_key(self.id, account, rid, "download") + ".bin"))
        fmt_id = MEDIA_FORMAT
        size, ctype = 0, None
        for attempt in (1, 2):
            link, fmt_id = await self._media_link(path, fmt_id)
            try:
                size, ctype = await self.http.download(link, tmp, max_bytes=max_bytes, media=True)
                break
            except PermissionDenied as exc:
                # S3's 403 "Request has expired" (or a signature the store no longer accepts): ask
                # Genesys for a fresh link once.
                if attempt == 2:
                    raise Unavailable(f"the temporary download link was refused twice ({exc.message}); "
                                      "try again later", provider=self.id, status=exc.status,
                                      title="Download link expired") from None
        fmt = sniff_file(tmp)
        final = cache_path(dest_dir, self.id, account, rid, fmt)
        os.replace(tmp, final)
        return Media(path=final, format=fmt, size=size, content_type=ctype)

    async def _media_link(self, path: str, fmt_id: str) -> tuple[str, str]:
        """Poll `…/media` until the transcode is ready (202 → wait 1–2 s, at most 60 s), then
        return the checked temporary link and the format asked for."""
        clock, started = self.http.clock, self.http.clock()
        wait = POLL_FIRST
        while True:
            remaining = POLL_DEADLINE - (clock() - started)
            try:
                response = await self._api("GET", path, params={"formatId": fmt_id, "async": "true"},
                                           ok=lambda st: st in (200, 202),
                                           deadline=max(1.0, min(self.http.policy.deadline, remaining)))
            except BadResponse as exc:
                if exc.status == 400 and fmt_id != FALLBACK_FORMAT:
                    fmt_id = FALLBACK_FORMAT          # an API generation from before MP3
                    continue
                raise
            if response.status_code == 200:
                break
            hint = parse_retry_after(response.headers.get("retry-after"), self.wall())
            step = min(max(hint, 0.5), 10.0) if hint is not None else wait
            if clock() - started + step > POLL_DEADLINE:
                raise Unavailable(f"GET {safe_path(self.http.url(path))}: still transcoding after "
                                  f"{POLL_DEADLINE:g} s; try again later", provider=self.id, status=202,
                                  title="Still transcoding")
            await self.http.sleep(step)
            wait = min(wait * POLL_FACTOR, POLL_MAX)
        info = self.parse(_DownloadResponse, self.http.parse_json(response), f"GET {API_ROOT}/…/media")
        if not info.contentLocationUri:
            raise BadResponse(f"GET {API_ROOT}/…/media: no contentLocationUri in the answer", provider=self.id)
        return self._checked_link(info.contentLocationUri), fmt_id

    def _checked_link(self, link: str) -> str:
        """Refuse a media link that could reach somewhere it should not (RELIABILITY.md §3.6):
        only http(s); plain http and private or loopback targets only when the provider itself
        is served that way (a local emulator)."""
        try:
            url = httpx.URL(link)
        except httpx.InvalidURL:
            url = None
        base = httpx.URL(self.settings.base_url)
        why = None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            why = "it is not an http(s) link"
        elif url.scheme == "http" and base.scheme != "http":
            why = "it is plain http while the API is https"
        elif _is_private_host(url.host) and not _is_private_host(base.host):
            why = "it points at a private or loopback address"
        if why:
            raise BadResponse(f"GET {API_ROOT}/…/media: refusing the download link: {why}", provider=self.id)
        return link

    # -- check ---------------------------------------------------------------------------------------------------
    async def check(self) -> None:
        """One cheap authenticated call (`/userrecordings/summary`). When it works but no recording
        is visible, `check_note` says why that may be."""
        self.check_note = None
        try:
            summary = self.parse(_Summary, await self._get_json(f"{API_ROOT}/summary"), f"GET {API_ROOT}/summary")
            total = summary.totalCount
        except NotFound:
            total = (await self.list_recordings(ListQuery(page_size=1))).total
        if total == 0:
            self.check_note = (
                "signed in, but no user recordings are visible: they belong to a user, and a client-credentials "
                "token has no user behind it; configure a user access_token to see that user's recordings"
                if self._client_credentials else "signed in; this user has no recordings")
