"""Genesys Cloud user recordings, emulated (reference: the provider page `genesys.md`, the seed's
`UserRecordingsApi` page and `tests/specs/genesys.openapi.yaml`).

Three origins, as with the real service:

- login origin (`login.{region}`): `POST /oauth/token`, the client-credentials grant. The client
  authenticates with `Authorization: Basic base64(client_id:client_secret)` or with `client_id` and
  `client_secret` form fields; the body is form-encoded `grant_type=client_credentials`. Success:
  `{"access_token": "…", "token_type": "bearer", "expires_in": 86399}`. Refusals are 400 with the
  login service's own shape `{"error", "description", "error_description"}` (`invalid_client` /
  "client not found" or "authentication failed", `unauthorized_client` for another grant type).
- API origin (`api.{region}`), every route needing `Authorization: Bearer <token>`:
  - `GET /api/v2/userrecordings?pageSize=&pageNumber=&expand=`: 1-based pages, `pageSize` 25 by
    default, above `max_page_size` (100) a 400 (or a clamp with `page_size_over_max = "clamp"`).
    The listing carries `total`, `pageCount` and host-relative `selfUri`/`firstUri`/`lastUri`,
    `previousUri` (absent on page 1) and `nextUri` (absent on the last page), e.g.
    `/api/v2/userrecordings?pageSize=25&pageNumber=2`. A page past the end is a 200 with no
    entities. No sort, no filter: newest first, but deletes shift later pages.
  - `GET /api/v2/userrecordings/summary`: `{readCount, unreadCount, totalCount}`.
  - `GET|PUT|DELETE /api/v2/userrecordings/{id}`: PUT takes a whole `UserRecording` and changes
    only `name` and `read` (everything else is ignored); DELETE answers 202 with no body and the
    item leaves the listing (or keeps appearing there for a while: `delete_async_ghost`).
  - `GET /api/v2/userrecordings/{id}/media?formatId=&async=`: formats WAV, WEBM (default),
    WAV_ULAW, OGG_VORBIS, OGG_OPUS, MP3, NONE (the stored original: no transcode). The first
    `transcode_polls` requests for a recording and format find it "transcoding": with
    `async=true` a 202 with no body, without it the call blocks (`transcode_block_seconds`) and
    then answers. Ready: 200 `{"contentLocationUri": "<media origin link>"}`.
- media origin: the `contentLocationUri` links look like S3 pre-signed URLs (`X-Amz-Date`,
  `X-Amz-Expires`, `X-Amz-Signature` in the query), need no bearer token and expire after
  `link_ttl_seconds` (600). Expired: 403 with S3's XML `AccessDenied` "Request has expired"; a bad
  signature: 403 `SignatureDoesNotMatch`; an `Authorization` header alongside the signed query:
  400 `InvalidArgument` (S3 allows one auth mechanism only). Audio only for GET (HEAD does not
  match a GET signature: 403).

API errors use Genesys' `ErrorBody`: `{message, code, status, contextId, details, errors}`, with
the `contextId` also sent as the `ININ-Correlation-Id` header (on every API response). A missing
token is 401 `authentication.required`, an unknown or expired one 401 `bad.credentials`; a 429
always has a `Retry-After` header (seconds) and code `too.many.requests.retry.after`.

Fields that have no value are left out, never sent as null: a recording without a name has no
`name`, the first page has no `previousUri`, the last no `nextUri`, `conversation` appears only
with `expand=conversation` (a large object) and `contentUri` (older API generations) never.

Provider-specific fault knobs (besides the generic ones the route wrapper applies):

- `expire_token_after=N`: a token stops working (401 `bad.credentials`) once it has been used for
  N API requests; a new token from `/oauth/token` works again for N;
- `rate_limit=N[,window=S]`: at most N API requests per S seconds (60) of the emulator clock,
  then 429 with `Retry-After` until the window ends;
- `transcode_forever`: `/media` never becomes ready (202, also after a blocking wait);
- `link_expired`: on `media`, the link handed out has already expired; on `download`, the media
  origin answers 403 "Request has expired" whatever the link says;
- `delete_async_ghost[=S]`: a deleted recording stays in the listing (and the summary) for S
  seconds (30) of the emulator clock, though GET, PUT, DELETE and media answer 404 at once;
- `delete_apply_then_fail[=CODE]`: the delete is done, the answer is CODE (500);
- `empty_page`: the page has no entities, its paging fields intact;
- `cursor_repeat`: `nextUri` names the current page again;
- `cursor_cycle`: the last page's `nextUri` goes back to page 1 (the list never ends);
- `schema_drift[=mix|no_id|null|bad|unknown]`: broken entities (missing id, null fields, wrong
  types, unknown fields);
- `hostile_titles`, `hostile_ids`: every entity of the page gets a hostile name or id suffix;
- `redirect[=URL]` (`status=` 301/302/307…): the API redirects to another origin (the media
  origin by default).
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
import json
import math
import random
import re
import uuid as uuidlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute

from rectui.emulator.app import ProviderEmulator, current_route
from rectui.emulator.dataset import HOSTILE_ID_SUFFIXES, HOSTILE_TEXTS, Fact
from rectui.emulator.faults import FaultRule, register_knobs

register_knobs("expire_token_after", "rate_limit", "transcode_forever", "link_expired", "delete_async_ghost",
               "delete_apply_then_fail", "empty_page", "cursor_repeat", "cursor_cycle", "schema_drift",
               "hostile_titles", "hostile_ids", "redirect")

API_ROOT = "/api/v2/userrecordings"
MEDIA_ROOT = "/genesys-userrecordings"

# formatId -> (the audio store's format, file extension)
FORMATS: dict[str, tuple[str, str]] = {
    "WAV": ("wav", "wav"),
    "WEBM": ("webm", "webm"),
    "WAV_ULAW": ("wav_ulaw", "wav"),
    "OGG_VORBIS": ("ogg_vorbis", "ogg"),
    "OGG_OPUS": ("ogg_opus", "opus"),
    "MP3": ("mp3", "mp3"),
    "NONE": ("wav", "wav"),          # the stored original (8 kHz 16-bit PCM, see contentLength)
}
DEFAULT_FORMAT = "WEBM"
EXPANDABLE = ("conversation",)

# Genesys' ErrorBody codes and messages per status (401, 404 and the 5xx ones as the platform sends
# them; the rest plausible).
ERROR_CODES: dict[int, tuple[str, str]] = {
    400: ("bad.request", "The request could not be understood by the server due to malformed syntax."),
    401: ("authentication.required", "No authentication bearer token specified in authorization header."),
    403: ("not.authorized", "You are not authorized to perform the requested action."),
    404: ("not.found", "The requested resource was not found."),
    405: ("method.not.allowed", "The requested method is not allowed for this resource."),
    408: ("request.timeout", "The client did not produce a request within the server timeout limit."),
    409: ("conflict", "The request conflicts with the current state of the resource."),
    413: ("request.entity.too.large", "The request is over the size limit."),
    415: ("unsupported.media.type", "Unsupported Media Type - Unsupported or incorrect media type, such as an "
                                     "incorrect Content-Type value in the header."),
    429: ("too.many.requests.retry.after", "Rate limit exceeded the maximum. Retry the request in [{s}] seconds"),
    500: ("internal.server.error", "The server encountered an unexpected condition which prevented it from "
                                   "fulfilling the request."),
    501: ("not.implemented", "The server does not support the functionality required to fulfill the request."),
    502: ("bad.gateway", "The server received an invalid response from an upstream server."),
    503: ("service.unavailable", "Service Unavailable - The server is currently unavailable (because it is "
                                 "overloaded or down for maintenance)."),
    504: ("request.timeout", "The request timed out."),
}
BAD_CREDENTIALS = ("bad.credentials", "Invalid login credentials.")
CORRELATION_HEADER = "ININ-Correlation-Id"

_INT = re.compile(r"[+-]?\d{1,10}")
# Routes off the API origin: their errors take the login service's or the media store's shape.
ROUTE_ORIGINS = {"token": "login", "download": "media"}


def iso_ms(dt: datetime) -> str:
    """ISO-8601 UTC with milliseconds: `2024-05-02T14:03:11.512Z`."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _uuid(*parts: object) -> str:
    return str(uuidlib.UUID(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:32], version=4))


