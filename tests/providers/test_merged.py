""""All providers": a correct newest-first merge across providers with their own paging, the
compound cursor both ways, and one provider's failure never blanking the view. The providers
underneath are small in-memory listings (the merge is what is under test here; the real
adapters are merged over the emulator in test_merged_emulator.py)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from rectui.errors import RateLimited, Unsupported
from rectui.models import Capabilities, Cursor, ListQuery, Page, Recording, SortSpec
from rectui.providers.merged import MergedProvider

T0 = datetime(2026, 11, 1, tzinfo=UTC)


class ListingProvider:
    """A provider over a fixed list, paged by offset, optionally failing on chosen calls."""

    ORDER_APPROXIMATE = False

    def __init__(self, pid: str, starts: list[datetime], page: int, fail_on: set[int] | None = None,
                 shuffle_pages: bool = False) -> None:
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

    async def list_recordings(self, query: ListQuery, cursor: Cursor | None = None) -> Page:
        self.calls += 1
        if self.calls in self.fail_on:
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
