"""The Screendesk adapter against the emulator: one test per quirk of the provider page, the
fault switches, and one run over a real loopback socket."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import TypeAdapter
from support import ANCHOR

from rectui.config import ProviderSettings
from rectui.emulator.app import Emulator, EmulatorConfig
from rectui.emulator.dataset import HOSTILE_TEXTS
from rectui.emulator.screendesk import ScreendeskEmulator
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
from rectui.models import ListQuery, Page, Recording, SortSpec
from rectui.providers.http import RetryPolicy
from rectui.providers.screendesk import ScreendeskProvider, read_record

from .conftest import Setup

KIND = "screendesk"
_SETTINGS = TypeAdapter(ProviderSettings)


# -- helpers ------------------------------------------------------------------------------------
@pytest.fixture
async def adapter_for() -> AsyncIterator[Callable[..., ScreendeskProvider]]:
    """`adapter_for(setup, policy=None, transport=None, **settings)`: another adapter on the same
    emulator (another token, a tighter deadline, a wrapped transport), with the setup's clocks."""
    made: list[ScreendeskProvider] = []

    def make(s: Setup, *, policy: RetryPolicy | None = None, transport: httpx.AsyncBaseTransport | None = None,
             **settings: Any) -> ScreendeskProvider:
        conf = _SETTINGS.validate_python({**s.prov_emu.config_entry(), **settings})
        prov = ScreendeskProvider(KIND, conf, transport=transport or s.emu.transport(), clock=s.mono, wall=s.wall,
                                  sleep=s.mono.sleep, rng=random.Random(0), policy=policy)
        made.append(prov)
        return prov

    yield make
    for prov in made:
        await prov.aclose()


def sd(s: Setup) -> ScreendeskEmulator:
    emu = s.prov_emu
    assert isinstance(emu, ScreendeskEmulator)
    return emu


def setup(make_setup: Callable[..., Setup], *, server_page: int = 20, **kw: Any) -> Setup:
    s = make_setup(KIND, **kw)
    sd(s).page_size = server_page
    return s


def pages_asked(s: Setup) -> list[int]:
    return [int(parse_qs(r.query).get("page", ["1"])[0]) for r in s.emu.log.for_route(KIND, "list")]


def sent(s: Setup) -> int:
    return len(s.emu.log.records)


async def walk(prov: ScreendeskProvider, query: ListQuery | None = None, limit: int = 200) -> list[Page]:
    query = query or ListQuery()
    pages, cursor = [], None
    for _ in range(limit):
        page = await prov.list_recordings(query, cursor)
        pages.append(page)
        if page.next is None:
            return pages
        cursor = page.next
    raise AssertionError("paging did not end")


def ids(pages: list[Page]) -> list[str]:
    return [r.id for p in pages for r in p.items]


def newest_first(items: tuple[Recording, ...]) -> bool:
    starts = [r.start for r in items]
    return all(a is not None and b is not None and a >= b for a, b in itertools.pairwise(starts))


class ApplyThenFail(httpx.AsyncBaseTransport):
    """Passes a PATCH to the emulator (so it is applied), then loses the answer: a 500 or a read
    timeout, the two ambiguous outcomes of a write."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, times: int = 1, timeout: bool = False) -> None:
        self.inner, self.left, self.timeout = inner, times, timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "PATCH" and self.left > 0:
            self.left -= 1
            await response.aread()
            if self.timeout:
                raise httpx.ReadTimeout("answer lost", request=request)
            return httpx.Response(500, json={"error": {"message": "Internal Server Error", "code": 500}},
                                  request=request)
        return response


class Reorder(httpx.AsyncBaseTransport):
    """Gives the records of every listing answer in a new random order (the order is undocumented:
    nothing says two requests for the same page list it the same way)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, seed: int = 0) -> None:
        self.inner, self.rng = inner, random.Random(seed)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method != "GET" or not request.url.path.endswith("/recordings"):
            return response
        body = json.loads(await response.aread())
        self.rng.shuffle(body["records"])
        return httpx.Response(response.status_code, json=body, request=request)


