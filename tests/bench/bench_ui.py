"""UI benchmark (prints figures, asserts nothing), headless, the emulator on loopback in a thread
as `rectui demo` runs it:

1. launch → first rows drawn, against a bare Textual app's first frame in the same process;
2. next page (key → rows committed) with many recordings per provider (prefetch included);
3. `/` filter, per keystroke, over Kazoo's largest page (1,000 rows) and over 20,000 loaded rows;
4. key → cursor moved and detail pane updated, p50/p99, while details and pages load;
5. peak RSS after paging through `--pages` pages of 1,000 (Restcomm).

    .venv/bin/python tests/bench/bench_ui.py [--count 100000] [--pages 100]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _common import pct, rss_mb
from textual import events
from textual.app import App

from rectui.app import demo_providers, make_app
from rectui.config import UiSettings
from rectui.emulator.app import Emulator, EmulatorConfig
from rectui.emulator.server import EmulatorServer
from rectui.messages import EventRelay
from rectui.models import ListQuery
from rectui.screens.main import MainScreen

SIZE = (160, 45)


async def until(check: Any, limit: float = 30.0) -> float:
    """Seconds until `check()` is true (polled every millisecond)."""
    t0 = time.perf_counter()
    while not check():
        if time.perf_counter() - t0 > limit:
            raise TimeoutError(f"the UI did not get there in time: {check.__code__.co_firstlineno}")
        await asyncio.sleep(0.001)
    return time.perf_counter() - t0


def key(app: App[Any], name: str, char: str | None = None) -> None:
    event = events.Key(name, char)
    event.set_sender(app)
    app._driver.send_message(event)   # type: ignore[union-attr]


def ms(values: list[float]) -> str:
    return f"p50 {pct(values, 50) * 1000:6.1f} ms  p99 {pct(values, 99) * 1000:6.1f} ms  (n={len(values)})"


BARE = """
import time
from textual.app import App
from textual.widgets import Static
class Bare(App):
    def compose(self):
        yield Static("hello")
    def on_mount(self):
        self.call_after_refresh(self.drawn)
    def drawn(self):
        print(f"rows={time.time()!r}")
        self.exit()
Bare().run(headless=True, size=(160, 45))
"""
DEMO = """
import asyncio, time
from rectui.cli import demo_session
with demo_session() as app:                     # exactly what `rectui demo` starts
    def rows():
        tables = app.screen.query("RecordingsTable")
        return tables.first().row_count if tables else 0
    async def pilot(p):
        print(f"frame={time.time()!r}")
        while not rows():
            await asyncio.sleep(0.002)
        await p.pause(0)
        print(f"rows={time.time()!r}")
        app.exit()
    app.run(headless=True, size=(160, 45), auto_pilot=pilot)
