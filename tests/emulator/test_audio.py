"""The emulator's audio: real, decodable media in every format, fast to start, cached, ranged,
deterministic, and the hostile `media` fault modes. Decoding uses the bundled ffmpeg."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import struct
import subprocess
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from rectui.emulator import audio
from rectui.emulator.app import Emulator, ProviderEmulator
from rectui.emulator.audio import (
    HUGE_SIZE,
    MEDIA_FORMATS,
    MediaStore,
    ffmpeg_exe,
    mp3_frames,
    nearest_opus_rate,
    programme,
)
from rectui.emulator.dataset import Dataset, Fact

ANCHOR = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CLIPS = Path(audio.__file__).with_name("clips")
MAGIC = {"wav": b"RIFF", "wav_ulaw": b"RIFF", "ogg_vorbis": b"OggS", "ogg_opus": b"OggS",
         "webm": b"\x1a\x45\xdf\xa3", "mp3": b"ID3"}


# -- helpers ------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Decoded:
    returncode: int
    pcm_bytes: int
    codec: str
    rate: int
    channels: int
    stderr: str
    silent_share: float     # share of zero bytes in the decoded PCM

    @property
    def seconds(self) -> float:
        return self.pcm_bytes / 2 / max(self.channels, 1) / max(self.rate, 1)


def decode(data: bytes) -> Decoded:
    """`ffmpeg -i pipe:0 -f s16le -acodec pcm_s16le pipe:1`, as the brief says a player would."""
    done = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostats", "-i", "pipe:0", "-f", "s16le",
                           "-acodec", "pcm_s16le", "pipe:1"], input=data, capture_output=True, timeout=120,
                          check=False)
    err = done.stderr.decode(errors="replace")
    m = re.search(r"Audio: (\w+)[^,]*, (\d+) Hz, (mono|stereo)", err)
    codec, rate, layout = m.groups() if m else ("", "0", "")
    silent = done.stdout.count(0) / len(done.stdout) if done.stdout else 1.0
    return Decoded(done.returncode, len(done.stdout), codec, int(rate), 2 if layout == "stereo" else 1, err, silent)


def fact_with(index: int = 0, *, seed: int = 1, provider: str = "audiotest", **changes: object) -> Fact:
    base = Dataset(provider=provider, seed=seed, count=60, anchor=ANCHOR).fact(index)
    return dataclasses.replace(base, **changes)


@dataclasses.dataclass
class Served:
    status: int = 0
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: bytearray = dataclasses.field(default_factory=bytearray)
    received: int = 0
    complete: bool = False
    first_byte_after: float | None = None
    on_first_byte: object = None


async def serve(make: Callable[[Request], Awaitable[Response]], *, headers: Iterable[tuple[str, str]] = (),
                method: str = "GET", limit: int | None = None, keep: int | None = None,
                on_first_byte: Callable[[], object] | None = None) -> Served:
    """Run a Starlette response as an ASGI server would, reading at most `limit` bytes and then
    hanging up (httpx's in-process transport would buffer an endless body forever)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": "/media", "raw_path": b"/media", "query_string": b"", "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
             "server": ("media.emulator.test", 80), "client": ("127.0.0.1", 50000)}
    got = Served()
    hang_up = asyncio.Event()
    asked = False
    t0 = time.perf_counter()
    response = await make(Request(scope))

    async def receive() -> dict[str, object]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await hang_up.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            got.status = int(message["status"])  # type: ignore[arg-type]
            got.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}  # type: ignore[union-attr]
            return
        body = bytes(message.get("body", b""))  # type: ignore[arg-type]
        if body and got.first_byte_after is None:
            got.first_byte_after = time.perf_counter() - t0
            if on_first_byte is not None:
                got.on_first_byte = on_first_byte()
        got.received += len(body)
        if keep is None or len(got.body) < keep:
            got.body += body if keep is None else body[: keep - len(got.body)]
        if not message.get("more_body", False):
            got.complete = True
            hang_up.set()
        elif limit is not None and got.received >= limit:
            hang_up.set()

    await response(scope, receive, send)  # type: ignore[arg-type]
    return got


