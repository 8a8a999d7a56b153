"""Decoding: every format the emulator serves, fetched through a real adapter, to its duration and
rate; the clear errors for hostile media; ffmpeg killed on cancel, hung or crashed."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from audio.helpers import long_mp3, make_tone
from pydantic import TypeAdapter
from support import ANCHOR

from rectui.audio import (
    DecodeError,
    DecoderFailed,
    DecoderMissing,
    EmptyAudio,
    MediaCache,
    PcmFile,
    start_decode,
)
from rectui.audio.convert import DEVICE_RATES
from rectui.config import ProviderSettings
from rectui.emulator.app import Emulator, EmulatorConfig
from rectui.emulator.audio import encoded_rate
from rectui.emulator.server import EmulatorServer
from rectui.errors import BadResponse
from rectui.models import ListQuery
from rectui.providers.restcomm import RestcommProvider

GENESYS_FORMATS = {"wav": "WAV", "wav_ulaw": "WAV_ULAW", "ogg_vorbis": "OGG_VORBIS", "ogg_opus": "OGG_OPUS",
                   "webm": "WEBM", "mp3": "MP3"}


@pytest.mark.parametrize("fmt", list(GENESYS_FORMATS))
async def test_each_emulator_format_decodes_to_its_duration_and_rate(fmt: str, make_source, cache: MediaCache,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rectui.providers.genesys.MEDIA_FORMAT", GENESYS_FORMATS[fmt])
    src = make_source("genesys", count=30)
    rec = await src.short_recording()
    fact = src.fact(rec)
    media = await cache.fetch(src.provider, rec)
    pcm = cache.decode(media, duration_hint=rec.duration)
    try:
        assert pcm.wait_done(30) and pcm.ok, pcm.error
        source_rate = encoded_rate(fmt, fact.sample_rate)
        expected_rate = 48000 if fmt in ("ogg_opus", "webm") else source_rate   # Opus decodes at 48 kHz
        assert source_rate in DEVICE_RATES or fmt in ("ogg_opus", "webm")
        assert (pcm.rate, pcm.channels, pcm.sample_width) == (expected_rate, fact.channels, 2)
        assert abs(pcm.duration - fact.duration) <= 0.05, (pcm.duration, fact.duration)
        assert pcm.path == cache.pcm_path(media) and pcm.path.exists()
    finally:
        pcm.close()


@pytest.mark.parametrize("kind", ["kazoo", "restcomm", "webex"])
async def test_the_other_adapters_media_decodes_too(kind: str, make_source, cache: MediaCache) -> None:
    src = make_source(kind, count=30)
    rec = await src.short_recording()
    pcm = cache.decode(await cache.fetch(src.provider, rec))
    try:
        assert pcm.wait_done(30) and pcm.ok, pcm.error
        assert abs(pcm.duration - src.fact(rec).duration) <= 0.05
    finally:
        pcm.close()


async def test_sound_can_start_before_decoding_ends(tmp_path: Path) -> None:
    src = long_mp3(tmp_path / "long.mp3", 120, rate=44100, channels=2, bitrate="128k")
    pcm = start_decode(src, tmp_path / "pcm" / "long.wav", duration_hint=120.0)
    try:
        first = pcm.wait_frames(44100 // 4, 30)
        assert first >= 44100 // 4 and pcm.rate == 44100 and pcm.channels == 2
        assert pcm.duration == pytest.approx(120.0, abs=0.5)          # ffmpeg's estimate or the hint
        assert len(pcm.read(0, 1000)) == 4000
        assert pcm.wait_done(60) and pcm.ok
        assert pcm.frames_ready >= first
    finally:
        pcm.close()


@pytest.mark.parametrize(("mode", "error", "words"), [
    ("corrupt", DecodeError, "damaged"),
    ("empty", EmptyAudio, "empty"),
])
@pytest.mark.parametrize("fmt", ["wav", "mp3", "ogg_vorbis", "webm"])
async def test_hostile_media_gives_a_clear_error(mode: str, error: type, words: str, fmt: str, make_source,
                                                 cache: MediaCache, monkeypatch: pytest.MonkeyPatch) -> None:
    if mode == "empty" and fmt == "ogg_vorbis":
        fmt = "ogg_opus"
    monkeypatch.setattr("rectui.providers.genesys.MEDIA_FORMAT", GENESYS_FORMATS[fmt])
    src = make_source("genesys", count=5, faults=f"genesys.download:media={mode}")
    rec = await src.short_recording(most=3600)
    media = await cache.fetch(src.provider, rec)
    try:
        pcm = cache.decode(media)
    except DecodeError as exc:           # refused before ffmpeg ran (not an allowed format)
        assert (error is DecodeError and words in str(exc)) or "not audio" in str(exc)
        return
    try:
        assert pcm.wait_done(30)
        assert isinstance(pcm.error, error), (pcm.error, pcm.warning)
        assert words in pcm.error.message.lower() and pcm.error.title
        assert not pcm.ok
    finally:
        pcm.close()
    assert not cache.pcm_path(media).exists()
    assert not any(p.name.endswith(".part") for p in cache.pcm_dir.iterdir())


async def test_html_and_playlists_are_refused_before_decoding(make_source, cache: MediaCache, tmp_path) -> None:
    src = make_source("restcomm", count=5, faults="restcomm.media:media=html")
    rec = await src.short_recording(most=3600)
    with pytest.raises(BadResponse, match="not audio"):          # the adapter sniffs it
        await cache.fetch(src.provider, rec)
    for body in (b"<!DOCTYPE html><html></html>", b"#EXTM3U\n#EXTINF:10,\nhttp://x/a.ts\n"):
        page = tmp_path / "page.bin"
        page.write_bytes(body)
        with pytest.raises(DecodeError, match="not audio") as info:
            start_decode(page, tmp_path / "out.wav")
        assert info.value.title == "Cannot decode"
    assert not (tmp_path / "out.wav").exists()


async def test_huge_media_is_refused_at_the_size_limit(media_cache: Path, tmp_path: Path) -> None:
    """Over a real socket (the in-process transport would buffer the 2 GB body first)."""
    cache = MediaCache(tmp_path / "c", max_file_bytes=2_000_000)
    emu = Emulator(EmulatorConfig(providers=("restcomm",), count=5, anchor=ANCHOR, media_cache_dir=media_cache,
                                  faults="restcomm.media:media=huge"))
    server = EmulatorServer(emu)
    server.start()
    try:
        provider = RestcommProvider("restcomm", TypeAdapter(ProviderSettings).validate_python(
            emu["restcomm"].config_entry()))
        try:
            rec = (await provider.list_recordings(ListQuery(page_size=5))).items[0]
            with pytest.raises(BadResponse, match="limit"):
                await cache.fetch(provider, rec)
        finally:
            await provider.aclose()
    finally:
        server.stop()
    assert list(cache.media_dir.iterdir()) == []


def test_truncated_wav_plays_what_decoded(tmp_path: Path) -> None:
    whole = make_tone(tmp_path / "t.wav", seconds=2.0).read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole[: len(whole) // 2])
    pcm = start_decode(cut, tmp_path / "cut-pcm.wav")
    try:
        assert pcm.wait_done(30) and pcm.error is None
        assert pcm.duration == pytest.approx(1.0, abs=0.05)
    finally:
        pcm.close()


def _group_gone(pid: int) -> bool:
    """No process is left in ffmpeg's process group, not even a zombie (it was reaped)."""
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return not Path(f"/proc/{pid}").exists()
    return False