# -- capabilities -------------------------------------------------------------------------------
async def test_capabilities_are_honest(make_setup) -> None:
    caps = make_setup(KIND).provider.capabilities
    assert caps.page_style == "number" and caps.exact_total
    assert not caps.server_sort and not caps.server_filters
    assert (caps.media, caps.can_delete, caps.can_restore, caps.can_purge, caps.server_tags) == (False,) * 5
    assert caps.can_rename and caps.rename_fields == ("title", "summary", "description")
    assert ScreendeskProvider.ORDER_APPROXIMATE


# -- quirk: pagination (pagy: `items` is the page size, fixed by the server) --------------------
async def test_items_is_the_fixed_server_page_size_and_no_size_parameter_is_sent(make_setup) -> None:
    s = setup(make_setup, server_page=20, count=60)
    pages = await walk(s.provider)
    assert [len(p.items) for p in pages] == [20, 20, 20]
    assert [(p.page_number, p.page_count, p.total) for p in pages] == [(1, 3, 60), (2, 3, 60), (3, 3, 60)]
    assert ids(pages) == sd(s).listed_ids()
    assert pages_asked(s) == [1, 2, 3]
    assert all(set(parse_qs(r.query)) == {"page"} for r in s.emu.log.for_route(KIND, "list"))


async def test_smaller_pages_are_slices_of_the_server_pages(make_setup) -> None:
    s = setup(make_setup, server_page=20, count=60)
    pages = await walk(s.provider, ListQuery(page_size=7))
    assert [len(p.items) for p in pages] == [7] * 8 + [4]
    assert ids(pages) == sd(s).listed_ids()
    assert max(pages_asked(s)) == 3
    assert pages[3].page_number == 4 and pages[3].page_count == 9


async def test_bigger_pages_join_server_pages(make_setup) -> None:
    s = setup(make_setup, server_page=20, count=60)
    pages = await walk(s.provider, ListQuery(page_size=50))
    assert [len(p.items) for p in pages] == [50, 10]
    assert ids(pages) == sd(s).listed_ids()
    assert pages_asked(s) == [1, 2, 3, 3]


async def test_previous_goes_back_to_the_same_rows(make_setup) -> None:
    s = setup(make_setup, server_page=20, count=60)
    query = ListQuery(page_size=15)
    p1 = await s.provider.list_recordings(query)
    p2 = await s.provider.list_recordings(query, p1.next)
    p3 = await s.provider.list_recordings(query, p2.next)
    assert p1.prev is None
    back = await s.provider.list_recordings(query, p3.prev)
    assert [r.id for r in back.items] == [r.id for r in p2.items] and back.page_number == 2


@pytest.mark.parametrize("end", ["absent", "null"])
async def test_next_page_absent_or_null_ends_the_list(make_setup, end: str) -> None:
    s = setup(make_setup, server_page=20, count=50, faults=f"screendesk.list:pagination_end={end}")
    pages = await walk(s.provider)
    assert ids(pages) == sd(s).listed_ids()
    assert pages_asked(s) == [1, 2, 3]          # never past `pages`
    assert pages[-1].next is None and pages[0].prev is None


async def test_page_at_pages_ends_even_when_next_page_points_back(make_setup) -> None:
    s = setup(make_setup, server_page=20, count=60, faults="screendesk.list:cursor_cycle")
    pages = await walk(s.provider)
    assert ids(pages) == sd(s).listed_ids()
    assert pages_asked(s) == [1, 2, 3]


async def test_same_page_cursor_twice_stops_without_looping(make_setup) -> None:
    s = setup(make_setup, server_page=20, count=60, faults="screendesk.list:cursor_repeat")
    pages = await walk(s.provider)
    assert len(pages) == 1 and pages[0].next is None
    assert any("same page cursor twice" in w for w in pages[0].warnings)
    assert pages_asked(s) == [1]


async def test_empty_page_mid_list_is_reported_and_skipped(make_setup) -> None:
    s = setup(make_setup, server_page=20, count=60, faults="screendesk.list:empty_page=2")
    pages = await walk(s.provider)
    assert [len(p.items) for p in pages] == [20, 0, 20]
    assert any("empty page 2 of 3" in w for w in pages[1].warnings)
    assert pages_asked(s) == [1, 2, 3]


