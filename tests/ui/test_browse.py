"""Browsing: the sidebar, pages, sort, filter, detail pane, help and palette, against the emulator."""

from __future__ import annotations

from pathlib import Path

from textual.command import CommandPalette
from ui.harness import build, main, settle, static_text

from rectui.messages import PageLoaded, RecordingLoaded
from rectui.screens.help import HelpScreen
from rectui.widgets.detail_pane import DetailPane
from rectui.widgets.provider_sidebar import ProviderList
from rectui.widgets.recordings_table import RecordingsTable, row_key

SIZE = (160, 50)


async def test_start_shows_all_providers_first_with_merged_rows(media_cache: Path) -> None:
    h = build(media_cache)
    async with h.app.run_test(size=SIZE, message_hook=h.messages.append) as pilot:
        await settle(pilot)
        screen = main(h)
        assert list(screen.states) == ["all", "genesys", "kazoo", "restcomm", "webex", "screendesk"]
        assert all(s.status == "ok" for s in screen.states.values())
        table = screen.query_one(RecordingsTable)
        assert table.row_count == 50
        assert {r.provider for r in table.rows_shown} == {"genesys", "kazoo", "restcomm", "webex", "screendesk"}
        starts = [r.start for r in table.rows_shown]
        assert starts == sorted(starts, reverse=True)          # merged newest first
        loaded = [m for m in h.messages if isinstance(m, PageLoaded)]
        assert loaded and loaded[0].view == "all"
        status = screen.status_bar.left_text
        assert "All providers" in status and "1–50 of many" in status and "newest first" in status
        assert table.has_focus


async def test_sidebar_selects_a_provider_by_keyboard_and_shows_exact_totals(media_cache: Path) -> None:
    h = build(media_cache)
    async with h.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = main(h)
        screen.query_one(ProviderList).focus()
        await pilot.press("down")              # Genesys Cloud: numbered pages, exact totals
        await settle(pilot)
        assert screen.view_id == "genesys"
        assert {r.provider for r in screen.table.rows_shown} == {"genesys"}
        assert "1–50 of 600" in screen.status_bar.left_text and "page 1/12" in screen.status_bar.left_text
        await pilot.press("down")              # Kazoo: cursor pages, no total
        await settle(pilot)
        assert screen.view_id == "kazoo" and "1–50 of many" in screen.status_bar.left_text
        await pilot.press("enter")
        await pilot.pause()
        assert screen.table.has_focus
        await pilot.press("5")                 # number keys: 0 = All, then sidebar order
        await settle(pilot)
        assert screen.view_id == "screendesk"


async def test_next_page_comes_from_the_prefetch_and_previous_goes_back(media_cache: Path) -> None:
    h = build(media_cache, kinds=("restcomm",), count=60)
    async with h.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = main(h)
        await pilot.press("1")                 # Restcomm
        await settle(pilot)
        first_page = [row_key(r) for r in screen.table.rows_shown]
        before = h.list_requests("restcomm")
        assert screen.check_action("page", (-1,)) is None       # no previous page: greyed out
        await pilot.press("n")
        await pilot.pause()                    # no worker: served from the prefetched page
        assert h.list_requests("restcomm") == before
        assert "51–60 of 60" in screen.status_bar.left_text and "page 2/2" in screen.status_bar.left_text
        assert screen.check_action("page", (1,)) is None         # last page
        await pilot.press("right")             # nothing past the last page, and no crash
        await pilot.press("p")
        await settle(pilot)
        assert [row_key(r) for r in screen.table.rows_shown] == first_page
        assert "1–50 of 60" in screen.status_bar.left_text


