"""The recordings table: one page of rows, columns that fit the width, sort from the keyboard.

Every cell is a `rich.text.Text` (a `str` cell would be parsed as markup: server text is data).
Row keys are `"<provider>/<id>"`; the screen keeps the cursor on the same recording across
refreshes and sorts by moving it back to that key. Marks (multi-select) are keyed by
(provider, id) and drawn in a one-cell first column; the screen decides when they are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

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


class RecordingsTable(ScrollView, can_focus=True):
    """One page of recordings, drawn line by line: only the rows on screen are rendered, so a
    page of any size (and a filter over it) costs what the visible rows cost, never one widget
    or one measured cell per row (Textual's `DataTable` measures every cell it is given, about
    160 ms per 1,000 rows). `s` sorts by the next column, `S` reverses; the screen decides
    whether the server or the loaded rows are sorted.

    Line 0 is the header; row `i` is drawn at line `i + 1 - scroll_y` (the virtual height is
    the rows plus the header, so scrolling never hides the last row behind it)."""

    DEFAULT_CSS = """
    RecordingsTable {
        background: $surface;
        color: $foreground;
        &:focus { background-tint: $foreground 5%; }
        & > .recordings--header { text-style: bold; background: $panel; color: $foreground; }
        &:ansi > .recordings--header { background: ansi_bright_blue; color: ansi_default; }
        & > .recordings--even-row { background: $surface-lighten-1 50%; }
        &:dark > .recordings--even-row { background: $surface-darken-1 40%; }
        & > .recordings--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .recordings--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "recordings--header", "recordings--cursor", "recordings--even-row",
    }

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
        Binding("pagedown", "cursor_page(1)", "Screen down", show=False, id="table-screen-down",
                tooltip="Down by a screenful of rows"),
        Binding("pageup", "cursor_page(-1)", "Screen up", show=False, id="table-screen-up",
                tooltip="Up by a screenful of rows"),
        Binding("home,g", "scroll_top", "First row", show=False, id="table-first", tooltip="First row of the page"),
        Binding("end,G", "scroll_bottom", "Last row", show=False, id="table-last", tooltip="Last row of the page"),
        Binding("enter", "select_cursor", "Play", show=False, id="table-select",
                tooltip="Play the highlighted recording (again: pause or resume)"),
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

    @dataclass
    class Highlighted(Message):
        """The cursor moved to another recording (None: the table is empty)."""

        recording: Recording | None

    @dataclass
    class Selected(Message):
        """Enter (or a click on the highlighted row): the recording to act on."""

        recording: Recording

    def __init__(self, *, tz: tzinfo | None = None, names: Mapping[str, str] | None = None,
                 id: str | None = None) -> None:
        super().__init__(id=id)
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
        self._index: dict[tuple[str, str], int] | None = None
        """Row index by (provider, id), built when first needed (not on every filter keystroke)."""
        self._cursor = 0

    # -- rows --------------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self.rows_shown)

    @property
    def cursor_row(self) -> int:
        return self._cursor

    def show_rows(self, rows: Sequence[Recording], *, show_provider: bool, sort_column: str, descending: bool,
                  needle: str = "", keep: str | None = None) -> None:
        """Replace the rows; the cursor goes back to the row keyed `keep` when it is still here
        (else it stays at the same position, within the rows)."""
        self.rows_shown = list(rows)
        self._index = None
        self.show_provider = show_provider
        self.sort_column, self.descending, self.needle = sort_column, descending, needle
        self._relayout()
        self._cursor = max(0, min(self._cursor, len(self.rows_shown) - 1))
        if keep is None or not self.move_to(keep):
            self._scroll_to_cursor()
        self.refresh()

    def _content_width(self) -> int:
        """The width for columns: the widget's, less a vertical scrollbar when the rows overflow
        (decided from the row count, not from the last layout, so it never lags behind)."""
        width = self.size.width or 80
        if len(self.rows_shown) + 1 > self.size.height:
            width -= self.styles.scrollbar_size_vertical
        return width

    def _columns_for(self, width: int) -> list[tuple[str, int]]:
        return [MARK_COLUMN, *layout(width - MARK_COLUMN[1] - 2 * CELL_PADDING, self.show_provider)]

    def _relayout(self) -> None:
        self._columns = self._columns_for(self._content_width())
        width = sum(w + 2 * CELL_PADDING for _, w in self._columns)
        self.virtual_size = Size(width, len(self.rows_shown) + 1)

    def on_resize(self) -> None:
        self._relayout()
        self._scroll_to_cursor()
        self.refresh()

    def index_of(self, key: tuple[str, str]) -> int | None:
        if self._index is None:
            self._index = {rec.key: i for i, rec in enumerate(self.rows_shown)}
        return self._index.get(key)

    # -- drawing -----------------------------------------------------------------------------
    def _cell(self, rec: Recording, cid: str, width: int) -> Text:
        match cid:
            case "mark":
                return Text(MARK if rec.key in self.marks else " ", style="bold", no_wrap=True)
            case "provider":
                return marked(self.names.get(rec.provider, rec.provider), "", width)
            case "date":
                return Text(fmt.when(rec.start, self.tz), no_wrap=True)
            case "duration":
                return Text(fmt.duration(rec.duration), no_wrap=True)
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
        return Text(label)

    def _line(self, cells: Iterable[tuple[Text, str, int]], style: Style) -> Strip:
        """One line of cells (text, justification, width), padded, over the row's `style`."""
        line = Text(no_wrap=True, end="")
        pad = " " * CELL_PADDING
        for text, justify, width in cells:
            text.align(justify, width)      # type: ignore[arg-type]
            line.append(pad)
            line.append_text(text)
            line.append(pad)
        segments = Segment.apply_style(line.render(self.app.console), style)
        width = self.scrollable_content_region.width
        return Strip(segments).crop_extend(int(self.scroll_x), int(self.scroll_x) + width, style)

    def _justify(self, cid: str) -> str:
        return "right" if COLUMNS[cid].right else "left"

    def render_line(self, y: int) -> Strip:
        if y == 0:
            style = self.get_component_rich_style("recordings--header")
            return self._line(((self._label(cid), self._justify(cid), w) for cid, w in self._columns), style)
        index = int(self.scroll_y) + y - 1
        if index >= len(self.rows_shown):
            return Strip.blank(self.scrollable_content_region.width, self.rich_style)
        rec = self.rows_shown[index]
        if index == self._cursor:
            style = self.get_component_rich_style("recordings--cursor")
        elif index % 2:
            style = self.get_component_rich_style("recordings--even-row")
        else:
            style = self.rich_style
        return self._line(((self._cell(rec, cid, w), self._justify(cid), w) for cid, w in self._columns), style)

    def _refresh_row(self, index: int) -> None:
        self.refresh_line(index + 1)        # row i is virtual line i + 1 (line 0: the header)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.refresh()

    def on_focus(self) -> None:
        self._refresh_row(self._cursor)

    def on_blur(self) -> None:
        self._refresh_row(self._cursor)

    # -- cursor ------------------------------------------------------------------------------
    def current(self) -> Recording | None:
        if not self.rows_shown:
            return None
        return self.rows_shown[self._cursor]

    def current_key(self) -> str | None:
        rec = self.current()
        return row_key(rec) if rec is not None else None

    def move_to(self, key: str) -> bool:
        """Put the cursor on the row keyed `key`; False when that row is not shown."""
        provider, _, rid = key.partition("/")
        if self._index is not None:
            index = self._index.get((provider, rid))
        else:       # a scan from the top (the row kept is usually near it) beats building the index
            index = next((i for i, rec in enumerate(self.rows_shown) if rec.id == rid and rec.provider == provider),
                         None)
        if index is None:
            return False
        self.move_cursor(row=index)
        return True

    def move_cursor(self, *, row: int, animate: bool = False, scroll: bool = True) -> None:
        """The cursor to `row` (clamped); a move to another recording posts `Highlighted`."""
        before = self._cursor
        self._cursor = max(0, min(row, len(self.rows_shown) - 1))
        if scroll:
            self._scroll_to_cursor()
        if self._cursor != before:
            self._refresh_row(before)
            self._refresh_row(self._cursor)
            self.post_message(self.Highlighted(self.current()))

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.scrollable_content_region.height - 1)
        top = int(self.scroll_y)
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False, immediate=True)
        elif self._cursor >= top + visible:
            self.scroll_to(y=self._cursor - visible + 1, animate=False, immediate=True)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self._cursor + 1)

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self._cursor - 1)

    def action_cursor_page(self, step: int) -> None:
        self.move_cursor(row=self._cursor + step * max(1, self.scrollable_content_region.height - 2))

    def action_scroll_top(self) -> None:
        self.move_cursor(row=0)

    def action_scroll_bottom(self) -> None:
        self.move_cursor(row=len(self.rows_shown) - 1)

    def action_select_cursor(self) -> None:
        rec = self.current()
        if rec is not None:
            self.post_message(self.Selected(rec))

    def on_click(self, event: events.Click) -> None:
        """A click on a header sorts by its column; on a row, highlights it (on the highlighted
        row: selects it, as Enter does)."""
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            event.stop()
            self._header_clicked(offset.x + int(self.scroll_x))
            return
        index = int(self.scroll_y) + offset.y - 1
        if 0 <= index < len(self.rows_shown):
            event.stop()
            if index == self._cursor:
                self.action_select_cursor()
            else:
                self.move_cursor(row=index)

    def _header_clicked(self, x: int) -> None:
        left = 0
        for cid, width in self._columns:
            left += width + 2 * CELL_PADDING
            if x < left:
                if cid == "mark":
                    return
                descending = (not self.descending) if cid == self.sort_column else cid in ("date", "duration")
                self.post_message(self.SortRequested(cid, descending))
                return

    # -- actions -----------------------------------------------------------------------------
    def visible_columns(self) -> list[str]:
        return [cid for cid, _ in self._columns if cid != "mark"] or ["date"]

    # -- marks -------------------------------------------------------------------------------
    def marked(self) -> list[Recording]:
        return list(self.marks.values())

    def set_mark(self, rec: Recording, on: bool) -> None:
        """Mark or unmark one recording (redrawing only its row when it is shown)."""
        if on == (rec.key in self.marks):
            return
        if on:
            self.marks[rec.key] = rec
        else:
            del self.marks[rec.key]
        index = self.index_of(rec.key)
        if index is not None:
            self._refresh_row(index)

    def clear_marks(self, *, keep: set[tuple[str, str]] | None = None) -> int:
        """Unmark everything (or everything but `keep`); returns how many marks were dropped."""
        dropped = [rec for key, rec in self.marks.items() if keep is None or key not in keep]
        for rec in dropped:
            self.set_mark(rec, False)
        if dropped:
            self.post_message(self.MarksChanged(len(self.marks)))
        return len(dropped)

    def _move(self, step: int) -> None:
        self.move_cursor(row=self._cursor + step)

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