async def test_empty_server_page_under_small_pages_is_jumped_over(make_setup) -> None:
    s = setup(make_setup, server_page=20, count=60, faults="screendesk.list:empty_page=2")
    pages = await walk(s.provider, ListQuery(page_size=7))
    listed = sd(s).listed_ids()
    assert ids(pages) == listed[:20] + listed[40:]
    assert pages_asked(s).count(2) == 1           # the empty page is not asked again per slice


async def test_new_recordings_pushing_the_list_down_give_no_duplicates(make_setup) -> None:
    s = setup(make_setup, server_page=20, count=60, faults="screendesk.list:page_shift=3,after=1")
    pages = await walk(s.provider)
    got = ids(pages)
    assert len(got) == len(set(got)) == 57
    assert any("already shown" in w for w in pages[1].warnings)


# -- quirk: the order is undocumented -----------------------------------------------------------
async def test_unconfirmed_order_pages_sorted_before_slicing(make_setup) -> None:
    s = setup(make_setup, server_page=20, count=60, faults="screendesk.list:shuffle_page")
    pages = await walk(s.provider, ListQuery(page_size=7))
    assert sorted(ids(pages)) == sorted(sd(s).listed_ids())
    assert len(ids(pages)) == 60
    assert all(p.order_approximate and not p.sorted_on_server and newest_first(p.items) for p in pages)


async def test_order_changing_between_requests_still_slices_without_gaps(make_setup, adapter_for) -> None:
    s = setup(make_setup, server_page=20, count=60)
    prov = adapter_for(s, transport=Reorder(s.emu.transport()))
    pages = await walk(prov, ListQuery(page_size=7))
    assert ids(pages) == sd(s).listed_ids()
    assert all(not p.warnings for p in pages)


# -- quirk: no filters, sort, recycle bin -------------------------------------------------------
@pytest.mark.parametrize("query", [
    ListQuery(since=ANCHOR - timedelta(days=7)), ListQuery(owner="x@example.com"), ListQuery(status="deleted"),
    ListQuery(sort=SortSpec(key="start")), ListQuery(call_id="48213"),
])
async def test_filters_sort_and_recycle_bin_are_unsupported_and_nothing_is_sent(make_setup, query) -> None:
    s = make_setup(KIND)
    with pytest.raises(Unsupported):
        await s.provider.list_recordings(query)
    assert sent(s) == 0


# -- quirk: nullable user, room_insights, duration; the record's fields ------------------------
async def test_null_user_room_insights_and_duration_are_read(make_setup) -> None:
    s = setup(make_setup, server_page=100, count=100)
    page = await s.provider.list_recordings(ListQuery())
    by_id = {r.id: r for r in page.items}
    no_agent = [r for r in page.items if r.raw["user"] is None]
    no_duration = [r for r in page.items if r.raw["metadata"]["duration"] is None]
    live = [r for r in page.items if r.raw["room_insights"] is not None]
    assert no_agent and no_duration and live
    for rec in no_agent:
        assert rec.owner is None and rec.details["Agent"] == "none linked"
    for rec in no_duration:
        room = rec.raw["room_insights"]
        assert rec.duration == (room["duration"] if room else None)
    for rec in live:
        assert rec.direction == "live" and "Live call started" in rec.details and "Participant 1" in rec.details
    rec = by_id[next(r.id for r in page.items if r.raw["user"] and r.raw["metadata"]["recording_type"] == "Sent")]
    raw = rec.raw
    assert rec.owner == raw["user"]["email"] == rec.caller and rec.direction == "outbound"
    assert rec.callee == raw["customer"]["email"]
    assert rec.start == datetime.fromisoformat(raw["metadata"]["created_at"])
    assert rec.title == (raw["title"] or "") and rec.details["Source"] == raw["metadata"]["recording_source"]
    assert rec.viewer_url == raw["metadata"]["url"] and not rec.has_media and "browser" in (rec.media_note or "")
    assert rec.tags == frozenset() and rec.size is None and rec.status == "available"


async def test_times_with_an_offset_are_the_same_instant_in_utc(make_setup) -> None:
    s = setup(make_setup, server_page=20, count=20)
    plain = (await s.provider.list_recordings(ListQuery())).items
    s.emu.faults.set("screendesk.list:time_offset=+02:00")
    shifted = (await s.provider.list_recordings(ListQuery())).items
    assert shifted[0].raw["metadata"]["created_at"].endswith("+02:00")
    assert [r.start for r in shifted] == [r.start for r in plain]
    assert all(r.start is not None and r.start.utcoffset() == timedelta(0) for r in shifted)


