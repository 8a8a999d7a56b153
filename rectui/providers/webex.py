"""Webex Calling converged recordings (`https://webexapis.com/v1/convergedRecordings…`).

What this adapter survives (see the provider notes for the sources):

- **Time windows.** The listing covers 7 days unless `from`/`to` say otherwise, and a span may
  be at most 30 days. Without a date range the adapter walks back in 30-day windows, newest
  first, filling each page across windows, and stops at the horizon (`horizon_days`, two years by
  default) or after
  `MAX_EMPTY_WINDOWS` empty windows in a row. An explicit `since` is walked to in full, and so is
  a filtered listing (the recycle bin, a topic, a service type), which is sparse by nature.
- **Paging in the `Link` header only** (`rel="next"`, opaque, absolute): followed as given, but
  only to the configured API origin; filter parameters a link dropped are put back. The body is
  `{"items": [...]}` alone: no totals, no page numbers. A page that repeats rows already shown
  (a repeated or cyclic link) ends that window with a warning instead of looping.
- **No server sort**; the order is newest first by `createTime`, which is therefore `start`
  (`timeRecorded`, when the call began, is in the details).
- **Times** follow the optional `timezone` request header (sent when `time_zone` is set) and carry
  an offset; all are converted to UTC.
- **Ids** are UUIDs, with or without hyphens.
- **Media**: the list has no link. Every download asks for the details first
  (`temporaryDirectDownloadLinks.audioDownloadLink`, valid for 3 hours), never caches the link,
  fetches it on the credential-free media client, and on an expired or refused link asks for
  the details once more. Links are absent for admin tokens and "Prevent Downloading" recordings.
- **Deletes** are `POST …/softDelete` into the recycle bin (`status=deleted` lists it), with
  `…/restore` and `…/purge`; the compliance officer's permanent `DELETE` is never used. A write
  whose outcome is unknown (5xx, timeout) is checked with a GET of the details, and retried
  once only if it did not apply.
- **Rate limits**: 429 with `Retry-After` (the HTTP core), and 423 Locked with `Retry-After`.
- No tags, no rename: tags are kept locally.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from functools import partial
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from rectui.errors import (
    AuthError,
    BadResponse,
    NotFound,
    PermissionDenied,
    ProviderError,
    RateLimited,
)
from rectui.mediafiles import cache_path, sniff_file
from rectui.models import Capabilities, Cursor, DeleteOutcome, ListQuery, Media, Page, Recording, RecordingStatus
from rectui.providers.base import DEFAULT_MAX_MEDIA_BYTES, BaseProvider
from rectui.providers.http import (
    HeaderAuth,
    HttpEvent,
    OriginBoundAuth,
    RetryPolicy,
    origin_of,
    parse_retry_after,
    safe_path,
)

log = logging.getLogger("rectui.providers.webex")

LIST = "convergedRecordings"
_STATUSES: dict[str, RecordingStatus] = {"available": "available", "deleted": "deleted", "purged": "purged"}


# -- wire models ---------------------------------------------------------------------------------

class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class _ServiceData(_Wire):
    locationId: str | None = None
    callSessionId: str | None = None


class _Links(_Wire):
    audioDownloadLink: str | None = None
    transcriptDownloadLink: str | None = None
    expiration: datetime | None = None


class _Party(_Wire):
    name: str | None = None
    number: str | None = None

    def text(self) -> str | None:
        if self.name and self.number:
            return f"{self.name} <{self.number}>"
        return self.name or self.number


class _Activity(_Wire):
    callType: str | None = None
    direction: str | None = None


class _MetaService(_Wire):
    callingParty: _Party | None = None
    calledParty: _Party | None = None
    callId: str | None = None
    callRecordingId: str | None = None
    recordingType: str | None = None
    callActivity: list[_Activity] = []


class _Metadata(_Wire):
    """`GET /convergedRecordings/{id}/metadata`: the call's parties and activity."""

    ownerName: str | None = None
    orgId: str | None = None
    serviceData: _MetaService | None = None


class _ListBody(_Wire):
    items: list[Any]


