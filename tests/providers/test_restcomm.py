"""The Restcomm adapter against its emulator: one test per quirk of the reference page
(providers/restcomm.md) the adapter must survive, the fault switches, and one run over a real
loopback socket."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from pydantic import TypeAdapter
from support import ANCHOR, FakeClock

from rectui.config import ProviderSettings
from rectui.emulator.app import Emulator, EmulatorConfig
from rectui.emulator.server import EmulatorServer
from rectui.errors import (
    AuthError,
    BadResponse,
    InvalidId,
    NotFound,
    PermissionDenied,
    Unavailable,
    Unsupported,
)
from rectui.mediafiles import sniff_file
from rectui.models import Cursor, ListQuery, Page, Recording, SortSpec
from rectui.providers.http import RetryPolicy
from rectui.providers.restcomm import RestcommProvider

from .conftest import Setup

KIND = "restcomm"
_SETTINGS = TypeAdapter(ProviderSettings)


def setup(make_setup: Callable[..., Setup], **kw: Any) -> Setup:
    return make_setup(KIND, **kw)


def sid(s: Setup, i: int) -> str:
    return s.prov_emu.sid_of(s.prov_emu.data.fact(i))


def second(s: Setup, i: int) -> Any:
    """Recording i's start as the wire shows it (to the second)."""
    return s.prov_emu.data.fact(i).start.replace(microsecond=0)


def requests(s: Setup, route: str) -> list[Any]:
    return s.emu.log.for_route(KIND, route)


def params(rec: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(rec.query, keep_blank_values=True).items()}


async def walk(s: Setup, query: ListQuery, limit: int = 200) -> tuple[list[Recording], list[Page]]:
    items: list[Recording] = []
    pages: list[Page] = []
    cursor: Cursor | None = None
    for _ in range(limit):
        page = await s.provider.list_recordings(query, cursor)
        pages.append(page)
        items.extend(page.items)
        if page.next is None:
            return items, pages
        cursor = page.next
    raise AssertionError("paging did not end")


async def walk_back(s: Setup, query: ListQuery, cursor: Cursor | None) -> list[str]:
    ids: list[str] = []
    for _ in range(200):
        if cursor is None:
            return ids
        page = await s.provider.list_recordings(query, cursor)
        ids = [r.id for r in page.items] + ids
        cursor = page.prev
    raise AssertionError("paging back did not end")


# -- representation, auth ------------------------------------------------------------------------
async def test_quirk_xml_by_default_every_call_asks_for_json_with_basic_auth(make_setup) -> None:
    s = setup(make_setup)
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[0]
    await s.provider.get_recording(rec.id)
    await s.provider.delete_recording(rec.id)
    sent = s.emu.log.records
    assert [r.route for r in sent] == ["list", "get", "delete"]
    assert all(r.headers.get("accept") == "application/json" for r in sent)
    assert sent[0].path.endswith("/Recordings.json") and sent[1].path.endswith(f"/{rec.id}.json")
    assert sent[2].path.endswith(f"/Recordings/{rec.id}")             # DELETE: 200 with an empty body
    acct = s.prov_emu.account_sid
    assert all(r.path.startswith(f"/restcomm/2012-04-24/Accounts/{acct}/") for r in sent)
    assert all(r.headers["authorization"].startswith("Basic ") for r in sent)


async def test_quirk_basic_auth_has_no_refresh_expired_credentials_are_an_auth_error(make_setup) -> None:
    s = setup(make_setup, faults="restcomm.*:expire_token_after=2")
    await s.provider.list_recordings(ListQuery(page_size=2))
    await s.provider.list_recordings(ListQuery(page_size=2))
    with pytest.raises(AuthError) as info:
        await s.provider.list_recordings(ListQuery(page_size=2))
    assert info.value.status == 401 and "credentials" in info.value.message
    assert len(requests(s, "list")) == 3 and s.mono.slept == []          # a 401 is never retried
    assert s.prov_emu.auth_token not in info.value.message


