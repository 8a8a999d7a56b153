"""A deliberately unsafe Textual app, the byte scan's positive control: it shows the emulator's
hostile titles as plain `Text` without `rectui.sanitize.clean`, which Rich and Textual pass to
the terminal byte for byte (RELIABILITY §3.2). `q` quits."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import Static

from rectui.emulator.dataset import HOSTILE_TEXTS


class LeakyApp(App[None]):
    BINDINGS: ClassVar[list[tuple[str, str, str]]] = [("q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Static("leaky app ready")
        for value in HOSTILE_TEXTS:
            if "CANARY" in value:
                yield Static(Text(value))        # no clean(): the escapes reach the terminal


if __name__ == "__main__":
    LeakyApp().run()
