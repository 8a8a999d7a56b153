"""Rename: change the fields a provider lets us change (Genesys: `name`; Screendesk: `title`,
`summary`, `description`), prefilled with what the recording has now.

Only the fields that changed are returned, so the adapter sends no more than the user meant to
change; a cleared summary or description comes back as None (the provider clears it), while an
empty title or name is refused here rather than by the server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Static, TextArea

from rectui.models import Recording
from rectui.sanitize import clean, one_line
from rectui.widgets import formatting as fmt

TITLE_FIELDS = frozenset({"title", "name"})
"""Fields that are the recording's title: one line, never empty."""
TITLE_LIMIT = 255
"""The longest title sent (Screendesk's is undocumented: a Rails string column's usual limit)."""
TEXT_LIMIT = 10_000
"""The longest summary or description sent (undocumented too)."""


def current_value(recording: Recording, field: str) -> str:
    """What `field` holds now: the title for a title field, else the provider's own document or
    the detail pane's value of that name."""
    if field in TITLE_FIELDS:
        return recording.title
    raw: Any = recording.raw.get(field)
    if isinstance(raw, str):
        return raw
    return recording.details.get(field.replace("_", " ").capitalize(), "")


def limit_for(field: str) -> int:
    return TITLE_LIMIT if field in TITLE_FIELDS else TEXT_LIMIT


def normalise(field: str, text: str) -> str:
    """The value as it would be sent: one line for a title, terminal-safe, within its limit."""
    if field in TITLE_FIELDS:
        return one_line(text, limit=TITLE_LIMIT).strip()
    return clean(text, limit=None).strip()


class RenameDialog(ModalScreen[dict[str, str | None] | None]):
    """Dismisses with the changed fields (None: clear that field), or None on Escape or when
    nothing changed."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="rename-cancel", tooltip="Close without renaming"),
        Binding("ctrl+s", "save", "Save", id="rename-save", tooltip="Send the changed fields"),
    ]

    def __init__(self, recording: Recording, fields: Sequence[str]) -> None:
        """`fields` is the provider's `Capabilities.rename_fields`, in the order shown."""
        super().__init__()
        if not fields:
            raise ValueError("this provider has nothing to rename")
        self.recording = recording
        self.fields = tuple(fields)
        self.before = {f: normalise(f, current_value(recording, f)) for f in self.fields}
        """Each field's value when the dialog opened, as it would be sent."""

    def compose(self) -> ComposeResult:
        rec = self.recording
        with Vertical(id="rename-dialog", classes="form"):
            yield Static(Content(f"Rename · {fmt.fit(rec.title or rec.id, 60)}"), classes="dialog-title")
            with VerticalScroll(classes="form-fields") as fields:
                fields.can_focus = False          # tab goes from field to field, not to the frame
                for field in self.fields:
                    with Horizontal(classes="form-row"):
                        yield Label(Content(field.replace("_", " ").capitalize()), classes="form-label")
                        if field in TITLE_FIELDS:
                            yield Input(self.before[field], id=f"rename-{field}", compact=True,
                                        max_length=TITLE_LIMIT)
                        else:
                            yield TextArea(self.before[field], id=f"rename-{field}", compact=True,
                                           soft_wrap=True, show_line_numbers=False, classes="form-text")
                    yield Static(Content(""), id=f"rename-{field}-note", classes="field-note")
            with Horizontal(classes="form-buttons"):
                yield Button(Content("Save"), id="rename-save-button", variant="primary", compact=True)
                yield Button(Content("Cancel"), id="rename-cancel-button", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        for note in self.query(".field-note"):
            note.display = False
        self.query_one(f"#rename-{self.fields[0]}").focus()

    def value(self, field: str) -> str:
        widget = self.query_one(f"#rename-{field}")
        return widget.value if isinstance(widget, Input) else widget.text if isinstance(widget, TextArea) else ""

    def errors(self) -> dict[str, str]:
        """Each field's problem (shown under it); empty when the form can be sent."""
        out: dict[str, str] = {}
        for field in self.fields:
            text = self.value(field)
            if field in TITLE_FIELDS and not normalise(field, text):
                out[field] = "cannot be empty"
            elif len(text) > limit_for(field):
                out[field] = f"at most {limit_for(field):,} characters ({len(text):,} now)"
        for field in self.fields:
            note = self.query_one(f"#rename-{field}-note", Static)
            note.update(Content(out.get(field, "")))
            note.set_class(field in out, "-error")
            note.display = field in out
        return out

    def changes(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for field in self.fields:
            after = normalise(field, self.value(field))
            if after != self.before[field]:
                out[field] = after or None
        return out

    @on(Input.Submitted)
    @on(Button.Pressed, "#rename-save-button")
    def action_save(self) -> None:
        problems = self.errors()
        if problems:
            self.query_one(f"#rename-{next(iter(problems))}").focus()
            self.app.bell()
            return
        self.dismiss(self.changes() or None)

    @on(Button.Pressed, "#rename-cancel-button")
    def action_cancel(self) -> None:
        self.dismiss(None)
