"""The media cache: hash names, reuse, LRU eviction under a cap, pins, atomic writes, limits."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rectui.audio import MediaCache
from rectui.mediafiles import sniff_file, temp_path
from rectui.models import Media, Recording


class FileProvider:
    """A stand-in provider serving local files (the cache is under test, not an adapter): writes
    like an adapter does (temp file, then rename) and counts downloads."""

    kind = "files"

    def __init__(self, files: dict[str, bytes], name: str = "files") -> None:
        self.id = name
        self.files = files
        self.calls = 0
        self.crash_after: int | None = None

    def describe(self) -> str:
        return "files at memory"

    async def fetch_media(self, recording: Recording, dest_dir: Path, *, max_bytes: int) -> Media:
        self.calls += 1
        data = self.files[recording.id]
        final = dest_dir / "download.bin"
        tmp = temp_path(final)
        if self.crash_after is not None:
            tmp.write_bytes(data[: self.crash_after])
            raise ConnectionResetError("the connection dropped")
        if len(data) > max_bytes:
            raise ValueError(f"over the {max_bytes}-byte limit")
        tmp.write_bytes(data)
        os.replace(tmp, final)
        return Media(path=final, format=sniff_file(final), size=len(data))


def rec(rid: str) -> Recording:
    return Recording(provider="files", id=rid, title="x")


def wav(n: int) -> bytes:
    from rectui.audio.convert import wav_header
    return wav_header(8000, 1, n) + b"\x01\x00" * (n // 2)


def everything(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


async def test_names_are_hashes_never_ids_and_a_hit_is_not_downloaded_again(tmp_path: Path) -> None:
    hostile = rec("../../x/%2e%2e/\u202eevil").id              # as a Recording keeps it (sanitised)
    assert hostile.startswith("../../x/")
    prov = FileProvider({hostile: wav(1000)})
    cache = MediaCache(tmp_path / "c")
    first = await cache.fetch(prov, rec(hostile))
    assert first.format == "wav" and first.path.parent == cache.media_dir
    assert first.path.suffix == ".wav" and len(first.path.stem) == 64
    assert all(part != "x" and "evil" not in part for part in everything(tmp_path / "c"))
    assert not (tmp_path / "x").exists()
    again = await cache.fetch(prov, rec(hostile))
    assert again.path == first.path and prov.calls == 1                      # found without knowing the format
    other_instance = FileProvider({hostile: wav(1000)}, name="files2")     # another configured instance
    assert (await cache.fetch(other_instance, rec(hostile))).path != first.path
    pcm_path = cache.pcm_path(first)
    assert pcm_path.parent == cache.pcm_dir and len(pcm_path.stem) == 64 and pcm_path.suffix == ".wav"


async def test_least_recently_used_files_are_evicted_down_to_the_cap(tmp_path: Path) -> None:
    files = {f"r{i}": wav(10_000) for i in range(5)}
    prov = FileProvider(files)
    cache = MediaCache(tmp_path / "c", cap_bytes=35_000)
    got = {}
    for i in range(3):
        got[i] = await cache.fetch(prov, rec(f"r{i}"))
        os.utime(got[i].path, (1000 + i, 1000 + i))                          # distinct, ordered uses
    cache.lookup(prov, rec("r0"))                                            # r0 used again: newest
    got[3] = await cache.fetch(prov, rec("r3"))                               # 4 × 10 kB > 35 kB
    assert not got[1].path.exists()                                          # the least recently used
    assert got[0].path.exists() and got[2].path.exists() and got[3].path.exists()
    assert cache.usage() <= 35_000


async def test_files_in_use_are_never_evicted(tmp_path: Path) -> None:
    prov = FileProvider({f"r{i}": wav(10_000) for i in range(3)})
    cache = MediaCache(tmp_path / "c", cap_bytes=15_000)
    first = await cache.fetch(prov, rec("r0"))
    os.utime(first.path, (1, 1))
    pcm = cache.decode(first)                                                # pins the media and its PCM
    assert pcm.wait_done(30) and pcm.ok
    await cache.fetch(prov, rec("r1"))
    assert first.path.exists() and pcm.path.exists()
    pcm.close()
    await cache.fetch(prov, rec("r2"))
    assert not first.path.exists()                                           # released: evictable again
    again = cache.decode(await cache.fetch(prov, rec("r2")))
    assert again.wait_done(30)
    again.close()


async def test_a_crash_mid_download_leaves_nothing_playable(tmp_path: Path) -> None:
    prov = FileProvider({"r": wav(50_000)})
    cache = MediaCache(tmp_path / "c")
    prov.crash_after = 1000
    with pytest.raises(ConnectionResetError):
        await cache.fetch(prov, rec("r"))
    assert cache.lookup(prov, rec("r")) is None
    assert [p for p in cache.media_dir.iterdir()] == []                      # staging removed too
    # a process killed mid-download (no cleanup ran): its .part and staging dir stay behind…
    dead = subprocess.Popen(["true"])  # noqa: ASYNC220 (a pid that is surely gone)
    dead.wait()
    final = cache.media_path(prov, rec("r"), "wav")
    part = final.with_name(f".{final.name}.{dead.pid}.abcd1234.part")
    part.write_bytes(wav(50_000)[:1000])
    staging = cache.media_dir / f".staging-{dead.pid}-abcd1234"
    staging.mkdir()
    (staging / "x.part").write_bytes(b"RIFF")
    pcm_part = cache.pcm_dir / f".{'0' * 64}.wav.{dead.pid}.abcd1234.part"
    pcm_part.write_bytes(b"RIFF")
    assert cache.lookup(prov, rec("r")) is None                              # …and is never played
    restarted = MediaCache(tmp_path / "c")
    assert not part.exists() and not staging.exists() and not pcm_part.exists()
    prov.crash_after = None
    media = await restarted.fetch(prov, rec("r"))
    assert media.path == final and media.size == len(wav(50_000))


async def test_the_per_file_limit_is_passed_to_the_download(tmp_path: Path) -> None:
    prov = FileProvider({"big": wav(20_000)})
    cache = MediaCache(tmp_path / "c", max_file_bytes=10_000)
    with pytest.raises(ValueError, match="10000-byte limit"):
        await cache.fetch(prov, rec("big"))
    assert everything(tmp_path / "c") == ["media", "pcm"]


async def test_a_decoded_pcm_is_reused_and_a_damaged_one_redone(tmp_path: Path) -> None:
    prov = FileProvider({"r": wav(16_000)})
    cache = MediaCache(tmp_path / "c")
    media = await cache.fetch(prov, rec("r"))
    pcm = cache.decode(media)
    shared = cache.decode(media)                                             # the same decode, shared
    assert shared is pcm
    assert pcm.wait_done(30) and pcm.ok
    pcm.close()
    shared.close()
    again = cache.decode(media)
    assert again is not pcm and again.done and again.frames_ready == 8000    # reopened, not decoded
    again.close()
    data = cache.pcm_path(media).read_bytes()
    cache.pcm_path(media).write_bytes(data[:100])
    redone = cache.decode(media)
    assert redone.wait_done(30) and redone.ok and redone.frames_ready == 8000
    redone.close()


def test_cache_is_described_by_its_settings(tmp_path: Path) -> None:
    from rectui.config import UiSettings
    ui = UiSettings()
    cache = MediaCache(tmp_path / "c", cap_bytes=ui.audio_cache_mb * 1024 * 1024,
                       max_file_bytes=ui.media_max_mb * 1024 * 1024)
    assert cache.cap_bytes == 2 * 1024 ** 3 and cache.max_file_bytes == 200 * 1024 ** 2