async def test_quirk_inactive_account_403_text_body_is_named(make_setup) -> None:
    s = setup(make_setup, faults="restcomm.list:account_inactive,count=1")
    with pytest.raises(PermissionDenied) as info:
        await s.provider.list_recordings(ListQuery(page_size=2))
    assert info.value.title == "Account not active" and "not active" in info.value.message
    assert (await s.provider.list_recordings(ListQuery(page_size=2))).items     # that call only


async def test_check_is_one_cheap_authenticated_call(make_setup) -> None:
    s = setup(make_setup)
    await s.provider.check()
    [rec] = s.emu.log.records
    assert params(rec)["PageSize"] == "1" and rec.headers["authorization"].startswith("Basic ")
    bad = setup(make_setup, settings={"auth_token": "0" * 32})
    with pytest.raises(AuthError):
        await bad.provider.check()


# -- paging --------------------------------------------------------------------------------------
async def test_quirk_zero_based_pages_num_pages_is_last_index_and_no_extra_empty_page(make_setup) -> None:
    s = setup(make_setup, count=60)
    items, pages = await walk(s, ListQuery(page_size=20))   # 60 = 3 × 20: the server offers a 4th, empty page
    assert [r.id for r in items] == s.prov_emu.listed_ids()
    assert len(pages) == 3 and all(len(p.items) == 20 for p in pages)
    assert [p.page_number for p in pages] == [1, 2, 3] and {p.page_count for p in pages} == {3}
    assert {p.total for p in pages} == {60}
    assert [params(r)["Page"] for r in requests(s, "list")] == ["0", "1", "2"]   # never Page=3


async def test_quirk_page_links_drop_filters_so_each_page_is_rebuilt(make_setup) -> None:
    s = setup(make_setup, count=60)
    query = ListQuery(page_size=7, sort=SortSpec(key="duration", descending=False))
    items, pages = await walk(s, query)
    durations = [r.duration for r in items]
    assert durations == sorted(durations) and len(items) == 60 and all(p.sorted_on_server for p in pages)
    for rec in requests(s, "list"):      # every page carries the sort; no server link is ever followed
        assert params(rec)["SortBy"] == "Duration:asc" and rec.path.endswith(".json")
        assert "AfterSid" not in rec.query and "null" not in rec.query and "null" not in rec.path


async def test_quirk_null_string_links_and_cursor_knobs_do_not_steer_paging(make_setup) -> None:
    # The server's next_page_uri is never read: repeating or cycling links change nothing.
    for knob in ("cursor_repeat", "cursor_cycle"):
        s = setup(make_setup, count=30, faults=f"restcomm.list:{knob}")
        items, pages = await walk(s, ListQuery(page_size=10))
        assert [r.id for r in items] == s.prov_emu.listed_ids() and len(pages) == 3


async def test_previous_pages_from_the_end_give_back_every_row(make_setup) -> None:
    s = setup(make_setup, count=45)
    items, pages = await walk(s, ListQuery(page_size=10))
    assert pages[0].prev is None
    back = await walk_back(s, ListQuery(page_size=10), pages[-1].prev)
    assert back + [r.id for r in pages[-1].items] == [r.id for r in items]


async def test_quirk_page_past_the_end_is_400_the_listing_ends_with_a_warning(make_setup) -> None:
    s = setup(make_setup, count=30)
    first = await s.provider.list_recordings(ListQuery(page_size=10))
    second_page = await s.provider.list_recordings(ListQuery(page_size=10), first.next)
    for i in range(25):                     # the list shrinks to 5: page 3 no longer exists
        s.prov_emu.delete_index(i)
    last = await s.provider.list_recordings(ListQuery(page_size=10), second_page.next)
    assert last.items == () and last.next is None
    assert "no longer exists" in last.warnings[0]
    assert last.prev is not None and last.total == 5
    again = await s.provider.list_recordings(ListQuery(page_size=10), last.prev)
    assert [r.id for r in again.items] == s.prov_emu.listed_ids()