class _Item(_Wire):
    """One recording as the list and the details call give it."""

    id: str
    topic: str | None = None
    createTime: datetime | None = None
    timeRecorded: datetime | None = None
    format: str | None = None
    serviceType: str | None = None
    durationSeconds: float | None = None
    sizeBytes: int | None = None
    status: str | None = None
    ownerId: str | None = None
    ownerEmail: str | None = None
    ownerType: str | None = None
    storageRegion: str | None = None
    serviceData: _ServiceData | None = None
    temporaryDirectDownloadLinks: _Links | None = None

    @classmethod
    def lenient(cls, data: Any) -> tuple[_Item | None, tuple[str, ...]]:
        """The item and the names of fields that could not be read (left empty). None when the
        item has no usable id (it cannot be acted on, so it is left out and counted)."""
        if not isinstance(data, dict):
            return None, ("(item)",)
        rid = data.get("id")
        if not isinstance(rid, str) or not rid.strip():
            return None, ("id",)
        doc = dict(data)
        try:
            return cls.model_validate(doc), ()
        except ValidationError as exc:
            bad = tuple(sorted({str(e["loc"][0]) for e in exc.errors(include_url=False) if e["loc"]}))
        for name in bad:
            doc[name] = None
        try:
            return cls.model_validate(doc), bad
        except ValidationError:
            return None, bad

    def time(self, name: str, zone: tzinfo | None) -> datetime | None:
        value = getattr(self, name)
        return _utc(value, zone) if isinstance(value, datetime) else None

    def to_recording(self, provider: str, *, id_valid: bool, zone: tzinfo | None, raw: dict[str, Any],
                     detail: bool = False, meta: _Metadata | None = None, meta_note: str | None = None,
                     bad: tuple[str, ...] = ()) -> Recording:
        status = _STATUSES.get(self.status or "", "unknown")
        duration = self.durationSeconds if self.durationSeconds is not None and self.durationSeconds >= 0 else None
        size = self.sizeBytes if self.sizeBytes is not None and self.sizeBytes >= 0 else None
        links = self.temporaryDirectDownloadLinks
        has_media, note = True, None
        if status == "deleted":
            has_media, note = False, "in the recycle bin: restore it to play it"
        elif status not in ("available", "unknown"):
            has_media, note = False, f"the recording is {status}"
        elif detail and (links is None or not links.audioDownloadLink):
            has_media, note = False, ("no download link: downloads are prevented for this recording, or this "
                                      "token has admin scope (admins get no download links)")
        svc = meta.serviceData if meta is not None else None
        activity = svc.callActivity[0] if svc is not None and svc.callActivity else None
        return Recording(
            provider=provider,
            id=self.id,
            id_valid=id_valid,
            title=self.topic or "",
            start=self.time("createTime", zone),
            duration=duration,
            caller=svc.callingParty.text() if svc is not None and svc.callingParty is not None else None,
            callee=svc.calledParty.text() if svc is not None and svc.calledParty is not None else None,
            owner=self.ownerEmail or self.ownerId,
            direction=activity.direction.lower() if activity is not None and activity.direction else None,
            status=status,
            call_id=self.serviceData.callSessionId if self.serviceData is not None else None,
            size=size,
            has_media=has_media,
            media_note=note,
            details=partial(_details, self, raw, zone, detail=detail, meta=meta, meta_note=meta_note,  # when opened
                            bad=bad),
            raw=_without_links(raw),
        )


# -- detail-pane text ----------------------------------------------------------------------------

_LABELS = {
    "id": "ID", "topic": "Topic", "createTime": "Created (file produced)",
    "timeRecorded": "Recording started", "format": "Format", "serviceType": "Service type",
    "durationSeconds": "Duration", "sizeBytes": "Size", "status": "Status", "ownerId": "Owner ID",
    "ownerEmail": "Owner email", "ownerType": "Owner type", "storageRegion": "Storage region",
    "serviceData.locationId": "Location ID", "serviceData.callSessionId": "Call session ID",
}
_META_LABELS = {
    "ownerName": "Owner name", "orgId": "Organisation ID", "version": "Metadata version",
    "serviceData.callRecordingId": "Call recording ID", "serviceData.callId": "Call ID",
    "serviceData.recordingType": "Recording type", "serviceData.session.startTime": "Session start",
    "serviceData.callingParty.name": "Caller name", "serviceData.callingParty.number": "Caller number",
    "serviceData.callingParty.actor.id": "Caller person ID", "serviceData.callingParty.actor.type": "Caller kind",
    "serviceData.calledParty.name": "Callee name", "serviceData.calledParty.number": "Callee number",
    "serviceData.calledParty.actor.id": "Callee person ID", "serviceData.calledParty.actor.type": "Callee kind",
    "serviceData.callActivity[0].callType": "Call type", "serviceData.callActivity[0].direction": "Direction",
}
# Metadata fields that repeat the details document.
_META_SKIP = {"id", "ownerId", "ownerType", "ownerEmail", "storageRegion", "serviceType",
              "serviceData.locationId", "serviceData.callSessionId"}
