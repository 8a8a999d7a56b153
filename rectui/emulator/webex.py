"""Webex Calling converged recordings (`https://webexapis.com/v1/convergedRecordings…`), emulated.

What a client meets here, as on the real service:

- Bearer tokens with scopes. `credentials()` prints three demo tokens: a user token
  (`spark:recordings_read/_write`, the one in the config entry), an admin token
  (`spark-admin:…`: the org listing, reassign, but no download links) and a compliance officer token
  (`spark-compliance:…`: the org listing with `status=purged`, and the permanent `DELETE`).
- The optional `timezone` request header (an IANA name) in which every time is rendered:
  `2024-10-04T16:24:25Z` without it, `2024-10-05T00:24:25+08:00` with `Asia/Singapore`.
- `GET /v1/convergedRecordings` (and `/v1/admin/convergedRecordings`): newest first by
  `createTime`, no sort parameter; `from` (inclusive) / `to` (exclusive) default to the 7 days
  before now, a span over 30 days is a 400; `max` 1–100, default 10; server-side filters; the body
  is `{"items": [...]}` only and the next page is an absolute `Link: <…>; rel="next"` URL that
  repeats the query (resolved `from`/`to` included) and adds an opaque `before=` cursor. The last
  page has no `Link` header.
- `GET /v1/convergedRecordings/{id}`: details with `temporaryDirectDownloadLinks` on the media
  origin (MP3 `audioDownloadLink`, `transcriptDownloadLink`, and the notes links that need the
  user's token), expiring 3 hours after the details request (`expiration`; a stale or tampered
  link answers 403). Absent for admins and for recordings with "Prevent Downloading".
- `POST …/softDelete` (to the recycle bin, `status=deleted` lists it), `…/restore`, `…/purge`
  (permanent), all 204; `DELETE …/{id}` is the compliance officer's irreversible purge.
- Errors `{message, errors: [{description}], trackingId}` plus a `trackingid` header; 429 with
  `Retry-After`.

Mapping of the neutral dataset: a fact's `start` is the recording's `createTime` (the ordering key,
so date ranges stay index arithmetic); `timeRecorded` is earlier by the duration and a processing
lag. The demo user owns every recording of the dataset (the owner fields still name the fact's
owner), so the user listing and the admin listing hold the same recordings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route

from rectui.emulator.app import ProviderEmulator
from rectui.emulator.dataset import HOSTILE_ID_SUFFIXES, HOSTILE_TEXTS, Fact
from rectui.emulator.faults import register_knobs

if TYPE_CHECKING:
    from rectui.emulator.app import Emulator
    from rectui.emulator.dataset import Dataset

# Provider-specific knobs besides the shared names (link_expired, rate_limit, empty_page, …):
# `link_drops_params`: the next link loses the filter parameters (reported for other Webex lists).
register_knobs("link_drops_params")

API_ROOT = "/v1"
LIST_PATH = "/v1/convergedRecordings"
ADMIN_LIST_PATH = "/v1/admin/convergedRecordings"
MEDIA_PATH = "/nbr/MultiThreadDownloadServlet"
NOTES_PATH = "/nbr/notes"

DEFAULT_WINDOW = timedelta(days=7)
MAX_WINDOW = timedelta(days=30)
LINK_LIFETIME = timedelta(hours=3)
LISTING_HORIZON = timedelta(days=730)   # how far back rectui's adapters walk (for `listed_ids`)
DEFAULT_MAX, MAX_MAX = 10, 100
MAX_BATCH = 100
MAX_COMMENT = 255

READ_USER, WRITE_USER = "spark:recordings_read", "spark:recordings_write"
READ_ADMIN, WRITE_ADMIN = "spark-admin:recordings_read", "spark-admin:recordings_write"
READ_CO, WRITE_CO = "spark-compliance:recordings_read", "spark-compliance:recordings_write"
READ_ANY = frozenset({READ_USER, READ_ADMIN, READ_CO})

OWNER_TYPES = ("user", "place", "virtualLine", "callQueue")
SERVICE_TYPES = ("calling", "customerAssist")
STORAGE_REGIONS = ("US", "SG", "GB", "JP", "DE", "AU", "IN", "CA")
FORMATS = ("MP3",)
NOTE_KINDS = ("suggestedNotes", "shortNotes", "actionItems")

# Filters: query name -> item field (the order is the order they are repeated in next links).
FILTERS = ("status", "serviceType", "format", "ownerType", "storageRegion", "locationId", "topic")
ADMIN_FILTERS = (*FILTERS, "ownerId", "ownerEmail")

MSG_401 = "The request requires a valid access token set in the Authorization request header."
MSG_403 = ("The server understood the request, but refused to fulfill it because the access token is missing "
           "required scopes or the user is missing required roles or licenses.")
MSG_404 = "The requested resource could not be found."
MSG_405 = "The request was made to a resource using an HTTP request method that is not supported."
MSG_415 = ("The request was made to a resource without specifying a media type or used a media type that is not "
           "supported.")
MSG_429 = "Too many requests have been sent in a given amount of time and the request has been rate limited."
MSG_LINK = "The download link has expired or is not valid; request the recording details again."

_INV_MUL = pow(0x9E3779B1, -1, 1 << 32)


@dataclass(frozen=True, slots=True)
class _Traits:
    """Cheap per-index properties (no `Fact` needed), so filters scan fast."""

    owner_type: str
    service_type: str
    location: int
    initially_deleted: bool
    lag: int            # seconds between the end of the call and the file's createTime


@dataclass(frozen=True, slots=True)
class _Principal:
    role: str           # "user" | "admin" | "compliance"
    scopes: frozenset[str]


@dataclass(slots=True)
class _State:
    status: str         # "available" | "deleted" | "purged" | "erased"
    owner: tuple[str, str] | None = None   # (email, id) after a reassign


@dataclass(slots=True)
class _Op:
    """A bulk state change (`…All` or reassign by owner), applied lazily to every index."""

    seq: int
    kind: str           # "status" | "owner"
    scope: str | None   # owner email it applies to; None: every recording of the caller
    frm: str = ""
    to: str = ""
    new_owner: tuple[str, str] | None = None


@dataclass(slots=True)
class _ListQuery:
    admin: bool
    max: int
    start: datetime
    end: datetime
    status: str
    filters: dict[str, str] = field(default_factory=dict)
    after_index: int = -1


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _hex(seed: str, n: int = 32) -> str:
    return hashlib.blake2b(seed.encode(), digest_size=16).hexdigest()[:n]


def _v4(hex32: str) -> str:
    """32 hex digits shaped as a random (version 4) UUID."""
    h = hex32
    return f"{h[:12]}4{h[13:16]}{'89ab'[int(h[16], 16) & 3]}{h[17:32]}"


def _uuid(hex32: str) -> str:
    h = _v4(hex32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _parse_time(raw: str, name: str) -> datetime:
    """Any ISO 8601 date or date-time; without an offset it is UTC."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise _BadRequest(400, f"Invalid '{name}' value '{raw}': expected an ISO 8601 date and time.") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _vtt(s: float) -> str:
    return f"{int(s // 3600):02d}:{int(s % 3600 // 60):02d}:{s % 60:06.3f}"


