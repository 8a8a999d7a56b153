"""The media cache: downloaded audio under `root/media`, decoded PCM under `root/pcm`.

Names are hashes of (provider instance, recording id, format) with an allow-listed extension
(`rectui.mediafiles.cache_path`), never a server-provided id. Files appear only complete, by
rename: the adapter downloads into a private staging directory (its own temp file, then rename),
the cache moves the result to its final name; the decoder writes `*.part` and renames when done.
Anything else found at start (staging directories and `.part` files of processes that are gone)
is removed, and never looked at for playback.

Size: least recently used files go first once the total passes the cap; "used" is the file's
mtime, which the cache sets on every hit (atime is unreliable under `noatime`/`relatime`).
Files in use (pinned: the PCM a player holds, a decode in progress, their media) are never
evicted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rectui.audio.convert import STALL_SECONDS, PcmFile, start_decode
from rectui.audio.errors import DecodeError
from rectui.mediafiles import EXTENSIONS, cache_path
from rectui.models import Media, Recording

GiB = 1024 ** 3
MiB = 1024 ** 2
DEFAULT_CAP_BYTES = 2 * GiB
DEFAULT_MAX_FILE_BYTES = 200 * MiB
FORMATS = ("wav", "mp3", "ogg", "webm", "mp4")
STAGING_PREFIX = ".staging-"


def _instance(provider: Any) -> str:
    """What tells two provider instances of one name apart (another server): the secret-free
    description (kind and base URL)."""
    describe = getattr(provider, "describe", None)
    return describe() if callable(describe) else str(getattr(provider, "kind", ""))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_pid(name: str) -> int | None:
    """The pid in a `.name.<pid>.<hex>.part` or `.staging-<pid>-<hex>` name."""
    try:
        if name.startswith(STAGING_PREFIX):
            return int(name[len(STAGING_PREFIX):].split("-")[0])
        if name.endswith(".part"):
            return int(name.rsplit(".", 3)[-3])
    except (ValueError, IndexError):
        return None
    return None


class MediaCache:
    """Media and decoded PCM on disk, bounded by `cap_bytes`; one per app."""

    def __init__(self, root: Path, cap_bytes: int = DEFAULT_CAP_BYTES, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
                 *, stall_seconds: float = STALL_SECONDS, ffmpeg: str | None = None) -> None:
        self.root = root
        self.media_dir = root / "media"
        self.pcm_dir = root / "pcm"
        self.cap_bytes = cap_bytes
        self.max_file_bytes = max_file_bytes
        self.stall_seconds = stall_seconds
        self.ffmpeg = ffmpeg
        for d in (self.media_dir, self.pcm_dir):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._pins: Counter[Path] = Counter()
        self._live: dict[Path, PcmFile] = {}
        self._lock = threading.Lock()
        self._fetching: dict[Path, asyncio.Lock] = {}
        self.clean_stale()

    # -- names ------------------------------------------------------------------------------------
    def media_path(self, provider: Any, recording: Recording, fmt: str) -> Path:
        return cache_path(self.media_dir, provider.id, _instance(provider), recording.id, fmt)

    def pcm_path(self, media: Media) -> Path:
        """Where the decoded PCM of `media` lives: a hash of the media's (hash) name."""
        name = hashlib.sha256(f"pcm-s16:{media.path.name}".encode()).hexdigest()
        return self.pcm_dir / f"{name}.wav"

    def lookup(self, provider: Any, recording: Recording) -> Media | None:
        """The cached media of `recording`, whatever its format (and mark it used), or None."""
        for fmt in FORMATS:
            path = self.media_path(provider, recording, fmt)
            try:
                size = path.stat().st_size
            except OSError:
                continue
            self._touch(path)
            return Media(path=path, format=fmt, size=size)  # type: ignore[arg-type]
        return None

    # -- fetching ---------------------------------------------------------------------------------
    async def fetch(self, provider: Any, recording: Recording) -> Media:
        """The recording's media from the cache, else downloaded by `provider.fetch_media` (at
        most `max_file_bytes`) and moved into the cache. Concurrent calls for one recording share
        one download. Provider errors (`Unsupported`, `BadResponse` "Not audio" or too large…)
        pass through; nothing partial is ever left under a cache name."""
        key = self.media_path(provider, recording, "media")
        lock = self._fetching.setdefault(key, asyncio.Lock())
        async with lock:
            found = await asyncio.to_thread(self.lookup, provider, recording)
            if found is not None:
                return found
            staging = await asyncio.to_thread(self._staging_dir)
            try:
                got = await provider.fetch_media(recording, staging, max_bytes=self.max_file_bytes)
                media = await asyncio.to_thread(self._adopt, provider, recording, got)
            finally:
                await asyncio.to_thread(shutil.rmtree, staging, True)
        await asyncio.to_thread(self.trim)
        return media

    def _staging_dir(self) -> Path:
        path = self.media_dir / f"{STAGING_PREFIX}{os.getpid()}-{os.urandom(4).hex()}"
        path.mkdir(mode=0o700)
        return path

    def _adopt(self, provider: Any, recording: Recording, got: Media) -> Media:
        fmt = got.format if got.format in EXTENSIONS else "unknown"
        final = self.media_path(provider, recording, fmt)
        os.replace(got.path, final)
        self._touch(final)
        return Media(path=final, format=fmt, size=final.stat().st_size, content_type=got.content_type)

    # -- decoding ---------------------------------------------------------------------------------
    def decode(self, media: Media, *, duration_hint: float | None = None) -> PcmFile:
        """The PCM of `media`: the cached file when complete, the decode already running for it,
        or a new decode (`rectui.audio.convert.start_decode`). Returns at once; the caller owns
        one hold and `close`s it. Raises `DecodeError` at once for media that is not audio."""
        dest = self.pcm_path(media)
        with self._lock:
            live = self._live.get(dest)
            if live is not None:
                return live.retain()
        if dest.exists():
            try:
                pcm = PcmFile.open(dest)
            except (OSError, struct.error, DecodeError):      # damaged: decode again
                dest.unlink(missing_ok=True)
            else:
                self._touch(dest)
                self._hold(pcm, dest, media.path)
                return pcm
        pcm = start_decode(media.path, dest, duration_hint=duration_hint, ffmpeg=self.ffmpeg,
                           stall_seconds=self.stall_seconds, on_finished=self._decoded)
        with self._lock:
            self._live[dest] = pcm
        self._hold(pcm, dest, media.path)
        return pcm

    def _hold(self, pcm: PcmFile, *paths: Path) -> None:
        for p in paths:
            self.pin(p)

        def release(_pcm: PcmFile) -> None:
            with self._lock:
                if self._live.get(paths[0]) is pcm:
                    del self._live[paths[0]]
            for p in paths:
                self.unpin(p)

        pcm.on_release(release)

    def _decoded(self, pcm: PcmFile) -> None:
        if pcm.ok:
            self.trim()

    # -- pins and size ----------------------------------------------------------------------------
    def pin(self, path: Path) -> None:
        """Keep `path` from eviction until `unpin`ned (counted)."""
        with self._lock:
            self._pins[path] += 1

    def unpin(self, path: Path) -> None:
        with self._lock:
            self._pins[path] -= 1
            if self._pins[path] <= 0:
                del self._pins[path]

    def in_use(self, path: Path) -> bool:
        with self._lock:
            return self._pins[path] > 0 if path in self._pins else False

    def _entries(self) -> list[tuple[float, int, Path]]:
        """(last use, size, path) of every complete file the cache holds."""
        out = []
        for d in (self.media_dir, self.pcm_dir):
            with os.scandir(d) as it:
                for entry in it:
                    if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                        continue
                    with contextlib.suppress(OSError):
                        st = entry.stat(follow_symlinks=False)
                        out.append((st.st_mtime, st.st_size, Path(entry.path)))
        return out

    def usage(self) -> int:
        """Bytes held by complete files (a decode in progress is not counted until it ends)."""
        return sum(size for _, size, _ in self._entries())

    def trim(self) -> list[Path]:
        """Evict least recently used files until the total is within the cap; returns them."""
        entries = sorted(self._entries())
        total = sum(size for _, size, _ in entries)
        evicted: list[Path] = []
        for _, size, path in entries:
            if total <= self.cap_bytes:
                break
            if self.in_use(path):
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                evicted.append(path)
            total -= size
        return evicted

    def clean_stale(self) -> int:
        """Remove staging directories and `.part` files left by processes that are gone (this
        process's own are work in progress)."""
        removed = 0
        for d in (self.media_dir, self.pcm_dir):
            for entry in list(d.iterdir()):
                pid = _owner_pid(entry.name)
                if pid is None or pid == os.getpid() or _pid_alive(pid):
                    continue
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed += 1
        return removed

    @staticmethod
    def _touch(path: Path, now: Callable[[], float] = time.time) -> None:
        with contextlib.suppress(OSError):
            t = now()
            os.utime(path, (t, t))