def media_of(store: MediaStore, fact: Fact, fmt: str, **kw: object) -> Awaitable[Served]:
    return serve(lambda req: store.response(fact, fmt, req), **kw)  # type: ignore[arg-type]


def fault_of(store: MediaStore, mode: str, fmt: str, **kw: object) -> Awaitable[Served]:
    return serve(lambda req: store.fault_response(mode, fmt, req), **kw)  # type: ignore[arg-type]


def opus_head_rate(data: bytes) -> int:
    at = data.index(b"OpusHead")
    return struct.unpack_from("<I", data, at + 12)[0]


@pytest.fixture
def store(media_cache: Path) -> MediaStore:
    return MediaStore(media_cache, seed=1)


# -- the clips ----------------------------------------------------------------------------------------
def test_clips_are_a_few_small_spoken_files_with_a_readme() -> None:
    clips = sorted(CLIPS.glob("*.opus"))
    assert len(clips) >= 6
    assert {c.stem.split("-")[0] for c in clips} >= {"agent", "caller"}
    for clip in clips:
        assert clip.stat().st_size < 8 * 1024, clip.name
        d = decode(clip.read_bytes())
        assert d.returncode == 0 and d.codec == "opus" and d.channels == 1
        assert 1.0 < d.seconds < 5.0, clip.name
        assert opus_head_rate(clip.read_bytes()) == 16000
    readme = (CLIPS / "README.md").read_text()
    for clip in clips:
        assert clip.name in readme
    assert "espeak-ng" in readme and "licen" in readme.lower()


# -- real audio in every format -----------------------------------------------------------------------
MATRIX = [
    ("wav", 8000, 1), ("wav", 44100, 2),
    ("wav_ulaw", 8000, 1), ("wav_ulaw", 16000, 2),
    ("ogg_vorbis", 8000, 1), ("ogg_vorbis", 44100, 2),
    ("ogg_opus", 22050, 1), ("ogg_opus", 16000, 2),
    ("webm", 8000, 1), ("webm", 48000, 2),
    ("mp3", 8000, 1), ("mp3", 16000, 2),
]
CODECS = {"wav": "pcm_s16le", "wav_ulaw": "pcm_mulaw", "ogg_vorbis": "vorbis", "ogg_opus": "opus",
          "webm": "opus", "mp3": "mp3"}


@pytest.mark.parametrize(("fmt", "rate", "channels"), MATRIX)
async def test_media_decodes_to_its_duration_rate_and_channels(store: MediaStore, fmt: str, rate: int,
                                                               channels: int) -> None:
    duration = 3.0 + (rate % 7) + channels * 1.37
    fact = fact_with(rate % 50, sample_rate=rate, channels=channels, duration=duration)
    got = await media_of(store, fact, fmt)
    assert got.status == 200 and got.complete
    assert got.headers["content-type"] == MEDIA_FORMATS[fmt]
    assert int(got.headers["content-length"]) == len(got.body)
    assert bytes(got.body).startswith(MAGIC[fmt]) or (fmt == "mp3" and mp3_frames(bytes(got.body))), fmt
    d = decode(bytes(got.body))
    assert d.returncode == 0, d.stderr
    assert d.codec == CODECS[fmt]
    assert d.channels == channels
    assert abs(d.seconds - duration) <= 0.5, (d.seconds, duration)
    if fmt in ("ogg_opus", "webm"):
        # Opus decodes at 48 kHz; the stream says which rate it was made at (the nearest Opus rate).
        assert d.rate == 48000
        assert opus_head_rate(bytes(got.body)) == nearest_opus_rate(rate)
    else:
        assert d.rate == rate
    assert d.silent_share < 0.95, "the recording is (almost) all silence"


def test_opus_uses_the_nearest_rate_it_supports() -> None:
    assert [nearest_opus_rate(r) for r in (8000, 11025, 16000, 22050, 32000, 44100, 48000)] == \
        [8000, 12000, 16000, 24000, 24000, 48000, 48000]


