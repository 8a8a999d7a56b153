"""2600Hz Kazoo (Crossbar) call recordings.

`GET /v2/accounts/{A}/recordings` (or `…/users/{U}/recordings` for one owner), one recording at
`…/recordings/{R}` (JSON or, with `Accept: audio/mpeg`, the audio), `DELETE` and the newer
release's `PATCH` of `user_metadata` (server tags). Quirks survived, as the reference page lists
them:

- **31-day windows.** A listing covers at most `crossbar.maximum_range` (31 days + 1 hour) of
  creation time, and by default only the last month. The adapter walks `created_from`/`created_to`
  windows of 31 days back (forward when sorted ascending), transparently behind the cursor, and
  stops at `HORIZON` (two years) or after six empty windows in a row (only when nothing narrows
  the listing). A 400 for a window too wide (a server configured with a smaller maximum) halves
  the window and asks again.
- **Gregorian seconds** everywhere (Unix + 62,167,219,200).
- **Paging**: `page_size` in the answer counts this page's items; the end is the absence of
  `next_start_key`; keys are opaque and passed back unchanged; a page may be short or empty yet
  have a next key (server-side filters), so one call fills its page across server pages and
  windows; a repeated or cycling key ends that window with a warning instead of looping. `prev`
  replays the remembered start of the previous page (the cursor keeps the last 64).
- **One URL, metadata or audio by `Accept`**; the audio's real format may be WAV although MP3 was
  asked for: the format is sniffed from the bytes. A recording kept only on external storage has
  metadata but no attachment (`_read_only.content_types == []`, or a 404 on download).
- **Tags** only on the newer (commercial) release: `PATCH` merges `user_metadata.tags` (an object
  map, `null` removes a key); an open-source server answers 405, reported as "server tags
  unavailable" (and `capabilities.server_tags` turns off for this instance).
- **Auth**: `PUT /v2/api_auth` (API key) or `PUT /v2/user_auth` (MD5 of `user:password`), the token
  in `X-Auth-Token` for the configured origin only, on a client that never follows redirects;
  a 401 authenticates again once and replays the request.
- **Unstable error codes** (`bad_identifier`/`bad identifier`, `invalid_credentials`/
  `invalid credentials`, `data` an object or an array): errors are mapped on the HTTP status only.
  The top-level `message` is a machine code ("validation error"); the useful words are in
  `data.message` or, for a validation error, in `data.{field}.{code}.message`: a refused request
  (4xx, not 401/429) shows them too, cleaned and at most `DETAIL_LIMIT` characters.
- **429 without Retry-After**: our own jittered backoff from 1 s.
- **Delete** is soft on the server but has no undelete API: permanent for the user;
  `should_soft_delete=false` is never sent; an ambiguous failure is verified with a GET.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from rectui.errors import AuthError, BadResponse, NotFound, ProviderError, Unavailable, Unsupported
from rectui.logs import redact, register_secret
from rectui.mediafiles import cache_path, sniff_file, temp_path
from rectui.models import TAG_LIMIT, Capabilities, Cursor, DeleteOutcome, ListQuery, Media, Page, Recording
from rectui.providers.base import DEFAULT_MAX_MEDIA_BYTES, BaseProvider
from rectui.providers.http import (
    RETRY_STATUSES,
    HttpEvent,
    OriginBoundAuth,
    RetryPolicy,
    error_for_response,
    safe_path,
)
from rectui.sanitize import one_line

GREGORIAN_OFFSET = 62_167_219_200      # Gregorian seconds = Unix seconds + this
WINDOW = 31 * 86_400                   # one listing request's span (server maximum: 31 d + 1 h)
MIN_WINDOW = 3_600                     # a 400 for a too-wide window halves it down to this
EMPTY_WINDOWS_STOP = 6                 # consecutive empty windows that end an open-ended walk
MAX_REQUESTS_PER_CALL = 32             # one list call skips empty pages/windows up to this
HISTORY_LIMIT = 64                     # earlier pages a cursor remembers for `prev`
SEEN_LIMIT = 256                       # page keys of the current window remembered (cycle check)
UNTIL_SLACK = 86_400                   # created_to beyond `until`: a call started before it ends after
CLOCK_SKEW = 600                       # created_to beyond our "now": the server's clock may run ahead
_JSON = {"Accept": "application/json"}
DETAIL_LIMIT = 240                     # characters of `data` messages added to an error
_DETAIL_FIELDS = 3                     # validation messages shown at most (then "…")
_AUDIO = {"Accept": "audio/mpeg"}
_USER_ID = re.compile(r"[0-9a-f]{32}")
_ANGLE = re.compile(r"<([^<>]+)>\s*$")

M = TypeVar("M", bound=BaseModel)


# -- wire models ---------------------------------------------------------------------------------

class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class _Envelope(_Wire):
    """Crossbar's response envelope (api_util:create_default_resp_envelope/1)."""

    status: str | None = None
    request_id: str | None = None


