"""Format sniffing from bytes and safe cache naming."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rectui.mediafiles import cache_path, sniff, temp_path


@pytest.mark.parametrize(("head", "fmt"), [
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav"),
    (b"ID3\x04\x00\x00\x00\x00\x00\x00", "mp3"),
    (b"\xff\xfb\x90\x64\x00", "mp3"),
    (b"OggS\x00\x02", "ogg"),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", "webm"),
    (b"\x00\x00\x00\x20ftypisom", "mp4"),
    (b"<!DOCTYPE html><html>", "unknown"),
    (b"#EXTM3U\n#EXT-X-VERSION:3\nhttp://evil.example/a.ts", "unknown"),
    (b"", "unknown"),
    (b"\xff\x00garbage", "unknown"),
])
def test_sniff(head: bytes, fmt: str) -> None:
    assert sniff(head) == fmt


def test_cache_names_are_hashes_with_allow_listed_extensions(tmp_path: Path) -> None:
    p = cache_path(tmp_path, "kazoo", "acct", "../../etc/passwd", "mp3")
    assert p.parent == tmp_path and re.fullmatch(r"[0-9a-f]{64}\.mp3", p.name)
    assert cache_path(tmp_path, "kazoo", "acct", "x", "exe").suffix == ".bin"
    assert cache_path(tmp_path, "a", "b", "c", "wav") != cache_path(tmp_path, "a", "b", "c", "mp3")
    assert cache_path(tmp_path, "a", "b\0c", "d", "wav") != cache_path(tmp_path, "a", "b", "c\0d", "wav")
    t = temp_path(p)
    assert t.parent == tmp_path and t.name.startswith(".") and t != temp_path(p)


@given(st.text(max_size=300), st.text(max_size=20))
def test_any_id_stays_inside_the_cache(rid: str, fmt: str) -> None:
    base = Path("/nonexistent-cache-root")
    p = cache_path(base, "prov", "acct", rid, fmt)
    assert p.parent == base and "/" not in p.name and ".." not in p.name
