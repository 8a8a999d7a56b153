"""The recordings table: one page of rows, columns that fit the width, sort from the keyboard.

Every cell is a `rich.text.Text` (a `str` cell would be parsed as markup: server text is data).
Row keys are `"<provider>/<id>"`; the screen keeps the cursor on the same recording across
refreshes and sorts by moving it back to that key. Marks (multi-select) are keyed by
(provider, id) and drawn in a one-cell first column; the screen decides when they are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from rectui.models import Recording
from rectui.widgets import formatting as fmt


@dataclass(frozen=True)
class ColumnSpec:
    id: str
    label: str
    width: int
    """Fixed width, or the minimum width of a flexible column."""
    flex: int = 0
    """Share of the spare width (0: fixed)."""
    right: bool = False


MARK = "●"

MARK_COLUMN = ("mark", 1)
"""The one-cell mark column, always first (outside `layout`, which shares out the rest)."""

COLUMNS: dict[str, ColumnSpec] = {c.id: c for c in (
    ColumnSpec("mark", "", 1),
    ColumnSpec("provider", "Provider", 10),
    ColumnSpec("date", "Date", 16),
    ColumnSpec("duration", "Duration", 8, right=True),
    ColumnSpec("who", "From/Owner", 10, flex=2),
    ColumnSpec("title", "Title/Topic", 14, flex=3),
    ColumnSpec("tags", "Tags", 12),
    ColumnSpec("status", "Status", 9),
)}
ORDER = ("provider", "date", "duration", "who", "title", "tags", "status")
PRIORITY = ("date", "title", "provider", "duration", "who", "status", "tags")
"""Which columns stay when the table narrows (first = kept longest)."""
CELL_PADDING = 1


def row_key(rec: Recording) -> str:
    return f"{rec.provider}/{rec.id}"


def layout(width: int, show_provider: bool) -> list[tuple[str, int]]:
    """The columns (id, width) that fit `width` cells, in display order."""
    wanted = [c for c in PRIORITY if show_provider or c != "provider"]
    chosen: list[str] = []
    for cid in wanted:
        trial = [*chosen, cid]
        need = sum(COLUMNS[c].width + 2 * CELL_PADDING for c in trial)
        if need <= width or not chosen:
            chosen = trial
    chosen.sort(key=ORDER.index)
    spare = max(0, width - sum(COLUMNS[c].width + 2 * CELL_PADDING for c in chosen) - 1)
    flex_total = sum(COLUMNS[c].flex for c in chosen)
    out = []
    for cid in chosen:
        spec = COLUMNS[cid]
        extra = spare * spec.flex // flex_total if flex_total and spec.flex else 0
        out.append((cid, spec.width + extra))
    if flex_total:   # give the rounding remainder to the title (or the last flexible column)
        used = sum(w + 2 * CELL_PADDING for _, w in out)
        rest = max(0, width - 1 - used)
        idx = next((i for i, (c, _) in enumerate(out) if c == "title"), None)
        if idx is None:
            idx = max(i for i, (c, _) in enumerate(out) if COLUMNS[c].flex)
        out[idx] = (out[idx][0], out[idx][1] + rest)
    return out


def marked(text: str, needle: str, width: int) -> Text:
    """`text` fitted to `width`, as plain Text, with case-insensitive matches of `needle` styled."""
    shown = fmt.fit(text, width)
    out = Text(shown, no_wrap=True, overflow="ellipsis")
    if needle:
        low, n = shown.casefold(), needle.casefold()
        if len(low) == len(shown):      # casefold kept the offsets (it usually does)
            start = low.find(n)
            while start >= 0 and n:
                out.stylize("reverse", start, start + len(n))
                start = low.find(n, start + len(n))
    return out


class RecordingsTable(DataTable[Text]):
    """One page of recordings. `s` sorts by the next column, `S` reverses; the screen decides
    whether the server or the loaded rows are sorted."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "sort_next", "Sort", id="table-sort",
                tooltip="Sort by the next column (on the server where the provider can, else the loaded rows)"),
        Binding("S", "sort_reverse", "Reverse", show=False, id="table-sort-reverse", tooltip="Reverse the sort order"),
        Binding("right,l", "screen.page(1)", "Next page", show=False, id="table-page-next",
                tooltip="The next page of recordings"),
        Binding("left,h", "screen.page(-1)", "Previous page", show=False, id="table-page-prev",
                tooltip="The previous page of recordings"),
        Binding("down,j", "cursor_down", "Down", show=False, id="table-down", tooltip="Next recording"),
        Binding("up,k", "cursor_up", "Up", show=False, id="table-up", tooltip="Previous recording"),
        Binding("home,g", "scroll_top", "First row", show=False, id="table-first", tooltip="First row of the page"),
        Binding("end,G", "scroll_bottom", "Last row", show=False, id="table-last", tooltip="Last row of the page"),
        Binding("space", "toggle_mark", "Mark", id="table-mark",
                tooltip="Mark or unmark the highlighted recording and move down (actions apply to the marked rows)"),
        Binding("shift+down", "mark_range(1)", "Mark down", show=False, id="table-mark-down",
                tooltip="Extend the marks down by one row"),
        Binding("shift+up", "mark_range(-1)", "Mark up", show=False, id="table-mark-up",
                tooltip="Extend the marks up by one row"),
        Binding("asterisk,ctrl+a", "mark_all", "Mark all", show=False, id="table-mark-all",
                tooltip="Mark every row shown on this page (again: unmark them)"),
        Binding("x", "clear_marks", "Unmark all", show=False, id="table-clear-marks",
                tooltip="Clear every mark (esc too, when no filter is set)"),
    ]
    HELP = "One page of recordings; the highlighted one is shown in the detail pane."

    @dataclass
    class SortRequested(Message):
        """Sort by `column` (a column id); the screen sorts on the server or over the loaded rows."""

        column: str
        descending: bool

    @dataclass
    class MarksChanged(Message):
        """The marked rows changed; `count` are marked now."""

        count: int

    def __init__(self, *, tz: tzinfo | None = None, names: Mapping[str, str] | None = None,
                 id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True, cell_padding=CELL_PADDING)
        self.tz = tz
        self.names: Mapping[str, str] = names or {}
        """Provider id → display name, for the Provider column."""
        self.rows_shown: list[Recording] = []
        self.show_provider = False
        self.sort_column = "date"
        self.descending = True
        self.needle = ""
        self.marks: dict[tuple[str, str], Recording] = {}
        """Marked recordings by (provider, id), in the order they were marked."""
        self._columns: list[tuple[str, int]] = []
        self._sort_label = ""

    # -- rendering ---------------------------------------------------------------------------
    def _cell(self, rec: Recording, cid: str, width: int) -> Text:
        match cid:
            case "mark":
                return Text(MARK if rec.key in self.marks else " ", style="bold", no_wrap=True)
            case "provider":
                return marked(self.names.get(rec.provider, rec.provider), "", width)
            case "date":
                return Text(fmt.when(rec.start, self.tz), no_wrap=True)
            case "duration":
                return Text(fmt.duration(rec.duration), no_wrap=True, justify="right")
            case "who":
                return marked(fmt.who(rec), self.needle, width)
            case "title":
                return marked(fmt.title(rec) or fmt.DASH, self.needle, width)
            case "tags":
                return marked(fmt.tags(rec), self.needle, width)
            case "status":
                return marked(rec.status, self.needle, width)
        return Text("")  # pragma: no cover

    def _label(self, cid: str) -> Text:
        label = COLUMNS[cid].label
        if cid == self.sort_column:
            label += " ▼" if self.descending else " ▲"
        return Text(label, justify="right" if COLUMNS[cid].right else "left")

    def show_rows(self, rows: Sequence[Recording], *, show_provider: bool, sort_column: str, descending: bool,
                  needle: str = "", keep: str | None = None) -> None:
        """Replace the rows; the cursor goes back to the row keyed `keep` when it is still here."""
        self.rows_shown = list(rows)
        self.show_provider = show_provider
        self.sort_column, self.descending, self.needle = sort_column, descending, needle
        self._render_rows(keep)

    def _content_width(self) -> int:
        """The width for columns: the widget's, less a vertical scrollbar when the rows overflow
        (decided from the row count, not from the last layout, so it never lags behind)."""
        width = self.size.width or 80
        if len(self.rows_shown) + 1 > self.size.height:
            width -= self.styles.scrollbar_size_vertical
        return width

    def _columns_for(self, width: int) -> list[tuple[str, int]]:
        return [MARK_COLUMN, *layout(width - MARK_COLUMN[1] - 2 * CELL_PADDING, self.show_provider)]

    def _render_rows(self, keep: str | None) -> None:
        columns = self._columns_for(self._content_width())
        sort_label = f"{self.sort_column}{self.descending}"
        if columns != self._columns or sort_label != self._sort_label:
            self.clear(columns=True)
            for cid, width in columns:
                self.add_column(self._label(cid), width=width, key=cid)
            self._columns, self._sort_label = columns, sort_label
        else:
            self.clear()
        for rec in self.rows_shown:
            self.add_row(*(self._cell(rec, cid, w) for cid, w in columns), key=row_key(rec))
        if keep is not None:
            self.move_to(keep)

    def on_resize(self) -> None:
        columns = self._columns_for(self._content_width())
        if columns != self._columns and self.rows_shown:
            self._render_rows(self.current_key())

    # -- cursor ------------------------------------------------------------------------------
    def current_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:   # the cursor is outside the rows (an empty table)
            return None

    def current(self) -> Recording | None:
        key = self.current_key()
        return next((r for r in self.rows_shown if row_key(r) == key), None) if key else None

    def move_to(self, key: str) -> bool:
        """Put the cursor on the row keyed `key`; False when that row is not shown."""
        try:
            index = self.get_row_index(key)
        except Exception:   # RowDoesNotExist
            return False
        self.move_cursor(row=index, animate=False, scroll=True)
        return True

    # -- actions -----------------------------------------------------------------------------
    def visible_columns(self) -> list[str]:
        return [cid for cid, _ in self._columns if cid != "mark"] or ["date"]

    # -- marks -------------------------------------------------------------------------------
    def marked(self) -> list[Recording]:
        return list(self.marks.values())

    def set_mark(self, rec: Recording, on: bool) -> None:
        """Mark or unmark one recording (redrawing only its mark cell when it is shown)."""
        if on == (rec.key in self.marks):
            return
        if on:
            self.marks[rec.key] = rec
        else:
            del self.marks[rec.key]
        if self._columns and any(r.key == rec.key for r in self.rows_shown):
            self.update_cell(row_key(rec), "mark", self._cell(rec, "mark", 1))

    def clear_marks(self, *, keep: set[tuple[str, str]] | None = None) -> int:
        """Unmark everything (or everything but `keep`); returns how many marks were dropped."""
        dropped = [rec for key, rec in self.marks.items() if keep is None or key not in keep]
        for rec in dropped:
            self.set_mark(rec, False)
        if dropped:
            self.post_message(self.MarksChanged(len(self.marks)))
        return len(dropped)

    def _move(self, step: int) -> None:
        row = max(0, min(self.row_count - 1, self.cursor_row + step))
        self.move_cursor(row=row, animate=False, scroll=True)

    def action_toggle_mark(self) -> None:
        rec = self.current()
        if rec is None:
            return
        self.set_mark(rec, rec.key not in self.marks)
        self._move(1)
        self.post_message(self.MarksChanged(len(self.marks)))

    def action_mark_range(self, step: int) -> None:
        """Shift+arrows: mark the highlighted row, move, mark the next one (a range grows)."""
        rec = self.current()
        if rec is None:
            return
        self.set_mark(rec, True)
        self._move(step)
        nxt = self.current()
        if nxt is not None:
            self.set_mark(nxt, True)
        self.post_message(self.MarksChanged(len(self.marks)))

    def action_mark_all(self) -> None:
        on = not all(r.key in self.marks for r in self.rows_shown)
        for rec in self.rows_shown:
            self.set_mark(rec, on)
        self.post_message(self.MarksChanged(len(self.marks)))

    def action_clear_marks(self) -> None:
        self.clear_marks()

    def action_sort_next(self) -> None:
        cols = [c for c in self.visible_columns() if c != "provider"] or ["date"]
        nxt = cols[(cols.index(self.sort_column) + 1) % len(cols)] if self.sort_column in cols else cols[0]
        self.post_message(self.SortRequested(nxt, nxt in ("date", "duration")))

    def action_sort_reverse(self) -> None:
        self.post_message(self.SortRequested(self.sort_column, not self.descending))

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        cid = str(event.column_key.value)
        if cid == "mark":
            return
        descending = (not self.descending) if cid == self.sort_column else cid in ("date", "duration")
        self.post_message(self.SortRequested(cid, descending))