def _query_time(dt: datetime) -> str:
    """UTC, as the next links repeat `from`/`to`."""
    dt = dt.astimezone(UTC)
    spec = "seconds" if dt.microsecond == 0 else "microseconds"
    return dt.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


class WebexEmulator(ProviderEmulator):
    kind = "webex"

    def __init__(self, emu: Emulator, dataset: Dataset) -> None:
        super().__init__(emu, dataset)
        seed = self.emu.config.seed
        self._seed = seed
        self._secret = hashlib.sha256(f"{seed}:webex:link-secret".encode()).digest()
        self._mask = int(_hex(f"{seed}:webex:id-mask", 8), 16)
        self.org_id = _uuid(_hex(f"{seed}:webex:org"))
        self.locations = [(_uuid(_hex(f"{seed}:webex:location:{n}")), region)
                          for n, region in enumerate(("US", "US", "GB"))]
        self.tokens: dict[str, _Principal] = {
            self._token("user"): _Principal("user", frozenset({READ_USER, WRITE_USER})),
            self._token("admin"): _Principal("admin", frozenset({READ_ADMIN, WRITE_ADMIN})),
            self._token("compliance"): _Principal("compliance", frozenset({READ_CO, WRITE_CO})),
        }
        self.user_token, self.admin_token, self.compliance_token = list(self.tokens)
        # Mutable state: per-recording changes and bulk operations, in one sequence.
        self._seq = 0
        self._item_ops: dict[int, list[tuple[int, str, Any]]] = {}
        self._bulk_ops: list[_Op] = []
        self._buckets: dict[str, tuple[float, float]] = {}
        self._auth_seen = 0
        self._tracking = 0
        self._known: list[Route] = []
        self.traits = lru_cache(maxsize=65536)(self._make_traits)

    def _token(self, role: str) -> str:
        """Shaped like a real Webex access token: 64 characters, cluster, org id."""
        return f"{_hex(f'{self._seed}:webex:token:{role}')}{_hex(f'{self._seed}:webex:token2:{role}')}" \
               f"_PF84_{self.org_id}"

    # -- identity ---------------------------------------------------------------------------
    def credentials(self) -> dict[str, str]:
        return {"access_token": self.user_token, "admin_access_token": self.admin_token,
                "compliance_access_token": self.compliance_token}

    def config_entry(self) -> dict[str, object]:
        return {"kind": self.kind, "base_url": self.emu.api_url + API_ROOT, "access_token": self.user_token}

    # -- routes -----------------------------------------------------------------------------
    def api_routes(self) -> list[BaseRoute]:
        rid = LIST_PATH + "/{recordingId}"
        self._known = [
            self.route(LIST_PATH, self.list_recordings, "list"),
            self.route(ADMIN_LIST_PATH, self.list_admin, "admin_list"),
            self.route(LIST_PATH + "/softDelete", self.soft_delete, "soft_delete", ["POST"]),
            self.route(LIST_PATH + "/restore", self.restore, "restore", ["POST"]),
            self.route(LIST_PATH + "/purge", self.purge, "purge", ["POST"]),
            self.route(LIST_PATH + "/reassign", self.reassign, "reassign", ["POST"]),
            self.route(rid + "/metadata", self.metadata, "metadata"),
            self.route(rid, self.get_recording, "get"),
            self.route(rid, self.delete_recording, "delete", ["DELETE"]),
        ]
        anything = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        return [*self._known, self.route(API_ROOT + "/{rest:path}", self.unknown, "unknown", anything)]

    def media_routes(self) -> list[BaseRoute]:
        return [self.route(MEDIA_PATH, self.download, "media", origin="media"),
                self.route(NOTES_PATH, self.notes, "notes", origin="media")]

    # -- wire helpers -----------------------------------------------------------------------
    def _tracking_id(self) -> str:
        self._tracking += 1
        h = _hex(f"{self._seed}:webex:tracking:{self._tracking}").upper()
        return f"ROUTER_{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"

    def error_response(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        tid = self._tracking_id()
        body = {"message": message, "errors": [{"description": message}], "trackingId": tid}
        return JSONResponse(body, status_code=status, headers={**(headers or {}), "trackingid": tid})

    def _json(self, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return JSONResponse(body, status_code=status, headers={**(headers or {}), "trackingid": self._tracking_id()})

    def _no_content(self) -> Response:
        return Response(status_code=204, headers={"trackingid": self._tracking_id()})

    def _zone(self, request: Request) -> tzinfo | None:
        """The `timezone` header's zone; None renders UTC as `Z`."""
        name = request.headers.get("timezone")
        if name is None or name.strip() in ("", "UTC", "Etc/UTC"):
            return None
        try:
            return ZoneInfo(name.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise _BadRequest(400, f"Invalid timezone '{name}': expected an IANA time zone name.") from None

    @staticmethod
    def _time(dt: datetime, zone: tzinfo | None) -> str:
        dt = dt.replace(microsecond=0)
        if zone is None:
            return dt.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
        return dt.astimezone(zone).isoformat()

    # -- guards -----------------------------------------------------------------------------
    def _guard(self, request: Request, route: str, needs: frozenset[str] | None) -> _Principal | Response:
        """Rate limit, then the bearer token (401), then the scope (403)."""
        if limited := self._rate_limited(route):
            return limited
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        principal = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if rule := self.emu.faults.peek(self.kind, route, "expire_token_after"):
            self._auth_seen += 1
            if self._auth_seen > rule.number(default=0):
                principal = None
        if principal is None:
            return self.error_response(401, MSG_401)
        if needs is not None and not (principal.scopes & needs):
            return self.error_response(403, MSG_403)
        return principal

    def _rate_limited(self, route: str) -> Response | None:
        """`rate_limit=N[,burst=B]`: a token bucket of N requests a second; 429 with Retry-After."""
        rule = self.take(route, "rate_limit")
        if rule is None:
            return None
        rate = max(rule.number(default=5.0), 0.001)
        burst = max(rule.number("burst", rate), 1.0)
        now = self.emu.clock()
        tokens, last = self._buckets.get(rule.target, (burst, now))
        tokens = min(burst, tokens + (now - last) * rate)
        if tokens >= 1:
            self._buckets[rule.target] = (tokens - 1, now)
            return None
        self._buckets[rule.target] = (tokens, now)
        wait = max(1, math.ceil((1 - tokens) / rate))
        return self.error_response(429, MSG_429, {"Retry-After": str(wait)})

    # -- the dataset as Webex sees it --------------------------------------------------------
    def _make_traits(self, index: int) -> _Traits:
        b = hashlib.blake2b(f"{self._seed}:webex:traits:{index}".encode(), digest_size=8).digest()
        roll = b[0] % 100
        owner_type = "user" if roll < 78 else "place" if roll < 88 else "virtualLine" if roll < 95 else "callQueue"
        service = "customerAssist" if owner_type == "callQueue" else "calling"
        return _Traits(owner_type, service, b[1] % len(self.locations), b[2] % 40 == 0,
                       2 + int.from_bytes(b[3:5], "big") % 239)

    def recording_id(self, fact: Fact) -> str:
        """A UUID whose bits carry the index (so lookups need no table); some without hyphens."""
        enc = ((fact.index * 0x9E3779B1) & 0xFFFFFFFF) ^ self._mask
        u = _v4(fact.uid)
        h = f"{u[:20]}{enc:08x}{u[28:32]}"
        rid = h if fact.flag % 6 == 0 else _uuid(h)
        return rid + fact.hostile_id if fact.hostile_id else rid

    def listed_ids(self, status: str = "available", *, horizon: timedelta | None = LISTING_HORIZON) -> list[str]:
        """Ground truth for tests: every id the user's listing holds right now with `status`
        (`available`, or `deleted` for the recycle bin), newest first by `createTime`, over every
        window a client walks: created before now and, by default, within the two-year horizon at
        which rectui's adapters stop walking back (None: no horizon)."""
        if status not in ("available", "deleted"):
            return []
        now = self.emu.now()
        window = self.data.index_range(None if horizon is None else now - horizon, now)
        return [self.recording_id(self.data.fact(i)) for i in window if self.state(i).status == status]

    def index_of(self, rid: str) -> int | None:
        hexpart = rid.replace("-", "")[:32]
        if len(hexpart) != 32:
            return None
        try:
            enc = int(hexpart[20:28], 16)
        except ValueError:
            return None
        index = (((enc ^ self._mask) * _INV_MUL) & 0xFFFFFFFF)
        if not 0 <= index < len(self.data):
            return None
        return index if self.recording_id(self.data.fact(index)) == rid else None

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _set_status(self, index: int, status: str) -> None:
        self._item_ops.setdefault(index, []).append((self._next_seq(), "status", status))

    def _set_owner(self, index: int, owner: tuple[str, str]) -> None:
        self._item_ops.setdefault(index, []).append((self._next_seq(), "owner", owner))

    def state(self, index: int) -> _State:
        st = _State("deleted" if self.traits(index).initially_deleted else "available")
        item_ops = self._item_ops.get(index)
        if not item_ops and not self._bulk_ops:
            return st
        events: list[tuple[int, str, Any]] = list(item_ops or [])
        events.extend((op.seq, "bulk", op) for op in self._bulk_ops)
        events.sort(key=lambda e: e[0])
        for _, kind, value in events:
            if kind == "status":
                st.status = value
            elif kind == "owner":
                st.owner = value
            else:
                op: _Op = value
                if op.scope is not None and self._owner_of(index, st)[0].lower() != op.scope.lower():
                    continue
                if op.kind == "status" and st.status == op.frm:
                    st.status = op.to
                elif op.kind == "owner" and op.new_owner is not None:
                    st.owner = op.new_owner
        return st

    def _owner_of(self, index: int, st: _State) -> tuple[str, str]:
        if st.owner is not None:
            return st.owner
        owner = self.data.fact(index).owner
        return owner.email, _uuid(owner.user_id)

    def _topic(self, fact: Fact) -> str:
        if fact.hostile_text is not None:
            return fact.hostile_text
        if fact.flag % 4 == 0:              # a title set by the user
            return fact.topic
        other = fact.callee if fact.owner == fact.caller else fact.caller
        party = other.name if fact.flag % 3 else other.number.replace("+1", "+1 ", 1)
        return f"Call with {party}-{fact.start.strftime('%Y%m%d %H%M')}"

    @staticmethod
    def _duration(fact: Fact) -> int:
        return max(1, round(fact.duration))

    def item(self, index: int, zone: tzinfo | None, st: _State | None = None) -> dict[str, Any]:
        fact = self.data.fact(index)
        st = st or self.state(index)
        tr = self.traits(index)
        email, owner_id = self._owner_of(index, st)
        duration = self._duration(fact)
        recorded = fact.start - timedelta(seconds=duration + tr.lag)
        location_id, region = self.locations[tr.location]
        session = _v4(_hex(f"{fact.uid}:session"))
        return {
            "id": self.recording_id(fact),
            "topic": self._topic(fact),
            "createTime": self._time(fact.start, zone),
            "timeRecorded": self._time(recorded, zone),
            "ownerId": owner_id,
            "ownerType": "user" if st.owner is not None else tr.owner_type,
            "ownerEmail": email,
            "format": "MP3",
            "durationSeconds": duration,
            "sizeBytes": duration * 4000 + 417 + fact.flag,
            "serviceType": tr.service_type,
            "storageRegion": region,
            "status": st.status,
            "serviceData": {
                "locationId": location_id,
                "callSessionId": session if fact.flag % 5 == 1 else _uuid(session),
            },
        }

    # -- listing ----------------------------------------------------------------------------
    async def list_recordings(self, request: Request) -> Response:
        return await self._list(request, admin=False)

    async def list_admin(self, request: Request) -> Response:
        return await self._list(request, admin=True)

    async def _list(self, request: Request, admin: bool) -> Response:
        route = "admin_list" if admin else "list"
        who = self._guard(request, route, frozenset({READ_ADMIN, READ_CO}) if admin else frozenset({READ_USER}))
        if isinstance(who, Response):
            return who
        try:
            zone = self._zone(request)
            q = self._parse_list(request, admin, who)
        except _BadRequest as exc:
            return self.error_response(exc.status, exc.message)
        window = self.data.index_range(q.start, q.end)
        start = max(window.start, q.after_index + 1)
        found = self._scan(start, window.stop, q, q.max + 1)
        page, more = found[: q.max], len(found) > q.max
        items = [self.item(i, zone, st) for i, st in page]
        cursor_index = page[-1][0] if page else q.after_index
        link_query: dict[str, str] | None = None
        if more:
            link_query = self._link_query(request, q, admin, self.data.fact(cursor_index))
        if self.take(route, "empty_page"):
            items = []
        if self.take(route, "cursor_repeat"):        # the next link is the page just served
            link_query = self._link_query(request, q, admin, None if q.after_index < 0
                                          else self.data.fact(q.after_index))
        if not more and q.after_index >= 0 and self.take(route, "cursor_cycle"):
            link_query = self._link_query(request, q, admin, None)
        if link_query is not None and self.take(route, "link_drops_params"):
            link_query = {k: v for k, v in link_query.items() if k in ("max", "from", "to", "before")}
        self._drift(route, items)
        headers: dict[str, str] = {}
        if link_query is not None:
            path = ADMIN_LIST_PATH if admin else LIST_PATH
            headers["Link"] = f'<{self.emu.api_url}{path}?{urlencode(link_query)}>; rel="next"'
        return self._json({"items": items}, headers=headers)

    def _parse_list(self, request: Request, admin: bool, who: _Principal) -> _ListQuery:
        qp = request.query_params
        raw_max = qp.get("max")
        if raw_max is None:
            size = DEFAULT_MAX
        else:
            try:
                size = int(raw_max)
            except ValueError:
                raise _BadRequest(400, f"Invalid 'max' value '{raw_max}': it must be an integer.") from None
            if not 1 <= size <= MAX_MAX:
                raise _BadRequest(400, f"Invalid 'max' value '{raw_max}': it must be between 1 and {MAX_MAX}.")
        now = self.emu.now()
        start = _parse_time(qp["from"], "from") if qp.get("from") else None
        end = _parse_time(qp["to"], "to") if qp.get("to") else None
        if start is None and end is None:
            end = now
        if start is None:
            start = end - DEFAULT_WINDOW
        if end is None:
            end = start + DEFAULT_WINDOW
        if start > end:
            raise _BadRequest(400, "'from' cannot be after 'to'.")
        if end - start > MAX_WINDOW:
            raise _BadRequest(400, "The interval between 'from' and 'to' must be within 30 days.")
        status = qp.get("status") or "available"
        allowed = ("available", "deleted", "purged") if admin else ("available", "deleted")
        if status not in allowed:
            raise _BadRequest(400, f"Invalid 'status' value '{status}'.")
        if status == "purged" and who.role != "compliance":
            raise _BadRequest(403, MSG_403)
        filters: dict[str, str] = {}
        for name in ADMIN_FILTERS if admin else FILTERS:
            value = qp.get(name)
            if name == "status" or value is None or value == "":
                continue
            enum = {"serviceType": SERVICE_TYPES, "format": FORMATS, "ownerType": OWNER_TYPES,
                    "storageRegion": STORAGE_REGIONS}.get(name)
            if enum is not None and value not in enum:
                raise _BadRequest(400, f"Invalid '{name}' value '{value}'.")
            filters[name] = value
        after = -1
        if cursor := qp.get("before"):
            after = self._decode_cursor(cursor)
        return _ListQuery(admin, size, start, end, status, filters, after)

    def _decode_cursor(self, cursor: str) -> int:
        try:
            rid = _unb64(cursor).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            rid = ""
        index = self.index_of(rid) if rid else None
        if index is None:
            raise _BadRequest(400, "Invalid pagination cursor.")
        return index

    def _scan(self, start: int, stop: int, q: _ListQuery, want: int) -> list[tuple[int, _State]]:
        """Up to `want` matching indices from `start`, with their state; facts only when a filter needs them."""
        out: list[tuple[int, _State]] = []
        f = q.filters
        region_ok = {n for n, (_, region) in enumerate(self.locations) if region == f["storageRegion"]} \
            if "storageRegion" in f else None
        loc_ok = {n for n, (lid, _) in enumerate(self.locations) if lid == f["locationId"]} \
            if "locationId" in f else None
        topic = f["topic"].casefold() if "topic" in f else None
        for i in range(start, stop):
            tr = self.traits(i)
            if "serviceType" in f and tr.service_type != f["serviceType"]:
                continue
            if region_ok is not None and tr.location not in region_ok:
                continue
            if loc_ok is not None and tr.location not in loc_ok:
                continue
            st = self.state(i)
            if st.status != q.status:
                continue
            if "ownerType" in f and ("user" if st.owner is not None else tr.owner_type) != f["ownerType"]:
                continue
            if topic is not None and topic not in self._topic(self.data.fact(i)).casefold():
                continue
            if "ownerId" in f or "ownerEmail" in f:
                email, oid = self._owner_of(i, st)
                if "ownerId" in f and oid != f["ownerId"]:
                    continue
                if "ownerEmail" in f and email.lower() != f["ownerEmail"].lower():
                    continue
            out.append((i, st))
            if len(out) >= want:
                break
        return out

    def _link_query(self, request: Request, q: _ListQuery, admin: bool, last: Fact | None) -> dict[str, str]:
        query = {"max": str(q.max), "from": _query_time(q.start), "to": _query_time(q.end)}
        qp = request.query_params
        for name in ADMIN_FILTERS if admin else FILTERS:
            if qp.get(name):
                query[name] = qp[name]
        if last is not None:
            query["before"] = _b64(self.recording_id(last).encode())
        return query

    def _drift(self, route: str, items: list[dict[str, Any]]) -> None:
        """The list knobs that change item content: hostile_titles, hostile_ids, schema_drift."""
        if self.take(route, "hostile_titles"):
            for n, it in enumerate(items):
                it["topic"] = HOSTILE_TEXTS[n % len(HOSTILE_TEXTS)]
        if self.take(route, "hostile_ids"):
            for n, it in enumerate(items):
                it["id"] = it["id"] + HOSTILE_ID_SUFFIXES[n % len(HOSTILE_ID_SUFFIXES)]
        if self.take(route, "schema_drift"):
            for n, it in enumerate(items):
                match n % 5:
                    case 0:
                        it["durationSeconds"] = None
                    case 1:
                        it["createTime"] = "last Tuesday"
                    case 2:
                        it["sizeBytes"] = str(it["sizeBytes"])
                        it["surpriseField"] = {"nested": [1, 2, 3]}
                    case 3:
                        del it["id"]
                    case _:
                        it["topic"] = None

    # -- details, metadata ------------------------------------------------------------------
    def _lookup(self, rid: str, who: _Principal) -> tuple[int, _State] | None:
        index = self.index_of(rid)
        if index is None:
            return None
        st = self.state(index)
        if st.status == "erased" or (st.status == "purged" and who.role != "compliance"):
            return None
        return index, st

    async def get_recording(self, request: Request) -> Response:
        who = self._guard(request, "get", READ_ANY)
        if isinstance(who, Response):
            return who
        try:
            zone = self._zone(request)
        except _BadRequest as exc:
            return self.error_response(exc.status, exc.message)
        found = self._lookup(request.path_params["recordingId"], who)
        if found is None:
            return self.error_response(404, MSG_404)
        index, st = found
        body = self.item(index, zone, st)
        fact = self.data.fact(index)
        if st.status == "available" and who.role != "admin" and not self.prevents_download(fact):
            body["temporaryDirectDownloadLinks"] = self._links(fact, body["id"], zone)
        return self._json(body)

    @staticmethod
    def prevents_download(fact: Fact) -> bool:
        """About one recording in ten has "Prevent Downloading" on."""
        return fact.flag % 10 == 7

    @staticmethod
    def has_transcript(fact: Fact) -> bool:
        return fact.flag % 3 == 1

    @staticmethod
    def has_notes(fact: Fact) -> bool:
        return fact.flag % 5 == 2

    def _ticket(self, kind: str, rid: str, stamp: int, dead: bool = False) -> str:
        """The link's credential; a `dead` one (knob `link_expired`) is well-formed but never accepted."""
        mac = hmac.new(self._secret, f"{kind}|{rid}|{stamp}|{'dead' if dead else 'ok'}".encode(),
                       hashlib.sha256).digest()
        return _b64(mac[:12])

    def _links(self, fact: Fact, rid: str, zone: tzinfo | None) -> dict[str, str]:
        expires = self.emu.now() + LINK_LIFETIME
        revoke = False
        if rule := self.take("get", "link_expired"):
            if rule.value == "past":        # the expiration says so too
                expires = self.emu.now() - timedelta(seconds=1)
            else:                           # the expiration still promises 3 h; the link is dead
                revoke = True
        stamp = int(expires.timestamp() * 1000)
        links: dict[str, str] = {}
        kinds = ["calling", "transcript"] if self.has_transcript(fact) else ["calling"]
        for kind in kinds:
            ticket = self._ticket(kind, rid, stamp, dead=revoke)
            q = urlencode({"type": kind, "recordUUID": rid, "ticket": ticket, "timestamp": stamp})
            key = "audioDownloadLink" if kind == "calling" else "transcriptDownloadLink"
            links[key] = f"{self.emu.media_url}{MEDIA_PATH}?{q}"
        if self.has_notes(fact):
            for kind in NOTE_KINDS:
                q = urlencode({"type": kind, "recordUUID": rid})
                links[f"{kind}DownloadLink"] = f"{self.emu.media_url}{NOTES_PATH}?{q}"
        links["expiration"] = self._time(expires, zone)
        return links

    async def metadata(self, request: Request) -> Response:
        who = self._guard(request, "metadata", READ_ANY)
        if isinstance(who, Response):
            return who
        found = self._lookup(request.path_params["recordingId"], who)
        if found is None:
            return self.error_response(404, MSG_404)
        index, st = found
        fact = self.data.fact(index)
        item = self.item(index, None, st)
        show_all = request.query_params.get("showAllTypes", "").lower() == "true"

        def party(p: Any) -> dict[str, Any]:
            return {"actor": {"id": _uuid(p.user_id), "type": "PERSON"}, "name": p.name, "number": p.number}

        activity: dict[str, Any] = {"callType": "SIP_ENTERPRISE" if fact.flag % 2 else "SIP_NATIONAL",
                                    "direction": fact.direction.upper()}
        if show_all:
            activity["mediaStreams"] = [{"codec": "PCMU", "sampleRate": fact.sample_rate,
                                         "channels": fact.channels}]
            activity["participants"] = [party(fact.caller), party(fact.callee)]
            activity["redirectInfo"] = []
            activity["redirectedCall"] = {}
        body = {
            "id": item["id"],
            "orgId": self.org_id,
            "ownerId": item["ownerId"],
            "ownerType": item["ownerType"],
            "ownerName": fact.owner.name,
            "ownerEmail": item["ownerEmail"],
            "storageRegion": item["storageRegion"],
            "serviceType": item["serviceType"],
            "version": "1.0",
            "serviceData": {
                **item["serviceData"],
                "callRecordingId": _uuid(_hex(f"{fact.uid}:callrec")),
                "callingParty": party(fact.caller),
                "calledParty": party(fact.callee),
                "callId": _hex(f"{fact.uid}:call", 24),
                "session": {"startTime": item["timeRecorded"]},
                "recordingType": "ALWAYS" if fact.flag % 2 else "ON_DEMAND",
                "callActivity": [activity],
            },
        }
        return self._json(body)

    # -- media origin -----------------------------------------------------------------------
    async def download(self, request: Request) -> Response:
        qp = request.query_params
        kind, rid = qp.get("type", ""), qp.get("recordUUID", "")
        ticket, raw_stamp = qp.get("ticket", ""), qp.get("timestamp", "")
        try:
            stamp = int(raw_stamp)
        except ValueError:
            return self.error_response(403, MSG_LINK)
        if kind not in ("calling", "transcript") or not hmac.compare_digest(ticket, self._ticket(kind, rid, stamp)):
            return self.error_response(403, MSG_LINK)
        if self.emu.clock() * 1000 >= stamp:
            return self.error_response(403, MSG_LINK)
        index = self.index_of(rid)
        if index is None or self.state(index).status != "available":
            return self.error_response(404, MSG_404)
        fact = self.data.fact(index)
        hexid = rid.replace("-", "")[:32]
        if kind == "transcript":
            return Response(self._transcript(fact), media_type="text/vtt; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{hexid}.vtt"'})
        return await self.media_response("media", fact, "mp3", request,
                                         headers={"Content-Disposition": f'attachment; filename="{hexid}.mp3"'})

    def _transcript(self, fact: Fact) -> bytes:
        lines = ["WEBVTT", ""]
        speakers = (fact.caller.name, fact.callee.name)
        t, n = 0.0, 0
        while t < min(fact.duration, 60.0):
            end = min(t + 5.0, fact.duration)
            lines += [str(n + 1), f"{_vtt(t)} --> {_vtt(end)}", f"<v {speakers[n % 2]}>{self._topic(fact)}", ""]
            t, n = end, n + 1
        return "\n".join(lines).encode()

    async def notes(self, request: Request) -> Response:
        """The AI notes links, which (unlike the audio link) need the user's access token."""
        who = self._guard(request, "notes", frozenset({READ_USER, READ_CO}))
        if isinstance(who, Response):
            return who
        kind, rid = request.query_params.get("type", ""), request.query_params.get("recordUUID", "")
        index = self.index_of(rid)
        if kind not in NOTE_KINDS or index is None or self.state(index).status != "available" \
                or not self.has_notes(self.data.fact(index)):
            return self.error_response(404, MSG_404)
        fact = self.data.fact(index)
        text = {"suggestedNotes": f"Summary: {self._topic(fact)}. {fact.notes or ''}".strip(),
                "shortNotes": self._topic(fact),
                "actionItems": "- Follow up with " + fact.caller.name}[kind]
        return Response(text.encode(), media_type="text/plain; charset=utf-8",
                        headers={"trackingid": self._tracking_id()})

    # -- writes -----------------------------------------------------------------------------
    async def _body(self, request: Request, required: bool = True) -> dict[str, Any]:
        raw = await request.body()
        if not raw.strip():
            if required:
                raise _BadRequest(400, "The request body is required.")
            return {}
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise _BadRequest(415, MSG_415)
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise _BadRequest(400, "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise _BadRequest(400, "The request body must be a JSON object.")
        return body

    def _writer(self, request: Request, route: str) -> _Principal | Response:
        """softDelete/restore/purge: an administrator (spark-admin write) or a user (spark write)."""
        return self._guard(request, route, frozenset({WRITE_ADMIN, WRITE_USER}))

    def _batch(self, body: dict[str, Any], all_flag: str, who: _Principal) -> tuple[bool, str | None, list[str]]:
        every = body.get(all_flag, False)
        ids = body.get("recordingIds") or []
        owner_email = body.get("ownerEmail") or None
        if not isinstance(every, bool):
            raise _BadRequest(400, f"'{all_flag}' must be a boolean.")
        if not isinstance(ids, list) or not all(isinstance(x, str) for x in ids):
            raise _BadRequest(400, "'recordingIds' must be an array of strings.")
        if owner_email is not None and not isinstance(owner_email, str):
            raise _BadRequest(400, "'ownerEmail' must be a string.")
        if len(ids) > MAX_BATCH:
            raise _BadRequest(400, f"'recordingIds' can hold at most {MAX_BATCH} IDs.")
        if every:
            if ids:
                raise _BadRequest(400, f"'recordingIds' must be empty when '{all_flag}' is true.")
            if who.role == "admin" and not owner_email:
                raise _BadRequest(400, f"'ownerEmail' is required when an administrator sets '{all_flag}'.")
            if who.role != "admin" and owner_email:
                raise _BadRequest(400, f"'ownerEmail' must be empty for a user setting '{all_flag}'.")
        else:
            if owner_email:
                raise _BadRequest(400, f"'ownerEmail' must be empty unless '{all_flag}' is true.")
            if not ids:
                raise _BadRequest(400, "'recordingIds' must not be empty.")
        return every, owner_email, ids

    def _resolve(self, ids: list[str], who: _Principal) -> list[tuple[int, _State]]:
        found, missing = [], []
        for rid in ids:
            hit = self._lookup(rid, who)
            if hit is None or hit[1].status == "purged":
                missing.append(rid)
            else:
                found.append(hit)
        if missing:
            raise _BadRequest(404, f"Recordings not found: {', '.join(missing)}")
        return found

    async def _move(self, request: Request, route: str, all_flag: str, frm: str, to: str) -> Response:
        who = self._writer(request, route)
        if isinstance(who, Response):
            return who
        try:
            every, owner_email, ids = self._batch(await self._body(request), all_flag, who)
            if every:
                self._bulk_ops.append(_Op(self._next_seq(), "status", owner_email, frm, to))
            else:
                hits = self._resolve(ids, who)
                if route == "purge" and (bad := [self.recording_id(self.data.fact(i))
                                                 for i, st in hits if st.status != "deleted"]):
                    raise _BadRequest(400, f"Recordings are not in the recycle bin: {', '.join(bad)}")
                for index, st in hits:
                    if st.status == frm:
                        self._set_status(index, to)
        except _BadRequest as exc:
            return self.error_response(exc.status, exc.message)
        if self.take(route, "delete_apply_then_fail"):
            return self.error_response(500, "Internal Server Error")
        return self._no_content()

    async def soft_delete(self, request: Request) -> Response:
        return await self._move(request, "soft_delete", "trashAll", "available", "deleted")

    async def restore(self, request: Request) -> Response:
        return await self._move(request, "restore", "restoreAll", "deleted", "available")

    async def purge(self, request: Request) -> Response:
        return await self._move(request, "purge", "purgeAll", "deleted", "purged")

    async def reassign(self, request: Request) -> Response:
        who = self._guard(request, "reassign", frozenset({WRITE_ADMIN}))
        if isinstance(who, Response):
            return who
        try:
            body = await self._body(request)
            target = body.get("reassignOwnerEmail")
            if not isinstance(target, str) or "@" not in target:
                raise _BadRequest(400, "'reassignOwnerEmail' is required.")
            owner_email = body.get("ownerEmail") or None
            ids = body.get("recordingIds") or []
            if not isinstance(ids, list) or not all(isinstance(x, str) for x in ids) or len(ids) > MAX_BATCH:
                raise _BadRequest(400, f"'recordingIds' must be an array of at most {MAX_BATCH} strings.")
            if not owner_email and not ids:
                raise _BadRequest(400, "Either 'ownerEmail' or 'recordingIds' is required.")
            new_owner = (target, _uuid(_hex(f"{self._seed}:webex:person:{target.lower()}")))
            if ids:
                for index, st in self._resolve(ids, who):
                    if owner_email is None or self._owner_of(index, st)[0].lower() == owner_email.lower():
                        self._set_owner(index, new_owner)
            else:
                self._bulk_ops.append(_Op(self._next_seq(), "owner", owner_email, new_owner=new_owner))
        except _BadRequest as exc:
            return self.error_response(exc.status, exc.message)
        return self._no_content()

    async def delete_recording(self, request: Request) -> Response:
        """The compliance officer's permanent delete; users and admins use softDelete/purge."""
        who = self._guard(request, "delete", frozenset({WRITE_CO}))
        if isinstance(who, Response):
            return who
        try:
            body = await self._body(request, required=False)
            reason, comment = body.get("reason"), body.get("comment")
            if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT):
                raise _BadRequest(400, f"'comment' can be at most {MAX_COMMENT} characters long.")
            found = self._lookup(request.path_params["recordingId"], who)
            if found is None:
                raise _BadRequest(404, MSG_404)
            # The compliance officer never owns the recording, so a reason is always required.
            if not isinstance(reason, str) or not reason.strip():
                raise _BadRequest(400, "'reason' is required when deleting another user's recording.")
            self._set_status(found[0], "erased")
        except _BadRequest as exc:
            return self.error_response(exc.status, exc.message)
        if self.take("delete", "delete_apply_then_fail"):
            return self.error_response(500, "Internal Server Error")
        return self._no_content()

    async def unknown(self, request: Request) -> Response:
        """Anything else under /v1: 405 for a known path with another method, else 404 (Webex bodies)."""
        scope = dict(request.scope)
        scope["path"] = request.url.path
        scope.pop("path_params", None)
        if any(r.matches(scope)[0] is not Match.NONE for r in self._known):
            return self.error_response(405, MSG_405)
        return self.error_response(404, MSG_404)
