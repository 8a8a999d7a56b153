"""Builds the app the way `rectui demo` does, but against the emulator in-process (one httpx
transport, no sockets), with a frozen wall clock, fake sleeps, a fixed anchor and UTC dates.
Shared by the Pilot tests, the snapshot tests and the screenshots (`from ui.harness import …`)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from support import ANCHOR, FakeClock, Monotonic
from textual.pilot import Pilot
from textual.widgets import Input
from textual.worker import WorkerState

from rectui.app import RectuiApp, demo_providers, make_app
from rectui.emulator.app import Emulator, EmulatorConfig
from rectui.messages import EventRelay
from rectui.operations import Operations
from rectui.paths import data_dir
from rectui.screens.main import MainScreen
from rectui.screens.playback import AudioOptions
from rectui.store import Store

KINDS = ("genesys", "kazoo", "restcomm", "webex", "screendesk")



async def _no_sleep(_seconds: float) -> None:
    return None


@dataclass
class Harness:
    app: RectuiApp
    emu: Emulator
    clock: FakeClock
    mono: Monotonic
    providers: list[Any]
    store: Store | None = None
    ops: Operations | None = None
    messages: list[Any] = field(default_factory=list)

    def list_requests(self, kind: str) -> int:
        return len([r for r in self.emu.log.for_route(kind) if r.route == "list"])

    def writes(self, kind: str, route: str | None = None) -> list[Any]:
        """The emulator's record of the write requests (DELETE, POST, PUT, PATCH) `kind` received."""
        return [r for r in self.emu.log.for_route(kind, route) if r.method in ("DELETE", "POST", "PUT", "PATCH")
                and r.origin == "api" and not r.route.endswith("auth")]


def build(media_cache: Path, *, count: int = 600, hostile: bool = False, faults: str = "",
          kinds: Iterable[str] = KINDS, extra: dict[str, dict[str, Any]] | None = None,
          wrap: Callable[[Any], Any] | None = None, store_path: Path | None = None,
          **app_kwargs: Any) -> Harness:
    """The app over an in-process emulator of `kinds` (600 recordings each by default: Kazoo's and
    Webex's month windows then hold enough rows that a page takes a request or two). `extra` adds
    raw config entries (e.g. a broken one); `wrap` may replace each adapter (a slow or failing
    stand-in). The journal is a store in the test's data dir (or `store_path`); the operations
    queue runs on the fake monotonic clock, so rate limits cost no real time."""
    clock = FakeClock(ANCHOR.timestamp() + 3600)
    mono = Monotonic()
    emu = Emulator(EmulatorConfig(providers=tuple(kinds), count=count, hostile=hostile, faults=faults,
                                  anchor=ANCHOR, media_cache_dir=media_cache), clock=clock, sleep=_no_sleep)
    relay = EventRelay()
    adapter_kw = {"transport": emu.transport(), "wall": clock, "clock": mono, "sleep": mono.sleep,
                  "rng": random.Random(0)}
    providers, errors = demo_providers(emu, relay=relay, **adapter_kw)
    if extra:
        from rectui.app import build_providers
        more, more_errors = build_providers(extra, relay=relay, **adapter_kw)
        providers += more
        errors |= more_errors
    if wrap is not None:
        providers = [wrap(p) for p in providers]
    app_kwargs.setdefault("detail_delay", 0.0)
    app_kwargs.setdefault("cursor_blink", False)
    app_kwargs.setdefault("merge_grace", None)      # "All providers" waits for all: the same page every run
    app_kwargs.setdefault("audio", AudioOptions(make_player=lambda: silent_player(mono), probe=lambda: None))
    store = Store(store_path or data_dir() / "rectui.db", clock=clock)
    ops = Operations(providers, store, read_only=bool(app_kwargs.get("read_only")), clock=mono, sleep=mono.sleep,
                     wall=clock)
    app = make_app(providers, config_errors=errors, relay=relay, clock=clock, tz=UTC, store=store, operations=ops,
                   **app_kwargs)
    return Harness(app, emu, clock, mono, providers, store, ops)


def main(h: Harness) -> MainScreen:
    """The main screen, under any dialog open on top of it."""
    screen = h.app.screen_stack[0]
    assert isinstance(screen, MainScreen)
    return screen


def toasts(h: Harness) -> list[str]:
    """Every notification shown so far, as "title: message"."""
    return [f"{n.title}: {n.message}" for n in h.app._notifications]


def notes(h: Harness) -> str:
    """`toasts`, one a line: for `"text" in notes(h)`."""
    return "\n".join(toasts(h))


async def open_provider(h: Harness, pilot: Pilot[Any], key: str = "1") -> MainScreen:
    """Show provider `key` (1: the first in the sidebar) once the start has settled."""
    await settle(pilot)
    await pilot.press(key)
    await settle(pilot)
    return main(h)


def deleted_ids(h: Harness, kind: str, route: str = "delete") -> list[str]:
    """The ids the emulator received a write for on `route`, from the request paths (Webex's
    soft_delete, restore and purge carry the ids in the body: the last segment is kept as is)."""
    out = []
    for rec in h.writes(kind, route):
        last = rec.path.rstrip("/").rsplit("/", 1)[-1]
        out.append(last if route in ("soft_delete", "restore", "purge") else unquote(last))
    return out


class Gate:
    """A provider whose listings wait until the test opens the gate (a server slow to answer,
    without sleeping)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.open = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def list_recordings(self, query: Any, cursor: Any = None) -> Any:
        await self.open.wait()
        return await self.inner.list_recordings(query, cursor)


class HeldDeletes:
    """A provider whose deletes after the first `free` wait until the test opens `gate` (never,
    for a screenshot of a batch mid-run: the app's exit cancels it)."""

    def __init__(self, inner: Any, free: int = 2) -> None:
        self.inner, self.free = inner, free
        self.gate = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def delete_recording(self, recording_id: str) -> Any:
        if self.free <= 0:
            await self.gate.wait()
        self.free -= 1
        return await self.inner.delete_recording(recording_id)


def silent_player(clock: Any) -> Any:
    """The app's player in tests: the real player logic, no sound device, on the fake clock."""
    from rectui.audio import SilentPlayer
    return SilentPlayer(clock=clock)


async def settle(pilot: Pilot[Any], rounds: int = 8) -> None:
    """Let every worker finish and every resulting message be handled (a handled result may start
    another worker: a page starts its prefetch)."""
    app = pilot.app
    for _ in range(rounds):
        await pilot.pause()
        if not any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in app.workers):
            return
        await app.workers.wait_for_complete()


def no_blink(app: RectuiApp) -> None:
    for box in app.screen.query(Input):
        box.cursor_blink = False


def screen_text(app: RectuiApp) -> str:
    """What the terminal shows, as plain text (every layer: toasts and dialogs included)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def static_text(widget: Any, width: int = 120) -> str:
    """A Static's content as plain text (all of it, scrolled out of view or not)."""
    import io

    from rich.console import Console
    from textual.content import Content

    content = widget.content
    if isinstance(content, Content):
        return content.plain
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(content)
    return console.export_text()
