"""Save a recording's audio as WAV or MP3 at a path the user chose: the fallback when there is
no sound card, and an export anyway.

Writes go to a temporary file beside the destination, then into place; without `overwrite` an
existing file is never replaced (checked first, and again atomically with a hard link at the
end, so a file created meanwhile is not clobbered either).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from rectui.audio.convert import PcmFile
from rectui.audio.errors import AudioError, DecoderFailed
from rectui.audio.tools import ffmpeg_exe
from rectui.mediafiles import temp_path

SaveFormat = Literal["wav", "mp3"]
CHUNK_FRAMES = 256 * 1024
MP3_QUALITY = "4"            # LAME VBR ~165 kbit/s stereo: transparent for calls, a tenth of the WAV
SAVE_TIMEOUT = 3600.0


def save_as(source: PcmFile, dest: Path, fmt: SaveFormat, *, overwrite: bool = False,
            timeout: float = SAVE_TIMEOUT) -> Path:
    """Write `source`'s audio to `dest` as `fmt`; returns `dest`. Blocking (run it in a worker):
    waits for a decode still running. Raises `FileExistsError` when `dest` exists and not
    `overwrite`, the decode's own error when it failed, `OSError` when the place is not
    writable."""
    if fmt not in ("wav", "mp3"):
        raise ValueError(f"cannot save as {fmt!r}: wav or mp3")
    if dest.exists() and not overwrite:
        raise FileExistsError(f"{dest.name} already exists")
    if not source.wait_done(timeout):
        raise DecoderFailed("the audio is still being decoded; try again in a moment")
    if source.error is not None and source.frames_ready == 0:
        raise source.error
    if source.frames_ready == 0:
        raise AudioError("nothing to save: the recording has no audio", title="Recording is empty")
    tmp = temp_path(dest)
    try:
        if fmt == "wav":
            _write_wav(source, tmp)
        else:
            _write_mp3(source, tmp)
        if overwrite:
            os.replace(tmp, dest)
        else:
            os.link(tmp, dest)         # fails if `dest` appeared meanwhile
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return dest


def _frames(source: PcmFile) -> Iterator[bytes]:
    at = 0
    while at < source.frames_ready:
        data = source.read(at, CHUNK_FRAMES)
        if not data:
            return
        yield data
        at += len(data) // source.frame_bytes


def _write_wav(source: PcmFile, path: Path) -> None:
    with path.open("xb") as fh, wave.open(fh, "wb") as out:
        out.setnchannels(source.channels)
        out.setsampwidth(source.sample_width)
        out.setframerate(source.rate)
        out.setnframes(source.frames_ready)       # the header is right from the start
        for data in _frames(source):
            out.writeframesraw(data)


def _write_mp3(source: PcmFile, path: Path) -> None:
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "s16le", "-ar", str(source.rate),
           "-ac", str(source.channels), "-i", "pipe:0", "-c:a", "libmp3lame", "-q:a", MP3_QUALITY, "-f", "mp3",
           "pipe:1"]
    with path.open("xb") as fh, subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=fh, stderr=subprocess.PIPE,
                                                 start_new_session=True) as proc:
        assert proc.stdin is not None and proc.stderr is not None
        try:
            for data in _frames(source):
                proc.stdin.write(data)
            proc.stdin.close()
            err = proc.stderr.read()
            code = proc.wait(timeout=60)
        except BaseException:
            proc.kill()
            raise
    if code != 0:
        detail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["unknown error"]
        raise AudioError(f"could not encode MP3 ({detail[0][:120]})", title="Save failed")
