"""Playing decoded PCM: a `Player` protocol, a simpleaudio implementation and a silent one.

Every method returns at once. The *logical* state (what is loaded, playing or paused, position,
speed, volume) changes under a lock in the caller's thread, so `snapshot()` right after a call
already shows its effect; the *device* work (reading a window of PCM, stretching it with ffmpeg's
`atempo`, scaling it, handing it to simpleaudio, stopping it) happens on the player's own thread.

simpleaudio plays one buffer per call, so playback is a chain of windows of a few seconds read
from the PCM file: when one is done (the device says so *and* the clock says its time is up),
the next starts; seek, speed, volume and mute restart a window at the current position. The
position comes from an injected monotonic clock, re-anchored at every window: the ALSA test
device is not paced, and tests drive a fake clock. `SilentPlayer` runs the same logic with no
device (no sound card, and the UI tests).

Speed: ffmpeg's `atempo` filter on each window changes tempo without changing pitch (0.5×–2×,
one filter stage); each window is stretched on its own, which costs a few milliseconds per window
and can leave a faint seam at window boundaries.
"""

from __future__ import annotations

import math
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from rectui.audio.alsa import silence_alsa
from rectui.audio.convert import PcmFile
from rectui.audio.errors import AudioError, DecoderFailed, device_error
from rectui.audio.tools import ffmpeg_exe, pydub

Status = Literal["idle", "loading", "playing", "paused", "ended", "error"]
MIN_SPEED, MAX_SPEED, SPEED_STEP = 0.5, 2.0, 0.1
VOLUME_STEP = 0.1
WINDOW_SECONDS = 4.0
"""Device time per window: long enough that seams are rare, short enough to bound memory."""
START_SECONDS = 0.25
"""Decoded audio needed before sound starts (or resumes after running out while decoding)."""
TICK = 0.005
"""How often the player's thread checks a running window while playing."""


@dataclass(frozen=True)
class PlayerState:
    """One consistent view of the player, for the UI to draw."""

    status: Status = "idle"
    position: float = 0.0
    duration: float | None = None
    speed: float = 1.0
    volume: float = 1.0
    muted: bool = False
    error: AudioError | None = None
    title: str = ""
    decoded: float = 0.0
    """Seconds decoded so far (the rest is still being decoded behind playback)."""
    warning: str | None = None
    """The decoder complained but produced audio (a damaged or cut-short file)."""

    @property
    def fraction(self) -> float | None:
        """Position as a share of the duration (0..1), for the playhead."""
        if not self.duration:
            return None
        return max(0.0, min(1.0, self.position / self.duration))


@runtime_checkable
class Player(Protocol):
    def load(self, pcm: PcmFile, *, title: str = "") -> None:
        """Take `pcm` (the player now owns that hold and closes it when replaced or stopped),
        stopping whatever played before; paused at 0."""
        ...

    def play(self) -> None: ...
    def pause(self) -> None: ...
    def toggle(self) -> None: ...
    def stop(self) -> None:
        """Stop and unload (status `idle`)."""
        ...

    def seek(self, seconds: float) -> None: ...
    def seek_by(self, delta: float) -> None: ...
    def seek_percent(self, percent: float) -> None: ...
    def set_speed(self, speed: float) -> None: ...
    def faster(self) -> None: ...
    def slower(self) -> None: ...
    def set_volume(self, volume: float) -> None: ...
    def louder(self) -> None: ...
    def quieter(self) -> None: ...
    def toggle_mute(self) -> None: ...
    def snapshot(self) -> PlayerState: ...
    def close(self) -> None: ...


class _Window:
    """What the device is playing: media positions and the clock time it should be done by."""

    def __init__(self, handle: object, end_pos: float, due: float) -> None:
        self.handle, self.end_pos, self.due = handle, end_pos, due