async def test_sort_on_the_server_where_the_provider_can_else_over_the_loaded_rows(media_cache: Path) -> None:
    h = build(media_cache)
    async with h.app.run_test(size=SIZE, message_hook=h.messages.append) as pilot:
        await settle(pilot)
        screen = main(h)
        await pilot.press("3")                 # Restcomm sorts by duration on the server
        await settle(pilot)
        keep = screen.table.current_key()
        await pilot.press("s")                 # date → duration
        await settle(pilot)
        last = [m for m in h.messages if isinstance(m, PageLoaded)][-1]
        assert last.query.sort is not None and last.query.sort.key == "duration" and last.page.sorted_on_server
        assert "sorted by Duration ▼ on the server" in screen.status_bar.left_text
        durations = [r.duration for r in screen.table.rows_shown]
        assert durations == sorted(durations, reverse=True)
        assert "SortBy" in h.emu.log.for_route("restcomm", "list")[-1].query
        del keep
        await pilot.press("4")                 # Webex sorts nothing on the server
        await settle(pilot)
        requests = h.list_requests("webex")
        keep = screen.table.current_key()
        screen.sort("title", False)
        await settle(pilot)
        assert h.list_requests("webex") == requests             # no new request: the loaded rows
        titles = [r.title.casefold() for r in screen.table.rows_shown]
        assert titles == sorted(titles)
        assert "sorted by Title/Topic ▲ over the 50 loaded rows" in screen.status_bar.left_text
        assert screen.table.current_key() == keep                # the cursor stayed on its recording
        await pilot.press("S")
        await settle(pilot)
        assert [r.title.casefold() for r in screen.table.rows_shown] == sorted(titles, reverse=True)
        assert screen.table.current_key() == keep


async def test_cursor_stays_on_the_same_recording_across_a_refresh(media_cache: Path) -> None:
    h = build(media_cache)
    async with h.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = main(h)
        screen.table.move_cursor(row=7)
        await settle(pilot)
        keep = screen.table.current_key()
        before = h.list_requests("kazoo") + h.list_requests("webex")
        await pilot.press("r")
        await settle(pilot)
        assert h.list_requests("kazoo") + h.list_requests("webex") > before      # really fetched again
        assert screen.table.current_key() == keep


async def test_filter_narrows_the_loaded_rows_as_you_type(media_cache: Path) -> None:
    h = build(media_cache)
    async with h.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = main(h)
        total = screen.table.row_count
        await pilot.press("slash", "v", "o", "i", "c", "e")
        await pilot.pause()
        shown = screen.table.rows_shown
        assert 0 < len(shown) < total
        assert all("voice" in (r.title + (r.owner or "") + (r.caller or "") + (r.callee or "")).casefold()
                   for r in shown)
        assert "filter “voice”" in screen.status_bar.left_text
        await pilot.press("escape")
        await pilot.pause()
        assert screen.table.row_count == total and screen.table.has_focus


async def test_detail_pane_loads_the_full_recording_and_shows_raw_on_demand(media_cache: Path) -> None:
    h = build(media_cache)
    async with h.app.run_test(size=SIZE, message_hook=h.messages.append) as pilot:
        await settle(pilot)
        screen = main(h)
        await pilot.press("1")                 # Genesys: the listing has no conversation, the detail has
        await settle(pilot)
        pane = screen.query_one(DetailPane)
        loaded = [m for m in h.messages if isinstance(m, RecordingLoaded)]
        assert loaded and pane.full and pane.recording is not None
        assert pane.recording.key == screen.table.current().key  # type: ignore[union-attr]
        assert "Conversation id" in pane.recording.details
        await pilot.press("v")
        await pilot.pause()
        assert pane.raw and '"selfUri"' in static_text(pane.query_one("#detail-body"))
        await pilot.press("v")
        await pilot.press("down")
        await settle(pilot)
        assert pane.recording.key == screen.table.current().key  # type: ignore[union-attr]


