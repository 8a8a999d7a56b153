"""Decoding downloaded media to 16-bit PCM in a WAV file, in chunks, while it plays.

ffmpeg (the bundled one) reads the media on **stdin** (`pipe:0`, `-protocol_whitelist pipe`), with
the demuxer chosen from an allow-list by the format sniffed from the bytes, never by a name or a
header from the server, and at most `MAX_SECONDS` of output. It writes a WAV stream to stdout:
16-bit samples, mono or stereo, at the source's rate when simpleaudio takes it, else the nearest
rate it does (ffmpeg's `aformat` negotiation). A reader thread copies that stream into a file in
the cache chunk by chunk, so an hour of 48 kHz stereo (about 690 MB) never sits in memory and
playback can start as soon as the first chunk is on disk. The file is written under a temporary
name and renamed when complete (its header then holds the real sizes): a crash leaves only a
`.part` file, which is never played.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import signal
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from rectui.audio.errors import AudioError, DecodeError, DecoderFailed, DecoderMissing, EmptyAudio
from rectui.audio.tools import ffmpeg_exe, pydub
from rectui.mediafiles import sniff_file, temp_path
from rectui.sanitize import one_line

DEMUXERS: dict[str, str] = {"wav": "wav", "mp3": "mp3", "ogg": "ogg", "webm": "matroska", "mp4": "mov"}
"""Sniffed format → the only ffmpeg demuxer allowed for it."""
DEVICE_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)
"""Rates simpleaudio accepts (it refuses 12000 as "weird"), up to 48 kHz to bound the PCM size."""
MAX_SECONDS = 10800
"""Decoded audio stops here (3 h): a 10-hour low-bitrate file would otherwise fill the cache with
about 580 MB of PCM; the first 3 h play and `PcmFile.warning` says the rest was cut."""
SAMPLE_WIDTH = 2
WAV_HEADER_BYTES = 44
READ_CHUNK = 256 * 1024
STALL_SECONDS = 30.0
"""ffmpeg is declared hung after this long without output (it decodes far faster than real time)."""
HEADER_LIMIT = 64 * 1024

_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_LEVEL = re.compile(r"^\[(\w+)\] ?")
_ADDRESS = re.compile(r"\[(\w+) @ 0x[0-9a-f]+\] ?")


def wav_header(rate: int, channels: int, data_bytes: int) -> bytes:
    """A canonical 44-byte PCM WAV header for 16-bit samples."""
    block = channels * SAMPLE_WIDTH
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, SAMPLE_WIDTH * 8)
            + b"data" + struct.pack("<I", data_bytes))


def parse_wav_header(head: bytes) -> tuple[int, int, int, int] | None:
    """(rate, channels, bits, data offset) of a WAV stream's header, or None while `head` does
    not yet reach the `data` chunk. pydub parses the chunks (it copes with the LIST and
    extensible-format headers ffmpeg may write)."""
    audio_segment = pydub()
    if len(head) < 12:
        return None
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise DecodeError("cannot decode this recording: the decoder produced no WAV stream")
    chunks = audio_segment.extract_wav_headers(head)
    if not chunks or chunks[-1].id != b"data":
        return None
    try:
        info = audio_segment.read_wav_audio(head, chunks)
    except audio_segment.CouldntDecodeError as exc:
        raise DecodeError(f"cannot decode this recording: {exc}") from None
    return info.sample_rate, info.channels, info.bits_per_sample, chunks[-1].position + 8


def ffmpeg_command(ffmpeg: str, demuxer: str) -> list[str]:
    """The decode command; input on stdin only (playlist and protocol tricks need other protocols)."""
    rates = "|".join(map(str, DEVICE_RATES))
    return [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info",
            "-protocol_whitelist", "pipe", "-f", demuxer, "-i", "pipe:0",
            "-map", "0:a:0", "-vn", "-sn", "-dn", "-t", str(MAX_SECONDS),
            "-af", f"aformat=sample_fmts=s16:channel_layouts=mono|stereo:sample_rates={rates}",
            "-acodec", "pcm_s16le", "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
            "-f", "wav", "pipe:1"]


class PcmFile:
    """16-bit PCM in a WAV file of the cache: complete, or still being decoded behind playback.

    `rate` and `channels` are 0 until the decoder has written its header; `frames_ready` grows
    while decoding; `done` is set when decoding ended (well or not); `error` says why it failed
    (a `DecodeError`, `EmptyAudio`, `DecoderFailed`…); `warning` that ffmpeg complained but
    produced audio (a damaged or cut-short file: what could be decoded plays). Readers take
    frames with `read`; `wait_frames` blocks until enough are there.

    Ownership: whoever creates or `retain`s one calls `close` when done with it; the last `close`
    stops a decode still running (ffmpeg's whole process group) and releases the file.
    """

    sample_width = SAMPLE_WIDTH

    def __init__(self, path: Path, *, rate: int = 0, channels: int = 0, data_offset: int = WAV_HEADER_BYTES,
                 frames: int = 0, done: bool = False, duration_hint: float | None = None) -> None:
        self.path = path
        self.rate = rate
        self.channels = channels
        self.data_offset = data_offset
        self.error: AudioError | None = None
        self.warning: str | None = None
        self.cancelled = False
        self._frames = frames
        self._done = done
        self._estimate: float | None = None
        self._hint = duration_hint
        self._cond = threading.Condition()
        self._fd: int | None = os.open(path, os.O_RDONLY) if path.exists() else None
        self._users = 1
        self._proc: subprocess.Popen[bytes] | None = None
        self._on_release: list[Callable[[PcmFile], None]] = []

    # -- opening a finished file ------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path) -> PcmFile:
        """A complete PCM WAV from the cache; `DecodeError` when it is not one (e.g. cut short
        by a crash between writing and renaming: its header sizes do not match the file)."""
        with path.open("rb") as fh:
            head = fh.read(4096)
            size = os.fstat(fh.fileno()).st_size
        parsed = parse_wav_header(head)
        if parsed is None:
            raise DecodeError("cannot read the cached audio: its header is incomplete")
        rate, channels, bits, offset = parsed
        data = struct.unpack_from("<I", head, offset - 4)[0]
        if bits != 16 or channels not in (1, 2) or rate not in DEVICE_RATES or offset + data != size or not data:
            raise DecodeError("cannot read the cached audio: the file is damaged")
        pcm = cls(path, rate=rate, channels=channels, data_offset=offset, done=True)
        pcm._frames = data // (channels * SAMPLE_WIDTH)
        return pcm

    # -- what readers see -------------------------------------------------------------------------
    @property
    def frame_bytes(self) -> int:
        return self.channels * SAMPLE_WIDTH

    @property
    def frames_ready(self) -> int:
        return self._frames

    @property
    def done(self) -> bool:
        return self._done

    @property
    def ok(self) -> bool:
        """Finished with audio and without error."""
        return self._done and self.error is None and not self.cancelled and self._frames > 0

    @property
    def seconds_ready(self) -> float:
        return self._frames / self.rate if self.rate else 0.0

    @property
    def duration(self) -> float | None:
        """Exact once decoded; before that ffmpeg's estimate from the container, else the hint
        the caller gave (the recording's listed duration), else None."""
        if self._done and self.rate:
            return self._frames / self.rate
        return self._estimate or self._hint

    def wait_frames(self, n: int, timeout: float | None = None) -> int:
        """Block until `n` frames are ready, decoding ended, or `timeout` passed; returns the
        frames ready."""
        with self._cond:
            self._cond.wait_for(lambda: self._frames >= n or self._done, timeout)
            return self._frames

    def wait_done(self, timeout: float | None = None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._done, timeout)

    def read(self, start: int, count: int) -> bytes:
        """Up to `count` frames from frame `start` (fewer at the decoded end)."""
        fd = self._fd
        if fd is None or not self.rate:
            return b""
        count = max(0, min(count, self._frames - start))
        if count <= 0:
            return b""
        return os.pread(fd, count * self.frame_bytes, self.data_offset + start * self.frame_bytes)

    # -- ownership --------------------------------------------------------------------------------
    def retain(self) -> PcmFile:
        with self._cond:
            self._users += 1
        return self

    def on_release(self, callback: Callable[[PcmFile], None]) -> None:
        self._on_release.append(callback)

    def close(self) -> None:
        """Give up this user's hold; the last one cancels a running decode and closes the file."""
        with self._cond:
            if self._users <= 0:
                return                  # already closed: closing twice is harmless
            self._users -= 1
            if self._users > 0:
                return
        self.cancel()
        self.wait_done(5.0)
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        for callback in self._on_release:
            callback(self)

    def cancel(self) -> None:
        """Stop decoding now: kill ffmpeg's process group (the reader thread reaps it)."""
        with self._cond:
            if self._done:
                return
            self.cancelled = True
            proc = self._proc
        if proc is not None:
            _kill_group(proc)

    # -- used by the decoder ----------------------------------------------------------------------
    def _set_format(self, rate: int, channels: int, offset: int) -> None:
        with self._cond:
            self.rate, self.channels, self.data_offset = rate, channels, offset
            self._cond.notify_all()

    def _advance(self, frames: int) -> None:
        with self._cond:
            self._frames = frames
            self._cond.notify_all()

    def _finish(self, error: AudioError | None = None, path: Path | None = None) -> None:
        with self._cond:
            if error is not None and self.error is None and not self.cancelled:
                self.error = error
            if path is not None:
                self.path = path
            self._done = True
            self._proc = None
            self._cond.notify_all()

    def __repr__(self) -> str:
        state = "done" if self._done else "decoding"
        return f"<PcmFile {self.path.name} {self.rate} Hz ×{self.channels} {self._frames} frames {state}>"


def _span(seconds: float) -> str:
    """`3 h`, `2 min`, `45 s`: the decode limit in words."""
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def start_decode(media: Path, dest: Path, *, duration_hint: float | None = None, ffmpeg: str | None = None,
                 stall_seconds: float = STALL_SECONDS,
                 on_finished: Callable[[PcmFile], None] | None = None) -> PcmFile:
    """Start decoding `media` into the WAV file `dest` on a thread and return at once.

    The format is sniffed from the file's first bytes; anything not on the allow-list (a web
    page, an HLS playlist, unknown bytes) fails at once with `DecodeError` (raised here, nothing
    started). The returned `PcmFile` grows while ffmpeg works; on success `dest` holds the whole
    file (renamed into place), otherwise no `dest` is made and the temporary file is removed when
    the last user closes it. `on_finished` runs on the decoder thread when it ends.
    """
    fmt = sniff_file(media)
    demuxer = DEMUXERS.get(fmt)
    if demuxer is None:
        raise DecodeError("cannot decode this recording: the download is not audio (a web page, a "
                          "playlist or an unknown format)")
    exe = ffmpeg or ffmpeg_exe()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(dest)
    out = open(tmp, "xb", buffering=0)  # noqa: SIM115 (owned by the decoder thread)
    pcm = PcmFile(tmp, duration_hint=duration_hint)
    try:
        with media.open("rb") as source:
            proc = subprocess.Popen(ffmpeg_command(exe, demuxer), stdin=source, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True, close_fds=True)
    except OSError as exc:
        out.close()
        tmp.unlink(missing_ok=True)
        pcm._finish(DecoderMissing())
        pcm.close()
        raise DecoderMissing() from exc
    pcm._proc = proc
    _Decoder(pcm, proc, out, tmp, dest, stall_seconds, on_finished).start()
    return pcm


class _Decoder:
    """The threads behind one decode: stdout → file, stderr → duration and error lines, and a
    watchdog that kills a decoder making no progress."""

    def __init__(self, pcm: PcmFile, proc: subprocess.Popen[bytes], out: object, tmp: Path, dest: Path,
                 stall_seconds: float, on_finished: Callable[[PcmFile], None] | None) -> None:
        self.pcm, self.proc, self.out, self.tmp, self.dest = pcm, proc, out, tmp, dest
        self.stall_seconds = stall_seconds
        self.on_finished = on_finished
        self.progress_at = time.monotonic()
        self.stalled = False
        self.errors: collections.deque[str] = collections.deque(maxlen=8)
        self.finished = threading.Event()

    def start(self) -> None:
        self.stderr_thread = threading.Thread(target=self._stderr, name="rectui-ffmpeg-stderr", daemon=True)
        self.stderr_thread.start()
        threading.Thread(target=self._watchdog, name="rectui-ffmpeg-watchdog", daemon=True).start()
        threading.Thread(target=self._run, name="rectui-decode", daemon=True).start()

    # -- threads ----------------------------------------------------------------------------------
    def _stderr(self) -> None:
        assert self.proc.stderr is not None
        with self.proc.stderr:
            for raw in self.proc.stderr:
                self._stderr_line(raw)

    def _stderr_line(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").rstrip()
        level = _LEVEL.match(line)
        kind = level.group(1) if level else ""
        text = line[level.end():] if level else line
        if kind in ("error", "fatal", "panic"):
            self.errors.append(_ADDRESS.sub("", text))
        elif self.pcm._estimate is None and (m := _DURATION.search(text)):
            hours, minutes, seconds = m.groups()
            self.pcm._estimate = int(hours) * 3600 + int(minutes) * 60 + float(seconds) or None

    def _watchdog(self) -> None:
        while not self.finished.wait(min(0.5, self.stall_seconds / 4)):
            if time.monotonic() - self.progress_at > self.stall_seconds:
                self.stalled = True
                _kill_group(self.proc)
                return

    def _run(self) -> None:
        error: AudioError | None = None
        try:
            error = self._copy()
        except OSError as exc:          # the cache disk is full or gone
            _kill_group(self.proc)
            error = AudioError(f"cannot write the decoded audio to the cache ({exc.strerror or exc})",
                               title="Cache write failed")
        except AudioError as exc:
            _kill_group(self.proc)
            error = exc
        finally:
            self.out.close()  # type: ignore[attr-defined]
            assert self.proc.stdout is not None
            self.proc.stdout.close()
            returncode = self.proc.wait()
            self.finished.set()
            self.stderr_thread.join(5.0)       # all of ffmpeg's messages before the verdict
        if error is None:
            error = self._verdict(returncode)
        final = None
        if error is None and not self.pcm.cancelled:
            try:
                self._seal()
                final = self.dest
            except OSError as exc:
                error = AudioError(f"cannot keep the decoded audio in the cache ({exc.strerror or exc})",
                                   title="Cache write failed")
        if final is None:
            self.pcm.on_release(lambda _pcm: self.tmp.unlink(missing_ok=True))
        self.pcm._finish(error, final)
        if self.on_finished is not None:
            self.on_finished(self.pcm)

    # -- steps ------------------------------------------------------------------------------------
    def _copy(self) -> AudioError | None:
        """Header first (rate, channels), then data in chunks; returns an error found on the way."""
        stdout = self.proc.stdout
        assert stdout is not None
        head = b""
        parsed = None
        while parsed is None:
            chunk = stdout.read1(READ_CHUNK)
            if not chunk:
                return None            # no header: the verdict comes from the exit status
            self.progress_at = time.monotonic()
            head += chunk
            parsed = parse_wav_header(head)
            if parsed is None and len(head) > HEADER_LIMIT:
                return DecodeError("cannot decode this recording: the decoder's output has no audio data")
        rate, channels, bits, offset = parsed
        if bits != 16 or channels not in (1, 2) or rate not in DEVICE_RATES:
            return DecodeError(f"cannot decode this recording: unexpected output ({rate} Hz, {channels} "
                               f"channels, {bits}-bit)")
        self.out.write(wav_header(rate, channels, 0))  # type: ignore[attr-defined]
        self.pcm._set_format(rate, channels, WAV_HEADER_BYTES)
        frame = channels * SAMPLE_WIDTH
        written = self._write(head[offset:], 0, frame)
        while chunk := stdout.read1(READ_CHUNK):
            self.progress_at = time.monotonic()
            written = self._write(chunk, written, frame)
        return None

    def _write(self, data: bytes, written: int, frame: int) -> int:
        view = memoryview(data)
        while view:
            n = self.out.write(view)  # type: ignore[attr-defined]
            view = view[n:]
            written += n
        self.pcm._advance(written // frame)
        return written

    def _verdict(self, returncode: int) -> AudioError | None:
        """The error to report from ffmpeg's exit (None: fine), in words a user can act on."""
        if self.pcm.cancelled:
            return None
        if self.stalled:
            return DecoderFailed(f"the decoder stopped making progress for {self.stall_seconds:g} s and was "
                                 "stopped; try again, or save the original file instead")
        if returncode < 0:
            return DecoderFailed(f"the decoder crashed (signal {-returncode}) on this recording; save the "
                                 "original file instead")
        if returncode > 0:
            return DecodeError(f"cannot decode this recording: {self._reason()}")
        if self.pcm.frames_ready == 0:
            return EmptyAudio()
        if self.errors:
            self.pcm.warning = f"the file seems damaged or cut short ({self._reason()}); playing what decoded"
        elif self.pcm.rate and self.pcm.frames_ready >= MAX_SECONDS * self.pcm.rate - self.pcm.rate // 100:
            self.pcm.warning = (f"only the first {_span(MAX_SECONDS)} of this recording are played (longer "
                                "recordings are cut there); save the original file for the rest")
        return None

    def _reason(self) -> str:
        text = " ".join(self.errors)
        lowered = text.lower()
        if any(k in lowered for k in ("invalid", "header missing", "end of file", "corrupt", "error while decoding")):
            return "the file is damaged, cut short or not audio"
        if "matches no streams" in text or "does not contain any stream" in text:
            return "the file has no audio stream"
        last = self.errors[-1] if self.errors else "the decoder failed"
        return one_line(last, limit=160)

    def _seal(self) -> None:
        """Write the real sizes into the header and move the file into place."""
        data = self.pcm.frames_ready * self.pcm.frame_bytes
        fd = os.open(self.tmp, os.O_WRONLY)
        try:
            os.ftruncate(fd, WAV_HEADER_BYTES + data)     # drop a trailing partial frame
            os.pwrite(fd, wav_header(self.pcm.rate, self.pcm.channels, data), 0)
        finally:
            os.close(fd)
        os.replace(self.tmp, self.dest)
