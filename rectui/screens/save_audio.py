"""Save the audio of a recording as WAV or MP3 to a path the user chooses.

The dialog proposes a safe name (`rectui.operations.download_name`: never a server-chosen
path) in the current directory; the user may type any path. It never overwrites silently: when
the file exists, the first save says so and a second press of ctrl+s (or the Overwrite button)
confirms. The result is a `SaveRequest`; the screen does the writing in a worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, RadioButton, RadioSet, Static

from rectui.models import Recording

Format = Literal["wav", "mp3"]


@dataclass(frozen=True)
class SaveRequest:
    path: Path
    format: Format
    overwrite: bool


def default_path(rec: Recording, fmt: Format, folder: Path) -> Path:
    from rectui.operations import download_name
    return folder / download_name(rec, fmt)


class SaveAudioDialog(ModalScreen[SaveRequest | None]):
    """Where to save the audio, and as what."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="save-cancel"),
        Binding("ctrl+s", "save", "Save", id="save-confirm", priority=True),
    ]

    def __init__(self, rec: Recording, *, folder: Path | None = None, reason: str = "") -> None:
        super().__init__()
        self.rec = rec
        self.folder = folder or Path.cwd()
        self.reason = reason
        self.format: Format = "wav"
        self._confirm_overwrite: Path | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="save-dialog", classes="form"):
            yield Static(Content("Save the audio"), classes="dialog-title")
            if self.reason:
                yield Static(Content(self.reason), id="save-reason")
            yield Static(Content(f"“{self.rec.title or self.rec.id}”"), id="save-what")
            with RadioSet(id="save-format"):
                yield RadioButton("WAV (16-bit PCM)", value=True, id="fmt-wav")
                yield RadioButton("MP3", id="fmt-mp3")
            yield Input(str(default_path(self.rec, "wav", self.folder)), id="save-path")
            yield Static(id="save-error", classes="field-note -error")
            with Horizontal(classes="form-buttons"):
                yield Button("Cancel", id="save-cancel-button")
                yield Button("Save", variant="primary", id="save-button")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#save-path", Input).focus()

    @on(RadioSet.Changed, "#save-format")
    def _format_changed(self, event: RadioSet.Changed) -> None:
        new: Format = "mp3" if event.pressed.id == "fmt-mp3" else "wav"
        box = self.query_one("#save-path", Input)
        path = Path(box.value)
        if path.suffix.lower() in (".wav", ".mp3"):
            box.value = str(path.with_suffix("." + new))
        self.format = new
        self._confirm_overwrite = None

    @on(Input.Changed, "#save-path")
    def _path_changed(self) -> None:
        self._confirm_overwrite = None
        self._error("")

    @on(Input.Submitted, "#save-path")
    def _submitted(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#save-button")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#save-cancel-button")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def _error(self, text: str) -> None:
        self.query_one("#save-error", Static).update(Content(text))

    def action_save(self) -> None:
        text = self.query_one("#save-path", Input).value.strip()
        if not text:
            self._error("Type a path to save to.")
            return
        path = Path(text).expanduser()
        if path.is_dir():
            path = path / default_path(self.rec, self.format, path).name
        if not path.parent.is_dir():
            self._error(f"No such folder: {path.parent}")
            return
        overwrite = False
        if path.exists():
            if self._confirm_overwrite != path:
                self._confirm_overwrite = path
                self._error(f"{path.name} exists. Press ctrl+s again to replace it, or change the path.")
                return
            overwrite = True
        self.dismiss(SaveRequest(path, self.format, overwrite))

    def action_cancel(self) -> None:
        self.dismiss(None)