async def test_quirk_after_sid_is_ignored_so_rows_shifted_across_pages_are_not_repeated(make_setup) -> None:
    s = setup(make_setup, count=40)
    rc = s.prov_emu
    rc.delete_index(0)                     # hidden now, "arrives" between two page requests
    first = await s.provider.list_recordings(ListQuery(page_size=10))
    assert [r.id for r in first.items] == [sid(s, i) for i in range(1, 11)]
    rc._deleted.remove(0)
    rc._deleted_set.discard(0)
    rc._selections.clear()                  # the list moved down by one row
    nxt = await s.provider.list_recordings(ListQuery(page_size=10), first.next)
    assert [r.id for r in nxt.items] == [sid(s, i) for i in range(11, 20)]      # sid 10 not shown twice
    assert "left out" in nxt.warnings[0]
    rc.delete_index(3)                     # and up again: going back, page 2's first row is not repeated
    back = await s.provider.list_recordings(ListQuery(page_size=10), nxt.prev)
    assert sid(s, 11) not in [r.id for r in back.items]


async def test_empty_page_mid_list_is_reported_and_paging_goes_on(make_setup) -> None:
    s = setup(make_setup, count=30, faults="restcomm.list:empty_page=1")
    items, pages = await walk(s, ListQuery(page_size=10))
    assert [len(p.items) for p in pages] == [10, 0, 10]
    assert pages[1].warnings == ("empty page 2 of 3 from the server",)
    assert [r.id for r in items] == [sid(s, i) for i in (*range(10), *range(20, 30))]


# -- fields ---------------------------------------------------------------------------------------
async def test_quirk_rfc2822_dates_in_server_offset_and_string_durations(make_setup) -> None:
    s = setup(make_setup, count=60)
    items = (await s.provider.list_recordings(ListQuery(page_size=60))).items
    for i, rec in enumerate(items):
        fact = s.prov_emu.data.fact(i)
        assert rec.start == second(s, i) and rec.start.utcoffset() == timedelta(0)
        assert rec.duration == pytest.approx(fact.duration, abs=1 / 8000)
        assert rec.raw["date_created"].endswith(" +0900") and isinstance(rec.raw["duration"], str)
    assert any(r.raw["date_created"].split()[1].isdigit() and len(r.raw["date_created"].split()[1]) == 1
               for r in items)               # unpadded days parse too
    assert s.provider.server_offset == timedelta(hours=9)


async def test_detail_carries_every_field(make_setup) -> None:
    s = setup(make_setup, count=400)
    listed = (await s.provider.list_recordings(ListQuery(page_size=60))).items
    rec = await s.provider.get_recording(listed[0].id)
    assert rec == listed[0]
    assert rec.owner == s.prov_emu.account_sid and rec.call_id == s.prov_emu.call_sid(0)
    assert set(rec.details) == {"Recording SID", "Created", "Updated", "Account SID", "Call SID", "Duration",
                                "API version", "Resource URI", "File URI"}
    assert rec.viewer_url == rec.raw["file_uri"] and rec.tags == frozenset() and rec.status == "available"
    no_call = await s.provider.get_recording(sid(s, next(i for i in range(400) if s.prov_emu.call_sid(i) is None)))
    assert "call_sid" not in no_call.raw                            # omitted when null
    assert no_call.call_id is None and "Call SID" not in no_call.details


