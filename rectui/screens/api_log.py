"""Errors and recent API calls: each provider's full error, then the last requests (method, path
without the query, status, attempt, time) — what a user needs to see why something failed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from rectui.errors import RectuiError
from rectui.logs import redact
from rectui.widgets import formatting as fmt
from rectui.widgets.provider_sidebar import ProviderState


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S")


def error_block(name: str, error: RectuiError) -> Text:
    head = f"{name} · {error.title}" + (f" ({error.status})" if error.status else "")
    text = Text(head + "\n", style="bold")
    text.append(redact(error.message))
    if error.correlation_id:
        text.append(f"\ncorrelation id: {error.correlation_id}")
    return text


class ApiLogScreen(ModalScreen[None]):
    """A read-only report; escape closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,e", "dismiss", "Close", id="api-log-close", tooltip="Back to the recordings"),
    ]

    def __init__(self, states: Mapping[str, ProviderState], errors: Sequence[tuple[float, str, str, RectuiError]],
                 events: Sequence[Any], names: Mapping[str, str]) -> None:
        super().__init__()
        self.states, self.errors, self.events, self.names = states, errors, events, names

    def compose(self) -> ComposeResult:
        with Vertical(id="api-log", classes="dialog"):
            yield Static(Content("Errors and recent API calls"), classes="dialog-title")
            with VerticalScroll(id="api-log-errors"):
                failing = [s for s in self.states.values() if s.error is not None]
                if not failing and not self.errors:
                    yield Static(Content("No errors."), classes="muted")
                for state in failing:
                    assert state.error is not None
                    yield Static(error_block(state.name, state.error), classes="error-block")
                if self.errors:
                    lines = Text("Recent errors\n", style="bold")
                    for at, pid, op, err in list(self.errors)[-10:][::-1]:
                        lines.append(f"{_clock(at)}  {self.names.get(pid, pid)} · {op} · {err.title}"
                                     + (f" ({err.status})" if err.status else "") + "\n")
                    yield Static(lines)
            yield DataTable(id="api-log-calls", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#api-log-calls", DataTable)
        for label in ("Time", "Provider", "Status", "Try", "Took/wait", "Call", "Note"):
            table.add_column(Text(label), key=label)
        for event in reversed(self.events[-200:]):
            took = f"{event.elapsed * 1000:.0f} ms" if event.elapsed is not None else (
                f"wait {event.wait:.1f} s" if event.wait is not None else "")
            status = str(event.status) if event.status else event.kind
            if event.kind in ("retry", "rate_limited") and event.status:
                status = f"{event.status} {event.kind}"
            table.add_row(Text(_clock(event.at)), Text(self.names.get(event.provider, event.provider)),
                          Text(status), Text(str(event.attempt)), Text(took),
                          Text(fmt.fit(f"{event.method} {event.path}", 70)), Text(event.message))
        table.border_title = Content(f"{len(self.events)} recent API calls, newest first")
        table.focus()
