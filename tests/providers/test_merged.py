""""All providers": a correct newest-first merge across providers with their own paging, the
compound cursor both ways, and one provider's failure never blanking the view. The providers
underneath are small in-memory listings (the merge is what is under test here; the real
adapters are merged over the emulator in test_merged_emulator.py)."""

from __future__ import annotations

import asyncio
import gc
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rectui.errors import RateLimited, Unsupported
from rectui.models import Capabilities, Cursor, ListQuery, Page, Recording, SortSpec
from rectui.providers.merged import MergedProvider

T0 = datetime(2026, 11, 1, tzinfo=UTC)


class ListingProvider:
    """A provider over a fixed list, paged by offset, optionally failing on chosen calls."""

    ORDER_APPROXIMATE = False

    def __init__(self, pid: str, starts: list[datetime], page: int, fail_on: set[int] | None = None,
                 shuffle_pages: bool = False, gate: asyncio.Event | None = None) -> None:
        self.id = pid
        self.kind = pid
        self.display_name = pid
        self.rows = sorted(starts, reverse=True)
        self.page = page
        self.calls = 0
        self.fail_on = fail_on or set()
        self.shuffle = shuffle_pages
        self.ORDER_APPROXIMATE = shuffle_pages
        self.capabilities = Capabilities(page_style="cursor", exact_total=False, max_page_size=page)
        self.gate = gate
        """While set and not open, every request waits for it (a provider held by a 429's wait)."""
        self.cancelled = 0

    async def list_recordings(self, query: ListQuery, cursor: Cursor | None = None) -> Page:
        self.calls += 1
        call = self.calls
        if self.gate is not None:
            try:
                await self.gate.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        if call in self.fail_on:
            raise RateLimited("slow down", retry_after=5, provider=self.id)
        off = int(cursor.token) if cursor else 0
        chunk = [Recording(provider=self.id, id=f"{self.id}-{i}", start=self.rows[i])
                 for i in range(off, min(off + self.page, len(self.rows)))]
        if self.shuffle:
            random.Random(off).shuffle(chunk)
        nxt = Cursor(provider=self.id, token=str(off + self.page)) if off + self.page < len(self.rows) else None
        return Page(items=tuple(chunk), next=nxt)

    async def aclose(self) -> None:
        return None


def starts(n: int, step_minutes: int, offset: int = 0) -> list[datetime]:
    return [T0 - timedelta(minutes=offset + i * step_minutes) for i in range(n)]


async def walk(m: MergedProvider, size: int) -> list[Page]:
    pages, cursor = [], None
    for _ in range(500):
        page = await m.list_recordings(ListQuery(page_size=size), cursor)
        pages.append(page)
        if page.next is None:
            return pages
        cursor = page.next
    raise AssertionError("no end")


@pytest.mark.parametrize("size", [1, 7, 25, 100])
async def test_merge_is_complete_unique_and_newest_first(size: int) -> None:
    a = ListingProvider("a", starts(40, 7), page=10)
    b = ListingProvider("b", starts(25, 13, offset=3), page=4)
    c = ListingProvider("c", starts(3, 500), page=50)
    pages = await walk(MergedProvider([a, b, c]), size)
    rows = [r for p in pages for r in p.items]
    assert len(rows) == 68 and len({r.key for r in rows}) == 68
    assert [r.start for r in rows] == sorted((r.start for r in rows), reverse=True)
    assert all(len(p.items) == size for p in pages[:-1])


async def test_prev_returns_the_page_before() -> None:
    m = MergedProvider([ListingProvider("a", starts(30, 5), page=7), ListingProvider("b", starts(30, 3), page=9)])
    p1 = await m.list_recordings(ListQuery(page_size=10))
    p2 = await m.list_recordings(ListQuery(page_size=10), p1.next)
    p3 = await m.list_recordings(ListQuery(page_size=10), p2.next)
    assert p1.prev is None
    back = await m.list_recordings(ListQuery(page_size=10), p3.prev)
    assert [r.key for r in back.items] == [r.key for r in p2.items]
    first = await m.list_recordings(ListQuery(page_size=10), p2.prev)
    assert [r.key for r in first.items] == [r.key for r in p1.items]


