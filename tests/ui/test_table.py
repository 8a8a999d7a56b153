"""The recordings table on its own (a Pilot app holding only it): it draws only the rows on
screen, so a page of 20,000 rows is shown, scrolled, filtered and clicked like a page of 50."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from textual.app import App, ComposeResult
from ui.harness import screen_text

from rectui.models import Recording
from rectui.widgets.recordings_table import Haystacks, RecordingsTable, row_key

NOW = datetime(2026, 11, 1, 13, tzinfo=UTC)


def rec(i: int, **kw: object) -> Recording:
    base: dict[str, object] = {"provider": "p", "id": f"id{i}", "title": f"Call {i}",
                               "start": NOW - timedelta(minutes=i), "duration": 60.0 + i}
    return Recording(**(base | kw))  # type: ignore[arg-type]


class TableApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Any] = []

    def compose(self) -> ComposeResult:
        yield RecordingsTable(tz=UTC, id="recordings")

    def on_recordings_table_highlighted(self, event: RecordingsTable.Highlighted) -> None:
        self.seen.append(("highlighted", event.recording.id if event.recording else None))

    def on_recordings_table_selected(self, event: RecordingsTable.Selected) -> None:
        self.seen.append(("selected", event.recording.id))

    def on_recordings_table_sort_requested(self, event: RecordingsTable.SortRequested) -> None:
        self.seen.append(("sort", event.column, event.descending))


def lines(app: App[Any]) -> list[str]:
    """The screen as text, one string per line."""
    return screen_text(app).splitlines()   # type: ignore[arg-type]


def show(table: RecordingsTable, rows: list[Recording], keep: str | None = None, needle: str = "") -> None:
    table.show_rows(rows, show_provider=False, sort_column="date", descending=True, needle=needle, keep=keep)


async def test_twenty_thousand_rows_scroll_to_the_end_and_keep_the_cursor_by_key() -> None:
    app = TableApp()
    async with app.run_test(size=(100, 12)) as pilot:
        table = app.query_one(RecordingsTable)
        table.focus()
        rows = [rec(i) for i in range(20_000)]
        show(table, rows)
        await pilot.pause()
        screen = lines(app)
        assert "Date ▼" in screen[0] and "Call 0 " in screen[1] + " " and "Call 10 " in screen[11] + " "
        await pilot.press("G")
        assert table.cursor_row == 19_999 and table.current() is rows[-1]
        screen = lines(app)
        assert "Call 19999" in screen[11] and "Call 19989" in screen[1]      # the last row is not hidden
        assert ("highlighted", "id19999") in app.seen
        await pilot.press("pageup")
        assert table.cursor_row == 19_999 - 10
        await pilot.press("g", "down", "down")
        assert table.current() is rows[2]
        # a refresh that reorders the rows keeps the cursor on the same recording, and scrolls to it
        show(table, list(reversed(rows)), keep=row_key(rows[2]))
        await pilot.pause()
        assert table.current() is rows[2] and table.cursor_row == 19_997
        assert any("Call 2 " in line + " " for line in lines(app)[1:])
        # rows that shrink under the cursor clamp it
        show(table, rows[:5])
        assert table.cursor_row == 4 and table.current() is rows[4]
        show(table, [])
        assert table.current() is None and table.current_key() is None and table.row_count == 0


async def test_enter_and_clicks_select_sort_and_mark() -> None:
    app = TableApp()
    async with app.run_test(size=(100, 12)) as pilot:
        table = app.query_one(RecordingsTable)
        table.focus()
        rows = [rec(i) for i in range(30)]
        show(table, rows)
        await pilot.pause()
        await pilot.press("enter")
        assert app.seen[-1] == ("selected", "id0")
        await pilot.click("#recordings", offset=(40, 3))          # a row: highlights it
        assert table.current() is rows[2] and app.seen[-1] == ("highlighted", "id2")
        await pilot.click("#recordings", offset=(40, 3))          # the highlighted row: selects it
        assert app.seen[-1] == ("selected", "id2")
        header = lines(app)[0]
        await pilot.click("#recordings", offset=(header.index("Duration"), 0))
        assert app.seen[-1] == ("sort", "duration", True)
        await pilot.click("#recordings", offset=(header.index("Date"), 0))    # the sorted column: reversed
        assert app.seen[-1] == ("sort", "date", False)
        await pilot.press("space", "space")
        assert set(table.marks) == {rows[2].key, rows[3].key}
        assert lines(app)[3].lstrip().startswith("●") and lines(app)[4].lstrip().startswith("●")


def test_the_filter_text_is_built_once_per_recording_rebuilt_for_a_changed_copy_and_kept_for_one_page() -> None:
    rows = [rec(i) for i in range(100)]
    hay = Haystacks({"p": "My provider"})
    assert [r.id for r in hay.filter(rows, "call 4")] == ["id4"] + [f"id{i}" for i in range(40, 50)]
    assert hay.filter(rows, "MY PROV") == rows and hay.filter(rows, "") == rows
    assert hay.text(rows[7]) is hay.text(rows[7])
    tagged = rows[7].model_copy(update={"tags": frozenset({"vip"})})
    assert hay.filter([tagged], "vip") == [tagged] and "vip" not in hay.text(rows[7])
    page2 = [rec(i) for i in range(100, 200)]
    hay.warm(page2, 0, 60)                  # another page: the first page's entries are dropped
    assert len(hay._texts) == 60
    assert hay.filter(page2, "call 15") == page2[50:60] and len(hay._texts) == 100