async def test_long_item_decodes_to_its_duration(store: MediaStore) -> None:
    fact = fact_with(3, sample_rate=8000, channels=1, duration=12 * 60 + 7.25)
    got = await media_of(store, fact, "mp3")
    d = decode(bytes(got.body))
    assert d.returncode == 0 and d.rate == 8000
    assert abs(d.seconds - fact.duration) <= 0.5
    frames = mp3_frames(bytes(got.body))
    assert frames[-1].offset + frames[-1].length == len(got.body)   # frames and nothing else


@pytest.mark.slow
async def test_long_streamed_opus_is_complete_and_cached(store: MediaStore) -> None:
    fact = fact_with(4, seed=77, sample_rate=16000, channels=1, duration=10 * 60 + 3.5)
    path = store.path_for(fact, "ogg_opus")
    assert not path.exists()
    got = await media_of(store, fact, "ogg_opus")
    assert got.complete and "content-length" not in got.headers     # streamed while encoding
    assert path.read_bytes() == bytes(got.body)                      # and cached once complete
    d = decode(bytes(got.body))
    assert d.returncode == 0 and abs(d.seconds - fact.duration) <= 0.5
    again = await media_of(store, fact, "ogg_opus")
    assert again.headers["content-length"] == str(len(got.body)) and again.body == got.body


def test_mp3_frames_stand_alone_at_a_constant_bitrate(store: MediaStore) -> None:
    fact = fact_with(5, sample_rate=16000, channels=2, duration=20.0)
    frames = mp3_frames(store.render(fact, "mp3").path.read_bytes())
    assert {f.main_data_begin for f in frames} == {0}     # no bit reservoir: blocks concatenate cleanly
    assert {(f.bitrate, f.rate, f.channels) for f in frames} == {(audio.mp3_bitrate(16000, 2), 16000, 2)}


@pytest.mark.parametrize("fmt", ["wav", "wav_ulaw"])
def test_wav_headers_describe_the_data(store: MediaStore, fmt: str) -> None:
    fact = fact_with(6, sample_rate=8000, channels=1, duration=5.001)
    data = store.render(fact, fmt).path.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8
    tag, channels, rate = struct.unpack_from("<HHI", data, 20)
    assert (tag, channels, rate) == ((1 if fmt == "wav" else 7), 1, 8000)
    at = data.index(b"data")
    size = struct.unpack_from("<I", data, at + 4)[0]
    assert size == len(data) - at - 8 and size % 2 == 0
    if fmt == "wav_ulaw":
        fact_at = data.index(b"fact")
        assert struct.unpack_from("<I", data, fact_at + 8)[0] == size


def test_recordings_sound_different_and_the_programme_is_deterministic() -> None:
    facts = [fact_with(i) for i in range(8)]
    programmes = [programme(1, f.uid, 300.0) for f in facts]
    assert len(set(programmes)) == len(programmes)
    assert programmes[0] == programme(1, facts[0].uid, 300.0)
    assert programme(2, facts[0].uid, 300.0) != programmes[0]
    names = {name for p in programmes for _, name in p}
    assert any(n.startswith("agent-") for n in names) and any(n.startswith("caller-") for n in names)
    for p in programmes:     # events never overlap and end before the recording does
        ends = [t + audio._sound(n).seconds for t, n in p]
        assert all(ends[i] <= p[i + 1][0] for i in range(len(p) - 1))
        assert ends[-1] <= 300.0 - 0.5


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.binary(min_size=1, max_size=300), st.sampled_from([1, 2, 7, 500])), min_size=1,
                max_size=8),
       st.integers(0, 200_000), st.integers(0, 200_000), st.sampled_from([1, 7, 64, 1000]))
