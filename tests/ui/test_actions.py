"""Actions: marks, the confirmed delete (y or the typed count), progress and per-item results,
the Webex recycle bin with restore and purge, read-only and capability gating. Every check on
what was deleted reads the emulator's request log, never the app's internals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Button, Input
from ui.harness import Harness, HeldDeletes, build, deleted_ids, main, notes, open_provider, screen_text, settle

from rectui.models import Recording
from rectui.screens.confirm import ConfirmDialog
from rectui.screens.results import ResultsScreen
from rectui.screens.state import Batch
from rectui.widgets.recordings_table import row_key

SIZE = (160, 50)
CLICK = "[@click=app.quit]Click me[/]"


def dialog(h: Harness) -> ConfirmDialog:
    assert isinstance(h.app.screen, ConfirmDialog), type(h.app.screen).__name__
    return h.app.screen


async def type_count(pilot: Any, count: int) -> None:
    """Type the count (digits go to the box wherever focus is), Enter moves to the button, Enter
    presses it."""
    await pilot.press(*str(count))
    await pilot.press("enter")
    await pilot.pause()
    await pilot.press("enter")
    await settle(pilot)


# -- marks --------------------------------------------------------------------------------------------

async def test_marks_toggle_range_all_and_clear_and_survive_refresh_and_sort(media_cache: Path) -> None:
    h = build(media_cache, kinds=("genesys",), count=120)       # sorts the loaded rows
    async with h.app.run_test(size=SIZE) as pilot:
        screen = await open_provider(h, pilot)
        table = screen.table
        rows = list(table.rows_shown)
        await pilot.press("space")                       # marks row 0, moves to row 1
        assert set(table.marks) == {rows[0].key} and table.cursor_row == 1
        await pilot.press("shift+down")                  # marks 1 and 2
        assert set(table.marks) == {r.key for r in rows[:3]} and table.cursor_row == 2
        assert "3 marked" in screen.status_bar.left_text
        assert "●" in screen_text(h.app)
        await pilot.press("up", "space")                 # unmarks row 1
        assert set(table.marks) == {rows[0].key, rows[2].key}
        await pilot.press("r")                           # refresh: the marks stay on the same recordings
        await settle(pilot)
        assert set(table.marks) == {rows[0].key, rows[2].key}
        await pilot.press("s")                           # sort: they stay too
        await settle(pilot)
        assert set(table.marks) == {rows[0].key, rows[2].key} and "2 marked" in screen.status_bar.left_text
        await pilot.press("asterisk")                    # all on the page
        assert len(table.marks) == len(table.rows_shown) == 50
        await pilot.press("asterisk")                    # again: none
        assert not table.marks
        await pilot.press("space", "space", "x")
        assert not table.marks and "marked" not in screen.status_bar.left_text
        await pilot.press("space", "escape")             # esc with no filter clears the marks too
        assert not table.marks
        await pilot.press("ctrl+a")
        assert len(table.marks) == 50
        await pilot.press("n")                           # another page: marks never follow
        await settle(pilot)
        assert not table.marks
        await pilot.press("question_mark")
        await pilot.pause()
        help_text = screen_text(h.app)
        assert "Mark all" in help_text and "shift+" in help_text.lower() and "Unmark all" in help_text


# -- delete -------------------------------------------------------------------------------------------

async def test_delete_one_confirms_with_y_and_hides_the_row(media_cache: Path) -> None:
    h = build(media_cache, kinds=("kazoo",))
    async with h.app.run_test(size=SIZE) as pilot:
        screen = await open_provider(h, pilot)
        target = screen.table.current()
        assert target is not None
        await pilot.press("d")
        await pilot.pause()
        box = dialog(h)
        assert not box.plan.type_count and box.focused is box.query_one("#confirm-cancel", Button)
        text = screen_text(h.app)
        assert "Delete 1 recording?" in text and "Permanent — cannot be undone." in text and "Kazoo" in text
        await pilot.press("y")
        await settle(pilot)
        assert deleted_ids(h, "kazoo") == [target.id]
        assert target.key not in {r.key for r in screen.table.rows_shown}
        assert "1 deleted" in notes(h) and "Cannot be undone." in notes(h)
        assert "Delete: 1 deleted (R)" in screen.status_bar.ops_text
        entry = h.store.journal(limit=5)[0] if h.store is not None else None
        assert entry is not None and entry.op == "delete" and entry.recording_id == target.id
        assert entry.outcome == "deleted"


async def test_a_row_deleted_while_marked_leaves_the_marks(media_cache: Path) -> None:
    """A row marked while its delete is still running (a second `d` is refused for it) is
    unmarked when the delete hides it: a later delete of the marks cannot include a row no
    longer shown (the soak found it sent again, answered 404)."""
    h = build(media_cache, kinds=("kazoo",), wrap=lambda p: HeldDeletes(p, free=0))
    async with h.app.run_test(size=SIZE) as pilot:
        screen = await open_provider(h, pilot)
        first = screen.table.current()
        assert first is not None
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")                      # the delete starts and waits on the server
        for _ in range(20):
            await pilot.pause()
        await pilot.press("space")                  # marked while its delete runs
        assert first.key in screen.table.marks
        await pilot.press("d")
        await pilot.pause()
        assert not isinstance(h.app.screen, ConfirmDialog)      # refused: already being deleted
        assert first.key in screen.table.marks
        h.providers[0].gate.set()
        await settle(pilot)
        assert deleted_ids(h, "kazoo") == [first.id]
        assert first.key not in {r.key for r in screen.table.rows_shown}
        assert first.key not in screen.table.marks and "marked" not in screen.status_bar.left_text


async def test_enter_on_the_dialog_deletes_nothing(media_cache: Path) -> None:
    h = build(media_cache, kinds=("kazoo",))
    async with h.app.run_test(size=SIZE) as pilot:
        screen = await open_provider(h, pilot)
        await pilot.press("d")
        await pilot.pause()
        dialog(h)
        await pilot.press("enter")                       # focus is on Cancel
        await settle(pilot)
        assert h.app.screen is screen and h.writes("kazoo") == []


async def test_a_wrong_typed_count_deletes_nothing(media_cache: Path) -> None:
    h = build(media_cache, kinds=("kazoo",))
    async with h.app.run_test(size=SIZE) as pilot:
        await open_provider(h, pilot)
        await pilot.press("space", "space", "space", "d")
        await pilot.pause()
        box = dialog(h)
        assert box.plan.type_count and box.plan.count == 3
        assert "Type 3 to confirm" in screen_text(h.app)
        await pilot.press("y")                           # y never confirms a typed-count dialog
        await pilot.press("2", "enter", "enter")         # wrong count: Enter stays in the box
        await pilot.pause()
        assert box.query_one("#confirm-ok", Button).disabled
        assert isinstance(h.app.screen, ConfirmDialog)
        await pilot.click("#confirm-ok")
        await pilot.press("escape")
        await settle(pilot)
        assert h.writes("kazoo") == []


async def test_the_typed_count_deletes_exactly_the_locked_ids_after_a_refresh_under_the_dialog(
        media_cache: Path) -> None:
    h = build(media_cache, kinds=("kazoo",))
    async with h.app.run_test(size=SIZE) as pilot:
        screen = await open_provider(h, pilot)
        await pilot.press("space", "space", "space")
        locked = [r.id for r in screen.table.marked()]
        await pilot.press("d")
        await pilot.pause()
        dialog(h)
        screen.action_refresh()                          # the listing reloads under the dialog…
        screen.table.move_cursor(row=20)                 # …and the cursor moves elsewhere
        await settle(pilot)
        await type_count(pilot, 3)
        assert sorted(deleted_ids(h, "kazoo")) == sorted(locked)
        assert not {r.id for r in screen.table.rows_shown} & set(locked)
        assert "3 deleted" in notes(h)


async def test_a_delete_from_all_providers_needs_the_typed_count(media_cache: Path) -> None:
    h = build(media_cache, kinds=("kazoo", "screendesk"))
    async with h.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = main(h)
        target = next(r for r in screen.table.rows_shown if r.provider == "kazoo")
        screen.table.move_to(row_key(target))
        await pilot.press("d")
        await pilot.pause()
        box = dialog(h)
        assert box.plan.type_count and box.plan.count == 1
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(h.app.screen, ConfirmDialog) and h.writes("kazoo") == []
        await type_count(pilot, 1)
        assert deleted_ids(h, "kazoo") == [target.id]


async def test_read_only_removes_delete_and_sends_nothing(media_cache: Path) -> None:
    h = build(media_cache, kinds=("kazoo", "webex"), read_only=True)
    async with h.app.run_test(size=SIZE) as pilot:
        screen = await open_provider(h, pilot)
        assert screen.check_action("delete", ()) is None         # greyed out in the footer
        assert not any(t.startswith("delete") for t, _, _ in screen.system_commands())   # not in the palette
        await pilot.press("space", "d")
        await settle(pilot)
        assert h.app.screen is screen
        assert "read-only" in notes(h)
        await pilot.press("2", "b")                               # Webex: the bin opens, read-only
        await settle(pilot)
        assert screen.check_action("restore", ()) is None and screen.check_action("purge", ()) is None
        assert not any(t.startswith(("restore", "purge")) for t, _, _ in screen.system_commands())
        await pilot.press("u", "D")
        await settle(pilot)
        assert h.app.screen is screen
        assert h.writes("kazoo") == [] and h.writes("webex") == []


async def test_screendesk_delete_is_greyed_out_with_its_reason(media_cache: Path) -> None:
    h = build(media_cache, kinds=("screendesk", "kazoo"))
    async with h.app.run_test(size=SIZE) as pilot:
        screen = await open_provider(h, pilot)
        assert screen.view_id == "screendesk"
        assert screen.check_action("delete", ()) is None          # shown greyed out
        assert screen.check_action("recycle_bin", ()) is False
        await pilot.press("d")
        await settle(pilot)
        assert h.app.screen is screen
        assert "Screendesk cannot delete recordings" in notes(h)
        palette = {t: h for t, h, _ in screen.system_commands()}
        assert palette.get("delete: not available") == "Screendesk cannot delete recordings"
        assert h.writes("screendesk") == []


async def test_a_bulk_delete_with_one_denied_item_reports_each_item(media_cache: Path) -> None:
    h = build(media_cache, kinds=("kazoo",), faults="kazoo.delete:forbid,after=1,count=1")
    async with h.app.run_test(size=SIZE) as pilot:
        screen = await open_provider(h, pilot)
        await pilot.press("space", "space", "space", "space")
        locked = {r.key for r in screen.table.marked()}
        await pilot.press("d")
        await pilot.pause()
        await type_count(pilot, 4)
        assert len(h.writes("kazoo", "delete")) == 4
        assert "3 deleted · 1 denied" in notes(h)
        batch = screen.batches[-1]
        denied = [k for k, r in batch.results.items() if r.outcome == "denied"]
        assert len(denied) == 1
        shown = {r.key for r in screen.table.rows_shown}
        assert denied[0] in shown and not (locked - set(denied)) & shown     # the failed row stays
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(h.app.screen, ResultsScreen)
        text = screen_text(h.app)
        assert text.count("deleted") >= 3 and "denied" in text
        await pilot.press("escape")
        await pilot.pause()
        assert h.app.screen is screen


# -- the Webex recycle bin ----------------------------------------------------------------------------

async def test_webex_delete_goes_to_the_recycle_bin_and_comes_back_with_restore(media_cache: Path) -> None:
    h = build(media_cache, kinds=("webex",))
    async with h.app.run_test(size=SIZE) as pilot:
        screen = await open_provider(h, pilot)
        target = screen.table.current()
        assert target is not None
        assert screen.check_action("restore", ()) is False and screen.check_action("recycle_bin", ()) is True
        await pilot.press("d")
        await pilot.pause()
        assert "To the Webex recycle bin (restorable)." in screen_text(h.app)
        await pilot.press("y")
        await settle(pilot)
        assert len(h.writes("webex", "soft_delete")) == 1
        assert "Restore with u in the recycle bin (b)." in notes(h)
        assert target.key not in {r.key for r in screen.table.rows_shown}
        await pilot.press("b")
        await settle(pilot)
        assert screen.view is not None and screen.view.bin
        assert "recycle bin" in screen.status_bar.left_text
        assert any("status=deleted" in r.query for r in h.emu.log.for_route("webex", "list"))
        assert target.key in {r.key for r in screen.table.rows_shown}
        assert screen.check_action("delete", ()) is False and screen.check_action("restore", ()) is True
        screen.table.move_to(row_key(target))
        await pilot.press("u")
        await pilot.pause()
        assert not dialog(h).plan.type_count
        await pilot.press("y")
        await settle(pilot)
        assert len(h.writes("webex", "restore")) == 1
        assert target.key not in {r.key for r in screen.table.rows_shown}
        await pilot.press("b")                                    # back to the recordings
        await settle(pilot)
        assert screen.view is not None and not screen.view.bin
        assert target.key in {r.key for r in screen.table.rows_shown}
        assert h.writes("webex", "purge") == []


async def test_purge_always_needs_the_typed_count(media_cache: Path) -> None:
    h = build(media_cache, kinds=("webex",))
    async with h.app.run_test(size=SIZE) as pilot:
        screen = await open_provider(h, pilot)
        await pilot.press("b")
        await settle(pilot)
        target = screen.table.current()
        assert target is not None and screen.view is not None and screen.view.bin
        await pilot.press("D")
        await pilot.pause()
        box = dialog(h)
        assert box.plan.type_count and box.plan.count == 1
        assert "Permanent — cannot be undone." in screen_text(h.app)
        await pilot.press("y")
        await pilot.pause()
        assert isinstance(h.app.screen, ConfirmDialog)
        await pilot.press("enter")                                # on Cancel: closes, purges nothing
        await settle(pilot)
        assert h.app.screen is screen and h.writes("webex", "purge") == []
        await pilot.press("D")
        await pilot.pause()
        await type_count(pilot, 1)
        assert len(h.writes("webex", "purge")) == 1
        assert target.key not in {r.key for r in screen.table.rows_shown}
        assert "1 purged" in notes(h)


async def test_hostile_titles_show_verbatim_in_the_dialog_and_the_results(media_cache: Path) -> None:
    h = build(media_cache, kinds=("webex",), hostile=True, faults="webex.list:hostile_titles")
    async with h.app.run_test(size=SIZE) as pilot:
        screen = await open_provider(h, pilot)
        titled = [r for r in screen.table.rows_shown if r.title == CLICK or "[/red]" in r.title]
        unsafe = [r for r in titled if not r.id_valid]
        hostile: list[Recording] = [r for r in titled if r.id_valid]
        assert hostile
        if unsafe:                          # an unsafe id is refused, its title quoted verbatim
            screen.table.set_mark(unsafe[0], True)
            await pilot.press("d")
            await pilot.pause()
            assert h.app.screen is screen and "never acted on" in notes(h)
            refusal = [n for n in h.app._notifications if "never acted on" in n.message]
            assert refusal and not refusal[-1].markup
            screen.table.clear_marks()
        for rec in hostile:
            screen.table.set_mark(rec, True)
        await pilot.press("d")
        await pilot.pause()
        text = screen_text(h.app)
        assert CLICK in text and "\x1b" not in text and "\x9b" not in text
        await pilot.press("escape")
        await settle(pilot)
        assert h.app.is_running and h.writes("webex") == []
        for rec in hostile:
            screen.table.set_mark(rec, True)
        await pilot.press("d")
        await pilot.pause()
        if dialog(h).plan.type_count:
            await type_count(pilot, len(hostile))
        else:
            await pilot.press("y")
        await settle(pilot)
        await pilot.press("R")
        await pilot.pause()
        text = screen_text(h.app)
        assert CLICK in text and "\x1b" not in text
        assert isinstance(h.app.screen, ResultsScreen)
        assert not any(isinstance(w, Input) for w in h.app.screen.query(Input))


async def test_nothing_starts_on_a_provider_failing_authentication(media_cache: Path) -> None:
    h = build(media_cache, kinds=("kazoo",))
    async with h.app.run_test(size=SIZE) as pilot:
        screen = await open_provider(h, pilot)
        h.emu.faults.add("kazoo.*:status=401")
        await pilot.press("r")                                    # the refresh fails: the old rows stay
        await settle(pilot)
        assert screen.states["kazoo"].status == "auth" and screen.table.rows_shown
        await pilot.press("d")
        await settle(pilot)
        assert h.app.screen is screen and "failing authentication" in notes(h)
        assert h.writes("kazoo", "delete") == []


async def test_the_palette_runs_the_actions_and_the_progress_reads_as_counts(media_cache: Path) -> None:
    h = build(media_cache, kinds=("webex",))
    async with h.app.run_test(size=SIZE) as pilot:
        screen = await open_provider(h, pilot)
        titles = {t: cb for t, _, cb in screen.system_commands()}
        assert "delete: the highlighted recording" in titles and "view: recycle bin" in titles
        assert not any(t.startswith(("restore", "purge")) for t in titles)
        await pilot.press("space", "space")
        titles = {t: cb for t, _, cb in screen.system_commands()}
        titles["delete: the 2 marked recordings"]()
        await pilot.pause()
        assert dialog(h).plan.count == 2
        await type_count(pilot, 2)
        batch = screen.batches[-1]
        assert batch.finished and batch.progress() == "2 deleted" and len(h.writes("webex", "soft_delete")) >= 1
        running = Batch(9, "delete", batch.targets[:2] * 6)
        running.results = dict(list(batch.results.items())[:1])
        assert running.progress() == "Deleting 1/12… · 1 deleted"
