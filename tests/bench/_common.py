"""Shared helpers for the benchmark scripts (run them with `.venv/bin/python tests/bench/<name>.py`).
They print figures; they never assert timings."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import TypeAdapter

from rectui.config import ProviderSettings
from rectui.emulator.app import Emulator, EmulatorConfig
from rectui.emulator.server import EmulatorServer
from rectui.models import PROVIDER_KINDS
from rectui.providers import build_provider

_SETTINGS = TypeAdapter(ProviderSettings)


def rss_mb() -> float:
    """Resident set size now (not the peak), MB: /proc/self/statm."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (f"n={len(ms):>4}  p50={pct(ms, 50):7.2f} ms  p99={pct(ms, 99):7.2f} ms  "
            f"mean={statistics.fmean(ms):7.2f} ms")


@contextmanager
def served(count: int, seed: int = 1, **kw: Any) -> Iterator[tuple[Emulator, EmulatorServer, float]]:
    """An emulator with `count` recordings per provider on loopback; yields the start time too."""
    t0 = time.perf_counter()
    emu = Emulator(EmulatorConfig(seed=seed, count=count, **kw))
    server = EmulatorServer(emu)
    server.start()
    started = time.perf_counter() - t0
    try:
        yield emu, server, started
    finally:
        server.stop()


@contextmanager
def emulate_process(count: int, seed: int = 1) -> Iterator[tuple[dict[str, Any], float]]:
    """`rectui emulate` in its own process (as a real provider is another machine's CPU);
    yields the provider settings from the config it writes, and how long it took to be ready."""
    import signal
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from rectui.config import load_config
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "emu.toml"
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "rectui", "emulate", "--count", str(count), "--seed", str(seed),
                                 "--write-config", str(config)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("Press Ctrl+C"):
                break
        ready = time.perf_counter() - t0
        try:
            yield load_config(config, use_keyring=False).providers, ready
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
            proc.stdout.close()


def adapters_from(settings: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {name: build_provider(name, conf, **kw) for name, conf in settings.items()}


def adapters(emu: Emulator, **kw: Any) -> dict[str, Any]:
    out = {}
    for kind in PROVIDER_KINDS:
        conf = _SETTINGS.validate_python(emu[kind].config_entry())
        out[kind] = build_provider(kind, conf, **kw)
    return out
