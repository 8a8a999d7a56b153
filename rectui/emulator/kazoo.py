"""2600Hz Kazoo (Crossbar) call-recordings API, emulated.

Serves `/v2/api_auth`, `/v2/user_auth` and the recordings resource as Crossbar does (module
`cb_recordings` with `crossbar_view`, `crossbar_doc`, `api_util` and `cb_context` of the 2600hz/kazoo
source): the response envelope, opaque `start_key`/`next_start_key` cursors (URL-safe base64 of an
Erlang term, as `api_util:encode_start_key/1` makes them), `page_size` = items in this page,
`created_from`/`created_to` in Gregorian seconds with the 31 days + 1 hour maximum range and its
400, one URL for the metadata and the audio (chosen by `Accept` or `?accept=`), soft delete, the
commercial release's `user_metadata` PATCH (or 405 like open source, knob `tags_405`), the token
bucket's 429 without `Retry-After` (knob `rate_limit=N`), and Crossbar's unstable error codes
(`bad_identifier` / `bad identifier`, `invalid_credentials` / `invalid credentials`).

Recording `i` of the dataset becomes one document. Its creation time (`pvt_created`, the view key
and what `created_from`/`created_to` select on) is the dataset's start time; the document's `start`
is, as media_mgr writes it, the creation time minus the duration.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from rectui.emulator.app import Emulator, ProviderEmulator
from rectui.emulator.dataset import FIRST, LAST, Dataset, Fact
from rectui.emulator.faults import register_knobs

# Fault knobs this provider answers to (besides the generic ones the route wrapper applies):
#   tags_405             PATCH answers 405 invalid_method, as the open-source release does
#   rate_limit=N         a token bucket of N requests per second (burst N); empty -> 429 too_many_requests
#                        without Retry-After; `tokens.remaining` shows the bucket
#   no_attachment        the audio download answers 404 bad_identifier (data.details) as for a recording
#                        kept only on external storage; the metadata GET still answers 200
#   expire_token_after=N a token stops working after N requests (401 "invalid credentials", data {})
#   empty_page           a listing page answers data [] / page_size 0 but keeps its next_start_key
#   cursor_repeat        next_start_key repeats the cursor this page was asked with
#   cursor_cycle         the last page's next_start_key points back at the first page
#   schema_drift[=types|unknown_field|missing_id|all]   wrong types, an unknown field, an item without id
#   delete_apply_then_fail[=status]   DELETE deletes, then answers 500 (or the given status)
register_knobs("tags_405", "rate_limit", "no_attachment", "expire_token_after", "empty_page",
               "cursor_repeat", "cursor_cycle", "schema_drift", "delete_apply_then_fail")

GREGORIAN_OFFSET = 62_167_219_200          # Gregorian seconds = Unix seconds + this
MAX_RANGE = 31 * 86_400 + 3_600            # crossbar.maximum_range default: 2,682,000 s
DEFAULT_PAGE_SIZE = 50                     # crossbar.pagination_page_size default
TOKEN_TTL = 3_600                          # crossbar.auth token_auth_expiry_s default
BUCKET_TOKENS = 100                        # kz_buckets default bucket size (shown in `tokens`)
NON_PAGINATED_MAX = 2_000                  # rows a paginate=false request may return before 416
VERSION = "4.3.142"
NUM_USERS = 8

DEMO_USERNAME = "admin"
DEMO_PASSWORD = "rectui-demo-password"
DEMO_ACCOUNT_NAME = "Rectui Demo"
DEMO_REALM = "rectui-demo.sip.example.com"
DEMO_NUMBER = "+15555550100"
EXTERNAL_STORAGE = "https://storage.example.com/kazoo-recordings"

_HEX32 = re.compile(r"[0-9a-f]{32}")
_REC_ID = re.compile(r"(\d{4})(\d{2})-([0-9a-f]{32})")
_JSON_TYPES = {("application", "json"), ("application", "x-json"), ("*", "*")}
_AUDIO_TYPES = {("audio", "mpeg"), ("audio", "mp3")}

# Error `message` codes Crossbar gives per status (cb_context:add_system_error/2).
_STATUS_CODES = {
    400: "validation error", 401: "invalid_credentials", 402: "no_credit", 403: "forbidden",
    404: "bad_identifier", 405: "invalid_method", 409: "datastore_conflict", 416: "range not satisfiable",
    429: "too_many_requests", 500: "unspecified_fault", 501: "not_implemented", 502: "bad_gateway",
    503: "datastore_unreachable", 504: "timeout",
}


# --- Erlang external term format: the opaque paging cursors ------------------------------------

class _Atom(str):
    """An Erlang atom that is not true/false/null/undefined (kept apart from binaries)."""


def _etf_encode(term: Any) -> bytes:
    if isinstance(term, bool):
        name = b"true" if term else b"false"
        return b"w" + bytes([len(name)]) + name                       # SMALL_ATOM_UTF8_EXT
    if term is None:
        return b"w\x04null"
    if isinstance(term, int):
        if 0 <= term <= 255:
            return b"a" + bytes([term])                                # SMALL_INTEGER_EXT
        if -(2 ** 31) <= term < 2 ** 31:
            return b"b" + struct.pack(">i", term)                      # INTEGER_EXT
        digits = abs(term).to_bytes((abs(term).bit_length() + 7) // 8, "little")
        return b"n" + bytes([len(digits), 1 if term < 0 else 0]) + digits   # SMALL_BIG_EXT
    if isinstance(term, str):
        raw = term.encode("utf-8", "surrogatepass")
        return b"m" + struct.pack(">I", len(raw)) + raw                # BINARY_EXT
    if isinstance(term, list):
        if not term:
            return b"j"                                                # NIL_EXT
        return b"l" + struct.pack(">I", len(term)) + b"".join(_etf_encode(t) for t in term) + b"j"
    if isinstance(term, dict):                                         # kz_json object {[{K, V}]}
        props = [(k, v) for k, v in term.items()]
        inner = b"".join(b"h\x02" + _etf_encode(k) + _etf_encode(v) for k, v in props)
        plist = (b"l" + struct.pack(">I", len(props)) + inner + b"j") if props else b"j"
        return b"h\x01" + plist
    raise TypeError(f"cannot encode {type(term).__name__} as an Erlang term")


def encode_start_key(term: Any) -> str:
    """`kz_base64url:encode(term_to_binary(Term))`: URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(b"\x83" + _etf_encode(term)).rstrip(b"=").decode("ascii")


