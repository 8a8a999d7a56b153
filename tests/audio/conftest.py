"""Fixtures for the audio tests: adapters over the emulator (real HTTP through ASGI, real media),
a media cache in tmp_path, a fake monotonic clock, and short test tones made with the bundled
ffmpeg."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from audio.helpers import FakeMonotonic, make_tone
from pydantic import TypeAdapter
from support import ANCHOR, FakeClock, Monotonic

from rectui.audio import MediaCache, PcmFile, start_decode
from rectui.config import ProviderSettings
from rectui.emulator.app import Emulator, EmulatorConfig
from rectui.emulator.dataset import Fact
from rectui.models import ListQuery, Recording
from rectui.providers import adapter_class

_SETTINGS = TypeAdapter(ProviderSettings)


@dataclass
class Source:
    """An adapter configured as `rectui emulate --write-config` would, and its emulator."""

    kind: str
    emu: Emulator
    provider: Any

    def fact(self, recording: Recording) -> Fact:
        """The emulator's ground truth behind a listed recording."""
        prov = self.emu[self.kind]
        for i in range(prov.data.count):
            f = prov.data.fact(i)
            if prov.recording_id(f) == recording.id:
                return f
        raise LookupError(recording.id)

    async def short_recording(self, most: float = 20.0) -> Recording:
        """A recording with media, at most `most` seconds long (short keeps the suite fast)."""
        page = await self.provider.list_recordings(ListQuery(page_size=50))
        for rec in sorted(page.items, key=lambda r: r.duration or 0):
            if rec.has_media and 2.0 <= (rec.duration or 0) <= most:
                detail = await self.provider.get_recording(rec.id)
                if detail.has_media:
                    return detail
        raise LookupError("no short recording with media")


@pytest.fixture
async def make_source(media_cache: Path) -> AsyncIterator[Callable[..., Source]]:
    """`make_source(kind, count=40, faults="")` → a `Source`; emulator sleeps cost nothing."""
    made: list[Source] = []

    def make(kind: str, *, count: int = 40, faults: str = "", **emu_kw: Any) -> Source:
        cls = adapter_class(kind)
        assert cls is not None
        wall = FakeClock(ANCHOR.timestamp() + 3600)
        mono = Monotonic()

        async def no_sleep(_seconds: float) -> None:
            return None

        emu = Emulator(EmulatorConfig(providers=(kind,), count=count, faults=faults, anchor=ANCHOR,
                                      media_cache_dir=media_cache, **emu_kw), clock=wall, sleep=no_sleep)
        if kind == "genesys":
            emu["genesys"].transcode_polls = 0
        conf = _SETTINGS.validate_python(emu[kind].config_entry())
        provider = cls(kind, conf, transport=emu.transport(), clock=mono, wall=wall, sleep=mono.sleep,
                       rng=random.Random(0))
        src = Source(kind, emu, provider)
        made.append(src)
        return src

    yield make
    for s in made:
        await s.provider.aclose()


@pytest.fixture
def cache(tmp_path: Path) -> MediaCache:
    return MediaCache(tmp_path / "cache")


@pytest.fixture
def fake_clock() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def tone_pcm(tmp_path: Path) -> Iterator[Callable[..., PcmFile]]:
    """`tone_pcm(seconds=1.0, rate=8000, channels=1)` → a decoded, complete PcmFile."""
    opened: list[PcmFile] = []

    def make(seconds: float = 1.0, rate: int = 8000, channels: int = 1) -> PcmFile:
        n = len(opened)
        src = make_tone(tmp_path / f"tone{n}.wav", seconds=seconds, rate=rate, channels=channels)
        pcm = start_decode(src, tmp_path / "pcm" / f"tone{n}.wav")
        assert pcm.wait_done(30) and pcm.ok, pcm.error
        opened.append(pcm)
        return pcm

    yield make
    for pcm in opened:
        pcm.close()
