"""Plan rows 34–41 (RELIABILITY.md §6), the audio faults, through the app with Pilot where the
promise is what the user sees: real media from the emulator (its `media=` fault knob), the real
cache and the bundled ffmpeg, the real player logic (`SilentPlayer`, or `SimpleaudioPlayer` with
simpleaudio's module spied on or made to fail). Deadlines are tiny configured ones (the decoder's
stall deadline), never wall-clock assertions; `until` only bounds how long a test waits for a
background thread."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ui.harness import Harness, build, screen_text, settle

from rectui.audio import MediaCache, SilentPlayer, SimpleaudioPlayer, tools
from rectui.audio import convert as convert_mod
from rectui.audio.convert import DEMUXERS, ffmpeg_command
from rectui.mediafiles import sniff_file
from rectui.screens.main import MainScreen
from rectui.screens.playback import AudioOptions
from rectui.screens.save_audio import SaveAudioDialog

SIZE = (160, 45)
BUSY = "Error opening PCM device. -- CODE: -16 -- MSG: Device or resource busy"


# -- helpers ---------------------------------------------------------------------------------------

def notes(h: Harness) -> list[tuple[str, str]]:
    return [(n.title, n.message) for n in h.app._notifications]


async def until(pilot: Any, check: Callable[[], bool], limit: float = 30.0) -> bool:
    """Let the app run until `check()` holds (a bound on waiting for the decoder's and player's
    threads, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if check():
            return True
        await pilot.pause(0.02)
    return check()


async def play_first(h: Harness, pilot: Any) -> MainScreen:
    """Open the only provider and press enter on its first recording with media."""
    await settle(pilot)
    await pilot.press("1")
    await settle(pilot)
    screen = h.app.screen
    assert isinstance(screen, MainScreen)
    for _ in range(40):
        rec = screen.table.current()
        if rec is not None and rec.has_media and rec.id_valid and (rec.duration or 0) < 600:
            break
        await pilot.press("down")
    await pilot.press("enter")
    await settle(pilot, rounds=40)
    return screen


class CountingPlayer(SilentPlayer):
    """The silent player, counting how often its thread tries to start a window (a player that
    is idle after an error tries no more)."""

    def __init__(self, **kwargs: Any) -> None:
        self.tries = 0
        super().__init__(**kwargs)

    def _start_window(self, gen: int, pcm: Any, at: float) -> Any:
        self.tries += 1
        return super()._start_window(gen, pcm, at)


class SpiedSimpleaudio:
    """simpleaudio as the player sees it, recording every buffer handed to `play_buffer`
    (`busy`: each call fails as ALSA's EBUSY does)."""

    def __init__(self, real: Any, error: type[Exception], *, busy: bool = False) -> None:
        self.real, self.error, self.busy = real, error, busy
        self.buffers: list[int] = []

    def play_buffer(self, data: bytes, channels: int, width: int, rate: int) -> Any:
        self.buffers.append(len(data))
        if self.busy:
            raise self.error(BUSY)
        return self.real.play_buffer(data, channels, width, rate)


def spied_player(clock: Any, *, busy: bool = False) -> tuple[Callable[[], SimpleaudioPlayer], list[SpiedSimpleaudio]]:
    made: list[SpiedSimpleaudio] = []

    def make() -> SimpleaudioPlayer:
        player = SimpleaudioPlayer(clock=clock)
        spy = SpiedSimpleaudio(player._sa, player._sa_error, busy=busy)
        player._sa = spy
        made.append(spy)
        return player

    return make, made


@pytest.fixture
def capture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tests' ALSA capture device writes here (no sound card is touched)."""
    out = tmp_path / "played.raw"
    monkeypatch.setenv("RECTUI_ALSA_CAPTURE", str(out))
    return out


@pytest.fixture
def no_ffmpeg(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The bundled ffmpeg gone (imageio-ffmpeg cannot find its binary)."""
    import imageio_ffmpeg

    def missing() -> str:
        raise RuntimeError("No ffmpeg exe could be found.")

    tools.ffmpeg_exe.cache_clear()
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", missing)
    yield
    tools.ffmpeg_exe.cache_clear()


def ffmpeg_stub(tmp_path: Path, body: str) -> tuple[str, Path]:
    """A fake ffmpeg that records its pid, then does `body` (hang, crash)."""
    pidfile = tmp_path / "stub.pid"
    path = tmp_path / "ffmpeg-stub"
    path.write_text(f"#!/bin/sh\necho $$ > {pidfile}\n{body}\n")
    path.chmod(0o755)
    return str(path), pidfile


def played_bytes(capture: Path) -> int:
    """What the ALSA capture device received."""
    return capture.stat().st_size if capture.exists() else 0


def run_ffmpeg_on(bodies: list[bytes], tmp_path: Path) -> None:
    """Each body through ffmpeg as rectui runs it, with every allowed demuxer: nothing decodes."""
    for body in bodies:
        probe = tmp_path / "script.bin"
        probe.write_bytes(body)
        assert sniff_file(probe) not in DEMUXERS
        for demuxer in sorted(set(DEMUXERS.values())):
            run = subprocess.run(ffmpeg_command(tools.ffmpeg_exe(), demuxer), input=body, capture_output=True,
                                 timeout=60, check=False)
            assert run.returncode != 0 or not run.stdout[44:].strip(b"\x00")


def reaped(pid: int) -> bool:
    """The process is gone and was waited for: not even a zombie is left."""
    return not Path(f"/proc/{pid}").exists()


# -- rows ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["corrupt", "html"])
async def test_r34_corrupt_or_html_media_cannot_be_decoded_and_the_player_stays_idle(
        media_cache: Path, mode: str) -> None:
    players: list[CountingPlayer] = []

    def make() -> CountingPlayer:
        players.append(CountingPlayer(clock=time.monotonic))
        return players[-1]

    h = build(media_cache, kinds=("kazoo",), count=30, faults=f"kazoo.media:media={mode}",
              audio=AudioOptions(make_player=make, probe=lambda: None))
    async with h.app.run_test(size=SIZE) as pilot:
        screen = await play_first(h, pilot)
        assert len(h.emu.log.for_route("kazoo", "media")) == 1
        if mode == "html":
            # The adapter sniffs the download: a web page never reaches ffmpeg nor a player.
            assert await until(pilot, lambda: any(t == "Not audio" for t, _ in notes(h)))
            assert any("not audio" in m for t, m in notes(h) if t == "Not audio")
            assert not players and screen.playback.current is None
        else:
            # Real ffmpeg fails on the damaged bytes: said once, and the player does nothing more.
            assert await until(pilot, lambda: any(t == "Cannot decode" for t, _ in notes(h)))
            (player,) = players
            state = player.snapshot()
            assert state.status == "error" and state.error is not None and state.error.title == "Cannot decode"
            assert "cannot decode" in state.error.message
            tries = player.tries
            await pilot.pause(0.3)
            assert player.tries == tries, "the player keeps polling a failed decode"
            assert [t for t, _ in notes(h)].count("Cannot decode") == 1
            assert "Cannot decode" in screen_text(h.app)
        await pilot.press("down", "down")              # browsing goes on
        await settle(pilot)
        assert h.app.is_running and screen.table.cursor_row >= 2


async def test_r35_zero_frame_audio_is_said_empty_and_simpleaudio_never_gets_an_empty_buffer(
        media_cache: Path, capture: Path) -> None:
    make, spies = spied_player(time.monotonic)
    h = build(media_cache, kinds=("kazoo",), count=30, faults="kazoo.media:media=empty",
              audio=AudioOptions(make_player=make, probe=lambda: None))
    async with h.app.run_test(size=SIZE) as pilot:
        screen = await play_first(h, pilot)
        assert await until(pilot, lambda: any(t == "Recording is empty" for t, _ in notes(h)))
        (spy,) = spies
        player = screen.playback.player
        assert player is not None and player.snapshot().status == "error"
        assert spy.buffers == []                           # simpleaudio was never called
        assert played_bytes(capture) == 0


async def test_r36_hls_or_concat_scripts_as_audio_are_refused_and_ffmpeg_fetches_nothing(
        media_cache: Path, serve_app: Callable[[object], Any], tmp_path: Path) -> None:
    fetched: list[str] = []

    async def sink(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        fetched.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"video/mp2t")]})
        await send({"type": "http.response.body", "body": b"\x47" * 188})

    foreign = serve_app(sink)
    h = build(media_cache, kinds=("kazoo",), count=30, faults="kazoo.media:media=hls")
    h.emu.media.foreign_url = foreign.url                 # the playlist points at a live server
    async with h.app.run_test(size=SIZE) as pilot:
        screen = await play_first(h, pilot)
        assert await until(pilot, lambda: any(t == "Not audio" for t, _ in notes(h)))
        assert screen.playback.current is None and screen.playback.player is None
    # Defence in depth: were the sniffing fooled, ffmpeg as rectui runs it reads stdin only.
    playlist = h.emu.media.hls_bytes()
    assert foreign.url.encode() in playlist
    concat = f"ffconcat version 1.0\nfile '{foreign.url}/concat/a.wav'\nfile '{foreign.url}/concat/b.mp3'\n".encode()
    await asyncio.to_thread(run_ffmpeg_on, [playlist, concat], tmp_path)
    assert fetched == []


async def test_r37_a_ten_hour_low_bitrate_file_plays_only_its_first_hours(
        media_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the code does: it plays the first `MAX_SECONDS` (3 h) and says the rest was cut (the
    PCM's warning); it does not refuse. The cap is lowered to 2 min here so that the test decodes
    2 min of the emulator's real 10-hour MP3, not 3 h (about 11 s of ffmpeg)."""
    assert convert_mod.MAX_SECONDS == 3 * 3600
    monkeypatch.setattr(convert_mod, "MAX_SECONDS", 120)
    players: list[SilentPlayer] = []

    def make() -> SilentPlayer:
        players.append(SilentPlayer(clock=time.monotonic))
        return players[-1]

    h = build(media_cache, kinds=("kazoo",), count=30, faults="kazoo.media:media=long_lowbitrate",
              audio=AudioOptions(make_player=make, probe=lambda: None))
    async with h.app.run_test(size=SIZE) as pilot:
        await play_first(h, pilot)
        assert await until(pilot, lambda: bool(players) and players[0]._pcm is not None and players[0]._pcm.done)
        pcm = players[0]._pcm
        assert pcm is not None and pcm.error is None
        assert pcm.duration == pytest.approx(120.0, abs=0.05)          # not 10 h
        assert pcm.warning is not None and "only the first 2 min" in pcm.warning
        state = players[0].snapshot()
        assert state.status == "playing" and state.warning == pcm.warning
        assert pcm.path.stat().st_size == pytest.approx(44 + 120 * 8000 * 2, abs=8000 * 2)


async def test_r38_ffmpeg_missing_is_one_notice_per_play_and_browsing_still_works(
        media_cache: Path, no_ffmpeg: None, capfd: pytest.CaptureFixture[str]) -> None:
    h = build(media_cache, kinds=("kazoo",), count=120)
    async with h.app.run_test(size=SIZE) as pilot:
        screen = await play_first(h, pilot)
        assert await until(pilot, lambda: any(t == "ffmpeg not found" for t, _ in notes(h)))
        said = [m for t, m in notes(h) if t == "ffmpeg not found"]
        assert len(said) == 1 and "imageio-ffmpeg" in said[0]
        assert screen.playback.current is None and screen.playback.player is None
        first = screen.table.current()
        await pilot.press("down", "n")                   # browsing: rows, pages, the detail
        await settle(pilot)
        assert screen.table.current() not in (None, first) and screen.view is not None
        assert screen.view.page_number == 2 and screen.table.row_count == 50
        await pilot.press("p")
        await settle(pilot)
        assert screen.view.page_number == 1
    _out, err = capfd.readouterr()
    assert "ffmpeg" not in err.lower() and "Traceback" not in err


@pytest.mark.parametrize(("body", "words"), [("exec sleep 60", "progress"), ("kill -SEGV $$", "crashed")])
async def test_r39_a_hung_or_crashing_ffmpeg_is_decoder_failed_in_time_and_leaves_no_zombie(
        media_cache: Path, tmp_path: Path, body: str, words: str) -> None:
    stub, pidfile = ffmpeg_stub(tmp_path, body)
    h = build(media_cache, kinds=("kazoo",), count=30)
    async with h.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = h.app.screen
        assert isinstance(screen, MainScreen)
        # The app's cache, with a tiny stall deadline and the stub as its decoder.
        screen.playback.cache = MediaCache(tmp_path / "audio", stall_seconds=0.2, ffmpeg=stub)
        await play_first(h, pilot)
        assert await until(pilot, lambda: any(t == "Decoder failed" for t, _ in notes(h)))
        message = next(m for t, m in notes(h) if t == "Decoder failed")
        assert words in message
        pid = int(pidfile.read_text())
        assert await until(pilot, lambda: reaped(pid), limit=10)
        assert not list((tmp_path / "audio" / "pcm").glob("*.wav"))     # nothing half-decoded kept
        await pilot.press("down")
        assert h.app.is_running


async def test_r41_a_busy_sound_device_says_audio_device_busy(media_cache: Path, capture: Path) -> None:
    make, spies = spied_player(time.monotonic, busy=True)
    h = build(media_cache, kinds=("kazoo",), count=30, audio=AudioOptions(make_player=make, probe=lambda: None))
    async with h.app.run_test(size=SIZE) as pilot:
        screen = await play_first(h, pilot)
        assert await until(pilot, lambda: any(t == "Audio device busy" for t, _ in notes(h)))
        (spy,) = spies
        assert spy.buffers and all(spy.buffers)
        player = screen.playback.player
        assert player is not None and player.snapshot().status == "error"
        message = next(m for t, m in notes(h) if t == "Audio device busy")
        assert "Another program is using the sound card" in message
        await pilot.press("w")                             # save as is still there
        await settle(pilot)
        assert isinstance(h.app.screen, SaveAudioDialog)

