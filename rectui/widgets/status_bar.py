"""The status line: what is on screen (range, page, sort, filter, marks) on the left, the
operations queue's progress ("Deleting 7/12…") in the middle, what the network is doing on the
right. Plain `Content` only."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Static


class StatusBar(Horizontal):
    """Three one-line parts; set them with `set_left`, `set_ops` and `set_right`."""

    def compose(self) -> ComposeResult:
        yield Static(id="status-left")
        yield Static(id="status-ops")
        yield Static(id="status-right")

    def set_ops(self, text: str, style: str = "") -> None:
        """The operations part, right after the left one ("" hides it and gives the left its room)."""
        self.query_one("#status-ops", Static).update(Content.styled(text, style) if style else Content(text))
        self.set_class(bool(text), "-ops")

    def set_left(self, *parts: str) -> None:
        self.query_one("#status-left", Static).update(Content(" · ".join(p for p in parts if p)))

    def set_right(self, text: str, style: str = "") -> None:
        self.query_one("#status-right", Static).update(Content.styled(text, style) if style else Content(text))

    @property
    def left_text(self) -> str:
        return str(self.query_one("#status-left", Static).render())

    @property
    def ops_text(self) -> str:
        return str(self.query_one("#status-ops", Static).render())

    @property
    def right_text(self) -> str:
        return str(self.query_one("#status-right", Static).render())
