"""Screendesk API v2 recordings (reference: the provider page `screendesk.md`, whose seed holds the
official OpenAPI fragments for list, get and update).

What the API offers, and how this adapter copes with what it does not:

- `GET /recordings?page=N`: pagy-style pages of a size the server fixes (`pagination.items`, not
  settable). The adapter reads that size from every answer and serves pages of the size the UI asks
  for by slicing (and, when needed, joining) server pages, behind a cursor holding a position. The
  end of the list is an absent **or** null `next_page`, or `page >= pages`; a `next_page` that names
  the same page again or goes backwards ends the listing with a warning instead of looping. Pages
  are never asked past `pages`.
- The listing order is not documented: every server page is sorted (newest first, then by uuid)
  before it is sliced, so a page whose rows come in another order each time still slices the same
  way, and `Page.order_approximate` is set. Rows already shown on the previous page (new recordings
  pushed the list down) are skipped and counted in a warning.
- No filters, no server sort, no page size, no recycle bin: asking for any is `Unsupported`.
- `GET /recordings/{uuid}` for detail; `PATCH /recordings/{uuid}` with `{"recording": {...}}` for
  title, summary and description, admin only (a 403 becomes `PermissionDenied` saying an admin
  token is needed; a 422 is "Update rejected"). An update whose outcome is unknown (5xx, timeout,
  reset) is checked with a GET and sent once more only when it was not applied.
- No media download (only `metadata.url`, a web page for a browser), no delete, no tags: those
  raise `Unsupported` and send nothing.
- Bearer token only to the configured origin; a 401 is an `AuthError` (there is nothing to refresh).
- Error bodies come as `{"error": "..."}` or `{"error": {"message": "...", "code": ...}}`; the HTTP
  core reads both.
- Records are read field by field: a field of the wrong type becomes "unknown" (the item is kept
  and counted in a warning), a record without a uuid is dropped (counted too), unknown fields are
  shown in the details.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from rectui.errors import (
    AuthError,
    BadResponse,
    PermissionDenied,
    ProviderError,
    Unavailable,
)
from rectui.models import Capabilities, Cursor, ListQuery, Media, Page, Recording
from rectui.providers.base import DEFAULT_MAX_MEDIA_BYTES, BaseProvider
from rectui.providers.http import HeaderAuth, OriginBoundAuth
from rectui.sanitize import clean, one_line

RENAME_FIELDS = ("title", "summary", "description")
TITLE_LIMIT = 255           # not documented; a Rails string column's usual limit
TEXT_LIMIT = 10_000         # summary and description: not documented
MAX_SERVER_PAGE_SIZE = 100  # the docs' /api/v2/users example shows `items: 100`
UNSAFE_VIEWER = "viewer link unavailable (unsafe id)"

T = TypeVar("T")
E = TypeVar("E", bound=ProviderError)


# -- lenient field types ----------------------------------------------------------------------

def _number_as_text(value: Any) -> Any:
    """Ids documented as strings may come as numbers (`"ticket_id": 48213`): keep them as text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _iso_time(value: Any) -> Any:
    """ISO-8601 read leniently (`Z`, an offset, with or without fractions, `T` or a space)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text)
        except ValueError:
            return value     # pydantic tries once more, then the field is "unreadable"
    return value


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Str = Annotated[str | None, BeforeValidator(_number_as_text)]
Time = Annotated[datetime | None, BeforeValidator(_iso_time), AfterValidator(_as_utc)]


class _Wire(BaseModel):
    """Every wire model: unknown fields kept (shown in the details), every field optional."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class _Helpdesk(_Wire):
    platform: Str = None
    conversation_id: Str = None
    ticket_id: Str = None
    user_id: Str = None
    operator_id: Str = None
    customer_id: Str = None
    issue_id: Str = None


class _Metadata(_Wire):
    created_at: Time = None
    updated_at: Time = None
    duration: float | None = None
    impressions_count: int | None = None
    recording_type: Str = None
    recording_source: Str = None
    url: Str = None
    helpdesk_info: _Helpdesk | None = None


class _Technical(_Wire):
    vendor: Str = None
    ip_address: Str = None
    timezone: Str = None
    network_type: Str = None
    isp: Str = None


class _Customer(_Wire):
    email: Str = None


class _User(_Wire):
    email: Str = None
    name: Str = None