def test_wire_reading_is_lenient() -> None:
    wire, bad = read_record({
        "uuid": "5b0e7f3c-2d4a-4c1b-9e8f-6a7b8c9d0e1f", "title": None,
        "metadata": {"created_at": "2024-05-14 09:31:02", "duration": 74, "recording_type": "Received",
                     "url": "javascript:alert(1)", "helpdesk_info": {"platform": "zendesk", "ticket_id": 48213}},
        "user": None, "customer": {"email": None}, "room_insights": None,
    })
    assert wire is not None and bad == []
    rec = wire.to_recording("sd", id_valid=True, raw={})
    assert rec.start == datetime(2024, 5, 14, 9, 31, 2, tzinfo=UTC)     # no zone: taken as UTC
    assert rec.call_id == "48213" and rec.details["Helpdesk ticket"] == "48213"
    assert rec.viewer_url is None and rec.details["Viewer URL"] == "javascript:alert(1)"
    assert rec.title == "" and rec.direction == "inbound"


# -- quirk: the two error body shapes ------------------------------------------------------------
@pytest.mark.parametrize("shape", ["string", "object", "object_string_code"])
async def test_both_error_body_shapes_give_the_servers_message(make_setup, shape: str) -> None:
    s = make_setup(KIND, faults=f"screendesk.get:error_shape={shape}")
    with pytest.raises(NotFound) as info:
        await s.provider.get_recording("00000000-0000-4000-8000-000000000000")
    assert "Recording not found or does not exist" in info.value.message and info.value.status == 404


# -- quirk: Enterprise plan only, members see their own, updates are admin only ------------------
async def test_lower_plan_token_is_permission_denied_not_auth_error(make_setup, adapter_for) -> None:
    s = make_setup(KIND)
    prov = adapter_for(s, api_token=sd(s).starter_token)
    with pytest.raises(PermissionDenied) as info:
        await prov.list_recordings(ListQuery())
    assert "Enterprise" in info.value.message
    with pytest.raises(PermissionDenied):
        await prov.check()


async def test_member_sees_own_recordings_and_update_needs_an_admin_token(make_setup, adapter_for) -> None:
    s = setup(make_setup, server_page=100, count=100)
    member = adapter_for(s, api_token=sd(s).member_token)
    page = await member.list_recordings(ListQuery())
    count = sd(s).visible("member")[0]
    assert page.total == len(page.items) == count < 100
    rec = page.items[0]
    before = len(s.emu.log.for_route(KIND, "update"))
    with pytest.raises(PermissionDenied) as info:
        await member.rename(rec.id, {"title": "mine now"})
    assert info.value.title == "Admin token required" and "admin" in info.value.message
    assert len(s.emu.log.for_route(KIND, "update")) == before + 1      # a 403 is not retried
    assert (await member.get_recording(rec.id)).title == rec.title     # the provider keeps working


# -- quirk: update is PATCH of title/summary/description only ----------------------------------
async def test_rename_patches_only_the_given_fields(make_setup) -> None:
    s = make_setup(KIND)
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[0]
    updated = await s.provider.rename(rec.id, {"summary": None, "description": "Line one\nline two"})
    assert updated.title == rec.title
    assert updated.raw["summary"] is None and updated.raw["description"] == "Line one\nline two"
    again = await s.provider.rename(rec.id, {"title": "New\ttitle"})
    assert again.title == "New title" and again.raw["description"] == "Line one\nline two"
    patches = s.emu.log.for_route(KIND, "update")
    assert len(patches) == 2 and all(p.headers["content-type"] == "application/json" for p in patches)


async def test_rename_refuses_what_the_api_cannot_change_sending_nothing(make_setup, adapter_for) -> None:
    s = make_setup(KIND)
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[0]
    before = sent(s)
    with pytest.raises(Unsupported):
        await s.provider.rename(rec.id, {"tags": "vip"})
    with pytest.raises(ProviderError) as info:
        await s.provider.rename(rec.id, {"title": "   "})
    assert info.value.title == "Update rejected"
    with pytest.raises(PermissionDenied):
        await adapter_for(s, read_only=True).rename(rec.id, {"title": "x"})
    assert sent(s) == before