def test_a_layout_serves_any_byte_range_in_even_chunks(segments: list[tuple[bytes, int]], a: int, b: int,
                                                       chunk: int) -> None:
    layout = audio._Layout(segments)
    whole = b"".join(data * n for data, n in segments)
    assert layout.size == len(whole)
    start, end = min(a, b) % (len(whole) + 2), max(a, b) % (len(whole) + 2)
    parts = list(layout.iter_range(start, end, chunk=chunk))
    assert b"".join(parts) == whole[start:end]
    assert all(len(p) == chunk for p in parts[:-1])


# -- determinism --------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", list(MEDIA_FORMATS))
def test_same_seed_and_fact_give_identical_bytes(media_cache: Path, fmt: str) -> None:
    fact = fact_with(7, seed=31, sample_rate=8000, channels=1, duration=6.5)
    first = MediaStore(media_cache, seed=31).render(fact, fmt)
    data = first.path.read_bytes()
    first.path.unlink()
    again = MediaStore(media_cache, seed=31).render(fact, fmt)     # a fresh store renders it anew
    assert again.path == first.path and again.path.read_bytes() == data
    other = MediaStore(media_cache, seed=31).render(fact_with(8, seed=31, sample_rate=8000, channels=1,
                                                              duration=6.5), fmt)
    assert other.path.read_bytes() != data
    reseeded = MediaStore(media_cache, seed=32).render(fact, fmt)
    assert reseeded.path.read_bytes() != data


def test_a_bank_builds_identically_twice() -> None:
    a = audio._bank_to_bytes(audio._build_bank("s16", 8000, 1, 0))
    b = audio._bank_to_bytes(audio._build_bank("s16", 8000, 1, 0))
    assert a == b and len(a) > 100_000


async def test_concurrent_renders_leave_one_whole_file_and_no_partial_files(store: MediaStore) -> None:
    fact = fact_with(9, seed=55, sample_rate=8000, channels=1, duration=8.0)
    files = await asyncio.gather(*[store.get(fact, "ogg_vorbis") for _ in range(4)])
    assert len({f.path for f in files}) == 1
    assert decode(files[0].path.read_bytes()).returncode == 0
    assert not list(store.cache_dir.glob(".*.part"))


# -- fast start, lengths, ranges ----------------------------------------------------------------------
async def test_60_minute_stream_starts_before_the_file_exists(store: MediaStore) -> None:
    fact = fact_with(10, seed=4242, sample_rate=48000, channels=2, duration=3600.0)
    path = store.path_for(fact, "ogg_vorbis")
    got = await media_of(store, fact, "ogg_vorbis", limit=64 * 1024, keep=8, on_first_byte=path.exists)
    assert got.status == 200 and got.received >= 64 * 1024
    assert got.first_byte_after is not None and got.first_byte_after < 5.0
    assert got.on_first_byte is False          # bytes flowed before any file was complete
    assert bytes(got.body[:4]) == b"OggS"
    assert store.live_encoders == 0            # hanging up killed ffmpeg …
    assert not path.exists()                   # … and left no cached file
    assert not list(store.cache_dir.glob(f".{path.name}.*"))     # nor a partial one


async def test_60_minute_wav_declares_its_length_and_serves_its_end_at_once(store: MediaStore) -> None:
    fact = fact_with(11, seed=4243, sample_rate=48000, channels=2, duration=3600.0)
    t0 = time.perf_counter()
    head = await media_of(store, fact, "wav", method="HEAD")
    assert time.perf_counter() - t0 < 5.0
    size = 44 + 3600 * 48000 * 4
    assert head.status == 200 and head.headers["content-length"] == str(size) and not head.body
    first = await media_of(store, fact, "wav", limit=1, keep=44)
    assert struct.unpack_from("<I", first.body, 40)[0] == size - 44
    tail = await media_of(store, fact, "wav", headers=[("Range", "bytes=-4096")])
    assert tail.status == 206 and len(tail.body) == 4096
    assert tail.headers["content-range"] == f"bytes {size - 4096}-{size - 1}/{size}"
    assert not store.path_for(fact, "wav").exists()      # assembled on the fly, not written out