class _Participant(_Wire):
    participant_id: Str = None
    display_name: Str = None
    role: Str = None
    browser: Str = None
    os: Str = None
    device: Str = None
    device_type: Str = None
    user_agent: Str = None
    joined_at: Time = None
    left_at: Time = None


class _Room(_Wire):
    started_at: Time = None
    ended_at: Time = None
    duration: float | None = None
    total_participant_minutes: float | None = None
    total_unique_participants: int | None = None
    participants_insights: list[_Participant | None] | None = None


_DIRECTIONS = {"received": "inbound", "sent": "outbound", "live": "live"}
_HELPDESK_LABELS = (("ticket_id", "ticket"), ("conversation_id", "conversation"), ("issue_id", "issue"),
                    ("user_id", "user id"), ("operator_id", "operator id"), ("customer_id", "customer id"))


class _Recording(_Wire):
    uuid: Str = None
    title: Str = None
    summary: Str = None
    description: Str = None
    metadata: _Metadata | None = None
    technical_details: _Technical | None = None
    console_logs: Str = None
    customer: _Customer | None = None
    user: _User | None = None
    room_insights: _Room | None = None

    @property
    def start(self) -> datetime | None:
        return self.metadata.created_at if self.metadata else None

    def sort_key(self) -> tuple[bool, float, str]:
        start = self.start
        return (start is None, -start.timestamp() if start else 0.0, self.uuid or "")

    def to_recording(self, provider: str, *, id_valid: bool, raw: dict[str, Any],
                     unreadable: list[str] | tuple[str, ...] = ()) -> Recording:
        meta = self.metadata or _Metadata()
        room = self.room_insights
        agent = self.user
        agent_id = (agent.email or agent.name) if agent else None
        customer = self.customer.email if self.customer else None
        kind = (meta.recording_type or "").strip().lower()
        # Who made the recording: a customer sends one ("Received"), an agent sends one ("Sent");
        # for a live call the customer is taken as the caller (undocumented).
        caller, callee = (agent_id, customer) if kind == "sent" else (customer, agent_id)
        helpdesk = meta.helpdesk_info
        ticket = None
        if helpdesk is not None:
            ticket = helpdesk.ticket_id or helpdesk.conversation_id or helpdesk.issue_id
        return Recording(
            provider=provider,
            id=self.uuid or "",
            id_valid=id_valid,
            title=self.title or "",
            start=meta.created_at,
            duration=_seconds(meta.duration) if _seconds(meta.duration) is not None
            else _seconds(room.duration if room else None),
            caller=caller,
            callee=callee,
            owner=agent_id,
            direction=_DIRECTIONS.get(kind, meta.recording_type),
            status="available",
            call_id=ticket,
            size=None,
            has_media=False,
            media_note="Screendesk has no API to download recordings; "
                       + ("open the viewer URL in a browser" if id_valid else UNSAFE_VIEWER),
            # The viewer URL embeds the uuid: with an id that fails validation it could point
            # anywhere the server liked, so it is neither shown as a link nor opened.
            viewer_url=_web_url(meta.url) if id_valid else None,
            details=partial(self.details, unreadable, id_valid=id_valid),     # built when the row is opened
            raw=raw,
        )

    def details(self, unreadable: list[str] | tuple[str, ...] = (), *, id_valid: bool = True) -> dict[str, str]:
        out: dict[str, str] = {}

        def put(label: str, value: Any) -> None:
            if value is None or value == "":
                return
            if isinstance(value, datetime):
                text = value.strftime("%Y-%m-%d %H:%M:%S UTC")
            elif isinstance(value, float):
                text = f"{value:g}"
            elif isinstance(value, str):
                text = value
            else:
                text = json.dumps(value, ensure_ascii=False, default=str)
            out[label] = text

        def extras(model: BaseModel | None, section: str) -> None:
            for key, value in (model.model_extra or {}).items() if model is not None else ():
                put(f"{section}{str(key).replace('_', ' ')}".strip().capitalize(), value)

        meta = self.metadata
        put("UUID", self.uuid)
        put("Title", self.title)
        put("Summary", self.summary)
        put("Description", self.description)
        if meta is not None:
            put("Created", meta.created_at)
            put("Updated", meta.updated_at)
            put("Duration", _duration_text(meta.duration))
            put("Views", meta.impressions_count)
            put("Type", meta.recording_type)
            put("Source", meta.recording_source)
            put("Viewer URL", meta.url if id_valid or not meta.url else UNSAFE_VIEWER)
            if meta.helpdesk_info is not None:
                info = meta.helpdesk_info
                put("Helpdesk", info.platform)
                for name, label in _HELPDESK_LABELS:
                    put(f"Helpdesk {label}", getattr(info, name))
                extras(info, "Helpdesk ")
            extras(meta, "Metadata ")
        if self.customer is not None:
            put("Customer email", self.customer.email)
            extras(self.customer, "Customer ")
        if self.user is None:
            put("Agent", "none linked")
        else:
            who = " ".join(p for p in (self.user.name, f"<{self.user.email}>" if self.user.email else None) if p)
            put("Agent", who)
            extras(self.user, "Agent ")
        tech = self.technical_details
        if tech is not None:
            put("Browser vendor", tech.vendor)
            put("IP address", tech.ip_address)
            put("Time zone", tech.timezone)
            put("Network", tech.network_type)
            put("ISP", tech.isp)
            extras(tech, "Technical ")
        put("Console logs", self.console_logs)
        room = self.room_insights
        if room is not None:
            put("Live call started", room.started_at)
            put("Live call ended", room.ended_at if room.ended_at else "not ended" if room.started_at else None)
            put("Live call duration", _duration_text(room.duration))
            put("Participant minutes", room.total_participant_minutes)
            put("Participants", room.total_unique_participants)
            for n, part in enumerate(p for p in room.participants_insights or () if p is not None):
                bits = [part.display_name or "(no name)"]
                if part.role:
                    bits[0] += f" ({part.role})"
                bits += [b for b in (part.browser, part.os, part.device_type, part.device) if b]
                if part.joined_at:
                    bits.append(f"joined {part.joined_at:%H:%M:%S}")
                if part.left_at:
                    bits.append(f"left {part.left_at:%H:%M:%S}")
                put(f"Participant {n + 1}", " · ".join(bits))
                put(f"Participant {n + 1} user agent", part.user_agent)
                put(f"Participant {n + 1} id", part.participant_id)
            extras(room, "Live call ")
        extras(self, "")
        if unreadable:
            out["Unreadable fields"] = ", ".join(unreadable)
        return out