class _ListEnvelope(_Envelope):
    data: list[Any]
    start_key: str | None = None
    next_start_key: str | None = None


class _OneEnvelope(_Envelope):
    data: dict[str, Any]


class _AuthEnvelope(_Envelope):
    auth_token: str = Field(min_length=1)
    data: dict[str, Any] = Field(default_factory=dict)


_LABELS = {
    "id": "Recording id", "name": "File name", "description": "Description", "content_type": "Content type",
    "media_type": "Media type", "media_source": "Media source", "source_type": "Source type",
    "from": "From (SIP)", "to": "To (SIP)", "request": "Request (SIP)", "direction": "Direction",
    "start": "Start (UTC)", "duration": "Duration (s)", "duration_ms": "Duration (ms)",
    "caller_id_number": "Caller id number", "caller_id_name": "Caller id name",
    "callee_id_number": "Callee id number", "callee_id_name": "Callee id name", "call_id": "Call id",
    "endpoint_id": "Endpoint id", "owner_id": "Owner (user id)", "url": "External storage URL",
    "cdr_id": "CDR id", "interaction_id": "Interaction id", "origin": "Origin",
    "custom_channel_vars": "Channel variables", "user_metadata": "User metadata", "_read_only": "Read-only",
}


class _Doc(_Wire):
    """A recording document as media_mgr writes it and Crossbar shows it (no `_`/`pvt_` keys but
    `_read_only` in listings). Every field but `id` is optional; unknown ones are kept in `raw`."""

    id: str = Field(min_length=1)
    name: str | None = None
    description: str | None = None
    content_type: str | None = None
    media_type: str | None = None
    direction: str | None = None
    start: float | None = None                 # Gregorian seconds
    duration: float | None = None              # whole seconds
    duration_ms: float | None = None
    caller_id_number: str | None = None
    caller_id_name: str | None = None
    callee_id_number: str | None = None
    callee_id_name: str | None = None
    call_id: str | None = None
    owner_id: str | None = None
    url: str | None = None                     # set when the audio went to external storage
    user_metadata: dict[str, Any] | None = None
    read_only: dict[str, Any] | None = Field(default=None, alias="_read_only")

    def start_utc(self) -> datetime | None:
        return _from_gregorian(self.start)

    def seconds(self) -> float | None:
        if self.duration_ms is not None and self.duration_ms >= 0:
            return self.duration_ms / 1000
        if self.duration is not None and self.duration >= 0:
            return float(self.duration)
        return None

    def tags(self) -> frozenset[str]:
        """`user_metadata.tags`: an object map (`{"important": 1}`; a null or false value is no
        tag), or tolerated as a list of names."""
        tags = (self.user_metadata or {}).get("tags")
        if isinstance(tags, dict):
            return frozenset(str(k) for k, v in tags.items() if v not in (None, False, 0))
        if isinstance(tags, list):
            return frozenset(t for t in tags if isinstance(t, str))
        return frozenset()

    def attachment_types(self) -> list[str] | None:
        """`_read_only.content_types` (listings only): [] means no attachment; None means unknown."""
        types = (self.read_only or {}).get("content_types")
        return [str(t) for t in types] if isinstance(types, list) else None

    def title(self) -> str:
        """Kazoo has no title: its `description` unless it is media_mgr's "recording <file>",
        else "caller → callee"."""
        if self.description and self.description != f"recording {self.name}":
            return self.description
        a = self.caller_id_name or self.caller_id_number
        b = self.callee_id_name or self.callee_id_number
        if a or b:
            return f"{a or '?'} → {b or '?'}"
        return self.name or ""

    def to_recording(self, provider: str, *, id_valid: bool, raw: dict[str, Any]) -> Recording:
        types = self.attachment_types()
        has_media = bool(types) if types is not None else not self.url
        note = None
        if not has_media:
            note = ("no audio attached: the recording is kept only on external storage (deleting it here "
                    "removes only the metadata)")
        return Recording(
            provider=provider, id=self.id, id_valid=id_valid, title=self.title(), start=self.start_utc(),
            duration=self.seconds(), caller=_party(self.caller_id_name, self.caller_id_number),
            callee=_party(self.callee_id_name, self.callee_id_number), owner=self.owner_id or None,
            direction=self.direction or None, status="available", call_id=self.call_id or None,
            tags=self.tags(), size=None, has_media=has_media, media_note=note, viewer_url=None,
            details=partial(_details, raw), raw=raw,   # details: built when opened
        )