async def test_validation_422_is_update_rejected(make_setup) -> None:
    s = make_setup(KIND, faults="screendesk.update:status=422,message=Title is too long")
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[0]
    with pytest.raises(ProviderError) as info:
        await s.provider.rename(rec.id, {"title": "x"})
    assert info.value.title == "Update rejected" and info.value.status == 422
    assert "Title is too long" in info.value.message


@pytest.mark.parametrize("lost_by_timeout", [False, True])
async def test_update_applied_then_answer_lost_is_verified_not_resent(make_setup, adapter_for,
                                                                      lost_by_timeout: bool) -> None:
    s = make_setup(KIND)
    prov = adapter_for(s, transport=ApplyThenFail(s.emu.transport(), timeout=lost_by_timeout))
    rec = (await prov.list_recordings(ListQuery(page_size=5))).items[1]
    gets = len(s.emu.log.for_route(KIND, "get"))
    updated = await prov.rename(rec.id, {"title": "Applied once"})
    assert updated.title == "Applied once"
    assert len(s.emu.log.for_route(KIND, "update")) == 1
    assert len(s.emu.log.for_route(KIND, "get")) == gets + 1


async def test_update_not_applied_after_a_500_is_sent_once_more(make_setup) -> None:
    s = make_setup(KIND, faults="screendesk.update:status=500,count=1")
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[1]
    updated = await s.provider.rename(rec.id, {"title": "Second try"})
    assert updated.title == "Second try"
    assert [r.status for r in s.emu.log.for_route(KIND, "update")] == [500, 200]
    assert len(s.emu.log.for_route(KIND, "get")) == 1


async def test_update_failing_twice_surfaces_unavailable(make_setup) -> None:
    s = make_setup(KIND, faults="screendesk.update:status=503")
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[1]
    with pytest.raises(Unavailable):
        await s.provider.rename(rec.id, {"title": "Never"})
    assert len(s.emu.log.for_route(KIND, "update")) == 2
    assert (await s.provider.get_recording(rec.id)).title == rec.title


# -- quirk: no media, no delete, no tags ---------------------------------------------------------
def files_in(path: Path) -> list[Path]:
    return list(path.iterdir())


async def test_no_media_api_is_unsupported_and_nothing_is_fetched(make_setup, tmp_path: Path) -> None:
    dest = tmp_path / "media"
    dest.mkdir()
    s = make_setup(KIND)
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[0]
    assert not rec.has_media and rec.viewer_url and rec.viewer_url.startswith(s.emu.api_url + "/recordings/")
    before = sent(s)
    with pytest.raises(Unsupported) as info:
        await s.provider.fetch_media(rec, dest)
    assert "browser" in info.value.message
    assert sent(s) == before and files_in(dest) == []
    assert not s.emu.log.for_route(KIND, "viewer")


async def test_no_delete_even_with_delete_apply_then_fail_nothing_is_sent(make_setup) -> None:
    s = make_setup(KIND, faults="screendesk.*:delete_apply_then_fail")
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[0]
    before = sent(s)
    for call in (s.provider.delete_recording, s.provider.restore_recording, s.provider.purge_recording):
        with pytest.raises(Unsupported):
            await call(rec.id)
    assert sent(s) == before
    assert rec.id in sd(s).listed_ids() and sd(s).listed_ids("deleted") == []


async def test_no_tags_on_the_server(make_setup) -> None:
    s = make_setup(KIND)
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[0]
    before = sent(s)
    with pytest.raises(Unsupported) as info:
        await s.provider.set_tags(rec.id, frozenset({"vip"}))
    assert "locally" in info.value.message and sent(s) == before


# -- hostile data -------------------------------------------------------------------------------
async def test_hostile_ids_are_listed_but_refused_with_nothing_sent(make_setup) -> None:
    s = make_setup(KIND, faults="screendesk.list:hostile_ids")
    items = (await s.provider.list_recordings(ListQuery(page_size=10))).items
    assert items and all(not r.id_valid for r in items)
    before = sent(s)
    for rec in items[:5]:
        with pytest.raises(InvalidId):
            await s.provider.get_recording(rec.id)
        with pytest.raises(InvalidId):
            await s.provider.rename(rec.id, {"title": "x"})
    assert sent(s) == before