class _Pagination(_Wire):
    count: int | None = None
    page: int | None = None
    items: int | None = None
    pages: int | None = None
    next_page: int | None = None
    prev_page: int | None = None
    last_page: int | None = None
    from_: int | None = Field(default=None, alias="from")
    to: int | None = None


class _ListBody(_Wire):
    pagination: _Pagination
    records: list[Any]


# -- helpers ----------------------------------------------------------------------------------

def _seconds(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) and value >= 0 else None


def _duration_text(value: float | None) -> str | None:
    seconds = _seconds(value)
    if seconds is None:
        return None
    whole = round(seconds)
    h, rest = divmod(whole, 3600)
    clock = f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"
    return f"{clock} ({seconds:g} s)"


def _web_url(url: str | None) -> str | None:
    """The viewer page, only when it is a plain http(s) URL (never `javascript:`, `file:`…)."""
    if not url:
        return None
    url = url.strip()
    try:
        parsed = urlsplit(url)
    except ValueError:
        return None
    return url if parsed.scheme.lower() in ("http", "https") and parsed.hostname else None


def _null_at(doc: Any, loc: tuple[int | str, ...]) -> bool:
    """Set the value at `loc` inside `doc` to None; False when there is nothing to null there."""
    node = doc
    for part in loc[:-1]:
        if not _has(node, part):
            return False
        node = node[part]
    last = loc[-1]
    if _has(node, last) and node[last] is not None:
        node[last] = None
        return True
    return False


def _has(node: Any, key: int | str) -> bool:
    if isinstance(node, dict):
        return key in node
    return isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node)


def read_record(data: Any) -> tuple[_Recording | None, list[str]]:
    """A wire record, with every field that cannot be read set to None (named in the list, as is
    a missing creation time, without which the row cannot be placed); None when the record is not
    an object at all."""
    wire, bad = _read_record(data)
    if wire is not None and wire.start is None and "metadata.created_at" not in bad:
        bad.append("metadata.created_at (missing)")
    return wire, bad


def _read_record(data: Any) -> tuple[_Recording | None, list[str]]:
    try:
        return _Recording.model_validate(data), []
    except ValidationError:
        pass
    if not isinstance(data, dict):
        return None, []
    doc, bad = copy.deepcopy(data), []
    for _ in range(64):
        try:
            return _Recording.model_validate(doc), bad
        except ValidationError as exc:
            progressed = False
            for err in exc.errors(include_url=False, include_input=False):
                loc = tuple(err["loc"])
                if loc and _null_at(doc, loc):
                    bad.append(".".join(str(p) for p in loc))
                    progressed = True
            if not progressed:
                return None, bad
    return None, bad


