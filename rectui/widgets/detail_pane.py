"""The detail pane: every field the provider gave, humanised, with the raw document on demand.

Everything here is built from `Text`, never from markup. `#player-slot` is left empty for the
audio player (the audio work fills it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import tzinfo
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, VerticalScroll
from textual.widgets import Static

from rectui.models import Capabilities, Recording
from rectui.widgets import formatting as fmt

LABEL_WIDTH = 18


def _grid(rows: list[tuple[str, str]], label_width: int = LABEL_WIDTH) -> Table:
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(width=label_width, no_wrap=True, style="bold")
    grid.add_column(ratio=1, overflow="fold")
    for label, value in rows:
        grid.add_row(Text(fmt.fit(label, label_width)), Text(value))
    return grid


def summary_rows(rec: Recording, *, provider_name: str, caps: Capabilities | None, tz: tzinfo | None,
                 now: float) -> list[tuple[str, str]]:
    """The common fields, humanised (the provider's own fields follow them)."""
    start = fmt.when(rec.start, tz, seconds=True)
    if rec.start is not None:
        start += f"  ({fmt.ago(rec.start, now)})"
    rows = [("Provider", provider_name), ("Start", start), ("Duration", fmt.duration(rec.duration))]
    for label, value in (("From", rec.caller), ("To", rec.callee), ("Owner", rec.owner),
                         ("Direction", rec.direction), ("Call id", rec.call_id)):
        if value:
            rows.append((label, value))
    if rec.size is not None:
        rows.append(("Size", f"{fmt.size(rec.size)} ({fmt.count(rec.size)} bytes)"))
    rows.append(("Status", rec.status))
    where = "server" if caps is not None and caps.server_tags else "local"
    rows.append(("Tags", f"{fmt.tags(rec)}  ({where})" if rec.tags else f"none ({where} tags)"))
    if rec.has_media:
        rows.append(("Audio", "available"))
    else:
        rows.append(("Audio", rec.media_note or "none"))
    if rec.viewer_url:
        rows.append(("Viewer", rec.viewer_url))
    if not rec.id_valid:
        rows.append(("Warning", "this id could retarget a request: shown, but never acted on"))
    rows.append(("Id", rec.id))
    return rows


class DetailPane(VerticalScroll, can_focus=True):
    """The highlighted recording. `v` toggles the raw document; `o` opens a viewer URL."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down,j", "scroll_down", "Down", show=False, id="detail-down", tooltip="Scroll down"),
        Binding("up,k", "scroll_up", "Up", show=False, id="detail-up", tooltip="Scroll up"),
        Binding("right", "screen.page(1)", "Next page", show=False, id="detail-page-next",
                tooltip="The next page of recordings"),
        Binding("left", "screen.page(-1)", "Previous page", show=False, id="detail-page-prev",
                tooltip="The previous page of recordings"),
    ]
    HELP = "All the fields of the highlighted recording; the raw document on demand."

    def __init__(self, clock: Callable[[], float], *, tz: tzinfo | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self._clock = clock
        self.tz = tz
        self.recording: Recording | None = None
        self.full = False
        """True once `get_recording` filled in the details."""
        self.raw = False
        self._caps: Capabilities | None = None
        self._provider_name = ""
        self._note = ""

    def compose(self) -> ComposeResult:
        yield Static(id="detail-body")
        yield Container(id="player-slot")

    def on_mount(self) -> None:
        self.border_title = Text("Detail")
        self.query_one("#player-slot").display = False

    def show_message(self, text: str) -> None:
        self.recording = None
        self.query_one("#detail-body", Static).update(Text(text, style="italic"))

    def show(self, rec: Recording, *, provider_name: str, caps: Capabilities | None, full: bool,
             note: str = "") -> None:
        """Show `rec`; `full` says whether these are the complete details or the listing's."""
        if self.recording is None or self.recording.key != rec.key:
            self.scroll_home(animate=False)
        self.recording, self.full = rec, full
        self._caps, self._provider_name, self._note = caps, provider_name, note
        self.refresh_body()

    def set_raw(self, raw: bool) -> None:
        self.raw = raw
        if self.recording is not None:
            self.refresh_body()

    def refresh_body(self) -> None:
        rec = self.recording
        if rec is None:
            return
        parts: list[RenderableType] = [Text(rec.title or "(untitled)", style="bold", no_wrap=True,
                                            overflow="ellipsis")]
        if self.raw:
            parts.append(Text("Raw document (as the provider sent it, cleaned)", style="italic"))
            parts.append(Text(json.dumps(rec.raw, indent=2, ensure_ascii=False, default=str) if rec.raw else "{}"))
        else:
            label_width = LABEL_WIDTH if self.size.width >= 80 else 12
            parts.append(_grid(summary_rows(rec, provider_name=self._provider_name, caps=self._caps, tz=self.tz,
                                            now=self._clock()), label_width))
            if rec.details:
                state = "" if self.full else "  (from the listing; loading the rest…)"
                parts.append(Text(f"\nProvider fields{state}", style="bold underline"))
                parts.append(_grid(list(rec.details.items()), label_width))
            elif not self.full:
                parts.append(Text("\nloading details…", style="italic"))
        if self._note:
            parts.append(Text("\n" + self._note, style="italic"))
        self.query_one("#detail-body", Static).update(Group(*parts))
