"""Server text is data: the emulator's hostile values show verbatim everywhere, run no action,
crash nothing, and no escape byte from the data reaches the screen."""

from __future__ import annotations

from pathlib import Path

from textual.command import CommandPalette
from ui.harness import build, screen_text, settle, static_text

from rectui.screens.main import MainScreen
from rectui.widgets.recordings_table import row_key

SIZE = (160, 50)
CLICK = "[@click=app.quit]Click me[/]"


async def test_hostile_titles_show_verbatim_in_table_detail_filter_and_palette(media_cache: Path,
                                                                               actions: list[str]) -> None:
    h = build(media_cache, kinds=("webex",), hostile=True, faults="webex.list:hostile_titles")
    async with h.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = h.app.screen
        assert isinstance(screen, MainScreen)
        text = screen_text(h.app)
        assert "[/red]" in text and CLICK in text and "Q&A [draft]" in text and "[bold]x" in text
        assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text
        assert "\ufffd" in text                            # escapes were replaced, visibly
        # click the title cell that reads [@click=app.quit]…: nothing runs
        target = next(r for r in screen.table.rows_shown if r.title == CLICK)
        screen.table.move_to(row_key(target))
        await settle(pilot)
        row = screen.table.cursor_row - int(screen.table.scroll_y)
        await pilot.click("#recordings", offset=(60, row + 1))
        await settle(pilot)
        assert "QUIT" not in actions and h.app.is_running
        assert screen.table.current() == target
        # the detail pane (the emulator's get_recording answers the real title, so show the listing's)
        screen.detail.show(target, provider_name="Webex", caps=None, full=True)
        await pilot.pause()
        assert CLICK in static_text(screen.query_one("#detail-body")) and CLICK in screen_text(h.app)
        # filter by markup-looking text, with the matches highlighted
        await pilot.press("slash", *"[/red]")
        await pilot.pause()
        assert {r.title for r in screen.table.rows_shown} == {"[/red]"}
        assert "[/red]" in screen_text(h.app)
        await pilot.press("escape")
        # sort by title with hostile values
        screen.sort("title", False)
        await settle(pilot)
        # the palette lists them as plain text
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(h.app.screen, CommandPalette)
        await pilot.press(*"click")
        await settle(pilot)
        assert CLICK in screen_text(h.app)
        await pilot.press("escape")
        await pilot.pause()
        assert "QUIT" not in actions and h.app.is_running


async def test_hostile_server_messages_in_errors_are_shown_verbatim(media_cache: Path, actions: list[str]) -> None:
    message = "[@click=app.quit]boom[/] [/red] \x1b[2Jclear \x9b31m"
    h = build(media_cache, kinds=("webex", "restcomm"), faults=f"webex.list:status=500,message={message}")
    async with h.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = h.app.screen
        assert isinstance(screen, MainScreen)
        assert screen.states["webex"].status == "error"
        note = next(n for n in h.app._notifications if n.title.startswith("Webex"))
        assert "[@click=app.quit]boom[/] [/red]" in note.message and not note.markup
        await pilot.press("1")                             # Webex: its error in the sidebar and the table
        await settle(pilot)
        text = screen_text(h.app)
        assert "[/red]" in text and "\x1b" not in text and "\x9b" not in text
        await pilot.press("e")
        await pilot.pause()
        assert "[@click=app.quit]boom[/]" in screen_text(h.app)
        await pilot.press("escape")
        await pilot.pause()
        assert "QUIT" not in actions and h.app.is_running


async def test_unsafe_ids_are_shown_but_never_fetched(media_cache: Path) -> None:
    h = build(media_cache, kinds=("genesys",), faults="genesys.list:hostile_ids")
    async with h.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = h.app.screen
        assert isinstance(screen, MainScreen)
        unsafe = [r for r in screen.table.rows_shown if not r.id_valid]
        assert unsafe
        gets = len(h.emu.log.for_route("genesys", "get"))
        screen.table.move_to(row_key(unsafe[0]))
        await settle(pilot)
        assert len(h.emu.log.for_route("genesys", "get")) == gets
        body = static_text(screen.query_one("#detail-body"))
        assert "never acted on" in body and unsafe[0].id in body
        assert screen.gate_reason("delete", unsafe[0]) == "this recording's id is unsafe: it is never acted on"
