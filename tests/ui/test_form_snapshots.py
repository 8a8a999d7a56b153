"""Snapshots of the forms at 80×24 and 160×50, on a bare host app with rectui's stylesheets:
fixed data, a fixed `now`, dates in Europe/Paris, no cursor blink. Review the report before
`--snapshot-update`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from textual.pilot import Pilot
from textual.widgets import Input
from ui.test_forms import FormHost

from rectui.models import ListQuery, Recording, SortSpec
from rectui.providers.kazoo import KazooProvider
from rectui.providers.webex import WebexProvider
from rectui.screens.search_form import SearchForm
from rectui.screens.tag_editor import TagEditor

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 50), id="160x50")]
NOW = datetime(2026, 11, 1, 13, 0, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


def steps(*keys: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Press `keys`, then stop every cursor blinking so that the frame is fixed."""
    async def run(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
        await pilot.pause()
        for box in pilot.app.screen.query(Input):
            box.cursor_blink = False
        await pilot.pause()
    return run


def kazoo_search() -> SearchForm:
    return SearchForm(KazooProvider.capabilities, ListQuery(caller="+33 1 23 45 67 89", sort=SortSpec()),
                      provider_name="Kazoo", tz=PARIS, now=NOW)


def webex_search() -> SearchForm:
    current = ListQuery(since=NOW - timedelta(days=7), until=datetime(2026, 11, 1, 23, tzinfo=UTC),
                        status="deleted", topic="Weekly [b]sync[/b]")
    return SearchForm(WebexProvider.capabilities, current, provider_name="Webex", tz=PARIS, now=NOW)


def tag_editor() -> TagEditor:
    rows = [Recording(provider="kz", id=f"r{i}", title=f"Call {i}", tags=frozenset(tags))
            for i, tags in enumerate([{"vip", "[bold]escalated"}, {"vip", "billing"}, {"vip"}])]
    return TagEditor(rows, tags_in_use=["billing", "follow-up", "vip", "[bold]escalated"], server=True, current={},
                     provider_name="Kazoo")


@pytest.mark.parametrize("size", SIZES)
def test_search_form_with_a_date_error(snap_compare: Any, size: tuple[int, int]) -> None:
    keys = ["7", "d", "tab", "s", "o", "o", "n"]
    assert snap_compare(FormHost(kazoo_search), terminal_size=size, run_before=steps(*keys))


@pytest.mark.parametrize("size", SIZES)
def test_search_form_recycle_bin(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(FormHost(webex_search), terminal_size=size, run_before=steps())


@pytest.mark.parametrize("size", SIZES)
def test_tag_editor(snap_compare: Any, size: tuple[int, int]) -> None:
    keys = ["f", "o", "right", "enter", "shift+tab", "end", "up", "delete", "tab", "b", "i"]
    assert snap_compare(FormHost(tag_editor), terminal_size=size, run_before=steps(*keys))