@pytest.mark.parametrize("fmt", ["wav_ulaw", "mp3", "ogg_opus"])
async def test_range_requests(store: MediaStore, fmt: str) -> None:
    fact = fact_with(12, sample_rate=16000, channels=2, duration=9.0)
    full = await media_of(store, fact, fmt)
    data, size = bytes(full.body), len(full.body)
    assert full.headers["accept-ranges"] == "bytes" and full.headers["etag"]
    part = await media_of(store, fact, fmt, headers=[("Range", "bytes=100-1099")])
    assert part.status == 206 and bytes(part.body) == data[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{size}"
    assert part.headers["content-length"] == "1000"
    rest = await media_of(store, fact, fmt, headers=[("Range", f"bytes={size - 10}-")])
    assert rest.status == 206 and bytes(rest.body) == data[-10:]
    suffix = await media_of(store, fact, fmt, headers=[("Range", "bytes=-7")])
    assert suffix.status == 206 and bytes(suffix.body) == data[-7:]
    beyond = await media_of(store, fact, fmt, headers=[("Range", f"bytes={size}-")])
    assert beyond.status == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    several = await media_of(store, fact, fmt, headers=[("Range", "bytes=0-1,5-6")])
    assert several.status in (200, 206) and (several.status == 200) == (bytes(several.body) == data)
    stale = await media_of(store, fact, fmt, headers=[("Range", "bytes=0-9"), ("If-Range", '"stale"')])
    assert stale.status == 200 and bytes(stale.body) == data
    fresh = await media_of(store, fact, fmt, headers=[("Range", "bytes=0-9"), ("If-Range", full.headers["etag"])])
    assert fresh.status == 206 and bytes(fresh.body) == data[:10]


async def test_range_on_an_uncached_encoded_item(store: MediaStore) -> None:
    quick = fact_with(13, seed=4244, sample_rate=8000, channels=1, duration=45.0)
    got = await media_of(store, quick, "webm", headers=[("Range", "bytes=0-99")])
    assert got.status == 206 and len(got.body) == 100            # rendered first: quick to encode
    assert store.path_for(quick, "webm").exists()
    slow = fact_with(14, seed=4244, sample_rate=8000, channels=1, duration=audio.RANGE_RENDER_SECONDS + 30)
    got = await media_of(store, slow, "webm", headers=[("Range", "bytes=100-199")])
    assert got.status == 200 and "content-range" not in got.headers     # Range ignored while it streams
    assert got.complete and bytes(got.body).startswith(MAGIC["webm"])
    cached = await media_of(store, slow, "webm", headers=[("Range", "bytes=100-199")])
    assert cached.status == 206 and bytes(cached.body) == bytes(got.body[100:200])


def test_warm_builds_the_banks_a_request_needs(tmp_path: Path) -> None:
    store = MediaStore(tmp_path, seed=1)
    store.warm([("ogg_opus", 22050, 1)])
    assert [p.name.split("-")[:3] for p in (tmp_path / "banks").glob("*.bank")] == [["s16", "24000", "1"]]


async def test_a_provider_can_set_the_content_type_and_other_headers(store: MediaStore) -> None:
    fact = fact_with(14, sample_rate=8000, channels=1, duration=4.0)
    for fmt in ("wav", "ogg_vorbis"):
        got = await serve(lambda req, fmt=fmt: store.response(fact, fmt, req, headers={
            "Content-Type": "audio/x-wav", "Content-Disposition": "inline"}))
        assert got.headers["content-type"] == "audio/x-wav" and got.headers["content-disposition"] == "inline"


def test_unknown_format_is_refused(store: MediaStore) -> None:
    with pytest.raises(ValueError, match="unknown media format"):
        store.render(fact_with(0), "flac")


# -- the `media` fault modes ------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", list(MEDIA_FORMATS))
async def test_fault_corrupt_looks_like_the_format_but_does_not_decode(store: MediaStore, fmt: str) -> None:
    got = await fault_of(store, "corrupt", fmt)
    assert got.status == 200 and got.headers["content-type"] == MEDIA_FORMATS[fmt]
    assert bytes(got.body).startswith(MAGIC[fmt])
    assert decode(bytes(got.body)).returncode != 0


@pytest.mark.parametrize("fmt", ["wav", "mp3", "webm"])
async def test_fault_html_is_a_web_page_served_as_audio(store: MediaStore, fmt: str) -> None:
    got = await fault_of(store, "html", fmt)
    assert got.headers["content-type"] == MEDIA_FORMATS[fmt]
    assert got.body.lstrip().lower().startswith(b"<!doctype html") and b"</html>" in got.body
    assert decode(bytes(got.body)).returncode != 0


async def test_fault_hls_is_a_playlist_pointing_at_another_host(store: MediaStore, make_emulator) -> None:
    emu: Emulator = make_emulator(providers=())
    got = await fault_of(emu.media, "hls", "mp3")
    assert got.headers["content-type"] == "audio/mpeg"
    text = got.body.decode()
    assert text.startswith("#EXTM3U\n")
    urls = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert urls and all(u.startswith("http://") for u in urls)
    ours = {urlsplit(u).netloc for u in (emu.api_url, emu.login_url, emu.media_url)}
    assert {urlsplit(u).netloc for u in urls}.isdisjoint(ours)
    emu.media.foreign_url = "http://127.0.0.1:9"        # a test's foreign sink
    again = await fault_of(emu.media, "hls", "mp3")
    assert b"http://127.0.0.1:9/hls/segment-0.ts" in again.body


@pytest.mark.parametrize("fmt", list(MEDIA_FORMATS))
async def test_fault_empty_is_a_valid_file_with_zero_samples(store: MediaStore, fmt: str) -> None:
    got = await fault_of(store, "empty", fmt)
    assert got.headers["content-type"] == MEDIA_FORMATS[fmt]
    assert int(got.headers["content-length"]) == len(got.body) > 0
    if fmt == "mp3":
        frames = mp3_frames(bytes(got.body))               # an Info frame, and frames it says to skip
        assert b"Info" in got.body[:64] and len(frames) * 576 < 4095 + 529
    else:
        assert bytes(got.body).startswith(MAGIC[fmt])
    d = decode(bytes(got.body))
    assert d.returncode == 0, d.stderr
    assert d.pcm_bytes == 0 and d.codec == CODECS[fmt]


@pytest.mark.parametrize("fmt", ["wav", "wav_ulaw", "mp3", "ogg_opus"])
async def test_fault_huge_declares_2gb_and_streams_it_lazily(store: MediaStore, fmt: str) -> None:
    tracemalloc.start()
    try:
        got = await fault_of(store, "huge", fmt, limit=4 * 1024 * 1024, keep=64 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got.headers["content-length"] == str(HUGE_SIZE)
    assert got.received >= 4 * 1024 * 1024 and not got.complete
    assert peak < 32 * 1024 * 1024, peak
    head = bytes(got.body)
    if fmt.startswith("wav"):
        at = head.index(b"data")
        assert struct.unpack_from("<I", head, at + 4)[0] == HUGE_SIZE - at - 8
    elif fmt == "mp3":
        assert len(mp3_frames(head)) > 100
    else:
        assert head[:4] == b"OggS"
    tail = await fault_of(store, "huge", fmt, headers=[("Range", "bytes=-16")])
    assert tail.status == 206 and tail.headers["content-range"] == f"bytes {HUGE_SIZE - 16}-{HUGE_SIZE - 1}/{HUGE_SIZE}"


@pytest.mark.parametrize(("fmt", "enough"), [("wav", 2_000_000), ("mp3", 300_000), ("ogg_opus", 120_000),
                                             ("webm", 120_000)])
async def test_fault_endless_streams_until_the_client_stops(store: MediaStore, fmt: str, enough: int) -> None:
    got = await fault_of(store, "endless", fmt, limit=enough, keep=4096)
    assert "content-length" not in got.headers
    assert got.received >= enough and not got.complete    # more than the 60 s loop it repeats
    assert bytes(got.body).startswith(MAGIC[fmt]) or (fmt == "mp3" and len(mp3_frames(bytes(got.body))) > 10)
    if fmt == "wav":
        assert struct.unpack_from("<I", got.body, 40)[0] == 0xFFFFFFFF     # streaming WAV: size unknown
    assert store.live_encoders == 0


async def test_fault_long_lowbitrate_is_ten_hours_of_8_kbit_mp3(store: MediaStore) -> None:
    got = await fault_of(store, "long_lowbitrate", "wav", limit=1, keep=256 * 1024)
    assert got.headers["content-type"] == "audio/mpeg"
    size = int(got.headers["content-length"])
    frames = mp3_frames(bytes(got.body))
    assert {(f.version, f.rate, f.channels, f.bitrate, f.samples) for f in frames} == {(0, 8000, 1, 8, 576)}
    seconds = size / frames[0].length * 576 / 8000      # every frame is 72 bytes
    assert abs(seconds - 10 * 3600) < 1.0
    part = await fault_of(store, "long_lowbitrate", "wav", headers=[("Range", "bytes=0-199999")])
    d = decode(bytes(part.body))
    assert d.returncode == 0 and abs(d.seconds - 200) < 1.0
    tail = await fault_of(store, "long_lowbitrate", "wav", headers=[("Range", "bytes=-720")])
    assert tail.status == 206 and len(mp3_frames(bytes(tail.body))) == 10     # frames to the very end


async def test_unknown_fault_mode_is_refused(store: MediaStore) -> None:
    with pytest.raises(ValueError, match="unknown media fault"):
        await fault_of(store, "bogus", "mp3")


# -- through the emulator's route wrapper and `media` knob -----------------------------------------------
class _AudioProvider(ProviderEmulator):
    kind = "audiotest"

    def media_routes(self) -> list:
        return [self.route("/audio/{index:int}.{fmt}", self.media, "media", origin="media")]

    async def media(self, request: Request) -> Response:
        fact = self.data.fact(request.path_params["index"])
        return await self.media_response("media", fact, request.path_params["fmt"], request)


async def test_media_knob_through_a_provider_route(make_emulator) -> None:
    emu: Emulator = make_emulator(providers=(), faults="audiotest.media:media=html,count=1;"
                                                      "audiotest.media:media,after=1,count=1")
    prov = _AudioProvider(emu, Dataset(provider="audiotest", seed=1, count=60, anchor=ANCHOR))
    app = Starlette(routes=prov.media_routes())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=emu.media_url) as client:
        index = next(i for i in range(60) if prov.data.fact(i).duration < 60)
        html = await client.get(f"/audio/{index}.wav")
        assert html.headers["content-type"] == "audio/wav" and b"<html>" in html.content
        real = await client.get(f"/audio/{index}.wav")
        assert real.content[:4] == b"RIFF" and decode(real.content).returncode == 0
        assert abs(decode(real.content).seconds - prov.data.fact(index).duration) <= 0.5
        default = await client.get(f"/audio/{index}.mp3")          # a bare `media` knob means corrupt
        assert default.content.startswith(b"ID3") and decode(default.content).returncode != 0
    assert emu.log.counts["audiotest.media"] == 3


async def test_endless_over_a_real_socket_stops_encoding_when_the_client_hangs_up(make_emulator) -> None:
    import socket
    import threading

    import uvicorn

    emu: Emulator = make_emulator(providers=(), faults="audiotest.media:media=endless")
    prov = _AudioProvider(emu, Dataset(provider="audiotest", seed=1, count=60, anchor=ANCHOR))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=prov.media_routes()), log_level="warning",
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/audio/0.ogg_opus"
        received = 0
        async with httpx.AsyncClient(timeout=10) as client, client.stream("GET", url) as resp:
            assert resp.status_code == 200 and "content-length" not in resp.headers
            async for chunk in resp.aiter_raw():
                received += len(chunk)
                if received >= 100_000:
                    break
        assert received >= 100_000
        for _ in range(100):
            if emu.media.live_encoders == 0:
                break
            await asyncio.sleep(0.05)
        assert emu.media.live_encoders == 0
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()