_LINK_KEYS = "temporaryDirectDownloadLinks"


def _utc(value: datetime, zone: tzinfo | None) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=zone or UTC)
    return value.astimezone(UTC)


def _iso(value: datetime) -> str:
    """UTC, millisecond precision, `Z` (any ISO 8601 form is accepted by the API)."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration_text(seconds: float) -> str:
    s = round(seconds)
    h, m, sec = s // 3600, s % 3600 // 60, s % 60
    clock = f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
    return f"{clock} ({seconds:g} s)"


def _scalar(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _flatten(value: Any, path: str, out: dict[str, str], labels: Mapping[str, str], skip: set[str]) -> None:
    if path in skip:
        return
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(inner, f"{path}.{key}" if path else str(key), out, labels, skip)
    elif isinstance(value, list) and value and any(isinstance(v, dict | list) for v in value):
        for n, inner in enumerate(value):
            _flatten(inner, f"{path}[{n}]", out, labels, skip)
    elif isinstance(value, list):
        out[labels.get(path, path)] = ", ".join(_scalar(v) for v in value) or "—"
    else:
        out[labels.get(path, path)] = _scalar(value)


def _details(item: _Item, raw: dict[str, Any], zone: tzinfo | None, *, detail: bool, meta: _Metadata | None,
             meta_note: str | None, bad: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    _flatten({k: v for k, v in raw.items() if k != _LINK_KEYS}, "", out, _LABELS, set())
    # Readable forms of the typed fields (the raw text stays in `raw`).
    for name in ("createTime", "timeRecorded"):
        if (t := item.time(name, zone)) is not None:
            out[_LABELS[name]] = _when(t)
    if item.durationSeconds is not None and item.durationSeconds >= 0:
        out[_LABELS["durationSeconds"]] = _duration_text(item.durationSeconds)
    if item.sizeBytes is not None and item.sizeBytes >= 0:
        out[_LABELS["sizeBytes"]] = f"{item.sizeBytes:,} bytes"
    if detail:
        links = item.temporaryDirectDownloadLinks
        if links is not None and links.audioDownloadLink:
            expiry = f", expires {_when(_utc(links.expiration, zone))}" if links.expiration else ""
            out["Download link"] = f"temporary{expiry} (asked for again on every play, never stored)"
        else:
            out["Download link"] = "none (downloads prevented, or an admin token)"
        if links is not None:
            for key, value in links.model_dump(exclude={"audioDownloadLink", "expiration"}).items():
                if isinstance(value, str) and key.endswith("DownloadLink"):
                    out[key.removesuffix("DownloadLink") + " link"] = "available (temporary)"
    if meta is not None:
        _flatten(meta.model_dump(mode="json"), "", out, _META_LABELS, _META_SKIP)
    elif detail and meta_note:
        out["Call metadata"] = meta_note
    if bad:
        out["Unreadable fields"] = ", ".join(bad)
    return out


def _without_links(raw: dict[str, Any]) -> dict[str, Any]:
    """The wire document without the temporary links' URLs (they carry a ticket and expire)."""
    links = raw.get(_LINK_KEYS)
    if not isinstance(links, dict):
        return dict(raw)
    kept = {k: ("(temporary link, not kept)" if isinstance(v, str) and k.endswith("Link") else v)
            for k, v in links.items()}
    return {**raw, _LINK_KEYS: kept}


# -- the listing position behind the opaque cursor ---------------------------------------------

@dataclass
class _Pos:
    """Where a listing continues: window `i` back from `top`, its next page link (None: the
    window's first page), the last row taken from a partly used page, and what was emitted last
    (to drop rows a repeated page shows again)."""

    q: str                      # fingerprint of the query's filters
    top: str                    # newest bound of the walk (exclusive), ISO UTC
    floor: str                  # oldest bound: `since`, or the horizon
    stop_empty: bool            # stop after MAX_EMPTY_WINDOWS empty windows (not with `since` or filters)
    i: int = 0                  # window index, counting back from `top`
    url: str | None = None      # next page of window i, as the API linked it
    after: str | None = None    # id of the last row taken from the page at `url` (partly used)
    t: str | None = None        # createTime (ISO UTC) of the last row emitted
    ids: list[str] = field(default_factory=list)   # ids emitted at exactly `t`
    empty: int = 0              # windows in a row that held nothing
    seen: bool = False          # window i has held rows
    blank: int = 0              # empty pages in a row that still linked onward


@dataclass
class _Fetched:
    rows: list[tuple[_Item, dict[str, Any], tuple[str, ...]]]
    next_url: str | None
    url: str
    dropped: int


