"""The status line: what is on screen (range, page, sort, filter) on the left, what the network is
doing on the right. Plain `Content` only."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Static


class StatusBar(Horizontal):
    """Two one-line parts; set them with `set_left` / `set_right`."""

    def compose(self) -> ComposeResult:
        yield Static(id="status-left")
        yield Static(id="status-right")

    def set_left(self, *parts: str) -> None:
        self.query_one("#status-left", Static).update(Content(" · ".join(p for p in parts if p)))

    def set_right(self, text: str, style: str = "") -> None:
        self.query_one("#status-right", Static).update(Content.styled(text, style) if style else Content(text))

    @property
    def left_text(self) -> str:
        return str(self.query_one("#status-left", Static).render())

    @property
    def right_text(self) -> str:
        return str(self.query_one("#status-right", Static).render())
