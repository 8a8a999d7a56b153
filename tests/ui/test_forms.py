"""The forms, each pushed on a bare host app with rectui's stylesheets and driven by keys: the
search form (per provider's real capabilities), the tag editor, rename and jump-to-page; and
`parse_when`, the search form's date reader, on its own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest
from textual.app import App
from textual.screen import Screen
from textual.widgets import Input, Select, Static

from rectui.models import TAG_LIMIT, ListQuery, Recording, SortSpec
from rectui.paths import STYLES_DIR
from rectui.providers.genesys import GenesysProvider
from rectui.providers.kazoo import KazooProvider
from rectui.providers.restcomm import RestcommProvider
from rectui.providers.screendesk import ScreendeskProvider
from rectui.providers.webex import WebexProvider
from rectui.screens.jump import JumpToPage, check_page
from rectui.screens.rename import RenameDialog
from rectui.screens.search_form import SearchForm, describe_when, format_when, missing_note, parse_when
from rectui.screens.tag_editor import TagChange, TagEditor

NOW = datetime(2026, 11, 1, 13, 0, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


class FormHost(App[None]):
    """A bare app that shows one form and keeps what it was dismissed with."""

    CSS_PATH: ClassVar[list[Any]] = sorted(STYLES_DIR.glob("*.tcss"))

    def __init__(self, make: Callable[[], Screen[Any]]) -> None:
        super().__init__()
        self.make = make
        self.results: list[Any] = []

    def on_mount(self) -> None:
        self.push_screen(self.make(), self.results.append)


def screen_text(app: App[Any]) -> str:
    """What the terminal shows, as plain text (the dialog over the host's screen)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def typed(text: str) -> list[str]:
    """The key names that type `text`."""
    names = {" ": "space", "-": "minus", ":": "colon", "[": "left_square_bracket", "]": "right_square_bracket",
             ",": "comma", "@": "at", ".": "full_stop"}
    return [names.get(ch, ch) for ch in text]


def search(caps: Any, current: ListQuery | None = None, name: str = "Kazoo", tz: Any = PARIS) -> FormHost:
    return FormHost(lambda: SearchForm(caps, current or ListQuery(), provider_name=name, tz=tz, now=NOW))


# -- parse_when --------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "start", "end"), [
    ("2026-11-01", datetime(2026, 10, 31, 23, tzinfo=UTC), datetime(2026, 11, 1, 23, tzinfo=UTC)),
    ("2026-07-01", datetime(2026, 6, 30, 22, tzinfo=UTC), datetime(2026, 7, 1, 22, tzinfo=UTC)),   # summer time
    ("2026-11-01 14:00", datetime(2026, 11, 1, 13, tzinfo=UTC), datetime(2026, 11, 1, 13, tzinfo=UTC)),
    ("2026-11-01T14:00:30", datetime(2026, 11, 1, 13, 0, 30, tzinfo=UTC), None),
    ("2026-11-01t14:00z", datetime(2026, 11, 1, 14, tzinfo=UTC), None),
    ("2026-11-01 14:00+05:00", datetime(2026, 11, 1, 9, tzinfo=UTC), None),
    ("7d", NOW - timedelta(days=7), NOW - timedelta(days=7)),
    ("24h", NOW - timedelta(hours=24), None),
    ("2w", NOW - timedelta(weeks=2), None),
    (" 3 days ago ", NOW - timedelta(days=3), None),
    ("now", NOW, NOW),
    ("Today", datetime(2026, 10, 31, 23, tzinfo=UTC), datetime(2026, 11, 1, 23, tzinfo=UTC)),
    ("yesterday", datetime(2026, 10, 30, 23, tzinfo=UTC), datetime(2026, 10, 31, 23, tzinfo=UTC)),
])
def test_parse_when_reads_dates_in_the_users_zone(text: str, start: datetime, end: datetime | None) -> None:
    assert parse_when(text, PARIS, NOW) == start
    assert parse_when(text, PARIS, NOW).tzinfo is UTC
    assert parse_when(text, PARIS, NOW, end=True) == (start if end is None else end)


