"""Media files, shared by the adapters, the operations layer and the audio work: the format
sniffed from the bytes (never trusted from a header), and safe cache-file naming (a hash, never
a server-provided id)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from rectui.models import MediaFormat

EXTENSIONS: dict[str, str] = {"wav": ".wav", "mp3": ".mp3", "ogg": ".ogg", "webm": ".webm", "mp4": ".mp4",
                              "unknown": ".bin"}
SNIFF_BYTES = 64


def sniff(head: bytes) -> MediaFormat:
    """The container format of media from its first bytes: `unknown` for anything else (an HTML
    page, an HLS playlist, garbage), which the caller refuses to decode."""
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if len(head) >= 8 and head[4:8] == b"ftyp":
        return "mp4"
    if head[:3] == b"ID3":
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06) != 0:
        return "mp3"   # an MPEG audio frame sync with a valid layer
    return "unknown"


def sniff_file(path: Path) -> MediaFormat:
    with path.open("rb") as fh:
        return sniff(fh.read(SNIFF_BYTES))


def cache_key(provider: str, account: str, recording_id: str, fmt: str) -> str:
    """A stable, path-safe name for (provider instance, account, recording id, format)."""
    # JSON, not a NUL-joined string: ("b\0c", "d") and ("b", "c\0d") must not collide
    raw = json.dumps([provider, account, recording_id, fmt]).encode()
    return hashlib.sha256(raw).hexdigest()


def cache_path(cache_dir: Path, provider: str, account: str, recording_id: str, fmt: str) -> Path:
    """Where that media lives in `cache_dir`: hash name + an allow-listed extension; refuses
    anything that would resolve outside the cache directory."""
    ext = EXTENSIONS.get(fmt, ".bin")
    path = cache_dir / (cache_key(provider, account, recording_id, fmt) + ext)
    if not path.resolve().is_relative_to(cache_dir.resolve()):
        raise ValueError("cache path escapes the cache directory")
    return path


def temp_path(final: Path) -> Path:
    """A unique temporary sibling of `final` to write into and then `os.replace`."""
    return final.with_name(f".{final.name}.{os.getpid()}.{os.urandom(4).hex()}.part")