class WebexProvider(BaseProvider):
    """Webex Calling converged recordings for the token's own user (`spark:recordings_*`)."""

    kind: ClassVar[str] = "webex"
    capabilities: ClassVar[Capabilities] = Capabilities(
        page_style="cursor",            # Link rel="next" only
        exact_total=False,              # the body is {"items": [...]} alone
        server_sort=frozenset(),        # none: always newest first by createTime
        server_filters=frozenset({"since", "until", "status", "topic", "service_type"}),
        max_page_size=100,
        media=True,
        can_delete=True,                # softDelete into the recycle bin
        can_restore=True,
        can_purge=True,
        server_tags=False,
        can_rename=False,
    )
    ID_PATTERN: ClassVar[re.Pattern[str]] = re.compile(
        r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}")
    ORDER_APPROXIMATE: ClassVar[bool] = False
    HORIZON: ClassVar[timedelta] = timedelta(days=730)
    WINDOW: ClassVar[timedelta] = timedelta(days=30)         # the API's largest from–to span
    MAX_EMPTY_WINDOWS: ClassVar[int] = 6
    MAX_BLANK_PAGES: ClassVar[int] = 3                       # empty pages that still link onward
    MAX_REQUESTS_PER_PAGE: ClassVar[int] = 64
    FUTURE_SLACK: ClassVar[timedelta] = timedelta(minutes=10)  # our clock may be behind the server's
    LOCKED_WAIT: ClassVar[float] = 30.0                      # longest 423 Retry-After waited out
    LEFTOVER_TTL: ClassVar[float] = 120.0                    # seconds a partly used page is reused

    def __init__(self, name: str, settings: Any, **kwargs: Any) -> None:
        super().__init__(name, settings, **kwargs)
        tz_name = getattr(settings, "time_zone", None)
        self._headers: dict[str, str] = {"timezone": tz_name} if tz_name else {}
        self._zone: tzinfo | None = None
        if tz_name:
            try:
                self._zone = ZoneInfo(tz_name)
            except (ZoneInfoNotFoundError, ValueError):
                self._zone = None
        self._account = str(httpx.URL(settings.base_url).copy_with(query=None, fragment=None))
        self._prev: OrderedDict[str, str] = OrderedDict()
        self._leftovers: OrderedDict[str, tuple[float, _Fetched]] = OrderedDict()
        self.delete_outcomes: OrderedDict[str, str] = OrderedDict()
        """Recording id → how its last delete, restore or purge ended (`deleted`, `deleted-confirmed`,
        `deleted-confirmed-by-404`, `already-gone`, `unknown`, `restored`, `purged`…), for the journal."""
        self.horizon = timedelta(days=getattr(settings, "horizon_days", None) or self.HORIZON.days)
        """How far back a listing without `since` walks (`horizon_days`, default `HORIZON`)."""

    def make_auth(self) -> OriginBoundAuth | None:
        return HeaderAuth.bearer(self.origins, self.settings.access_token)

    def default_policy(self) -> RetryPolicy:
        # Webex should send Retry-After with a 429; without one, back off from 2 s.
        return RetryPolicy(rate_limit_base=2.0)

    # -- requests ------------------------------------------------------------------------------
    async def _call(self, method: str, url: str, *, params: Mapping[str, Any] | None = None,
                    json_body: Any = None) -> httpx.Response:
        """One API call with the `timezone` header; 423 Locked waited out when its Retry-After is
        short; a 401 says what to do about a Webex token."""
        for attempt in range(1, 4):
            try:
                response = await self.http.request(method, url, params=params, json_body=json_body,
                                                   headers=self._headers, ok=lambda s: 200 <= s < 300 or s == 423)
            except AuthError as exc:
                raise AuthError(f"{exc.message} Webex access tokens expire (a personal access token after 12 "
                                "hours): put a new one in access_token.", provider=self.id, status=exc.status,
                                correlation_id=exc.correlation_id) from None
            if response.status_code != 423:
                return response
            wait = parse_retry_after(response.headers.get("retry-after"), self.wall())
            if wait is None or wait > self.LOCKED_WAIT or attempt == 3:
                raise RateLimited(f"{method} {safe_path(response.request.url)}: locked (423); "
                                  "try again later.", retry_after=wait, provider=self.id, status=423,
                                  title="Locked", correlation_id=response.headers.get("trackingid"))
            await self.http.sleep(wait)
        raise AssertionError("unreachable")

    async def _json(self, url: str, params: Mapping[str, Any] | None = None) -> tuple[Any, httpx.Response]:
        response = await self._call("GET", url, params=params)
        return self.http.parse_json(response), response

    # -- listing -------------------------------------------------------------------------------
    def _fingerprint(self, query: ListQuery) -> str:
        parts = [query.since, query.until, query.status, query.topic, query.service_type]
        return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:16]

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.wall(), UTC)

    def _start(self, query: ListQuery, fp: str) -> _Pos:
        now = self._now()
        top = now + self.FUTURE_SLACK if query.until is None else min(query.until, now + self.FUTURE_SLACK)
        floor = query.since if query.since is not None else now - self.horizon
        # whole milliseconds (what is sent): `to` rounded up, `from` down, so nothing falls between
        top_ms = top.replace(microsecond=top.microsecond // 1000 * 1000)
        if top_ms < top:
            top_ms += timedelta(milliseconds=1)
        floor = floor.replace(microsecond=floor.microsecond // 1000 * 1000)
        top = top_ms
        # Empty windows end only an unfiltered walk: a filtered one (the recycle bin, a topic) is
        # sparse by nature and walks to the horizon; an explicit `since` is walked to in full.
        filtered = query.status == "deleted" or query.topic is not None or query.service_type is not None
        return _Pos(q=fp, top=_iso(top), floor=_iso(floor), stop_empty=query.since is None and not filtered)

    def _token(self, pos: _Pos) -> str:
        return self.cursor(**asdict(pos)).token

    def _read_pos(self, cursor: Cursor, fp: str) -> _Pos:
        try:
            pos = _Pos(**self.read_cursor(cursor))
        except (TypeError, ValueError):
            raise ProviderError("This page cursor is not a Webex listing position; start again from the first "
                                "page.", provider=self.id, title="Stale cursor") from None
        if pos.q != fp:
            raise ProviderError("This page cursor belongs to a listing with other filters; start again from the "
                                "first page.", provider=self.id, title="Stale cursor")
        return pos

    def _bounds(self, pos: _Pos) -> tuple[datetime, datetime] | None:
        """Window `pos.i` as (from, to), or None past the end of the walk."""
        if pos.stop_empty and pos.empty >= self.MAX_EMPTY_WINDOWS:
            return None
        top, floor = datetime.fromisoformat(pos.top), datetime.fromisoformat(pos.floor)
        hi = top - self.WINDOW * pos.i
        if hi <= floor:
            return None
        return max(hi - self.WINDOW, floor), hi

    def _params(self, query: ListQuery, bounds: tuple[datetime, datetime], size: int) -> dict[str, str]:
        params = {"max": str(size), "from": _iso(bounds[0]), "to": _iso(bounds[1])}
        if query.status is not None:
            params["status"] = query.status
        if query.topic is not None:
            params["topic"] = query.topic
        if query.service_type is not None:
            params["serviceType"] = query.service_type
        return params

    def _next_link(self, response: httpx.Response, sent: Mapping[str, str]) -> str | None:
        """The `rel="next"` link, resolved, only to our own origin, with any of our parameters
        it dropped put back (some Webex lists lose them)."""
        link = response.links.get("next")
        if not link or not link.get("url"):
            return None
        try:
            url = response.request.url.join(link["url"])
        except (httpx.InvalidURL, ValueError):
            raise BadResponse(f"GET {safe_path(response.request.url)}: the next-page link is not a URL",
                              provider=self.id) from None
        if origin_of(url) not in self.origins:
            raise BadResponse(f"GET {safe_path(response.request.url)}: the next-page link points at another host "
                              f"({url.host}); not followed", provider=self.id)
        missing = {k: v for k, v in sent.items() if k not in url.params}
        if missing:
            url = url.copy_merge_params(missing)
        return str(url)

    async def _fetch(self, url: str, params: Mapping[str, str] | None, sent: Mapping[str, str]) -> _Fetched:
        data, response = await self._json(url, params)
        body = self.parse(_ListBody, data, f"GET {safe_path(response.request.url)}")
        rows: list[tuple[_Item, dict[str, Any], tuple[str, ...]]] = []
        dropped = 0
        for raw in body.items:
            item, bad = _Item.lenient(raw)
            if item is None:
                dropped += 1
            else:
                rows.append((item, raw, bad))
        return _Fetched(rows, self._next_link(response, sent), str(response.request.url), dropped)

    def _is_old(self, item: _Item, pos: _Pos) -> bool:
        """Already emitted, or newer than what was: a repeated page."""
        t = item.time("createTime", self._zone)
        if t is None or pos.t is None:
            return item.id in pos.ids
        last = datetime.fromisoformat(pos.t)
        return t > last or (t == last and item.id in pos.ids)

    def _remember(self, cache: OrderedDict[str, Any], key: str, value: Any, limit: int) -> None:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > limit:
            cache.popitem(last=False)

    async def list_recordings(self, query: ListQuery, cursor: Cursor | None = None) -> Page:
        self.require(query)
        if query.status not in (None, "available", "deleted"):
            raise self.unsupported(f"list recordings with status {query.status}",
                                   "a user token lists available recordings or the recycle bin (deleted)")
        size = self.page_size(query)
        fp = self._fingerprint(query)
        pos = self._start(query, fp) if cursor is None else self._read_pos(cursor, fp)
        start_token = self._token(pos)
        items: list[Recording] = []
        emitted: set[str] = set()
        warnings: list[str] = []
        fetched_urls: set[str] = set()
        unreadable = dropped = requests = 0

        while len(items) < size:
            bounds = self._bounds(pos)
            if bounds is None:
                break
            sent = self._params(query, bounds, size)
            token = self._token(pos)
            cached = self._leftovers.pop(token, None)
            if cached is not None and self.http.clock() - cached[0] <= self.LEFTOVER_TTL \
                    and cached[1].url == pos.url:
                page = cached[1]
                fetched_urls.add(page.url)
            else:
                if requests >= self.MAX_REQUESTS_PER_PAGE:
                    break
                requests += 1
                page = await self._fetch(pos.url or LIST, None if pos.url else sent, sent)
                fetched_urls.add(page.url)
                dropped += page.dropped
            rows = page.rows
            if pos.after is not None:           # a partly used page: continue after its last row
                ids = [item.id for item, _, _ in rows]
                if pos.after in ids:
                    rows = rows[ids.index(pos.after) + 1:]
                else:
                    rows = [r for r in rows if not self._is_old(r[0], pos)]
            elif rows and all(self._is_old(item, pos) for item, _, _ in rows):
                warnings.append("same page cursor twice: Webex repeated a page already shown; "
                                "skipped to older recordings")
                self._next_window(pos)
                continue
            else:
                rows = [r for r in rows if not self._is_old(r[0], pos)]
            if page.rows:
                pos.seen, pos.blank = True, 0
            need = size - len(items)
            taken = 0
            for item, raw, bad in rows:
                if taken >= need:
                    break
                taken += 1
                self._advance(pos, item)
                pos.after = item.id
                if item.id in emitted:
                    continue
                emitted.add(item.id)
                unreadable += bool(bad)
                items.append(item.to_recording(self.id, id_valid=self.id_is_safe(item.id), zone=self._zone,
                                               raw=raw, bad=bad))
            if taken < len(rows):               # the page is only partly used: come back to it
                pos.url = page.url
                self._remember(self._leftovers, self._token(pos), (self.http.clock(), page), 16)
                break
            pos.after = None
            if page.next_url is None:
                self._next_window(pos)
                continue
            if page.next_url in fetched_urls:
                warnings.append("cursor cycle: Webex linked back to a page already read; skipped to older "
                                "recordings")
                self._next_window(pos)
                continue
            if not page.rows:
                pos.blank += 1
                warnings.append("Webex sent an empty page that still links to more")
                if pos.blank >= self.MAX_BLANK_PAGES:
                    self._next_window(pos)
                    continue
            pos.url = page.next_url

        if unreadable:
            warnings.append(f"{unreadable} recording(s) had unreadable fields (shown as —)")
        if dropped:
            warnings.append(f"{dropped} item(s) without a usable id were left out")
        next_cursor = None
        if self._bounds(pos) is not None:
            next_cursor = self.cursor(**asdict(pos))
            if next_cursor.token != start_token:
                self._remember(self._prev, next_cursor.token, start_token, 4096)
        prev_token = self._prev.get(start_token) if cursor is not None else None
        return Page(items=tuple(items), next=next_cursor,
                    prev=Cursor(provider=self.id, token=prev_token) if prev_token else None,
                    sorted_on_server=False, order_approximate=False, warnings=tuple(dict.fromkeys(warnings)))

    def _advance(self, pos: _Pos, item: _Item) -> None:
        t = item.time("createTime", self._zone)
        if t is None:
            if item.id not in pos.ids:
                pos.ids = [*pos.ids[-99:], item.id]
            return
        stamp = t.isoformat()
        if stamp == pos.t:
            pos.ids = [*pos.ids[-99:], item.id]
        else:
            pos.t, pos.ids = stamp, [item.id]

    def _next_window(self, pos: _Pos) -> None:
        pos.empty = 0 if pos.seen else pos.empty + 1
        pos.i += 1
        pos.url = pos.after = None
        pos.seen, pos.blank = False, 0

    async def check(self) -> None:
        """One cheap authenticated call: the newest recording of the default 7-day window."""
        data, response = await self._json(LIST, {"max": 1})
        self.parse(_ListBody, data, f"GET {safe_path(response.request.url)}")

    # -- details -------------------------------------------------------------------------------
    async def _details_doc(self, seg: str) -> tuple[_Item, dict[str, Any], tuple[str, ...]]:
        data, response = await self._json(f"{LIST}/{seg}")
        where = f"GET {safe_path(response.request.url)}"
        if not isinstance(data, dict):
            raise BadResponse(f"{where}: expected a recording object", provider=self.id)
        item, bad = _Item.lenient(data)
        if item is None:
            raise BadResponse(f"{where}: the recording has no id", provider=self.id)
        return item, data, bad

    async def _metadata(self, seg: str) -> tuple[_Metadata | None, dict[str, Any] | None, str | None]:
        try:
            data, response = await self._json(f"{LIST}/{seg}/metadata")
            return self.parse(_Metadata, data, f"GET {safe_path(response.request.url)}"), data, None
        except AuthError:
            raise
        except ProviderError as exc:
            return None, None, f"unavailable ({exc.title}{f' {exc.status}' if exc.status else ''})"

    async def get_recording(self, recording_id: str) -> Recording:
        seg = self.seg(recording_id)
        details, metadata = await asyncio.gather(self._details_doc(seg), self._metadata(seg),
                                                 return_exceptions=True)
        if isinstance(details, BaseException):
            raise details
        if isinstance(metadata, BaseException):
            raise metadata
        item, raw, bad = details
        meta, meta_raw, note = metadata
        if meta_raw is not None:
            raw = {**raw, "metadata": meta_raw}
        return item.to_recording(self.id, id_valid=self.id_is_safe(item.id), zone=self._zone, raw=raw,
                                 detail=True, meta=meta, meta_note=note, bad=bad)

    # -- media ---------------------------------------------------------------------------------
    def _media_url(self, link: str) -> str:
        """The temporary link as a URL we may fetch. Its scheme and target (https only, no
        loopback, private or link-local address for a public provider, redirects included) are
        checked by the HTTP core's media client before anything connects."""
        try:
            url = httpx.URL(link)
        except (httpx.InvalidURL, ValueError):
            raise BadResponse("the download link is not a URL", provider=self.id, title="Unsafe link") from None
        if url.userinfo:
            raise BadResponse("refusing a download link with a user name or password in it", provider=self.id,
                              title="Unsafe link")
        return str(url)

    async def fetch_media(self, recording: Recording, dest_dir: Path, *,
                          max_bytes: int = DEFAULT_MAX_MEDIA_BYTES) -> Media:
        seg = self.seg(recording.id)
        if recording.size is not None and recording.size > max_bytes:
            raise BadResponse(f"the recording is {recording.size // 1_000_000} MB, over the "
                              f"{max_bytes // 1_000_000} MB limit", provider=self.id, title="Too large")
        dest_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (one quick syscall)
        tmp = dest_dir / f".webex-{os.urandom(8).hex()}.part"
        try:
            size, ctype = await self._download(seg, tmp, max_bytes)
            fmt = sniff_file(tmp)
            if fmt == "unknown":
                raise BadResponse("the download is not audio (an error page or an unknown format); nothing kept",
                                  provider=self.id, title="Not audio")
            final = cache_path(dest_dir, self.id, self._account, recording.id, fmt)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return Media(path=final, format=fmt, size=size, content_type=ctype)

    async def _download(self, seg: str, dest: Path, max_bytes: int) -> tuple[int, str | None]:
        """Details → fresh link → bytes; an expired or refused link is asked for once more."""
        why = ""
        for attempt in (1, 2):
            item, _, _ = await self._details_doc(seg)
            links = item.temporaryDirectDownloadLinks
            if item.status == "deleted":
                raise ProviderError("The recording is in the recycle bin: restore it to play it.", provider=self.id,
                                    title="In the recycle bin")
            if links is None or not links.audioDownloadLink:
                raise PermissionDenied("Webex gives no download link for this recording: downloads are prevented "
                                       "for it, or this token has admin scope.", provider=self.id,
                                       title="Download prevented")
            if links.expiration is not None and _utc(links.expiration, self._zone) <= self._now():
                why = "its expiration time has passed"
                continue
            url = self._media_url(links.audioDownloadLink)
            try:
                return await self.http.download(url, dest, max_bytes=max_bytes, media=True)
            except ProviderError as exc:
                if exc.status not in (401, 403, 404, 410):
                    raise
                why = f"the media host refused it ({exc.status})"
                log.info("%s: download link refused (%s), attempt %d", self.id, exc.status, attempt)
        raise ProviderError(f"The download link expired: {why}, twice in a row. Try again later.", provider=self.id,
                            title="Link expired")

    # -- recycle bin ---------------------------------------------------------------------------
    def _outcome(self, rid: str, outcome: str, path: str = LIST) -> None:
        """Record how a write ended, and tell the UI when the answer alone did not say."""
        self._remember(self.delete_outcomes, rid, outcome, 1000)
        if outcome.endswith(("-confirmed", "-confirmed-by-404", "unknown", "already-gone")):
            self.http.emit(HttpEvent(self.id, "request", "POST", safe_path(self.http.url(path)),
                                     message=f"{outcome.replace('-', ' ')}: {rid[:40]}"))

    async def _status_of(self, seg: str) -> str:
        item, _, _ = await self._details_doc(seg)
        return item.status or "unknown"

    async def _move(self, recording_id: str, action: str, flag: str, verb: str, *, done: tuple[str, ...],
                    before: str, gone_is_done: bool) -> DeleteOutcome:
        """softDelete / restore / purge of one recording (RELIABILITY.md §1.3): sent once (the HTTP
        core retries only what certainly was not sent, and 429); an unknown outcome is checked
        with a GET of the details and retried once only if it did not apply
        (`BaseProvider.verified_write`)."""
        seg = self.seg(recording_id)
        if self.read_only:
            raise PermissionDenied(f"{self.display_name} is read-only (read_only = true in the config).",
                                   provider=self.id, title="Read-only")
        path, body = f"{LIST}/{action}", {flag: False, "recordingIds": [recording_id]}

        async def send() -> None:
            try:
                await self._call("POST", path, json_body=body)
            except BadResponse as exc:
                if exc.status == 400 and action == "purge":
                    raise ProviderError("Only a recording in the recycle bin can be purged: delete it first.",
                                        provider=self.id, status=400, title="Not in the recycle bin") from None
                raise

        async def still_to_do() -> bool:
            status = await self._status_of(seg)
            if status in done:
                return False
            if status != before:
                raise ProviderError(f"The recording is {status} at Webex; it was not {verb}.", provider=self.id,
                                    title="Unexpected state")
            return True

        def gone(exc: NotFound) -> NotFound:
            return NotFound(f"The recording was already gone at Webex (purged or never there); nothing to {verb}.",
                            provider=self.id, status=exc.status, title="Already gone",
                            correlation_id=exc.correlation_id)

        def told(outcome: str) -> None:
            names = {"done": verb, "confirmed": f"{verb}-confirmed", "confirmed-by-404": f"{verb}-confirmed-by-404"}
            self._outcome(recording_id, names.get(outcome, outcome), path)

        title = {"deleted": "Delete", "restored": "Restore", "purged": "Purge"}.get(verb, "Change")
        return await self.verified_write(send, still_to_do, already_gone=gone, what=verb, gone_is_done=gone_is_done,
                                         retry_failure_unknown=True, unknown_title=f"{title} outcome unknown",
                                         on_outcome=told)

    async def delete_recording(self, recording_id: str) -> DeleteOutcome:
        """Move to the recycle bin (`POST softDelete`); `restore_recording` brings it back."""
        return await self._move(recording_id, "softDelete", "trashAll", "deleted", done=("deleted", "purged"),
                                before="available", gone_is_done=True)

    async def restore_recording(self, recording_id: str) -> DeleteOutcome:
        """Out of the recycle bin; `deleted` in the answer reads "done" (restored)."""
        return await self._move(recording_id, "restore", "restoreAll", "restored", done=("available",),
                                before="deleted", gone_is_done=False)

    async def purge_recording(self, recording_id: str) -> DeleteOutcome:
        """Permanently remove a recording that is in the recycle bin."""
        return await self._move(recording_id, "purge", "purgeAll", "purged", done=("purged",),
                                before="deleted", gone_is_done=True)

    async def rename(self, recording_id: str, fields: Mapping[str, str | None]) -> Recording:
        raise self.unsupported("rename recordings", "the converged-recordings API has no update call")

    async def set_tags(self, recording_id: str, tags: frozenset[str]) -> Recording:
        raise self.unsupported("store tags on the server", "Webex recordings have no tags; they are kept locally")

