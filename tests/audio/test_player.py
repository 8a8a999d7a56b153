"""The players: real playback into the ALSA capture device (the samples written are the decoded
ones), pause/seek/speed/volume/mute logic on a fake clock, and the no-device path."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from audio.helpers import FakeMonotonic, until

from rectui.audio import (
    AudioError,
    NoAudioDevice,
    PcmFile,
    PlayerState,
    SilentPlayer,
    SimpleaudioPlayer,
    probe_device,
    save_as,
    silence_alsa,
)
from rectui.audio.player import Player, render

CAPTURE_CONF = Path(__file__).parents[1] / "alsa" / "capture.conf"


def capture_files(base: Path) -> bytes:
    """What the capture device received: `base`, then `base.0001`, … (one file per PCM open when
    the config says `truncate false`)."""
    parts = [base, *sorted(base.parent.glob(base.name + ".[0-9]*"))]
    return b"".join(p.read_bytes() for p in parts if p.exists())


@pytest.fixture
def appending_capture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The capture device, keeping every window (a new file per open instead of truncating)."""
    conf = tmp_path / "capture-all.conf"
    conf.write_text(CAPTURE_CONF.read_text().replace('format "raw"', 'format "raw"\n    truncate false'))
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(conf))
    out = tmp_path / "played.raw"
    monkeypatch.setenv("RECTUI_ALSA_CAPTURE", str(out))
    return out


