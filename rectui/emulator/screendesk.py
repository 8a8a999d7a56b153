"""Screendesk API v2 recordings, emulated (reference: the provider page `screendesk.md` and the
official OpenAPI fragments in `tests/specs/screendesk.openapi.json`).

What it serves, under the API root `/api/v2`:

- `GET /recordings?page=N`: 1-based pages of a fixed, server-chosen size (`page_size`, 100 by
  default, not settable by the client: `per_page`, `items`, `limit`… are ignored), wrapped in
  `{"pagination": {…pagy metadata…}, "records": […]}`. On the last page `next_page` is absent or
  null (absent for odd seeds, null for even ones; the `pagination_end` knob overrides), and
  `prev_page` likewise on page 1. A page past `pages` is a 200 with no records (pagy's
  `:empty_page` overflow: `items`, `from` and `to` are 0, `prev_page` is the last page).
- `GET /recordings/{uuid}` and `PATCH /recordings/{uuid}` with `{"recording": {title, summary,
  description}}` (JSON or form-encoded `recording[title]=…`), admin only (a member gets 403).
- Nothing else: no media, no delete, no create. Those answer 404 like any unknown route.
- `GET /recordings/{uuid}` outside the API root: the public web viewer page (`metadata.url`),
  HTML for a browser, no token needed.

Auth is `Authorization: Bearer <personal API token>`. Three demo tokens exist: an admin (sees every
recording, may update), a member (sees only their own recordings, update gets 403) and a valid
token of an account below the Enterprise plan (every call gets 403).

The service looks like a Rails app (pagy metadata), so the emulator answers like one: JSON as
`application/json; charset=utf-8` with `<`, `>` and `&` escaped as `\\u003c`, `\\u003e`, `\\u0026`
(ActiveSupport's default), times as `2024-05-14T09:31:02.123Z`, an `X-Request-Id` header, and
strong-parameter semantics on update (unknown fields are dropped silently).

Error bodies come in the two documented shapes: `{"error": "…"}` (the OpenAPI `Error` schema)
for 401, 403, 422 and 429, and `{"error": {"message": "…", "code": 404}}` (the prose docs, whose
example is a missing recording) for 400, 404 and 5xx. The `error_shape` knob forces one.

Provider-specific fault knobs (besides the generic ones the wrapper applies):

- `error_shape=string|object|object_string_code`: the shape of the next error bodies;
- `pagination_end=absent|null`: how `next_page`/`prev_page` are left out at the ends;
- `time_offset=+02:00`: render times in that UTC offset instead of `Z`;
- `page_shift=N`: the page starts N records earlier (as if N recordings arrived since page 1),
  so it repeats the previous page's last N records;
- `shuffle_page`: the records of a page come in a shuffled (seeded) order;
- `empty_page[=N]`: page N (or any page the rule fires on) has no records, pagination intact;
- `cursor_repeat`: `next_page` names the current page again;
- `cursor_cycle`: the last page's `next_page` is 1, so the list never ends;
- `schema_drift[=mix|no_id|null|bad|unknown]`: broken records (missing uuid, null objects,
  wrong types, unknown fields);
- `hostile_titles`, `hostile_ids`: every record on the page gets a hostile title or id suffix;
- `redirect[=URL]` (`status=` 301/302/307…): the API redirects to another origin (the media
  origin by default);
- `gzip_bomb[=MB]`: a gzip body that inflates to MB megabytes (50 by default);
- `expire_token_after=N`: after N authenticated requests every token is "deactivated" (401).
"""

from __future__ import annotations

import gzip
import hashlib
import html
import itertools
import json
import random
import re
import uuid as uuidlib
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute

from rectui.emulator.app import ProviderEmulator, current_route
from rectui.emulator.dataset import FIRST, HOSTILE_ID_SUFFIXES, HOSTILE_TEXTS, LAST, Fact
from rectui.emulator.faults import FaultSpecError, register_knobs

register_knobs("error_shape", "pagination_end", "time_offset", "page_shift", "shuffle_page")

BASE = "/api/v2"
PAGE_SIZE = 100            # the docs' /api/v2/users example shows `items: 100`
JSON_TYPE = "application/json; charset=utf-8"

# Agents of the emulated account: slot 0 means "no agent linked" (`user: null`).
AGENT_SLOTS = 7
MEMBER_SLOT = 1            # the member token's user