def _again(cls: type[E], exc: ProviderError, message: str, title: str | None = None) -> E:
    return cls(message, title=title, provider=exc.provider, status=exc.status, correlation_id=exc.correlation_id)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# -- the adapter ------------------------------------------------------------------------------

class ScreendeskProvider(BaseProvider):
    """Screendesk screen and video recordings (API v2, Enterprise plan, bearer token)."""

    kind: ClassVar[str] = "screendesk"
    capabilities: ClassVar[Capabilities] = Capabilities(
        page_style="number",            # numbered pages, exact totals; sizes chosen by the adapter
        exact_total=True,               # pagination.count
        server_sort=frozenset(),        # none documented
        server_filters=frozenset(),     # none documented
        max_page_size=MAX_SERVER_PAGE_SIZE,
        media=False,                    # only a viewer web page
        can_delete=False,
        can_restore=False,
        can_purge=False,
        server_tags=False,
        can_rename=True,                # PATCH title/summary/description, admin tokens only
        rename_fields=RENAME_FIELDS,
    )
    ID_PATTERN: ClassVar[re.Pattern[str]] = re.compile(
        r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
    ORDER_APPROXIMATE: ClassVar[bool] = True
    MAX_SERVER_PAGES_PER_CALL: ClassVar[int] = 12
    _server_per: int | None = None
    """The server's page size as last seen (pagy's `items`), for `page_cursor`."""

    def make_auth(self) -> OriginBoundAuth | None:
        return HeaderAuth.bearer(self.origins, self.settings.api_token)

    # -- errors --------------------------------------------------------------------------------
    async def _guard(self, call: Awaitable[T], *, update: bool = False) -> T:
        """Await `call`, giving Screendesk's meaning to auth, permission and validation errors."""
        try:
            return await call
        except AuthError as exc:
            raise _again(AuthError, exc, f"{exc.message} The Screendesk API token is wrong, expired or was "
                                         "deactivated: create a new one under Personal Settings → API Tokens "
                                         "and set api_token.") from None
        except PermissionDenied as exc:
            if update:
                raise _again(PermissionDenied, exc, "Changing a Screendesk recording needs an admin's API token "
                                                    f"(this one is a member's, or lacks API access). {exc.message}",
                             title="Admin token required") from None
            raise _again(PermissionDenied, exc, f"{exc.message} Screendesk's API needs the Enterprise plan, "
                                                "and members see only their own recordings.") from None
        except BadResponse as exc:
            if update and exc.status in (400, 422):
                raise _again(ProviderError, exc, f"Screendesk rejected the change: {exc.message}",
                             title="Update rejected") from None
            raise

    # -- listing -------------------------------------------------------------------------------
    async def _server_page(self, number: int) -> tuple[_Pagination, list[tuple[_Recording | None, Any, list[str]]]]:
        """Server page `number`: its pagination and its records, read and sorted newest first."""
        data, _ = await self._guard(self.http.get_json("recordings", params={"page": number}))
        body = self.parse(_ListBody, data, "GET /recordings")
        rows = [(*read_record(item), item) for item in body.records]
        rows.sort(key=lambda r: r[0].sort_key() if r[0] is not None else (True, 0.0, ""))
        return body.pagination, [(wire, raw, bad) for wire, bad, raw in rows]

    def _has_next(self, pg: _Pagination, number: int, warnings: list[str]) -> bool:
        """Whether a page follows server page `number`: `next_page` absent or null, or
        `page >= pages`, is the end; a `next_page` that is not the following page stops too."""
        nxt = pg.next_page
        if nxt is None:
            return False
        pages = pg.pages if pg.pages is not None else pg.last_page
        if pages is not None and number >= pages:
            return False
        if nxt != number + 1:
            why = "the same page cursor twice" if nxt == number else f"page {nxt} after page {number}"
            warnings.append(f"Screendesk sent {why}; the listing stops here rather than loop")
            return False
        return True

    def page_cursor(self, query: ListQuery, number: int) -> Cursor:
        """The cursor of page `number` (1-based) of `query`. Pages are slices of the adapter's
        size over server pages of the server's size, so this cursor holds the page number (`page`)
        and the server page size last seen (`per`, may be unknown or stale): the listing turns it
        into the position "next" would have reached (`(number - 1) × size`) once it knows the
        sizes. A number past the last page (the list shrank since its count was shown) lists the
        last page instead."""
        self.require(query)
        wanted = query.page_size or getattr(self.settings, "page_size", None)
        return self.cursor(page=self.jump_number(number), per=self._server_per, size=wanted)

    async def list_recordings(self, query: ListQuery, cursor: Cursor | None = None) -> Page:
        self.require(query)
        state = self.read_cursor(cursor)
        pos = max(0, int(state.get("pos", 0)))
        per: int | None = state.get("per") or None
        seen = set(state.get("seen", ()))
        wanted: int | None = query.page_size or getattr(self.settings, "page_size", None) or state.get("size")
        warnings: list[str] = []
        jump: int | None = self.jump_number(int(state["page"])) if "page" in state else None
        if per is None:
            pos = 0
        elif jump is not None and wanted:   # a jump with the sizes known: the position now, no extra request
            pos, jump = (jump - 1) * max(1, min(wanted, self.capabilities.max_page_size)), None
        number = pos // per + 1 if per else 1
        rows: list[tuple[_Recording | None, Any, list[str]]] = []
        fetched, realigned = 0, False
        while True:
            pg, recs = await self._server_page(number)
            fetched += 1
            if pg.page is not None and pg.page != number:
                warnings.append(f"Screendesk answered page {pg.page} when asked for page {number}")
            if pg.items and pg.items != per:
                if per is not None and not realigned and pos // pg.items + 1 != number:
                    warnings.append("Screendesk's page size changed while paging")
                    per, realigned, rows = pg.items, True, []
                    number = pos // per + 1
                    continue
                per = pg.items
            per = per or max(len(recs), 1)
            size = max(1, min(wanted or per, self.capabilities.max_page_size))
            if jump is not None:    # a jump learning the server's page size from page 1
                pos, jump = (jump - 1) * size, None
                if pos // per + 1 != number:
                    number, rows = pos // per + 1, []
                    continue
            start = (number - 1) * per
            rows.extend(r for i, r in enumerate(recs) if pos <= start + i < pos + size)
            pages = pg.pages if pg.pages is not None else pg.last_page
            if pg.count is not None and (pages is None or number <= pages):
                expected = max(0, min(per, pg.count - start))
                if len(recs) < expected:
                    kind = "an empty" if not recs else "a short"
                    warnings.append(f"Screendesk returned {kind} page {number} of {pages or '?'}")
            more = self._has_next(pg, number, warnings)
            if pos + size <= start + per or not more or fetched >= self.MAX_SERVER_PAGES_PER_CALL:
                break
            number += 1

        self._server_per = per
        count = pg.count if pg.count is not None and pg.count >= 0 else None
        if "page" in state and count is not None and pos > 0 and pos >= count:
            # A jump past the end (the list shrank since its count was shown): the last page.
            last = (max(1, -(-count // size)) - 1) * size
            return await self.list_recordings(query, self.cursor(pos=last, per=per, size=size))

        slice_end = pos + size
        if slice_end < start + len(recs):
            next_pos: int | None = slice_end
        elif more:
            next_pos = max(slice_end, start + per)     # past a short or empty server page
        else:
            next_pos = None

        items: list[Recording] = []
        ids: list[str] = []
        dropped = repeated = unreadable = 0
        for wire, raw, bad in rows:
            if wire is None or not wire.uuid:
                dropped += 1
                continue
            if wire.uuid in seen or wire.uuid in ids:
                repeated += 1
                continue
            ids.append(wire.uuid)
            unreadable += bool(bad)
            items.append(wire.to_recording(self.id, id_valid=self.id_is_safe(wire.uuid), raw=raw, unreadable=bad))
        items.sort(key=lambda r: (r.start is None, -r.start.timestamp() if r.start else 0.0, r.id))
        if dropped:
            warnings.append(f"{_plural(dropped, 'recording', 'recordings')} without a uuid skipped")
        if unreadable:
            warnings.append(f"{_plural(unreadable, 'recording', 'recordings')} had unreadable fields (shown as —)")
        if repeated:
            warnings.append(f"{_plural(repeated, 'recording', 'recordings')} already shown skipped "
                            "(the list changed while paging)")
        return Page(
            items=tuple(items),
            next=self.cursor(pos=next_pos, per=per, size=size, seen=ids) if next_pos is not None else None,
            prev=self.cursor(pos=max(0, pos - size), per=per, size=size) if pos > 0 else None,
            total=count,
            page_number=pos // size + 1,
            page_count=max(1, -(-count // size)) if count is not None else None,
            sorted_on_server=False,
            order_approximate=True,
            warnings=tuple(warnings),
        )

    # -- one recording -------------------------------------------------------------------------
    def _one(self, data: Any, recording_id: str, where: str) -> tuple[_Recording, Recording]:
        wire, bad = read_record(data)
        if wire is None:
            raise BadResponse(f"{where}: expected a recording object", provider=self.id)
        if not wire.uuid:
            wire = wire.model_copy(update={"uuid": recording_id})
            bad = [*bad, "uuid (missing: the requested id is shown)"]
        elif wire.uuid.lower() != recording_id.lower():
            raise BadResponse(f"{where}: the answer is about another recording", provider=self.id)
        raw = data if isinstance(data, dict) else {}
        return wire, wire.to_recording(self.id, id_valid=self.id_is_safe(wire.uuid or ""), raw=raw, unreadable=bad)

    async def get_recording(self, recording_id: str) -> Recording:
        seg = self.seg(recording_id)
        data, _ = await self._guard(self.http.get_json(f"recordings/{seg}"))
        return self._one(data, recording_id, "GET /recordings/{uuid}")[1]

    async def check(self) -> None:
        """One authenticated call: the first page of the listing."""
        await self._server_page(1)

    # -- changes -------------------------------------------------------------------------------
    async def rename(self, recording_id: str, fields: Mapping[str, str | None]) -> Recording:
        seg = self.seg(recording_id)
        if self.read_only:
            raise PermissionDenied(f"{self.display_name} is read-only in the configuration (read_only = true); "
                                   "nothing was changed.", title="Read-only", provider=self.id)
        unknown = sorted(set(fields) - set(RENAME_FIELDS))
        if unknown:
            raise self.unsupported(f"change {', '.join(unknown)}", "only title, summary and description can be changed")
        body: dict[str, str | None] = {}
        for name, value in fields.items():
            if name == "title":
                title = one_line(value or "", limit=TITLE_LIMIT)
                if not title.strip():
                    raise ProviderError("A Screendesk recording's title cannot be empty; nothing was changed.",
                                        title="Update rejected", provider=self.id)
                body[name] = title
            else:           # PATCH semantics: null clears summary or description
                body[name] = None if value is None else clean(value, limit=TEXT_LIMIT)
        if not body:
            return await self.get_recording(recording_id)
        try:
            return await self._patch(seg, recording_id, body)
        except Unavailable as exc:
            return await self._verify_update(seg, recording_id, body, exc)

    async def _patch(self, seg: str, recording_id: str, body: dict[str, str | None]) -> Recording:
        response = await self._guard(self.http.request("PATCH", f"recordings/{seg}", json_body={"recording": body}),
                                     update=True)
        return self._one(self.http.parse_json(response), recording_id, "PATCH /recordings/{uuid}")[1]

    async def _verify_update(self, seg: str, recording_id: str, body: dict[str, str | None],
                             failure: Unavailable) -> Recording:
        """The PATCH may or may not have been applied (5xx, timeout, reset): read the recording;
        if the change is there it is done, otherwise send it once more (the values are absolute)."""
        try:
            data, _ = await self._guard(self.http.get_json(f"recordings/{seg}"))
            wire, rec = self._one(data, recording_id, "GET /recordings/{uuid}")
        except ProviderError:
            message = f"{failure.message} Whether the change was applied is unknown; reload the recording first."
            raise _again(Unavailable, failure, message, title=failure.title) from None
        if all(getattr(wire, name) == value for name, value in body.items()):
            return rec
        return await self._patch(seg, recording_id, body)

    async def fetch_media(self, recording: Recording, dest_dir: Path, *,
                          max_bytes: int = DEFAULT_MAX_MEDIA_BYTES) -> Media:
        raise self.unsupported("download a recording's audio or video",
                               "its API has no media download; open the recording's viewer URL in a browser")

    async def delete_recording(self, recording_id: str) -> None:
        raise self.unsupported("delete recordings", "its API has no delete; delete it in the Screendesk web app")

    async def set_tags(self, recording_id: str, tags: frozenset[str]) -> Recording:
        raise self.unsupported("store tags", "Screendesk recordings have no tags; tags are kept locally")