async def test_a_failing_provider_leaves_the_others_rows_and_its_error() -> None:
    good = ListingProvider("good", starts(20, 5), page=10)
    bad = ListingProvider("bad", starts(20, 4), page=10, fail_on={1})
    m = MergedProvider([good, bad])
    p1 = await m.list_recordings(ListQuery(page_size=10))
    assert [r.provider for r in p1.items] == ["good"] * 10
    assert isinstance(p1.failures["bad"], RateLimited) and p1.order_approximate
    p2 = await m.list_recordings(ListQuery(page_size=10), p1.next)   # "bad" is tried again
    assert "bad" not in p2.failures and any(r.provider == "bad" for r in p2.items)
    rows = p1.items + p2.items
    rest = await walk(m, 10)
    assert len({r.key for p in rest for r in p.items}) == 40
    assert len({r.key for r in rows}) == len(rows)


async def test_unordered_providers_are_sorted_per_page_and_marked_approximate() -> None:
    g = ListingProvider("g", starts(12, 10), page=6, shuffle_pages=True)
    m = MergedProvider([g, ListingProvider("k", starts(12, 11), page=6)])
    page = await m.list_recordings(ListQuery(page_size=24))
    assert page.order_approximate
    assert [r.start for r in page.items] == sorted((r.start for r in page.items), reverse=True)


async def test_only_newest_first_sorting() -> None:
    m = MergedProvider([ListingProvider("a", starts(3, 1), page=3)])
    with pytest.raises(Unsupported):
        await m.list_recordings(ListQuery(sort=SortSpec(key="duration")))
    page = await m.list_recordings(ListQuery(sort=SortSpec(key="start", descending=True)))
    assert len(page.items) == 3


async def test_first_page_fetches_each_provider_once_concurrently() -> None:
    provs = [ListingProvider(f"p{i}", starts(50, 3 + i), page=20) for i in range(5)]
    await MergedProvider(provs).list_recordings(ListQuery(page_size=20))
    assert [p.calls for p in provs] == [1, 1, 1, 1, 1]


# -- the view never waits for its slowest provider ---------------------------------------------------
GRACE = 0.01     # tiny: the held provider is held by an event, never by time


def keys(pages: list[Page]) -> list[tuple[str, str]]:
    return [r.key for p in pages for r in p.items]


async def test_a_held_provider_does_not_hold_the_page_and_its_rows_join_later() -> None:
    gate = asyncio.Event()
    fast = ListingProvider("fast", starts(30, 10, offset=5), page=10)
    held = ListingProvider("held", starts(30, 10), page=10, gate=gate)    # held's rows are the newest
    heard: list[str] = []
    m = MergedProvider([fast, held], grace=GRACE, on_late_answer=heard.append)
    p1 = await m.list_recordings(ListQuery(page_size=10))
    assert [r.provider for r in p1.items] == ["fast"] * 10
    assert p1.late == ("held",) and p1.order_approximate and p1.next is not None
    assert "held is slow to answer: its rows will join when it answers" in p1.warnings
    assert "held" not in p1.failures and m.pending == ("held",)

    gate.set()                                   # it answers: its rows join the next page
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert heard == ["held"]
    p2 = await m.list_recordings(ListQuery(page_size=10), p1.next)
    assert p2.late == () and {r.provider for r in p2.items} == {"held"}
    assert p2.order_approximate and any("10 rows are newer than rows on earlier pages (held answered late)" in w
                                        for w in p2.warnings)
    rest = await walk_from(m, p2, 10)
    rows = keys([p1, p2, *rest])
    assert len(rows) == 60 and len(set(rows)) == 60          # nothing skipped, nothing twice
    assert held.calls == 3                                   # its first page was fetched once
    again = await m.list_recordings(ListQuery(page_size=10))  # the first page asked again: merged in
    assert again.late == () and [r.provider for r in again.items] == ["held", "fast"] * 5


async def walk_from(m: MergedProvider, page: Page, size: int) -> list[Page]:
    pages = []
    while page.next is not None:
        page = await m.list_recordings(ListQuery(page_size=size), page.next)
        pages.append(page)
    return pages


@pytest.mark.parametrize("release_after", [1, 2, 4])
async def test_full_walk_with_a_late_provider_is_complete_and_unique(release_after: int) -> None:
    gate = asyncio.Event()
    a = ListingProvider("a", starts(40, 7), page=10)
    b = ListingProvider("b", starts(25, 13, offset=3), page=4, gate=gate)
    c = ListingProvider("c", starts(9, 50), page=50)
    m = MergedProvider([a, b, c], grace=GRACE)
    pages, cursor = [], None
    for n in range(200):
        if n == release_after:
            gate.set()
        page = await m.list_recordings(ListQuery(page_size=7), cursor)
        pages.append(page)
        if page.next is None:
            break
        cursor = page.next
    rows = keys(pages)
    assert len(rows) == 74 and len(set(rows)) == 74
    assert pages[0].late == ("b",)
    assert all(p.order_approximate for p in pages[: release_after + 1])