SortValue = Callable[[Recording], object]

SORT_VALUES: dict[str, SortValue] = {
    "mark": lambda r: 0,
    "provider": lambda r: r.provider,
    "date": lambda r: r.start.timestamp() if r.start else float("-inf"),
    "duration": lambda r: r.duration if r.duration is not None else -1.0,
    "who": lambda r: fmt.who(r).casefold(),
    "title": lambda r: r.title.casefold(),
    "tags": lambda r: fmt.tags(r).casefold(),
    "status": lambda r: r.status,
}


def sort_rows(rows: Sequence[Recording], column: str, descending: bool) -> list[Recording]:
    """The loaded rows sorted by a column, stably (ties keep the provider's order)."""
    value = SORT_VALUES.get(column, SORT_VALUES["date"])
    return sorted(rows, key=value, reverse=descending)  # type: ignore[arg-type]


def matches(rec: Recording, needle: str, names: Mapping[str, str]) -> bool:
    """The `/` filter: a case-insensitive substring of any shown field (or the id)."""
    if not needle:
        return True
    n = needle.casefold()
    fields = (rec.title, fmt.who(rec), rec.caller or "", rec.callee or "", rec.owner or "", fmt.tags(rec),
              rec.status, rec.id, rec.call_id or "", names.get(rec.provider, rec.provider))
    return any(n in f.casefold() for f in fields)