"""


def launch(code: str) -> tuple[float, float | None]:
    """Seconds from starting a fresh interpreter running `code` (imports included) to the moment
    it prints `rows=<time.time()>` (drawn; the process's exit is not counted), and to its first
    frame when it prints `frame=…`; best of three."""
    import subprocess
    best: tuple[float, float | None] = (float("inf"), None)
    for _ in range(3):
        wall0 = time.time()
        done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120, text=True)
        stamps = {k: float(v) - wall0 for k, _, v in (line.partition("=") for line in done.stdout.splitlines())
                  if k in ("frame", "rows")}
        best = min(best, (stamps["rows"], stamps.get("frame")), key=lambda pair: pair[0])
    return best


async def session(count: int, page_size: int = 50) -> tuple[float, dict[str, list[float]]]:
    figures: dict[str, list[float]] = {"next": [], "filter": [], "key": []}
    t0 = time.perf_counter()
    emu = Emulator(EmulatorConfig(count=count))
    server = EmulatorServer(emu, log_level="critical")
    server.start()
    relay = EventRelay()
    providers, errors = demo_providers(emu, relay=relay)
    app = make_app(providers, config_errors=errors, relay=relay, ui=UiSettings(page_size=page_size))
    try:
        async with app.run_test(size=SIZE):
            screen = app.screen
            assert isinstance(screen, MainScreen)
            await until(lambda: screen.table.row_count > 0)
            launch = time.perf_counter() - t0
            await until(lambda: screen._pending is None and not any(w.is_running for w in app.workers))
            for n, provider in enumerate(list(screen.states)[1:6], start=1):      # next page, each provider
                key(app, str(n), str(n))
                await until(lambda p=provider: screen.view_id == p and screen._pending is None
                            and screen.table.row_count > 0)
                for _ in range(5):
                    await until(lambda: not any(w.is_running and w.group == "prefetch" for w in app.workers))
                    before = screen.view.offset if screen.view else 0
                    key(app, "n", "n")
                    figures["next"].append(await until(
                        lambda b=before: screen.view is not None and screen.view.offset != b))
            for i in range(200):                           # cursor moves while details and pages load
                before = screen.table.cursor_row
                key(app, "down" if (i // 40) % 2 == 0 else "up")      # 40 down, 40 up… within a page of 50
                figures["key"].append(await until(
                    lambda b=before: screen.table.cursor_row != b and screen.detail.recording is not None
                    and screen.table.current() is not None
                    and screen.detail.recording.key == screen.table.current().key))   # type: ignore[union-attr]
                await asyncio.sleep(0.03)
    finally:
        server.stop()
    return launch, figures


async def filter_keystrokes(count: int, loaded: int) -> list[float]:
    """Key → filtered rows drawn, per keystroke of "call with", over `loaded` rows: Kazoo's real
    pages of 1,000, joined into one page when `loaded` is more (no provider pages past 1,000)."""
    emu = Emulator(EmulatorConfig(count=max(count, loaded), providers=("kazoo",)))
    server = EmulatorServer(emu, log_level="critical")
    server.start()
    relay = EventRelay()
    providers, errors = demo_providers(emu, relay=relay)
    app = make_app(providers, config_errors=errors, relay=relay, ui=UiSettings(page_size=1000))
    out: list[float] = []
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            assert isinstance(screen, MainScreen)
            key(app, "1", "1")
            await until(lambda: screen.view_id == "kazoo" and screen.table.row_count >= 1000
                        and screen._pending is None, limit=60)
            view = screen.view
            assert view is not None and view.page is not None
            if loaded > len(view.page.items):
                items, cursor = [], None
                while len(items) < loaded:
                    page = await providers[0].list_recordings(ListQuery(page_size=1000), cursor)
                    items += page.items
                    cursor = page.next
                view.page = view.page.model_copy(update={"items": tuple(items[:loaded])})
                screen._show_rows()
                await pilot.pause()
            assert screen.table.row_count == loaded
            key(app, "slash", "/")
            await pilot.pause()
            typed = ""
            for char in "call with":
                typed += char
                want = typed.strip()
                key(app, "space" if char == " " else char, char)
                out.append(await until(lambda w=want: screen.needle == w and screen.table.needle == w))
                await pilot.pause()            # drawn
    finally:
        server.stop()
    return out


async def paging_rss(pages: int) -> tuple[int, int, int]:
    emu = Emulator(EmulatorConfig(count=pages * 1000, providers=("restcomm",)))
    server = EmulatorServer(emu, log_level="critical")
    server.start()
    emulator_rss = int(rss_mb())
    relay = EventRelay()
    providers, errors = demo_providers(emu, relay=relay)
    app = make_app(providers, config_errors=errors, relay=relay, ui=UiSettings(page_size=1000))
    try:
        async with app.run_test(size=SIZE):
            screen = app.screen
            assert isinstance(screen, MainScreen)
            key(app, "1", "1")
            await until(lambda: screen.view_id == "restcomm" and screen.table.row_count > 0
                        and screen._pending is None, limit=60)
            for _ in range(pages - 1):
                before = screen.view.offset if screen.view else 0
                screen.action_page(1)
                await until(lambda b=before: screen.view is not None and screen.view.offset != b, limit=60)
            rows = (screen.view.offset if screen.view else 0) + screen.table.row_count
    finally:
        server.stop()
    return rows, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, emulator_rss


def _paging_rss_child(pages: int, conn: Any) -> None:
    conn.send(asyncio.run(paging_rss(pages)))


def rss_in_own_process(pages: int) -> tuple[int, int, int]:
    """`paging_rss` in a fresh process, so its peak is not the earlier measurements' peak."""
    import multiprocessing
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_paging_rss_child, args=(pages, child))
    proc.start()
    result = parent.recv()
    proc.join()
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000, help="recordings per provider")
    parser.add_argument("--pages", type=int, default=100, help="pages of 1,000 to walk for the RSS figure")
    args = parser.parse_args()
    (bare, _), (demo, frame) = launch(BARE), launch(DEMO)
    print(f"launch → first rows of `rectui demo`: {demo * 1000:.0f} ms; a bare Textual app's first frame: "
          f"{bare * 1000:.0f} ms; ratio {demo / bare:.2f}× (goal ≤ 1.5×; fresh processes, headless)")
    if frame is not None:
        print(f"  of which launch → rectui's first frame (emulator up, providers built): {frame * 1000:.0f} ms "
              f"({frame / bare:.2f}× the bare app); first frame → rows drawn: {(demo - frame) * 1000:.0f} ms")
    _first, figures = await session(args.count)
    print(f"next page ({args.count:,} per provider, pages of 50, prefetched): {ms(figures['next'])} "
          "(goal median ≤ 100 ms)")
    print(f"key → cursor and detail pane updated: {ms(figures['key'])} (goal p99 ≤ 50 ms)")
    for loaded in (1_000, 20_000):
        print(f"`/` filter per keystroke over {loaded:,} loaded rows: "
              f"{ms(await filter_keystrokes(args.count, loaded))} (goal ≤ 50 ms over 20,000)")
    rows, rss, emulator = rss_in_own_process(args.pages)
    print(f"peak RSS after paging through {rows:,} rows: {rss} MB (goal ≤ 250 MB), in a process of its own "
          f"that holds the emulator too ({emulator} MB once the emulator and its {rows:,} recordings were up)")


if __name__ == "__main__":
    asyncio.run(main())