# Default error-body shape per status (see the module docstring).
_OBJECT_SHAPE_STATUSES = frozenset({400, 404})

NOT_FOUND = "Recording not found or does not exist"


PLATFORMS = [  # (platform, recording_source label, weight)
    ("zendesk", "Zendesk Ticket", 6),
    ("intercom", "Intercom Operator", 3),
    ("freshdesk", "Freshdesk Ticket", 2),
    ("freshdesk_chat", "Freshdesk Chat", 1),
    ("helpscout", "Help Scout Conversation", 2),
    ("jira", "Jira Issue", 1),
    ("screendesk app", "Screendesk App", 2),
]
_PLATFORM_CHOICES = [(p, lbl) for p, lbl, _ in PLATFORMS]
_PLATFORM_CUM = list(itertools.accumulate(w for *_, w in PLATFORMS))
VENDORS = ["Google Inc.", "Google Inc.", "Apple Computer, Inc.", "", None]   # "" is Firefox's
TIMEZONES = ["Europe/Paris", "America/New_York", "Asia/Tokyo", "America/Sao_Paulo", "Europe/London",
             "Australia/Sydney", "Africa/Lagos", "Asia/Kolkata", None]
NETWORKS = ["wifi", "wifi", "ethernet", "4g", "cellular", "unknown", None]
ISPS = ["Example Telecom", "Orange", "Comcast Cable", "NTT Communications", "Vodafone", "Telstra", None]
BROWSERS = [("Chrome", "131.0.0.0", "Windows", "10", "desktop"), ("Chrome", "130.0.0.0", "Mac OS", "14.5", "desktop"),
            ("Safari", "17.4", "iOS", "17.4", "mobile"), ("Firefox", "132.0", "Linux", "", "desktop"),
            ("Edge", "131.0.0.0", "Windows", "11", "desktop"), ("Chrome", "131.0.0.0", "Android", "14", "mobile")]
CONSOLE_LINES = ["[log] App booted in 812ms", "[info] Feature flags loaded", "[warn] Deprecated API: document.domain",
                 "[error] POST /api/cart 502 (Bad Gateway)",
                 "[error] Uncaught TypeError: Cannot read properties of undefined (reading 'id')",
                 "[warn] Third-party cookie will be blocked", "[error] Failed to load resource: net::ERR_BLOCKED",
                 "[log] websocket reconnecting (attempt 2)", "[debug] render took 48ms"]
SUMMARY_TEMPLATES = [
    "{customer} shows the problem behind \u201c{topic}\u201d and {agent} follows along on screen.",
    "{customer} walks through {topic_l}; the screen shows the steps that fail.",
    "Screen recording about {topic_l}. {customer} repeats the steps twice.",
    "{agent} demonstrates the fix for {topic_l} to {customer}.",
]


_RAILS_ESCAPED = re.compile("[<>&\u2028\u2029]")


def rails_json(data: Any) -> bytes:
    """JSON the way ActiveSupport encodes it: UTF-8, compact, `<>&` and U+2028/9 escaped."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    if not _RAILS_ESCAPED.search(text):
        return text.encode()
    return _RAILS_ESCAPED.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode()


def ruby_to_i(raw: str) -> int:
    """Ruby's `String#to_i`: leading digits (after blanks and a sign), else 0."""
    m = re.match(r"\s*([+-]?\d+(?:_\d+)*)", raw)
    return int(m.group(1).replace("_", "")) if m else 0


def _hash(*parts: object) -> bytes:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()


@lru_cache(maxsize=8)
def _gzip_bomb(size: int) -> bytes:
    return gzip.compress(b'{"pagination":{},"records":[' + b" " * size + b"]}", compresslevel=9)


def _parse_offset(value: str) -> timezone:
    """`+02:00`, `-0530` or minutes (`120`) → a fixed UTC offset."""
    m = re.fullmatch(r"([+-])(\d\d):?(\d\d)", value.strip())
    if m:
        minutes = int(m.group(2)) * 60 + int(m.group(3))
        return timezone(timedelta(minutes=-minutes if m.group(1) == "-" else minutes))
    try:
        return timezone(timedelta(minutes=int(value)))
    except ValueError as exc:
        raise FaultSpecError(f"time_offset: expected +HH:MM or minutes, got {value!r}") from exc