def _etf_decode(buf: bytes, pos: int) -> tuple[Any, int]:
    tag = buf[pos]
    pos += 1
    if tag == 97:
        return buf[pos], pos + 1
    if tag == 98:
        return struct.unpack(">i", buf[pos:pos + 4])[0], pos + 4
    if tag in (110, 111):
        if tag == 110:
            n, sign = buf[pos], buf[pos + 1]
            pos += 2
        else:
            n, sign = struct.unpack(">I", buf[pos:pos + 4])[0], buf[pos + 4]
            pos += 5
        if pos + n > len(buf):
            raise ValueError("truncated big integer")
        value = int.from_bytes(buf[pos:pos + n], "little")
        return (-value if sign else value), pos + n
    if tag == 109:
        n = struct.unpack(">I", buf[pos:pos + 4])[0]
        pos += 4
        if pos + n > len(buf):
            raise ValueError("truncated binary")
        return buf[pos:pos + n].decode("utf-8"), pos + n
    if tag == 106:
        return [], pos
    if tag == 107:                                                     # STRING_EXT: list of bytes
        n = struct.unpack(">H", buf[pos:pos + 2])[0]
        return list(buf[pos + 2:pos + 2 + n]), pos + 2 + n
    if tag == 108:
        n = struct.unpack(">I", buf[pos:pos + 4])[0]
        pos += 4
        items = []
        for _ in range(n):
            item, pos = _etf_decode(buf, pos)
            items.append(item)
        tail, pos = _etf_decode(buf, pos)
        if tail != []:
            raise ValueError("improper list")
        return items, pos
    if tag in (104, 105):
        if tag == 104:
            n = buf[pos]
            pos += 1
        else:
            n = struct.unpack(">I", buf[pos:pos + 4])[0]
            pos += 4
        elems = []
        for _ in range(n):
            elem, pos = _etf_decode(buf, pos)
            elems.append(elem)
        if n == 1 and isinstance(elems[0], list):                      # kz_json object
            return {str(p[0]): p[1] for p in elems[0] if isinstance(p, tuple) and len(p) == 2}, pos
        return tuple(elems), pos
    if tag in (100, 115, 118, 119):                                    # atoms
        if tag in (100, 118):
            n = struct.unpack(">H", buf[pos:pos + 2])[0]
            pos += 2
        else:
            n = buf[pos]
            pos += 1
        name = buf[pos:pos + n].decode("utf-8")
        pos += n
        return {"true": True, "false": False, "null": None, "undefined": None}.get(name, _Atom(name)), pos
    raise ValueError(f"unsupported term tag {tag}")


def decode_start_key(encoded: str) -> Any:
    """`api_util:decode_start_key/1`: the decoded term, or the string itself when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        if not raw or raw[0] != 131:
            return encoded
        term, end = _etf_decode(raw, 1)
        return encoded if end != len(raw) else term
    except (ValueError, IndexError, struct.error, binascii.Error, UnicodeDecodeError):
        return encoded


def _rank(v: Any) -> int:
    if v is None:
        return 0
    if v is False:
        return 1
    if v is True:
        return 2
    if isinstance(v, int | float):
        return 3
    if isinstance(v, str):
        return 4
    if isinstance(v, list):
        return 5
    return 6


def collate(a: Any, b: Any) -> int:
    """CouchDB view collation (null < false < true < numbers < strings < arrays < objects)."""
    ra, rb = _rank(a), _rank(b)
    if ra != rb:
        return -1 if ra < rb else 1
    if ra in (3, 4):
        return (a > b) - (a < b)
    if ra == 5:
        for x, y in zip(a, b, strict=False):
            if c := collate(x, y):
                return c
        return (len(a) > len(b)) - (len(a) < len(b))
    return 0


# --- helpers -----------------------------------------------------------------------------------

def _h(*parts: object, n: int = 32) -> str:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()[:n]


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _normalize_name(name: str) -> str:
    """kzd_accounts:normalize_name/1: lower case, letters and digits only."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _is_false(value: str | None) -> bool:
    return value is not None and value.strip().lower() == "false"


def _is_true(value: str | None) -> bool:
    return value is not None and value.strip().lower() == "true"