async def test_quirk_file_uri_relative_or_legacy_resolved_and_media_still_served(make_setup, tmp_path) -> None:
    for form in ("relative", "legacy"):
        s = setup(make_setup, count=10, faults=f"restcomm.list:file_uri={form}")
        rec = (await s.provider.list_recordings(ListQuery(page_size=10))).items[0]
        assert not rec.raw["file_uri"].startswith("http") or "/restcomm/recordings/" in rec.raw["file_uri"]
        assert rec.viewer_url is not None and rec.viewer_url.startswith(s.emu.api_url + "/restcomm/")
        assert rec.viewer_url.endswith(f"{rec.id}.wav")
        dest = tmp_path / form
        dest.mkdir()
        media = await s.provider.fetch_media(rec, dest)
        assert "authorization" not in requests(s, "media")[-1].headers    # built on the configured origin
        assert media.format == "wav" == sniff_file(media.path)


async def test_video_recording_is_fetched_as_mp4_and_the_format_comes_from_the_bytes(make_setup, tmp_path) -> None:
    s = setup(make_setup, count=5)
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[0]
    video = rec.model_copy(update={"raw": {**rec.raw, "file_uri": rec.raw["file_uri"][:-4] + ".mp4"}})
    media = await s.provider.fetch_media(video, tmp_path)
    assert requests(s, "media")[-1].path.endswith(f"/{rec.id}.mp4")
    assert media.format == "wav" and media.path.suffix == ".wav"          # the server sent the stored WAV
    garbled = rec.model_copy(update={"raw": {**rec.raw, "file_uri": "http://[::1"}})
    assert (await s.provider.fetch_media(garbled, tmp_path)).format == "wav"


async def test_schema_drift_items_without_sid_dropped_unreadable_fields_unknown(make_setup) -> None:
    s = setup(make_setup, count=20, faults="restcomm.list:schema_drift=mix")
    page = await s.provider.list_recordings(ListQuery(page_size=20))
    assert len(page.items) == 16                                   # every 5th item lost its sid
    assert page.warnings[0] == "4 item(s) without a recording SID were skipped"
    assert "could not be read" in page.warnings[1]
    by_id = {r.id: r for r in page.items}
    nulls = by_id[sid(s, 1)]                                       # date_created, duration, file_uri null
    assert nulls.start is None and nulls.duration is None and nulls.viewer_url is None
    numeric = by_id[sid(s, 2)]                                     # a number for duration is still read
    assert numeric.duration == pytest.approx(s.prov_emu.data.fact(2).duration, abs=1e-3)
    garbled = by_id[sid(s, 3)]                                     # "not a date", "n/a"
    assert garbled.start is None and garbled.duration is None
    assert garbled.details["Created"] == "not a date"
    unknown = by_id[sid(s, 4)]                                     # unknown fields kept for the detail pane
    assert unknown.details["recording_status"] == "completed" and unknown.raw["limit"] == 10000


# -- filters and sort ------------------------------------------------------------------------------
async def test_quirk_start_and_end_time_honour_only_the_day_so_rows_are_trimmed(make_setup) -> None:
    s = setup(make_setup, count=2000)                              # ~3 recordings per day
    until = second(s, 40) - timedelta(seconds=1)                   # recording 40 is later on until's day
    since = until - timedelta(days=5)
    truth = [sid(s, i) for i in range(2000) if since <= second(s, i) <= until]
    query = ListQuery(since=since, until=until, page_size=2)
    items, pages = await walk(s, query)
    assert [r.id for r in items] == truth and sid(s, 40) not in truth
    assert all(p.total is None and p.page_number is None for p in pages)     # the server counts whole days
    assert pages[0].prev is None
    sent = [params(r) for r in requests(s, "list")]
    assert {(p["StartTime"], p["EndTime"]) for p in sent} == {(sent[0]["StartTime"], sent[0]["EndTime"])}
    assert len(sent[0]["StartTime"]) == 10 and "T" not in sent[0]["EndTime"]   # yyyy-MM-dd only
    back = await walk_back(s, query, pages[-1].prev)               # and back again to the first row
    assert back == truth[: len(back)] and back
    # The second query knows the server's offset (+0900) and asks for fewer whole days.
    assert s.provider.server_offset == timedelta(hours=9)
    s.emu.log.clear()
    again, _ = await walk(s, query)
    tight = params(requests(s, "list")[0])
    assert tight["StartTime"] >= sent[0]["StartTime"] and tight["EndTime"] <= sent[0]["EndTime"]
    assert [r.id for r in again] == truth


