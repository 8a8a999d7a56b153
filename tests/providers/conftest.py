"""Fixtures for the adapter tests: an emulator per test (in-process, by origin) and an adapter
configured exactly as `rectui emulate --write-config` would configure it."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter
from support import ANCHOR, FakeClock, Monotonic

from rectui.config import ProviderSettings
from rectui.emulator.app import Emulator, EmulatorConfig
from rectui.providers import adapter_class
from rectui.providers.http import HttpEvent

KINDS = ("genesys", "kazoo", "restcomm", "webex", "screendesk")
SECRET_FIELD = {"genesys": "client_secret", "kazoo": "api_key", "restcomm": "auth_token",
                "webex": "access_token", "screendesk": "api_token"}
_SETTINGS = TypeAdapter(ProviderSettings)



@dataclass
class Setup:
    kind: str
    emu: Emulator
    provider: Any
    mono: Monotonic
    wall: FakeClock
    events: list[HttpEvent] = field(default_factory=list)

    @property
    def prov_emu(self) -> Any:
        return self.emu[self.kind]


@pytest.fixture
async def make_setup(media_cache: Path) -> AsyncIterator[Callable[..., Setup]]:
    """`make_setup(kind, count=60, hostile=False, faults="", settings={...overrides})`."""
    made: list[Setup] = []

    def make(kind: str, *, count: int = 60, hostile: bool = False, faults: str = "",
             settings: dict[str, Any] | None = None, **emu_kw: Any) -> Setup:
        cls = adapter_class(kind)
        if cls is None:
            pytest.skip(f"the {kind} adapter is not written yet")
        wall = FakeClock(ANCHOR.timestamp() + 3600)
        mono = Monotonic()

        async def emu_sleep(_seconds: float) -> None:
            return None

        emu = Emulator(EmulatorConfig(providers=(kind,), count=count, hostile=hostile, faults=faults,
                                      anchor=ANCHOR, media_cache_dir=media_cache, **emu_kw),
                       clock=wall, sleep=emu_sleep)
        entry = {**emu[kind].config_entry(), **(settings or {})}
        conf = _SETTINGS.validate_python(entry)
        events: list[HttpEvent] = []
        provider = cls(kind, conf, transport=emu.transport(), clock=mono, wall=wall, sleep=mono.sleep,
                       rng=random.Random(0), on_event=events.append)
        setup = Setup(kind, emu, provider, mono, wall, events)
        made.append(setup)
        return setup

    yield make
    for s in made:
        await s.provider.aclose()
