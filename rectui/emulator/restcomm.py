"""Restcomm Connect / Restcomm CPaaS recordings, emulated (reference: the provider page
`restcomm.md`, the seed's "Recordings" docs page and the reconstructed OpenAPI document
`tests/specs/restcomm.openapi.yaml`, all read against Restcomm-Connect's own source).

What it serves, under the API root `/restcomm/2012-04-24` (the Jersey servlet of the `restcomm`
web app):

- `GET /Accounts/{AccountSid}/Recordings.json`: the paged list. `Page` is 0-based, `PageSize`
  defaults to 50 with no maximum; `num_pages` is floor(total / PageSize), i.e. the index of the
  last page, so a total that is a multiple of the page size ends with an extra empty page; a
  `Page` past it is a 400 with an empty body. `start`/`end` are strings and `end` is one past the
  end on the last page only. The page links drop every filter and `SortBy`, lose the `.json`
  suffix, carry an `AfterSid` the server never reads, and are the *string* `"null"` when absent.
  `SortBy=DateCreated|Duration|CallSid[:asc|:desc]` (direction case-insensitive, ascending when
  missing, an unknown field silently ignored, a bad direction a 400 `{"message": …}`);
  `StartTime`/`EndTime` keep only a leading `yyyy-MM-dd` (parsed leniently, midnight in the
  server's time zone; `EndTime` includes its whole day); `CallSid` is an SQL `LIKE` (`%`, `_`).
  `SubAccounts`, `localOnly` and `Limit` are accepted and change nothing here.
- The same paths without `.json` answer XML unless the `Accept` header contains "json" (so does
  every link the server hands out); the XML list carries no paging information at all.
- `GET …/Recordings/{sid}.json` (one recording, no envelope), `DELETE …/Recordings/{sid}[.json]`
  (200, empty body, hard: the row and the file are gone, no undo), no update (405).
- `GET …/Recordings/{sid}.wav` and `.mp4`: the file, **without authentication**, as
  `audio/x-wav` (the extension comes from the stored file, so `.mp4` of an audio recording is
  the WAV too), no Range support. The legacy static location `/restcomm/recordings/{sid}.wav`
  serves the same files (Tomcat's default servlet: Range works there).
- `GET /Accounts/{AccountSid}/Calls/{CallSid}/Recordings.json` (deprecated): a bare JSON array.

Wire format (what Gson and XStream produce in the real server): pretty-printed JSON with
`<`, `>`, `&`, `=` and `'` escaped as `\\u003c`…, so every page link reads `Page\\u003d1\\u0026…`
on the wire; dates as `EEE, d MMM yyyy HH:mm:ss Z` in the server's zone (`+0900` here; day not
padded); `duration` a string (Java's `Double.toString` of frames / 8000); `call_sid` omitted when
null, `ID<32hex>-CA<32hex>` on this server and `CA<32hex>` on rows from an older one, whose
`file_uri` is also the legacy absolute `/restcomm/recordings/RE….wav`.

Auth is HTTP Basic `AccountSid:AuthToken`; the e-mail works in place of the SID and the
plaintext password (whose MD5 is the token) in place of the token. The path's `{AccountSid}` may
be the SID, the e-mail or the friendly name. Errors are mostly empty: 400, 403, 404 and 405 have
no body, 401 adds `WWW-Authenticate: Basic realm="Restcomm realm"`, an inactive account gets a
`text/plain` 403, and what the servlet does not catch (a malformed SID, an unknown account in the
path, `PageSize=0`, a non-numeric `Page`) is a 500 with Tomcat's HTML error page.

Provider-specific fault knobs (besides the generic ones the wrapper applies):

- `redirect` on `media`/`legacy_media` (`expires=` seconds, 600 by default): a 307 to a
  presigned, time-limited S3-style URL on the media origin (the `s3` route), as with S3 storage
  and `security-level=REDIRECT`; that link needs no auth, serves `application/octet-stream`,
  answers an S3 XML 403 once expired or tampered with and a 404 once the recording is deleted.
- `redirect[=URL]` on any API route (`status=`, 302 by default): a redirect to another origin
  (the media origin's `sink` route by default), which a client must not follow with credentials.
- `link_expired` on `s3`: the S3 link answers "Request has expired" whatever its date.
- `account_inactive`: 403 `text/plain` "Provided Account is not active" on authenticated routes.
- `expire_token_after=N`: after N authenticated requests the credentials stop working (401).
- `file_uri=relative|legacy`: `file_uri` in that form (host-relative as in the seed's samples,
  or the legacy `/restcomm/recordings/` URL) for every item.
- `empty_page[=N]`: page N (or any page the rule fires on) has no recordings, envelope intact.
- `cursor_repeat`: `next_page_uri` names the current page again.
- `cursor_cycle`: the last page's `next_page_uri` goes back to `Page=0`, so links never end.
- `schema_drift[=mix|no_id|null|bad|unknown]`: broken items (missing `sid`, nulls, a numeric
  `duration`, an ISO date, unknown fields).
- `hostile_ids`: every recording on the page gets a hostile SID suffix.
- `gzip_bomb[=MB]`: a gzip-encoded list body that inflates to MB megabytes (50 by default).
- `delete_apply_then_fail`: the DELETE removes the recording, then answers 500.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import bisect
import gzip
import hashlib
import hmac
import html
import json
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape as xml_escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from rectui.emulator.app import ProviderEmulator
from rectui.emulator.dataset import HOSTILE_ID_SUFFIXES, Fact
from rectui.emulator.faults import FaultRule, register_knobs

register_knobs("account_inactive", "file_uri")

API_VERSION = "2012-04-24"
API_ROOT = f"/restcomm/{API_VERSION}"
ACCOUNT_PATH = API_ROOT + "/Accounts/{account}"
LEGACY_ROOT = "/restcomm/recordings"
S3_BUCKET = "restcomm-recordings"          # first path segment of the S3-style links (media origin)
S3_FOLDER = "recordings"
SINK_ROOT = "/restcomm-foreign"             # where the API `redirect` knob sends clients (media origin)

SERVER_TZ: tzinfo = timezone(timedelta(hours=9))   # the JVM's zone, as in the seed's "+0900" sample
ACCOUNT_EMAIL = "rectui-demo@restcomm.example"
ACCOUNT_PASSWORD = "rectui-demo"
ACCOUNT_FRIENDLY_NAME = "rectui demo"
TOMCAT = "Apache Tomcat/8.0.26"

LEGACY_SHARE = 0.15        # the oldest recordings come from an older server (CA… call SIDs, legacy file_uri)
SHARED_CALL_SHARE = 0.06   # a recording that belongs to the same call as the next (older) one
NO_CALL_SHARE = 0.01       # a recording without a call SID (call_sid omitted)

SID_RE = re.compile(r"[a-zA-Z0-9]{34}")                               # Sid.pattern
CALL_SID_RE = re.compile(r"ID[a-zA-Z0-9]{32}-CA[a-zA-Z0-9]{32}")      # Sid.callSidPattern
RECORDING_SID_RE = re.compile(r"RE([0-9a-f]{32})")
INT_RE = re.compile(r"[+-]?[0-9]+")
DATE_PREFIX_RE = re.compile(r"([0-9]+)-([0-9]+)-([0-9]+)")
WAV_TYPE = "audio/x-wav"
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
SORT_FIELDS = ("DateCreated", "Duration", "CallSid")
WRITE_METHODS = ["POST", "PUT", "PATCH", "DELETE"]

# Gson's default HTML-safe escaping (GsonBuilder without disableHtmlEscaping()).
_GSON_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("=", "\\u003d"), ("'", "\\u0027"),
                 ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))
_XML_ESCAPES = {'"': "&quot;", "'": "&apos;", "\r": "&#xd;"}


# -- wire formats ------------------------------------------------------------------------------
def gson_dumps(obj: Any) -> bytes:
    """JSON as the server's Gson writes it: pretty-printed, HTML characters escaped."""
    text = json.dumps(obj, indent=2, ensure_ascii=False)
    for char, escaped in _GSON_ESCAPES:          # outside strings JSON has none of these characters
        if char in text:
            text = text.replace(char, escaped)
    return text.encode()