async def test_pages_emptied_by_the_trim_are_skipped_and_previous_stops_at_the_first_row(make_setup) -> None:
    s = setup(make_setup, count=2000)
    s.provider.server_offset = timedelta(hours=9)
    until = second(s, 60) - timedelta(seconds=1)
    truth = [sid(s, i) for i in range(2000) if second(s, i) <= until]
    query = ListQuery(until=until, page_size=1)
    first = await s.provider.list_recordings(query)
    assert [r.id for r in first.items] == truth[:1] and first.prev is None
    assert len(requests(s, "list")) > 1                            # the rows after `until` were read past
    second_page = await s.provider.list_recordings(query, first.next)
    back = await s.provider.list_recordings(query, second_page.prev)
    assert [r.id for r in back.items] == truth[:1] and back.prev is None


async def test_call_id_filter_is_sent_and_like_wildcards_never_are(make_setup) -> None:
    s = setup(make_setup, count=60)
    rc = s.prov_emu
    calls = [rc.call_sid(i) for i in range(60)]
    shared = next(c for c in calls if c and calls.count(c) > 1)
    page = await s.provider.list_recordings(ListQuery(call_id=shared))
    assert [r.id for r in page.items] == [sid(s, i) for i, c in enumerate(calls) if c == shared]
    assert page.total == len(page.items) and params(requests(s, "list")[0])["CallSid"] == shared
    blank = await s.provider.list_recordings(ListQuery(call_id="  ", page_size=5))   # an empty search field
    assert blank.total == 60 and "CallSid" not in params(requests(s, "list")[-1])
    s.emu.log.clear()
    for wild in ("%", "CA_%", "ID%-CA%"):                          # SQL LIKE patterns match no real SID
        empty = await s.provider.list_recordings(ListQuery(call_id=wild))
        assert empty.items == () and empty.total == 0
    assert len(s.emu.log.records) == 0


async def test_sort_is_sent_with_explicit_direction_and_unsorted_keys_are_unsupported(make_setup) -> None:
    s = setup(make_setup, count=60)
    expected = {("start", False): "DateCreated:asc", ("start", True): "DateCreated:desc",
                ("call_id", True): "CallSid:desc", ("duration", True): "Duration:desc"}
    for (key, desc), wire in expected.items():
        s.emu.log.clear()
        page = await s.provider.list_recordings(ListQuery(page_size=60, sort=SortSpec(key=key, descending=desc)))
        assert params(requests(s, "list")[0])["SortBy"] == wire
        if key == "start":
            starts = [r.start for r in page.items]
            assert starts == sorted(starts, reverse=desc) and len(starts) == 60
    for key in ("title", "owner", "caller", "size"):
        with pytest.raises(Unsupported):
            await s.provider.list_recordings(ListQuery(sort=SortSpec(key=key)))
    for query in (ListQuery(owner="x"), ListQuery(caller="x"), ListQuery(topic="x"), ListQuery(status="deleted")):
        with pytest.raises(Unsupported):
            await s.provider.list_recordings(query)
    assert (await s.provider.list_recordings(ListQuery(status="available", page_size=3))).total == 60


