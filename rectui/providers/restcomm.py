"""Restcomm Connect / Restcomm CPaaS recordings (reference: the provider page `restcomm.md`).

The API copies Twilio's 2010 style with its own values, and this adapter survives each quirk:

- **JSON only on request**: every call ends in `.json` *and* sends `Accept: application/json`
  (XML is the default representation; the server's page links carry neither).
- **Paging by 0-based page number**, rebuilt by us with every filter and the sort: the server's
  page links drop `StartTime`, `EndTime`, `CallSid` and `SortBy`, carry an `AfterSid` the server
  ignores, and are the *string* `"null"` when absent, so they are never followed. `num_pages` is
  the last page *index*; a total that is a multiple of the page size ends in an extra empty page,
  and a page past it is a 400: the next page exists only while `(page + 1) × size < total`. A 400
  for a later page (the list shrank meanwhile) ends the listing with a warning.
- **AfterSid done on our side**: the cursor remembers the edge row of the page it came from, and
  a row that moved across the page boundary (a new recording pushed the list down) is dropped,
  not shown twice.
- **Jump to a page** (`page_cursor`): without a date range, page N is server page N − 1. With
  one, page N is found from the first page: in time order the range's pages are consecutive
  server pages (one more request; past the range's end, its last page by bisection, with a
  warning); in other orders by following `next` (at most `JUMP_WALK_LIMIT` pages).
- **Dates** are RFC-2822-like in the server's own offset with an unpadded day: parsed tolerantly
  (ISO 8601 too) and converted to UTC; the server's offset is learnt from them.
- **`StartTime`/`EndTime` honour only the date part**, in the server's zone, and `EndTime` takes
  its whole day: the adapter asks for whole server days that surely cover the range (with a margin
  for an unknown offset or DST) and trims the rows to `since <= start <= until` itself. Pages at the
  edges of the range can then be shorter, pages left empty by the trim are skipped, and the total
  is not given for such a query (the server's total counts the whole days).
- **Strings for numbers** (`duration`, `start`, `end`) and `"null"` strings anywhere: read
  tolerantly; an item without a `sid` is dropped, an unreadable field becomes unknown, and the
  page says how many.
- **Errors with no body**: a 404 with an empty body is `NotFound`; an inactive account's
  `text/plain` 403 says so.
- **Audio needs no authentication**: `…/Recordings/{sid}.wav` (or `.mp4` for a video recording)
  is fetched on the configured origin by the credential-free media client, following a 307 to a
  presigned S3 link; the format is sniffed from the bytes. `file_uri` (absolute, host-relative or
  the legacy `/restcomm/recordings/` form) is shown and offered as the browser link only.
- **Delete is hard and answers 200 with an empty body**; no update, no tags, no recycle bin.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Annotated, Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from rectui.errors import BadResponse, NotFound, PermissionDenied
from rectui.mediafiles import cache_path, sniff_file, temp_path
from rectui.models import Capabilities, Cursor, DeleteOutcome, ListQuery, Media, Page, Recording
from rectui.providers.base import DEFAULT_MAX_MEDIA_BYTES, BaseProvider
from rectui.providers.http import HeaderAuth, HttpEvent, OriginBoundAuth, error_for_response, safe_path
from rectui.sanitize import one_line

log = logging.getLogger("rectui.providers.restcomm")

ACCEPT_JSON = {"Accept": "application/json"}
SORT_FIELDS = {"start": "DateCreated", "duration": "Duration", "call_id": "CallSid"}
MAX_PAGE_SIZE = 1000          # the server has none; ListQuery's own bound, ~0.6 MB of JSON
MAX_SKIPPED_PAGES = 20        # pages emptied by the date trim that one call may read past
JUMP_WALK_LIMIT = 30          # pages one jump may read through in a date range sorted other than by date
MARGIN_KNOWN = timedelta(hours=3)      # the server's offset may change with DST across the range
MARGIN_UNKNOWN = timedelta(hours=15)   # no offset learnt yet: covers every offset from -12 to +14
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9._~/-]*")   # nothing a URL parser would change
_CALL_SID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


# -- wire models ----------------------------------------------------------------------------------
def _denull(value: Any) -> Any:
    """Restcomm writes "absent" as the string "null" (page links) or leaves the field out."""
    if isinstance(value, str) and value.strip().lower() in ("", "null"):
        return None
    return value


Loose = Annotated[Any, BeforeValidator(_denull)]


def _sid(value: Any) -> Any:
    value = _denull(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


class _Recording(BaseModel):
    """One element of `recordings[]` (and the whole body of the single-recording GET)."""

    model_config = ConfigDict(extra="allow")

    sid: Annotated[str, BeforeValidator(_sid)]
    date_created: Loose = None
    date_updated: Loose = None
    account_sid: Loose = None
    call_sid: Loose = None
    duration: Loose = None
    api_version: Loose = None
    uri: Loose = None
    file_uri: Loose = None
    s3_uri: Loose = None

    def to_recording(self, provider: RestcommProvider, raw: dict[str, Any]) -> tuple[Recording, int]:
        """The neutral recording, and how many of its fields could not be read."""
        bad = 0
        start = offset = None
        try:
            start, offset = _parse_date(self.date_created)
        except ValueError:
            bad += 1
        if offset is not None:
            provider.server_offset = offset
        try:
            duration = _parse_duration(self.duration)
        except ValueError:
            duration = None
            bad += 1
        call_sid = _text(self.call_sid)
        account = _text(self.account_sid)
        rec = Recording(
            provider=provider.id,
            id=self.sid,
            id_valid=provider.id_is_safe(self.sid),
            title="",
            start=start,
            duration=duration,
            owner=account,
            call_id=call_sid,
            status="available",
            has_media=True,
            viewer_url=provider.browser_link(self.file_uri),
            details=partial(_details, raw, start, duration),     # built when the row is opened
            raw=raw,
        )
        return rec, bad


def _details(raw: dict[str, Any], start: datetime | None, duration: float | None) -> dict[str, str]:
    """Every field the server gave, as label → readable value."""
    details: dict[str, str] = {}
    for key, value in raw.items():
        value = _denull(value)
        if value is None:
            continue
        label = _LABELS.get(key, key)
        if key == "duration" and duration is not None:
            details[label] = f"{duration:g} s"
        elif key == "date_created" and start is not None:
            details[label] = f"{start:%Y-%m-%d %H:%M:%S} UTC ({value})"
        else:
            details[label] = value if isinstance(value, str) else _json_text(value)
    return details


class _ListPage(BaseModel):
    """The list envelope (`RecordingListConverter`)."""

    model_config = ConfigDict(extra="allow")

    page: int = Field(ge=0)
    num_pages: int = Field(ge=0)
    page_size: int | None = None
    total: int = Field(ge=0)
    start: Loose = None
    end: Loose = None
    uri: Loose = None
    first_page_uri: Loose = None
    previous_page_uri: Loose = None
    next_page_uri: Loose = None
    last_page_uri: Loose = None
    recordings: list[Any]


_LABELS = {
    "sid": "Recording SID", "date_created": "Created", "date_updated": "Updated", "account_sid": "Account SID",
    "call_sid": "Call SID", "duration": "Duration", "api_version": "API version", "uri": "Resource URI",
    "file_uri": "File URI", "s3_uri": "S3 URI",
}


def _json_text(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except ValueError:
        return str(value)


def _text(value: Any) -> str | None:
    value = _denull(value)
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def _parse_date(value: Any) -> tuple[datetime | None, timedelta | None]:
    """`EEE, d MMM yyyy HH:mm:ss Z` (any RFC 2822 form; ISO 8601 accepted too) → (UTC time, the
    offset it was written in). None for an absent value; ValueError for an unreadable one."""
    if value is None:
        return None, None
    if not isinstance(value, str):
        raise ValueError("not a date")
    text = value.strip()
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("not a date") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:   # RFC 2822 "-0000": UTC, zone unknown
        return parsed.replace(tzinfo=UTC), None
    return parsed.astimezone(UTC), parsed.utcoffset()


def _parse_duration(value: Any) -> float | None:
    """Seconds, written as a decimal string ("14.70275"); a number is accepted too."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("not a duration")
    seconds = float(value)          # ValueError for "n/a"
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        raise ValueError("not a duration")
    return seconds