async def test_hostile_titles_are_cleaned_text(make_setup) -> None:
    s = make_setup(KIND, faults="screendesk.list:hostile_titles")
    items = (await s.provider.list_recordings(ListQuery(page_size=20))).items
    titles = {r.title for r in items}
    assert "[@click=app.quit]Click me[/]" in titles and "Q&A [draft]" in titles
    assert not any(ch in t for t in titles for ch in ("\x1b", "\x9b", "\x00", "\u202e"))
    assert len(titles & set(HOSTILE_TEXTS)) >= 4


async def test_schema_drift_keeps_readable_items_drops_id_less_ones(make_setup) -> None:
    s = setup(make_setup, server_page=20, count=20, faults="screendesk.list:schema_drift")
    page = await s.provider.list_recordings(ListQuery())
    listed = sd(s).listed_ids()
    got = {r.id: r for r in page.items}
    assert listed[0] not in got and len(got) == 19
    bad, unknown, nulled = got[listed[1]], got[listed[2]], got[listed[3]]
    assert bad.start is None and bad.duration is None and bad.title == ""
    assert "metadata.created_at" in bad.details["Unreadable fields"] and bad.details["Type"] == "Screenshot"
    assert unknown.details["Metadata video codec"] == "vp9" and "Thumbnail url" in unknown.details
    assert nulled.start is None and nulled.caller is None
    assert "metadata.created_at (missing)" in nulled.details["Unreadable fields"]
    assert any("without a uuid" in w for w in page.warnings)
    assert any("2 recordings had unreadable fields" in w for w in page.warnings)


async def test_detail_without_uuid_uses_the_requested_id(make_setup) -> None:
    s = make_setup(KIND, faults="screendesk.get:schema_drift=no_id")
    rec_id = sd(s).listed_ids()[0]
    rec = await s.provider.get_recording(rec_id)
    assert rec.id == rec_id and "uuid" in rec.details["Unreadable fields"] and rec.details["Title"]


# -- faults -------------------------------------------------------------------------------------
async def test_429_with_retry_after_is_slept_then_retried(make_setup) -> None:
    s = make_setup(KIND, faults="screendesk.list:status=429,retry_after=2,count=3")
    page = await s.provider.list_recordings(ListQuery(page_size=5))
    assert page.items and s.mono.slept == [2.0, 2.0, 2.0]


async def test_429_without_retry_after_backs_off_with_jitter(make_setup) -> None:
    s = make_setup(KIND, faults="screendesk.list:status=429,count=2")
    await s.provider.list_recordings(ListQuery(page_size=5))
    assert len(s.mono.slept) == 2
    assert 0 <= s.mono.slept[0] <= 0.5 and 0 <= s.mono.slept[1] <= 1.0


async def test_429_past_the_deadline_is_rate_limited_without_sleeping(make_setup) -> None:
    s = make_setup(KIND, faults="screendesk.list:status=429,retry_after=600")
    with pytest.raises(RateLimited) as info:
        await s.provider.list_recordings(ListQuery(page_size=5))
    assert info.value.retry_after == 600 and s.mono.slept == []


async def test_5xx_retried_then_surfaced(make_setup) -> None:
    s = make_setup(KIND, faults="screendesk.list:status=503")
    with pytest.raises(Unavailable) as info:
        await s.provider.list_recordings(ListQuery(page_size=5))
    assert info.value.status == 503 and info.value.correlation_id    # X-Request-Id
    assert len(s.emu.log.for_route(KIND, "list")) == 4 and len(s.mono.slept) == 3


async def test_501_is_not_retried(make_setup) -> None:
    s = make_setup(KIND, faults="screendesk.get:status=501")
    with pytest.raises(Unavailable):
        await s.provider.get_recording(sd(s).listed_ids()[0])
    assert len(s.emu.log.for_route(KIND, "get")) == 1 and s.mono.slept == []


@pytest.mark.parametrize("fault", ["malformed_json", "malformed_json=garbage", "malformed_json=nan",
                                   "content_type=html", "gzip_bomb=25"])