# -- media ---------------------------------------------------------------------------------------
async def test_quirk_audio_is_unauthenticated_and_no_credentials_reach_the_media_origin(make_setup,
                                                                                         tmp_path) -> None:
    tmp_path = tmp_path / "media"
    tmp_path.mkdir()
    s = setup(make_setup, count=10, faults="restcomm.media:redirect,expires=60")
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[0]
    media = await s.provider.fetch_media(rec, tmp_path)
    assert media.format == "wav" == sniff_file(media.path) and media.path.parent == tmp_path
    assert media.content_type == "application/octet-stream"         # S3's type: the bytes decide
    [wav] = requests(s, "media")
    [s3] = requests(s, "s3")
    assert wav.origin == "api" and wav.path.endswith(f"/Recordings/{rec.id}.wav") and s3.origin == "media"
    for sent in (wav, s3):
        assert "authorization" not in sent.headers and "cookie" not in sent.headers
    assert all("authorization" not in r.headers for r in s.emu.log.records if r.origin == "media")
    assert list(tmp_path.iterdir()) == [media.path]                   # no temporary file left


async def test_expired_storage_link_is_fetched_again_once(make_setup, tmp_path) -> None:
    s = setup(make_setup, count=10, faults="restcomm.media:redirect;restcomm.s3:link_expired,count=1")
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[0]
    media = await s.provider.fetch_media(rec, tmp_path)
    assert media.format == "wav" and len(requests(s, "media")) == 2
    s2 = setup(make_setup, count=10, faults="restcomm.media:redirect;restcomm.s3:link_expired")
    rec = (await s2.provider.list_recordings(ListQuery(page_size=5))).items[0]
    with pytest.raises(PermissionDenied, match="refused twice"):
        await s2.provider.fetch_media(rec, tmp_path)
    assert len(requests(s2, "media")) == 2


async def test_media_that_is_not_audio_or_too_large_is_refused_and_nothing_is_kept(make_setup, tmp_path) -> None:
    tmp_path = tmp_path / "media"
    tmp_path.mkdir()
    s = setup(make_setup, count=10, faults="restcomm.media:media=html,count=1")
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[0]
    with pytest.raises(BadResponse, match="not audio"):
        await s.provider.fetch_media(rec, tmp_path)
    with pytest.raises(BadResponse, match="limit"):
        await s.provider.fetch_media(rec, tmp_path, max_bytes=1000)
    assert list(tmp_path.iterdir()) == []


# -- delete and what Restcomm cannot do -----------------------------------------------------------
async def test_quirk_delete_is_hard_no_restore_no_update_no_tags(make_setup) -> None:
    s = setup(make_setup, count=10)
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[2]
    await s.provider.delete_recording(rec.id)
    assert rec.id not in s.prov_emu.listed_ids() and s.prov_emu.listed_ids("deleted") == []
    with pytest.raises(NotFound) as info:                         # first try, 404: already gone
        await s.provider.delete_recording(rec.id)
    assert info.value.title == "Already deleted"
    with pytest.raises(NotFound):
        await s.provider.get_recording(rec.id)
    before = len(s.emu.log.records)
    for call in (s.provider.restore_recording(rec.id), s.provider.purge_recording(rec.id),
                 s.provider.rename(rec.id, {"title": "x"}), s.provider.set_tags(rec.id, frozenset({"a"}))):
        with pytest.raises(Unsupported):
            await call
    assert len(s.emu.log.records) == before
    caps = s.provider.capabilities
    assert caps.can_delete and not (caps.can_restore or caps.can_purge or caps.server_tags or caps.can_rename)


async def test_delete_applied_then_500_is_verified_by_one_get(make_setup) -> None:
    s = setup(make_setup, count=10, faults="restcomm.delete:delete_apply_then_fail")
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[1]
    s.emu.log.clear()
    await s.provider.delete_recording(rec.id)                      # deleted (confirmed by the 404)
    assert [r.route for r in s.emu.log.records] == ["delete", "get"]
    assert rec.id not in s.prov_emu.listed_ids()
    assert any(e.method == "DELETE" and "confirmed" in e.message for e in s.events)


async def test_delete_500_not_applied_is_checked_then_sent_once_more(make_setup) -> None:
    s = setup(make_setup, count=10, faults="restcomm.delete:status=500,count=1")
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[1]
    s.emu.log.clear()
    await s.provider.delete_recording(rec.id)
    assert [(r.route, r.status) for r in s.emu.log.records] == [("delete", 500), ("get", 200), ("delete", 200)]
    assert rec.id not in s.prov_emu.listed_ids() and s.mono.slept == []     # never blindly retried