async def test_the_grace_runs_from_the_first_answer_not_from_a_fast_failure() -> None:
    gate = asyncio.Event()
    broken = ListingProvider("broken", starts(5, 1), page=5, fail_on={1})
    slow = ListingProvider("slow", starts(5, 2), page=5, gate=gate)
    m = MergedProvider([broken, slow], grace=GRACE)
    task = asyncio.create_task(m.list_recordings(ListQuery(page_size=5)))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not task.done()                      # nothing to show yet: no empty page
    gate.set()
    page = await task
    assert [r.provider for r in page.items] == ["slow"] * 5 and isinstance(page.failures["broken"], RateLimited)


async def test_without_grace_the_page_waits_for_every_provider() -> None:
    gate = asyncio.Event()
    slow = ListingProvider("slow", starts(5, 2), page=5, gate=gate)
    m = MergedProvider([ListingProvider("fast", starts(5, 3), page=5), slow], grace=None)
    task = asyncio.create_task(m.list_recordings(ListQuery(page_size=10)))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not task.done()
    gate.set()
    page = await task
    assert len(page.items) == 10 and page.late == ()


async def test_a_late_provider_that_fails_is_reported_by_the_next_page() -> None:
    gate = asyncio.Event()
    late = ListingProvider("late", starts(10, 2), page=5, gate=gate, fail_on={1})
    m = MergedProvider([ListingProvider("ok", starts(10, 3), page=5), late], grace=GRACE)
    p1 = await m.list_recordings(ListQuery(page_size=5))
    assert p1.late == ("late",)
    gate.set()
    p2 = await m.list_recordings(ListQuery(page_size=5), p1.next)
    assert isinstance(p2.failures["late"], RateLimited) and p2.late == ()
    p3 = await m.list_recordings(ListQuery(page_size=5), p2.next)     # asked again: it answers now
    assert any(r.provider == "late" for r in p3.items)


async def test_clear_cache_reads_the_pages_again() -> None:
    a = ListingProvider("a", starts(10, 2), page=5)
    m = MergedProvider([a])
    await m.list_recordings(ListQuery(page_size=5))
    await m.list_recordings(ListQuery(page_size=5))
    assert a.calls == 1
    m.clear_cache()
    await m.list_recordings(ListQuery(page_size=5))
    assert a.calls == 2


def _collect_loop_errors() -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    return errors


async def test_a_cancelled_page_leaves_no_orphan_and_no_unretrieved_exception() -> None:
    errors = _collect_loop_errors()
    gate = asyncio.Event()
    held = ListingProvider("held", starts(10, 2), page=5, gate=gate, fail_on={1})
    m = MergedProvider([ListingProvider("ok", starts(10, 3), page=5), held], grace=None)
    task = asyncio.create_task(m.list_recordings(ListQuery(page_size=5)))
    for _ in range(5):
        await asyncio.sleep(0)
    task.cancel()                                 # a newer request outdated this one
    with pytest.raises(asyncio.CancelledError):
        await task
    gate.set()                                    # the held request then fails, unheard
    for _ in range(5):
        await asyncio.sleep(0)
    gc.collect()
    for _ in range(5):
        await asyncio.sleep(0)
    assert errors == []
    page = await m.list_recordings(ListQuery(page_size=5))       # its failure is reported once
    assert isinstance(page.failures["held"], RateLimited)
    await m.aclose()
    assert errors == []


async def test_aclose_cancels_the_requests_still_running() -> None:
    errors = _collect_loop_errors()
    held = ListingProvider("held", starts(10, 2), page=5, gate=asyncio.Event())
    m = MergedProvider([ListingProvider("ok", starts(10, 3), page=5), held], grace=GRACE)
    page = await m.list_recordings(ListQuery(page_size=5))
    assert page.late == ("held",) and m.pending == ("held",)
    await m.aclose()
    assert held.cancelled == 1 and m.pending == ()
    gc.collect()
    await asyncio.sleep(0)
    assert errors == []
