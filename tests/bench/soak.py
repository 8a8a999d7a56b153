"""Soak (prints figures, asserts nothing): the app driven with Pilot for `--minutes` against the
emulator on loopback (real HTTP) with random faults on, browsing, playing (the silent player:
real downloads and decodes, no sound card), tagging and deleting, one random key or action after
another. It reports:

* crashes (goal 0): the app stopping, or an exception out of a key press; unexpected worker
  errors are counted apart (the app shows them and carries on);
* deletes (goal 0 lost, 0 duplicated, 0 unconfirmed): the emulator's DELETE log and recycle bin,
  the journal and the targets the confirm dialogs locked, compared once the faults are off;
* peak RSS growth of the app's process over the run, after a warm-up (goal < 20 MB; the emulator
  runs in a process of its own);
* key latency: how long Pilot's `press` takes for each key, p50/p99, and the slowest and fastest
  keys. It is an upper bound: after the key is handled Pilot waits until the whole process looks
  idle (CPU time against wall time, up to 1 s, twice), so audio decodes and page loads running in
  worker threads lengthen it; `tests/bench/bench_ui.py` measures key → cursor and detail directly.

    .venv/bin/python tests/bench/soak.py [--minutes 10] [--seed 1] [--fault-rate 0.05]
        [--actions browse,play,tag,delete,filter,screens,idle] [--trace [FRAMES]]

`--actions` keeps only some actions (to find which one grows memory); `--trace` adds, between the
end of the warm-up and the end of the run, the Python allocations still alive (tracemalloc, by
traceback of FRAMES frames), the growth of live objects by type (gc) and glibc's heap figures
(mallinfo2). Tracing slows the app and its own tables count in the RSS: compare RSS without it.

Its state (store, logs, audio cache) goes to a temporary XDG tree, never the user's.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

sys.path.insert(0, str(Path(__file__).parent))

from _common import pct, rss_mb

SIZE = (160, 45)
DELETE_ROUTES = {"genesys": "delete", "kazoo": "delete", "restcomm": "delete"}
"""Providers whose DELETE carries the id in its path (Webex's soft delete carries it in the body:
it is checked through its recycle bin instead; Screendesk cannot delete)."""

ACTIONS = {"browse": 0.45, "play": 0.10, "tag": 0.07, "delete": 0.10, "filter": 0.08, "screens": 0.08, "idle": 0.12}
"""The soak's actions and how often each is picked."""


def done(outcome: str) -> bool:
    """A journal outcome saying the recording is gone (`deleted`, `deleted-confirmed-by-404`,
    `already-gone`)."""
    return outcome.startswith("deleted") or outcome == "already-gone"


def serve_emulator(conn: Any, count: int, seed: int, root: str) -> None:
    """The emulator in its own process (its memory is not the app's), answering the soak's
    commands on `conn`: set or clear faults, report what it received, stop."""
    os.environ["XDG_CACHE_HOME"] = str(Path(root) / "emulator-cache")
    from rectui.emulator.app import Emulator, EmulatorConfig
    from rectui.emulator.server import EmulatorServer

    emu = Emulator(EmulatorConfig(count=count, seed=seed))
    emu.log.records = collections.deque(maxlen=2_000_000)
    server = EmulatorServer(emu, log_level="critical")
    server.start()
    conn.send({kind: prov.config_entry() for kind, prov in emu.providers.items()})
    while True:
        command, arg = conn.recv()
        if command == "faults":
            emu.faults.set(arg)
        elif command == "report":
            conn.send({
                "deletes": [(r.provider, r.route, r.path, r.status) for r in emu.log.records
                            if r.method == "DELETE" and r.origin == "api"],
                "listed": {kind: emu[kind].listed_ids() for kind in DELETE_ROUTES},
                "binned": emu["webex"].listed_ids("deleted"),
            })
        elif command == "stop":
            server.stop()
            conn.send("stopped")
            return
        if command == "faults":
            conn.send("ok")


