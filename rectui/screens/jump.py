"""Jump to a page: only where the provider numbers its pages (`page_style == "number"`)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static


def check_page(text: str, page_count: int | None) -> int:
    """The 1-based page number typed; ValueError with a message fit to show under the field."""
    digits = text.strip().replace(",", "").replace("_", "")
    if not digits:
        raise ValueError("type a page number")
    try:
        page = int(digits)
    except ValueError:
        raise ValueError("not a whole number") from None
    if page < 1:
        raise ValueError("pages start at 1")
    if page_count is not None and page > page_count:
        raise ValueError(f"the last page is {page_count:,}")
    return page


class JumpToPage(ModalScreen[int | None]):
    """Dismisses with a page number in 1..`page_count` (any from 1 when the count is unknown),
    or None on Escape."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="jump-cancel", tooltip="Stay on this page"),
    ]

    def __init__(self, page_count: int | None, current: int) -> None:
        super().__init__()
        self.page_count = page_count
        self.current = current

    def _where(self) -> str:
        of = f" of {self.page_count:,}" if self.page_count is not None else ""
        return f"On page {self.current:,}{of}."

    def compose(self) -> ComposeResult:
        with Vertical(id="jump-dialog", classes="form"):
            yield Static(Content("Go to page"), classes="dialog-title")
            with Horizontal(classes="form-row"):
                yield Label(Content("Page"), classes="form-label")
                span = f"1–{self.page_count:,}" if self.page_count is not None else "1, 2, 3…"
                yield Input(placeholder=span, id="jump-page", type="integer", compact=True, max_length=12)
            yield Static(Content(self._where()), id="jump-note", classes="field-note")
        yield Footer()

    @on(Input.Changed, "#jump-page")
    def _changed(self) -> None:
        self._note(self._where())

    def _note(self, text: str, *, error: bool = False) -> None:
        note = self.query_one("#jump-note", Static)
        note.update(Content(text))
        note.set_class(error, "-error")

    @on(Input.Submitted, "#jump-page")
    def _submitted(self, event: Input.Submitted) -> None:
        try:
            page = check_page(event.value, self.page_count)
        except ValueError as exc:
            self._note(str(exc), error=True)
            self.app.bell()
            return
        self.dismiss(page)

    def action_cancel(self) -> None:
        self.dismiss(None)