def fmt_time(dt: datetime, tz: timezone = UTC) -> str:
    """Rails' `as_json` of a time: ISO-8601 with milliseconds, `Z` in UTC, else `+HH:MM`."""
    text = dt.astimezone(tz).isoformat(timespec="milliseconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class ScreendeskEmulator(ProviderEmulator):
    kind = "screendesk"

    def __init__(self, emu: Any, dataset: Any) -> None:
        super().__init__(emu, dataset)
        seed = dataset.seed
        self.page_size = PAGE_SIZE
        self.admin_token = "sd_" + _hash(seed, "screendesk", "admin-token").hex()[:40]
        self.member_token = "sd_" + _hash(seed, "screendesk", "member-token").hex()[:40]
        self.starter_token = "sd_" + _hash(seed, "screendesk", "starter-plan-token").hex()[:40]
        self.pagination_end = "absent" if seed % 2 else "null"
        self.agents = self._make_agents(seed)
        self._slot_offset = int.from_bytes(_hash(seed, "screendesk", "slots")[:4], "big") % AGENT_SLOTS
        self._member_residue = (MEMBER_SLOT - self._slot_offset) % AGENT_SLOTS
        key = _hash(seed, "screendesk", "uuid-key")
        self._mul = int.from_bytes(key[:6], "big") | 1               # odd: invertible mod 2**48
        self._inv = pow(self._mul, -1, 1 << 48)
        self._xor = int.from_bytes(key[6:12], "big")
        self.edits: dict[int, dict[str, Any]] = {}                      # index → changed fields
        self._token_uses: dict[int, int] = {}
        self._requests = 0

    # -- set-up --------------------------------------------------------------------------------
    @staticmethod
    def _make_agents(seed: int) -> list[dict[str, str]]:
        rng = random.Random(f"{seed}:screendesk:agents")
        domain = rng.choice(["support.acme.example", "help.globex.example", "care.initech.example"])
        agents = []
        for slot in range(1, AGENT_SLOTS):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            local = "".join(ch for ch in f"{first}.{last}".lower() if ch.isascii() and (ch.isalnum() or ch == "."))
            local = local.strip(".") or f"agent{slot}"
            agents.append({"email": f"{local}{slot}@{domain}", "name": f"{first} {last}"})
        return agents

    def credentials(self) -> dict[str, str]:
        return {"api_token": self.admin_token, "api_token_member": self.member_token,
                "api_token_starter_plan": self.starter_token}

    def config_entry(self) -> dict[str, object]:
        return {"kind": self.kind, "base_url": self.emu.api_url + BASE, "api_token": self.admin_token}

    def api_routes(self) -> list[BaseRoute]:
        rec = BASE + "/recordings"
        return [
            self.route(rec, self.list_recordings, "list", methods=["GET"]),
            self.route(rec, self.unknown_route, "unknown", methods=["POST", "PUT", "PATCH", "DELETE"]),
            self.route(rec + "/{uuid}", self.get_recording, "get", methods=["GET"]),
            self.route(rec + "/{uuid}", self.update_recording, "update", methods=["PATCH"]),
            self.route(rec + "/{uuid}", self.unknown_route, "delete", methods=["DELETE"]),
            self.route(rec + "/{uuid}", self.unknown_route, "unknown", methods=["POST", "PUT"]),
            self.route(rec + "/{uuid}/{rest:path}", self.unknown_route, "unknown",
                       methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            self.route("/recordings/{uuid}", self.viewer, "viewer", methods=["GET"]),
        ]

    # -- ids -----------------------------------------------------------------------------------
    def uuid_of(self, fact: Fact) -> str:
        """A v4-shaped UUID from the fact's uid whose last group encodes the index (so a lookup
        needs no table), plus the hostile suffix when the fact has one."""
        u = fact.uid
        node = ((fact.index * self._mul) % (1 << 48)) ^ self._xor
        variant = "89ab"[int(u[16], 16) & 3]
        return f"{u[0:8]}-{u[8:12]}-4{u[13:16]}-{variant}{u[17:20]}-{node:012x}{fact.hostile_id or ''}"

    def recording_id(self, fact: Fact) -> str:
        return self.uuid_of(fact)

    def listed_ids(self, status: str = "available") -> list[str]:
        """Every uuid an admin token's complete listing returns, in the server's order (newest
        first); Screendesk has no recycle bin, so `status="deleted"` is always empty."""
        if status != "available":
            return []
        count, first, stride = self.visible("admin")
        return [self.uuid_of(self.data.fact(first + pos * stride)) for pos in range(count)]

    def index_of(self, recording_id: str) -> int | None:
        if len(recording_id) < 36 or not re.fullmatch(r"[0-9a-f]{12}", recording_id[24:36]):
            return None
        index = ((int(recording_id[24:36], 16) ^ self._xor) * self._inv) % (1 << 48)
        if index >= len(self.data) or self.uuid_of(self.data.fact(index)) != recording_id:
            return None
        return index

    def slot_of(self, index: int) -> int:
        return (index + self._slot_offset) % AGENT_SLOTS

    def visible(self, role: str) -> tuple[int, int, int]:
        """(count, first index, stride) of the recordings `role` may see, newest first."""
        n = len(self.data)
        if role == "admin":
            return n, 0, 1
        r = self._member_residue
        return (0 if r >= n else (n - r + AGENT_SLOTS - 1) // AGENT_SLOTS), r, AGENT_SLOTS

    def may_see(self, role: str, index: int) -> bool:
        return role == "admin" or self.slot_of(index) == MEMBER_SLOT

    # -- records -------------------------------------------------------------------------------
    def record(self, index: int, tz: timezone = UTC) -> dict[str, Any]:
        fact = self.data.fact(index)
        rng = random.Random(f"{fact.uid}:screendesk")
        slot = self.slot_of(index)
        agent = self.agents[slot - 1] if slot else None
        customer = fact.caller if fact.direction == "inbound" else fact.callee
        live = fact.flag % 5 == 0
        rtype = "Live" if live else ("Received" if fact.direction == "inbound" else "Sent")
        platform, label = rng.choices(_PLATFORM_CHOICES, cum_weights=_PLATFORM_CUM)[0]
        if live:
            label = "Live Call"
        duration: int | None = max(1, round(fact.duration))
        if rng.random() < 0.06:          # still processing
            duration = None
        created = fact.start
        updated = min(created + timedelta(seconds=fact.duration + rng.randrange(5, 900)), self.data.anchor)
        updated = max(updated, created)
        title = fact.title() or None
        summary = None
        if rng.random() >= 0.25:
            summary = rng.choice(SUMMARY_TEMPLATES).format(
                customer=customer.name, agent=agent["name"] if agent else "the agent",
                topic=fact.title() or "an issue", topic_l=(fact.title() or "an issue").lower())
        description = fact.notes
        edit = self.edits.get(index, {})
        if edit:
            title = edit.get("title", title)
            summary = edit.get("summary", summary)
            description = edit.get("description", description)
            updated = edit.get("updated_at", updated)
        rec: dict[str, Any] = {
            "uuid": self.uuid_of(fact),
            "title": title,
            "summary": summary,
            "description": description,
            "metadata": {
                "created_at": fmt_time(created, tz),
                "updated_at": fmt_time(updated, tz),
                "duration": duration,
                "impressions_count": rng.choice([0, 0, 0, 1, 1, 2, 3, 5, 8, 13, 40]),
                "recording_type": rtype,
                "recording_source": label,
                "url": f"{self.emu.api_url}/recordings/{self.uuid_of(fact)}",
                "helpdesk_info": self._helpdesk(platform, rng),
            },
            "technical_details": self._technical(rng),
            "console_logs": ("\n".join(rng.sample(CONSOLE_LINES, rng.randrange(1, 5)))
                             if rng.random() < 0.6 else None),
            "customer": {"email": customer.email if rng.random() < 0.9 else None},
            "user": dict(agent) if agent else None,
            "room_insights": self._room(fact, agent, customer.name, rng, tz) if live else None,
        }
        return rec

    @staticmethod
    def _helpdesk(platform: str, rng: random.Random) -> dict[str, Any]:
        def num(lo: int, hi: int) -> str:
            return str(rng.randrange(lo, hi))

        info: dict[str, Any] = {"platform": platform, "conversation_id": None, "ticket_id": None, "user_id": None,
                                "operator_id": None, "customer_id": None, "issue_id": None}
        if platform == "zendesk":
            info.update(ticket_id=num(1000, 99999), user_id=num(360000000, 399999999))
        elif platform == "intercom":
            info.update(conversation_id=num(10**14, 10**15), operator_id=num(1000000, 9999999),
                        user_id=rng.randbytes(12).hex())
        elif platform == "freshdesk":
            info.update(ticket_id=num(100, 99999), customer_id=num(10**10, 10**11))
        elif platform == "freshdesk_chat":
            info.update(conversation_id=str(uuidlib.UUID(bytes=rng.randbytes(16))), customer_id=num(10**10, 10**11))
        elif platform == "helpscout":
            info.update(conversation_id=num(10**9, 10**10), customer_id=num(10**8, 10**9))
        elif platform == "jira":
            info.update(issue_id=num(10000, 99999), user_id=rng.randbytes(12).hex())
        return info

    @staticmethod
    def _technical(rng: random.Random) -> dict[str, Any]:
        if rng.random() < 0.1:
            return {"vendor": None, "ip_address": None, "timezone": None, "network_type": None, "isp": None}
        net = rng.choice(["192.0.2.", "198.51.100.", "203.0.113.", "2001:db8::"])
        ip = f"{net}{rng.randrange(1, 255) if '.' in net else format(rng.randrange(1, 65535), 'x')}"
        return {"vendor": rng.choice(VENDORS), "ip_address": ip, "timezone": rng.choice(TIMEZONES),
                "network_type": rng.choice(NETWORKS), "isp": rng.choice(ISPS)}

    @staticmethod
    def _room(fact: Fact, agent: dict[str, str] | None, customer: str, rng: random.Random,
              tz: timezone) -> dict[str, Any]:
        start, end = fact.start, fact.end
        open_ended = rng.random() < 0.05          # the room never closed properly
        people = [(agent["name"] if agent else None, "host"), (customer, "guest")]
        if rng.random() < 0.3:
            people.append((None, "guest"))
        parts, minutes = [], 0.0
        for name, role in people:
            browser, bver, os_name, os_ver, dtype = rng.choice(BROWSERS)
            joined = start + timedelta(seconds=rng.uniform(0, min(30.0, fact.duration / 4)))
            left = end - timedelta(seconds=rng.uniform(0, min(30.0, fact.duration / 4)))
            minutes += (left - joined).total_seconds() / 60
            ua = (f"Mozilla/5.0 ({os_name} {os_ver}) AppleWebKit/537.36 (KHTML, like Gecko) "
                  f"{browser}/{bver} Safari/537.36")
            parts.append({
                "participant_id": rng.randbytes(8).hex(), "display_name": name, "role": role,
                "browser": f"{browser} {bver}", "os": f"{os_name} {os_ver}".strip(),
                "device": None if dtype == "desktop" else rng.choice(["iPhone", "Pixel 8", "Galaxy S23"]),
                "device_type": dtype, "user_agent": ua, "joined_at": fmt_time(joined, tz),
                "left_at": None if open_ended else fmt_time(left, tz),
            })
        return {
            "started_at": fmt_time(start, tz),
            "ended_at": None if open_ended else fmt_time(end, tz),
            "duration": None if open_ended else int((end - start).total_seconds()),
            "total_participant_minutes": None if open_ended else round(minutes, 2),
            "total_unique_participants": len(parts),
            "participants_insights": parts,
        }

    # -- responses -----------------------------------------------------------------------------
    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        self._requests += 1
        rid = uuidlib.UUID(bytes=_hash(self.data.seed, "screendesk", "request", self._requests)[:16], version=4)
        headers = {"X-Request-Id": str(rid), "Cache-Control": "max-age=0, private, must-revalidate"}
        headers.update(extra or {})
        return headers

    def json_response(self, route: str, data: Any, status: int = 200) -> Response:
        headers = self._headers()
        if rule := self.take(route, "gzip_bomb"):
            body = _gzip_bomb(int(rule.number(default=50.0) * 1024 * 1024))
            headers["Content-Encoding"] = "gzip"
            return Response(body, status, headers=headers, media_type=JSON_TYPE)
        return Response(rails_json(data), status, headers=headers, media_type=JSON_TYPE)

    def error_shape(self, status: int) -> str:
        route = current_route()
        if route is not None and (rule := self.take(route, "error_shape")):
            shape = rule.value or "object"
            if shape not in ("string", "object", "object_string_code"):
                raise FaultSpecError(f"error_shape: expected string|object|object_string_code, got {shape!r}")
            return shape
        return "object" if status in _OBJECT_SHAPE_STATUSES or status >= 500 else "string"

    def error_response(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        shape = self.error_shape(status)
        if shape == "string":
            body: dict[str, Any] = {"error": message}
        else:
            body = {"error": {"message": message, "code": status if shape == "object" else str(status)}}
        return Response(rails_json(body), status, headers=self._headers(headers), media_type=JSON_TYPE)

    def _redirect(self, request: Request, route: str) -> Response | None:
        rule = self.take(route, "redirect")
        if rule is None:
            return None
        target = rule.value or (self.emu.media_url + request.url.path
                                + (f"?{request.url.query}" if request.url.query else ""))
        return Response(b"", int(rule.number("status", 302)), headers={"Location": target})

    def _auth(self, request: Request, route: str) -> tuple[str, Response | None]:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        role = {self.admin_token: "admin", self.member_token: "member",
                self.starter_token: "starter"}.get(token) if scheme.lower() == "bearer" else None
        if role is None:
            return "", self.error_response(401, "Invalid or missing API token")
        if rule := self.emu.faults.peek(self.kind, route, "expire_token_after"):
            used = self._token_uses[id(rule)] = self._token_uses.get(id(rule), 0) + 1
            if used > rule.number(default=0.0):
                return "", self.error_response(401, "API token is invalid or has been deactivated")
        if role == "starter":
            return "", self.error_response(
                403, "API access is not enabled for this account (Enterprise plan required)")
        return role, None

    def _tz(self, route: str) -> timezone:
        rule = self.take(route, "time_offset")
        return _parse_offset(rule.value or "+00:00") if rule else UTC

    def _drift(self, route: str, records: list[dict[str, Any]]) -> None:
        rule = self.take(route, "schema_drift")
        if rule is None:
            return
        modes = ["no_id", "bad", "unknown", "null"]
        for pos, rec in enumerate(records):
            mode = rule.value or "mix"
            if mode == "mix":
                if pos >= len(modes):
                    break
                mode = modes[pos]
            if mode == "no_id":
                rec.pop("uuid", None)
            elif mode == "bad":
                meta = rec["metadata"]
                meta["duration"] = f"{meta['duration']}s"
                meta["created_at"] = "yesterday"
                meta["impressions_count"] = "many"
                meta["recording_type"] = "Screenshot"
                rec["title"] = {"text": rec["title"]}
            elif mode == "unknown":
                rec["thumbnail_url"] = f"{self.emu.api_url}/thumbnails/{rec.get('uuid')}.png"
                rec["metadata"]["video_codec"] = "vp9"
            elif mode == "null":
                rec["metadata"] = None
                rec["customer"] = None
                rec["technical_details"] = None
            else:
                raise FaultSpecError(f"schema_drift: unknown mode {mode!r}")

    # -- endpoints -----------------------------------------------------------------------------
    async def list_recordings(self, request: Request) -> Response:
        if resp := self._redirect(request, "list"):
            return resp
        role, err = self._auth(request, "list")
        if err:
            return err
        raw = request.query_params.get("page")
        page = 1 if raw is None or raw == "" else ruby_to_i(raw)   # pagy drops nil and "" vars
        if page < 1:
            return self.error_response(400, f"expected :page >= 1; got {json.dumps(raw)}")
        count, first, stride = self.visible(role)
        items = self.page_size
        pages = max(1, -(-count // items))
        end = self.pagination_end
        if rule := self.take("list", "pagination_end"):
            end = rule.value or "absent"
        if page > pages:                          # pagy's :empty_page overflow
            offset, size, frm, to, prev, nxt = 0, 0, 0, 0, pages, None
        else:
            offset = (page - 1) * items
            size, frm, to = items, (offset + 1 if count else 0), min(offset + items, count)
            prev = page - 1 if page > 1 else None
            nxt = page + 1 if page < pages else None
        if self.take("list", "cursor_repeat"):
            nxt = page
        if page >= pages and self.take("list", "cursor_cycle"):
            nxt = 1
        pagination: dict[str, Any] = {"count": count, "page": page, "items": size, "pages": pages}
        for key, value in (("next_page", nxt), ("prev_page", prev)):
            if value is not None or end == "null":
                pagination[key] = value
        pagination.update({"last_page": pages, "from": frm, "to": to})

        lo, hi = offset, (to if page <= pages else 0)
        if rule := self.take("list", "page_shift"):
            shift = int(rule.number(default=1.0))
            lo, hi = max(0, lo - shift), max(0, hi - shift)
        empty = self.emu.faults.peek(self.kind, "list", "empty_page")
        if empty and (empty.value is None or int(empty.number()) == page) and self.take("list", "empty_page"):
            lo = hi
        tz = self._tz("list")
        records = [self.record(first + pos * stride, tz) for pos in range(lo, hi)]
        if self.take("list", "shuffle_page"):
            random.Random(f"{self.data.seed}:{page}").shuffle(records)
        if self.take("list", "hostile_titles"):
            for pos, rec in enumerate(records):
                rec["title"] = HOSTILE_TEXTS[pos % len(HOSTILE_TEXTS)]
        if self.take("list", "hostile_ids"):
            for pos, rec in enumerate(records):
                rec["uuid"] += HOSTILE_ID_SUFFIXES[pos % len(HOSTILE_ID_SUFFIXES)]
        self._drift("list", records)
        return self.json_response("list", {"pagination": pagination, "records": records})

    def _find(self, request: Request, role: str) -> int | None:
        index = self.index_of(request.path_params["uuid"])
        return index if index is not None and self.may_see(role, index) else None

    async def get_recording(self, request: Request) -> Response:
        if resp := self._redirect(request, "get"):
            return resp
        role, err = self._auth(request, "get")
        if err:
            return err
        index = self._find(request, role)
        if index is None:
            return self.error_response(404, NOT_FOUND)
        records = [self.record(index, self._tz("get"))]
        self._drift("get", records)
        return self.json_response("get", records[0])

    async def update_recording(self, request: Request) -> Response:
        if resp := self._redirect(request, "update"):
            return resp
        role, err = self._auth(request, "update")
        if err:
            return err
        if role != "admin":
            return self.error_response(403, "You must be an admin to update recordings")
        index = self._find(request, role)
        if index is None:
            return self.error_response(404, NOT_FOUND)
        params = await self._params(request)
        fields = params.get("recording")
        if not isinstance(fields, dict) or not fields:
            return self.error_response(400, "param is missing or the value is empty: recording")
        changes: dict[str, Any] = {}
        for name in ("title", "summary", "description"):   # strong parameters: the rest is dropped
            if name not in fields:
                continue
            value = fields[name]
            if isinstance(value, dict | list):               # not a permitted scalar: dropped too
                continue
            if isinstance(value, bool):                      # ActiveModel's string cast
                value = "t" if value else "f"
            elif value is not None and not isinstance(value, str):
                value = str(value)
            changes[name] = value
        if "title" in changes and not (changes["title"] or "").strip():
            return self.error_response(422, "Title can't be blank")
        if changes:
            current = self.record(index)
            if any(current[k] != v for k, v in changes.items()):
                changes["updated_at"] = self.emu.now()
            self.edits.setdefault(index, {}).update(changes)
        return self.json_response("update", self.record(index))

    @staticmethod
    async def _params(request: Request) -> dict[str, Any]:
        """The request's parameters as Rails would parse them (JSON or form-encoded), or {}."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        body = await request.body()
        if ctype == "application/json" or ctype.endswith("+json"):
            try:
                data = json.loads(body) if body.strip() else {}
            except (ValueError, UnicodeDecodeError):
                return {}
            return data if isinstance(data, dict) else {}
        if ctype == "application/x-www-form-urlencoded":
            out: dict[str, Any] = {}
            for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
                m = re.fullmatch(r"(\w+)\[(\w+)\]", key)
                if m:
                    sub = out.setdefault(m.group(1), {})
                    if isinstance(sub, dict):
                        sub[m.group(2)] = value
                else:
                    out[key] = value
            return out
        return {}

    async def unknown_route(self, request: Request) -> Response:
        """No media, no delete, no create: the router does not know these (no auth is checked)."""
        return self.error_response(404, "Not Found")

    async def viewer(self, request: Request) -> Response:
        """The public web viewer behind `metadata.url`: a page for a browser, not media."""
        index = self.index_of(request.path_params["uuid"])
        if index is None:
            return HTMLResponse("<!DOCTYPE html><html><head><title>Not found · Screendesk</title></head>"
                                "<body><h1>This recording does not exist.</h1></body></html>", 404)
        title = html.escape(self.record(index)["title"] or "Untitled recording")
        return HTMLResponse(
            f"<!DOCTYPE html><html><head><title>{title} · Screendesk</title></head><body>"
            f"<h1>{title}</h1><div id=\"player\" data-uuid=\"{html.escape(request.path_params['uuid'])}\">"
            "This recording plays in the Screendesk web viewer.</div></body></html>")


__all__ = ["ScreendeskEmulator", "fmt_time", "rails_json", "ruby_to_i"]