def faults(rate: float) -> str:
    """Random faults on every provider: failing and slow lists and details, bad JSON, 429s, failing
    and ambiguous deletes, Genesys' asynchronous delete, damaged and HTML media."""
    r = f"rate={rate:g}"
    return "; ".join([
        f"*.list:status=503,{r}", f"*.list:malformed_json,rate={rate / 2:g}", f"*.get:status=500,{r}",
        f"*.*:latency=0.2,{r}", f"*.list:status=429,retry_after=1,rate={rate / 2:g}",
        f"*.delete:status=500,{r}", f"kazoo.delete:delete_apply_then_fail,{r}",
        f"restcomm.delete:delete_apply_then_fail,{r}", "genesys.delete:delete_async_ghost=5,rate=0.3",
        f"*.media:media=corrupt,{r}", f"*.media:media=html,rate={rate / 2:g}",
    ])


class Trace:
    """Where memory went between the end of the warm-up and the end of the run: the Python
    allocations made after the warm-up and still alive at the end (tracemalloc, started only then,
    so the warm-up runs at full speed), live objects counted by type (gc), glibc's heap figures."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.started = False
        self.after: Any = None
        self.types: tuple[collections.Counter[str], collections.Counter[str]] = (collections.Counter(),
                                                                                   collections.Counter())
        self.heap: list[dict[str, int]] = []

    @staticmethod
    def count_types() -> collections.Counter[str]:
        import gc
        gc.collect()
        return collections.Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())

    def start(self) -> None:
        import tracemalloc
        self.types[0].update(self.count_types())
        self.heap.append(mallinfo())
        tracemalloc.start(self.frames)
        self.started = True

    def stop(self) -> None:
        import gc
        import tracemalloc
        gc.collect()
        self.after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        self.types[1].update(self.count_types())
        self.heap.append(mallinfo())

    def report(self) -> None:
        import tracemalloc
        if self.after is None:
            print("trace: the run ended before the warm-up did")
            return
        keep = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib*")]
        stats = self.after.filter_traces(keep).statistics("traceback")
        total = sum(st.size for st in stats)
        print(f"Python allocations made after the warm-up and alive at the end: {total / 2**20:.2f} MB in "
              f"{len(stats)} tracebacks; top 12:")
        for st in stats[:12]:
            print(f"  {st.size / 2**10:9.1f} KiB {st.count:7d} blocks")
            for line in st.traceback.format(limit=self.frames, most_recent_first=True):
                print("     " + line.strip())
        grown = ((self.types[1][k] - self.types[0][k], k) for k in set(self.types[0]) | set(self.types[1]))
        top = sorted((g for g in grown if g[0]), reverse=True)[:25]
        print("live objects grown by type: " + ", ".join(f"{k} {n:+d}" for n, k in top))
        if len(self.heap) == 2 and all(self.heap):
            before, after = self.heap
            print("glibc heap (mallinfo2) after warm-up -> end, MB: " + ", ".join(
                f"{k} {before[k] / 2**20:.1f}->{after[k] / 2**20:.1f}" for k in before))


def mallinfo() -> dict[str, int]:
    """glibc's heap figures (empty elsewhere): arena (brk heap + thread arenas' size), in use
    (uordblks), free in the heap (fordblks), mmapped blocks (hblkhd), releasable top (keepcost)."""
    import ctypes
    import ctypes.util

    class Info(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                   "fsmblks", "uordblks", "fordblks", "keepcost")]
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.mallinfo2
    except (OSError, AttributeError):
        return {}
    fn.restype = Info
    info = fn()
    return {"arena": info.arena, "in use": info.uordblks, "free": info.fordblks, "mmapped": info.hblkhd,
            "top": info.keepcost}


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.latency: list[float] = []
        self.by_key: collections.defaultdict[str, list[float]] = collections.defaultdict(list)
        """Key latencies by "<key> on <screen>", for the slowest keys in the report."""
        self.crashes: list[str] = []
        self.confirmed: set[tuple[str, str]] = set()
        self.actions: collections.Counter[str] = collections.Counter()
        self.rss: list[tuple[float, float]] = []
        self.names = [n for n in ACTIONS if n in args.actions.split(",")]
        if not self.names:
            raise SystemExit(f"--actions: pick among {', '.join(ACTIONS)}")
        self.trace: Trace | None = Trace(args.trace) if args.trace else None

    # -- the app -----------------------------------------------------------------------------
    def build(self, entries: dict[str, Any], root: Path) -> Any:
        from rectui.app import DEMO_NAMES, build_providers, make_app
        from rectui.audio import SilentPlayer
        from rectui.messages import EventRelay
        from rectui.operations import Operations
        from rectui.screens.playback import AudioOptions
        from rectui.store import Store

        relay = EventRelay()
        providers, errors = build_providers({k: {**v, "display_name": DEMO_NAMES[k]} for k, v in entries.items()},
                                            relay=relay)
        store = Store(root / "soak.db")
        ops = Operations(providers, store)
        audio = AudioOptions(cache_root=root / "audio", cache_mb=256, make_player=SilentPlayer, probe=lambda: None)
        app = make_app(providers, config_errors=errors, relay=relay, store=store, operations=ops, audio=audio,
                       cursor_blink=False)
        return app

    async def press(self, pilot: Any, *keys: str) -> None:
        screen = type(pilot.app.screen).__name__
        for key in keys:
            t0 = time.perf_counter()
            await pilot.press(key)
            took = time.perf_counter() - t0
            self.latency.append(took)
            self.by_key[f"{key} on {screen}"].append(took)

    async def back_to_main(self, pilot: Any) -> None:
        from rectui.screens.main import MainScreen
        for _ in range(4):
            if isinstance(pilot.app.screen, MainScreen):
                return
            await self.press(pilot, "escape")

    # -- actions -----------------------------------------------------------------------------
    async def act(self, pilot: Any) -> None:
        from rectui.screens.confirm import ConfirmDialog
        from rectui.screens.main import MainScreen

        app = pilot.app
        screen = app.screen
        if not isinstance(screen, MainScreen):
            await self.back_to_main(pilot)
            return
        name = self.rng.choices(self.names, weights=[ACTIONS[n] for n in self.names])[0]
        if name == "browse":
            await self.press(pilot, self.rng.choice(["down", "down", "down", "up", "j", "k", "n", "p", "g", "G", "s",
                                                     "S", "r", "v", "1", "2", "3", "4", "5", "0", "tab"]))
        elif name == "play":
            await self.press(pilot, self.rng.choice(["enter", "enter", "z", "right_square_bracket", "m"]))
        elif name == "tag":
            await self.press(pilot, "t")
            await pilot.pause(0.05)
            if not isinstance(app.screen, MainScreen):
                await self.press(pilot, *f"soak{self.rng.randint(0, 9)}", "enter", "enter")
        elif name == "delete":
            if self.rng.random() < 0.3:
                await self.press(pilot, *["space"] * self.rng.randint(2, 4))
            await self.press(pilot, "d")
            await pilot.pause(0.05)
            dialog = app.screen
            if isinstance(dialog, ConfirmDialog):
                if self.rng.random() < 0.15:            # changed their mind
                    await self.press(pilot, "escape")
                else:
                    targets = {(t.provider, t.id) for t in dialog.plan.targets}
                    if dialog.plan.type_count:
                        await self.press(pilot, *str(dialog.plan.count), "enter", "enter")
                    else:
                        await self.press(pilot, "y")
                    if not isinstance(app.screen, ConfirmDialog):
                        self.confirmed |= targets
        elif name == "filter":
            await self.press(pilot, "slash", *self.rng.choice(["a", "call", "会", "[/"]), "escape")
        elif name == "screens":
            await self.press(pilot, self.rng.choice(["e", "question_mark", "ctrl+p"]))
            await pilot.pause(0.05)
            await self.back_to_main(pilot)
        else:
            await pilot.pause(self.rng.uniform(0.05, 0.5))
        self.actions[name] += 1
        await self.back_to_main(pilot)

    # -- the run -----------------------------------------------------------------------------
    async def run(self) -> None:
        import multiprocessing

        root = Path(tempfile.mkdtemp(prefix="rectui-soak-"))
        for name in ("CONFIG", "DATA", "CACHE", "STATE"):
            (root / name.lower()).mkdir()
            os.environ[f"XDG_{name}_HOME"] = str(root / name.lower())
        ctx = multiprocessing.get_context("spawn")
        conn, child_conn = ctx.Pipe()
        child = ctx.Process(target=serve_emulator, args=(child_conn, self.args.count, self.args.seed, str(root)),
                            daemon=True)
        child.start()
        entries = conn.recv()

        def set_faults(spec: str) -> None:
            conn.send(("faults", spec))
            conn.recv()

        spec = faults(self.args.fault_rate)
        set_faults(spec)
        deadline = time.monotonic() + self.args.minutes * 60
        warm = time.monotonic() + min(60.0, self.args.minutes * 10)
        base_rss: float | None = None
        worker_errors = 0
        try:
            while time.monotonic() < deadline:
                app = self.build(entries, root)
                try:
                    async with app.run_test(size=SIZE) as pilot:
                        while time.monotonic() < deadline:
                            if not app.is_running:
                                self.crashes.append("the app stopped")
                                break
                            await self.act(pilot)
                            now = time.monotonic()
                            if base_rss is None and now >= warm:
                                base_rss = rss_mb()
                                if self.trace:
                                    self.trace.start()
                            if not self.rss or now - self.rss[-1][0] >= 1.0:
                                self.rss.append((now, rss_mb()))
                        if self.trace and self.trace.started:
                            self.trace.stop()
                        set_faults("")                      # settle: every queued delete finishes
                        await self.drain(pilot)
                        worker_errors += sum(1 for n in app._notifications if n.title.startswith("Unexpected"))
                except Exception as exc:                    # a crash is a figure here
                    self.crashes.append(f"{type(exc).__name__}: {exc}"[:300])
                    set_faults(spec)
            await asyncio.sleep(6)                          # Genesys' ghosts (5 s) leave the listings
            conn.send(("report", None))
            from rectui.store import Store
            self.report(conn.recv(), Store(root / "soak.db"), base_rss, worker_errors)
        finally:
            conn.send(("stop", None))
            conn.recv()
            child.join(10)

    async def drain(self, pilot: Any, limit: float = 120.0) -> None:
        """Wait until no batch is running (the queue has finished every confirmed delete)."""
        from rectui.screens.main import MainScreen
        end = time.monotonic() + limit
        await self.back_to_main(pilot)
        screen = pilot.app.screen_stack[0]
        assert isinstance(screen, MainScreen)
        while time.monotonic() < end:
            if all(b.finished for b in screen.batches) and not any(
                    w.is_running and w.group not in ("audio", "audio-waveform") for w in pilot.app.workers):
                return
            await pilot.pause(0.1)

    # -- figures -----------------------------------------------------------------------------
    def report(self, server: dict[str, Any], store: Any, base_rss: float | None, worker_errors: int) -> None:
        sent: dict[tuple[str, str], list[int]] = collections.defaultdict(list)
        for provider, route, path, status in server["deletes"]:
            if route == DELETE_ROUTES.get(provider):
                sent[(provider, unquote(path.rstrip("/").rsplit("/", 1)[-1]))].append(status)
        journal: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
        for entry in store.journal(limit=None):
            if entry.op == "delete":
                journal[(entry.provider, entry.recording_id)].append(entry.outcome)
        listed = {kind: set(ids) for kind, ids in server["listed"].items()}
        binned = set(server["binned"])
        unconfirmed = sorted(k for k in sent if k not in self.confirmed)
        lost, duplicated, unsettled, failed = [], [], [], 0
        for key in sorted(self.confirmed):
            provider, rid = key
            outcomes = journal.get(key, [])
            if not outcomes or any(o in ("queued", "pending") for o in outcomes):
                unsettled.append(key)
                continue
            gone = [o for o in outcomes if done(o)]
            on_server = rid in binned if provider == "webex" else rid not in listed.get(provider, set())
            if gone and not on_server:
                lost.append(key)                            # journaled done, still there
            elif not gone and on_server and provider != "webex":
                lost.append(key)                            # journaled failed, yet deleted
            if not gone:
                failed += 1
            if len([s for s in sent.get(key, []) if 200 <= s < 300]) > 1 or len(gone) > 1:
                duplicated.append(key)
        growth = max((r for _, r in self.rss), default=0.0) - (base_rss or (self.rss[0][1] if self.rss else 0.0))
        ms = [v * 1000 for v in self.latency]
        print(f"soak: {self.args.minutes:g} min, seed {self.args.seed}, {self.args.count:,} recordings per provider, "
              f"fault rate {self.args.fault_rate:g}")
        print(f"actions: {dict(self.actions)}; key presses: {len(ms)}")
        print(f"crashes: {len(self.crashes)} (goal 0) {self.crashes[:3]}; unexpected worker errors shown: "
              f"{worker_errors}")
        print(f"deletes confirmed: {len(self.confirmed)}; DELETE requests: {sum(len(v) for v in sent.values())}; "
              f"failed and said so: {failed}")
        print(f"lost: {len(lost)} {lost[:3]}; duplicated: {len(duplicated)} {duplicated[:3]}; "
              f"sent without confirmation: {len(unconfirmed)} {unconfirmed[:3]}; unsettled: {len(unsettled)} "
              "(goal 0 each)")
        print(f"RSS: {self.rss[0][1] if self.rss else 0:.1f} MB at start, {base_rss or 0:.1f} MB after warm-up, "
              f"peak {max((r for _, r in self.rss), default=0):.1f} MB; growth {growth:.1f} MB (goal < 20 MB); "
              f"ru_maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MB")
        if self.rss:
            quarters = [self.rss[min(len(self.rss) - 1, len(self.rss) * q // 4)][1] for q in (1, 2, 3, 4)]
            print("RSS at each quarter of the run: " + ", ".join(f"{r:.1f}" for r in quarters) + " MB")
        if heap := mallinfo():
            print("glibc heap at the end, MB: " + ", ".join(f"{k} {v / 2**20:.1f}" for k, v in heap.items()))
        for key in lost + duplicated:
            print(f"  {key}: journal {journal.get(key)}, DELETE statuses {sent.get(key)}")
        if self.trace:
            self.trace.report()
        print(f"key latency: p50 {pct(ms, 50):.1f} ms, p99 {pct(ms, 99):.1f} ms, max {max(ms, default=0):.1f} ms")
        ranked = sorted(self.by_key.items(), key=lambda kv: -pct(kv[1], 50))

        def line(items: list[tuple[str, list[float]]]) -> str:
            return "; ".join(f"{k} {pct(v, 50) * 1000:.0f}/{pct(v, 99) * 1000:.0f} ms ×{len(v)}" for k, v in items)
        print(f"slowest keys (median/p99, presses): {line(ranked[:8])}")
        print(f"fastest keys (median/p99, presses): {line(ranked[-4:])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=2000, help="recordings per provider")
    parser.add_argument("--fault-rate", type=float, default=0.05, help="probability of each fault per request")
    parser.add_argument("--actions", default=",".join(ACTIONS), help="comma list of the actions to run")
    parser.add_argument("--trace", type=int, nargs="?", const=4, default=0, metavar="FRAMES",
                        help="report Python allocation (tracebacks of FRAMES frames), object count and malloc "
                             "growth over the run")
    asyncio.run(Soak(parser.parse_args()).run())


if __name__ == "__main__":
    main()
