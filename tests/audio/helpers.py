"""Helpers shared by the audio tests (imported as `audio.helpers`)."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from rectui.audio.tools import ffmpeg_exe


class FakeMonotonic:
    """A monotonic clock the test moves (thread-safe reads)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def until(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll `check` (a deadline for a background thread to act; never a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.002)
    return check()


def make_tone(path: Path, *, seconds: float = 1.0, rate: int = 8000, channels: int = 1, codec: str = "pcm_s16le",
              fmt: str = "wav", freq: int = 440) -> Path:
    """A sine tone file made with the bundled ffmpeg."""
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=f={freq}:r={rate}:d={seconds}",
                    "-ac", str(channels), "-c:a", codec, "-f", fmt, str(path)], check=True, timeout=60)
    return path


def long_mp3(path: Path, seconds: float, *, rate: int = 8000, channels: int = 1, bitrate: str = "32k") -> Path:
    """A long MP3 made fast: 10 s of tone encoded once (no tags, no Xing frame), its frames
    repeated (MP3 frames stand alone)."""
    block = path.with_suffix(".block.mp3")
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=f=330:r={rate}:d=10",
                    "-ac", str(channels), "-c:a", "libmp3lame", "-b:a", bitrate, "-write_xing", "0",
                    "-id3v2_version", "0", "-f", "mp3", str(block)], check=True, timeout=60)
    data = block.read_bytes()
    block.unlink()
    with path.open("wb") as fh:
        for _ in range(max(1, round(seconds / 10))):
            fh.write(data)
    return path
