"""The per-item results of the last batch (delete, restore, purge…): each recording, what
happened to it and the provider's message. Items still running or queued are listed too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from rectui.screens.state import Batch
from rectui.widgets import formatting as fmt

OUTCOME_STYLE = {"deleted": "green", "deleted-confirmed-by-404": "green", "already-gone": "green", "done": "green",
                 "failed": "red", "denied": "red", "unknown": "yellow", "cancelled": "dim"}


def outcome_label(op: str, outcome: str) -> str:
    """A journal outcome in the words of the operation ("purged", "restored", "already gone")."""
    if outcome in ("deleted", "done"):
        return {"purge": "purged", "restore": "restored", "tag": "tagged", "rename": "renamed"}.get(op, "deleted")
    if outcome == "deleted-confirmed-by-404":
        return "purged (confirmed)" if op == "purge" else "deleted (confirmed)"
    return outcome.replace("-", " ")


class ResultsScreen(ModalScreen[None]):
    """A read-only report of one batch; escape closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,R", "dismiss", "Close", id="results-close", tooltip="Back to the recordings"),
    ]

    def __init__(self, batch: Batch, names: Mapping[str, str]) -> None:
        super().__init__()
        self.batch = batch
        self.names = names

    def compose(self) -> ComposeResult:
        with Vertical(id="results", classes="dialog"):
            yield Static(Content(self.batch.headline()), id="results-title", classes="dialog-title")
            yield DataTable(id="results-items", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#results-items", DataTable)
        for label in ("Provider", "Title", "Duration", "Outcome", "Message"):
            table.add_column(Text(label), key=label)
        for target in self.batch.targets:
            result = self.batch.results.get((target.provider, target.id))
            if result is not None:
                label = outcome_label(self.batch.op, result.outcome)
                outcome = Text(label, style=OUTCOME_STYLE.get(result.outcome, ""))
                message = result.message
            elif (target.provider, target.id) in self.batch.started:
                outcome, message = Text("running…", style="dim"), ""
            else:
                outcome, message = Text("queued", style="dim"), ""
            duration = target.recording.duration if target.recording is not None else None
            table.add_row(Text(self.names.get(target.provider, target.provider)),
                          Text(fmt.fit(target.title or target.id, 48)), Text(fmt.duration(duration)), outcome,
                          Text(fmt.fit(message, 60)))
        table.focus()