def _from_gregorian(value: float | None) -> datetime | None:
    if value is None or value < GREGORIAN_OFFSET:
        return None
    try:
        return datetime.fromtimestamp(value - GREGORIAN_OFFSET, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _party(name: str | None, number: str | None) -> str | None:
    if name and number and name != number:
        return f"{name} <{number}>"
    return name or number or None


def _details(raw: Mapping[str, Any]) -> dict[str, str]:
    """Every field as label → readable value; nested objects as "Label · key"."""
    out: dict[str, str] = {}

    def put(label: str, value: Any, depth: int) -> None:
        if isinstance(value, dict) and value and depth < 3:
            for k, v in value.items():
                put(f"{label} · {k}", v, depth + 1)
        elif isinstance(value, bool):
            out[label] = "yes" if value else "no"
        elif value is None or value == "" or value == {} or value == []:
            out[label] = "—"
        elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            out[label] = ", ".join(str(v) for v in value)
        elif isinstance(value, dict | list):
            out[label] = json.dumps(value, ensure_ascii=False)[:2000]
        else:
            out[label] = str(value)

    for key, value in raw.items():
        label = _LABELS.get(key, key)
        if key == "start" and isinstance(value, int | float) and not isinstance(value, bool):
            when = _from_gregorian(value)
            value = f"{when:%Y-%m-%d %H:%M:%S} ({value:.0f} Gregorian s)" if when else value
        put(label, value, 0)
    return out


def _lenient(model: type[M], data: Any) -> tuple[M | None, list[str]]:
    """Validate one item; fields that fail are dropped (shown as missing) and named. None when
    the item cannot be used at all (not an object, no usable id)."""
    if not isinstance(data, dict):
        return None, ["(item)"]
    doc, bad = dict(data), []
    for _ in range(len(doc) + 1):
        try:
            return model.model_validate(doc), bad
        except ValidationError as exc:
            locs = {str(e["loc"][0]) for e in exc.errors(include_url=False, include_input=False) if e["loc"]}
            if not locs or "id" in locs:
                return None, bad + sorted(locs)
            bad += sorted(locs)
            for loc in locs:
                doc.pop(loc, None)
    return None, bad


def _tag(name: str) -> str:
    """A tag as it is shown and compared (cleaned, one line, length-limited)."""
    return one_line(str(name), limit=TAG_LIMIT).strip()


def _greg(when: datetime) -> int:
    return int(when.timestamp()) + GREGORIAN_OFFSET


def _h(value: str) -> str:
    return hashlib.blake2b(value.encode(), digest_size=6).hexdigest()


def _number(value: str) -> str:
    """A caller filter as Kazoo can match it: the number (the part in <…> of "Name <number>")."""
    m = _ANGLE.search(value)
    return (m.group(1) if m else value).strip()


def _code(text: str) -> str:
    """A message compared loosely: "bad_identifier" and "Bad identifier" say the same."""
    return " ".join(text.replace("_", " ").split()).casefold()


def error_detail(body: Any) -> str:
    """The useful words of a Crossbar error envelope: `data.message`, else the per-field
    validation messages (`data.{field}.{code}.message`, as "field: message"), cleaned (one line,
    registered secrets masked) and at most `DETAIL_LIMIT` characters; "" when there are none or
    they only repeat the top-level `message`. `cause` is left out on purpose: validation errors
    echo the rejected value there (an API key, for one)."""
    if not isinstance(body, dict) or not isinstance(data := body.get("data"), dict):
        return ""       # `data` as an array holds the bad id only, already in the request path
    parts: list[str] = []
    if isinstance(msg := data.get("message"), str) and msg.strip():
        parts.append(msg)
    else:
        for field, codes in data.items():
            if not isinstance(codes, dict):
                continue
            for detail in codes.values():
                text = detail.get("message") if isinstance(detail, dict) else None
                if isinstance(text, str) and text.strip():
                    parts.append(f"{field}: {text}")
                    break       # one message per field: the first failed check
        if len(parts) > _DETAIL_FIELDS:
            parts = [*parts[:_DETAIL_FIELDS], "…"]
    text = one_line(redact("; ".join(parts)), limit=DETAIL_LIMIT).strip()
    top = body.get("message")
    if not text or (isinstance(top, str) and _code(top) == _code(text)):
        return ""
    return text


def _refused(status: int) -> bool:
    """A final 4xx answer: not retried by the HTTP core, not a 401 (which logs in again)."""
    return 400 <= status < 500 and status not in (401, *RETRY_STATUSES)


# -- cursor state --------------------------------------------------------------------------------

class _State(BaseModel):
    """Where a page starts: the whole range, the current window, the key inside it."""

    model_config = ConfigDict(extra="forbid")
    lo: int                    # oldest creation time listed (Gregorian, inclusive)
    hi: int                    # newest
    frm: int                   # this window
    to: int
    span: int = WINDOW
    sk: str | None = None      # start_key inside the window (None: its first page)
    had: bool = False          # this window has given rows
    empty: int = 0             # empty windows in a row before this one
    seen: list[str] = Field(default_factory=list)   # hashes of this window's page keys


# -- auth ----------------------------------------------------------------------------------------

class _TokenAuth(OriginBoundAuth):
    """`X-Auth-Token: <token>` for the configured origins only (httpx would forward it on a
    cross-origin redirect: the client does not follow redirects and this never adds it)."""

    def __init__(self, origins: tuple[str, ...]) -> None:
        super().__init__(origins)
        self.token: SecretStr | None = None

    def credential_headers(self) -> Mapping[str, str]:
        return {"X-Auth-Token": self.token.get_secret_value()} if self.token is not None else {}


# -- the adapter ---------------------------------------------------------------------------------

class KazooProvider(BaseProvider):
    kind: ClassVar[str] = "kazoo"
    capabilities: ClassVar[Capabilities] = Capabilities(
        page_style="cursor",                 # opaque next_start_key, no page numbers
        exact_total=False,                   # no total anywhere, and windows hide older rows
        server_sort=frozenset({"start"}),    # the view key is creation time; ascending/descending only
        server_filters=frozenset({"since", "until", "call_id", "owner", "caller"}),
        max_page_size=1000,                  # no upper bound in Crossbar; ListQuery's own maximum
        media=True,
        can_delete=True,                     # soft on the server, but no undelete API: permanent
        can_restore=False,
        can_purge=False,
        server_tags=True,                    # user_metadata.tags; a 405 turns it off per instance
        can_rename=False,                    # nothing but user_metadata is writable
    )
    # `YYYYMM-` (the monthly database) + 32 lowercase hex: 39 characters.
    ID_PATTERN: ClassVar[re.Pattern[str]] = re.compile(r"\d{4}(0[1-9]|1[0-2])-[0-9a-f]{32}")
    # Rows come newest *creation* first (a recording is created when the call ends); a long call
    # that started earlier can come before a short one that started later. Each page is sorted by
    # start; across pages the order by start is approximate.
    ORDER_APPROXIMATE: ClassVar[bool] = True
    HORIZON: ClassVar[timedelta] = timedelta(days=730)

    def __init__(self, name: str, settings: Any, **kwargs: Any) -> None:
        policy = kwargs.get("policy")
        if isinstance(policy, RetryPolicy) and policy.rate_limit_base is None:
            kwargs["policy"] = dataclasses.replace(policy, rate_limit_base=1.0)
        super().__init__(name, settings, **kwargs)
        for secret in (settings.api_key, settings.password):
            if secret is not None:
                register_secret(secret.get_secret_value())
        self.account_id: str = settings.account_id
        self._login_lock = asyncio.Lock()
        self._generation = 0
        self._tags_ok = True

    def make_auth(self) -> OriginBoundAuth:
        self._auth = _TokenAuth(self.origins)
        return self._auth

    def default_policy(self) -> RetryPolicy:
        return RetryPolicy(rate_limit_base=1.0)   # Crossbar's 429 has no Retry-After

    # -- authentication ---------------------------------------------------------------------------
    async def _login(self) -> None:
        """A new token from `api_auth` (API key) or `user_auth` (MD5 of "user:password")."""
        s = self.settings
        self._auth.token = None            # never send a stale token to the auth endpoints
        if s.api_key is not None:
            path, what = "api_auth", "the API key"
            body: dict[str, Any] = {"data": {"api_key": s.api_key.get_secret_value()}}
        else:
            creds = hashlib.md5(f"{s.username.lower()}:{s.password.get_secret_value()}".encode(),
                                usedforsecurity=False).hexdigest()
            register_secret(creds)
            path, what = "user_auth", f"the username and password for account {s.account_name!r}"
            body = {"data": {"credentials": creds, "account_name": s.account_name}, "method": "md5"}
        response = await self.http.request("PUT", path, json_body=body, headers=_JSON, idempotent=True,
                                           ok=lambda st: 200 <= st < 300 or st in (400, 401, 403, 404))
        if not 200 <= response.status_code < 300:
            # api_auth answers a wrong key with 404 "bad identifier" (or 400 for a malformed one),
            # user_auth with 401; the body may echo the key, so none of it goes into the message.
            raise AuthError(f"Kazoo refused {what} (HTTP {response.status_code}); check the credentials with "
                            "`rectui config check`.", provider=self.id, status=response.status_code)
        env = self.parse(_AuthEnvelope, self.http.parse_json(response), f"PUT /v2/{path}")
        register_secret(env.auth_token)
        self._auth.token = SecretStr(env.auth_token)
        self._generation += 1

    async def _ensure_token(self) -> int:
        if self._auth.token is None:
            async with self._login_lock:
                if self._auth.token is None:
                    await self._login()
        return self._generation

    async def _relogin(self, generation: int) -> None:
        """After a 401: authenticate again, unless another call already did since `generation`."""
        async with self._login_lock:
            if self._generation == generation:
                await self._login()

    async def _send(self, method: str, path: str, *, ok: Callable[[int], bool] | None = None,
                    **kw: Any) -> httpx.Response:
        """One request through the HTTP core; a 401 authenticates again once and replays it (a
        refused write was not applied, so replaying it is safe). A final 4xx comes back here
        rather than raised in the core, so that its error can carry Kazoo's own words."""
        want = ok or (lambda st: 200 <= st < 300)

        def answered(st: int) -> bool:
            return want(st) or _refused(st)

        generation = await self._ensure_token()
        try:
            response = await self.http.request(method, path, ok=answered, **kw)
        except AuthError:
            await self._relogin(generation)
            response = await self.http.request(method, path, ok=answered, **kw)
        if not want(response.status_code):
            raise self._error(method, response)
        return response

    def _error(self, method: str, response: httpx.Response) -> ProviderError:
        """The HTTP core's error for this answer, with `data.message` (or the validation
        messages) added: Crossbar's top-level `message` is only a code such as "invalid data"."""
        err = error_for_response(self.id, method, response)
        try:
            body = json.loads(response.content[:65536]) if response.content else None
        except (ValueError, UnicodeDecodeError):
            body = None
        if detail := error_detail(body):
            err.message = f"{err.message.rstrip('.')}. Kazoo says: {detail}"
            err.args = (err.message,)
        return err

    async def check(self) -> None:
        """Authenticate afresh, then list one row of the default window."""
        async with self._login_lock:
            await self._login()
        response = await self._send("GET", self._list_path(None), params={"page_size": 1}, headers=_JSON)
        self.parse(_ListEnvelope, self.http.parse_json(response), "GET recordings")

    # -- paths -------------------------------------------------------------------------------------
    def _account(self) -> str:
        return f"accounts/{self.account_id}"

    def _list_path(self, user_id: str | None) -> str:
        if user_id is not None:
            return f"{self._account()}/users/{user_id}/recordings"
        return f"{self._account()}/recordings"

    def _rec_path(self, recording_id: str) -> str:
        return f"{self._account()}/recordings/{self.seg(recording_id)}"

    # -- listing -----------------------------------------------------------------------------------
    def _check_query(self, query: ListQuery) -> None:
        if query.status not in (None, "available"):
            raise self.unsupported(f"list {query.status} recordings",
                                   "Kazoo lists only available recordings and has no recycle bin")
        self.require(query.model_copy(update={"status": None}))

    @staticmethod
    def _fingerprint(query: ListQuery) -> str:
        keys = query.model_dump(mode="json", exclude={"page_size"})
        return _h(json.dumps(keys, sort_keys=True))

    def _first_state(self, query: ListQuery, ascending: bool) -> _State:
        now = int(self.wall()) + GREGORIAN_OFFSET + CLOCK_SKEW
        hi = min(_greg(query.until) + UNTIL_SLACK, now) if query.until is not None else now
        horizon = timedelta(days=getattr(self.settings, "horizon_days", None) or self.HORIZON.days)
        lo = _greg(query.since) if query.since is not None else hi - int(horizon.total_seconds())
        if ascending:
            return _State(lo=lo, hi=hi, frm=lo, to=min(hi, lo + WINDOW))
        return _State(lo=lo, hi=hi, frm=max(lo, hi - WINDOW), to=hi)

    def _next_window(self, state: _State, had: bool, ascending: bool, open_ended: bool) -> _State | None:
        empty = 0 if had else state.empty + 1
        if ascending:
            frm = state.to + 1
            if frm > state.hi:
                return None
            to = min(state.hi, frm + state.span)
        else:
            if open_ended and empty >= EMPTY_WINDOWS_STOP:
                return None
            to = state.frm - 1
            if to < state.lo:
                return None
            frm = max(state.lo, to - state.span)
        return _State(lo=state.lo, hi=state.hi, frm=frm, to=to, span=state.span, empty=empty)

    async def list_recordings(self, query: ListQuery, cursor: Cursor | None = None) -> Page:
        self._check_query(query)
        ascending = query.sort is not None and not query.sort.descending
        fingerprint = self._fingerprint(query)
        data = self.read_cursor(cursor)
        if data:
            if data.get("q") != fingerprint:
                raise ValueError("this cursor belongs to another listing (filters or sort changed)")
            try:
                state = _State.model_validate(data.get("s"))
                history = [_State.model_validate(h) for h in data.get("h", [])]
            except ValidationError:
                raise ValueError("malformed cursor") from None
        else:
            if query.since is not None and query.until is not None and query.since > query.until:
                return Page(sorted_on_server=True, order_approximate=True)
            state, history = self._first_state(query, ascending), []
        items, warnings, next_state = await self._collect(query, state, ascending)
        prev = None
        if history:
            prev = self.cursor(q=fingerprint, s=history[-1].model_dump(),
                               h=[h.model_dump() for h in history[:-1]])
        nxt = None
        if next_state is not None:
            back = [*history, state.model_copy(update={"seen": []})][-HISTORY_LIMIT:]
            nxt = self.cursor(q=fingerprint, s=next_state.model_dump(), h=[h.model_dump() for h in back])
        return Page(items=tuple(items), next=nxt, prev=prev, sorted_on_server=True, order_approximate=True,
                    warnings=tuple(warnings))

    async def _collect(self, query: ListQuery, state: _State,
                       ascending: bool) -> tuple[list[Recording], list[str], _State | None]:
        """A page of rows from `state` on, filled across server pages and windows (empty ones
        skipped) up to a request cap; returns the rows, warnings, and the state after them."""
        size = self.page_size(query)
        open_ended = not (query.since or query.until or query.call_id or query.caller or query.owner)
        rows: list[Recording] = []
        ids: set[str] = set()
        warnings: list[str] = []
        for _ in range(MAX_REQUESTS_PER_CALL):
            fetched = await self._fetch_page(query, state, size - len(rows), ascending)
            if isinstance(fetched, _State):        # the window was too wide for this server
                state = fetched
                continue
            env, records, problems = fetched
            warnings += problems
            seen = [*state.seen, _h(env.start_key or state.sk or "")]
            next_key = env.next_start_key
            if next_key is not None and (next_key == state.sk or _h(next_key) in seen):
                warnings.append("Kazoo gave the same page cursor twice; the rest of that 31-day window was "
                                "skipped")
                next_key = None
            had = state.had or bool(env.data)
            next_state: _State | None
            if next_key is not None:
                next_state = state.model_copy(update={"sk": next_key, "had": had, "seen": seen[-SEEN_LIMIT:]})
            else:
                next_state = self._next_window(state, had, ascending, open_ended)
            for rec in self._in_range(records, query):
                if rec.id not in ids:
                    ids.add(rec.id)
                    rows.append(rec)
            if next_state is None or len(rows) >= size:
                return self._sorted(rows, ascending), warnings, next_state
            state = next_state
        if not rows:
            warnings.append(f"no recordings found in {MAX_REQUESTS_PER_CALL} requests; older ones may follow")
        return self._sorted(rows, ascending), warnings, state

    async def _fetch_page(self, query: ListQuery, state: _State, size: int,
                          ascending: bool) -> tuple[_ListEnvelope, list[Recording], list[str]] | _State:
        owner = query.owner
        by_user = owner if owner is not None and _USER_ID.fullmatch(owner) else None
        params: dict[str, Any] = {"created_from": state.frm, "created_to": state.to, "page_size": size}
        if state.sk is not None:
            params["start_key"] = state.sk
        if ascending:
            params["ascending"] = "true"
        if query.call_id is not None:
            params["filter_call_id"] = query.call_id
        if query.caller is not None:
            params["filter_caller_id_number"] = _number(query.caller)
        if owner is not None and by_user is None:
            params["filter_owner_id"] = owner       # not a user id: matches nothing, honestly
        response = await self._send("GET", self._list_path(by_user), params=params, headers=_JSON,
                                    ok=lambda st: 200 <= st < 300 or st == 400)
        if response.status_code == 400:
            # A window wider than this server's crossbar.maximum_range: halve it and ask again.
            if state.sk is None and state.to - state.frm > MIN_WINDOW:
                span = max(MIN_WINDOW, (state.to - state.frm) // 2)
                if ascending:
                    return state.model_copy(update={"span": span, "to": min(state.hi, state.frm + span)})
                return state.model_copy(update={"span": span, "frm": max(state.lo, state.to - span)})
            raise self._error("GET", response)
        env = self.parse(_ListEnvelope, self.http.parse_json(response), "GET recordings")
        records, problems = self._records(env.data)
        return env, records, problems

    def _records(self, items: list[Any]) -> tuple[list[Recording], list[str]]:
        out: list[Recording] = []
        seen: set[str] = set()
        unreadable = dropped = 0
        for item in items:
            doc, bad = _lenient(_Doc, item)
            if doc is None:
                dropped += 1
                continue
            if doc.id in seen:
                continue
            seen.add(doc.id)
            unreadable += bool(bad)
            out.append(doc.to_recording(self.id, id_valid=self.id_is_safe(doc.id), raw=dict(item)))
        problems = []
        if unreadable:
            problems.append(f"{unreadable} recording(s) had unreadable fields (shown as —)")
        if dropped:
            problems.append(f"{dropped} item(s) without a usable id were skipped")
        return out, problems

    @staticmethod
    def _in_range(records: list[Recording], query: ListQuery) -> list[Recording]:
        """The server selects on creation time (the call's end); `since`/`until` mean its start."""
        if query.since is None and query.until is None:
            return records
        since, until = query.since, query.until
        return [r for r in records if r.start is None
                or ((since is None or r.start >= since) and (until is None or r.start <= until))]

    @staticmethod
    def _sorted(records: list[Recording], ascending: bool) -> list[Recording]:
        known = [r for r in records if r.start is not None]
        unknown = [r for r in records if r.start is None]
        known.sort(key=lambda r: r.start, reverse=not ascending)   # type: ignore[arg-type, return-value]
        return known + unknown

    # -- one recording -----------------------------------------------------------------------------
    async def _get_doc(self, recording_id: str) -> tuple[_Doc, dict[str, Any]]:
        response = await self._send("GET", self._rec_path(recording_id), headers=_JSON)
        env = self.parse(_OneEnvelope, self.http.parse_json(response), "GET recording")
        doc, _bad = _lenient(_Doc, env.data)
        if doc is None:
            raise BadResponse("GET recording: the document has no usable id", provider=self.id)
        return doc, env.data

    def _recording(self, doc: _Doc, raw: dict[str, Any]) -> Recording:
        return doc.to_recording(self.id, id_valid=self.id_is_safe(doc.id), raw=raw)

    async def get_recording(self, recording_id: str) -> Recording:
        doc, raw = await self._get_doc(recording_id)
        return self._recording(doc, raw)

    # -- media -------------------------------------------------------------------------------------
    async def fetch_media(self, recording: Recording, dest_dir: Path, *,
                          max_bytes: int = DEFAULT_MAX_MEDIA_BYTES) -> Media:
        """The same URL as the metadata with `Accept: audio/mpeg`, on the credentialed client that
        never follows redirects; the stored attachment may be WAV whatever was asked for, so the
        format is sniffed from the bytes."""
        path = self._rec_path(recording.id)
        dest_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # noqa: ASYNC240 (one quick syscall)
        tmp = temp_path(cache_path(dest_dir, self.id, self.account_id, recording.id, "unknown"))
        try:
            size, content_type = await self._download(path, tmp, max_bytes)
        except NotFound as exc:
            raise await self._missing_media(recording.id, exc) from None
        try:
            fmt = sniff_file(tmp)
            if fmt == "unknown":
                shown = one_line(content_type or "no content type", limit=60)
                raise BadResponse(f"GET {safe_path(self.http.url(path))}: the download is not audio ({shown})",
                                  provider=self.id, title="Not audio")
            final = cache_path(dest_dir, self.id, self.account_id, recording.id, fmt)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return Media(path=final, format=fmt, size=size, content_type=content_type)

    async def _download(self, path: str, dest: Path, max_bytes: int) -> tuple[int, str | None]:
        generation = await self._ensure_token()
        try:
            return await self.http.download(path, dest, max_bytes=max_bytes, media=False, headers=_AUDIO)
        except AuthError:
            await self._relogin(generation)
            return await self.http.download(path, dest, max_bytes=max_bytes, media=False, headers=_AUDIO)

    async def _missing_media(self, recording_id: str, original: NotFound) -> ProviderError:
        """A 404 on the download: a deleted recording, or one whose audio has no attachment (kept
        only on external storage). The metadata tells which."""
        try:
            await self._get_doc(recording_id)
        except NotFound:
            return NotFound(f"recording {recording_id[:60]} no longer exists on Kazoo; it may have been deleted.",
                            provider=self.id, status=404)
        except ProviderError:
            return original
        return NotFound(f"Kazoo has no audio attached to recording {recording_id[:60]}: it is probably kept only "
                        "on external storage, which rectui does not fetch.", provider=self.id, status=404,
                        title="No audio")

    # -- changes -----------------------------------------------------------------------------------
    def _report(self, method: str, path: str, status: int | None, message: str) -> None:
        """Tell the UI (and the log) how a write ended when the answer alone did not say."""
        self.http.emit(HttpEvent(self.id, "request", method, safe_path(self.http.url(path)), status=status,
                                  message=message))

    async def delete_recording(self, recording_id: str) -> DeleteOutcome:
        """DELETE once (never with `should_soft_delete=false`). After an ambiguous failure (5xx,
        timeout, reset) the recording is looked up: gone means deleted (reported as confirmed),
        still there means one more DELETE, whose 404 also counts as deleted
        (`BaseProvider.verified_write`). A 404 on the first try raises `NotFound` ("already
        deleted")."""
        path = self._rec_path(recording_id)

        async def send() -> None:
            await self._send("DELETE", path, headers=_JSON)

        async def still_there() -> bool:
            await self._send("GET", path, headers=_JSON)
            return True

        def gone(exc: NotFound) -> NotFound:
            return NotFound(f"DELETE {safe_path(self.http.url(path))}: the recording was already deleted.",
                            provider=self.id, status=404, title="Already deleted")

        def told(outcome: str) -> None:
            if outcome == "confirmed-by-404":
                self._report("DELETE", path, 404, "deleted (confirmed: the recording is gone after an ambiguous "
                                                  "failure)")

        return await self.verified_write(send, still_there, already_gone=gone, on_outcome=told)

    def _tags_unavailable(self) -> Unsupported:
        return self.unsupported("store tags on the server",
                                "server tags unavailable (this Kazoo does not allow PATCH on recordings, as "
                                "the open-source release); tags are kept locally")

    async def set_tags(self, recording_id: str, tags: frozenset[str]) -> Recording:
        """Merge-PATCH `user_metadata.tags` so that it holds exactly `tags` (`null` removes a key)."""
        if not self._tags_ok:
            raise self._tags_unavailable()
        path = self._rec_path(recording_id)
        wanted = {t for t in map(_tag, tags) if t}
        doc, raw = await self._get_doc(recording_id)
        stored = (doc.user_metadata or {}).get("tags")
        if isinstance(stored, list):        # not Kazoo's shape: the merge replaces the list by the map
            change: dict[str, Any] = {t: 1 for t in sorted(wanted)}
        else:
            current = {_tag(key): key for key in doc.tags()}     # as shown → the key on the server
            change = {t: 1 for t in sorted(wanted - set(current))}
            change.update({key: None for shown, key in current.items() if shown not in wanted})
        if not change:
            return self._recording(doc, raw)
        body = {"data": {"user_metadata": {"tags": change}}}

        def patched(st: int) -> bool:
            return 200 <= st < 300 or st == 405

        try:
            response = await self._send("PATCH", path, json_body=body, headers=_JSON, ok=patched)
        except Unavailable:
            # Ambiguous: the merge may have been applied. Read it back; send it once more if not.
            check, raw = await self._get_doc(recording_id)
            if {_tag(t) for t in check.tags()} == wanted:
                return self._recording(check, raw)
            response = await self._send("PATCH", path, json_body=body, headers=_JSON, ok=patched)
        if response.status_code == 405:
            self._tags_ok = False
            self.capabilities = type(self).capabilities.model_copy(update={"server_tags": False})  # type: ignore[misc]
            raise self._tags_unavailable()
        env = self.parse(_OneEnvelope, self.http.parse_json(response), "PATCH recording")
        new, _bad = _lenient(_Doc, env.data)
        if new is None:
            raise BadResponse("PATCH recording: the answer has no usable id", provider=self.id)
        return self._recording(new, env.data)

