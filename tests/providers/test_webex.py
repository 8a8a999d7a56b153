"""The Webex adapter against the emulator: one test per quirk of the reference page, the fault
knobs, the recycle bin, and one end-to-end run over a real loopback socket."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import TypeAdapter
from support import ANCHOR, FakeClock, Monotonic

from rectui.config import ProviderSettings
from rectui.emulator.app import Emulator, EmulatorConfig, RequestRecord
from rectui.emulator.server import EmulatorServer
from rectui.errors import (
    AuthError,
    BadResponse,
    InvalidId,
    NotFound,
    PermissionDenied,
    ProviderError,
    RateLimited,
    Unavailable,
    Unsupported,
)
from rectui.mediafiles import sniff_file
from rectui.models import ListQuery, Recording
from rectui.providers.http import RetryPolicy
from rectui.providers.webex import WebexProvider

from .conftest import Setup

_SETTINGS = TypeAdapter(ProviderSettings)
NOW = ANCHOR + timedelta(hours=1)            # make_setup's wall clock


# -- helpers ---------------------------------------------------------------------------------------

def qs(rec: RequestRecord) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(rec.query).items()}


def lists(s: Setup) -> list[RequestRecord]:
    return s.emu.log.for_route("webex", "list")


def window_starts(s: Setup) -> list[tuple[datetime, datetime]]:
    """(from, to) of every list request that opened a window (no `before` cursor)."""
    out = []
    for rec in lists(s):
        q = qs(rec)
        if "before" not in q:
            out.append((datetime.fromisoformat(q["from"]), datetime.fromisoformat(q["to"])))
    return out


async def walk(s: Setup, query: ListQuery | None = None, limit: int = 300) -> tuple[list[Recording], list[str]]:
    query = query or ListQuery(page_size=10)
    items: list[Recording] = []
    warnings: list[str] = []
    cursor = None
    for _ in range(limit):
        page = await s.provider.list_recordings(query, cursor)
        items.extend(page.items)
        warnings.extend(page.warnings)
        if page.next is None:
            return items, warnings
        cursor = page.next
    raise AssertionError("paging did not end")


def ids_where(s: Setup, pred: Any, status: str = "available") -> list[str]:
    w = s.prov_emu
    return [w.recording_id(w.data.fact(i)) for i in w.data.index_range(None, w.emu.now())
            if w.state(i).status == status and pred(w.data.fact(i))]


def index_of(s: Setup, rid: str) -> int:
    index = s.prov_emu.index_of(rid)
    assert index is not None
    return index


async def playable(s: Setup, count: int = 20) -> Recording:
    """A short listed recording whose downloads are not prevented."""
    items = (await s.provider.list_recordings(ListQuery(page_size=count))).items
    w = s.prov_emu
    return next(r for r in items if (r.duration or 0) < 120 and not w.prevents_download(w.data.fact(index_of(s, r.id))))


def build(tmp: Path, *, faults: str = "", count: int = 30, emu_sleep: Any = None, policy: RetryPolicy | None = None,
          media_cache: Path) -> tuple[Emulator, WebexProvider]:
    """An emulator and adapter built by hand (a real-sleeping emulator, or a custom policy)."""
    wall = FakeClock(NOW.timestamp())

    async def no_sleep(_s: float) -> None:
        return None

    emu = Emulator(EmulatorConfig(providers=("webex",), count=count, faults=faults, anchor=ANCHOR,
                                  media_cache_dir=media_cache), clock=wall, sleep=emu_sleep or no_sleep)
    mono = Monotonic()
    conf = _SETTINGS.validate_python(emu["webex"].config_entry())
    prov = WebexProvider("webex", conf, transport=emu.transport(), clock=mono, wall=wall, sleep=mono.sleep,
                         rng=random.Random(0), policy=policy)
    return emu, prov


# -- quirk: the default 7-day window; windows of at most 30 days, walked back ---------------------

async def test_quirk_default_window_is_walked_back_in_30_day_windows_to_the_horizon(make_setup) -> None:
    s = make_setup("webex", count=60)
    items, _ = await walk(s)
    assert [r.id for r in items] == s.prov_emu.listed_ids()          # same rows, same (newest-first) order
    assert min(r.start for r in items) < NOW - timedelta(days=600)     # far beyond the 7-day default
    windows = window_starts(s)
    assert all(timedelta(0) < to - frm <= timedelta(days=30) for frm, to in windows)
    assert all(later[1] == earlier[0] for earlier, later in itertools.pairwise(windows)), "gaps"
    horizon = NOW - WebexProvider.HORIZON
    assert windows[-1][0] == horizon and all(frm >= horizon for frm, _ in windows)   # stops at the horizon
    assert windows[0][1] >= NOW                                        # starts at now


async def test_horizon_is_configurable(make_setup) -> None:
    s = make_setup("webex", count=60, settings={"horizon_days": 100})
    items, _ = await walk(s)
    assert [r.id for r in items] == s.prov_emu.listed_ids(horizon=timedelta(days=100))
    assert window_starts(s)[-1][0] == NOW - timedelta(days=100) and len(window_starts(s)) == 4


async def test_quirk_walk_stops_after_six_empty_windows_in_a_row(make_setup) -> None:
    # count=4: recordings 135, 190, 524 and 618 days back. Windows 7–12 (210–390 days) are empty.
    s = make_setup("webex", count=4)
    items, _ = await walk(s)
    expected = s.prov_emu.listed_ids()[:2]
    assert [r.id for r in items] == expected
    windows = window_starts(s)
    assert len(windows) == 13 and len(lists(s)) == 13
    w = s.prov_emu
    for frm, to in windows[-6:]:
        assert not [i for i in w.data.index_range(frm, to) if w.state(i).status == "available"]


async def test_quirk_an_empty_recent_half_year_ends_the_walk(make_setup) -> None:
    s = make_setup("webex", count=2)            # the newest recording is 270 days back
    page = await s.provider.list_recordings(ListQuery(page_size=10))
    assert page.items == () and page.next is None
    assert len(lists(s)) == WebexProvider.MAX_EMPTY_WINDOWS


async def test_quirk_explicit_since_is_walked_to_even_past_empty_windows(make_setup) -> None:
    s = make_setup("webex", count=4)
    since = NOW - timedelta(days=600)
    items, _ = await walk(s, ListQuery(since=since, page_size=10))
    assert [r.id for r in items] == s.prov_emu.listed_ids()[:3]
    windows = window_starts(s)
    assert windows[-1][0] == since and len(windows) == 21      # 600 days + the 10-minute slack


async def test_quirk_date_range_is_sent_as_from_inclusive_to_exclusive(make_setup) -> None:
    s = make_setup("webex", count=200)
    since, until = ANCHOR - timedelta(days=100), ANCHOR - timedelta(days=40)
    items, _ = await walk(s, ListQuery(since=since, until=until, page_size=100))
    w = s.prov_emu
    expected = [w.recording_id(w.data.fact(i)) for i in w.data.index_range(since, until)
                if w.state(i).status == "available"]
    assert [r.id for r in items] == expected and items
    assert all(since <= r.start < until for r in items)
    assert window_starts(s) == [(until - timedelta(days=30), until), (since, until - timedelta(days=30))]


async def test_pages_are_filled_across_windows_without_fetching_a_page_twice(make_setup) -> None:
    s = make_setup("webex", count=400)
    query = ListQuery(page_size=7)                       # 7 never lines up with the windows
    pages = [await s.provider.list_recordings(query)]
    while pages[-1].next is not None:
        pages.append(await s.provider.list_recordings(query, pages[-1].next))
    assert [r.id for p in pages for r in p.items] == s.prov_emu.listed_ids()
    assert all(len(p.items) == 7 for p in pages[:-1])
    urls = [(rec.path, rec.query) for rec in lists(s)]
    assert len(urls) == len(set(urls)), "a Webex page was fetched twice"
    for n in (1, 5, len(pages) - 1):                     # previous pages, even across windows
        back = await s.provider.list_recordings(query, pages[n].prev)
        assert [r.id for r in back.items] == [r.id for r in pages[n - 1].items]


# -- quirk: paging only in the Link header, no totals ----------------------------------------------

async def test_quirk_link_header_paging_without_totals(make_setup) -> None:
    s = make_setup("webex", count=2000)          # about 80 recordings in each 30-day window
    first = await s.provider.list_recordings(ListQuery(page_size=5))
    assert first.total is None and first.page_number is None and first.next is not None and first.prev is None
    second = await s.provider.list_recordings(ListQuery(page_size=5), first.next)
    assert "before" in qs(lists(s)[-1])                  # the link was followed as given
    third = await s.provider.list_recordings(ListQuery(page_size=5), second.next)
    back = await s.provider.list_recordings(ListQuery(page_size=5), third.prev)
    assert [r.id for r in back.items] == [r.id for r in second.items]
    assert [r.id for r in first.items + second.items + third.items] == s.prov_emu.listed_ids()[:15]


async def test_quirk_next_link_that_drops_filters_gets_them_back(make_setup) -> None:
    s = make_setup("webex", count=300, faults="webex.list:link_drops_params")
    items, _ = await walk(s, ListQuery(topic="CALL WITH", page_size=5))
    expected = ids_where(s, lambda f: "call with" in s.prov_emu._topic(f).casefold())
    assert [r.id for r in items] == expected and len(items) > 10
    assert all(qs(rec).get("topic") == "CALL WITH" for rec in lists(s))


async def test_recycle_bin_paging_keeps_the_status_when_links_drop_it(make_setup) -> None:
    s = make_setup("webex", count=300, faults="webex.list:link_drops_params")
    for r in (await s.provider.list_recordings(ListQuery(page_size=12))).items:
        await s.provider.delete_recording(r.id)
    items, _ = await walk(s, ListQuery(status="deleted", page_size=5))
    assert [r.id for r in items] == s.prov_emu.listed_ids("deleted")     # sparse, yet walked to the horizon
    assert all(r.status == "deleted" and not r.has_media for r in items)
    assert all(qs(rec).get("status") == "deleted" for rec in lists(s)[1:])


async def test_next_link_to_another_origin_is_not_followed(make_setup) -> None:
    s = make_setup("webex", count=2000)
    inner = s.emu.transport()
    sent: list[str] = []

    class Rewrite(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            sent.append(request.url.host)
            response = await inner.handle_async_request(request)
            if "link" in response.headers:
                response.headers["link"] = response.headers["link"].replace("api.emulator.test", "evil.example")
            return response

    s.provider.http.client._transport = Rewrite()
    with pytest.raises(BadResponse, match="another host"):
        await s.provider.list_recordings(ListQuery(page_size=5))
    assert set(sent) == {"api.emulator.test"}


# -- quirk: no server sort; newest first by createTime ---------------------------------------------

async def test_quirk_no_server_sort_order_is_newest_first_by_create_time(make_setup) -> None:
    s = make_setup("webex", count=60)
    with pytest.raises(Unsupported):
        await s.provider.list_recordings(ListQuery(sort={"key": "start", "descending": True}))
    page = await s.provider.list_recordings(ListQuery(page_size=30))
    assert not page.sorted_on_server and not page.order_approximate
    for r in page.items:
        assert r.start == datetime.fromisoformat(r.raw["createTime"])
        assert r.details["Recording started"] != r.details["Created (file produced)"]
    starts = [r.start for r in page.items]
    assert starts == sorted(starts, reverse=True)


async def test_unsupported_filters_and_statuses(make_setup) -> None:
    s = make_setup("webex")
    for query in (ListQuery(owner="a@b.example"), ListQuery(call_id="x"), ListQuery(status="purged")):
        with pytest.raises(Unsupported):
            await s.provider.list_recordings(query)
    assert not s.emu.log.records


async def test_service_type_filter_is_server_side(make_setup) -> None:
    s = make_setup("webex", count=300)            # sparse matches: a filtered walk goes to the horizon
    items, _ = await walk(s, ListQuery(service_type="customerAssist", page_size=50))
    w = s.prov_emu
    expected = [w.recording_id(w.data.fact(i)) for i in w.data.index_range(None, NOW)
                if w.traits(i).service_type == "customerAssist" and w.state(i).status == "available"]
    assert [r.id for r in items] == expected and items
    assert all(qs(rec)["serviceType"] == "customerAssist" for rec in lists(s))


# -- quirk: times follow the timezone header -------------------------------------------------------

async def test_quirk_times_in_the_timezone_header_zone_are_read_as_utc(make_setup) -> None:
    utc = make_setup("webex", count=30)
    zoned = make_setup("webex", count=30, settings={"time_zone": "Asia/Singapore"})
    a = (await utc.provider.list_recordings(ListQuery(page_size=10))).items
    b = (await zoned.provider.list_recordings(ListQuery(page_size=10))).items
    assert all(r.raw["createTime"].endswith("+08:00") for r in b)
    assert [(r.id, r.start) for r in a] == [(r.id, r.start) for r in b]
    assert all(rec.headers.get("timezone") == "Asia/Singapore" for rec in zoned.emu.log.records)
    assert all(r.start.tzinfo is UTC for r in b)


# -- quirk: ids with and without hyphens -----------------------------------------------------------

async def test_quirk_ids_with_and_without_hyphens_are_both_usable(make_setup) -> None:
    s = make_setup("webex", count=60)
    items = (await s.provider.list_recordings(ListQuery(page_size=60))).items
    plain = next(r for r in items if "-" not in r.id)
    dashed = next(r for r in items if "-" in r.id)
    for r in (plain, dashed):
        assert r.id_valid
        assert (await s.provider.get_recording(r.id)).id == r.id


# -- quirk: the download link comes from the details call, expires, never cached ---------------------

async def test_quirk_download_link_from_the_details_call_every_time(make_setup, tmp_path) -> None:
    s = make_setup("webex")
    tmp_path = tmp_path / "media"
    rec = await playable(s)
    assert "temporaryDirectDownloadLinks" not in rec.raw
    first = await s.provider.fetch_media(rec, tmp_path)
    second = await s.provider.fetch_media(rec, tmp_path)
    assert first.path == second.path and first.format == "mp3" == sniff_file(first.path)
    assert first.size == second.size == first.path.stat().st_size > 0
    assert len(s.emu.log.for_route("webex", "get")) == 2           # a fresh link for every download
    assert len(s.emu.log.for_route("webex", "media")) == 2
    detail = await s.provider.get_recording(rec.id)
    text = repr(detail.raw) + repr(detail.details)
    assert "ticket" not in text and "MultiThreadDownloadServlet" not in text   # links are never kept
    assert detail.has_media and "Download link" in detail.details
    assert [p.name for p in tmp_path.iterdir()] == [first.path.name]            # no temporary files left


async def test_credentials_never_reach_the_media_origin(make_setup, tmp_path) -> None:
    s = make_setup("webex")
    await s.provider.fetch_media(await playable(s), tmp_path)
    media = [r for r in s.emu.log.records if r.origin == "media"]
    api = [r for r in s.emu.log.records if r.origin == "api"]
    assert media and api
    assert all("authorization" not in r.headers for r in media)
    assert all(r.headers.get("authorization", "").startswith("Bearer ") for r in api)


async def test_quirk_expired_link_is_fetched_again_once(make_setup, tmp_path) -> None:
    s = make_setup("webex", faults="webex.get:link_expired,count=1")
    media = await s.provider.fetch_media(await playable(s), tmp_path)
    assert media.size > 0
    assert len(s.emu.log.for_route("webex", "get")) == 2
    assert [r.status for r in s.emu.log.for_route("webex", "media")] == [403, 200]


async def test_quirk_link_past_its_expiration_is_not_even_tried(make_setup, tmp_path) -> None:
    s = make_setup("webex", faults="webex.get:link_expired=past,count=1")
    await s.provider.fetch_media(await playable(s), tmp_path)
    assert len(s.emu.log.for_route("webex", "get")) == 2
    assert [r.status for r in s.emu.log.for_route("webex", "media")] == [200]


async def test_quirk_link_expired_twice_says_so(make_setup, tmp_path) -> None:
    s = make_setup("webex", faults="webex.get:link_expired,count=2")
    tmp_path = tmp_path / "media"
    tmp_path.mkdir()
    with pytest.raises(ProviderError) as info:
        await s.provider.fetch_media(await playable(s), tmp_path)
    assert info.value.title == "Link expired" and not isinstance(info.value, AuthError)
    assert len(s.emu.log.for_route("webex", "get")) == 2 and list(tmp_path.iterdir()) == []


async def test_quirk_no_link_when_downloads_are_prevented(make_setup, tmp_path) -> None:
    s = make_setup("webex", count=60)
    items = (await s.provider.list_recordings(ListQuery(page_size=60))).items
    w = s.prov_emu
    blocked = next(r for r in items if w.prevents_download(w.data.fact(index_of(s, r.id))))
    detail = await s.provider.get_recording(blocked.id)
    assert not detail.has_media and "prevented" in (detail.media_note or "")
    with pytest.raises(PermissionDenied):
        await s.provider.fetch_media(blocked, tmp_path)
    assert not s.emu.log.for_route("webex", "media")


async def test_quirk_no_link_for_an_admin_token(make_setup, tmp_path) -> None:
    probe = make_setup("webex")
    s = make_setup("webex", settings={"access_token": probe.prov_emu.admin_token})
    rid = probe.prov_emu.listed_ids()[0]
    detail = await s.provider.get_recording(rid)
    assert not detail.has_media and "admin" in (detail.media_note or "")
    with pytest.raises(PermissionDenied):
        await s.provider.fetch_media(detail, tmp_path)


async def test_media_over_the_size_cap_is_refused_and_nothing_kept(make_setup, tmp_path) -> None:
    s = make_setup("webex")
    tmp_path = tmp_path / "media"
    tmp_path.mkdir()
    rec = await playable(s)
    with pytest.raises(BadResponse, match="limit"):
        await s.provider.fetch_media(rec.model_copy(update={"size": None}), tmp_path, max_bytes=1000)
    with pytest.raises(BadResponse, match="limit"):          # refused from the listed size, nothing sent
        await s.provider.fetch_media(rec, tmp_path, max_bytes=(rec.size or 2) - 1)
    assert list(tmp_path.iterdir()) == []


async def test_an_html_page_as_audio_is_refused(make_setup, tmp_path) -> None:
    s = make_setup("webex", faults="webex.media:media=html")
    tmp_path = tmp_path / "media"
    tmp_path.mkdir()
    with pytest.raises(BadResponse) as info:
        await s.provider.fetch_media(await playable(s), tmp_path)
    assert info.value.title == "Not audio" and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("link", ["http://169.254.169.254/latest/meta-data", "https://10.0.0.5/a.mp3",
                                  "https://127.0.0.1/a.mp3", "file:///etc/passwd", "ftp://media.emulator.test/a",
                                  "http://user:pw@media.emulator.test/a.mp3", "not a url at all"])
async def test_unsafe_download_links_are_refused_before_connecting(make_setup, tmp_path, link: str) -> None:
    s = make_setup("webex")
    rec = await playable(s)
    inner = s.emu.transport()
    reached: list[str] = []

    class Swap(httpx.AsyncBaseTransport):
        """Serves the details with the download link swapped for `link`."""

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            reached.append(str(request.url.host))
            response = await inner.handle_async_request(request)
            if request.url.path.endswith(rec.id):
                body = json.loads(await response.aread())
                body["temporaryDirectDownloadLinks"]["audioDownloadLink"] = link
                return httpx.Response(200, json=body, headers={"trackingid": "t"})
            return response

    s.provider.http.client._transport = Swap()
    s.provider.http.media_client._transport = Swap()
    dest = tmp_path / "media"
    with pytest.raises(BadResponse):
        await s.provider.fetch_media(rec, dest)
    assert set(reached) == {"api.emulator.test"} and list(dest.iterdir()) == []


# -- details: every field, metadata -----------------------------------------------------------------

async def test_detail_has_every_field_and_the_call_metadata(make_setup) -> None:
    s = make_setup("webex")
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[0]
    detail = await s.provider.get_recording(rec.id)
    w = s.prov_emu
    fact = w.data.fact(index_of(s, rec.id))
    assert detail.title == rec.title and detail.start == rec.start and detail.duration == rec.duration
    assert detail.owner == rec.raw["ownerEmail"] and detail.call_id == rec.raw["serviceData"]["callSessionId"]
    assert detail.caller == f"{fact.caller.name} <{fact.caller.number}>"
    assert detail.callee == f"{fact.callee.name} <{fact.callee.number}>"
    assert detail.direction == fact.direction
    for label in ("ID", "Topic", "Owner email", "Owner type", "Storage region", "Location ID", "Call session ID",
                  "Duration", "Size", "Recording type", "Call ID", "Caller name", "Owner name"):
        assert detail.details.get(label, "—") != "—", label
    assert detail.raw["metadata"]["serviceData"]["callId"] == detail.details["Call ID"]
    assert not detail.tags


async def test_detail_survives_a_refused_metadata_call(make_setup) -> None:
    s = make_setup("webex", faults="webex.metadata:forbid")
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[0]
    detail = await s.provider.get_recording(rec.id)
    assert detail.caller is None and "unavailable" in detail.details["Call metadata"]


# -- quirk: delete is a recycle-bin move via POST; restore and purge ---------------------------------

async def test_quirk_delete_is_a_soft_delete_into_the_recycle_bin(make_setup) -> None:
    s = make_setup("webex")
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[2]
    await s.provider.delete_recording(rec.id)
    (post,) = s.emu.log.for_route("webex", "soft_delete")
    assert post.method == "POST" and not s.emu.log.for_route("webex", "delete")
    assert rec.id not in s.prov_emu.listed_ids() and rec.id in s.prov_emu.listed_ids("deleted")
    binned, _ = await walk(s, ListQuery(status="deleted", page_size=50))
    assert rec.id in [r.id for r in binned]
    assert (await s.provider.get_recording(rec.id)).status == "deleted"
    await s.provider.restore_recording(rec.id)
    assert rec.id in s.prov_emu.listed_ids()
    assert s.provider.delete_outcomes[rec.id] == "restored"


async def test_purge_only_from_the_recycle_bin_and_for_good(make_setup) -> None:
    s = make_setup("webex")
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[0]
    with pytest.raises(ProviderError) as info:
        await s.provider.purge_recording(rec.id)
    assert info.value.title == "Not in the recycle bin"
    assert rec.id in s.prov_emu.listed_ids()
    await s.provider.delete_recording(rec.id)
    await s.provider.purge_recording(rec.id)
    assert rec.id not in s.prov_emu.listed_ids() + s.prov_emu.listed_ids("deleted")
    with pytest.raises(NotFound):
        await s.provider.get_recording(rec.id)


async def test_delete_that_applied_then_failed_is_verified_not_repeated(make_setup) -> None:
    s = make_setup("webex", faults="webex.soft_delete:delete_apply_then_fail,count=1")
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[1]
    s.emu.log.clear()
    await s.provider.delete_recording(rec.id)
    assert [(r.route, r.method) for r in s.emu.log.records] == [("soft_delete", "POST"), ("get", "GET")]
    assert s.provider.delete_outcomes[rec.id] == "deleted-confirmed"
    assert any(e.message.startswith("deleted confirmed") for e in s.events)      # the UI is told
    assert rec.id in s.prov_emu.listed_ids("deleted")


async def test_delete_that_failed_without_applying_is_retried_once(make_setup) -> None:
    s = make_setup("webex", faults="webex.soft_delete:status=503,count=1")
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[1]
    s.emu.log.clear()
    await s.provider.delete_recording(rec.id)
    assert [r.route for r in s.emu.log.records] == ["soft_delete", "get", "soft_delete"]
    assert s.provider.delete_outcomes[rec.id] == "deleted"
    assert rec.id in s.prov_emu.listed_ids("deleted")


async def test_delete_failing_every_time_reports_an_unknown_outcome(make_setup) -> None:
    s = make_setup("webex", faults="webex.soft_delete:status=500")
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[1]
    s.emu.log.clear()
    with pytest.raises(Unavailable, match="unknown"):
        await s.provider.delete_recording(rec.id)
    assert [r.route for r in s.emu.log.records] == ["soft_delete", "get", "soft_delete"]   # never more
    assert s.provider.delete_outcomes[rec.id] == "unknown"


async def test_purge_404_after_an_ambiguous_failure_counts_as_done(make_setup) -> None:
    s = make_setup("webex", faults="webex.purge:delete_apply_then_fail,count=1")
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[1]
    await s.provider.delete_recording(rec.id)
    await s.provider.purge_recording(rec.id)
    assert s.provider.delete_outcomes[rec.id] == "purged-confirmed-by-404"
    assert rec.id not in s.prov_emu.listed_ids("deleted")


async def test_delete_of_a_recording_already_gone_says_so(make_setup) -> None:
    s = make_setup("webex")
    rid = s.prov_emu.listed_ids()[0]
    missing = rid[:-1] + ("0" if rid[-1] != "0" else "1")
    with pytest.raises(NotFound) as info:
        await s.provider.delete_recording(missing)
    assert info.value.title == "Already gone" and len(s.emu.log.for_route("webex", "soft_delete")) == 1


async def test_read_only_refuses_changes_with_nothing_sent(make_setup) -> None:
    s = make_setup("webex", settings={"read_only": True})
    rid = s.prov_emu.listed_ids()[0]
    for op in (s.provider.delete_recording, s.provider.restore_recording, s.provider.purge_recording):
        with pytest.raises(PermissionDenied):
            await op(rid)
    assert not s.emu.log.records


async def test_no_tags_or_rename_on_the_server(make_setup) -> None:
    s = make_setup("webex")
    rid = s.prov_emu.listed_ids()[0]
    with pytest.raises(Unsupported):
        await s.provider.set_tags(rid, frozenset({"vip"}))
    with pytest.raises(Unsupported):
        await s.provider.rename(rid, {"title": "x"})
    caps = s.provider.capabilities
    assert caps.can_delete and caps.can_restore and caps.can_purge and not caps.server_tags and not caps.can_rename


# -- hostile ids ---------------------------------------------------------------------------------------

async def test_hostile_ids_are_shown_and_every_call_on_them_refused(make_setup, tmp_path) -> None:
    s = make_setup("webex", count=2000, faults="webex.list:hostile_ids,count=1")
    items = (await s.provider.list_recordings(ListQuery(page_size=5))).items
    assert len(items) == 5 and not any(r.id_valid for r in items)
    s.emu.log.clear()
    for rec in items:
        for call in (s.provider.get_recording(rec.id), s.provider.delete_recording(rec.id),
                     s.provider.restore_recording(rec.id), s.provider.purge_recording(rec.id),
                     s.provider.fetch_media(rec, tmp_path)):
            with pytest.raises(InvalidId):
                await call
    assert not s.emu.log.records


# -- rate limits, server errors, bad bodies --------------------------------------------------------------

async def test_429_without_retry_after_backs_off_on_its_own(make_setup) -> None:
    s = make_setup("webex", faults="webex.list:status=429,count=2")
    page = await s.provider.list_recordings(ListQuery(page_size=5))
    assert page.items and len(s.mono.slept) == 2
    rng = random.Random(0)                          # make_setup's RNG: full jitter from a 2 s base
    assert s.mono.slept == [pytest.approx(rng.random() * 2.0), pytest.approx(rng.random() * 4.0)]


async def test_429_retry_after_past_the_deadline_is_rate_limited_without_sleeping(make_setup) -> None:
    s = make_setup("webex", faults="webex.list:status=429,retry_after=3600")
    with pytest.raises(RateLimited) as info:
        await s.provider.list_recordings(ListQuery(page_size=5))
    assert info.value.retry_after == 3600 and s.mono.slept == []


async def test_quirk_423_locked_with_retry_after_is_waited_out(make_setup) -> None:
    s = make_setup("webex", faults="webex.get:status=423,retry_after=2,count=1")
    rid = s.prov_emu.listed_ids()[0]
    assert (await s.provider.get_recording(rid)).id == rid
    assert s.mono.slept == [2.0]


async def test_423_locked_for_long_is_rate_limited(make_setup) -> None:
    s = make_setup("webex", faults="webex.get:status=423,retry_after=600")
    with pytest.raises(RateLimited) as info:
        await s.provider.get_recording(s.prov_emu.listed_ids()[0])
    assert info.value.title == "Locked" and info.value.retry_after == 600 and s.mono.slept == []


async def test_5xx_is_retried_then_surfaced_with_the_tracking_id(make_setup) -> None:
    s = make_setup("webex", faults="webex.list:status=503")
    with pytest.raises(Unavailable) as info:
        await s.provider.list_recordings(ListQuery(page_size=5))
    assert len(lists(s)) == 4 and len(s.mono.slept) == 3
    assert info.value.status == 503 and (info.value.correlation_id or "").startswith("ROUTER_")


async def test_html_instead_of_json_is_a_bad_response(make_setup) -> None:
    s = make_setup("webex", faults="webex.list:content_type=html")
    with pytest.raises(BadResponse):
        await s.provider.list_recordings(ListQuery(page_size=5))


@pytest.mark.parametrize("mode", ["truncated", "garbage", "nan"])
async def test_malformed_json_on_a_later_page_is_a_bad_response(make_setup, mode: str) -> None:
    s = make_setup("webex", count=200, faults=f"webex.list:malformed_json={mode},after=1")
    first = await s.provider.list_recordings(ListQuery(page_size=5))
    with pytest.raises(BadResponse):
        await s.provider.list_recordings(ListQuery(page_size=5), first.next)


async def test_schema_drift_keeps_rows_with_warnings_and_drops_id_less_ones(make_setup) -> None:
    s = make_setup("webex", count=2000, faults="webex.list:schema_drift,count=1")
    page = await s.provider.list_recordings(ListQuery(page_size=10))
    assert len(page.items) == 10 and len(lists(s)) == 2     # two items lost their id (n % 5 == 3): filled up
    assert "2 item(s) without a usable id were left out" in page.warnings
    truth = s.prov_emu.listed_ids()[:12]
    assert set(truth) - {r.id for r in page.items} == {truth[3], truth[8]}
    assert any("unreadable" in w for w in page.warnings)
    bad_time = [r for r in page.items if r.start is None]
    assert bad_time and "createTime" in bad_time[0].details["Unreadable fields"]
    assert any(r.duration is None for r in page.items) and any(r.title == "" for r in page.items)
    assert any(r.size is not None and "surpriseField.nested" in r.details for r in page.items)


async def test_empty_page_with_a_next_link_is_followed(make_setup) -> None:
    s = make_setup("webex", count=2000, faults="webex.list:empty_page,count=1")
    page = await s.provider.list_recordings(ListQuery(page_size=5))
    assert len(page.items) == 5 and any("empty page" in w for w in page.warnings)


async def test_same_page_cursor_twice_ends_the_window_without_a_loop(make_setup) -> None:
    s = make_setup("webex", count=2000, faults="webex.list:cursor_repeat,count=1")
    first = await s.provider.list_recordings(ListQuery(page_size=5))
    s.emu.log.clear()
    second = await s.provider.list_recordings(ListQuery(page_size=5), first.next)
    assert any("same page cursor twice" in w for w in second.warnings)
    assert len(lists(s)) == 2                     # the repeated page, then the next window
    ids = [r.id for r in first.items + second.items]
    assert len(ids) == len(set(ids)) == 10


async def test_cursor_cycle_is_stopped(make_setup) -> None:
    s = make_setup("webex", count=2000, faults="webex.list:cursor_cycle")
    since = NOW - timedelta(days=90)
    items, warnings = await walk(s, ListQuery(since=since, page_size=25))
    w = s.prov_emu
    expected = [w.recording_id(w.data.fact(i)) for i in w.data.index_range(since, NOW)
                if w.state(i).status == "available"]
    assert [r.id for r in items] == expected
    assert any("same page cursor twice" in w for w in warnings)
    assert len(lists(s)) <= 3 * (80 // 25 + 3)   # each window's pages once, plus the cycled page


# -- auth --------------------------------------------------------------------------------------------------

async def test_expired_token_is_an_auth_error_saying_so_and_not_retried(make_setup) -> None:
    s = make_setup("webex", count=2000, faults="webex.*:expire_token_after=1")
    first = await s.provider.list_recordings(ListQuery(page_size=5))
    with pytest.raises(AuthError) as info:
        await s.provider.list_recordings(ListQuery(page_size=5), first.next)
    assert "expire" in info.value.message and "access_token" in info.value.message
    assert len(lists(s)) == 2 and s.mono.slept == []
    assert s.prov_emu.user_token not in info.value.message


async def test_check_is_one_authenticated_call(make_setup) -> None:
    s = make_setup("webex", count=2)     # nothing in the last 7 days: still fine
    await s.provider.check()
    (rec,) = s.emu.log.records
    assert rec.route == "list" and qs(rec) == {"max": "1"} and rec.status == 200
    bad = make_setup("webex", settings={"access_token": "not-the-token"})
    with pytest.raises(AuthError):
        await bad.provider.check()


# -- deadline --------------------------------------------------------------------------------------------

async def test_trickling_body_is_cut_by_the_deadline(tmp_path, media_cache) -> None:
    emu, prov = build(tmp_path, faults="webex.list:drip=0.05", emu_sleep=asyncio.sleep,
                      policy=RetryPolicy(deadline=0.3), media_cache=media_cache)
    started = time.monotonic()
    try:
        with pytest.raises(Unavailable, match="timed out"):
            await prov.list_recordings(ListQuery(page_size=5))
    finally:
        await prov.aclose()
    assert time.monotonic() - started < 5
    assert len(emu.log.for_route("webex", "list")) == 1


# -- end to end over a real loopback socket ---------------------------------------------------------------

async def test_end_to_end_over_loopback(tmp_path, media_cache) -> None:
    wall = FakeClock(NOW.timestamp())
    emu = Emulator(EmulatorConfig(providers=("webex",), count=40, anchor=ANCHOR, media_cache_dir=media_cache),
                   clock=wall)
    server = EmulatorServer(emu)
    server.start()
    mono = Monotonic()
    try:
        conf = _SETTINGS.validate_python(emu["webex"].config_entry())
        assert conf.base_url.startswith("http://127.0.0.1:")
        prov = WebexProvider("webex", conf, wall=wall, clock=mono, sleep=mono.sleep)
        try:
            await prov.check()
            items: list[Recording] = []
            cursor = None
            while True:
                page = await prov.list_recordings(ListQuery(page_size=15), cursor)
                items.extend(page.items)
                if page.next is None:
                    break
                cursor = page.next
            assert [r.id for r in items] == emu["webex"].listed_ids()
            w = emu["webex"]
            rec = next(r for r in items if (r.duration or 0) < 120
                       and not w.prevents_download(w.data.fact(w.index_of(r.id))))
            media = await prov.fetch_media(rec, tmp_path)
            assert media.format == "mp3" == sniff_file(media.path)
            await prov.delete_recording(rec.id)
            assert rec.id in w.listed_ids("deleted")
            await prov.restore_recording(rec.id)
            assert rec.id in w.listed_ids()
            assert all("authorization" not in r.headers for r in emu.log.records if r.origin == "media")
        finally:
            await prov.aclose()
    finally:
        server.stop()