def _mask(head: str) -> int:
    """32 bits that hide the dataset index in the last 8 hex digits of a recording id."""
    return int(hashlib.blake2b(head.encode(), digest_size=4).hexdigest(), 16)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass
class _Token:
    expires_at: float
    uses: int = 0


class GenesysEmulator(ProviderEmulator):
    kind = "genesys"

    # Tunables (plain attributes: tests and the demo may change them on the instance).
    max_page_size: int = 100            # the real maximum is unconfirmed; many Genesys listings cap at 100
    page_size_over_max: str = "reject"  # "reject" (400) or "clamp"
    default_page_size: int = 25
    token_expires_in: int = 86399       # what the login service says for a default client
    transcode_polls: int = 1            # requests that find a recording+format still transcoding
    transcode_block_seconds: float = 1.0  # how long a request without async=true waits for it
    link_ttl_seconds: int = 600         # lifetime of a contentLocationUri
    ghost_seconds: float = 30.0         # delete_async_ghost default

    def __init__(self, emu: Any, dataset: Any) -> None:
        super().__init__(emu, dataset)
        seed = emu.config.seed
        self._rng = random.Random(f"{seed}:genesys")
        self.client_id = _uuid(seed, "genesys", "client")
        self.client_secret = _b64url(hashlib.sha256(f"{seed}:genesys:secret".encode()).digest())[:43]
        self.workspace_id = _uuid(seed, "genesys", "workspace")
        self._signing_key = hashlib.sha256(f"{seed}:genesys:signing".encode()).digest()
        self.tokens: dict[str, _Token] = {}
        self.deleted: list[int] = []                # sorted dataset indices, deleted
        self.ghosts: dict[int, float] = {}          # deleted index -> listed until (emulator clock)
        self.names: dict[int, str] = {}             # PUT renames
        self.read: dict[int, bool] = {}             # PUT read flags
        self.modified: dict[int, datetime] = {}     # PUT times
        self.transcode_polls_seen: dict[tuple[int, str], int] = {}
        self.transcoded: set[tuple[int, str]] = set()
        self._windows: dict[int, tuple[float, int]] = {}   # rate_limit rule id -> (window start, count)

    # -- wiring ------------------------------------------------------------------------------
    def api_routes(self) -> list[BaseRoute]:
        return [
            self.route(API_ROOT, self.list_recordings, "list"),
            self.route(f"{API_ROOT}/summary", self.summary, "summary"),
            self.route(API_ROOT + "/{recordingId}", self.get_recording, "get"),
            self.route(API_ROOT + "/{recordingId}", self.put_recording, "update", methods=["PUT"]),
            self.route(API_ROOT + "/{recordingId}", self.delete_recording, "delete", methods=["DELETE"]),
            self.route(API_ROOT + "/{recordingId}/media", self.media, "media"),
            # Anything else under the root (an id with a "/" in it…) is the platform's JSON 404.
            self.route(API_ROOT + "/{rest:path}", self.not_found, "notfound",
                       methods=["GET", "PUT", "POST", "PATCH", "DELETE"]),
        ]

    def login_routes(self) -> list[BaseRoute]:
        return [self.route("/oauth/token", self.token, "token", methods=["POST"], origin="login")]

    def media_routes(self) -> list[BaseRoute]:
        return [self.route(MEDIA_ROOT + "/{recordingId}/{name}", self.download, "download", origin="media")]

    def credentials(self) -> dict[str, str]:
        return {"client_id": self.client_id, "client_secret": self.client_secret}

    def config_entry(self) -> dict[str, object]:
        return {"kind": self.kind, "base_url": self.emu.api_url, "login_url": self.emu.login_url,
                "client_id": self.client_id, "client_secret": self.client_secret}

    # -- error bodies ----------------------------------------------------------------------------
    def _context_id(self) -> str:
        return str(uuidlib.UUID(int=self._rng.getrandbits(128), version=4))

    def _json(self, data: object, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
        hdrs = {CORRELATION_HEADER: self._context_id()}
        hdrs.update(headers or {})
        return JSONResponse(data, status_code=status, headers=hdrs)

    def error_response(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        origin = ROUTE_ORIGINS.get(current_route() or "", "api")
        if origin == "login":
            return self._oauth_error(status, "server_error" if status >= 500 else "invalid_request", message,
                                     headers)
        if origin == "media":
            return self._s3_error(status, "AccessDenied" if status == 403 else "InternalError", message, headers)
        return self._api_error(status, message, headers=headers)

    def _api_error(self, status: int, message: str | None = None, code: str | None = None,
                   headers: dict[str, str] | None = None, details: list[dict[str, str]] | None = None
                   ) -> Response:
        hdrs = dict(headers or {})
        if 200 <= status < 300:        # e.g. an injected 202: no body, as the real 202s
            return Response(status_code=status, headers={CORRELATION_HEADER: self._context_id(), **hdrs})
        default_code, default_message = ERROR_CODES.get(status, (f"http.{status}", f"HTTP {status}"))
        if status == 429:
            # Since November 2021 every Genesys 429 carries Retry-After and this exact body shape.
            retry = hdrs.setdefault("Retry-After", "1")
            message, code = default_message.replace("{s}", retry), default_code
        context_id = self._context_id()
        hdrs[CORRELATION_HEADER] = context_id
        body = {"message": message or default_message, "code": code or default_code, "status": status,
                "contextId": context_id, "details": details or [], "errors": []}
        return JSONResponse(body, status_code=status, headers=hdrs)

    def _oauth_error(self, status: int, error: str, description: str,
                     headers: dict[str, str] | None = None) -> Response:
        return JSONResponse({"error": error, "description": description, "error_description": description},
                            status_code=status, headers=headers)

    def _s3_error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
                  extra: dict[str, str] | None = None) -> Response:
        request_id = f"{self._rng.getrandbits(64):016X}"
        fields = "".join(f"<{k}>{v}</{k}>" for k, v in (extra or {}).items())
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
                f"{fields}<RequestId>{request_id}</RequestId>"
                f"<HostId>{_b64url(hashlib.sha256(request_id.encode()).digest())}</HostId></Error>")
        return Response(body, status_code=status, media_type="application/xml", headers=headers)

    # -- login origin --------------------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        body = await request.body()
        form: dict[str, str] = {}
        if "application/x-www-form-urlencoded" in request.headers.get("content-type", "").lower():
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                client_id = secret = None
        if not client_id or not hmac.compare_digest(client_id.encode(), self.client_id.encode()):
            return self._oauth_error(400, "invalid_client", "client not found")
        if not hmac.compare_digest((secret or "").encode(), self.client_secret.encode()):
            return self._oauth_error(400, "invalid_client", "authentication failed")
        grant = form.get("grant_type")
        if grant != "client_credentials":
            if not grant:
                return self._oauth_error(400, "invalid_request", "missing grant type")
            return self._oauth_error(400, "unauthorized_client",
                                     f"client is not authorized to use the {grant} grant type")
        access = self.issue_token()
        return JSONResponse({"access_token": access, "token_type": "bearer", "expires_in": self.token_expires_in},
                            headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def issue_token(self) -> str:
        """A valid token without the HTTP round trip (for tests and the demo)."""
        access = _b64url(self._rng.randbytes(36)) + "**" + _b64url(self._rng.randbytes(21))
        self.tokens[access] = _Token(self.emu.clock() + self.token_expires_in)
        return access

    # -- the prelude of every API route ------------------------------------------------------------
    async def _begin(self, request: Request, route: str) -> Response | None:
        if rule := self.take(route, "redirect"):
            code = int(rule.number("status", 302))
            target = rule.value or f"{self.emu.media_url}{request.url.path}"
            if request.url.query and not rule.value:
                target += "?" + request.url.query
            return RedirectResponse(target, status_code=code)
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return self._api_error(401)
        tok = self.tokens.get(value.strip())
        if tok is None or self.emu.clock() >= tok.expires_at:
            return self._api_error(401, BAD_CREDENTIALS[1], BAD_CREDENTIALS[0])
        rule = self.emu.faults.peek(self.kind, route, "expire_token_after")
        if rule is not None and tok.uses >= int(rule.number(default=10)):
            tok.expires_at = -math.inf   # deactivated for good
            return self._api_error(401, BAD_CREDENTIALS[1], BAD_CREDENTIALS[0])
        tok.uses += 1
        if (rule := self.emu.faults.peek(self.kind, route, "rate_limit")) is not None:
            return self._rate_limited(rule)
        return None

    def _rate_limited(self, rule: FaultRule) -> Response | None:
        limit, window = int(rule.number(default=300)), rule.number("window", 60.0)
        now = self.emu.clock()
        start, n = self._windows.get(id(rule), (now, 0))
        if now >= start + window:
            start, n = now, 0
        n += 1
        self._windows[id(rule)] = (start, n)
        if n > limit:
            wait = max(1, math.ceil(start + window - now))
            return self._api_error(429, headers={"Retry-After": str(wait)})
        return None

    # -- ids and state -----------------------------------------------------------------------------
    def recording_id(self, f: Fact) -> str:
        """A UUID that encodes the dataset index (so a lookup costs nothing), plus a hostile suffix."""
        h = f.uid
        head = h[:12] + "4" + h[13:16] + "89ab"[int(h[16], 16) & 3] + h[17:24]
        hexid = head + f"{f.index ^ _mask(head):08x}"
        rid = f"{hexid[:8]}-{hexid[8:12]}-{hexid[12:16]}-{hexid[16:20]}-{hexid[20:]}"
        return rid + (f.hostile_id or "")

    def listed_ids(self, status: str = "available") -> list[str]:
        """The ids a complete default listing returns right now, in its order (newest first,
        ghosts of `delete_async_ghost` included). There is no recycle bin: `deleted` is []."""
        if status != "available":
            return []
        hidden = set(self._hidden())
        return [self.recording_id(self.data.fact(i)) for i in range(len(self.data)) if i not in hidden]

    def _index_of(self, rid: str) -> int | None:
        """The dataset index of a live (not deleted) recording id, or None."""
        index = self._index_of_key(rid[:36])
        if index is None or self.recording_id(self.data.fact(index)) != rid:
            return None
        return index

    def _hidden(self) -> list[int]:
        """Sorted indices the listing leaves out: deleted ones, except ghosts still listed."""
        if not self.ghosts:
            return self.deleted
        now = self.emu.clock()
        for index, until in list(self.ghosts.items()):
            if now >= until:
                del self.ghosts[index]
        return [i for i in self.deleted if i not in self.ghosts]

    def _nth_live(self, pos: int, hidden: list[int]) -> int:
        """The dataset index of the `pos`-th (0-based) listed recording."""
        index = pos
        while True:
            nxt = pos + bisect.bisect_right(hidden, index)
            if nxt == index:
                return index
            index = nxt

    def _page_indices(self, start: int, n: int, hidden: list[int]) -> list[int]:
        out: list[int] = []
        index = self._nth_live(start, hidden)
        j = bisect.bisect_left(hidden, index)
        count = len(self.data)
        while len(out) < n and index < count:
            if j < len(hidden) and hidden[j] == index:
                j += 1
            else:
                out.append(index)
            index += 1
        return out

    def _default_unread(self, index: int) -> bool:
        """The newest recordings are partly unread; everything older has been listened to."""
        return index < self._unread_horizon() and index % 3 != 2

    def _unread_horizon(self) -> int:
        return min(len(self.data), max(5, len(self.data) // 10))

    def is_read(self, index: int) -> bool:
        return self.read.get(index, not self._default_unread(index))

    # -- rendering -------------------------------------------------------------------------------
    def entity(self, f: Fact, expand: tuple[str, ...] = ()) -> dict[str, Any]:
        rid = self.recording_id(f)
        created = f.start
        extra = 0 if f.flag % 4 else (f.flag * 977) % 86400
        modified = self.modified.get(f.index) or min(created + timedelta(seconds=f.duration + extra),
                                                     max(created, self.emu.anchor))
        duration_ms = round(f.duration * 1000)
        item: dict[str, Any] = {"id": rid}
        name = self.names.get(f.index, f.title() or None)
        if name is not None:
            item["name"] = name
        item["dateCreated"] = iso_ms(created)
        item["dateModified"] = iso_ms(modified)
        item["workspace"] = {"id": self.workspace_id, "name": "User recordings",
                             "selfUri": f"/api/v2/contentmanagement/workspaces/{self.workspace_id}"}
        creator = _uuid(f.caller.user_id)
        item["createdBy"] = {"id": creator, "selfUri": f"/api/v2/users/{creator}"}
        if "conversation" in expand:
            item["conversation"] = self.conversation(f)
        item["contentLength"] = duration_ms * 16     # 8 kHz 16-bit PCM, as the stored original
        item["durationMilliseconds"] = duration_ms
        item["thumbnails"] = []
        item["read"] = self.is_read(f.index)
        item["selfUri"] = f"{API_ROOT}/{rid}"
        return item

    def conversation(self, f: Fact) -> dict[str, Any]:
        """The (large) Conversation object `expand=conversation` inlines."""
        conv_id = _uuid(f.uid, "conversation")
        start, end = iso_ms(f.start), iso_ms(f.end)
        answered = iso_ms(f.start + timedelta(seconds=min(6.0, f.duration / 4)))

        def leg(who: Any, purpose: str, other: Any, n: int) -> dict[str, Any]:
            pid = _uuid(f.uid, "participant", n)
            internal = purpose in ("user", "voicemail")
            part: dict[str, Any] = {
                "id": pid, "startTime": start, "endTime": end, "connectedTime": answered, "name": who.name,
                "purpose": purpose, "participantType": "Internal" if internal else "External",
                "address": f"tel:{who.number}", "ani": f"tel:{f.caller.number}", "dnis": f"tel:{f.callee.number}",
                "wrapupRequired": False, "attributes": {},
                "calls": [{
                    "state": "disconnected", "id": _uuid(f.uid, "call", n), "direction": f.direction,
                    "recording": True, "recordingState": "none", "muted": False, "confined": False,
                    "held": False, "securePause": False, "disconnectType": "peer" if n else "client",
                    "connectedTime": answered, "disconnectedTime": end, "provider": "Edge",
                    "peerId": _uuid(f.uid, "call", 1 - n if n < 2 else 0), "afterCallWorkRequired": False,
                    "self": {"nameRaw": who.name, "addressNormalized": f"tel:{who.number}",
                             "addressRaw": who.number, "addressDisplayable": who.number},
                    "other": {"nameRaw": other.name, "addressNormalized": f"tel:{other.number}",
                              "addressRaw": other.number, "addressDisplayable": other.number},
                }],
            }
            if internal:
                uid = _uuid(who.user_id)
                part["userId"] = uid
                part["userUri"] = f"/api/v2/users/{uid}"
            return part

        them = "customer" if f.direction == "inbound" else "external"
        caller_purpose, callee_purpose = (them, "user") if f.direction == "inbound" else ("user", them)
        participants = [leg(f.caller, caller_purpose, f.callee, 0), leg(f.callee, callee_purpose, f.caller, 1),
                        leg(f.callee, "voicemail", f.caller, 2)]
        division = _uuid(self.emu.config.seed, "genesys", "division")
        return {
            "id": conv_id, "startTime": start, "endTime": end, "address": f.callee.number,
            "participants": participants, "conversationIds": [conv_id], "maxParticipants": 3,
            "recordingState": "none",
            "divisions": [{"division": {"id": division, "selfUri": f"/api/v2/authorization/divisions/{division}"},
                           "entities": [{"id": p["userId"], "selfUri": p["userUri"]}
                                        for p in participants if "userId" in p]}],
            "selfUri": f"/api/v2/conversations/{conv_id}",
        }

    # -- query parsing -----------------------------------------------------------------------------
    def _int_param(self, request: Request, name: str, default: int) -> int | Response:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return default
        if not _INT.fullmatch(raw) or not -(2 ** 31) <= int(raw) < 2 ** 31:
            return self._invalid(name, f"Value [{raw}] is not valid for field type [{name}]. "
                                            "It must be an integer.")
        return int(raw)

    def _invalid(self, field: str, message: str) -> Response:
        return self._api_error(400, message, "invalid.value",
                               details=[{"errorCode": "invalid.value", "fieldName": field}])

    def _expand(self, request: Request) -> tuple[str, ...] | Response:
        values: list[str] = []
        for raw in request.query_params.getlist("expand"):
            values.extend(v.strip() for v in raw.split(",") if v.strip())
        for v in values:
            if v not in EXPANDABLE:
                return self._invalid("expand", f"Value [{v}] is not valid for field type [expand]. "
                                               f"Allowable values are: {', '.join(EXPANDABLE)}")
        return tuple(dict.fromkeys(values))

    # -- API routes ------------------------------------------------------------------------------
    async def list_recordings(self, request: Request) -> Response:
        if (early := await self._begin(request, "list")) is not None:
            return early
        expand = self._expand(request)
        if isinstance(expand, Response):
            return expand
        page_size = self._int_param(request, "pageSize", self.default_page_size)
        if isinstance(page_size, Response):
            return page_size
        page_number = self._int_param(request, "pageNumber", 1)
        if isinstance(page_number, Response):
            return page_number
        if page_size < 1 or (page_size > self.max_page_size and self.page_size_over_max != "clamp"):
            return self._invalid("pageSize",
                                 f"Value [{page_size}] is not valid for field type [pageSize]. "
                                 f"Allowable values are: 1-{self.max_page_size}")
        page_size = min(page_size, self.max_page_size)
        if page_number < 1:
            return self._invalid("pageNumber",
                                 f"Value [{page_number}] is not valid for field type [pageNumber]. "
                                 "It must be 1 or more.")
        hidden = self._hidden()
        total = len(self.data) - len(hidden)
        page_count = math.ceil(total / page_size)
        start = (page_number - 1) * page_size
        indices = self._page_indices(start, page_size, hidden) if start < total else []
        if self.take("list", "empty_page"):
            indices = []
        titles = self.take("list", "hostile_titles")
        ids = self.take("list", "hostile_ids")
        entities = []
        for index in indices:
            item = self.entity(self.data.fact(index), expand)
            if titles:
                item["name"] = HOSTILE_TEXTS[index % len(HOSTILE_TEXTS)]
            if ids:
                item["id"] += HOSTILE_ID_SUFFIXES[index % len(HOSTILE_ID_SUFFIXES)]
                item["selfUri"] = f"{API_ROOT}/{item['id']}"
            entities.append(item)
        if rule := self.take("list", "schema_drift"):
            _drift(entities, rule.value or "mix")

        tail = "".join(f"&expand={quote(v)}" for v in expand)

        def uri(n: int) -> str:
            return f"{API_ROOT}?pageSize={page_size}&pageNumber={n}{tail}"

        body: dict[str, Any] = {"entities": entities, "pageSize": page_size, "pageNumber": page_number,
                                "total": total, "firstUri": uri(1), "selfUri": uri(page_number)}
        if page_number > 1:
            body["previousUri"] = uri(min(page_number - 1, max(page_count, 1)))
        if page_number < page_count:
            body["nextUri"] = uri(page_number + 1)
        if self.take("list", "cursor_repeat"):
            body["nextUri"] = uri(page_number)
        elif page_number >= page_count and self.emu.faults.peek(self.kind, "list", "cursor_cycle"):
            body["nextUri"] = uri(1)
        body["lastUri"] = uri(max(page_count, 1))
        body["pageCount"] = page_count
        return self._json(body)

    async def not_found(self, request: Request) -> Response:
        if (early := await self._begin(request, "notfound")) is not None:
            return early
        return self._api_error(404)

    async def summary(self, request: Request) -> Response:
        if (early := await self._begin(request, "summary")) is not None:
            return early
        hidden = self._hidden()
        total = len(self.data) - len(hidden)
        horizon = self._unread_horizon()
        unread = horizon - horizon // 3 - sum(1 for i in hidden if self._default_unread(i))
        hidden_set = set(hidden)
        for index, value in self.read.items():
            if index in hidden_set:
                continue
            unread += (not value) - self._default_unread(index)
        return self._json({"readCount": total - unread, "unreadCount": unread, "totalCount": total})

    async def _one(self, request: Request, route: str) -> tuple[int, tuple[str, ...]] | Response:
        if (early := await self._begin(request, route)) is not None:
            return early
        expand: tuple[str, ...] | Response = ()
        if route in ("get", "update"):
            expand = self._expand(request)
            if isinstance(expand, Response):
                return expand
        index = self._index_of(request.path_params["recordingId"])
        if index is None:
            return self._api_error(404)
        return index, expand

    async def get_recording(self, request: Request) -> Response:
        found = await self._one(request, "get")
        if isinstance(found, Response):
            return found
        index, expand = found
        item = self.entity(self.data.fact(index), expand)
        if rule := self.take("get", "schema_drift"):
            _drift([item], rule.value or "mix")
        return self._json(item)

    async def put_recording(self, request: Request) -> Response:
        found = await self._one(request, "update")
        if isinstance(found, Response):
            return found
        index, expand = found
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype and ctype != "application/json" and not ctype.endswith("+json"):
            return self._api_error(415)
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return self._api_error(400)
        if not isinstance(body, dict):
            return self._api_error(400)
        name, read = body.get("name"), body.get("read")
        if name is not None and not isinstance(name, str):
            return self._invalid("name", "The name must be a string.")
        if read is not None and not isinstance(read, bool):
            return self._invalid("read", "The read flag must be true or false.")
        # Only name and read are writable; every other field of the body is ignored.
        if name is not None:
            self.names[index] = name
        if read is not None:
            self.read[index] = read
        if name is not None or read is not None:
            self.modified[index] = self.emu.now()
        return self._json(self.entity(self.data.fact(index), expand))

    async def delete_recording(self, request: Request) -> Response:
        found = await self._one(request, "delete")
        if isinstance(found, Response):
            return found
        index, _ = found
        bisect.insort(self.deleted, index)
        for key in [k for k in self.transcoded if k[0] == index]:
            self.transcoded.discard(key)
        if rule := self.take("delete", "delete_async_ghost"):
            self.ghosts[index] = self.emu.clock() + rule.number(default=self.ghost_seconds)
        if rule := self.take("delete", "delete_apply_then_fail"):
            return self._api_error(int(rule.number(default=500)))
        return Response(status_code=202, headers={CORRELATION_HEADER: self._context_id()})

    async def media(self, request: Request) -> Response:
        found = await self._one(request, "media")
        if isinstance(found, Response):
            return found
        index, _ = found
        fmt = request.query_params.get("formatId") or DEFAULT_FORMAT
        if fmt not in FORMATS:
            return self._invalid("formatId", f"Value [{fmt}] is not valid for field type [formatId]. "
                                             f"Allowable values are: {', '.join(FORMATS)}")
        wants_async = request.query_params.get("async", "").lower() == "true"
        key = (index, fmt)
        if fmt != "NONE" and key not in self.transcoded:
            if self.take("media", "transcode_forever"):
                if not wants_async:
                    await self.emu.sleep(self.transcode_block_seconds)
                return Response(status_code=202, headers={CORRELATION_HEADER: self._context_id()})
            seen = self.transcode_polls_seen.get(key, 0) + 1
            self.transcode_polls_seen[key] = seen
            if seen <= self.transcode_polls:
                if wants_async:
                    return Response(status_code=202, headers={CORRELATION_HEADER: self._context_id()})
                await self.emu.sleep(self.transcode_block_seconds)
            self.transcoded.add(key)
            self.transcode_polls_seen.pop(key, None)
        expired = self.take("media", "link_expired") is not None
        return self._json({"contentLocationUri": self.media_link(self.data.fact(index), fmt, expired=expired)})

    # -- media origin ------------------------------------------------------------------------------
    def _signature(self, path: str, amz_date: str, expires: str) -> str:
        return hmac.new(self._signing_key, f"GET\n{path}\n{amz_date}\n{expires}".encode(), "sha256").hexdigest()

    def media_link(self, f: Fact, fmt: str, *, expired: bool = False) -> str:
        """A pre-signed, time-limited link to the audio on the media origin (no bearer token)."""
        rid = self.recording_id(f)[:36]   # the object key is the plain UUID, whatever the id looks like
        path = f"{MEDIA_ROOT}/{rid}/{fmt}.{FORMATS[fmt][1]}"
        issued = self.emu.now()
        if expired:
            issued -= timedelta(seconds=self.link_ttl_seconds + 60)
        amz_date = issued.strftime("%Y%m%dT%H%M%SZ")
        expires = str(self.link_ttl_seconds)
        query = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"ASIAEMULATORGENESYS/{issued:%Y%m%d}/us-east-1/s3/aws4_request",
            "X-Amz-Date": amz_date,
            "X-Amz-Expires": expires,
            "X-Amz-SignedHeaders": "host",
            "X-Amz-Signature": self._signature(path, amz_date, expires),
        }
        return f"{self.emu.media_url}{path}?{urlencode(query)}"

    async def download(self, request: Request) -> Response:
        q = request.query_params
        if "authorization" in request.headers:
            return self._s3_error(400, "InvalidArgument",
                                  "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                                  "Signature query string parameter or the Authorization header should be specified",
                                  extra={"ArgumentName": "Authorization", "ArgumentValue": "(redacted)"})
        amz_date, expires, signature = q.get("X-Amz-Date", ""), q.get("X-Amz-Expires", ""), q.get("X-Amz-Signature")
        if not signature or not amz_date or not expires:
            return self._s3_error(403, "AccessDenied", "Access Denied")
        good = self._signature(request.url.path, amz_date, expires)
        if request.method != "GET" or not hmac.compare_digest(signature, good):
            if request.method == "HEAD":
                return Response(status_code=403)
            return self._s3_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not "
                                  "match the signature you provided. Check your key and signing method.")
        issued = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        until = issued + timedelta(seconds=int(expires))
        now = self.emu.now()
        forced = self.take("download", "link_expired") is not None
        if forced or now >= until:
            return self._s3_error(403, "AccessDenied", "Request has expired", extra={
                "X-Amz-Expires": expires, "Expires": until.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ")})
        name = request.path_params["name"]
        fmt = name.rsplit(".", 1)[0]
        index = self._index_of_key(request.path_params["recordingId"])
        if index is None or fmt not in FORMATS:
            return self._s3_error(403, "AccessDenied", "Access Denied")
        return await self.media_response("download", self.data.fact(index), FORMATS[fmt][0], request)

    def _index_of_key(self, key: str) -> int | None:
        """The dataset index of a live recording whose id starts with the UUID `key`, or None."""
        hexid = key.replace("-", "")
        if len(key) != 36 or len(hexid) != 32 or any(c not in "0123456789abcdef" for c in hexid):
            return None
        index = int(hexid[24:], 16) ^ _mask(hexid[:24])
        if not 0 <= index < len(self.data) or self.recording_id(self.data.fact(index))[:36] != key:
            return None
        pos = bisect.bisect_left(self.deleted, index)
        return None if pos < len(self.deleted) and self.deleted[pos] == index else index


def _drift(entities: list[dict[str, Any]], mode: str) -> None:
    """Break entities the way a drifting or buggy server would."""
    modes = ["no_id", "null", "bad", "unknown"] if mode == "mix" else [mode]
    for i, item in enumerate(entities):
        m = modes[i % len(modes)]
        if m == "no_id":
            item.pop("id", None)
        elif m == "null":
            for field in ("name", "dateCreated", "durationMilliseconds", "createdBy", "read"):
                item[field] = None
        elif m == "bad":
            item["durationMilliseconds"] = str(item.get("durationMilliseconds", "12.5s"))
            item["dateCreated"] = "yesterday"
            item["read"] = "no"
            item["contentLength"] = -1
        elif m == "unknown":
            item["contentUri"] = item.get("selfUri", "") + "/content"
            item["futureField"] = {"nested": [1, 2, 3]}