async def test_delete_outcome_unknown_when_the_check_fails_too(make_setup) -> None:
    s = setup(make_setup, count=10, faults="restcomm.delete:status=502;restcomm.get:status=503")
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[1]
    s.emu.log.clear()
    with pytest.raises(Unavailable) as info:
        await s.provider.delete_recording(rec.id)
    assert info.value.title == "Delete outcome unknown" and "unknown" in info.value.message
    assert [r.route for r in s.emu.log.records].count("delete") == 1


async def test_delete_that_never_connected_is_not_verified(make_setup) -> None:
    s = setup(make_setup, count=5, settings={"base_url": "http://offline.emulator.test/restcomm/2012-04-24"})
    with pytest.raises(Unavailable) as info:
        await s.provider.delete_recording(sid(s, 0))
    assert info.value.title == "Offline" and len(s.mono.slept) == 2        # connect errors: retried, not sent
    assert len(s.emu.log.records) == 0


async def test_hostile_ids_are_shown_but_nothing_is_sent(make_setup, tmp_path) -> None:
    tmp_path = tmp_path / "media"
    tmp_path.mkdir()
    s = setup(make_setup, count=10, faults="restcomm.list:hostile_ids")
    page = await s.provider.list_recordings(ListQuery(page_size=10))
    assert page.items and not any(r.id_valid for r in page.items)
    assert {r.id[34:] for r in page.items} >= {"../other", "a/b", "x?y=1", "%2e%2e", "#frag"}
    before = len(s.emu.log.records)
    for rec in page.items:
        for call in (s.provider.get_recording(rec.id), s.provider.delete_recording(rec.id),
                     s.provider.fetch_media(rec, tmp_path)):
            with pytest.raises(InvalidId):
                await call
    assert len(s.emu.log.records) == before and list(tmp_path.iterdir()) == []
    assert not s.provider.id_is_safe("re" + "0" * 32) and not s.provider.id_is_safe("RE" + "0" * 31)


# -- faults ----------------------------------------------------------------------------------------
async def test_429_with_and_without_retry_after(make_setup) -> None:
    s = setup(make_setup, faults="restcomm.list:status=429,retry_after=3,count=2")
    assert (await s.provider.list_recordings(ListQuery(page_size=2))).items
    assert s.mono.slept == [3.0, 3.0]
    s = setup(make_setup, faults="restcomm.list:status=429,count=2")
    assert (await s.provider.list_recordings(ListQuery(page_size=2))).items
    assert len(s.mono.slept) == 2 and 0 <= s.mono.slept[0] <= 0.5 and 0 <= s.mono.slept[1] <= 1.0  # full jitter


async def test_5xx_retried_then_surfaced_501_not_retried(make_setup) -> None:
    s = setup(make_setup, faults="restcomm.list:status=503")
    with pytest.raises(Unavailable) as info:
        await s.provider.list_recordings(ListQuery(page_size=2))
    assert info.value.status == 503 and len(requests(s, "list")) == 4 and len(s.mono.slept) == 3
    s = setup(make_setup, faults="restcomm.list:status=501")
    with pytest.raises(Unavailable):
        await s.provider.list_recordings(ListQuery(page_size=2))
    assert len(requests(s, "list")) == 1


@pytest.mark.parametrize("fault", ["malformed_json", "malformed_json=garbage", "malformed_json=nan",
                                   "content_type=html", "gzip_bomb=25"])
async def test_unreadable_list_bodies_are_bad_responses_never_an_empty_page(make_setup, fault: str) -> None:
    s = setup(make_setup, faults=f"restcomm.list:{fault}")
    with pytest.raises(BadResponse):
        await s.provider.list_recordings(ListQuery(page_size=5))