async def test_screendesk_shows_its_viewer_url_and_actions_are_gated(media_cache: Path) -> None:
    h = build(media_cache, read_only=False)
    async with h.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = main(h)
        await pilot.press("5")
        await settle(pilot)
        rec = screen.table.current()
        assert rec is not None and rec.viewer_url
        assert f"Viewer             {rec.viewer_url}" in static_text(screen.query_one("#detail-body"), 200)
        assert screen.check_action("open_viewer", ()) is True
        assert screen.check_action("play", ()) is None           # no media API: shown greyed out
        assert screen.gate_reason("delete", rec) == "Screendesk cannot delete recordings"
        await pilot.press("1")
        await settle(pilot)
        assert screen.check_action("open_viewer", ()) is False   # hidden where there is no URL
        assert screen.gate_reason("delete", screen.table.current()) is None
        assert screen.gate_reason("restore", screen.table.current()) == "Genesys Cloud cannot restore recordings"


async def test_read_only_removes_destructive_actions(media_cache: Path) -> None:
    h = build(media_cache, kinds=("webex",), read_only=True)
    async with h.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = main(h)
        rec = screen.table.current()
        for action in ("delete", "restore", "purge", "tag"):
            assert screen.gate_reason(action, rec) == "Webex is read-only"
            assert screen.check_action(action, ()) is None
        assert screen.gate_reason("play", rec) is None
        assert screen.states["webex"].read_only and "read-only" in screen.status_bar.left_text


async def test_help_lists_the_focused_widgets_keys_first(media_cache: Path) -> None:
    h = build(media_cache, kinds=("kazoo",))
    async with h.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        help_screen = h.app.screen
        assert isinstance(help_screen, HelpScreen)
        first = help_screen.sections[0]
        assert first.title == "Recordings table (focused)"
        assert any("Sort" in row.description for row in first.rows)
        assert [s.title for s in help_screen.sections][-1] == "Everywhere"
        await pilot.press("escape")
        await pilot.pause()
        main(h).query_one(ProviderList).focus()
        await pilot.press("question_mark")
        await pilot.pause()
        assert h.app.screen.sections[0].title == "Provider sidebar (focused)"  # type: ignore[attr-defined]


async def test_palette_runs_commands_and_jumps_to_a_loaded_recording(media_cache: Path) -> None:
    h = build(media_cache, kinds=("screendesk",))
    async with h.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = main(h)
        target = screen.table.rows_shown[30]
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(h.app.screen, CommandPalette)
        await pilot.press(*target.title)
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert h.app.screen is screen
        assert screen.table.current() is not None and screen.table.current().title == target.title  # type: ignore[union-attr]
        titles = [title for title, _help, _cb in screen.system_commands()]
        assert "sort: by Duration" in titles and "provider: Screendesk" in titles and "page: next" in titles


async def test_keys_typed_right_after_slash_reach_the_filter(media_cache: Path) -> None:
    """As a terminal delivers a quick "/sales" in one read: the filter gets every character."""
    from textual import events

    h = build(media_cache, kinds=("screendesk",))
    async with h.app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        for char in "/sa/les":
            event = events.Key("slash" if char == "/" else char, char)
            event.set_sender(h.app)
            h.app._driver.send_message(event)   # type: ignore[union-attr]
        await settle(pilot)
        box = h.app.screen.query_one("#filter")
        assert box.value == "sa/les" and box.has_focus    # type: ignore[attr-defined]
        assert main(h).status_bar.left_text.count("newest first") == 1   # no stray sort


async def test_keys_are_remapped_from_the_config_and_the_theme_applied(media_cache: Path) -> None:
    from rectui.config import UiSettings

    h = build(media_cache, kinds=("restcomm",), keymap={"table-sort": "o"}, ui=UiSettings(theme="nord"))
    async with h.app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert h.app.theme == "nord"
        await pilot.press("1", "o")
        await settle(pilot)
        assert "sorted by Duration ▼ on the server" in main(h).status_bar.left_text


async def test_an_unknown_theme_is_a_warning_not_a_failure(media_cache: Path) -> None:
    from rectui.config import UiSettings

    h = build(media_cache, kinds=("restcomm",), ui=UiSettings(theme="no-such-theme"))
    async with h.app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert any("no-such-theme" in n.message for n in h.app._notifications)
        assert main(h).table.row_count == 50