def java_double(value: float) -> str:
    """Java's `Double.toString` for the range durations live in."""
    if value == 0:
        return "0.0"
    if 1e-3 <= abs(value) < 1e7:
        text = repr(float(value))
        return text if "." in text else text + ".0"
    mantissa, _, exp = f"{value:.16e}".partition("e")
    mantissa = repr(float(mantissa))
    return f"{mantissa}E{int(exp)}"


def rfc2822ish(dt: datetime, tz: tzinfo) -> str:
    """`new SimpleDateFormat("EEE, d MMM yyyy HH:mm:ss Z", Locale.US)` in the server's zone."""
    local = dt.astimezone(tz)
    offset = local.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hh, mm = divmod(abs(minutes), 60)
    return (f"{DAYS[local.weekday()]}, {local.day} {MONTHS[local.month - 1]} {local.year:04d} "
            f"{local:%H:%M:%S} {sign}{hh:02d}{mm:02d}")


def java_parse_int(raw: str) -> int | None:
    """`Integer.parseInt`: optional sign, ASCII digits, 32-bit range; None where Java throws."""
    if len(raw) > 12 or not INT_RE.fullmatch(raw):
        return None
    value = int(raw)
    return value if -(2**31) <= value < 2**31 else None


def java_div(a: int, b: int) -> int:
    """Java's int division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def parse_day(raw: str, tz: tzinfo) -> datetime | None:
    """`new SimpleDateFormat("yyyy-MM-dd").parse(raw)`: lenient, stops after the day (anything
    after it, such as `THH:MM:SS`, is ignored), midnight in the server's zone; None where Java
    throws a ParseException."""
    m = DATE_PREFIX_RE.match(raw)
    if not m or any(len(g) > 9 for g in m.groups()):
        return None
    year, month, day = (int(g) for g in m.groups())
    year += (month - 1) // 12            # lenient: month 13 is January of the next year, 0 December
    month = (month - 1) % 12 + 1
    if year < 1:
        return datetime.min.replace(tzinfo=tz)
    if year > 9999:
        return datetime.max.replace(tzinfo=tz)
    try:
        first = date(year, month, 1) + timedelta(days=day - 1)
    except OverflowError:
        return (datetime.max if day > 1 else datetime.min).replace(tzinfo=tz)
    return datetime(first.year, first.month, first.day, tzinfo=tz)


def like_to_regex(pattern: str) -> re.Pattern[str]:
    """An SQL LIKE pattern (`%`, `_`, backslash escapes) as a regular expression."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _hex(text: str, n: int = 32) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()[:n]


def _empty(status: int, headers: dict[str, str] | None = None) -> Response:
    """A body-less response, as Jersey's `status(X).build()` sends it (no Content-Type)."""
    return Response(b"", status, headers=headers)