# -- paging state -----------------------------------------------------------------------------------
@dataclass
class _Rows:
    """The rows kept over the server pages one call reads, and what was left out."""

    items: list[Recording] = field(default_factory=list)
    no_sid: int = 0
    unreadable: int = 0
    repeated: int = 0


class RestcommProvider(BaseProvider):
    """Restcomm recordings: `…/2012-04-24/Accounts/{AccountSid}/Recordings`, HTTP Basic."""

    kind: ClassVar[str] = "restcomm"
    capabilities: ClassVar[Capabilities] = Capabilities(
        page_style="number",
        exact_total=True,
        server_sort=frozenset({"start", "duration", "call_id"}),
        server_filters=frozenset({"since", "until", "call_id"}),
        max_page_size=MAX_PAGE_SIZE,
        media=True,
        can_delete=True,
        can_restore=False,
        can_purge=False,
        server_tags=False,
        can_rename=False,
        rename_fields=(),
    )
    # Sid.java: two letters and 32 characters; recordings are "RE" + 32 hex digits.
    ID_PATTERN: ClassVar[re.Pattern[str]] = re.compile(r"RE[0-9A-Za-z]{32}")
    ORDER_APPROXIMATE: ClassVar[bool] = False

    def __init__(self, name: str, settings: Any, **kwargs: Any) -> None:
        super().__init__(name, settings, **kwargs)
        self.account_sid: str = settings.account_sid
        self._origin = str(self.http.url("/")).rstrip("/")
        self._account = f"Accounts/{quote(self.account_sid, safe='')}"
        self._recordings = f"{self._account}/Recordings"
        self.server_offset: timedelta | None = None
        """The server's UTC offset as its dates show it (learnt from the first rows read)."""

    def make_auth(self) -> OriginBoundAuth | None:
        return HeaderAuth.basic(self.settings.origins, self.settings.account_sid, self.settings.auth_token)

    def describe(self) -> str:
        return f"{super().describe()} (account {self.settings.account_sid})"

    # -- listing ------------------------------------------------------------------------------
    def _listable(self, query: ListQuery) -> ListQuery:
        if query.status not in (None, "available"):
            raise self.unsupported(f"list {query.status} recordings",
                                   "deletes are permanent and there is no recycle bin")
        update: dict[str, Any] = {"status": None}
        if query.call_id is not None:
            update["call_id"] = query.call_id.strip() or None     # a blank search field is no filter
        q = query.model_copy(update=update)
        self.require(q)
        return q

    @staticmethod
    def _query_key(q: ListQuery) -> str:
        return hashlib.sha256(q.model_dump_json(exclude={"page_size"}).encode()).hexdigest()[:16]

    def _server_days(self, q: ListQuery) -> tuple[str | None, str | None]:
        """Whole server days (`yyyy-MM-dd`) whose span surely covers [since, until]: the server
        takes `StartTime` as that day's midnight in its zone and `EndTime` as the end of its day."""
        offset, margin = (self.server_offset, MARGIN_KNOWN) if self.server_offset is not None else (
            timedelta(0), MARGIN_UNKNOWN)
        first = last = None
        try:
            if q.since is not None:
                first = _day(q.since + offset - margin)
            if q.until is not None:
                last = _day(q.until + offset + margin)
        except OverflowError:
            pass   # a range at the ends of time: leave that bound to the trim
        return first, last

    def _list_params(self, q: ListQuery, size: int, days: tuple[str | None, str | None]) -> dict[str, str]:
        params = {"PageSize": str(size)}
        if days[0] is not None:
            params["StartTime"] = days[0]
        if days[1] is not None:
            params["EndTime"] = days[1]
        if q.call_id is not None:
            params["CallSid"] = q.call_id
        if q.sort is not None:
            params["SortBy"] = f"{SORT_FIELDS[q.sort.key]}:{'desc' if q.sort.descending else 'asc'}"
        return params

    def page_cursor(self, query: ListQuery, number: int) -> Cursor:
        """The cursor of page `number` (1-based) of `query`, in one of two forms.

        Without a date range: server page `number - 1`, with no edge row (nothing to compare
        with) and, as every cursor of such a query has, no server-day window, floor or ceiling;
        `j` marks a jump, so a page past the end (the list shrank since its count was shown)
        lists the last page instead.

        With a date range the trim makes pages uneven, skips empty ones, and the day window and
        floor are only learnt from the first page, so the cursor holds just the number (`w`) and
        the listing finds the page (`_jump_in_range`)."""
        q = self._listable(query)
        number = self.jump_number(number)
        if q.since is None and q.until is None:
            return self._page_at(q, number - 1, self.page_size(q), jump=True)
        return self.cursor(w=number, n=self.page_size(q), q=self._query_key(q))

    def _page_at(self, q: ListQuery, page: int, size: int, *, jump: bool = False) -> Cursor:
        """A cursor to server page `page` (0-based) of a query with no date range."""
        extra = {"j": 1} if jump else {}
        return self.cursor(p=page, d=1, n=size, q=self._query_key(q), s=None, e=None, b=None, f=0, c=None, **extra)

    async def list_recordings(self, query: ListQuery, cursor: Cursor | None = None) -> Page:
        q = self._listable(query)
        state = self.read_cursor(cursor)
        key = self._query_key(q)
        if state and state.get("q") != key:
            raise ValueError("this cursor belongs to a different query")
        if q.call_id is not None and not set(q.call_id) <= _CALL_SID_CHARS:
            # CallSid is an SQL LIKE: `%` and `_` would be wildcards. No call SID holds them.
            return Page(items=(), total=0, page_number=1, page_count=1, sorted_on_server=q.sort is not None)
        if "w" in state:
            return await self._jump_in_range(query, q, self.jump_number(int(state["w"])))
        size = int(state.get("n") or self.page_size(q))
        days = (state.get("s"), state.get("e")) if state else self._server_days(q)
        params = self._list_params(q, size, days)
        direction = -1 if state.get("d") == -1 else 1
        edge = state.get("b")
        trims = q.since is not None or q.until is not None

        page = lo = hi = int(state.get("p", 0))
        # Pages below `floor` and above `ceiling` hold nothing in the date range (learnt from rows
        # trimmed off a time-ordered list; carried in the cursors).
        floor = int(state.get("f") or 0)
        ceiling = state.get("c")
        rows = _Rows()
        seen: set[str] = set()
        body: _ListPage | None = None
        skipped_out = False
        for hop in range(MAX_SKIPPED_PAGES + 1):
            fetched = await self._fetch_page(params, page)
            if fetched is None and state.get("j"):
                return await self._jump_to_last(query, q, params)
            if fetched is None:
                return await self._past_the_end(q, key, size, days, params, page)
            body = fetched
            lo, hi = min(lo, page), max(hi, page)
            kept = len(rows.items)
            before, after = self._rows(body, q, edge, direction, seen, rows)
            kept = len(rows.items) - kept
            if before:
                floor = max(floor, page if kept else page + 1)
            if after:
                ceiling = min(ceiling if ceiling is not None else page, page if kept else page - 1)
            if rows.items or not trims:
                break
            if direction > 0:
                if not self._more_after(body, page, size) or (ceiling is not None and page + 1 > ceiling):
                    break
            elif page - 1 < floor:
                break
            if hop == MAX_SKIPPED_PAGES:
                skipped_out = True
                break
            page += direction
        assert body is not None
        if state.get("j") and not rows.items and page > 0 and page * size >= body.total:
            return await self._jump_to_last(query, q, params)     # the extra empty page, or past it

        warnings: list[str] = []
        if rows.no_sid:
            warnings.append(f"{rows.no_sid} item(s) without a recording SID were skipped")
        if rows.unreadable:
            warnings.append(f"{rows.unreadable} field(s) could not be read and are shown as unknown")
        if rows.repeated:
            warnings.append(f"{rows.repeated} recording(s) already on the neighbouring page were left out "
                            "(the list changed while paging)")
        if skipped_out:
            warnings.append(f"{MAX_SKIPPED_PAGES} pages held no recordings in the date range; keep paging")
        elif not rows.items and not trims and body.recordings == [] and hi * size < body.total:
            warnings.append(f"empty page {hi + 1} of {_page_count(body.total, size)} from the server")

        has_next = self._more_after(body, hi, size) and (ceiling is None or hi + 1 <= ceiling)
        has_prev = lo - 1 >= floor
        items = rows.items

        def make(p: int, d: int, row: Recording | None) -> Cursor:
            b = [row.id, row.start.timestamp() if row.start else None] if row is not None else None
            return self.cursor(p=p, d=d, n=size, q=key, s=days[0], e=days[1], b=b, f=floor, c=ceiling)

        return Page(
            items=tuple(items),
            next=make(hi + 1, 1, items[-1] if items else None) if has_next else None,
            prev=make(lo - 1, -1, items[0] if items else None) if has_prev else None,
            total=None if trims else body.total,
            page_number=None if trims else lo + 1,
            page_count=None if trims else _page_count(body.total, size),
            sorted_on_server=q.sort is not None,
            warnings=tuple(warnings),
        )

    @staticmethod
    def _more_after(body: _ListPage, page: int, size: int) -> bool:
        """Whether a page after `page` holds rows: not the extra empty page a total that is a
        multiple of the size produces, and never past `num_pages` (a 400)."""
        return (page + 1) * size < body.total and page < body.num_pages

    async def _fetch_page(self, params: dict[str, str], page: int) -> _ListPage | None:
        """One list page; None when the page no longer exists (400 past the end)."""
        try:
            response = await self._send("GET", f"{self._recordings}.json", params={**params, "Page": str(page)})
        except BadResponse as exc:
            if exc.status == 400 and page > 0:
                return None
            raise
        data = self.http.parse_json(response)
        return self.parse(_ListPage, data, "GET recordings")

    async def _jump_in_range(self, query: ListQuery, q: ListQuery, number: int) -> Page:
        """Page `number` of a date-ranged listing, as following `next` from the first page reaches it.

        In time order the pages in the range are consecutive server pages: page `number` is the
        first page's server page plus `number - 1`, one request after the first page's; past the
        end of the range, the last page with rows is found by bisection (a few requests) and
        returned with a warning. Other sorts scatter the range over every server page, so the
        adapter follows `next` itself, at most `JUMP_WALK_LIMIT` pages."""
        page = await self.list_recordings(query)
        if number == 1 or page.next is None:
            return self._past_range(page, number, 1)
        if q.sort is not None and q.sort.key != "start":
            if number - 1 > JUMP_WALK_LIMIT:
                raise self.unsupported(f"go to page {number:,} of a date range sorted by {q.sort.key}",
                                       f"it is found by reading every page before it; at most page "
                                       f"{JUMP_WALK_LIMIT + 1} (use next, or sort by date)")
            reached = 1
            while reached < number and page.next is not None:
                page, reached = await self.list_recordings(query, page.next), reached + 1
            return self._past_range(page, number, reached)
        template = self.read_cursor(page.next)        # page 2: the server page after page 1's

        async def at(server_page: int) -> Page:
            return await self.list_recordings(query, self.cursor(**{**template, "p": server_page, "b": None}))

        second, size = int(template["p"]), int(template["n"])
        target = await at(second + number - 2)
        if target.items:
            return target
        # Past the range: bisect below the target, and below the server's last page (its count for
        # the day window), so no probe costs a 400 and a second request.
        counted = await self._fetch_page(self._list_params(q, size, (template.get("s"), template.get("e"))), 0)
        end = _page_count(counted.total, size) - 1 if counted is not None else second + number - 3
        last, reached, lo, hi = page, 1, second, min(second + number - 3, end)
        while lo <= hi:                               # the last server page that holds rows
            mid = (lo + hi) // 2
            probe = await at(mid)
            if probe.items:
                last, reached, lo = probe, mid - second + 2, mid + 1
            else:
                hi = mid - 1
        return self._past_range(last, number, reached)

    @staticmethod
    def _past_range(page: Page, wanted: int, reached: int) -> Page:
        """`page`, which is page `reached`; when page `wanted` was asked, past the range's end, say so."""
        if reached >= wanted:
            return page
        note = f"page {wanted:,} is past the end of the date range: this is its last page, page {reached:,}"
        return page.model_copy(update={"warnings": (*page.warnings, note)})

    async def _jump_to_last(self, query: ListQuery, q: ListQuery, params: dict[str, str]) -> Page:
        """A jump past the end (the list shrank since its count was shown): the last page."""
        first = await self._fetch_page(params, 0)
        assert first is not None
        size = int(params["PageSize"])
        return await self.list_recordings(query, self._page_at(q, _page_count(first.total, size) - 1, size))

    async def _past_the_end(self, q: ListQuery, key: str, size: int, days: tuple[str | None, str | None],
                            params: dict[str, str], page: int) -> Page:
        """The list shrank under a cursor: say so, and offer the new last page as previous."""
        first = await self._fetch_page(params, 0)
        assert first is not None
        last = max(0, _page_count(first.total, size) - 1)
        prev = self.cursor(p=last, d=-1, n=size, q=key, s=days[0], e=days[1], b=None) if last < page else None
        trims = q.since is not None or q.until is not None
        return Page(items=(), next=None, prev=prev, total=None if trims else first.total,
                    sorted_on_server=q.sort is not None,
                    warnings=(f"page {page + 1} no longer exists: recordings were deleted while paging",))

    def _rows(self, body: _ListPage, q: ListQuery, edge: list[Any] | None, direction: int, seen: set[str],
              rows: _Rows) -> tuple[bool, bool]:
        """Add the page's rows that belong on this page to `rows`. Returns whether rows lay before
        and after the date range *in list order* (only a time-ordered list tells: then nothing
        before, or after, this page is in the range)."""
        by_start = q.sort is None or q.sort.key == "start"
        ascending = q.sort is not None and not q.sort.descending
        edge_sid = edge[0] if edge else None
        edge_ts = edge[1] if edge else None
        early = late = False
        for raw in body.recordings:
            if not isinstance(raw, dict):
                rows.no_sid += 1
                continue
            try:
                wire = _Recording.model_validate(raw)
            except ValidationError:
                rows.no_sid += 1
                continue
            rec, bad = wire.to_recording(self, raw)
            rows.unreadable += bad
            if rec.id in seen:
                rows.repeated += 1
                continue
            if rec.start is not None:
                older = q.since is not None and rec.start < q.since
                newer = q.until is not None and rec.start > q.until
                if older or newer:
                    if by_start:   # newest first: newer rows come early; oldest first: older ones do
                        early |= newer if not ascending else older
                        late |= older if not ascending else newer
                    continue
            if edge_sid is not None and not _beyond_edge(rec, edge_sid, edge_ts, direction, by_start, ascending):
                rows.repeated += 1
                continue
            seen.add(rec.id)
            rows.items.append(rec)
        return early, late

    # -- one recording --------------------------------------------------------------------------
    async def get_recording(self, recording_id: str) -> Recording:
        seg = self.seg(recording_id)
        response = await self._send("GET", f"{self._recordings}/{seg}.json")
        data = self.http.parse_json(response)
        if not isinstance(data, dict):
            raise BadResponse(f"GET recording: expected one recording, got {type(data).__name__}", provider=self.id)
        wire = self.parse(_Recording, data, "GET recording")
        return wire.to_recording(self, data)[0]

    def browser_link(self, file_uri: Any) -> str | None:
        """`file_uri` (absolute, host-relative or legacy) as an absolute http(s) URL, or None."""
        if not isinstance(file_uri, str) or not file_uri.strip():
            return None
        # Fast path, nearly every row: a plain path on the configured origin, which joining and
        # normalising would leave as it is (httpx's URL parser was a third of a row's CPU).
        origin = self._origin
        path = file_uri[len(origin):] if file_uri.startswith(origin + "/") else file_uri
        if _PLAIN_PATH.fullmatch(path) and "/." not in path and "//" not in path:
            return origin + path
        try:
            url = self.http.url(file_uri.strip())
        except (httpx.InvalidURL, ValueError):
            return None
        if url.scheme not in ("http", "https") or not url.host:
            return None
        return str(url)

    # -- media ----------------------------------------------------------------------------------
    async def fetch_media(self, recording: Recording, dest_dir: Path, *,
                          max_bytes: int = DEFAULT_MAX_MEDIA_BYTES) -> Media:
        """The file, unauthenticated, from the configured origin (never a server-given URL): the
        credential-free media client follows the 307 to a presigned S3 link when there is one."""
        seg = self.seg(recording.id)
        ext = "mp4" if _is_mp4(recording.raw.get("file_uri")) else "wav"   # a video call's stored file
        url = self.http.url(f"{self._recordings}/{seg}.{ext}")
        tmp = temp_path(cache_path(dest_dir, self.id, self.account_sid, recording.id, "unknown"))
        for attempt in (1, 2):
            try:
                size, ctype = await self.http.download(url, tmp, max_bytes=max_bytes, media=True)
                break
            except PermissionDenied as exc:
                # A presigned S3 link answers 403 once expired; the .wav route mints a fresh one.
                if attempt == 2:
                    raise PermissionDenied(f"GET {safe_path(url)}: the storage link was refused twice (expired or "
                                           "not allowed); try again later.", provider=self.id,
                                           status=exc.status) from None
        fmt = sniff_file(tmp)
        if size == 0 or fmt == "unknown":
            tmp.unlink(missing_ok=True)
            what = "is empty" if size == 0 else f"is not audio ({one_line(ctype or 'no type', limit=60)})"
            raise BadResponse(f"GET {safe_path(url)}: the recording file {what}", provider=self.id,
                              title="Not audio")
        final = cache_path(dest_dir, self.id, self.account_sid, recording.id, fmt)
        os.replace(tmp, final)
        return Media(path=final, format=fmt, size=size, content_type=ctype)

    # -- delete ---------------------------------------------------------------------------------
    async def delete_recording(self, recording_id: str) -> DeleteOutcome:
        """Hard delete (200, empty body). Sent once; after an ambiguous failure (5xx, timeout,
        reset) the recording is looked up: gone means deleted (reported as confirmed), still
        there means one more DELETE (`BaseProvider.verified_write`). A 404 on the first try means
        it was already gone."""
        seg = self.seg(recording_id)
        path = f"{self._recordings}/{seg}"

        async def send() -> None:
            await self._send("DELETE", path, idempotent=False)

        async def still_there() -> bool:
            await self.get_recording(recording_id)
            return True

        def gone(exc: NotFound) -> NotFound:
            return NotFound(f"DELETE {safe_path(self.http.url(path))}: the recording was already deleted.",
                            provider=self.id, status=404, title="Already deleted")

        def told(outcome: str) -> None:
            if outcome.startswith("confirmed"):
                self._report(path, "deleted (confirmed: the recording is gone after an ambiguous failure)")

        return await self.verified_write(send, still_there, already_gone=gone, on_outcome=told)

    def _report(self, path: str, message: str) -> None:
        log.info("%s DELETE %s: %s", self.id, safe_path(self.http.url(path)), message)
        self.http.emit(HttpEvent(self.id, "request", "DELETE", safe_path(self.http.url(path)), status=404,
                                  message=message))

    # -- plumbing -------------------------------------------------------------------------------
    async def _send(self, method: str, path: str, *, params: dict[str, str] | None = None,
                    idempotent: bool | None = None) -> httpx.Response:
        """A request with `Accept: application/json`; a 403 names an inactive account."""
        response = await self.http.request(method, path, params=params, headers=ACCEPT_JSON, idempotent=idempotent,
                                           ok=_ok_or_403)
        if response.status_code == 403:
            err = error_for_response(self.id, method, response)
            text = response.content[:200].decode("utf-8", "replace").strip()
            if "not active" in text.lower():
                err = PermissionDenied(f"{method} {safe_path(response.request.url)}: the Restcomm account is not "
                                       f"active ({one_line(text, limit=80)}); an administrator must reactivate it.",
                                       provider=self.id, status=403, title="Account not active")
            raise err
        return response

    async def check(self) -> None:
        """One cheap authenticated call: the first recording of the list."""
        response = await self._send("GET", f"{self._recordings}.json", params={"PageSize": "1", "Page": "0"})
        self.parse(_ListPage, self.http.parse_json(response), "GET recordings")