class BasePlayer:
    """The shared logic; subclasses provide the sink (`_start_sink`, `_sink_busy`, `_stop_sink`)."""

    needs_samples = True

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[], None] | None = None, window_seconds: float = WINDOW_SECONDS) -> None:
        self.clock = clock
        self.on_change = on_change
        self.window_seconds = window_seconds
        self._cond = threading.Condition()
        self._pcm: PcmFile | None = None
        self._title = ""
        self._want_play = False
        self._ended = False
        self._loading = False
        self._error: AudioError | None = None
        self._speed = 1.0
        self._volume = 1.0
        self._muted = False
        self._pos = 0.0                 # media position at `_anchor` (or now, when not advancing)
        self._anchor: float | None = None
        self._limit = 0.0               # the position cannot pass the end of the running window
        self._gen = 0                   # bumped by every change the device must act on
        self._acted = 0                 # the last generation the thread acted on
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"rectui-{type(self).__name__}", daemon=True)
        self._thread.start()

    # -- sink (overridden) ------------------------------------------------------------------------
    def _start_sink(self, data: bytes, channels: int, rate: int) -> object:
        return None

    def _sink_busy(self, handle: object) -> bool:
        return False

    def _stop_sink(self, handle: object) -> None:
        return None

    # -- commands ---------------------------------------------------------------------------------
    def load(self, pcm: PcmFile, *, title: str = "") -> None:
        with self._cond:
            old, self._pcm, self._title = self._pcm, pcm, title
            self._reset()
            self._bump()
        if old is not None and old is not pcm:
            old.close()
        self._changed()

    def play(self) -> None:
        with self._cond:
            if self._pcm is None:
                return
            if self._ended:
                self._pos, self._ended = 0.0, False
            self._error = None
            self._want_play = True
            self._bump()
        self._changed()

    def pause(self) -> None:
        with self._cond:
            if not self._want_play:
                return
            self._hold()
            self._want_play = False
            self._bump()
        self._changed()

    def toggle(self) -> None:
        with self._cond:
            playing = self._want_play
        self.pause() if playing else self.play()

    def stop(self) -> None:
        with self._cond:
            old, self._pcm, self._title = self._pcm, None, ""
            self._reset()
            self._bump()
        if old is not None:
            old.close()
        self._changed()

    def seek(self, seconds: float) -> None:
        with self._cond:
            if self._pcm is None:
                return
            self._pos = max(0.0, min(seconds, self._seek_limit()))
            self._anchor, self._ended, self._loading = None, False, False
            if self._error is not None:
                self._error = None
            self._bump()
        self._changed()

    def seek_by(self, delta: float) -> None:
        with self._cond:
            target = self._position() + delta
        self.seek(target)

    def seek_percent(self, percent: float) -> None:
        with self._cond:
            pcm = self._pcm
            total = (pcm.duration or pcm.seconds_ready) if pcm is not None else 0.0
        self.seek(total * max(0.0, min(100.0, percent)) / 100.0)

    def set_speed(self, speed: float) -> None:
        speed = round(max(MIN_SPEED, min(MAX_SPEED, speed)), 2)
        self._restart_with(lambda: setattr(self, "_speed", speed))

    def faster(self) -> None:
        self.set_speed(self._speed + SPEED_STEP)

    def slower(self) -> None:
        self.set_speed(self._speed - SPEED_STEP)

    def set_volume(self, volume: float) -> None:
        volume = round(max(0.0, min(1.0, volume)), 2)
        self._restart_with(lambda: setattr(self, "_volume", volume))

    def louder(self) -> None:
        self.set_volume(self._volume + VOLUME_STEP)

    def quieter(self) -> None:
        self.set_volume(self._volume - VOLUME_STEP)

    def toggle_mute(self) -> None:
        self._restart_with(lambda: setattr(self, "_muted", not self._muted))

    def snapshot(self) -> PlayerState:
        with self._cond:
            pcm = self._pcm
            if pcm is None:
                return PlayerState(speed=self._speed, volume=self._volume, muted=self._muted, error=self._error,
                                   status="error" if self._error else "idle")
            position = self._position()
            duration = pcm.duration
            error = self._error
            if error is None and pcm.done and pcm.error is not None and pcm.frames_ready == 0:
                error = pcm.error
            status: Status
            if error is not None:
                status = "error"
            elif self._ended or (self._want_play and pcm.done and duration is not None and position >= duration
                                 and self._anchor is not None):
                status = "ended"
            elif not self._want_play:
                status = "paused"
            elif self._loading or (self._anchor is None and pcm.frames_ready == 0):
                status = "loading"
            else:
                status = "playing"
            return PlayerState(status=status, position=position, duration=duration, speed=self._speed,
                               volume=self._volume, muted=self._muted, error=error, title=self._title,
                               decoded=pcm.seconds_ready, warning=pcm.warning)

    def sync(self, timeout: float = 5.0) -> bool:
        """Wait until the player's thread has acted on every command so far (for tests and
        benchmarks; the UI never waits)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._acted >= self._gen or self._closed, timeout)

    def close(self) -> None:
        self.stop()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(5.0)

    # -- state helpers (call with the lock held) --------------------------------------------------
    def _reset(self) -> None:
        self._want_play = self._ended = self._loading = False
        self._error = None
        self._pos, self._anchor, self._limit = 0.0, None, 0.0

    def _bump(self) -> None:
        self._gen += 1
        self._cond.notify_all()

    def _position(self) -> float:
        if self._anchor is None:
            return self._pos
        return min(self._limit, self._pos + (self.clock() - self._anchor) * self._speed)

    def _hold(self) -> None:
        """Freeze the position where it is now (before a pause or a restart)."""
        self._pos, self._anchor = self._position(), None

    def _seek_limit(self) -> float:
        pcm = self._pcm
        if pcm is None:
            return 0.0
        if pcm.done:
            return pcm.seconds_ready
        return max(pcm.duration or 0.0, pcm.seconds_ready)

    def _restart_with(self, change: Callable[[], None]) -> None:
        with self._cond:
            if self._anchor is not None:
                self._hold()
            change()
            self._bump()
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # -- the player's thread ----------------------------------------------------------------------
    def _run(self) -> None:
        window: _Window | None = None
        acted = -1
        while True:
            with self._cond:
                if self._closed:
                    break
                gen, want, pcm = self._gen, self._want_play and not self._ended, self._pcm
                active = want and pcm is not None and self._error is None
                if not active:
                    self._acted = gen
                    self._cond.notify_all()
                if active and acted == gen and window is not None and (
                        self._sink_busy(window.handle) or self.clock() < window.due):
                    self._cond.wait(TICK)
                    continue
                if not active and window is None:
                    self._cond.wait_for(lambda g=gen: self._gen != g or self._closed)
                    continue
            if window is not None and (not active or acted != gen):
                self._stop_sink(window.handle)
                window = None
            if not active:
                continue
            taken = self._take(gen, window)
            if taken is None:
                continue
            start, pcm = taken
            try:
                window = self._start_window(gen, pcm, start)
            finally:
                pcm.close()                    # the hold `_take` added
            acted = gen

    def _take(self, gen: int, window: _Window | None) -> tuple[float, PcmFile] | None:
        """Where the next window starts, and a hold on the PCM so that a `load` or `stop` in
        another thread cannot close it under the read (None: a command came meanwhile)."""
        with self._cond:
            if self._gen != gen or self._pcm is None:
                return None
            return (window.end_pos if window is not None else self._pos), self._pcm.retain()

    def _start_window(self, gen: int, pcm: PcmFile, at: float) -> _Window | None:
        """Start the window beginning at media position `at`, or note why not (buffering, end,
        error); returns the running window or None."""
        rate = pcm.rate
        if pcm.done and (not rate or round(at * rate) >= pcm.frames_ready):
            # The end, or a decode that failed before its header (corrupt media): stop wanting
            # to play, else this thread would poll a finished file forever.
            self._at_end(gen, pcm)
            return None
        if rate:
            start = round(at * rate)
            speed = self._speed
            want = max(1, int(self.window_seconds * speed * rate))
            ready = pcm.frames_ready
            if pcm.done or ready - start >= min(want, int(START_SECONDS * rate)):
                return self._play_window(gen, pcm, start, min(want, ready - start), speed)
        with self._cond:                       # not enough decoded yet: wait for more
            if self._gen == gen:
                self._loading, self._pos, self._anchor = True, at, None
                self._acted = gen
                self._cond.notify_all()
        self._changed()
        pcm.wait_frames(pcm.frames_ready + 1, 0.05)
        return None

    def _play_window(self, gen: int, pcm: PcmFile, start: int, count: int, speed: float) -> _Window | None:
        rate = pcm.rate
        with self._cond:
            gain = 0.0 if self._muted else self._volume
        try:
            data = pcm.read(start, count) if self.needs_samples else b""
            if self.needs_samples:
                data = render(data, pcm.channels, rate, speed=speed, gain=gain)
            handle = self._start_sink(data, pcm.channels, rate) if data or not self.needs_samples else None
        except AudioError as exc:
            with self._cond:
                if self._gen == gen:
                    self._error, self._want_play, self._anchor = exc, False, None
                    self._acted = gen
                    self._cond.notify_all()
            self._changed()
            return None
        begin = start / rate
        end = (start + count) / rate
        with self._cond:
            if self._gen != gen:             # a command came meanwhile: the loop restarts
                return _Window(handle, end, 0.0)
            now = self.clock()
            self._pos, self._anchor, self._limit, self._loading = begin, now, end, False
            self._acted = gen
            self._cond.notify_all()
        self._changed()
        return _Window(handle, end, now + (end - begin) / speed)

    def _at_end(self, gen: int, pcm: PcmFile) -> None:
        with self._cond:
            if self._gen != gen:
                return
            self._pos, self._anchor, self._limit = pcm.seconds_ready, None, pcm.seconds_ready
            self._want_play = False
            if pcm.error is not None:
                self._error = pcm.error
            else:
                self._ended = True
            self._acted = gen
            self._cond.notify_all()
        self._changed()


def render(data: bytes, channels: int, rate: int, *, speed: float = 1.0, gain: float = 1.0) -> bytes:
    """A window as the device should get it: stretched to `speed` (pitch kept) and scaled by
    `gain` (0..1). Unchanged bytes at speed 1 and gain 1."""
    if not data:
        return data
    if speed != 1.0:
        data = atempo(data, channels, rate, speed)
    if gain <= 0.0:
        return bytes(len(data))
    if gain != 1.0:
        audio_segment = pydub()
        seg = audio_segment.AudioSegment(data=data, sample_width=2, frame_rate=rate, channels=channels)
        data = seg.apply_gain(20 * math.log10(gain)).raw_data
    return data


def atempo(data: bytes, channels: int, rate: int, speed: float) -> bytes:
    """`data` played `speed` times faster without changing pitch (ffmpeg's `atempo`)."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "s16le", "-ar", str(rate),
           "-ac", str(channels), "-i", "pipe:0", "-af", f"atempo={speed:.3f}", "-f", "s16le", "pipe:1"]
    try:
        done = subprocess.run(cmd, input=data, capture_output=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        raise DecoderFailed("changing the speed took too long; try speed 1×") from None
    if done.returncode != 0:
        raise DecoderFailed("could not change the speed of this recording; try speed 1×")
    frame = 2 * channels
    return done.stdout[:len(done.stdout) - len(done.stdout) % frame]


class SilentPlayer(BasePlayer):
    """The same player with no device: keeps time with the clock only (no sound card, tests)."""

    needs_samples = False


class SimpleaudioPlayer(BasePlayer):
    """Plays through simpleaudio (ALSA); device failures become `NoAudioDevice`, `DeviceBusy`
    or a generic `AudioError` in the snapshot's `error`."""

    def __init__(self, **kwargs: object) -> None:
        silence_alsa()
        import simpleaudio
        from simpleaudio._simpleaudio import SimpleaudioError
        self._sa = simpleaudio
        self._sa_error = SimpleaudioError
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def _start_sink(self, data: bytes, channels: int, rate: int) -> object:
        if not data:
            return None               # simpleaudio crashes on an empty buffer
        try:
            return self._sa.play_buffer(data, channels, 2, rate)
        except self._sa_error as exc:
            raise device_error(exc) from None
        except ValueError as exc:     # "Weird sample rates are not supported."
            raise AudioError(f"the sound card cannot play this audio ({exc})", title="Audio device error") from None

    def _sink_busy(self, handle: object) -> bool:
        return handle is not None and bool(handle.is_playing())  # type: ignore[attr-defined]

    def _stop_sink(self, handle: object) -> None:
        if handle is not None:
            handle.stop()  # type: ignore[attr-defined]