def _to_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Crossbar PATCH merge: objects merge recursively, null removes the key."""
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _media_values(header: str) -> list[tuple[str, str]]:
    """Accept values, highest weight first (stable), as (type, subtype)."""
    values: list[tuple[float, int, tuple[str, str]]] = []
    for n, part in enumerate(header.split(",")):
        fields = [f.strip() for f in part.split(";")]
        if "/" not in fields[0]:
            continue
        typ, _, sub = fields[0].lower().partition("/")
        q = 1.0
        for f in fields[1:]:
            name, _, val = f.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(val)
                except ValueError:
                    q = 0.0
        values.append((-q, n, (typ.strip(), sub.strip())))
    return [v for _, _, v in sorted(values)]


@dataclass(frozen=True)
class KazooUser:
    user_id: str
    first_name: str
    last_name: str
    extension: str
    endpoint_id: str

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass
class _Ctx:
    """What one request carries into its response envelope."""

    request_id: str
    auth_token: str = ""
    authenticated: bool = False
    remaining: int = BUCKET_TOKENS - 1
    account_id: str | None = None
    owner_id: str | None = None


class _Bucket:
    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.last = now

    def consume(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class _Reply(Exception):
    """Raised inside a handler to answer with this response at once."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class KazooEmulator(ProviderEmulator):
    kind = "kazoo"

    def __init__(self, emu: Emulator, dataset: Dataset) -> None:
        super().__init__(emu, dataset)
        seed = dataset.seed
        self.account_id = _h(seed, "kazoo", "account")
        self.api_key = hashlib.sha256(f"{seed}:kazoo:api_key".encode()).hexdigest()    # 64 hex
        self.node = _b64url(hashlib.md5(f"{seed}:kazoo:node".encode()).digest())
        self._secret = hashlib.sha256(f"{seed}:kazoo:jwt-secret".encode()).digest()
        self._mask = int(_h(seed, "kazoo", "id-mask", n=8), 16)
        self.users = [self._make_user(seed, k) for k in range(NUM_USERS)]
        self._user_index = {u.user_id: k for k, u in enumerate(self.users)}
        # Mutable state
        self.deleted: dict[int, str] = {}                   # index -> "soft" | "hard"
        self.user_metadata: dict[int, dict[str, Any] | None] = {}   # index -> patched user_metadata
        self.revisions: dict[int, int] = {}                 # index -> revision number
        self.token_uses: dict[str, int] = {}
        self.revoked_tokens: set[str] = set()
        self._bucket: _Bucket | None = None
        self._requests = 0

    # -- identities -----------------------------------------------------------------------------
    @staticmethod
    def _make_user(seed: int, k: int) -> KazooUser:
        h = int(_h(seed, "kazoo", "user-name", k, n=8), 16)
        first = FIRST[h % len(FIRST)]
        last = LAST[(h // len(FIRST)) % len(LAST)]
        if k == 0:
            first, last = "Account", "Admin"
        return KazooUser(_h(seed, "kazoo", "user", k), first, last, str(1001 + k),
                         _h(seed, "kazoo", "device", k))

    def credentials(self) -> dict[str, str]:
        return {"account_id": self.account_id, "api_key": self.api_key, "username": DEMO_USERNAME,
                "password": DEMO_PASSWORD, "account_name": DEMO_ACCOUNT_NAME, "account_realm": DEMO_REALM}

    def config_entry(self) -> dict[str, object]:
        return {"kind": self.kind, "base_url": self.emu.api_url + "/v2", "account_id": self.account_id,
                "api_key": self.api_key}

    def user_credentials_hash(self, method: str = "md5") -> str:
        """The `credentials` value of user_auth for the demo user (username lower-cased first)."""
        text = f"{DEMO_USERNAME.lower()}:{DEMO_PASSWORD}".encode()
        return hashlib.sha1(text).hexdigest() if method == "sha" else hashlib.md5(text).hexdigest()

    # -- routes ---------------------------------------------------------------------------------
    def api_routes(self) -> list[BaseRoute]:
        rec = "/v2/accounts/{account_id}/recordings/{recording_id}"
        get_json = self.emu.wrap(self, "get", self._get_json, "api")
        get_media = self.emu.wrap(self, "media", self._get_media, "api")

        async def get_dispatch(request: Request) -> Response:
            return await (get_media if self._wants_audio(request) else get_json)(request)

        other = ["POST", "PUT", "PATCH", "DELETE"]
        return [
            self.route("/v2/api_auth", self._api_auth, "api_auth", methods=["PUT"]),
            self.route("/v2/api_auth", self._not_allowed, "other", methods=["GET", "POST", "PATCH", "DELETE"]),
            self.route("/v2/user_auth", self._user_auth, "user_auth", methods=["PUT"]),
            self.route("/v2/user_auth", self._not_allowed, "other", methods=["GET", "POST", "PATCH", "DELETE"]),
            self.route("/v2/accounts/{account_id}/recordings", self._list, "list"),
            self.route("/v2/accounts/{account_id}/recordings", self._not_allowed, "other", methods=other),
            self.route("/v2/accounts/{account_id}/users/{user_id}/recordings", self._list_user, "list_user"),
            self.route("/v2/accounts/{account_id}/users/{user_id}/recordings", self._not_allowed, "other",
                       methods=other),
            Route(rec, get_dispatch, methods=["GET"], name="kazoo.get"),
            self.route(rec, self._delete, "delete", methods=["DELETE"]),
            self.route(rec, self._patch, "patch", methods=["PATCH"]),
            self.route(rec, self._not_allowed, "other", methods=["POST", "PUT"]),
        ]

    # -- envelopes ------------------------------------------------------------------------------
    def _new_ctx(self, request: Request | None) -> _Ctx:
        self._requests += 1
        given = request.headers.get("x-request-id") if request is not None else None
        return _Ctx(request_id=given or _h(self.data.seed, "kazoo", "request", self._requests))

    def _base(self, ctx: _Ctx) -> dict[str, Any]:
        out: dict[str, Any] = {
            "auth_token": ctx.auth_token,
            "tokens": {"consumed": 1, "remaining": ctx.remaining},
            "request_id": ctx.request_id,
            "node": self.node,
            "timestamp": self.emu.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if ctx.authenticated:
            out["version"] = VERSION
        return out

    def _success(self, ctx: _Ctx, data: Any, *, revision: str | None = None, extra: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> JSONResponse:
        body = {"status": "success", "data": data, **self._base(ctx)}
        if revision is not None:
            body["revision"] = revision
        if extra:
            body.update(extra)
        return JSONResponse(body, 200, headers={"X-Request-ID": ctx.request_id, **(headers or {})})

    def _error(self, ctx: _Ctx, status: int, message: str, data: Any,
               headers: dict[str, str] | None = None) -> JSONResponse:
        body = {"status": "error", "error": str(status), "message": message, "data": data, **self._base(ctx)}
        return JSONResponse(body, status, headers={"X-Request-ID": ctx.request_id, **(headers or {})})

    def error_response(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        ctx = self._new_ctx(None)
        code = _STATUS_CODES.get(status, "unspecified_fault" if status >= 500 else "error")
        return self._error(ctx, status, code, {"message": message}, headers)

    # Crossbar's error shapes
    def _bad_identifier(self, ctx: _Ctx, rec_id: str) -> _Reply:
        return _Reply(self._error(ctx, 404, "bad_identifier", {"message": "bad identifier", "cause": rec_id}))

    def _validation(self, ctx: _Ctx, field: str, code: str, message: str, cause: Any = None) -> _Reply:
        detail: dict[str, Any] = {"message": message}
        if cause is not None:
            detail["cause"] = cause
        return _Reply(self._error(ctx, 400, "validation error", {field: {code: detail}}))

    # -- authentication -------------------------------------------------------------------------
    def _find_token(self, request: Request, body: dict[str, Any] | None) -> tuple[str, str] | None:
        """api_util:get_auth_token/2: X-Auth-Token, then an auth_token value, then Authorization."""
        if (tok := request.headers.get("x-auth-token")) is not None:
            return tok, "x-auth-token"
        value = request.query_params.get("auth_token")
        if value is None and body is not None:
            inner = body.get("data") if isinstance(body.get("data"), dict) else {}
            value = inner.get("auth_token", body.get("auth_token"))
        if isinstance(value, str):
            return value, "x-auth-token"
        authz = request.headers.get("authorization") or request.query_params.get("authorization")
        if authz:
            if authz.startswith("Basic "):
                return authz[6:].strip(), "basic"
            if authz.startswith("Bearer "):
                return authz[7:].strip(), "bearer"
            return authz, "unknown"
        return None

    def _issue_token(self, owner_id: str | None, method: str) -> str:
        now = int(self.emu.clock())
        header = {"alg": "RS256", "typ": "JWT", "kid": _h(self.data.seed, "kazoo", "kid")}
        claims: dict[str, Any] = {"account_id": self.account_id, "method": method, "iss": "kazoo",
                                  "iat": now, "exp": now + TOKEN_TTL, "jti": _h(self.data.seed, "jti", now,
                                                                               self._requests, n=16)}
        if owner_id:
            claims["owner_id"] = owner_id
        signing = _b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + \
            _b64url(json.dumps(claims, separators=(",", ":")).encode())
        # The emulator signs with an HMAC of its own; nobody but the emulator checks the signature.
        sig = _b64url(hmac.new(self._secret, signing.encode(), hashlib.sha256).digest())
        return f"{signing}.{sig}"

    def _token_claims(self, token: str) -> dict[str, Any] | None:
        parts = token.split(".")
        if len(parts) != 3:
            return None
        expected = _b64url(hmac.new(self._secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, parts[2]):
            return None
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        except (ValueError, binascii.Error):
            return None
        return claims if isinstance(claims, dict) else None

    def _rate_limit(self, ctx: _Ctx, route: str) -> None:
        if rule := self.take(route, "rate_limit"):
            rate = max(rule.number(default=10.0), 0.001)
            now = self.emu.clock()
            if self._bucket is None or self._bucket.rate != rate:
                self._bucket = _Bucket(rate, now)
            ok = self._bucket.consume(now)
            ctx.remaining = math.floor(self._bucket.tokens)
            if not ok:
                # cb_context:add_system_error('too_many_requests'); Crossbar sets no Retry-After.
                raise _Reply(self._error(ctx, 429, "too_many_requests", {"message": "too many requests"}))

    def _early_auth(self, ctx: _Ctx, route: str, request: Request, body: dict[str, Any] | None) -> bool:
        """Token check before everything else (api_util:is_early_authentic): a present but bad
        token answers 401 here; returns whether a valid credential was found."""
        found = self._find_token(request, body)
        if found is None:
            return False
        token, kind = found
        ctx.auth_token = token
        if kind == "basic":
            try:
                account, _, creds = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
            except (ValueError, binascii.Error, UnicodeDecodeError):
                return False
            if account == self.account_id and hmac.compare_digest(creds, self.user_credentials_hash("md5")):
                ctx.authenticated, ctx.account_id, ctx.owner_id = True, self.account_id, self.users[0].user_id
                return True
            return False
        if kind == "unknown":
            return False
        claims = self._token_claims(token)
        if claims is None:
            return False    # not a token of ours: crossbar falls through to invalid_credentials
        expired = float(claims.get("exp", 0)) <= self.emu.clock() or token in self.revoked_tokens
        if not expired and (rule := self.take(route, "expire_token_after")):
            uses = self.token_uses.get(token, 0) + 1
            self.token_uses[token] = uses
            if uses > rule.number(default=0):
                self.revoked_tokens.add(token)
                expired = True
        if expired:
            # cb_token_auth -> crossbar_util:response_401/1: message with a space, data {}
            raise _Reply(self._error(ctx, 401, "invalid credentials", {}))
        ctx.authenticated = True
        ctx.account_id = claims.get("account_id")
        ctx.owner_id = claims.get("owner_id")
        return True

    def _require_auth(self, ctx: _Ctx, route: str, ok: bool) -> None:
        if not ok:
            ctx.authenticated = False
            raise _Reply(self._error(ctx, 401, "invalid_credentials", {"message": "invalid credentials"}))
        self._rate_limit(ctx, route)

    def _check_account(self, ctx: _Ctx, account_id: str) -> None:
        if not _HEX32.fullmatch(account_id):
            raise _Reply(self._error(ctx, 404, "bad identifier",
                                     {"message": f"invalid account_id '{account_id}'"}))

    def _authorize_account(self, ctx: _Ctx, account_id: str) -> None:
        if account_id != ctx.account_id:
            raise _Reply(self._error(ctx, 403, "forbidden", {"message": "forbidden"}))

    async def _authed(self, request: Request, route: str, ctx: _Ctx, body: dict[str, Any] | None = None) -> None:
        """Early token check, account id shape, authentication, rate limit, account authorization."""
        ok = self._early_auth(ctx, route, request, body)
        account_id = request.path_params["account_id"]
        self._check_account(ctx, account_id)
        self._require_auth(ctx, route, ok)
        self._authorize_account(ctx, account_id)

    # -- request bodies -------------------------------------------------------------------------
    async def _json_body(self, ctx: _Ctx, request: Request) -> dict[str, Any] | None:
        raw = await request.body()
        if not raw.strip():
            return None
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _Reply(self._error(ctx, 400, "validation error", {"json": {"invalid": {
                "message": f"{exc.__class__.__name__}: {exc}"[:120], "target": "body"}}})) from None
        if not isinstance(body, dict):
            raise _Reply(self._error(ctx, 400, "validation error", {"json": {"invalid": {
                "message": "request body is not a JSON object", "target": "body"}}}))
        return body

    # -- the documents --------------------------------------------------------------------------
    def created(self, index: int) -> int:
        """pvt_created of recording `index`, Gregorian seconds (strictly falling with the index)."""
        return math.floor(self.data.start_of(index).timestamp()) + GREGORIAN_OFFSET

    def _first_created_below(self, g: int) -> int:
        """The first index whose pvt_created < g."""
        return self.data.index_range(None, datetime.fromtimestamp(g - GREGORIAN_OFFSET, UTC)).start

    def _owner_k(self, index: int) -> int:
        digest = hashlib.blake2b(f"{self.data.seed}:kazoo:owner:{index}".encode(), digest_size=4).digest()
        return int.from_bytes(digest, "big") % NUM_USERS

    def _month(self, index: int) -> str:
        return datetime.fromtimestamp(self.created(index) - GREGORIAN_OFFSET, UTC).strftime("%Y%m")

    def recording_id(self, fact: Fact | int) -> str:
        """`YYYYMM-` + 32 hex (the last 8 encode the index, so a lookup costs nothing), for a fact
        of the dataset or its index."""
        index = fact if isinstance(fact, int) else fact.index
        return self._recording_id(index, self._month(index), self._hex(index), None)

    def listed_ids(self, status: str = "available") -> list[str]:
        """Ground truth for tests: every recording a complete listing (window after window, back
        to the oldest) returns right now, newest creation first as the view gives them: soft-deleted
        documents are out of the view. Kazoo has no recycle bin, so `status="deleted"` is []."""
        if status != "available":
            return []
        now_g = int(self.emu.clock()) + GREGORIAN_OFFSET
        return [self.recording_id(i) for i in range(len(self.data))
                if i not in self.deleted and self.created(i) <= now_g]

    def _recording_id(self, index: int, month: str, hx: str, fact: Fact | None) -> str:
        rid = f"{month}-{hx[:24]}{(index ^ self._mask) & 0xFFFFFFFF:08x}"
        if self.data.hostile:
            fact = fact or self.data.fact(index)
            if fact.hostile_id:
                rid += fact.hostile_id
        return rid

    def _rev(self, index: int, rev: int, hx: str | None = None) -> str:
        digest = hashlib.md5(f"{(hx or self._hex(index))[104:]}:{rev}".encode()).hexdigest()
        return f"{rev}-{digest}"

    def index_of(self, rec_id: str) -> int | None:
        m = _REC_ID.fullmatch(rec_id)
        if not m:
            return None
        index = int(m.group(3)[24:], 16) ^ self._mask
        if not 0 <= index < len(self.data) or self.recording_id(index) != rec_id:
            return None
        return index

    @staticmethod
    def is_wav(fact: Fact) -> bool:
        return fact.flag % 10 == 3

    @staticmethod
    def has_attachment(fact: Fact) -> bool:
        return fact.flag % 25 != 11

    def attachment_content_type(self, fact: Fact) -> str:
        """The stored attachment's MIME type (what the download's Content-Type says)."""
        if not self.is_wav(fact):
            return "audio/mpeg"
        return "audio/wav" if fact.flag % 20 == 13 else "audio/x-wav"

    def _hex(self, index: int) -> str:
        """128 hex digits that name recording `index`'s media, call, revision and id."""
        return hashlib.blake2b(f"{self.data.seed}:kazoo:doc:{index}".encode(), digest_size=64).hexdigest()

    def stored_doc(self, index: int) -> dict[str, Any]:
        """The document as stored in the monthly database, private fields included."""
        f = self.data.fact(index)
        hx = self._hex(index)
        created = self.created(index)
        month = datetime.fromtimestamp(created - GREGORIAN_OFFSET, UTC).strftime("%Y%m")
        rec_id = self._recording_id(index, month, hx, f)
        k = self._owner_k(index)
        user = self.users[k]
        duration_ms = max(1000, round(f.duration * 1000))
        seconds = duration_ms // 1000
        ext = "wav" if self.is_wav(f) else "mp3"
        name = f"{hx[32:64]}.{ext}"
        onnet = f.flag % 7 == 0
        if onnet:
            peer = self.users[(k + 1 + f.flag % (NUM_USERS - 1)) % NUM_USERS]
            other_name, other_number = peer.name, peer.extension
        else:
            person = f.caller if f.direction == "inbound" else f.callee
            other_name, other_number = person.name, person.number
        if f.hostile_text is not None:
            other_name = f.hostile_text
        net = "onnet" if onnet else "offnet"
        if f.direction == "inbound":
            caller = (other_number, other_name)
            callee = (user.extension, user.name)
            frm, to = f"{other_number}@{DEMO_REALM}", f"{user.extension}@{DEMO_REALM}"
            origin = f"inbound from {net} to endpoint"
        else:
            caller = (user.extension if onnet else DEMO_NUMBER, user.name)
            callee = (other_number, other_name)
            frm, to = f"{user.extension}@{DEMO_REALM}", f"{other_number}@{DEMO_REALM}"
            origin = f"outbound to {net} from endpoint"
        call_id = f"{hx[64:72]}-{hx[72:76]}-{hx[76:80]}-{hx[80:84]}-{hx[84:96]}"
        attached = self.has_attachment(f)
        rev = self.revisions.get(index, 1)
        doc: dict[str, Any] = {
            "_id": rec_id,
            "_rev": self._rev(index, rev, hx),
            "name": name,
            "description": f"recording {name}",
            "content_type": "audio/x-wav" if ext == "wav" else "audio/mpeg",
            "media_type": ext,
            "media_source": "recorded",
            "source_type": "media_recording",
            "from": frm,
            "to": to,
            "request": to,
            "direction": f.direction,
            "start": created - seconds,
            "duration": seconds,
            "duration_ms": duration_ms,
            "caller_id_number": caller[0],
            "caller_id_name": caller[1],
            "callee_id_number": callee[0],
            "callee_id_name": callee[1],
            "call_id": call_id,
            "endpoint_id": user.endpoint_id,
            "owner_id": user.user_id,
            "url": "" if attached else f"{EXTERNAL_STORAGE}/{self.account_id}/{name}",
            "cdr_id": f"{month}-{call_id}",
            "interaction_id": f"{created - seconds - (f.flag % 40)}-{hx[96:104]}",
            "origin": origin,
            "custom_channel_vars": {"Account-ID": self.account_id, "Owner-ID": user.user_id,
                                    "Authorizing-ID": user.endpoint_id, "Authorizing-Type": "device"},
            "pvt_type": "call_recording",
            "pvt_created": created,
            "pvt_modified": created,
            "pvt_account_id": self.account_id,
            "pvt_account_db": f"account%2F{self.account_id[:2]}%2F{self.account_id[2:4]}%2F"
                              f"{self.account_id[4:]}-{month}",
            "pvt_vsn": "1",
        }
        if attached:
            size = int(f.duration * (16_000 if ext == "mp3" else 2 * f.sample_rate * f.channels))
            doc["_attachments"] = {name: {"content_type": self.attachment_content_type(f), "length": size,
                                          "stub": True}}
        if index in self.user_metadata:
            if (meta := self.user_metadata[index]) is not None:
                doc["user_metadata"] = meta
        elif f.tags:
            doc["user_metadata"] = {"tags": dict.fromkeys(f.tags, 1)}
        return doc

    @staticmethod
    def public(doc: dict[str, Any]) -> dict[str, Any]:
        """crossbar_doc public fields: no `_`/`pvt_` keys, `id` added."""
        out = {"id": doc["_id"]}
        out.update((k, v) for k, v in doc.items() if not k.startswith(("_", "pvt_")))
        return out

    def listing_doc(self, index: int, doc: dict[str, Any] | None = None) -> dict[str, Any]:
        doc = doc or self.stored_doc(index)
        item = self.public(doc)
        item["_read_only"] = {"content_types": sorted({a["content_type"] for a in
                                                       doc.get("_attachments", {}).values()})}
        return item

    def _lookup(self, ctx: _Ctx, rec_id: str) -> int:
        """cb_recordings:load_recording_doc/2: the MODB prefix is checked before any lookup."""
        if len(rec_id) < 7 or rec_id[6] != "-":
            # crossbar_util:response_bad_identifier/2: message with a space, data a JSON array
            raise _Reply(self._error(ctx, 404, "bad identifier", [rec_id]))
        index = self.index_of(rec_id)
        if index is None or index in self.deleted:
            raise self._bad_identifier(ctx, rec_id)
        return index

    # -- auth endpoints -------------------------------------------------------------------------
    async def _api_auth(self, request: Request) -> Response:
        ctx = self._new_ctx(request)
        try:
            body = await self._json_body(ctx, request) or {}
            self._rate_limit(ctx, "api_auth")
            data = body.get("data") if isinstance(body.get("data"), dict) else {}
            key = data.get("api_key")
            if key is None:
                raise self._validation(ctx, "api_key", "required", "Field is required but missing")
            if not isinstance(key, str):
                raise self._validation(ctx, "api_key", "type", "Value is not of type string", key)
            if len(key) < 64:
                raise self._validation(ctx, "api_key", "minLength", "String must be at least 64 characters", key)
            if len(key) > 64:
                raise self._validation(ctx, "api_key", "maxLength", "String must not be more than 64 characters",
                                       key)
            if not hmac.compare_digest(key, self.api_key):
                # cb_api_auth:validate_by_api_key/3 -> crossbar_util:response_bad_identifier/2
                raise _Reply(self._error(ctx, 404, "bad identifier", [key]))
            return self._auth_success(ctx, owner_id=None, method="cb_api_auth")
        except _Reply as reply:
            return reply.response

    async def _user_auth(self, request: Request) -> Response:
        ctx = self._new_ctx(request)
        try:
            body = await self._json_body(ctx, request) or {}
            self._rate_limit(ctx, "user_auth")
            data = body.get("data") if isinstance(body.get("data"), dict) else {}
            creds = data.get("credentials")
            if creds is None:
                raise self._validation(ctx, "credentials", "required", "Field is required but missing")
            if not isinstance(creds, str) or not 1 <= len(creds) <= 64:
                raise self._validation(ctx, "credentials", "type", "Value is not a string of 1 to 64 characters",
                                       creds)
            method = data.get("method", body.get("method", "md5"))
            if method not in ("md5", "sha"):
                raise self._validation(ctx, "method", "enum", "Value not found in enumerated list of values",
                                       method)
            name, realm, number = data.get("account_name"), data.get("account_realm"), data.get("phone_number")
            known = ((isinstance(number, str) and number == DEMO_NUMBER)
                     or (isinstance(realm, str) and realm.lower() == DEMO_REALM)
                     or (isinstance(name, str) and _normalize_name(name) == _normalize_name(DEMO_ACCOUNT_NAME)))
            if not known or not hmac.compare_digest(creds.lower(), self.user_credentials_hash(method)):
                raise _Reply(self._error(ctx, 401, "invalid_credentials", {"message": "invalid credentials"}))
            return self._auth_success(ctx, owner_id=self.users[0].user_id, method="cb_user_auth")
        except _Reply as reply:
            return reply.response

    def _auth_success(self, ctx: _Ctx, owner_id: str | None, method: str) -> Response:
        token = self._issue_token(owner_id, method)
        ctx.auth_token, ctx.authenticated = token, True
        data: dict[str, Any] = {"account_id": self.account_id, "apps": [], "language": "en-us",
                                "account_name": DEMO_ACCOUNT_NAME, "is_reseller": False,
                                "reseller_id": _h(self.data.seed, "kazoo", "reseller"), "is_master_account": False}
        if owner_id:
            data["owner_id"] = owner_id
        return self._success(ctx, data, revision="automatic")

    async def _not_allowed(self, request: Request) -> Response:
        ctx = self._new_ctx(request)
        return self._error(ctx, 405, "invalid_method", {"message": "method not allowed"})

    # -- listings -------------------------------------------------------------------------------
    async def _list(self, request: Request) -> Response:
        return await self._listing(request, "list", None)

    async def _list_user(self, request: Request) -> Response:
        return await self._listing(request, "list_user", request.path_params["user_id"])

    def _key(self, index: int, user: str | None) -> list[Any]:
        key: list[Any] = [self.created(index), self.recording_id(index)]
        return [user, *key] if user is not None else key

    def _rows(self, start_key: Any, end_bound: int, descending: bool, user: str | None) -> Iterator[int]:
        """View rows from `start_key` (inclusive) towards the window's far end, as CouchDB gives
        them: soft-deleted documents and (per user) other owners' documents are not in the view."""
        n = len(self.data)
        lo, hi = 0, n   # keys fall with the index
        if descending:
            while lo < hi:      # first index with key <= start_key
                m = (lo + hi) // 2
                if collate(self._key(m, user), start_key) <= 0:
                    hi = m
                else:
                    lo = m + 1
            indices: range = range(lo, self._first_created_below(end_bound))      # created >= created_from
        else:
            while lo < hi:      # first index with key < start_key
                m = (lo + hi) // 2
                if collate(self._key(m, user), start_key) < 0:
                    hi = m
                else:
                    lo = m + 1
            stop = self._first_created_below(end_bound + 1)                       # created <= created_to
            indices = range(lo - 1, stop - 1, -1)
        want = self._user_index.get(user) if user is not None else None
        for i in indices:
            if i in self.deleted or (want is not None and self._owner_k(i) != want):
                continue
            yield i

    @staticmethod
    def _filters(request: Request) -> list[tuple[str, str]]:
        names = ("filter_", "has_key", "key_missing", "has_value", "value_missing")
        return [(k, v) for k, v in request.query_params.multi_items() if k.startswith(names)]

    @staticmethod
    def _doc_value(doc: dict[str, Any], dotted: str) -> Any:
        value: Any = doc
        for part in dotted.split("."):
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return value

    def _matches(self, doc: dict[str, Any], filters: list[tuple[str, str]]) -> bool:
        """crossbar_filter: all filters must hold (filter_, filter_not_, has_key, key_missing,
        has_value, value_missing); values compare as strings, or membership in a JSON list."""
        def as_binary(v: Any) -> str:
            if v is None:
                return ""
            if isinstance(v, bool):
                return "true" if v else "false"
            if isinstance(v, str):
                return v
            if isinstance(v, int | float):
                return str(v)
            return json.dumps(v, separators=(",", ":"))

        def should(key: str, wanted: str) -> bool:
            have = as_binary(self._doc_value(doc, key))
            if have == wanted:
                return True
            try:
                decoded = json.loads(wanted)
            except ValueError:
                return False
            return have in decoded if isinstance(decoded, list) else decoded == have

        for name, value in filters:
            if name.startswith("filter_not_"):
                ok = not should(name[len("filter_not_"):], value)
            elif name.startswith("filter_"):
                ok = should(name[len("filter_"):], value)
            elif name == "has_key":
                ok = self._doc_value(doc, value) is not None
            elif name == "key_missing":
                ok = self._doc_value(doc, value) is None
            elif name == "has_value":
                ok = self._doc_value(doc, value) not in (None, "", [], {})
            elif name == "value_missing":
                ok = self._doc_value(doc, value) in (None, "", [], {})
            else:
                continue
            if not ok:
                return False
        return True

    async def _listing(self, request: Request, route: str, user_id: str | None) -> Response:
        ctx = self._new_ctx(request)
        try:
            await self._authed(request, route, ctx)
            if user_id is not None and user_id not in self._user_index:
                # cb_users:validate_user_id/2
                raise _Reply(self._error(ctx, 404, "bad_identifier", {"message": "bad identifier",
                                                                       "cause": user_id}))
            return self._page(request, route, ctx, user_id)
        except _Reply as reply:
            return reply.response

    def _page(self, request: Request, route: str, ctx: _Ctx, user: str | None) -> Response:
        q = request.query_params
        paginate = not _is_false(q.get("paginate"))
        page_size: int | None = None
        if paginate:                         # crossbar_view:get_page_size_from_request/1
            raw = q.get("page_size")
            if raw is None:
                page_size = DEFAULT_PAGE_SIZE
            else:
                value = _to_int(raw)
                if value is None:
                    raise _Reply(self._error(ctx, 404, "faulty_request", {"message": "invalid page size"}))
                if value < 1:
                    raise _Reply(self._error(ctx, 404, "faulty_request",
                                             {"message": "page size must be at least 1"}))
                page_size = value
        # crossbar_view:time_range/3 (values that are not positive integers fall back to the default)
        now_g = int(self.emu.clock()) + GREGORIAN_OFFSET
        to = _to_int(q.get("created_to"))
        to = to if to is not None and to > 0 else now_g
        frm = _to_int(q.get("created_from"))
        frm = frm if frm is not None and frm > 0 else to - MAX_RANGE
        if to - frm < 0:
            raise self._validation(ctx, "created_from", "date_range",
                                   f"created_to {to} is prior to created_from {frm}", frm)
        if to - frm > MAX_RANGE:
            raise self._validation(ctx, "created_from", "date_range",
                                   f"created_to {to} is more than {MAX_RANGE} seconds from created_from {frm}", to)
        # crossbar_view:direction/2
        # (kz_json:is_false(<<"ascending">>, QS, 'true'): an absent `ascending` means descending)
        descending = _is_true(q.get("descending")) or q.get("ascending") is None or _is_false(q.get("ascending"))
        prefix = [user] if user is not None else []
        raw_key = q.get("start_key")
        if raw_key is not None:
            start_key = decode_start_key(raw_key)
        else:
            start_key = [*prefix, to, {}] if descending else [*prefix, frm]
        end_bound = frm if descending else to
        filters = self._filters(request)
        rows = self._rows(start_key, end_bound, descending, user)

        if page_size is None:                # paginate=false: everything, no paging keys
            indices = []
            for i in rows:
                indices.append(i)
                if len(indices) > NON_PAGINATED_MAX:
                    raise _Reply(self._error(ctx, 416, "range not satisfiable", {}))
            items = []
            for i in indices:
                doc = self.stored_doc(i)
                if self._matches(doc, filters):
                    items.append(self.listing_doc(i, doc))
            return self._success(ctx, items, revision=self._list_revision(items))

        items, next_index = [], None
        for i in rows:
            if len(items) == page_size:
                next_index = i
                break
            doc = self.stored_doc(i)
            if filters and not self._matches(doc, filters):
                continue
            items.append(self.listing_doc(i, doc))
        next_key = encode_start_key(self._key(next_index, user)) if next_index is not None else None
        this_key = encode_start_key(start_key)
        if self.take(route, "empty_page"):
            items = []
        if self.take(route, "cursor_repeat"):
            next_key = this_key
        if self.take(route, "cursor_cycle") and next_key is None:
            next_key = encode_start_key([*prefix, to, {}] if descending else [*prefix, frm])
        if rule := self.take(route, "schema_drift"):
            items = self._drift(items, rule.value or "all")
        extra: dict[str, Any] = {"start_key": this_key, "page_size": len(items)}
        if next_key is not None:
            extra["next_start_key"] = next_key
        return self._success(ctx, items, revision=self._list_revision(items), extra=extra)

    @staticmethod
    def _list_revision(items: list[dict[str, Any]]) -> str:
        return hashlib.md5(json.dumps([i.get("id") for i in items]).encode()).hexdigest()

    @staticmethod
    def _drift(items: list[dict[str, Any]], mode: str) -> list[dict[str, Any]]:
        """schema_drift: wrong types, nulls, an unknown field and an item without an id."""
        out = [dict(i) for i in items]
        if not out:
            return out
        if mode in ("all", "types"):
            out[0]["duration"] = str(out[0].get("duration"))
            out[0]["start"] = None
            out[0]["caller_id_name"] = 12345
        if mode in ("all", "unknown_field"):
            out[-1]["x_unexpected"] = {"nested": [1, 2, 3]}
        if mode in ("all", "missing_id") and len(out) > 1:
            out[1].pop("id", None)
        return out

    # -- one recording --------------------------------------------------------------------------
    def _wants_audio(self, request: Request) -> bool:
        """cb_recordings:action_lookup/1 on the tunnelled `accept` value or the Accept header."""
        tunneled = request.query_params.get("accept")
        values = _media_values(tunneled) if tunneled else []
        if not values:
            values = _media_values(request.headers.get("accept", ""))
        for value in values:
            if value in _JSON_TYPES:
                return False
            if value in _AUDIO_TYPES:
                return True
        return False

    async def _get_json(self, request: Request) -> Response:
        ctx = self._new_ctx(request)
        try:
            await self._authed(request, "get", ctx)
            index = self._lookup(ctx, request.path_params["recording_id"])
            doc = self.stored_doc(index)
            return self._success(ctx, self.public(doc), revision=doc["_rev"], headers={"ETag": f'"{doc["_rev"]}"'})
        except _Reply as reply:
            return reply.response

    async def _get_media(self, request: Request) -> Response:
        ctx = self._new_ctx(request)
        try:
            await self._authed(request, "media", ctx)
            rec_id = request.path_params["recording_id"]
            index = self._lookup(ctx, rec_id)
            fact = self.data.fact(index)
            if not self.has_attachment(fact) or self.take("media", "no_attachment"):
                # no attachment on the document: cb_context:add_system_error('bad_identifier', details)
                raise _Reply(self._error(ctx, 404, "bad_identifier", {"details": rec_id,
                                                                       "message": "bad identifier"}))
            doc = self.stored_doc(index)
            name = doc["name"]
            disposition = "inline" if _is_true(request.query_params.get("inline")) else "attachment"
            headers = {"Content-Type": self.attachment_content_type(fact),
                       "Content-Disposition": f"{disposition}; filename={name}",
                       "X-Request-ID": ctx.request_id}
            return await self.media_response("media", fact, "wav" if self.is_wav(fact) else "mp3", request,
                                             headers=headers)
        except _Reply as reply:
            return reply.response

    async def _delete(self, request: Request) -> Response:
        ctx = self._new_ctx(request)
        try:
            await self._authed(request, "delete", ctx)
            rec_id = request.path_params["recording_id"]
            index = self._lookup(ctx, rec_id)
            doc = self.stored_doc(index)
            hard = _is_false(request.query_params.get("should_soft_delete"))
            self.deleted[index] = "hard" if hard else "soft"
            self.revisions[index] = self.revisions.get(index, 1) + 1
            if rule := self.take("delete", "delete_apply_then_fail"):
                code = int(rule.number(default=500))
                return self._error(ctx, code, _STATUS_CODES.get(code, "unspecified_fault"),
                                   {"message": "datastore fatal error"})
            data = self.public(doc)
            data["_read_only"] = {"deleted": True}
            rev = self._rev(index, self.revisions[index])
            return self._success(ctx, data, revision=rev)
        except _Reply as reply:
            return reply.response

    async def _patch(self, request: Request) -> Response:
        ctx = self._new_ctx(request)
        try:
            body = await self._json_body(ctx, request)
            ok = self._early_auth(ctx, "patch", request, body)
            if self.take("patch", "tags_405"):
                # open-source cb_recordings:allowed_methods/1 is [GET, DELETE]
                raise _Reply(self._error(ctx, 405, "invalid_method", {"message": "method not allowed"}))
            account_id = request.path_params["account_id"]
            self._check_account(ctx, account_id)
            self._require_auth(ctx, "patch", ok)
            self._authorize_account(ctx, account_id)
            rec_id = request.path_params["recording_id"]
            index = self._lookup(ctx, rec_id)
            data = (body or {}).get("data")
            if not isinstance(data, dict):
                raise self._validation(ctx, "data", "type", "Value is not of type object", data)
            if "user_metadata" in data:
                meta = data["user_metadata"]
                if meta is None:
                    self.user_metadata[index] = None
                elif isinstance(meta, dict):
                    current = self.stored_doc(index).get("user_metadata") or {}
                    self.user_metadata[index] = _merge(current, meta)
                else:
                    raise self._validation(ctx, "user_metadata", "type", "Value is not of type object", meta)
                self.revisions[index] = self.revisions.get(index, 1) + 1
            doc = self.stored_doc(index)
            return self._success(ctx, self.public(doc), revision=doc["_rev"])
        except _Reply as reply:
            return reply.response
