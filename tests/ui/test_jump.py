"""First, last and jump-to page (`:`, `<`, `>`) where the provider numbers its pages, through the
adapters' `page_cursor`; Kazoo, which pages by cursor, says so instead."""

from __future__ import annotations

from pathlib import Path

import pytest
from ui.harness import build, main, screen_text, settle

from rectui.models import Cursor, ListQuery
from rectui.screens.jump import JumpToPage
from rectui.screens.main import MainScreen
from rectui.widgets.recordings_table import row_key

SIZE = (160, 50)
NUMBERED = ("genesys", "restcomm", "screendesk")


async def walked_keys(provider: object, query: ListQuery) -> list[list[str]]:
    """Every page's row keys, reached by "next" from the first page, straight from the adapter."""
    pages: list[list[str]] = []
    cursor: Cursor | None = None
    while True:
        page = await provider.list_recordings(query, cursor)  # type: ignore[attr-defined]
        pages.append([row_key(r) for r in page.items])
        if page.next is None:
            return pages
        cursor = page.next


def shown(screen: MainScreen) -> list[str]:
    return [row_key(r) for r in screen.table.rows_shown]


@pytest.mark.parametrize("kind", NUMBERED)
async def test_jump_last_first_and_back_one_page(media_cache: Path, kind: str) -> None:
    h = build(media_cache, kinds=(kind,), count=230)          # 50 a page: 5 pages, the last of 30
    provider = h.providers[0]
    async with h.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = main(h)
        await pilot.press("1")
        await settle(pilot)
        assert screen.view_id == kind
        expected = await walked_keys(provider, screen.query_for(screen.view))  # type: ignore[arg-type]
        assert len(expected) == 5 and shown(screen) == expected[0]

        await pilot.press("colon")                              # go to page 3
        await pilot.pause()
        assert isinstance(h.app.screen, JumpToPage)
        await pilot.press("3", "enter")
        await settle(pilot)
        assert shown(screen) == expected[2]
        assert "101–150 of 230" in screen.status_bar.left_text and "page 3/5" in screen.status_bar.left_text

        await pilot.press("p")                                  # back one page: page 2
        await settle(pilot)
        assert shown(screen) == expected[1] and "page 2/5" in screen.status_bar.left_text

        await pilot.press("greater_than_sign")                  # the last page
        await settle(pilot)
        assert shown(screen) == expected[4]
        assert "201–230 of 230" in screen.status_bar.left_text and "page 5/5" in screen.status_bar.left_text

        await pilot.press("p")                                  # back one page from the last: page 4
        await settle(pilot)
        assert shown(screen) == expected[3] and "151–200 of 230" in screen.status_bar.left_text

        await pilot.press("less_than_sign")                     # the first page
        await settle(pilot)
        assert shown(screen) == expected[0] and "1–50 of 230" in screen.status_bar.left_text
        assert screen.check_action("page", (-1,)) is None       # no previous page from the first


async def test_jump_dialog_refuses_a_page_past_the_last(media_cache: Path) -> None:
    h = build(media_cache, kinds=("genesys",), count=230)
    async with h.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = main(h)
        await pilot.press("1")
        await settle(pilot)
        before = h.list_requests("genesys")
        await pilot.press("colon")
        await pilot.pause()
        await pilot.press("9", "enter")
        await pilot.pause()
        assert isinstance(h.app.screen, JumpToPage) and "the last page is 5" in screen_text(h.app)
        await pilot.press("escape")
        await settle(pilot)
        assert h.app.screen is screen and h.list_requests("genesys") == before


async def test_jump_in_a_restcomm_date_range(media_cache: Path) -> None:
    """With a date range Restcomm's pages are trimmed and not counted: any number may be typed, and
    the page shown is the one "next" reaches."""
    h = build(media_cache, kinds=("restcomm",), count=600)
    provider = h.providers[0]
    async with h.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = main(h)
        await pilot.press("1")
        await settle(pilot)
        rows = (await provider.list_recordings(ListQuery(page_size=400))).items
        screen.apply_search(ListQuery(since=rows[330].start, until=rows[23].start))
        await settle(pilot)
        expected = [p for p in await walked_keys(provider, screen.query_for(screen.view)) if p]  # type: ignore[arg-type]
        assert len(expected) == 7 and shown(screen) == expected[0]
        await pilot.press("colon")
        await pilot.pause()
        await pilot.press("4", "enter")
        await settle(pilot)
        assert shown(screen) == expected[3] and "page 4" in screen.status_bar.left_text
        await pilot.press("p")
        await settle(pilot)
        assert shown(screen) == expected[2]


async def test_jump_action_on_kazoo_says_it_pages_by_cursor(media_cache: Path) -> None:
    h = build(media_cache, kinds=("kazoo",), count=230)
    async with h.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = main(h)
        await pilot.press("1")
        await settle(pilot)
        assert screen.view_id == "kazoo"
        first = shown(screen)
        screen.action_jump()
        await settle(pilot)
        assert not isinstance(h.app.screen, JumpToPage)
        notes = [(n.title, n.message) for n in h.app._notifications]
        assert ("Go to page", "Kazoo pages by cursor: only next and previous.") in notes
        assert shown(screen) == first


async def test_colon_on_kazoo_says_it_pages_by_cursor(media_cache: Path) -> None:
    h = build(media_cache, kinds=("kazoo",), count=230)
    async with h.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("1")
        await settle(pilot)
        await pilot.press("colon")
        await settle(pilot)
        assert any("pages by cursor" in n.message for n in h.app._notifications)