async def test_api_redirect_to_another_origin_is_not_followed(make_setup) -> None:
    s = setup(make_setup, faults="restcomm.list:redirect,count=1")
    with pytest.raises(BadResponse) as info:
        await s.provider.list_recordings(ListQuery(page_size=5))
    assert info.value.status == 302
    assert [r.origin for r in s.emu.log.records] == ["api"]       # the foreign sink got nothing


async def test_trickling_body_is_cut_by_the_deadline(media_cache: Path) -> None:
    wall = FakeClock(ANCHOR.timestamp() + 3600)
    emu = Emulator(EmulatorConfig(providers=(KIND,), count=10, anchor=ANCHOR, media_cache_dir=media_cache,
                                  faults="restcomm.list:drip=0.05"), clock=wall, sleep=asyncio.sleep)
    conf = _SETTINGS.validate_python(emu[KIND].config_entry())
    provider = RestcommProvider(KIND, conf, transport=emu.transport(), wall=wall, rng=random.Random(0),
                                policy=RetryPolicy(deadline=0.3))
    try:
        with pytest.raises(Unavailable, match=r"timed out after 0\.3 s"):
            await provider.list_recordings(ListQuery(page_size=5))
    finally:
        await provider.aclose()
    assert len(emu.log.for_route(KIND, "list")) == 1


# -- a real socket -----------------------------------------------------------------------------------
async def test_end_to_end_over_loopback(media_cache: Path, tmp_path: Path) -> None:
    emu = Emulator(EmulatorConfig(providers=(KIND,), count=25, anchor=ANCHOR, media_cache_dir=media_cache,
                                  faults="restcomm.media:redirect,count=1"))
    server = EmulatorServer(emu)
    server.start()
    try:
        conf = _SETTINGS.validate_python(emu[KIND].config_entry())
        assert conf.base_url.startswith("http://127.0.0.1:")
        provider = RestcommProvider(KIND, conf)
        try:
            await provider.check()
            ids: list[str] = []
            cursor = None
            while True:
                page = await provider.list_recordings(ListQuery(page_size=10), cursor)
                ids += [r.id for r in page.items]
                if page.next is None:
                    break
                cursor = page.next
            assert ids == emu[KIND].listed_ids() and page.total == 25
            rec = await provider.get_recording(ids[3])
            media = await provider.fetch_media(rec, tmp_path)          # 307 to the media origin, followed
            assert media.format == "wav" == sniff_file(media.path) and media.size > 44
            await provider.delete_recording(ids[3])
            assert ids[3] not in emu[KIND].listed_ids()
        finally:
            await provider.aclose()
    finally:
        server.stop()
    media_requests = [r for r in emu.log.records if r.origin == "media"]
    assert media_requests and all("authorization" not in r.headers for r in media_requests)


@pytest.mark.parametrize("file_uri", [
    "/restcomm/2012-04-24/Accounts/AC1/Recordings/RE1.wav", "/restcomm/recordings/RE1.wav", "{origin}/x/RE1.wav",
    "HTTP://{host}/x", "/a/../b", "/a/./b", "/a//b", "/a b", "/x?y#z", "/%2e%2e/x", "//evil.example/x",
    "https://other.example/y.wav", "javascript:alert(1)", "ftp://h/x", "  /trimmed.wav  ", "/.hidden",
])
def test_browser_link_fast_path_agrees_with_the_url_parser(make_setup, file_uri: str) -> None:
    """Plain paths skip httpx's URL parser; whatever the form, the link is the parser's."""
    s = setup(make_setup, count=1)
    prov = s.provider
    origin = str(prov.http.url("/")).rstrip("/")
    file_uri = file_uri.format(origin=origin, host=origin.split("://", 1)[1])
    url = prov.http.url(file_uri.strip())
    want = str(url) if url.scheme in ("http", "https") and url.host else None
    assert prov.browser_link(file_uri) == want
