"""Jump to any page (`page_cursor`) on the providers that number their pages, against the emulator:
a jumped-to page is the page "next" reaches (same rows, number, count, next and previous), the last
page comes from `page_count`, a number past the end lists the last page, and the cursor-paged
providers have no `page_cursor` at all (the UI reads that as "cannot jump")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rectui.errors import Unsupported
from rectui.models import Cursor, ListQuery, Page, SortSpec
from rectui.providers.base import NumberPaged

from .conftest import Setup

NUMBERED = ("genesys", "restcomm", "screendesk")


def setup(make_setup: Callable[..., Setup], kind: str, *, count: int = 60, server_page: int = 20,
          **kw: Any) -> Setup:
    s = make_setup(kind, count=count, **kw)
    if kind == "screendesk":
        s.prov_emu.page_size = server_page        # the server's fixed page size (pagy's `items`)
    return s


async def walk(provider: Any, query: ListQuery, limit: int = 100) -> list[Page]:
    pages: list[Page] = []
    cursor: Cursor | None = None
    for _ in range(limit):
        page = await provider.list_recordings(query, cursor)
        pages.append(page)
        if page.next is None:
            return pages
        cursor = page.next
    raise AssertionError("paging did not end")


def ids(page: Page) -> list[str]:
    return [r.id for r in page.items]


def list_requests(s: Setup) -> int:
    return len([r for r in s.emu.log.for_route(s.kind) if r.route == "list"])


@pytest.mark.parametrize("kind", NUMBERED)
async def test_every_jumped_page_is_the_page_next_reaches(make_setup, kind: str) -> None:
    s = setup(make_setup, kind, count=61)
    query = ListQuery(page_size=7)
    walked = await walk(s.provider, query)
    assert len(walked) == 9 and walked[0].page_count == 9
    assert isinstance(s.provider, NumberPaged)
    for k, expected in enumerate(walked, start=1):
        page = await s.provider.list_recordings(query, s.provider.page_cursor(query, k))
        assert ids(page) == ids(expected), k
        assert (page.page_number, page.page_count, page.total) == (k, 9, 61)
        assert (page.next is None) == (k == 9) and (page.prev is None) == (k == 1)
        assert not page.warnings


@pytest.mark.parametrize("kind", NUMBERED)
async def test_next_and_previous_from_a_jumped_page(make_setup, kind: str) -> None:
    s = setup(make_setup, kind)
    query = ListQuery(page_size=6)
    walked = await walk(s.provider, query)
    jumped = await s.provider.list_recordings(query, s.provider.page_cursor(query, 5))
    assert jumped.next is not None and jumped.prev is not None
    after = await s.provider.list_recordings(query, jumped.next)
    before = await s.provider.list_recordings(query, jumped.prev)
    assert ids(after) == ids(walked[5]) and after.page_number == 6
    assert ids(before) == ids(walked[3]) and before.page_number == 4
    back_again = await s.provider.list_recordings(query, before.prev)
    assert ids(back_again) == ids(walked[2])


@pytest.mark.parametrize("kind", NUMBERED)
async def test_last_page_from_the_page_count(make_setup, kind: str) -> None:
    s = setup(make_setup, kind, count=45)
    query = ListQuery(page_size=10)
    first = await s.provider.list_recordings(query)
    assert first.page_count == 5
    last = await s.provider.list_recordings(query, s.provider.page_cursor(query, first.page_count))
    walked = await walk(s.provider, query)
    assert ids(last) == ids(walked[-1]) and len(last.items) == 5
    assert last.page_number == 5 and last.next is None and last.prev is not None


@pytest.mark.parametrize("kind", NUMBERED)
async def test_a_number_past_the_end_lists_the_last_page(make_setup, kind: str) -> None:
    s = setup(make_setup, kind, count=40)             # 40 = 4 × 10: Restcomm offers an extra empty page
    query = ListQuery(page_size=10)
    walked = await walk(s.provider, query)
    for number in (5, 6, 1000):
        page = await s.provider.list_recordings(query, s.provider.page_cursor(query, number))
        assert ids(page) == ids(walked[-1]), number
        assert page.page_number == 4 and page.page_count == 4 and page.next is None and not page.warnings


@pytest.mark.parametrize("kind", NUMBERED)
async def test_numbers_below_one_are_refused_before_anything_is_sent(make_setup, kind: str) -> None:
    s = setup(make_setup, kind)
    for bad in (0, -3):
        with pytest.raises(ValueError, match="start at 1"):
            s.provider.page_cursor(ListQuery(page_size=10), bad)
    assert list_requests(s) == 0


@pytest.mark.parametrize("kind", ("kazoo", "webex"))
async def test_cursor_paged_providers_cannot_jump(make_setup, kind: str) -> None:
    s = make_setup(kind, count=10)
    assert s.provider.capabilities.page_style == "cursor"
    assert getattr(s.provider, "page_cursor", None) is None
    assert not isinstance(s.provider, NumberPaged)


async def test_page_cursor_sends_nothing(make_setup) -> None:
    for kind in NUMBERED:
        s = setup(make_setup, kind)
        s.provider.page_cursor(ListQuery(page_size=10), 3)
        assert list_requests(s) == 0, kind


@pytest.mark.parametrize("kind", NUMBERED)
async def test_a_jump_in_an_empty_list_lists_its_one_empty_page(make_setup, kind: str) -> None:
    s = setup(make_setup, kind, count=0)
    query = ListQuery(page_size=10)
    page = await s.provider.list_recordings(query, s.provider.page_cursor(query, 3))
    assert page.items == () and page.page_number == 1 and page.next is None and page.prev is None


async def test_genesys_jump_past_a_list_that_shrank(make_setup) -> None:
    s = setup(make_setup, "genesys", count=30)
    query = ListQuery(page_size=10)
    shown = await s.provider.list_recordings(query, s.provider.page_cursor(query, 3))
    assert shown.page_count == 3
    for rec in shown.items:                  # someone deletes page 3's rows elsewhere
        await s.provider.delete_recording(rec.id)
    s.wall.advance(3600)                     # past the adapter's own hiding of what it deleted
    page = await s.provider.list_recordings(query, s.provider.page_cursor(query, 3))
    walked = await walk(s.provider, query)
    assert len(walked) == 2 and page.page_number == 2 and ids(page) == ids(walked[-1]) and page.next is None


async def test_restcomm_jump_keeps_the_server_sort(make_setup) -> None:
    s = setup(make_setup, "restcomm", count=50)
    query = ListQuery(page_size=8, sort=SortSpec(key="duration", descending=False))
    walked = await walk(s.provider, query)
    for k in (2, 4, len(walked)):
        page = await s.provider.list_recordings(query, s.provider.page_cursor(query, k))
        assert ids(page) == ids(walked[k - 1]) and page.sorted_on_server and page.page_number == k


async def test_restcomm_jump_past_a_list_that_shrank(make_setup) -> None:
    s = setup(make_setup, "restcomm", count=40)
    query = ListQuery(page_size=10)
    assert (await s.provider.list_recordings(query)).page_count == 4
    for index in range(15):                  # deleted elsewhere
        s.prov_emu.delete_index(index)
    walked = await walk(s.provider, query)
    page = await s.provider.list_recordings(query, s.provider.page_cursor(query, 4))
    assert len(walked) == 3 and page.page_number == 3 and ids(page) == ids(walked[-1])
    assert page.total == 25 and page.next is None


async def test_restcomm_cursors_of_another_query_are_refused(make_setup) -> None:
    s = setup(make_setup, "restcomm")
    cursor = s.provider.page_cursor(ListQuery(page_size=10), 2)
    with pytest.raises(ValueError, match="different query"):
        await s.provider.list_recordings(ListQuery(page_size=10, sort=SortSpec(key="duration")), cursor)


async def date_range(s: Setup, first: int, last: int) -> tuple[Any, Any]:
    """The start times of the `first`-th and `last`-th newest recordings: a range that begins and
    ends inside server pages."""
    rows = (await s.provider.list_recordings(ListQuery(page_size=200))).items
    return rows[last].start, rows[first].start


@pytest.mark.parametrize("sort", (None, SortSpec(key="start", descending=False)))
async def test_restcomm_jump_in_a_date_range_in_time_order(make_setup, sort: SortSpec | None) -> None:
    s = setup(make_setup, "restcomm", count=200)
    since, until = await date_range(s, 23, 88)
    query = ListQuery(page_size=10, since=since, until=until, sort=sort)
    walked = [p for p in await walk(s.provider, query) if p.items]
    assert len(walked) == 7 and sum(len(p.items) for p in walked) == 66
    assert walked[0].page_number is None and walked[0].page_count is None      # not numbered: trimmed
    for k, expected in enumerate(walked, start=1):
        before = list_requests(s)
        page = await s.provider.list_recordings(query, s.provider.page_cursor(query, k))
        assert ids(page) == ids(expected) and not page.warnings, k
        assert list_requests(s) - before <= 2                 # the first page, then page k itself
        if k > 1:
            assert ids(await s.provider.list_recordings(query, page.prev)) == ids(walked[k - 2])
        if k < len(walked):
            assert ids(await s.provider.list_recordings(query, page.next)) == ids(walked[k])


async def test_restcomm_jump_past_the_end_of_a_date_range_lists_its_last_page(make_setup) -> None:
    s = setup(make_setup, "restcomm", count=200)
    since, until = await date_range(s, 23, 88)
    query = ListQuery(page_size=10, since=since, until=until)
    walked = [p for p in await walk(s.provider, query) if p.items]
    for number in (8, 9, 50, 5000):
        before = list_requests(s)
        page = await s.provider.list_recordings(query, s.provider.page_cursor(query, number))
        assert ids(page) == ids(walked[-1]), number
        assert page.warnings == (f"page {number:,} is past the end of the date range: this is its last page, "
                                 f"page {len(walked)}",)
        assert list_requests(s) - before <= 8                # a bisection, not a walk: 7 here


async def test_restcomm_jump_in_a_date_range_sorted_otherwise_follows_next(make_setup) -> None:
    s = setup(make_setup, "restcomm", count=200)
    since, until = await date_range(s, 23, 88)
    query = ListQuery(page_size=10, since=since, until=until, sort=SortSpec(key="duration"))
    walked = [p for p in await walk(s.provider, query) if p.items]
    assert sum(len(p.items) for p in walked) == 66
    for k in (1, 3, len(walked)):
        page = await s.provider.list_recordings(query, s.provider.page_cursor(query, k))
        assert ids(page) == ids(walked[k - 1]) and page.sorted_on_server
    with pytest.raises(Unsupported, match="sort by date"):
        await s.provider.list_recordings(query, s.provider.page_cursor(query, 40))


@pytest.mark.parametrize("server_page", (20, 7, 100))
async def test_screendesk_jump_over_server_pages_of_another_size(make_setup, server_page: int) -> None:
    s = setup(make_setup, "screendesk", count=61, server_page=server_page)
    query = ListQuery(page_size=9)
    walked = await walk(s.provider, query)
    assert len(walked) == 7
    for k in (7, 3, 5):
        page = await s.provider.list_recordings(query, s.provider.page_cursor(query, k))
        assert ids(page) == ids(walked[k - 1]) and page.page_number == k
        assert ids(await s.provider.list_recordings(query, page.prev)) == ids(walked[k - 2])


async def test_screendesk_jump_before_any_listing_learns_the_server_page_size(make_setup) -> None:
    """A fresh adapter knows neither the server's page size nor (with no size configured) its own:
    the listing reads page 1, then goes straight to the server page that holds the wanted slice."""
    s = setup(make_setup, "screendesk", count=95, server_page=20)
    cursor = s.provider.page_cursor(ListQuery(), 4)
    page = await s.provider.list_recordings(ListQuery(), cursor)
    asked = [r.query for r in s.emu.log.for_route("screendesk") if r.route == "list"]
    assert asked == ["page=1", "page=4"]
    walked = await walk(s.provider, ListQuery())
    assert len(walked) == 5 and ids(page) == ids(walked[3]) and page.page_number == 4
    assert ids(await s.provider.list_recordings(ListQuery(), page.next)) == ids(walked[4])


async def test_screendesk_jump_with_the_sizes_known_costs_only_the_pages_it_shows(make_setup) -> None:
    s = setup(make_setup, "screendesk", count=95, server_page=20)
    query = ListQuery(page_size=10)
    await s.provider.list_recordings(query)
    before = list_requests(s)
    page = await s.provider.list_recordings(query, s.provider.page_cursor(query, 6))   # rows 50–59: page 3
    assert list_requests(s) == before + 1 and page.page_number == 6 and len(page.items) == 10