def test_parse_when_today_follows_the_zone_across_midnight() -> None:
    late = datetime(2026, 11, 1, 23, 30, tzinfo=UTC)           # already 2 November in Paris
    assert parse_when("today", PARIS, late) == datetime(2026, 11, 1, 23, tzinfo=UTC)
    assert parse_when("today", UTC, late) == datetime(2026, 11, 1, tzinfo=UTC)
    tokyo = ZoneInfo("Asia/Tokyo")
    assert parse_when("2026-11-01", tokyo, NOW) == datetime(2026, 10, 31, 15, tzinfo=UTC)


def test_parse_when_with_the_machines_zone(utc: None) -> None:
    assert parse_when("2026-11-01 14:00", None, NOW) == datetime(2026, 11, 1, 14, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "   ", "soon", "2026-13-01", "2026-02-30", "7y", "999999w", "1d2h", "-3d",
                                  "[bold]2026"])
def test_parse_when_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError):
        parse_when(text, PARIS, NOW)


def test_format_when_round_trips_through_parse_when() -> None:
    for text, end in [("2026-11-01", False), ("2026-11-01", True), ("2026-11-01 14:05", False),
                      ("2026-03-29 03:30:15", True)]:
        value = parse_when(text, PARIS, NOW, end=end)
        assert format_when(value, PARIS, end=end) == text
        assert parse_when(format_when(value, PARIS, end=end), PARIS, NOW, end=end) == value


def test_describe_when_shows_local_and_utc() -> None:
    assert describe_when(parse_when("2026-11-01", PARIS, NOW), PARIS) == "2026-11-01 00:00 CET · 2026-10-31 23:00 UTC"
    until = parse_when("2026-11-01", PARIS, NOW, end=True)
    assert describe_when(until, PARIS, end=True) == "end of 2026-11-01 CET · 2026-11-01 23:00 UTC"
    assert describe_when(NOW, UTC) == "2026-11-01 13:00 UTC"


def test_missing_note_names_what_each_provider_lacks() -> None:
    assert missing_note(KazooProvider.capabilities, "Kazoo") == "Kazoo cannot filter by status, topic or service type."
    assert missing_note(RestcommProvider.capabilities, "Restcomm") == (
        "Restcomm cannot filter by caller, owner, status, topic or service type.")
    assert missing_note(WebexProvider.capabilities, "Webex") == "Webex cannot filter by caller, owner or call id."
    assert "cannot filter on its server" in missing_note(GenesysProvider.capabilities, "Genesys")


# -- search form -----------------------------------------------------------------------------

def offered(app: FormHost) -> set[str]:
    return {w.id.removeprefix("search-") for w in app.screen.query("Input, Select") if w.id}


@pytest.mark.parametrize(("caps", "fields"), [
    (KazooProvider.capabilities, {"since", "until", "caller", "owner", "call_id"}),
    (RestcommProvider.capabilities, {"since", "until", "call_id"}),
    (WebexProvider.capabilities, {"since", "until", "status", "topic", "service_type"}),
    (GenesysProvider.capabilities, set()),
    (ScreendeskProvider.capabilities, set()),
])
async def test_search_form_offers_only_the_providers_filters(caps: Any, fields: set[str]) -> None:
    app = search(caps, name="Them")
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        assert offered(app) == fields
        text = screen_text(app)
        assert "Search Them on the server" in text
        if not fields:
            assert "Them cannot filter on its server" in text
            assert app.screen.query_one("#search-go").disabled


