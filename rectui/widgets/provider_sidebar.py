"""The provider sidebar: "All providers" first, then each configured provider with a live status
chip (loading, ok, retrying, rate-limited with a countdown, auth error, offline, config error,
read-only), and the highlighted provider's full error underneath."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.cells import cell_len
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from rectui.errors import RectuiError
from rectui.logs import redact
from rectui.widgets import formatting as fmt

Status = Literal["idle", "loading", "ok", "retrying", "rate_limited", "auth", "offline", "error", "config"]
ERROR_STATUSES: frozenset[str] = frozenset({"auth", "offline", "error", "config", "rate_limited"})
ALL = "all"


@dataclass
class ProviderState:
    """What the sidebar shows for one provider (or for "All providers")."""

    id: str
    name: str
    kind: str
    status: Status = "idle"
    error: RectuiError | None = None
    """The last error, readable in full under the list and in the API-call log."""
    until: float | None = None
    """Wall-clock time (the app's clock) when a retry wait or rate limit ends."""
    read_only: bool = False
    note: str = ""
    """A short line about a wait in progress (`GET /v2/… 503 · retry 2`)."""

    @property
    def failing(self) -> bool:
        return self.status in ERROR_STATUSES


def chip(state: ProviderState, now: float) -> tuple[str, str, str]:
    """(icon, chip text, style) for a provider's status at time `now`."""
    left = fmt.countdown(state.until - now) if state.until is not None and state.until > now else ""
    match state.status:
        case "loading":
            return "◌", "···", "$text-muted"
        case "ok":
            return "●", "ro" if state.read_only else "ok", "$text-success"
        case "retrying":
            return "◐", f"retry {left}".strip(), "$text-warning"
        case "rate_limited":
            return "◌", f"429 {left}".strip(), "$text-warning"
        case "auth":
            return "✕", "auth", "$text-error"
        case "offline":
            return "✕", "offline", "$text-error"
        case "config":
            return "✕", "config", "$text-error"
        case "error":
            status = state.error.status if state.error is not None else None
            return "✕", str(status) if status else "error", "$text-error"
    return "○", "ro" if state.read_only else "", "$text-muted"


def prompt(state: ProviderState, now: float, width: int) -> Content:
    """One sidebar row: icon, name, and the status chip right-aligned, as plain Content."""
    icon, text, style = chip(state, now)
    name_width = max(4, width - 2 - max(cell_len(text), 3) - 1)
    name = fmt.pad(state.name, name_width)
    return Content.assemble((icon, style), " ", name, " ", (text.rjust(max(cell_len(text), 3)), style))


def error_text(state: ProviderState, now: float) -> Content:
    """The highlighted provider's status in words, with its full error (cleaned and redacted)."""
    if state.error is None and state.status not in ("retrying", "rate_limited"):
        return Content("")
    parts: list[str] = []
    if state.status == "rate_limited":
        wait = f" · retry in {fmt.countdown(state.until - now)}" if state.until and state.until > now else ""
        parts.append(f"Rate-limited{wait}")
    elif state.status == "retrying":
        wait = f" in {fmt.countdown(state.until - now)}" if state.until and state.until > now else ""
        parts.append(f"Retrying{wait}")
    if state.note:
        parts.append(state.note)
    if state.error is not None:
        head = state.error.title + (f" ({state.error.status})" if state.error.status else "")
        parts.append(head)
        parts.append(redact(state.error.message))
        if state.error.correlation_id:
            parts.append(f"correlation id {state.error.correlation_id}")
        parts.append("e: details and recent API calls")
    return Content("\n".join(parts))


class ProviderList(OptionList):
    """The providers, selectable with the arrow keys or j/k; the highlighted one is shown."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down,j", "cursor_down", "Down", show=False, id="sidebar-down", tooltip="Next provider"),
        Binding("up,k", "cursor_up", "Up", show=False, id="sidebar-up", tooltip="Previous provider"),
        Binding("enter", "select", "Open", id="sidebar-open", tooltip="Show this provider's recordings"),
        Binding("right", "screen.page(1)", "Next page", show=False, id="sidebar-page-next",
                tooltip="The next page of recordings"),
        Binding("left", "screen.page(-1)", "Previous page", show=False, id="sidebar-page-prev",
                tooltip="The previous page of recordings"),
    ]
    HELP = "The providers: the highlighted one is shown on the right; its error is shown below the list."


class ProviderSidebar(Vertical):
    """The sidebar. States come in through `set_states`; selections go out as messages."""

    @dataclass
    class Selected(Message):
        """The user highlighted a provider (or "All providers"): show its recordings."""

        provider: str

    @dataclass
    class Opened(Message):
        """The user pressed enter on a provider: move to its recordings."""

        provider: str

    def __init__(self, clock: Callable[[], float], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._clock = clock
        self._states: dict[str, ProviderState] = {}
        self._order: list[str] = []
        self._highlighted: str | None = None

    def compose(self) -> ComposeResult:
        yield ProviderList(id="provider-list")
        with VerticalScroll(id="provider-error-box", can_focus=False):
            yield Static(id="provider-error")

    @property
    def option_list(self) -> ProviderList:
        return self.query_one(ProviderList)

    def on_mount(self) -> None:
        self.border_title = Content("Providers")
        self.set_interval(1.0, self._tick)

    def _width(self) -> int:
        width = self.option_list.scrollable_content_region.width
        return max(12, width - 2) if width else 20

    def set_states(self, states: Mapping[str, ProviderState]) -> None:
        """Show `states` (in order); adds or refreshes rows, keeps the highlight."""
        now = self._clock()
        width = self._width()
        ol = self.option_list
        order = list(states)
        self._states = dict(states)
        if order != self._order:
            highlighted = ol.highlighted
            ol.set_options(Option(prompt(s, now, width), id=pid) for pid, s in states.items())
            self._order = order
            if ol.option_count:
                ol.highlighted = min(highlighted or 0, ol.option_count - 1)
        else:
            for pid, s in states.items():
                ol.replace_option_prompt(pid, prompt(s, now, width))
        self._show_error()

    def update_state(self, state: ProviderState) -> None:
        self._states[state.id] = state
        if state.id in self._order:
            self.option_list.replace_option_prompt(state.id, prompt(state, self._clock(), self._width()))
        if state.id == self._highlighted:
            self._show_error()

    def highlight(self, provider: str) -> None:
        if provider in self._order:
            self.option_list.highlighted = self._order.index(provider)

    def _show_error(self) -> None:
        state = self._states.get(self._highlighted or "")
        text = error_text(state, self._clock()) if state is not None else Content("")
        box = self.query_one("#provider-error-box")
        box.display = bool(text.plain)
        self.query_one("#provider-error", Static).update(text)

    def _tick(self) -> None:
        """Once a second: count down the waits on screen (only when there is one)."""
        now = self._clock()
        if any(s.until is not None and s.until > now - 1 for s in self._states.values()):
            for s in self._states.values():
                if s.until is not None:
                    self.update_state(s)

    def on_resize(self) -> None:
        if self._states:
            now, width = self._clock(), self._width()
            for pid, s in self._states.items():
                self.option_list.replace_option_prompt(pid, prompt(s, now, width))

    @on(OptionList.OptionHighlighted)
    def _highlighted_changed(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        pid = event.option.id
        if pid is None:
            return
        self._highlighted = pid
        self._show_error()
        self.post_message(self.Selected(pid))

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(self.Opened(event.option.id))
