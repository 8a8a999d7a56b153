"""Shared test constants and helpers (importable as `support`: tests/ is on pytest's pythonpath)."""

from __future__ import annotations

from datetime import UTC, datetime

ANCHOR = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
"""The emulator datasets' newest recording time in tests."""


class FakeClock:
    """A settable clock for the emulator (token and link expiry, default windows)."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Monotonic:
    """An adapter's monotonic clock, advanced only by its own (fake) sleeps: retries and
    Retry-After waits cost no real time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
