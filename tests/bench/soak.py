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
* key latency: how long each key press takes to be handled, p50/p99.

    .venv/bin/python tests/bench/soak.py [--minutes 10] [--seed 1] [--fault-rate 0.05]

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

from _common import pct

SIZE = (160, 45)
DELETE_ROUTES = {"genesys": "delete", "kazoo": "delete", "restcomm": "delete"}
"""Providers whose DELETE carries the id in its path (Webex's soft delete carries it in the body:
it is checked through its recycle bin instead; Screendesk cannot delete)."""


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


def rss_mb() -> float:
    """Resident set size now (not the peak): /proc/self/statm."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.latency: list[float] = []
        self.crashes: list[str] = []
        self.confirmed: set[tuple[str, str]] = set()
        self.actions: collections.Counter[str] = collections.Counter()
        self.rss: list[tuple[float, float]] = []

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
        for key in keys:
            t0 = time.perf_counter()
            await pilot.press(key)
            self.latency.append(time.perf_counter() - t0)

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
        roll = self.rng.random()
        if roll < 0.45:
            name = "browse"
            await self.press(pilot, self.rng.choice(["down", "down", "down", "up", "j", "k", "n", "p", "g", "G", "s",
                                                     "S", "r", "v", "1", "2", "3", "4", "5", "0", "tab"]))
        elif roll < 0.55:
            name = "play"
            await self.press(pilot, self.rng.choice(["enter", "enter", "z", "right_square_bracket", "m"]))
        elif roll < 0.62:
            name = "tag"
            await self.press(pilot, "t")
            await pilot.pause(0.05)
            if not isinstance(app.screen, MainScreen):
                await self.press(pilot, *f"soak{self.rng.randint(0, 9)}", "enter", "enter")
        elif roll < 0.72:
            name = "delete"
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
        elif roll < 0.80:
            name = "filter"
            await self.press(pilot, "slash", *self.rng.choice(["a", "call", "会", "[/"]), "escape")
        elif roll < 0.88:
            name = "screens"
            await self.press(pilot, self.rng.choice(["e", "question_mark", "ctrl+p"]))
            await pilot.pause(0.05)
            await self.back_to_main(pilot)
        else:
            name = "idle"
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
                            if not self.rss or now - self.rss[-1][0] >= 1.0:
                                self.rss.append((now, rss_mb()))
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
        for key in lost + duplicated:
            print(f"  {key}: journal {journal.get(key)}, DELETE statuses {sent.get(key)}")
        print(f"key latency: p50 {pct(ms, 50):.1f} ms, p99 {pct(ms, 99):.1f} ms, max {max(ms, default=0):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=2000, help="recordings per provider")
    parser.add_argument("--fault-rate", type=float, default=0.05, help="probability of each fault per request")
    asyncio.run(Soak(parser.parse_args()).run())


if __name__ == "__main__":
    main()