def _is_mp4(file_uri: Any) -> bool:
    if not isinstance(file_uri, str):
        return False
    try:
        return httpx.URL(file_uri.strip()).path.lower().endswith(".mp4")
    except (httpx.InvalidURL, ValueError):
        return False


def _ok_or_403(status: int) -> bool:
    return 200 <= status < 300 or status == 403


def _day(wall: datetime) -> str:
    """The date of a server wall-clock time (a UTC time shifted by the server's offset)."""
    return wall.astimezone(UTC).date().isoformat()


def _page_count(total: int, size: int) -> int:
    return max(1, -(-total // size))


def _beyond_edge(rec: Recording, edge_sid: str, edge_ts: float | None, direction: int, by_start: bool,
                 ascending: bool) -> bool:
    """Whether `rec` lies past the neighbouring page's edge row in the paging direction (so it
    was not on that page); only time order can be checked, other sorts check the SID alone."""
    if rec.id == edge_sid:
        return False
    if not by_start or edge_ts is None or rec.start is None:
        return True
    ts = rec.start.timestamp()
    later: Callable[[float, float], bool] = (lambda a, b: a > b) if ascending else (lambda a, b: a < b)
    return later(ts, edge_ts) or ts == edge_ts if direction > 0 else later(edge_ts, ts) or ts == edge_ts