def run_to_end(player: SimpleaudioPlayer | SilentPlayer, clock: FakeMonotonic, step: float = 0.5) -> PlayerState:
    """Advance the fake clock until the player says it ended (or stopped on an error)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert player.sync()
        state = player.snapshot()
        if state.status in ("ended", "error", "paused", "idle"):
            return state
        clock.advance(step)
        time.sleep(0.002)                  # let the player's thread start the next window
    raise AssertionError("never ended")


def test_both_players_satisfy_the_protocol(fake_clock: FakeMonotonic) -> None:
    for cls in (SilentPlayer, SimpleaudioPlayer):
        player = cls(clock=fake_clock)
        assert isinstance(player, Player)
        assert player.snapshot() == PlayerState()
        player.close()


def test_a_short_clip_plays_its_exact_samples(tone_pcm, tmp_path: Path, fake_clock: FakeMonotonic,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "played.raw"
    monkeypatch.setenv("RECTUI_ALSA_CAPTURE", str(out))
    pcm = tone_pcm(seconds=1.5, rate=16000)
    decoded = pcm.read(0, pcm.frames_ready)
    player = SimpleaudioPlayer(clock=fake_clock)
    try:
        player.load(pcm.retain(), title="tone")
        player.play()
        assert player.sync()
        assert until(lambda: out.exists() and out.stat().st_size == len(decoded))
        assert out.read_bytes() == decoded
        state = run_to_end(player, fake_clock)
        assert state.status == "ended" and state.position == pytest.approx(1.5) and state.title == "tone"
    finally:
        player.close()


def test_windows_chain_into_the_whole_recording(tone_pcm, appending_capture: Path, fake_clock) -> None:
    pcm = tone_pcm(seconds=9.0, rate=8000)
    decoded = pcm.read(0, pcm.frames_ready)
    player = SimpleaudioPlayer(clock=fake_clock, window_seconds=2.0)
    try:
        player.load(pcm.retain())
        player.play()
        assert run_to_end(player, fake_clock).status == "ended"
        assert until(lambda: capture_files(appending_capture) == decoded)
        assert len(list(appending_capture.parent.glob("played.raw*"))) == 5      # 2+2+2+2+1 s
    finally:
        player.close()


def test_speed_keeps_pitch_and_shortens_the_sound(tone_pcm, appending_capture: Path, fake_clock) -> None:
    pcm = tone_pcm(seconds=4.0, rate=8000)
    player = SimpleaudioPlayer(clock=fake_clock)
    try:
        player.load(pcm.retain())
        player.set_speed(2.0)
        player.play()
        assert player.sync()
        fake_clock.advance(1.0)
        assert player.snapshot().position == pytest.approx(2.0)       # twice as fast through the media
        assert run_to_end(player, fake_clock).status == "ended"
        assert until(lambda: len(capture_files(appending_capture)) > 0)
        played = len(capture_files(appending_capture)) / 2
        assert played == pytest.approx(16000, rel=0.05)                # 2 s of sound for 4 s of media
    finally:
        player.close()


def test_volume_scales_and_mute_silences_the_samples() -> None:
    import array
    data = array.array("h", [1000, -2000, 30000, -30000]).tobytes()
    half = array.array("h", render(data, 1, 8000, gain=0.5))
    assert list(half) == pytest.approx([500, -1000, 15000, -15000], abs=2)
    assert render(data, 1, 8000, gain=0.0) == bytes(len(data))
    assert render(data, 1, 8000) == data


def test_pause_seek_speed_volume_logic_on_a_fake_clock(tone_pcm, fake_clock: FakeMonotonic) -> None:
    changes: list[int] = []
    player = SilentPlayer(clock=fake_clock, on_change=lambda: changes.append(1))
    pcm = tone_pcm(seconds=30.0)
    try:
        player.load(pcm.retain(), title="call")
        s = player.snapshot()
        assert (s.status, s.position, s.duration) == ("paused", 0.0, pytest.approx(30.0))
        player.play()
        assert player.sync()
        fake_clock.advance(2.5)
        assert player.snapshot().position == pytest.approx(2.5)
        assert player.snapshot().status == "playing" and player.snapshot().fraction == pytest.approx(2.5 / 30)
        player.pause()
        fake_clock.advance(10)
        assert player.snapshot().position == pytest.approx(2.5) and player.snapshot().status == "paused"
        player.toggle()                                     # resume
        assert player.sync()
        fake_clock.advance(1)
        assert player.snapshot().position == pytest.approx(3.5)
        player.seek_by(5)                                   # → mpv's right arrow
        assert player.snapshot().position == pytest.approx(8.5)
        player.seek_by(-60)
        assert player.snapshot().position == 0.0
        player.seek_percent(50)
        assert player.snapshot().position == pytest.approx(15.0)
        player.seek(1000)
        assert player.snapshot().position == pytest.approx(30.0)
        assert run_to_end(player, fake_clock).status == "ended"
        player.play()                                       # from the start again
        assert player.snapshot().position == 0.0 and player.snapshot().status == "playing"
        for _ in range(20):
            player.faster()
        assert player.snapshot().speed == 2.0
        for _ in range(30):
            player.slower()
        assert player.snapshot().speed == 0.5
        player.set_speed(1.5)
        assert player.sync()
        fake_clock.advance(2)
        assert player.snapshot().position == pytest.approx(3.0)
        player.quieter()
        player.quieter()
        assert player.snapshot().volume == 0.8
        for _ in range(5):
            player.louder()
        assert player.snapshot().volume == 1.0
        player.toggle_mute()
        assert player.snapshot().muted and player.snapshot().volume == 1.0
        player.toggle_mute()
        assert not player.snapshot().muted
        assert changes                                      # the UI heard about it
        player.stop()
        assert player.snapshot().status == "idle"
    finally:
        player.close()


def test_loading_another_recording_stops_the_first_at_once(tone_pcm, fake_clock: FakeMonotonic) -> None:
    player = SilentPlayer(clock=fake_clock)
    first, second = tone_pcm(seconds=10.0), tone_pcm(seconds=3.0)
    try:
        player.load(first.retain(), title="first")
        player.play()
        assert player.sync()
        fake_clock.advance(4)
        player.load(second.retain(), title="second")
        s = player.snapshot()
        assert (s.title, s.status, s.position, s.duration) == ("second", "paused", 0.0, pytest.approx(3.0))
        assert first._users == 1                            # the player let go of its hold
    finally:
        player.close()


def test_playback_follows_a_decode_still_running(tmp_path: Path, fake_clock: FakeMonotonic) -> None:
    from audio.helpers import long_mp3

    from rectui.audio import start_decode
    pcm = start_decode(long_mp3(tmp_path / "l.mp3", 600), tmp_path / "l.wav", duration_hint=600.0)
    player = SilentPlayer(clock=fake_clock)
    try:
        player.load(pcm)
        player.play()
        assert player.sync()
        assert until(lambda: player.snapshot().status == "playing")
        for _ in range(50):
            fake_clock.advance(0.1)
            time.sleep(0.002)
        s = player.snapshot()
        assert 0 < s.position <= 5.0 and s.position <= s.decoded      # never ahead of the decoded audio
        assert s.duration is not None and s.duration >= 600       # the hint, then the exact length
        player.seek(500)
        assert player.snapshot().position == pytest.approx(500)
        assert pcm.wait_done(30) and player.sync()
    finally:
        player.close()


def test_an_empty_or_failed_decode_shows_its_error(tmp_path: Path, fake_clock: FakeMonotonic) -> None:
    from rectui.audio import EmptyAudio, start_decode
    from rectui.audio.convert import wav_header
    empty = tmp_path / "e.wav"
    empty.write_bytes(wav_header(8000, 1, 0))
    pcm = start_decode(empty, tmp_path / "e-pcm.wav")
    assert pcm.wait_done(30)
    player = SimpleaudioPlayer(clock=fake_clock)
    try:
        player.load(pcm)
        player.play()
        assert player.sync()
        s = player.snapshot()
        assert s.status == "error" and isinstance(s.error, EmptyAudio) and s.error.title == "Recording is empty"
    finally:
        player.close()


# -- no sound card ------------------------------------------------------------------------------
@pytest.fixture
def no_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "nodevice.conf"
    conf.write_text("pcm.!default { type hw card 7 }\n")
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(conf))


def test_no_device_is_detected_said_plainly_and_save_as_still_works(
        no_device: None, tone_pcm, tmp_path: Path, fake_clock: FakeMonotonic,
        capfd: pytest.CaptureFixture[str]) -> None:
    assert silence_alsa()
    reason = probe_device()
    assert reason is not None and "No sound card" in reason and "Save" in reason
    pcm = tone_pcm(seconds=1.0)
    player = SimpleaudioPlayer(clock=fake_clock)
    try:
        player.load(pcm.retain())
        player.play()
        assert player.sync()
        s = player.snapshot()
        assert s.status == "error" and isinstance(s.error, NoAudioDevice) and s.error.title == "No audio device"
        player.play()                                       # asking again says the same, no crash
        assert player.sync() and isinstance(player.snapshot().error, NoAudioDevice)
    finally:
        player.close()
    saved = save_as(pcm, tmp_path / "call.wav", "wav")
    assert saved.stat().st_size == 44 + pcm.frames_ready * 2
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""        # alsa-lib printed nothing over the screen


def test_device_errors_map_to_clear_titles() -> None:
    from simpleaudio._simpleaudio import SimpleaudioError

    from rectui.audio import DeviceBusy
    from rectui.audio.errors import device_error
    def err(code: int, msg: str) -> SimpleaudioError:
        return SimpleaudioError(f"Error opening PCM device. -- CODE: {code} -- MSG: {msg}")
    assert isinstance(device_error(err(-2, "No such file or directory")), NoAudioDevice)
    assert isinstance(device_error(err(-16, "Device or resource busy")), DeviceBusy)
    other = device_error(err(-5, "Input/output error"))
    assert type(other) is AudioError and "Input/output error" in other.message


def test_the_probe_finds_the_test_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECTUI_ALSA_CAPTURE", str(tmp_path / "probe.raw"))
    assert probe_device() is None
    assert (tmp_path / "probe.raw").exists()                                 # the device was opened


def test_pcm_file_type_is_what_players_take(tone_pcm) -> None:
    assert isinstance(tone_pcm(), PcmFile)
