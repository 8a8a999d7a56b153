"""The player bar at the foot of the detail pane: a waveform with the playhead, then position,
duration, speed, volume and what the audio path is doing (fetching → converting → playing).

It does not own the player: `attach(player)` gives it any object with the `rectui.audio.Player`
methods, which all return at once. The bar polls `player.snapshot()` a few times a second while
something plays (the player keeps time itself), and its keys follow mpv while it has focus:
space pause/resume, ←/→ ±5 s, ↑/↓ ±60 s, Home/End to the start/end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.content import Content
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget

from rectui.widgets import formatting as fmt

BLOCKS = " ▁▂▃▄▅▆▇█"
POLL_SECONDS = 0.2
ICONS = {"playing": "▶", "paused": "⏸", "loading": "…", "ended": "■", "idle": "■", "error": "✕"}


def resample(peaks: list[float], width: int) -> list[float]:
    """`peaks` reduced (max per bucket) or stretched to exactly `width` values."""
    if width <= 0:
        return []
    if not peaks:
        return [0.0] * width
    n = len(peaks)
    out = []
    for i in range(width):
        lo = i * n // width
        hi = max(lo + 1, (i + 1) * n // width)
        out.append(max(peaks[lo:hi]))
    return out


def waveform(peaks: list[float], width: int, fraction: float | None) -> Content:
    """One line of block characters; the part already played styled, the playhead reversed."""
    values = resample(peaks, width)
    top = len(BLOCKS) - 1
    text = "".join(BLOCKS[min(top, max(1 if v > 0 else 0, round(v * top)))] for v in values)
    content = Content(text)
    if fraction is None or not text:
        return content.stylize("$text-muted", 0, len(text))
    head = min(len(text) - 1, max(0, int(fraction * len(text))))
    content = content.stylize("$accent", 0, head)
    content = content.stylize("$text-muted", head + 1, len(text))
    return content.stylize("reverse", head, head + 1)


def speed_text(speed: float) -> str:
    """`1.0`, `1.25`, `0.5`."""
    text = f"{speed:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def status_line(state: Any, stage: str = "") -> str:
    """`▶ 1:04 / 3:12 · ×1.0 · vol 80%` (+ muted, the stage or the error)."""
    if state is None:
        return stage or "enter plays the highlighted recording"
    icon = ICONS.get(state.status, "■")
    parts = [f"{icon} {fmt.duration(state.position)} / {fmt.duration(state.duration)}",
             f"×{speed_text(state.speed)}",
             "muted" if state.muted else f"vol {round(state.volume * 100)}%"]
    if state.status == "error" and state.error is not None:
        parts.append(fmt.fit(getattr(state.error, "title", "") or str(state.error), 60))
    elif getattr(state, "warning", None):
        parts.append(fmt.fit(state.warning, 80))         # a damaged file, or only its first 3 h
    elif stage:
        parts.append(stage)
    elif state.status == "paused":
        parts.append("paused")
    return " · ".join(parts)


class PlayerBar(Widget, can_focus=True):
    """The audio of the recording in the detail pane."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle", "Pause/Play", id="player-toggle", tooltip="Pause or resume"),
        Binding("left", "seek(-5)", "−5 s", id="player-back", tooltip="Back 5 seconds"),
        Binding("right", "seek(5)", "+5 s", id="player-forward", tooltip="Forward 5 seconds"),
        Binding("down", "seek(-60)", "−60 s", show=False, id="player-back-more", tooltip="Back 60 seconds"),
        Binding("up", "seek(60)", "+60 s", show=False, id="player-forward-more", tooltip="Forward 60 seconds"),
        Binding("home", "seek_percent(0)", "Start", show=False, id="player-start", tooltip="Back to the start"),
    ]
    HELP = "The player: mpv's keys while it has focus (space, ←/→ 5 s, ↑/↓ 60 s); [ ] speed, 9 0 volume, m mute."

    @dataclass
    class Failed(Message):
        """The player reported an error (no device, device busy, a decoder failure)."""

        error: Any

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.player: Any = None
        self.peaks: list[float] = []
        self.stage = ""
        self.state: Any = None
        self._timer: Timer | None = None

    # -- what the screen tells it ------------------------------------------------------------
    def attach(self, player: Any) -> None:
        self.player = player
        self.poll()

    def set_stage(self, stage: str) -> None:
        """"fetching…", "converting…", "" once sound plays; shown after the numbers."""
        self.stage = stage
        self.refresh()

    def set_peaks(self, peaks: list[float]) -> None:
        self.peaks = list(peaks)
        self.refresh()

    def reset(self) -> None:
        self.peaks, self.stage, self.state = [], "", None
        self.refresh()

    # -- keeping up with the player ----------------------------------------------------------
    def on_mount(self) -> None:
        self._timer = self.set_interval(POLL_SECONDS, self.poll, pause=False)

    def poll(self) -> None:
        player = self.player
        state = player.snapshot() if player is not None else None
        if state != self.state:
            before = self.state.error if self.state is not None else None
            self.state = state
            self.refresh()
            if state is not None and state.error is not None and state.error is not before:
                self.post_message(self.Failed(state.error))

    def render(self) -> Content:
        width = max(10, self.content_size.width or self.size.width or 40)
        state = self.state
        fraction = None
        if state is not None and state.duration:
            fraction = min(1.0, max(0.0, state.position / state.duration))
        lines = [waveform(self.peaks, width, fraction) if self.peaks or state is not None else Content(""),
                 Content(fmt.fit(status_line(state, self.stage), width))]
        return Content("\n").join(lines)

    # -- keys --------------------------------------------------------------------------------
    def _call(self, name: str, *args: Any) -> None:
        method = getattr(self.player, name, None) if self.player is not None else None
        if method is not None:
            method(*args)
            self.poll()

    def action_toggle(self) -> None:
        self._call("toggle")

    def action_seek(self, delta: float) -> None:
        self._call("seek_by", float(delta))

    def action_seek_percent(self, percent: float) -> None:
        self._call("seek_percent", float(percent))
