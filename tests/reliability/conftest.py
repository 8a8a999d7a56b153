"""Fixtures for the fault and bad-input plan (RELIABILITY.md §6): the adapter tests' emulator +
adapter set-up, a virtual clock shared by the queue, the adapter and the emulator, and the
Hypothesis profiles.

Hypothesis profiles: `ci` (the default, a few dozen examples per property, quick) and `slow`
(thousands), chosen with `--hypothesis-profile slow` or `RECTUI_HYPOTHESIS_PROFILE=slow`."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

from hypothesis import HealthCheck, settings
from providers import conftest as _adapter_fixtures

make_setup = _adapter_fixtures.make_setup
Setup = _adapter_fixtures.Setup
KINDS = _adapter_fixtures.KINDS
SECRET_FIELD = _adapter_fixtures.SECRET_FIELD

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("slow", max_examples=3000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
if settings.get_current_profile_name() == "default":      # not chosen with --hypothesis-profile
    settings.load_profile(os.environ.get("RECTUI_HYPOTHESIS_PROFILE", "ci"))


def virtual(s: Setup) -> Callable[[float], Awaitable[None]]:
    """One virtual clock for a set-up: the adapter's monotonic clock (`s.mono`), the emulator's
    wall clock (`s.wall`) and whoever else is given the returned sleep, advanced only by sleeps."""

    async def sleep(seconds: float) -> None:
        s.mono.slept.append(seconds)
        s.mono.now += seconds
        s.wall.advance(seconds)
        await asyncio.sleep(0)

    s.provider.http.sleep = sleep
    return sleep