async def test_search_form_returns_the_query_and_keeps_sort_and_page_size() -> None:
    current = ListQuery(sort=SortSpec(key="start", descending=False), page_size=25)
    app = search(KazooProvider.capabilities, current)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        assert "Kazoo cannot filter by status, topic or service type." in screen_text(app)
        await pilot.press(*typed("2026-11-01"), "tab", *typed("2026-11-03"), "tab", *typed("+331"), "tab",
                          *typed(" alice "), "tab")
        note = app.screen.query_one("#search-since-note", Static)
        assert "2026-11-01 00:00 CET · 2026-10-31 23:00 UTC" in str(note.render())
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert app.results == [ListQuery(since=datetime(2026, 10, 31, 23, tzinfo=UTC),
                                     until=datetime(2026, 11, 3, 23, tzinfo=UTC), caller="+331", owner="alice",
                                     sort=SortSpec(key="start", descending=False), page_size=25)]


async def test_search_form_relative_dates_and_enter_submits() -> None:
    app = search(RestcommProvider.capabilities, name="Restcomm")
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        await pilot.press("7", "d", "enter")
        await pilot.pause()
    assert app.results == [ListQuery(since=NOW - timedelta(days=7))]


async def test_search_form_shows_date_errors_and_blocks_submit() -> None:
    app = search(KazooProvider.capabilities)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        await pilot.press(*typed("next week"), "ctrl+s")
        await pilot.pause()
        assert app.results == []
        note = app.screen.query_one("#search-since-note", Static)
        assert note.has_class("-error") and "not a date; try 2026-11-01" in str(note.render())
        assert app.screen.focused is app.screen.query_one("#search-since")
        # since after until is refused too, the error under "To date"
        await pilot.press("ctrl+u", *typed("today"), "tab", *typed("yesterday"), "ctrl+s")
        await pilot.pause()
        assert app.results == []
        until_note = app.screen.query_one("#search-until-note", Static)
        assert until_note.has_class("-error") and "must be after the from date" in str(until_note.render())
        assert not note.has_class("-error")
        # fixed, it goes
        await pilot.press("ctrl+u", *typed("now"), "enter")
        await pilot.pause()
    assert app.results == [ListQuery(since=datetime(2026, 10, 31, 23, tzinfo=UTC), until=NOW)]


async def test_search_form_starts_from_the_current_filters_and_lists_the_recycle_bin() -> None:
    current = ListQuery(since=datetime(2026, 10, 1, 22, tzinfo=UTC), topic="Weekly [b]sync[/b]", page_size=50)
    app = search(WebexProvider.capabilities, current, name="Webex")
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.query_one("#search-since", Input).value == "2026-10-02"     # midnight in Paris
        assert screen.query_one("#search-until", Input).value == ""
        assert screen.query_one("#search-topic", Input).value == "Weekly [b]sync[/b]"
        assert "Webex cannot filter by caller, owner or call id." in screen_text(app)
        status = screen.query_one("#search-status", Select)
        status.focus()
        await pilot.press("enter", "down", "down", "enter")      # open the list, pick "In the recycle bin"
        await pilot.pause()
        assert status.value == "deleted"
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert app.results == [ListQuery(since=datetime(2026, 10, 1, 22, tzinfo=UTC), status="deleted",
                                     topic="Weekly [b]sync[/b]", page_size=50)]


async def test_search_form_keeps_a_status_it_has_no_option_for() -> None:
    app = search(WebexProvider.capabilities, ListQuery(status="processing"), name="Webex")
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        assert app.screen.query_one("#search-status", Select).value == "processing"
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert app.results == [ListQuery(status="processing")]


async def test_search_form_clear_and_cancel() -> None:
    current = ListQuery(since=NOW - timedelta(days=3), call_id="abc", sort=SortSpec(), page_size=10)
    app = search(RestcommProvider.capabilities, current)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert app.results == [ListQuery(sort=SortSpec(), page_size=10)]
    app = search(RestcommProvider.capabilities, current)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        await pilot.press("x", "escape")
        await pilot.pause()
        assert app.results == [None]


async def test_search_form_for_a_provider_without_filters_can_still_clear() -> None:
    app = search(GenesysProvider.capabilities, ListQuery(page_size=20), name="Genesys")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("enter")            # Clear has the focus
        await pilot.pause()
    assert app.results == [ListQuery(page_size=20)]