async def test_unreadable_answers_are_bad_responses_never_empty_pages(make_setup, fault: str) -> None:
    s = make_setup(KIND, faults=f"screendesk.list:{fault};screendesk.get:{fault}")
    with pytest.raises(BadResponse):
        await s.provider.list_recordings(ListQuery(page_size=5))
    with pytest.raises(BadResponse):
        await s.provider.get_recording(sd(s).listed_ids()[0])


async def test_token_deactivated_is_auth_error_and_not_replayed(make_setup) -> None:
    s = make_setup(KIND, faults="screendesk.*:expire_token_after=2")
    await s.provider.list_recordings(ListQuery(page_size=5))
    await s.provider.get_recording(sd(s).listed_ids()[0])
    with pytest.raises(AuthError) as info:
        await s.provider.list_recordings(ListQuery(page_size=5))
    assert "API token" in info.value.message and "deactivated" in info.value.message
    assert len(s.emu.log.records) == 3                     # bearer tokens are not refreshed
    assert sd(s).admin_token not in info.value.message


async def test_trickling_body_is_cut_by_the_deadline(media_cache: Path) -> None:
    emu = Emulator(EmulatorConfig(providers=(KIND,), count=60, faults="screendesk.list:drip=0.05", anchor=ANCHOR,
                                  media_cache_dir=media_cache))   # the emulator really sleeps between bytes
    conf = _SETTINGS.validate_python(emu[KIND].config_entry())
    prov = ScreendeskProvider(KIND, conf, transport=emu.transport(), policy=RetryPolicy(deadline=0.3))
    try:
        with pytest.raises(Unavailable) as info:
            await prov.list_recordings(ListQuery(page_size=5))
        assert "timed out after 0.3 s" in info.value.message
    finally:
        await prov.aclose()


async def test_redirect_is_not_followed_and_credentials_stay_on_the_api_origin(make_setup) -> None:
    s = make_setup(KIND, faults="screendesk.list:redirect,count=1")
    with pytest.raises(BadResponse):
        await s.provider.list_recordings(ListQuery(page_size=5))
    page = await s.provider.list_recordings(ListQuery(page_size=5))
    await s.provider.get_recording(page.items[0].id)
    assert [r.origin for r in s.emu.log.records] == ["api", "api", "api"]   # nothing reached the media origin
    assert all(r.headers["authorization"] == f"Bearer {sd(s).admin_token}" for r in s.emu.log.records)


async def test_wrong_token_is_an_auth_error_that_names_the_token(make_setup) -> None:
    s = make_setup(KIND, settings={"api_token": "sd_wrong-token-canary"})
    with pytest.raises(AuthError) as info:
        await s.provider.check()
    assert "API token" in info.value.message and "canary" not in info.value.message
    assert len(s.emu.log.records) == 1


async def test_check_is_one_authenticated_call(make_setup) -> None:
    s = make_setup(KIND)
    await s.provider.check()
    assert [(r.route, r.headers.get("authorization", "")[:7]) for r in s.emu.log.records] == [("list", "Bearer ")]


# -- end to end over a real loopback socket -------------------------------------------------------
async def test_end_to_end_over_loopback(media_cache: Path) -> None:
    emu = Emulator(EmulatorConfig(providers=(KIND,), count=130, anchor=ANCHOR, media_cache_dir=media_cache))
    server = EmulatorServer(emu)
    bound = server.start()
    prov = ScreendeskProvider(KIND, _SETTINGS.validate_python(emu[KIND].config_entry()))
    try:
        assert prov.describe().startswith(f"screendesk at {bound.api}/api/v2")
        await prov.check()
        pages = await walk(prov)
        assert [len(p.items) for p in pages] == [100, 30] and pages[0].total == 130
        assert ids(pages) == emu[KIND].listed_ids()
        rec = await prov.get_recording(pages[1].items[0].id)
        assert rec.details["UUID"] == rec.id
        renamed = await prov.rename(rec.id, {"title": "Over the wire"})
        assert renamed.title == "Over the wire" == (await prov.get_recording(rec.id)).title
        assert {r.origin for r in emu.log.records} == {"api"}
    finally:
        await prov.aclose()
        server.stop()
