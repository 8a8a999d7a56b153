"""The Kazoo adapter against the emulator: one test per quirk of the reference page, the fault
knobs, and one run over a real loopback socket."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import TypeAdapter
from support import ANCHOR, FakeClock

from rectui.config import ProviderSettings
from rectui.emulator.app import Emulator, EmulatorConfig
from rectui.emulator.dataset import Fact
from rectui.emulator.kazoo import (
    DEMO_ACCOUNT_NAME,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    KazooEmulator,
    encode_start_key,
)
from rectui.emulator.server import EmulatorServer
from rectui.errors import (
    AuthError,
    BadResponse,
    InvalidId,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unavailable,
    Unsupported,
)
from rectui.mediafiles import sniff_file
from rectui.models import ListQuery, Page, Recording, SortSpec
from rectui.providers.http import RetryPolicy
from rectui.providers.kazoo import CLOCK_SKEW, GREGORIAN_OFFSET, WINDOW, KazooProvider

from .conftest import Setup

_SETTINGS = TypeAdapter(ProviderSettings)
NOW = ANCHOR.timestamp() + 3600                      # make_setup's wall clock
NOW_G = int(NOW) + GREGORIAN_OFFSET
HI_G = NOW_G + CLOCK_SKEW                            # the first window's created_to
DAY = 86_400


# -- helpers --------------------------------------------------------------------------------------

def kz(s: Setup) -> KazooEmulator:
    emu = s.prov_emu
    assert isinstance(emu, KazooEmulator)
    return emu


async def walk(provider: KazooProvider, query: ListQuery | None = None,
               limit: int = 500) -> tuple[list[Recording], list[Page]]:
    query = query or ListQuery(page_size=50)
    items: list[Recording] = []
    pages: list[Page] = []
    cursor = None
    for _ in range(limit):
        page = await provider.list_recordings(query, cursor)
        pages.append(page)
        items.extend(page.items)
        if page.next is None:
            return items, pages
        cursor = page.next
    raise AssertionError("paging did not end")


def queries(s: Setup, route: str = "list") -> list[dict[str, str]]:
    """The query parameters of every request the emulator got on `route`, in order."""
    return [{k: v[0] for k, v in parse_qs(r.query).items()} for r in s.emu.log.for_route("kazoo", route)]


def find(s: Setup, pred: Callable[[Fact], bool]) -> int:
    k = kz(s)
    return next(i for i in range(len(k.data)) if pred(k.data.fact(i)))


def files(directory: Path) -> list[Path]:
    """What a media directory holds (nothing, after a failed download)."""
    return list(directory.iterdir()) if directory.exists() else []


def created_unix(s: Setup, i: int) -> float:
    return kz(s).created(i) - GREGORIAN_OFFSET


class Spy(httpx.AsyncBaseTransport):
    """Records every request the adapter sends (origin and headers); optionally answers the
    audio download with a redirect to another origin."""

    def __init__(self, inner: httpx.AsyncBaseTransport, redirect_audio_to: str | None = None) -> None:
        self.inner = inner
        self.redirect = redirect_audio_to
        self.sent: list[tuple[str, str, dict[str, str]]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        origin = f"{request.url.scheme}://{request.url.host}"
        self.sent.append((origin, request.url.path, {k.lower(): v for k, v in request.headers.items()}))
        if self.redirect and request.headers.get("accept") == "audio/mpeg":
            return httpx.Response(302, headers={"Location": self.redirect})
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def build(emu: Emulator, *, transport: httpx.AsyncBaseTransport | None = None, wall: Any = None,
          settings: dict[str, Any] | None = None, **kwargs: Any) -> KazooProvider:
    conf = _SETTINGS.validate_python({**emu["kazoo"].config_entry(), **(settings or {})})

    async def no_sleep(_s: float) -> None:
        return None

    kwargs.setdefault("sleep", no_sleep)
    return KazooProvider("kazoo", conf, transport=transport or emu.transport(), wall=wall or FakeClock(NOW),
                         rng=random.Random(0), **kwargs)


# -- quirks of the reference page -------------------------------------------------------------------

async def test_quirk_default_window_is_a_month_so_the_adapter_walks_31_day_windows_back(make_setup) -> None:
    s = make_setup("kazoo", count=400)
    items, pages = await walk(s.provider)
    assert [r.id for r in items] == kz(s).listed_ids()          # all two years, newest creation first
    sent = queries(s)
    windows = [(int(q["created_from"]), int(q["created_to"])) for q in sent]
    assert windows[0] == (HI_G - WINDOW, HI_G)
    assert all(0 < to - frm <= WINDOW for frm, to in windows)
    distinct = sorted(set(windows), reverse=True)
    assert all(newer[0] == older[1] + 1 for newer, older in itertools.pairwise(distinct))
    assert len(distinct) == 24 and pages[-1].next is None        # 730 days / 31, then the horizon
    assert all(len(p.items) == 50 for p in pages[:-1])           # pages are filled across windows


async def test_quirk_walk_stops_at_the_horizon(make_setup) -> None:
    s = make_setup("kazoo", count=400, settings={"horizon_days": 100})     # configurable; default two years
    items, _ = await walk(s.provider, ListQuery(page_size=100))
    lo = HI_G - 100 * DAY
    assert [r.id for r in items] == [i for i in kz(s).listed_ids() if kz(s).created(kz(s).index_of(i)) >= lo]
    assert len(queries(s)) == 4                                  # ceil(100 / 31) windows
    assert min(int(q["created_from"]) for q in queries(s)) == lo


async def test_quirk_walk_stops_after_six_empty_windows_unless_a_range_is_given(make_setup) -> None:
    s = make_setup("kazoo", count=400)
    k = kz(s)
    gap = range(NOW_G - 300 * DAY, NOW_G - 40 * DAY)             # no recordings 40 to 300 days back
    for i in range(len(k.data)):
        if k.created(i) in gap:
            k.deleted[i] = "soft"
    items, pages = await walk(s.provider, ListQuery(page_size=100))
    recent = [i for i in k.listed_ids() if k.created(k.index_of(i)) >= gap.stop]
    assert [r.id for r in items] == recent and pages[-1].next is None
    assert len(queries(s)) == 2 + 6                              # two windows with rows, six empty ones
    s.emu.log.clear()
    since = datetime.fromtimestamp(NOW - 729 * DAY, UTC)
    everything, _ = await walk(s.provider, ListQuery(page_size=100, since=since))
    assert [r.id for r in everything] == k.listed_ids() and len(everything) > len(recent)


async def test_quirk_times_are_gregorian_seconds(make_setup) -> None:
    s = make_setup("kazoo", count=60)
    page = await s.provider.list_recordings(ListQuery(page_size=3))
    doc = kz(s).stored_doc(0)
    assert page.items[0].start == datetime.fromtimestamp(doc["start"] - GREGORIAN_OFFSET, UTC)
    assert page.items[0].start.year == 2026 and page.items[0].duration == doc["duration_ms"] / 1000
    sent = queries(s)[0]
    assert int(sent["created_to"]) > 63_000_000_000            # Gregorian, not Unix
    assert page.items[0].details["Start (UTC)"].startswith(page.items[0].start.strftime("%Y-%m-%d %H:%M"))


async def test_quirk_date_range_selects_creation_time_and_means_the_start(make_setup) -> None:
    s = make_setup("kazoo", count=2000)
    k = kz(s)
    i = find(s, lambda f: f.duration > 1800 and f.index > 50)   # a long call: created well after its start
    created = datetime.fromtimestamp(created_unix(s, i), UTC)
    start = datetime.fromtimestamp(k.stored_doc(i)["start"] - GREGORIAN_OFFSET, UTC)
    # `since` between the call's start and its creation: the server would list it, but it started before
    inside, _ = await walk(s.provider, ListQuery(since=start + timedelta(seconds=1), until=created + timedelta(days=2)))
    assert k.recording_id(i) not in [r.id for r in inside]
    # `until` between start and creation: the server would not list it in that window; the slack does
    before, _ = await walk(s.provider, ListQuery(since=start - timedelta(days=1), until=start + timedelta(seconds=1)))
    assert k.recording_id(i) in [r.id for r in before]
    assert all(start - timedelta(days=1) <= r.start <= start + timedelta(seconds=1) for r in before)


async def test_quirk_page_size_counts_items_and_the_end_is_a_missing_next_start_key(make_setup) -> None:
    # A server-side filter makes short and empty pages that still carry next_start_key: the
    # adapter neither stops at a short page nor returns empty ones; only a missing key ends a window.
    s = make_setup("kazoo", count=400)
    k = kz(s)
    phone = k.stored_doc(0)["caller_id_number"]                 # the account's own number: many calls
    same = [i for i in range(len(k.data)) if k.stored_doc(i)["caller_id_number"] == phone]
    assert 5 < len(same) < 300
    items, pages = await walk(s.provider, ListQuery(page_size=3, caller=f"Someone <{phone}>"))
    assert [r.id for r in items] == [k.recording_id(i) for i in same]
    assert all(q["filter_caller_id_number"] == phone for q in queries(s))
    assert all(p.items for p in pages[:-1])
    assert len(queries(s)) > len(pages)                              # empty server pages were skipped


async def test_quirk_empty_page_with_a_next_key_is_skipped_within_one_call(make_setup) -> None:
    s = make_setup("kazoo", count=400, faults="kazoo.list:empty_page,count=1")
    page = await s.provider.list_recordings(ListQuery(page_size=5))
    assert [r.id for r in page.items] == [kz(s).recording_id(i) for i in range(5, 10)]
    assert len(queries(s)) == 2 and page.next is not None


async def test_quirk_cursors_are_opaque_and_passed_back_unchanged(make_setup) -> None:
    s = make_setup("kazoo", count=400)
    first = await s.provider.list_recordings(ListQuery(page_size=5))
    second = await s.provider.list_recordings(ListQuery(page_size=5), first.next)
    k = kz(s)
    assert queries(s)[1]["start_key"] == encode_start_key([k.created(5), k.recording_id(5)])
    assert {q["created_to"] for q in queries(s)} == {str(HI_G)}    # the same window for the next page
    assert [r.id for r in second.items] == [k.recording_id(i) for i in range(5, 10)]
    assert first.next is not None and first.next.provider == "kazoo"


async def test_quirk_window_wider_than_the_server_allows_is_halved(make_setup, monkeypatch) -> None:
    import rectui.emulator.kazoo as emulated
    monkeypatch.setattr(emulated, "MAX_RANGE", 10 * DAY)        # a server with a smaller maximum_range
    s = make_setup("kazoo", count=100)
    items, _ = await walk(s.provider, ListQuery(page_size=100))
    assert [r.id for r in items] == kz(s).listed_ids()
    statuses = [r.status for r in s.emu.log.for_route("kazoo", "list")]
    assert statuses[:3] == [400, 400, 200] and statuses.count(400) == 2
    assert all(int(q["created_to"]) - int(q["created_from"]) <= 10 * DAY for q in queries(s)[2:])


async def test_quirk_same_url_gives_audio_by_accept_and_it_may_be_wav(make_setup, tmp_path: Path) -> None:
    s = make_setup("kazoo", count=400)
    k = kz(s)
    wav = find(s, lambda f: k.is_wav(f) and k.has_attachment(f) and f.duration < 20)
    mp3 = find(s, lambda f: not k.is_wav(f) and k.has_attachment(f) and f.duration < 20)
    for i, fmt in ((wav, "wav"), (mp3, "mp3")):
        rec = await s.provider.get_recording(k.recording_id(i))
        media = await s.provider.fetch_media(rec, tmp_path / "media")
        assert media.format == fmt == sniff_file(media.path) and media.path.suffix == f".{fmt}"
        assert media.content_type == k.attachment_content_type(k.data.fact(i))
        assert media.size == media.path.stat().st_size > 0 and media.path.parent == tmp_path / "media"
    audio = s.emu.log.for_route("kazoo", "media")
    assert [r.headers["accept"] for r in audio] == ["audio/mpeg", "audio/mpeg"]
    assert all(r.headers["accept"] == "application/json" for r in s.emu.log.for_route("kazoo", "get"))
    assert sorted(p.suffix for p in files(tmp_path / "media")) == [".mp3", ".wav"]   # no partial files left


async def test_quirk_metadata_without_attachment_has_no_media(make_setup, tmp_path: Path) -> None:
    s = make_setup("kazoo", count=400)
    k = kz(s)
    i = find(s, lambda f: not k.has_attachment(f))
    listed = next(r for r in (await walk(s.provider, ListQuery(page_size=200)))[0] if r.id == k.recording_id(i))
    assert not listed.has_media and "external storage" in (listed.media_note or "")
    assert listed.details["External storage URL"].startswith("https://")
    detail = await s.provider.get_recording(listed.id)
    assert not detail.has_media
    with pytest.raises(NotFound) as info:
        await s.provider.fetch_media(detail, tmp_path / "media")
    assert info.value.title == "No audio" and "external storage" in info.value.message
    assert not files(tmp_path / "media")
    assert all("storage.example.com" not in r.path for r in s.emu.log.records)


async def test_quirk_tags_are_user_metadata_merged_with_null_removing(make_setup) -> None:
    s = make_setup("kazoo", count=400)
    k = kz(s)
    i = find(s, lambda f: len(f.tags) == 2)
    old = set(k.data.fact(i).tags)
    keep = sorted(old)[0]
    rec = await s.provider.set_tags(k.recording_id(i), frozenset({keep, "vip [draft]"}))
    assert rec.tags == {keep, "vip [draft]"}
    sent = [r for r in s.emu.log.records if r.route == "patch"]
    assert len(sent) == 1
    stored = k.stored_doc(i)["user_metadata"]["tags"]
    assert stored == {keep: 1, "vip [draft]": 1}
    assert (await s.provider.get_recording(rec.id)).tags == {keep, "vip [draft]"}
    unchanged = await s.provider.set_tags(rec.id, frozenset({keep, "vip [draft]"}))
    assert unchanged.tags == rec.tags and len([r for r in s.emu.log.records if r.route == "patch"]) == 1


async def test_tags_sent_are_cleaned_and_length_limited(make_setup) -> None:
    s = make_setup("kazoo", count=60)
    k = kz(s)
    rid = k.recording_id(0)
    rec = await s.provider.set_tags(rid, frozenset({"\x1b]52;c;evil\x07x" + "T" * 10_000, "  ", "ok"}))
    stored = set(k.stored_doc(0)["user_metadata"]["tags"])
    assert stored == rec.tags and "ok" in stored and len(stored) == 2
    assert all(len(t) <= 100 and "\x1b" not in t and "\x07" not in t for t in stored)


async def test_quirk_tags_405_on_open_source_kazoo_means_server_tags_unavailable(make_setup) -> None:
    s = make_setup("kazoo", count=60, faults="kazoo.patch:tags_405")
    rid = kz(s).recording_id(0)
    assert s.provider.capabilities.server_tags
    with pytest.raises(Unsupported) as info:
        await s.provider.set_tags(rid, frozenset({"vip"}))
    assert "server tags unavailable" in info.value.message
    assert not s.provider.capabilities.server_tags and KazooProvider.capabilities.server_tags
    before = len(s.emu.log.records)
    with pytest.raises(Unsupported):
        await s.provider.set_tags(rid, frozenset({"vip"}))
    assert len(s.emu.log.records) == before                    # known now: nothing sent


async def test_quirk_delete_is_permanent_soft_delete_never_hard(make_setup) -> None:
    s = make_setup("kazoo", count=60)
    k = kz(s)
    rid = k.recording_id(2)
    await s.provider.delete_recording(rid)
    (delete,) = s.emu.log.for_route("kazoo", "delete")
    assert delete.query == "" and k.deleted == {2: "soft"}      # never should_soft_delete=false
    assert rid not in k.listed_ids()
    caps = s.provider.capabilities
    assert caps.can_delete and not caps.can_restore and not caps.can_purge
    with pytest.raises(Unsupported):
        await s.provider.restore_recording(rid)
    with pytest.raises(NotFound) as info:                     # a second delete: "already deleted"
        await s.provider.delete_recording(rid)
    assert info.value.title == "Already deleted"


async def test_quirk_recording_ids_embed_the_month(make_setup) -> None:
    s = make_setup("kazoo", count=60)
    p = s.provider
    rid = kz(s).recording_id(0)
    assert p.id_is_safe(rid) and len(rid) == 39 and rid[:6] == datetime.fromtimestamp(
        created_unix(s, 0), UTC).strftime("%Y%m")
    for bad in (rid[7:], "202613-" + rid[7:], rid.upper(), rid + "0", rid[:-1], "202405_" + rid[7:]):
        assert not p.id_is_safe(bad), bad
        with pytest.raises(InvalidId):
            await p.get_recording(bad)
    assert not s.emu.log.records


async def test_quirk_error_codes_are_unstable_so_errors_map_on_status(make_setup) -> None:
    s = make_setup("kazoo", count=60)
    with pytest.raises(NotFound):                              # 404 "bad_identifier", data an object
        await s.provider.get_recording("202611-" + "0" * 32)
    s.wall.advance(3600)                                       # 401 "invalid credentials" (space), data {}
    page = await s.provider.list_recordings(ListQuery(page_size=2))
    assert page.items and s.emu.log.counts["kazoo.api_auth"] == 2


async def test_quirk_429_has_no_retry_after_so_backoff_starts_at_1s(make_setup) -> None:
    s = make_setup("kazoo", count=60, faults="kazoo.list:status=429,count=2")
    await s.provider.list_recordings(ListQuery(page_size=5))
    rng = random.Random(0)
    assert s.mono.slept == pytest.approx([rng.random() * 1.0, rng.random() * 2.0])


async def test_quirk_token_bucket_429s_until_it_refills(make_setup) -> None:
    s = make_setup("kazoo", count=60, faults="kazoo.list:rate_limit=1")
    await s.provider.list_recordings(ListQuery(page_size=1))
    with pytest.raises(RateLimited):                           # the bucket never refills: wall time stands still
        await s.provider.list_recordings(ListQuery(page_size=1))
    assert len(s.mono.slept) == 3 and s.emu.log.counts["kazoo.list"] == 5

    async def sleep_and_let_time_pass(seconds: float) -> None:
        await s.mono.sleep(seconds)
        s.wall.advance(seconds)

    s.provider.http.sleep = sleep_and_let_time_pass
    page = await s.provider.list_recordings(ListQuery(page_size=1))
    assert page.items


# -- listing: filters, sort, paging ------------------------------------------------------------------

async def test_owner_filter_uses_the_per_user_listing(make_setup) -> None:
    s = make_setup("kazoo", count=200)
    k = kz(s)
    user = k.users[2].user_id
    items, _ = await walk(s.provider, ListQuery(owner=user, page_size=20))
    expected = [i for i in k.listed_ids() if k.stored_doc(k.index_of(i))["owner_id"] == user]
    assert [r.id for r in items] == expected and expected
    assert all(r.owner == user for r in items)
    assert s.emu.log.counts["kazoo.list"] == 0 and s.emu.log.counts["kazoo.list_user"] > 0
    nobody, _ = await walk(s.provider, ListQuery(owner="alice@example.com"))
    assert nobody == [] and queries(s)[-1]["filter_owner_id"] == "alice@example.com"


async def test_call_id_filter(make_setup) -> None:
    s = make_setup("kazoo", count=200)
    k = kz(s)
    call_id = k.stored_doc(30)["call_id"]
    items, _ = await walk(s.provider, ListQuery(call_id=call_id))
    assert [r.id for r in items] == [k.recording_id(30)] and items[0].call_id == call_id


async def test_unsupported_filters_sorts_and_the_recycle_bin(make_setup) -> None:
    s = make_setup("kazoo", count=60)
    for query in (ListQuery(topic="x"), ListQuery(service_type="calling"), ListQuery(status="deleted"),
                  ListQuery(sort=SortSpec(key="duration"))):
        with pytest.raises(Unsupported):
            await s.provider.list_recordings(query)
    assert not s.emu.log.records
    page = await s.provider.list_recordings(ListQuery(status="available", page_size=2))
    assert len(page.items) == 2
    assert kz(s).listed_ids("deleted") == []
    with pytest.raises(Unsupported):
        await s.provider.rename(page.items[0].id, {"title": "x"})


async def test_ascending_walks_oldest_first_from_the_horizon(make_setup) -> None:
    s = make_setup("kazoo", count=200)
    items, pages = await walk(s.provider, ListQuery(page_size=30, sort=SortSpec(key="start", descending=False)))
    assert [r.id for r in items] == kz(s).listed_ids()[::-1]
    assert all(q["ascending"] == "true" for q in queries(s)) and all(p.sorted_on_server for p in pages)


async def test_order_is_by_creation_and_each_page_is_sorted_by_start(make_setup) -> None:
    s = make_setup("kazoo", count=20_000)                      # dense: long calls overlap short ones
    k = kz(s)
    page = await s.provider.list_recordings(ListQuery(page_size=200))
    starts = [r.start for r in page.items]
    assert starts == sorted(starts, reverse=True)
    created = [r.start.timestamp() + k.stored_doc(k.index_of(r.id))["duration"] for r in page.items]
    assert sorted(created, reverse=True) != created            # the server's order differs from start order
    assert {r.id for r in page.items} == {k.recording_id(i) for i in range(200)}
    assert page.order_approximate and KazooProvider.ORDER_APPROXIMATE


async def test_prev_and_next_across_window_boundaries(make_setup) -> None:
    s = make_setup("kazoo", count=400)
    query = ListQuery(page_size=10)
    pages = [await s.provider.list_recordings(query)]
    for _ in range(6):
        pages.append(await s.provider.list_recordings(query, pages[-1].next))
    windows = {q["created_to"] for q in queries(s)}
    assert len(windows) >= 3                                   # crossed at least two boundaries
    back = pages[-1]
    for expected in reversed(pages[:-1]):
        assert back.prev is not None
        back = await s.provider.list_recordings(query, back.prev)
        assert [r.id for r in back.items] == [r.id for r in expected.items]
    assert back.prev is None
    seen = [r.id for p in pages for r in p.items]
    assert seen == kz(s).listed_ids()[: len(seen)]
    with pytest.raises(ValueError, match="another listing"):
        await s.provider.list_recordings(ListQuery(page_size=10, call_id="x"), pages[1].next)


async def test_detail_has_every_field(make_setup) -> None:
    s = make_setup("kazoo", count=60)
    k = kz(s)
    i = find(s, lambda f: k.has_attachment(f) and bool(f.tags))
    rec = await s.provider.get_recording(k.recording_id(i))
    doc = KazooEmulator.public(k.stored_doc(i))
    assert rec.raw == doc and rec.tags == set(k.data.fact(i).tags)
    labels = set(rec.details)
    for label in ("Recording id", "File name", "Call id", "Caller id number", "Callee id name", "Origin",
                  "Owner (user id)", "Duration (ms)", "Channel variables · Account-ID", "CDR id"):
        assert label in labels, label
    assert rec.call_id == doc["call_id"] and rec.owner == doc["owner_id"] and rec.direction == doc["direction"]
    assert rec.caller == f"{doc['caller_id_name']} <{doc['caller_id_number']}>"
    assert rec.title == f"{doc['caller_id_name']} → {doc['callee_id_name']}"
    assert rec.has_media and rec.id_valid and rec.status == "available"


# -- faults ---------------------------------------------------------------------------------------

async def test_429_with_retry_after_is_honoured(make_setup) -> None:
    s = make_setup("kazoo", count=60, faults="kazoo.list:status=429,retry_after=4,count=2")
    await s.provider.list_recordings(ListQuery(page_size=5))
    assert s.mono.slept == [4.0, 4.0]


async def test_429_retry_after_past_the_deadline_is_not_slept(make_setup) -> None:
    s = make_setup("kazoo", count=60, faults="kazoo.list:status=429,retry_after=3600")
    with pytest.raises(RateLimited) as info:
        await s.provider.list_recordings(ListQuery(page_size=5))
    assert info.value.retry_after == 3600 and s.mono.slept == []


async def test_5xx_is_retried_then_surfaced_with_the_request_id(make_setup) -> None:
    s = make_setup("kazoo", count=60, faults="kazoo.list:status=503")
    with pytest.raises(Unavailable) as info:
        await s.provider.list_recordings(ListQuery(page_size=5))
    assert s.emu.log.counts["kazoo.list"] == 4 and len(s.mono.slept) == 3
    assert info.value.status == 503 and info.value.correlation_id
    s2 = make_setup("kazoo", count=60, faults="kazoo.list:status=501")
    with pytest.raises(Unavailable):
        await s2.provider.list_recordings(ListQuery(page_size=5))
    assert s2.emu.log.counts["kazoo.list"] == 1                 # 501 is not retried


@pytest.mark.parametrize("fault", ["malformed_json", "malformed_json=garbage", "malformed_json=nan",
                                   "content_type=html"])
async def test_unreadable_listing_is_a_bad_response_never_an_empty_page(make_setup, fault: str) -> None:
    s = make_setup("kazoo", count=60, faults=f"kazoo.list:{fault},count=1")
    with pytest.raises(BadResponse):
        await s.provider.list_recordings(ListQuery(page_size=5))
    assert (await s.provider.list_recordings(ListQuery(page_size=5))).items


async def test_schema_drift_keeps_the_rows_and_warns(make_setup) -> None:
    s = make_setup("kazoo", count=400, faults="kazoo.list:schema_drift,count=1")
    page = await s.provider.list_recordings(ListQuery(page_size=5))
    k = kz(s)
    ids = [r.id for r in page.items]
    assert k.recording_id(1) not in ids                         # the item without an id is dropped
    assert ids[-1] == k.recording_id(0) and sorted(ids[:-1]) == sorted(k.recording_id(i) for i in (2, 3, 4, 5))
    assert any("unreadable" in w for w in page.warnings) and any("without a usable id" in w for w in page.warnings)
    first = next(r for r in page.items if r.id == k.recording_id(0))
    assert first.start is None and first.duration == k.stored_doc(0)["duration_ms"] / 1000
    assert first.raw["caller_id_name"] == 12345 and page.items[-1] is first   # no start: sorted last
    last = next(r for r in page.items if r.id == k.recording_id(4))   # the page was filled up with #5
    assert last.details["x_unexpected · nested"] == "1, 2, 3"


async def test_repeated_cursor_ends_the_window_with_a_warning(make_setup) -> None:
    s = make_setup("kazoo", count=400, faults="kazoo.list:cursor_repeat,after=1,count=1")
    first = await s.provider.list_recordings(ListQuery(page_size=5))
    second = await s.provider.list_recordings(ListQuery(page_size=5), first.next)
    assert any("same page cursor twice" in w for w in second.warnings)
    third = await s.provider.list_recordings(ListQuery(page_size=5), second.next)
    sent = queries(s)
    assert len(sent) == 3 and int(sent[2]["created_to"]) == HI_G - WINDOW - 1   # on to the next window
    assert third.items and not {r.id for r in third.items} & {r.id for r in first.items + second.items}


async def test_cursor_cycle_is_caught(make_setup) -> None:
    s = make_setup("kazoo", count=200, faults="kazoo.list:cursor_cycle")
    items, pages = await walk(s.provider, ListQuery(page_size=4))
    ids = [r.id for r in items]
    assert ids == kz(s).listed_ids() and len(ids) == len(set(ids))
    assert any(p.warnings for p in pages)


async def test_token_expiry_authenticates_again_and_replays(make_setup, tmp_path: Path) -> None:
    s = make_setup("kazoo", count=200, faults="kazoo.*:expire_token_after=2")
    items, _ = await walk(s.provider, ListQuery(page_size=50))
    assert [r.id for r in items] == kz(s).listed_ids()
    assert s.emu.log.counts["kazoo.api_auth"] == 1 + s.emu.log.counts["kazoo.list"] // 3   # 2 uses, a 401, a replay
    rec = next(r for r in items if r.has_media and (r.duration or 0) < 30)
    media = await s.provider.fetch_media(rec, tmp_path)          # the download re-authenticates too
    assert media.size > 0
    assert all(r.status != 401 for r in s.emu.log.for_route("kazoo", "api_auth"))
    assert "x-auth-token" not in s.emu.log.for_route("kazoo", "api_auth")[-1].headers


async def test_a_second_401_is_an_auth_error(make_setup) -> None:
    s = make_setup("kazoo", count=60, faults="kazoo.list:expire_token_after=0")
    with pytest.raises(AuthError):
        await s.provider.list_recordings(ListQuery(page_size=5))
    assert s.emu.log.counts["kazoo.api_auth"] == 2 and s.emu.log.counts["kazoo.list"] == 2


async def test_user_auth_with_md5_credentials(make_setup) -> None:
    s = make_setup("kazoo", count=60, settings={"api_key": None, "username": DEMO_USERNAME.upper(),
                                                "password": DEMO_PASSWORD, "account_name": DEMO_ACCOUNT_NAME})
    page = await s.provider.list_recordings(ListQuery(page_size=5))
    assert page.items and s.emu.log.counts["kazoo.user_auth"] == 1 and s.emu.log.counts["kazoo.api_auth"] == 0
    wrong = make_setup("kazoo", count=60, settings={"api_key": None, "username": DEMO_USERNAME,
                                                    "password": "not-the-password", "account_name": "x"})
    with pytest.raises(AuthError) as info:
        await wrong.provider.list_recordings(ListQuery(page_size=5))
    assert "not-the-password" not in info.value.one_line()
    assert hashlib.md5(f"{DEMO_USERNAME}:not-the-password".encode()).hexdigest() not in info.value.one_line()


async def test_check_is_one_login_and_one_listing_call(make_setup) -> None:
    s = make_setup("kazoo", count=60)
    await s.provider.check()
    assert dict(s.emu.log.counts) == {"kazoo.api_auth": 1, "kazoo.list": 1}
    assert queries(s)[0] == {"page_size": "1"}
    bad = make_setup("kazoo", count=60, settings={"api_key": "f" * 64})
    with pytest.raises(AuthError):
        await bad.provider.check()


async def test_trickling_body_is_cut_by_the_deadline(media_cache: Path) -> None:
    wall = FakeClock(NOW)
    emu = Emulator(EmulatorConfig(providers=("kazoo",), count=60, anchor=ANCHOR, media_cache_dir=media_cache,
                                  faults="kazoo.list:drip=0.05"), clock=wall)   # the emulator sleeps for real
    provider = build(emu, wall=wall, policy=RetryPolicy(deadline=0.3))
    try:
        assert provider.http.policy.rate_limit_base == 1.0      # Kazoo's 429 backoff kept with a custom policy
        with pytest.raises(Unavailable, match="timed out"):
            await provider.list_recordings(ListQuery(page_size=5))
        assert emu.log.counts["kazoo.list"] == 1
    finally:
        await provider.aclose()


async def test_credentials_never_leave_the_configured_origin(media_cache: Path, tmp_path: Path) -> None:
    wall = FakeClock(NOW)
    emu = Emulator(EmulatorConfig(providers=("kazoo",), count=60, anchor=ANCHOR, media_cache_dir=media_cache),
                   clock=wall)
    spy = Spy(emu.transport(), redirect_audio_to=f"{emu.media_url}/steal")
    provider = build(emu, transport=spy, wall=wall)
    try:
        page = await provider.list_recordings(ListQuery(page_size=5))
        with pytest.raises(BadResponse, match="302"):           # an API redirect is never followed
            await provider.fetch_media(page.items[0], tmp_path / "media")
        await provider.http.request("GET", f"{emu.media_url}/elsewhere", ok=lambda _s: True)
        api = httpx.URL(emu.api_url)
        for origin, path, headers in spy.sent:
            carries = "x-auth-token" in headers or "authorization" in headers
            if origin != f"{api.scheme}://{api.host}" or path.endswith(("/api_auth", "/user_auth")):
                assert not carries, (origin, path)
            else:
                assert carries, path
        assert [o for o, _, _ in spy.sent].count(f"http://{httpx.URL(emu.media_url).host}") == 1
        assert not files(tmp_path / "media")
    finally:
        await provider.aclose()


async def test_hostile_ids_are_listed_but_refused_with_nothing_sent(make_setup, tmp_path: Path) -> None:
    s = make_setup("kazoo", count=600, hostile=True)
    items, _ = await walk(s.provider, ListQuery(page_size=100))
    bad = [r for r in items if not r.id_valid]
    assert bad and {r.id for r in items} == set(kz(s).listed_ids())
    before = len(s.emu.log.records)
    for rec in bad:
        for call in (s.provider.get_recording(rec.id), s.provider.delete_recording(rec.id),
                     s.provider.set_tags(rec.id, frozenset({"x"})), s.provider.fetch_media(rec, tmp_path / "media")):
            with pytest.raises(InvalidId):
                await call
    assert len(s.emu.log.records) == before and not files(tmp_path / "media")
    text = [f"{r.title}{r.caller}{r.callee}" for r in items]
    assert any("\ufffd" in t for t in text)                      # escapes shown as U+FFFD
    assert not any(c in t for t in text for c in ("\x1b", "\x00", "\x9b", "\u202e"))


async def test_delete_that_applied_then_failed_is_confirmed_by_a_get(make_setup) -> None:
    s = make_setup("kazoo", count=60, faults="kazoo.delete:delete_apply_then_fail")
    rid = kz(s).recording_id(1)
    await s.provider.delete_recording(rid)
    assert s.emu.log.counts["kazoo.delete"] == 1 and s.emu.log.counts["kazoo.get"] == 1
    assert rid not in kz(s).listed_ids()
    assert any("deleted (confirmed" in e.message for e in s.events)


async def test_delete_that_failed_before_applying_is_sent_once_more(make_setup) -> None:
    s = make_setup("kazoo", count=60, faults="kazoo.delete:status=500,count=1")
    rid = kz(s).recording_id(1)
    await s.provider.delete_recording(rid)
    assert s.emu.log.counts["kazoo.delete"] == 2 and s.emu.log.counts["kazoo.get"] == 1
    assert rid not in kz(s).listed_ids()


async def test_delete_failing_every_time_or_unverifiable_is_unavailable_and_403_is_denied(make_setup) -> None:
    s = make_setup("kazoo", count=60, faults="kazoo.delete:status=502")
    rid = kz(s).recording_id(1)
    with pytest.raises(Unavailable):
        await s.provider.delete_recording(rid)
    assert s.emu.log.counts["kazoo.delete"] == 2 and rid in kz(s).listed_ids()
    unknown = make_setup("kazoo", count=60, faults="kazoo.delete:status=500;kazoo.get:status=503")
    with pytest.raises(Unavailable) as info:
        await unknown.provider.delete_recording(rid)
    assert info.value.title == "Delete outcome unknown" and unknown.emu.log.counts["kazoo.delete"] == 1
    denied = make_setup("kazoo", count=60, faults="kazoo.delete:forbid")
    with pytest.raises(PermissionDenied):
        await denied.provider.delete_recording(rid)
    assert denied.emu.log.counts["kazoo.delete"] == 1 and denied.emu.log.counts["kazoo.get"] == 0


async def test_tag_patch_that_failed_is_checked_and_sent_again(make_setup) -> None:
    s = make_setup("kazoo", count=60, faults="kazoo.patch:status=500,count=1")
    rid = kz(s).recording_id(0)
    rec = await s.provider.set_tags(rid, frozenset({"vip"}))
    assert rec.tags == {"vip"}
    assert s.emu.log.counts["kazoo.patch"] == 2 and s.emu.log.counts["kazoo.get"] == 2


async def test_download_of_a_deleted_recording_says_so(make_setup, tmp_path: Path) -> None:
    s = make_setup("kazoo", count=60)
    rec = (await s.provider.list_recordings(ListQuery(page_size=3))).items[0]
    await s.provider.delete_recording(rec.id)
    with pytest.raises(NotFound, match="no longer exists"):
        await s.provider.fetch_media(rec, tmp_path)


async def test_media_size_cap(make_setup, tmp_path: Path) -> None:
    s = make_setup("kazoo", count=60)
    k = kz(s)
    i = find(s, lambda f: k.has_attachment(f) and f.duration < 20)
    rec = await s.provider.get_recording(k.recording_id(i))
    with pytest.raises(BadResponse, match="limit"):
        await s.provider.fetch_media(rec, tmp_path / "media", max_bytes=1000)
    assert not files(tmp_path / "media")


# -- end to end over a real loopback socket -------------------------------------------------------

async def test_end_to_end_over_loopback(media_cache: Path, tmp_path: Path) -> None:
    wall = FakeClock(NOW)
    emu = Emulator(EmulatorConfig(providers=("kazoo",), count=120, anchor=ANCHOR, media_cache_dir=media_cache),
                   clock=wall)
    server = EmulatorServer(emu)
    server.start()
    try:
        conf = _SETTINGS.validate_python(emu["kazoo"].config_entry())
        assert conf.base_url.startswith("http://127.0.0.1:")
        provider = KazooProvider("kazoo", conf, wall=wall)       # real sockets, no transport injected
        try:
            await provider.check()
            items, _ = await walk(provider, ListQuery(page_size=25))
            assert [r.id for r in items] == emu["kazoo"].listed_ids()
            rec = next(r for r in items if r.has_media and (r.duration or 0) < 30)
            detail = await provider.get_recording(rec.id)
            assert detail.call_id == rec.call_id
            media = await provider.fetch_media(detail, tmp_path)
            assert media.format == sniff_file(media.path) != "unknown"
            await provider.set_tags(rec.id, frozenset({"e2e"}))
            await provider.delete_recording(rec.id)
            assert rec.id not in emu["kazoo"].listed_ids()
        finally:
            await provider.aclose()
    finally:
        await asyncio.to_thread(server.stop)