# -- tag editor ------------------------------------------------------------------------------

def recs(*tag_sets: set[str]) -> list[Recording]:
    return [Recording(provider="kz", id=f"r{i}", title=f"Call {i}", tags=frozenset(tags))
            for i, tags in enumerate(tag_sets)]


def editor(recordings: list[Recording], *, server: bool = False, current: dict[Any, frozenset[str]] | None = None,
           in_use: tuple[str, ...] = ("billing", "follow-up", "vip")) -> FormHost:
    return FormHost(lambda: TagEditor(recordings, tags_in_use=in_use, server=server, current=current or {},
                                      provider_name="Kazoo"))


def listed(app: FormHost) -> list[str]:
    from rectui.screens.tag_editor import TagList
    options = app.screen.query_one(TagList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def test_tag_editor_adds_with_completion_and_says_where_tags_live() -> None:
    app = editor(recs({"vip"}), server=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert "server tags (Kazoo)" in screen_text(app)
        await pilot.press("f", "o")
        await pilot.pause()                                 # the suggestion arrives from a worker
        await pilot.press("right")                          # → accepts it
        assert app.screen.query_one("#tags-input", Input).value == "follow-up"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.query_one("#tags-input", Input).value == ""
        assert listed(app) == ["vip", "follow-up  + to add"]
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert app.results == [TagChange(add=frozenset({"follow-up"}), remove=frozenset())]


async def test_tag_editor_removes_and_restores_from_the_list() -> None:
    app = editor(recs({"vip", "billing"}))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert "local tags, kept on this machine" in screen_text(app)
        assert listed(app) == ["billing", "vip"]
        await pilot.press("shift+tab")                      # to the tag list
        await pilot.pause()
        await pilot.press("down", "delete")                 # vip (the first is highlighted): to remove
        assert listed(app) == ["billing", "vip  − to remove"]
        await pilot.press("up", "backspace", "backspace")   # billing: removed, then kept again
        assert listed(app) == ["billing", "vip  − to remove"]
        await pilot.press("tab", *typed("new"), "enter", "shift+tab", "end", "delete")   # an added one goes
        assert listed(app) == ["billing", "vip  − to remove"]
        await pilot.press("tab", "enter")                   # enter on the empty field saves
        await pilot.pause()
    assert app.results == [TagChange(add=frozenset(), remove=frozenset({"vip"}))]


async def test_tag_editor_many_recordings_shows_common_and_partial_tags() -> None:
    rows = recs({"vip"}, {"vip", "billing"}, set())
    current = {rows[2].key: frozenset({"vip"})}             # the third's tags as shown (local)
    app = editor(rows, current=current)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert "Tags · 3 recordings" in screen_text(app)
        assert listed(app) == ["vip  on all", "billing  on 1 of 3"]
        await pilot.press(*typed("billing"), "enter", *typed("vip"), "enter")
        await pilot.pause()
        assert listed(app) == ["vip  on all", "billing  on 1 of 3 → all"]
        assert "Already there." in screen_text(app)
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert app.results == [TagChange(add=frozenset({"billing"}), remove=frozenset())]


async def test_tag_editor_keeps_markup_verbatim_and_cleans_like_the_store() -> None:
    app = editor(recs({"[bold]x"}), in_use=("[bold]x", "[red]alert[/red]"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert "[bold]x" in screen_text(app)
        await pilot.press(*typed("[red"), *typed("]"))
        await pilot.pause()
        await pilot.press("right", "enter", *typed("   "), "tab")
        await pilot.pause()
        assert listed(app) == ["[bold]x", "[red]alert[/red]  + to add"]
        assert "[red]alert[/red]" in screen_text(app)
        box = app.screen.query_one("#tags-input", Input)
        box.focus()
        box.value = "a\x1b[31mb\tc" + "z" * 200              # pasted: escape, tab, too long
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
    (change,) = app.results
    long = next(t for t in change.add if t.startswith("a"))
    assert "\x1b" not in long and "\t" not in long and len(long) == TAG_LIMIT
    assert change.add == {"[red]alert[/red]", long}


async def test_tag_editor_enter_on_a_blank_field_saves_and_nothing_changed_is_none() -> None:
    app = editor(recs(set()))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert "No tags yet." in screen_text(app)
        box = app.screen.query_one("#tags-input", Input)
        box.value = "   \t "
        await pilot.press("end", "enter")                  # blank after cleaning: saves nothing
        await pilot.pause()
    assert app.results == [None]
    app = editor(recs({"vip"}))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
    assert app.results == [None]


# -- rename ----------------------------------------------------------------------------------

SCREENDESK_ROW = Recording(provider="sd", id="u1", title="Demo [b]call[/b]",
                           raw={"summary": "Old summary", "description": ""},
                           details={"Title": "Demo [b]call[/b]", "Summary": "Old summary"})


def rename(rec: Recording, fields: tuple[str, ...]) -> FormHost:
    return FormHost(lambda: RenameDialog(rec, fields))


async def test_rename_returns_changed_fields_only() -> None:
    app = rename(SCREENDESK_ROW, ScreendeskProvider.capabilities.rename_fields)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.query_one("#rename-title", Input).value == "Demo [b]call[/b]"
        assert "Rename · Demo [b]call[/b]" in screen_text(app)
        await pilot.press("tab", "ctrl+a", "shift+end", "delete", *typed("New summary"), "ctrl+s")
        await pilot.pause()
    assert app.results == [{"summary": "New summary"}]


async def test_rename_clears_a_summary_and_refuses_an_empty_title() -> None:
    app = rename(SCREENDESK_ROW, ScreendeskProvider.capabilities.rename_fields)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+u", "ctrl+s")
        await pilot.pause()
        assert app.results == []
        assert "cannot be empty" in screen_text(app)
        await pilot.press(*typed("Renamed"), "tab", "ctrl+a", "shift+end", "delete", "ctrl+s")
        await pilot.pause()
    assert app.results == [{"title": "Renamed", "summary": None}]


async def test_rename_genesys_name_enter_saves_and_unchanged_is_none() -> None:
    row = Recording(provider="gc", id="g1", title="Voicemail")
    app = rename(row, GenesysProvider.capabilities.rename_fields)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("end", *typed(" 2"), "enter")
        await pilot.pause()
    assert app.results == [{"name": "Voicemail 2"}]
    app = rename(row, GenesysProvider.capabilities.rename_fields)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
    assert app.results == [None]


async def test_rename_refuses_an_overlong_description() -> None:
    app = rename(SCREENDESK_ROW, ("description",))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        from textual.widgets import TextArea
        app.screen.query_one("#rename-description", TextArea).text = "x" * 10_001
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.results == []
        assert "at most 10,000 characters (10,001 now)" in screen_text(app)


# -- jump to page ----------------------------------------------------------------------------

def test_check_page() -> None:
    assert check_page(" 1,234 ", None) == 1234
    assert check_page("47", 47) == 47
    for text, count, message in [("", 5, "type a page number"), ("0", 5, "pages start at 1"),
                                 ("6", 5, "the last page is 5"), ("x", 5, "not a whole number")]:
        with pytest.raises(ValueError, match=message):
            check_page(text, count)


async def test_jump_validates_the_range() -> None:
    app = FormHost(lambda: JumpToPage(47, 3))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "On page 3 of 47." in screen_text(app)
        await pilot.press("9", "9", "enter")
        await pilot.pause()
        assert app.results == [] and "the last page is 47" in screen_text(app)
        await pilot.press("backspace", "backspace", "a", "1", "2", "enter")     # letters are not typed
        await pilot.pause()
    assert app.results == [12]


async def test_jump_without_a_page_count_and_escape() -> None:
    app = FormHost(lambda: JumpToPage(None, 1))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("0", "enter")
        await pilot.pause()
        assert app.results == [] and "pages start at 1" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
    assert app.results == [None]