def test_cancel_kills_ffmpeg_and_leaves_no_zombie(tmp_path: Path) -> None:
    src = long_mp3(tmp_path / "long.mp3", 1800)
    pcm = start_decode(src, tmp_path / "pcm" / "long.wav")
    assert pcm._proc is not None
    pid = pcm._proc.pid
    pcm.wait_frames(8000, 30)
    pcm.close()                                     # the last user: cancels
    assert pcm.done and pcm.cancelled and pcm.error is None
    assert _group_gone(pid)
    assert list((tmp_path / "pcm").iterdir()) == []


def _stub(tmp_path: Path, body: str) -> str:
    path = tmp_path / "ffmpeg-stub"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


def test_a_hung_decoder_is_stopped_in_time(tmp_path: Path) -> None:
    src = make_tone(tmp_path / "t.wav")
    pcm = start_decode(src, tmp_path / "o.wav", ffmpeg=_stub(tmp_path, "exec sleep 60"), stall_seconds=0.2)
    try:
        assert pcm.wait_done(10)
        assert isinstance(pcm.error, DecoderFailed) and "progress" in pcm.error.message
    finally:
        pcm.close()


def test_a_crashing_decoder_is_reported(tmp_path: Path) -> None:
    src = make_tone(tmp_path / "t.wav")
    pcm = start_decode(src, tmp_path / "o.wav", ffmpeg=_stub(tmp_path, "kill -SEGV $$"))
    try:
        assert pcm.wait_done(10)
        assert isinstance(pcm.error, DecoderFailed) and "crashed" in pcm.error.message
    finally:
        pcm.close()


def test_a_missing_decoder_says_how_to_fix_it(tmp_path: Path) -> None:
    src = make_tone(tmp_path / "t.wav")
    with pytest.raises(DecoderMissing, match="imageio-ffmpeg"):
        start_decode(src, tmp_path / "o.wav", ffmpeg=str(tmp_path / "no-such-ffmpeg"))
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part") or p.name == "o.wav"]


def test_a_cached_pcm_is_reopened_and_a_damaged_one_refused(tmp_path: Path) -> None:
    pcm = start_decode(make_tone(tmp_path / "t.wav", seconds=0.5), tmp_path / "p.wav")
    assert pcm.wait_done(30) and pcm.ok
    again = PcmFile.open(tmp_path / "p.wav")
    assert (again.rate, again.channels, again.frames_ready, again.done) == (8000, 1, 4000, True)
    assert again.read(0, 4000) == pcm.read(0, 4000)
    again.close()
    pcm.close()
    data = (tmp_path / "p.wav").read_bytes()
    (tmp_path / "p.wav").write_bytes(data[:-100])                # cut short after the rename
    with pytest.raises(DecodeError, match="damaged"):
        PcmFile.open(tmp_path / "p.wav")
    (tmp_path / "p.wav").write_bytes(data[:20])
    with pytest.raises((DecodeError, struct.error)):
        PcmFile.open(tmp_path / "p.wav")