def haystack(rec: Recording, names: Mapping[str, str]) -> str:
    """Every field the `/` filter searches (shown fields, the id), casefolded, one string."""
    fields = (rec.title, fmt.who(rec), rec.caller or "", rec.callee or "", rec.owner or "", fmt.tags(rec),
              rec.status, rec.id, rec.call_id or "", names.get(rec.provider, rec.provider))
    return "\n".join(fields).casefold()


class Haystacks:
    """The `/` filter's text of each loaded row, built once per recording rather than once per
    keystroke (a keystroke then costs one substring test per row), and a keystroke that extends
    the last needle searches only the last result. Entries are keyed by the recording object
    (each entry holds it, so its id is never reused while cached): a changed copy (new tags) is
    built afresh. Only the rows of the list last filtered or warmed are kept (a new page drops
    the old page's entries, so paging never accumulates recordings)."""

    def __init__(self, names: Mapping[str, str]) -> None:
        self.names = names
        self._texts: dict[int, tuple[Recording, str]] = {}
        self._rows: Sequence[Recording] | None = None
        self._last: tuple[Sequence[Recording], str, list[Recording]] | None = None

    def _use(self, rows: Sequence[Recording]) -> None:
        """Keep only the entries of `rows` when they are a new list."""
        if rows is self._rows:
            return
        old = self._texts
        self._texts = {id(rec): entry for rec in rows if (entry := old.get(id(rec))) is not None}
        self._rows = rows
        self._last = None

    def text(self, rec: Recording) -> str:
        entry = self._texts.get(id(rec))
        if entry is not None:
            return entry[1]
        text = haystack(rec, self.names)
        self._texts[id(rec)] = (rec, text)
        return text

    def warm(self, rows: Sequence[Recording], start: int, count: int = 1000) -> int:
        """Build the texts of `rows[start:start + count]` ahead of the first keystroke; returns
        where the next call starts (`len(rows)` when done)."""
        self._use(rows)
        end = min(len(rows), start + count)
        for rec in rows[start:end]:
            self.text(rec)
        return end

    def filter(self, rows: Sequence[Recording], needle: str) -> list[Recording]:
        """The rows whose text holds `needle` (case-insensitive), in order."""
        if not needle:
            return list(rows)
        self._use(rows)
        n = needle.casefold()
        last = self._last
        source: Sequence[Recording] = rows
        if last is not None and last[0] is rows and n.startswith(last[1]):
            source = last[2]             # typing on: only the rows that matched the shorter needle
        texts, build = self._texts, self.text
        out = []
        for rec in source:
            entry = texts.get(id(rec))
            if n in (entry[1] if entry is not None else build(rec)):
                out.append(rec)
        self._last = (rows, n, out)
        return out