def container_error_page(status: int, message: str) -> Response:
    """What the servlet container (or the proxy in front of it) shows for an uncaught error."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    if status in (502, 503, 504):
        body = (f"<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
                f"<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
                "</body>\r\n</html>\r\n")
        return Response(body.encode(), status, media_type="text/html")
    msg = html.escape(message)
    body = (f"<!DOCTYPE html><html><head><title>{TOMCAT} - Error report</title>"
            "<style type=\"text/css\">H1 {font-family:Tahoma,Arial,sans-serif;color:white;"
            "background-color:#525D76;font-size:22px;}</style> </head><body>"
            f"<h1>HTTP Status {status} - {msg}</h1><div class=\"line\"></div>"
            f"<p><b>type</b> {'Exception report' if status >= 500 else 'Status report'}</p>"
            f"<p><b>message</b> <u>{msg}</u></p>"
            f"<p><b>description</b> <u>{html.escape(phrase)}</u></p>"
            f"<hr class=\"line\"><h3>{TOMCAT}</h3></body></html>")
    return Response(body.encode(), status, media_type="text/html;charset=utf-8")


def _xml_text(value: str) -> str:
    return xml_escape(value, _XML_ESCAPES)


@lru_cache(maxsize=4)
def gzip_bomb_bytes(megabytes: float) -> bytes:
    """A valid JSON document of `megabytes` MB (mostly blanks), gzip-compressed."""
    size = int(megabytes * 1024 * 1024)
    head, tail = b'{"page": 0, "recordings": [', b"]}"
    return gzip.compress(head + b" " * max(0, size - len(head) - len(tail)) + tail, compresslevel=9)


_JERSEY_IGNORES = frozenset({b"range", b"if-range", b"if-none-match", b"if-modified-since"})


class _WholeFile(Response):
    """Wraps a media response so that it never sees a Range header (Jersey writes a whole File
    entity: no 206, no Accept-Ranges). Headers are shared with the wrapped response."""

    def __init__(self, inner: Response) -> None:
        self.inner = inner
        self.status_code = inner.status_code
        self.background = inner.background
        self.raw_headers = inner.raw_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() not in _JERSEY_IGNORES]
        await self.inner({**scope, "headers": headers}, receive, send)


# -- selections: the filtered, sorted list as index arithmetic ------------------------------------
class _Selection:
    total: int

    def page(self, offset: int, limit: int) -> list[int]:
        raise NotImplementedError


class _DateSelection(_Selection):
    """Alive indices of [lo, hi) in date order (index order is newest first), without ever
    materialising them: positions map to indices through the sorted deleted list."""

    def __init__(self, lo: int, hi: int, deleted: Sequence[int], ascending: bool) -> None:
        self.lo, self.hi, self.deleted, self.ascending = lo, hi, deleted, ascending
        gone = bisect.bisect_left(deleted, hi) - bisect.bisect_left(deleted, lo)
        self.total = hi - lo - gone

    def _nth(self, p: int) -> int:
        """The p-th (0-based) alive index from lo, newest first (least fixed point)."""
        start = bisect.bisect_left(self.deleted, self.lo)
        k = self.lo + p
        while True:
            nk = self.lo + p + bisect.bisect_right(self.deleted, k) - start
            if nk == k:
                return k
            k = nk

    def page(self, offset: int, limit: int) -> list[int]:
        if offset >= self.total or limit <= 0:
            return []
        count = min(limit, self.total - offset)
        dead = set(self.deleted)
        out: list[int] = []
        if not self.ascending:
            i = self._nth(offset)
            while len(out) < count:
                if i not in dead:
                    out.append(i)
                i += 1
        else:
            i = self._nth(self.total - 1 - offset)
            while len(out) < count:
                if i not in dead:
                    out.append(i)
                i -= 1
        return out


class _ListSelection(_Selection):
    def __init__(self, indices: list[int]) -> None:
        self.indices = indices
        self.total = len(indices)

    def page(self, offset: int, limit: int) -> list[int]:
        return self.indices[offset: offset + limit] if offset >= 0 and limit > 0 else []


@dataclass
class _Query:
    start: datetime | None
    end: datetime | None
    call_sid: str | None
    sort: str | None          # None = date_created DESC (the default), else a SORT_FIELDS name
    descending: bool


class _Problem(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class RestcommEmulator(ProviderEmulator):
    kind = "restcomm"
    server_tz: tzinfo = SERVER_TZ

    def __init__(self, emu: Any, dataset: Any) -> None:
        super().__init__(emu, dataset)
        seed = emu.config.seed
        self.account_email = ACCOUNT_EMAIL
        self.account_password = ACCOUNT_PASSWORD
        self.account_friendly_name = ACCOUNT_FRIENDLY_NAME
        # Sid.generate(ACCOUNT, email) = "AC" + md5(email); the token is the MD5 of the password.
        self.account_sid = "AC" + hashlib.md5(self.account_email.encode()).hexdigest()
        self.auth_token = hashlib.md5(self.account_password.encode()).hexdigest()
        self.account_status = "active"        # "suspended"/"closed" → 403; "uninitialized" passes
        self.instance_id = "ID" + _hex(f"{seed}:restcomm:instance")
        self._s3_secret = _hex(f"{seed}:restcomm:s3-secret").encode()
        self._s3_access_key = "AKIA" + _hex(f"{seed}:restcomm:s3-key", 16).upper()
        n = len(dataset)
        self._legacy_from = n - int(n * LEGACY_SHARE)          # indices >= this are legacy rows
        self._deleted: list[int] = []                           # sorted
        self._deleted_set: set[int] = set()
        self._version = 0
        self._selections: OrderedDict[tuple[Any, ...], _Selection] = OrderedDict()
        self._uid_index: dict[str, int] | None = None
        self._call_index: dict[str, list[int]] | None = None
        self._call_table: list[str | None] | None = None
        self._durations: list[float] | None = None
        self._auth_seen: dict[int, int] = {}
        self._call_sid = lru_cache(maxsize=8192)(self._make_call_sid)

    # -- configuration ---------------------------------------------------------------------
    def credentials(self) -> dict[str, str]:
        return {"account_sid": self.account_sid, "auth_token": self.auth_token,
                "email": self.account_email, "password": self.account_password}

    def config_entry(self) -> dict[str, object]:
        return {"kind": self.kind, "base_url": self.emu.api_url + API_ROOT,
                "account_sid": self.account_sid, "auth_token": self.auth_token}

    def api_routes(self) -> list[BaseRoute]:
        rec = ACCOUNT_PATH + "/Recordings"
        calls = ACCOUNT_PATH + "/Calls/{call}/Recordings"
        anything = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return [
            self.route(rec + ".json", self.list_recordings, "list"),
            self.route(rec, self.list_recordings, "list"),
            self.route(rec + ".json", self.not_allowed, "update", WRITE_METHODS),
            self.route(rec, self.not_allowed, "update", WRITE_METHODS),
            self.route(rec + "/{sid}.wav", self.recording_file, "media"),
            self.route(rec + "/{sid}.mp4", self.recording_file, "media"),
            self.route(rec + "/{sid}.json", self.get_recording, "get"),
            self.route(rec + "/{sid}.json", self.delete_recording, "delete", ["DELETE"]),
            self.route(rec + "/{sid}.json", self.not_allowed, "update", ["POST", "PUT", "PATCH"]),
            self.route(rec + "/{sid}", self.get_recording, "get"),
            self.route(rec + "/{sid}", self.delete_recording, "delete", ["DELETE"]),
            self.route(rec + "/{sid}", self.not_allowed, "update", ["POST", "PUT", "PATCH"]),
            self.route(calls + ".json", self.call_recordings, "call_recordings"),
            self.route(calls, self.call_recordings, "call_recordings"),
            self.route(LEGACY_ROOT + "/{name}", self.legacy_file, "legacy_media"),
            self.route(API_ROOT + "/{rest:path}", self.unmatched, "unmatched", anything),
            self.route("/restcomm/{rest:path}", self.unmatched, "unmatched", anything),
        ]

    def media_routes(self) -> list[BaseRoute]:
        return [
            self.route(f"/{S3_BUCKET}/{{folder}}/{{name}}", self.s3_object, "s3", origin="media"),
            self.route(SINK_ROOT + "/{rest:path}", self.sink, "sink",
                       ["GET", "POST", "PUT", "PATCH", "DELETE"], origin="media"),
        ]

    def error_response(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        """Restcomm's error bodies: mostly none at all; 5xx from the container or its proxy."""
        if status == 401:
            return _empty(401, {"WWW-Authenticate": 'Basic realm="Restcomm realm"', **(headers or {})})
        if status >= 500:
            response = container_error_page(status, message)
            for k, v in (headers or {}).items():
                response.headers[k] = v
            return response
        return _empty(status, headers)

    # -- the data model ----------------------------------------------------------------------
    def sid_of(self, fact: Fact) -> str:
        """The recording SID: "RE" + 32 hex (plus the hostile suffix of a hostile fact)."""
        return f"RE{fact.uid}{fact.hostile_id or ''}"

    def recording_id(self, fact: Fact) -> str:
        return self.sid_of(fact)

    def listed_ids(self, status: str = "available") -> list[str]:
        """The SIDs of a complete default listing (date_created DESC = index order); deletes are
        hard, so there is no recycle bin: `status="deleted"` is always empty."""
        if status != "available":
            return []
        dead = self._deleted_set
        return [self.sid_of(self.data.fact(i)) for i in range(len(self.data)) if i not in dead]

    def index_of(self, sid: str) -> int | None:
        """The dataset index of a live recording with this SID, else None."""
        m = RECORDING_SID_RE.fullmatch(sid)
        if not m:
            return None
        uid = m.group(1)
        i = self._uids().get(uid)
        if i is None or i in self._deleted_set:
            return None
        fact = self.data.fact(i)
        if fact.uid != uid:                       # the dataset's uid scheme changed: rebuild
            self._uid_index = {self.data.fact(j).uid: j for j in range(len(self.data))}
            return self.index_of(sid)
        return None if fact.hostile_id else i

    def _uids(self) -> dict[str, int]:
        if self._uid_index is None:
            # The dataset's uid scheme (checked against `fact.uid` on every lookup).
            seed, kind = self.data.seed, self.data.provider
            self._uid_index = {hashlib.sha256(f"{seed}:{kind}:{i}:uid".encode()).hexdigest()[:32]: i
                               for i in range(len(self.data))}
        return self._uid_index

    def is_legacy(self, index: int) -> bool:
        return index >= self._legacy_from

    def _coin(self, index: int, what: str) -> float:
        return int(_hex(f"{self.data.seed}:restcomm:{what}:{index}", 8), 16) / 2**32

    def _make_call_sid(self, index: int) -> str | None:
        if self._coin(index, "nocall") < NO_CALL_SHARE:
            return None
        owner = index                           # two recordings of one call share the older's SID
        while (owner + 1 < len(self.data) and self._coin(owner, "shared") < SHARED_CALL_SHARE
               and self._coin(owner + 1, "nocall") >= NO_CALL_SHARE):
            owner += 1
        ca = "CA" + _hex(f"{self.data.seed}:restcomm:call:{owner}")
        return ca if self.is_legacy(owner) else f"{self.instance_id}-{ca}"

    def call_sid(self, index: int) -> str | None:
        if self._call_table is not None:
            return self._call_table[index]
        return self._call_sid(index)

    def _calls(self) -> dict[str, list[int]]:
        """Call SID → indices (newest first), with the per-index table, built once."""
        if self._call_index is None:
            table = [self._make_call_sid(i) for i in range(len(self.data))]
            index: dict[str, list[int]] = {}
            for i, c in enumerate(table):
                if c is not None:
                    index.setdefault(c, []).append(i)
            self._call_table = table
            self._call_index = index
        return self._call_index

    @staticmethod
    def wire_duration(fact: Fact) -> float:
        """Seconds as the server stores them: WAV frames at 8 kHz over 8000."""
        return round(fact.duration * 8000) / 8000

    def _duration_of(self, index: int) -> float:
        if self._durations is None:
            self._durations = [self.wire_duration(self.data.fact(i)) for i in range(len(self.data))]
        return self._durations[index]

    async def _warm_up(self, request: Request) -> None:
        """Build the whole-dataset tables a Duration/CallSid sort or a CallSid filter needs in a
        thread (seconds with 100,000 recordings, once), so the event loop keeps serving."""
        params = self.first_params(request)
        sort = params.get("SortBy", "")
        if sort.startswith("Duration") and self._durations is None:
            await asyncio.to_thread(self._duration_of, 0)
        if (sort.startswith("CallSid") or "CallSid" in params) and self._call_index is None:
            await asyncio.to_thread(self._calls)

    def file_path(self, sid: str, legacy: bool) -> str:
        if legacy:
            return f"{LEGACY_ROOT}/{sid}.wav"
        return f"{API_ROOT}/Accounts/{self.account_sid}/Recordings/{sid}.wav"

    def recording(self, index: int, *, file_uri: str | None = None, sid_suffix: str = "") -> dict[str, Any]:
        """One recording exactly as RecordingConverter writes it to JSON."""
        fact = self.data.fact(index)
        sid = self.sid_of(fact) + sid_suffix
        when = rfc2822ish(fact.start, self.server_tz)
        item: dict[str, Any] = {"sid": sid, "date_created": when, "date_updated": when,
                                "account_sid": self.account_sid}
        if (call := self.call_sid(index)) is not None:
            item["call_sid"] = call
        item["duration"] = java_double(self.wire_duration(fact))
        item["api_version"] = API_VERSION
        item["uri"] = f"/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{sid}.json"
        legacy = self.is_legacy(index) if file_uri is None else file_uri == "legacy"
        path = self.file_path(sid, legacy)
        item["file_uri"] = path if file_uri == "relative" else self.emu.api_url + path
        return item

    @staticmethod
    def recording_xml(item: dict[str, Any], indent: str) -> str:
        """The same recording as XStream writes it (RecordingConverter.marshal)."""
        fields = [("Sid", "sid"), ("DateCreated", "date_created"), ("DateUpdated", "date_updated"),
                  ("AccountSid", "account_sid"), ("CallSid", "call_sid"), ("Duration", "duration"),
                  ("ApiVersion", "api_version"), ("Uri", "uri"), ("FileUri", "file_uri")]
        lines = [f"{indent}<Recording>"]
        for tag, key in fields:
            if key not in item or item[key] is None:
                continue
            value = str(item[key])
            if key == "uri" and value.endswith(".json"):
                value = value[: -len(".json")]       # the ".json" is added by the JSON writer only
            lines.append(f"{indent}  <{tag}>{_xml_text(value)}</{tag}>")
        lines.append(f"{indent}</Recording>")
        return "\n".join(lines)

    def _xml_list(self, items: list[dict[str, Any]]) -> bytes:
        if not items:
            return b"<RestcommResponse>\n  <Recordings/>\n</RestcommResponse>"
        inner = "\n".join(self.recording_xml(item, "    ") for item in items)
        return f"<RestcommResponse>\n  <Recordings>\n{inner}\n  </Recordings>\n</RestcommResponse>".encode()

    def delete_index(self, index: int) -> None:
        if index not in self._deleted_set:
            self._deleted_set.add(index)
            bisect.insort(self._deleted, index)
            self._version += 1
            self._selections.clear()

    # -- request plumbing --------------------------------------------------------------------
    @staticmethod
    def wants_json(request: Request) -> bool:
        """AcceptFilter + retrieveMediaType: `.json` anywhere in the path forces JSON, else the
        Accept header must contain "json"; no Accept header at all means XML."""
        if ".json" in request.url.path:
            return True
        return "json" in request.headers.get("accept", "")

    @staticmethod
    def request_path(request: Request) -> str:
        """The path as the endpoint sees it: every segment's `.json` suffix stripped."""
        path = request.scope.get("root_path", "") + request.scope["path"]
        if ".json" not in path:
            return path
        return "/".join(seg[: -len(".json")] if seg.endswith(".json") else seg for seg in path.split("/"))

    @staticmethod
    def first_params(request: Request) -> dict[str, str]:
        """Query parameters as Jersey's `getFirst` sees them (the first of repeated names)."""
        out: dict[str, str] = {}
        for k, v in request.query_params.multi_items():
            out.setdefault(k, v)
        return out

    def _authenticate(self, request: Request, route: str) -> Response | None:
        """SecurityFilter: Basic credentials (SID or e-mail; token or plaintext password)."""
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        user = password = None
        if scheme.lower() == "basic" and encoded.strip():
            try:
                decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            if ":" in decoded:
                user, _, password = decoded.partition(":")
        known = user in (self.account_email, self.account_sid)
        ok = known and password is not None and (
            password == self.auth_token or hashlib.md5(password.encode()).hexdigest() == self.auth_token)
        if ok and (rule := self.emu.faults.peek(self.kind, route, "expire_token_after")):
            seen = self._auth_seen.get(id(rule), 0) + 1
            self._auth_seen[id(rule)] = seen
            ok = seen <= int(rule.number(default=0))
        if not ok:
            return self.error_response(401, "not authenticated")
        inactive = self.account_status not in ("active", "uninitialized")
        if inactive or self.take(route, "account_inactive"):
            return Response(b"Provided Account is not active", 403, media_type="text/plain")
        return None

    def _operated_account(self, request: Request) -> None:
        """accountsDao.getAccount(path value) by friendly name, e-mail or SID; an unknown one
        makes PermissionEvaluator.checkOrganization dereference null (a 500)."""
        name = request.path_params["account"]
        if name not in (self.account_sid, self.account_email, self.account_friendly_name):
            raise _Problem(container_error_page(500, "java.lang.NullPointerException"))

    def _check_sid(self, raw: str) -> None:
        """`new Sid(raw)`: a malformed SID is an uncaught IllegalArgumentException (500)."""
        if not (CALL_SID_RE.fullmatch(raw) or SID_RE.fullmatch(raw)):
            raise _Problem(container_error_page(
                500, f"java.lang.IllegalArgumentException: {raw} is an INVALID_SID sid value."))

    def _api_redirect(self, request: Request, route: str) -> Response | None:
        if not (rule := self.take(route, "redirect")):
            return None
        target = rule.value or f"{self.emu.media_url}{SINK_ROOT}{request.url.path}"
        if not rule.value and request.url.query:
            target += "?" + request.url.query
        return _empty(int(rule.number("status", 302)), {"Location": target})

    def _guard(self, request: Request, route: str) -> Response | None:
        return self._authenticate(request, route) or self._api_redirect(request, route)

    def _json(self, body: Any, status: int = 200) -> Response:
        return Response(gson_dumps(body), status, media_type="application/json")

    def _file_uri_mode(self, route: str) -> str | None:
        rule = self.take(route, "file_uri")
        if rule is None:
            return None
        return rule.value if rule.value in ("relative", "legacy") else "relative"

    # -- the list ----------------------------------------------------------------------------
    def _parse_sort(self, raw: str | None, json_mode: bool) -> tuple[str | None, bool]:
        """Sorting.parseUrl plus the endpoint's field matching (case-sensitive field names)."""
        if not raw:
            return None, True
        field, sep, direction = raw.partition(":")
        message = None
        if sep and not field:
            message = "Error parsing the SortBy parameter: missing field to sort by"
        elif sep and direction.upper() not in ("ASC", "DESC"):
            message = "Error parsing the SortBy parameter: sort direction needs to be either ASC or DESC"
        if message is not None:
            if json_mode:
                body = ('{"message":"' + message + '"}').encode()
                raise _Problem(Response(body, 400, media_type="application/json"))
            body = f"<RestcommResponse><Message>{message}</Message></RestcommResponse>".encode()
            raise _Problem(Response(body, 400, media_type="application/xml"))
        if field not in SORT_FIELDS:
            return None, True                     # an unknown field is ignored: default order
        return field, (direction.upper() == "DESC") if sep else False

    def _selection(self, q: _Query) -> _Selection:
        key = (q.start, q.end, q.call_sid, q.sort, q.descending, self._version)
        if (hit := self._selections.get(key)) is not None:
            self._selections.move_to_end(key)
            return hit
        end = q.end + timedelta(days=1, microseconds=1) if q.end is not None else None  # <= end + 1 day
        rng = self.data.index_range(q.start, end)
        lo, hi = rng.start, rng.stop
        if q.call_sid is None and q.sort in (None, "DateCreated"):
            ascending = q.sort == "DateCreated" and not q.descending
            sel: _Selection = _DateSelection(lo, hi, self._deleted, ascending)
        else:
            sel = _ListSelection(self._materialise(lo, hi, q))
        self._selections[key] = sel
        while len(self._selections) > 16:
            self._selections.popitem(last=False)
        return sel

    def _materialise(self, lo: int, hi: int, q: _Query) -> list[int]:
        dead = self._deleted_set
        if q.call_sid is None:
            indices = [i for i in range(lo, hi) if i not in dead]
        elif not re.search(r"[%_\\]", q.call_sid):
            indices = [i for i in self._calls().get(q.call_sid, []) if lo <= i < hi and i not in dead]
        else:
            self._calls()
            rx = like_to_regex(q.call_sid)
            indices = [i for i in range(lo, hi)
                       if i not in dead and (c := self.call_sid(i)) is not None and rx.fullmatch(c)]
        indices.sort()                                       # date_created DESC = index order
        if q.sort == "DateCreated":
            if not q.descending:
                indices.reverse()
        elif q.sort == "Duration":                           # ties: date_created DESC
            indices.sort(key=self._duration_of, reverse=q.descending)
        elif q.sort == "CallSid":                            # NULL first ascending, last descending
            self._calls()
            def call_key(i: int) -> tuple[bool, str]:
                c = self.call_sid(i)
                return (c is not None, c or "")
            indices.sort(key=call_key, reverse=q.descending)
        # sort() is stable even with reverse=True, so ties stay newest first (date_created DESC).
        return indices

    async def list_recordings(self, request: Request) -> Response:
        if len(self.data):
            await self._warm_up(request)
        try:
            return self._list(request)
        except _Problem as problem:
            return problem.response

    def _list(self, request: Request) -> Response:
        route = "list"
        if (denied := self._guard(request, route)) is not None:
            return denied
        self._operated_account(request)
        json_mode = self.wants_json(request)
        params = self.first_params(request)
        sort, descending = self._parse_sort(params.get("SortBy"), json_mode)
        raw_size, raw_page = params.get("PageSize", "50"), params.get("Page", "0")
        limit, page = java_parse_int(raw_size), java_parse_int(raw_page)
        if limit is None or page is None:
            bad = raw_size if limit is None else raw_page
            raise _Problem(container_error_page(
                500, f'java.lang.NumberFormatException: For input string: "{bad}"'))
        start = end = None
        if "StartTime" in params and (start := parse_day(params["StartTime"], self.server_tz)) is None:
            return _empty(400)
        if "EndTime" in params and (end := parse_day(params["EndTime"], self.server_tz)) is None:
            return _empty(400)
        q = _Query(start, end, params.get("CallSid"), sort, descending)
        sel = self._selection(q)
        total = sel.total
        if limit == 0:
            raise _Problem(container_error_page(500, "java.lang.ArithmeticException: / by zero"))
        if page > java_div(total, limit):
            return _empty(400)
        if page < 0 or limit < 0:                 # a negative LIMIT/OFFSET reaches the database
            raise _Problem(container_error_page(
                500, "org.apache.ibatis.exceptions.PersistenceException: negative LIMIT or OFFSET"))
        indices = sel.page(page * limit, limit)

        file_mode = self._file_uri_mode(route)
        suffixes = self._hostile_suffixes(route, len(indices))
        items = [self.recording(i, file_uri=file_mode, sid_suffix=s) for i, s in zip(indices, suffixes, strict=True)]
        if not json_mode:
            return Response(self._xml_list(items), 200, media_type="application/xml")

        last = total // limit
        uri = self.request_path(request)
        if page == last:
            end_index = page * limit + len(items)
            next_uri = "null"
        else:
            end_index = limit - 1 + page * limit
            next_page = page if self.take(route, "cursor_repeat") else page + 1
            next_uri = f"{uri}?Page={next_page}&PageSize={limit}&AfterSid={items[limit - 1]['sid']}"
        if page == last and self.take(route, "cursor_cycle"):
            after = items[-1]["sid"] if items else "null"
            next_uri = f"{uri}?Page=0&PageSize={limit}&AfterSid={after}"
        wanted = self.emu.faults.peek(self.kind, route, "empty_page")
        if wanted and (wanted.value is None or wanted.number() == page) and self.take(route, "empty_page"):
            items = []
        if (rule := self.take(route, "schema_drift")):
            items = self._drift(items, rule.value or "mix")
        body = {
            "page": page,
            "num_pages": last,
            "page_size": limit,
            "total": total,
            "start": str(page * limit),
            "end": str(end_index),
            "uri": uri,
            "first_page_uri": f"{uri}?Page=0&PageSize={limit}",
            "previous_page_uri": "null" if page == 0 else f"{uri}?Page={page - 1}&PageSize={limit}",
            "next_page_uri": next_uri,
            "last_page_uri": f"{uri}?Page={last}&PageSize={limit}",
            "recordings": items,
        }
        if (rule := self.take(route, "gzip_bomb")):
            return self._gzip_bomb(rule)
        return self._json(body)

    def _hostile_suffixes(self, route: str, n: int) -> list[str]:
        if self.take(route, "hostile_ids"):
            return [HOSTILE_ID_SUFFIXES[k % len(HOSTILE_ID_SUFFIXES)] for k in range(n)]
        return [""] * n

    @staticmethod
    def _drift(items: list[dict[str, Any]], mode: str) -> list[dict[str, Any]]:
        """Broken items: the shapes a client must survive without crashing."""
        out = [dict(item) for item in items]
        mutations: list[Callable[[dict[str, Any]], None]] = []
        if mode in ("mix", "no_id"):
            mutations.append(lambda it: it.pop("sid", None))
        if mode in ("mix", "null"):
            mutations.append(lambda it: it.update(date_created=None, duration=None, file_uri=None))
        if mode in ("mix", "bad"):
            mutations.append(lambda it: it.update(duration=float(it.get("duration") or 0),
                                                  date_updated="2024-05-14T09:31:02Z"))
            mutations.append(lambda it: it.update(date_created="not a date", duration="n/a"))
        if mode in ("mix", "unknown"):
            mutations.append(lambda it: it.update(recording_status="completed", limit=10000))
        for k, item in enumerate(out):
            if mutations:
                mutations[k % len(mutations)](item)
        return out

    @staticmethod
    def _gzip_bomb(rule: FaultRule) -> Response:
        data = gzip_bomb_bytes(rule.number(default=50.0))
        return Response(data, 200, media_type="application/json", headers={"Content-Encoding": "gzip"})

    # -- one recording -----------------------------------------------------------------------
    async def get_recording(self, request: Request) -> Response:
        route = "get"
        try:
            if (denied := self._guard(request, route)) is not None:
                return denied
            self._operated_account(request)
            sid = request.path_params["sid"]
            self._check_sid(sid)
            index = self.index_of(sid)
            if index is None:
                return _empty(404)
            suffix = self._hostile_suffixes(route, 1)[0]
            item = self.recording(index, file_uri=self._file_uri_mode(route), sid_suffix=suffix)
            if (rule := self.take(route, "schema_drift")):
                item = self._drift([item], rule.value or "mix")[0]
            if self.wants_json(request):
                return self._json(item)
            xml = f"<RestcommResponse>\n{self.recording_xml(item, '  ')}\n</RestcommResponse>"
            return Response(xml.encode(), 200, media_type="application/xml")
        except _Problem as problem:
            return problem.response

    async def delete_recording(self, request: Request) -> Response:
        route = "delete"
        try:
            if (denied := self._guard(request, route)) is not None:
                return denied
            self._operated_account(request)
            sid = request.path_params["sid"]
            self._check_sid(sid)
            index = self.index_of(sid)
            if index is None:
                return _empty(404)
            self.delete_index(index)
            if self.take(route, "delete_apply_then_fail"):
                return container_error_page(500, "java.net.SocketTimeoutException: Read timed out")
            return _empty(200)
        except _Problem as problem:
            return problem.response

    async def not_allowed(self, request: Request) -> Response:
        """No update endpoint (and no DELETE on the list): Jersey's 405, after authentication."""
        if (denied := self._authenticate(request, "update")) is not None:
            return denied
        allow = "DELETE,GET,OPTIONS,HEAD" if "sid" in request.path_params else "GET,OPTIONS,HEAD"
        return _empty(405, {"Allow": allow})

    async def call_recordings(self, request: Request) -> Response:
        """The deprecated per-call list: a bare array, every recording of the call, no paging."""
        route = "call_recordings"
        try:
            if (denied := self._guard(request, route)) is not None:
                return denied
            self._operated_account(request)
            call = request.path_params["call"]
            self._check_sid(call)
            indices = sorted(i for i in self._calls().get(call, []) if i not in self._deleted_set)
            mode = self._file_uri_mode(route)
            items = [self.recording(i, file_uri=mode) for i in indices]
            if self.wants_json(request):
                return self._json(items)
            return Response(self._xml_list(items), 200, media_type="application/xml")
        except _Problem as problem:
            return problem.response

    # -- files -------------------------------------------------------------------------------
    def _presigned(self, sid: str, expires: int) -> str:
        key = f"{S3_FOLDER}/{sid}.wav"
        now = datetime.fromtimestamp(int(self.emu.clock()), UTC)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        credential = f"{self._s3_access_key}/{now:%Y%m%d}/us-east-1/s3/aws4_request"
        signature = hmac.new(self._s3_secret, f"{key}\n{amz_date}\n{expires}".encode(), hashlib.sha256).hexdigest()
        return (f"{self.emu.media_url}/{S3_BUCKET}/{key}?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                f"&X-Amz-Credential={quote(credential, safe='')}&X-Amz-Date={amz_date}"
                f"&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}")

    async def _serve(self, route: str, index: int, request: Request, *, ranges: bool,
                     content_type: str) -> Response:
        """The recording's WAV. `ranges=False` is Jersey writing a File entity: Range and
        conditional headers are ignored and no validators or Accept-Ranges are sent."""
        if not ranges:
            headers = [(k, v) for k, v in request.scope["headers"] if k.lower() not in _JERSEY_IGNORES]
            request = Request({**request.scope, "headers": headers}, request.receive)
        response = await self.media_response(route, self.data.fact(index), "wav", request,
                                              headers={"Content-Type": content_type})
        if response.headers.get("content-type", "").startswith("audio/"):
            response.headers["content-type"] = content_type
        if ranges:
            return response
        for name in ("accept-ranges", "etag", "last-modified"):
            if name in response.headers:
                del response.headers[name]
        return _WholeFile(response)

    async def recording_file(self, request: Request) -> Response:
        """`…/Recordings/{sid}.wav|.mp4`: unauthenticated; the stored extension decides."""
        route = "media"
        try:
            sid = request.path_params["sid"]
            self._check_sid(sid)
            index = self.index_of(sid)
            if index is None:
                return _empty(404)
            if (rule := self.take(route, "redirect")):
                return _empty(307, {"Location": self._presigned(sid, int(rule.number("expires", 600)))})
            return await self._serve(route, index, request, ranges=False, content_type=WAV_TYPE)
        except _Problem as problem:
            return problem.response

    async def legacy_file(self, request: Request) -> Response:
        """`/restcomm/recordings/{sid}.wav`: the recordings directory as static content."""
        route = "legacy_media"
        name = request.path_params["name"]
        sid = name[: -len(".wav")] if name.endswith(".wav") else None
        index = self.index_of(sid) if sid else None
        if sid is None or index is None:
            return container_error_page(404, f"{LEGACY_ROOT}/{name}")
        if (rule := self.take(route, "redirect")):
            return _empty(307, {"Location": self._presigned(sid, int(rule.number("expires", 600)))})
        return await self._serve(route, index, request, ranges=True, content_type=WAV_TYPE)

    async def s3_object(self, request: Request) -> Response:
        """The presigned S3 link (media origin): checks signature and expiry, no other auth."""
        route = "s3"
        folder, name = request.path_params["folder"], request.path_params["name"]
        key = f"{folder}/{name}"
        params = self.first_params(request)
        amz_date, expires_raw = params.get("X-Amz-Date", ""), params.get("X-Amz-Expires", "")
        expected = hmac.new(self._s3_secret, f"{key}\n{amz_date}\n{expires_raw}".encode(),
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, params.get("X-Amz-Signature", "")):
            return self._s3_error(403, "SignatureDoesNotMatch",
                                  "The request signature we calculated does not match the signature you provided.")
        try:
            signed = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            expires = int(expires_raw)
        except ValueError:
            return self._s3_error(403, "AccessDenied", "Invalid date or expiry")
        expiry = signed + timedelta(seconds=expires)
        if self.take(route, "link_expired") or self.emu.now() > expiry:
            extra = (f"<X-Amz-Expires>{expires}</X-Amz-Expires><Expires>{expiry:%Y-%m-%dT%H:%M:%SZ}</Expires>"
                     f"<ServerTime>{self.emu.now():%Y-%m-%dT%H:%M:%SZ}</ServerTime>")
            return self._s3_error(403, "AccessDenied", "Request has expired", extra)
        sid = name[: -len(".wav")] if name.endswith(".wav") else ""
        index = self.index_of(sid) if folder == S3_FOLDER else None
        if index is None:
            return self._s3_error(404, "NoSuchKey", "The specified key does not exist.", f"<Key>{_xml_text(key)}</Key>")
        # The object was uploaded with MimetypesFileTypeMap's type for .wav: octet-stream.
        return await self._serve(route, index, request, ranges=True, content_type="application/octet-stream")

    def _s3_error(self, status: int, code: str, message: str, extra: str = "") -> Response:
        request_id = _hex(f"{self.emu.clock()}:{code}", 16).upper()
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
                f"{extra}<RequestId>{request_id}</RequestId><HostId>{_hex(request_id)}</HostId></Error>")
        return Response(body.encode(), status, media_type="application/xml")

    async def sink(self, request: Request) -> Response:
        """The foreign origin the API `redirect` knob points at: it only records the request."""
        return _empty(404)

    async def unmatched(self, request: Request) -> Response:
        """Anything else under the web app: Jersey (auth first, then an empty 404) inside the
        API root, Tomcat's 404 page outside it."""
        path = request.url.path
        if not path.startswith(API_ROOT + "/"):
            return container_error_page(404, path)
        unprotected = re.fullmatch(r".*Accounts/.*/Recordings/RE.*\.(wav|mp4)", path)
        if not unprotected and (denied := self._authenticate(request, "unmatched")) is not None:
            return denied
        return _empty(404)
