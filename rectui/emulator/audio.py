"""Real audio for the emulator: every recording gets decodable media, built from a few spoken clips
(`clips/`) and tones, deterministic from the seed and the recording's uid.

How it stays fast, even for an hour of 48 kHz stereo:

* A recording's sound is a *programme*: a list of (start time, block) events — a greeting, turns of
  the two speakers, hold music, DTMF, ringback, silences — drawn from `(seed, uid, duration)`.
* A *bank* holds every block once, rendered by one ffmpeg run per (family, rate, channels): raw
  PCM s16le, raw µ-law, or MP3 frames (CBR, bit reservoir off, so frames stand alone). Banks are
  cached on disk (`cache_dir/banks/`) and in memory.
* WAV, µ-law WAV and MP3 concatenate, so those files are never encoded per recording: a `_Layout`
  lists the byte segments (header, blocks, runs of silence) and is streamed, or sliced for a Range
  request, by index arithmetic. Its length is known up front (Content-Length, Range, 206).
* Ogg Vorbis, Ogg Opus and WebM do not concatenate: ffmpeg encodes the programme's PCM while the
  bytes stream to the client and tees them into a temporary file, which becomes the cached file
  (`os.replace`) only when the encode completed. Short items are rendered first, so they are
  served from the cache with a length and Range support; a long uncached item streams as a 200
  without a length (a Range header is ignored until it is cached).

Opus only codes 8, 12, 16, 24 and 48 kHz, so `ogg_opus` and `webm` use the nearest of those to the
recording's rate (22050 → 24000, 44100 → 48000); the OpusHead "input sample rate" says which.
Decoders output Opus at 48 kHz whatever that field says.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import hashlib
import json
import os
import random
import struct
import subprocess
import tempfile
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import BinaryIO

from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from rectui.emulator.dataset import Fact

MEDIA_FORMATS: dict[str, str] = {
    "wav": "audio/wav",
    "wav_ulaw": "audio/wav",
    "ogg_vorbis": "audio/ogg",
    "ogg_opus": "audio/ogg",
    "webm": "audio/webm",
    "mp3": "audio/mpeg",
}
EXTENSIONS = {"wav": "wav", "wav_ulaw": "wav", "ogg_vorbis": "ogg", "ogg_opus": "opus", "webm": "webm",
              "mp3": "mp3"}
FAULT_MODES = ("huge", "endless", "corrupt", "html", "hls", "empty", "long_lowbitrate")
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
CONCAT_FORMATS = frozenset({"wav", "wav_ulaw", "mp3"})      # assembled from banks, never encoded whole
STREAM_FORMATS = frozenset({"ogg_vorbis", "ogg_opus", "webm"})

CLIPS_DIR = Path(__file__).with_name("clips")
CACHE_VERSION = "1"
PRERENDER_SECONDS = 30.0      # Ogg/WebM items up to this long are encoded whole before answering
RANGE_RENDER_SECONDS = 120.0  # … and up to this long when the request has a Range header
HUGE_SIZE = 2 * 1024 ** 3     # the `huge` fault's declared Content-Length
LONG_LOWBITRATE_SECONDS = 10 * 3600
CHUNK = 64 * 1024
_BANK_MAGIC = b"RTAUDIOBANK1\n"


def nearest_opus_rate(rate: int) -> int:
    """The Opus rate an `ogg_opus`/`webm` rendering of a `rate` recording uses."""
    return min(OPUS_RATES, key=lambda r: (abs(r - rate), -r))


def encoded_rate(fmt: str, rate: int) -> int:
    """The sample rate stored in a `fmt` file made for a `rate` recording."""
    return nearest_opus_rate(rate) if fmt in ("ogg_opus", "webm") else rate


@functools.cache
def ffmpeg_exe() -> str:
    """The bundled ffmpeg (imageio-ffmpeg); never a system one."""
    import imageio_ffmpeg
    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class MediaFile:
    path: Path
    content_type: str
    size: int


# -- the sound vocabulary -------------------------------------------------------------------------
# Sides place a block in a stereo file: the agent on the left, the caller on the right.
LEFT, RIGHT, CENTRE = "L", "R", "C"
_NOTE_HZ = {"C": 262, "D": 294, "E": 330, "G": 392, "A": 440, "c": 523, "d": 587, "e": 659}
HOLD_PHRASES = ("CEGAGEDC", "cAGEGAcd", "EDCDEEEG", "GAcdcAGE")   # 8 notes each, 0.4 s a note
DTMF_HZ = {"1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "4": (770, 1209), "5": (770, 1336),
           "6": (770, 1477), "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "0": (941, 1336),
           "#": (941, 1477), "*": (941, 1209)}
DTMF_SEQUENCES = ("1234#", "5551212", "908*")
NOTE_SECONDS, NOTE_GAP = 0.32, 0.08
DTMF_SECONDS, DTMF_GAP = 0.12, 0.08


@dataclass(frozen=True)
class _Sound:
    name: str
    side: str
    seconds: float        # nominal length; the bank has the exact sample counts
    clip: Path | None = None


def _opus_seconds(path: Path) -> float:
    """Length of an Ogg Opus file from its last granule position and pre-skip (no decoding)."""
    data = path.read_bytes()
    pre_skip = struct.unpack_from("<H", data, data.index(b"OpusHead") + 10)[0]
    last = data.rindex(b"OggS")
    granule = struct.unpack_from("<q", data, last + 6)[0]
    return (granule - pre_skip) / 48000


@functools.cache
def _vocabulary() -> tuple[_Sound, ...]:
    sounds: list[_Sound] = []
    for path in sorted(CLIPS_DIR.glob("*.opus")):
        role = path.stem.split("-")[0]
        side = {"agent": LEFT, "caller": RIGHT}.get(role, CENTRE)
        sounds.append(_Sound(path.stem, side, _opus_seconds(path), path))
    if not sounds:
        raise FileNotFoundError(f"no spoken clips in {CLIPS_DIR}")
    sounds.append(_Sound("ring", CENTRE, 2.0))
    sounds.append(_Sound("beep", CENTRE, 0.3))
    for i, phrase in enumerate(HOLD_PHRASES):
        sounds.append(_Sound(f"hold-{i}", CENTRE, len(phrase) * (NOTE_SECONDS + NOTE_GAP)))
    for i, digits in enumerate(DTMF_SEQUENCES):
        sounds.append(_Sound(f"dtmf-{i}", RIGHT, len(digits) * (DTMF_SECONDS + DTMF_GAP)))
    return tuple(sounds)


@functools.cache
def _sound(name: str) -> _Sound:
    return next(s for s in _vocabulary() if s.name == name)


@functools.cache
def _clips_digest() -> str:
    h = hashlib.sha256()
    for s in _vocabulary():
        if s.clip is not None:
            h.update(s.name.encode() + s.clip.read_bytes())
    return h.hexdigest()[:16]


def _tone(expr: str, rate: int, seconds: float, gap: float) -> str:
    fade = 0.01
    chain = f"aevalsrc={expr}:s={rate}:d={seconds},afade=t=in:d={fade},afade=t=out:st={seconds - fade:.3f}:d={fade}"
    return chain + (f",apad=pad_dur={gap}" if gap > 0 else "")


def _sound_graph(sound: _Sound, rate: int, label: str, inputs: dict[str, int]) -> str:
    """A filtergraph chain producing `sound` at `rate`, mono, into `[label]`."""
    if sound.clip is not None:
        return f"[{inputs[sound.name]}:a]aresample={rate},aformat=channel_layouts=mono[{label}]"
    if sound.name == "ring":    # North American ringback: 440 + 480 Hz
        return _tone("0.15*sin(2*PI*440*t)+0.15*sin(2*PI*480*t)", rate, 2.0, 0.0) + f"[{label}]"
    if sound.name == "beep":
        return _tone("0.2*sin(2*PI*1000*t)", rate, 0.3, 0.0) + f"[{label}]"
    kind, index = sound.name.rsplit("-", 1)
    if kind == "hold":
        parts = [(f"0.2*sin(2*PI*{_NOTE_HZ[n]}*t)", NOTE_SECONDS, NOTE_GAP) for n in HOLD_PHRASES[int(index)]]
    else:
        parts = [(f"0.15*sin(2*PI*{DTMF_HZ[d][0]}*t)+0.15*sin(2*PI*{DTMF_HZ[d][1]}*t)", DTMF_SECONDS, DTMF_GAP)
                 for d in DTMF_SEQUENCES[int(index)]]
    chains = [_tone(expr, rate, secs, gap) + f"[{label}p{k}]" for k, (expr, secs, gap) in enumerate(parts)]
    pads = "".join(f"[{label}p{k}]" for k in range(len(parts)))
    return ";".join([*chains, f"{pads}concat=n={len(parts)}:v=0:a=1[{label}]"])


# -- the programme of one recording -------------------------------------------------------------
_END_MARGIN = 0.5      # every event ends this long before the recording does
_MIN_GAP = 0.3         # covers an MP3 block's encoder delay and padding (≤ 0.2 s at 8 kHz)


@functools.lru_cache(maxsize=256)
def programme(seed: int, uid: str, duration: float) -> tuple[tuple[float, str], ...]:
    """What a recording sounds like: (start second, block name) events, deterministic from
    `(seed, uid, duration)`, and the same for every format, rate and channel count."""
    rng = random.Random(int.from_bytes(hashlib.blake2b(f"audio:{seed}:{uid}".encode(), digest_size=16).digest(),
                                       "big"))
    events: list[tuple[float, str]] = []
    limit = duration - _END_MARGIN
    t = rng.uniform(0.1, 0.6)

    def put(name: str, gap: float) -> bool:
        nonlocal t
        secs = _sound(name).seconds
        if t + secs > limit:
            return False
        events.append((round(t, 4), name))
        t += secs + max(gap, _MIN_GAP)
        return True

    def pause() -> float:
        return rng.uniform(_MIN_GAP, 1.4)

    agent = [s.name for s in _vocabulary() if s.name.startswith("agent-")]
    caller = [s.name for s in _vocabulary() if s.name.startswith("caller-")]
    notices = [s.name for s in _vocabulary() if s.name.startswith("notice-")]
    closing = [agent[-2], caller[-1], agent[-1]] if len(agent) >= 2 else []
    closing_len = sum(_sound(n).seconds + 1.0 for n in closing)
    if rng.random() < 0.4:
        for _ in range(rng.randint(1, 3)):
            put("ring", rng.uniform(1.0, 2.0))
    if notices and rng.random() < 0.5:
        put(notices[0], 0.3)
        put("beep", pause())
    put(agent[0], pause())
    agent_turn = False
    middle_agent, middle_caller = agent[1:-2] or agent, caller[:-1] or caller
    while t < duration - closing_len - 2.0:
        r = rng.random()
        remaining = duration - closing_len - t
        if r < 0.05 and remaining > 40:
            put(notices[-1] if notices else "beep", 0.5)
            end = t + rng.uniform(8, min(90, remaining - 25))
            phrases = [rng.randrange(len(HOLD_PHRASES)) for _ in range(rng.randint(1, 3))]
            k = 0
            while t < end and put(f"hold-{phrases[k % len(phrases)]}", _MIN_GAP):
                k += 1
            agent_turn = True
        elif r < 0.10:
            put(f"dtmf-{rng.randrange(len(DTMF_SEQUENCES))}", pause())
        elif r < 0.15:
            t += rng.uniform(2.0, 8.0)
        else:
            if not put(rng.choice(middle_agent if agent_turn else middle_caller), pause()):
                break
            if rng.random() < 0.8:
                agent_turn = not agent_turn
    for name in closing:
        put(name, pause())
    if not events:
        put("beep", 0.0)
    return tuple(events)


# -- banks ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Block:
    data: bytes
    samples: int          # decoded samples per channel


@dataclass(frozen=True)
class _Bank:
    family: str           # "s16" | "ulaw" | "mp3"
    rate: int
    channels: int
    bitrate: int          # kbit/s for MP3, 0 otherwise
    blocks: dict[str, _Block]
    silence: bytes        # one frame (MP3) or one sample frame (PCM) of silence
    frame_samples: int    # samples per silence unit: 1 for PCM, 576 or 1152 for MP3


def mp3_bitrate(rate: int, channels: int) -> int:
    """CBR bitrate (kbit/s) of the emulator's MP3s, by MPEG version."""
    mono = 16 if rate <= 12000 else 32 if rate <= 24000 else 64
    return mono if channels == 1 else mono * 3 // 2


_MP3_BITRATES = {1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
                 2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


@dataclass(frozen=True)
class Mp3Frame:
    offset: int
    length: int
    version: int          # 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
    bitrate: int          # kbit/s
    rate: int
    channels: int
    samples: int
    main_data_begin: int  # 0 when the frame does not borrow from earlier frames' bit reservoir


def mp3_frames(data: bytes, start: int = 0) -> list[Mp3Frame]:
    """The MPEG-1/2/2.5 Layer III frames of `data`, back to back from `start` (stops at the first
    byte that does not begin a frame)."""
    frames: list[Mp3Frame] = []
    pos = start
    while pos + 4 <= len(data):
        h = int.from_bytes(data[pos:pos + 4], "big")
        version, layer = (h >> 19) & 3, (h >> 17) & 3
        br_index, sr_index = (h >> 12) & 15, (h >> 10) & 3
        if (h >> 21) != 0x7FF or version == 1 or layer != 1 or br_index in (0, 15) or sr_index == 3:
            break
        bitrate = _MP3_BITRATES[1 if version == 3 else 2][br_index]
        rate = _MP3_RATES[version][sr_index]
        padding, protected = (h >> 9) & 1, not (h >> 16) & 1
        channels = 1 if (h >> 6) & 3 == 3 else 2
        coeff, samples = (144, 1152) if version == 3 else (72, 576)
        length = coeff * bitrate * 1000 // rate + padding
        side = pos + 4 + (2 if protected else 0)
        head = data[side:side + 2].ljust(2, b"\x00")
        mdb = int.from_bytes(head, "big") >> 7 if version == 3 else head[0]    # main_data_begin: 9 or 8 bits
        frames.append(Mp3Frame(pos, length, version, bitrate, rate, channels, samples, mdb))
        pos += length
    return frames


def _family_args(family: str, bitrate: int) -> list[str]:
    if family == "s16":
        return ["-c:a", "pcm_s16le", "-f", "s16le"]
    if family == "ulaw":
        return ["-c:a", "pcm_mulaw", "-f", "mulaw"]
    return ["-c:a", "libmp3lame", "-b:a", f"{bitrate}k", "-reservoir", "0", "-write_xing", "0",
            "-id3v2_version", "0", "-fflags", "+bitexact", "-flags:a", "+bitexact", "-f", "mp3"]


def _build_bank(family: str, rate: int, channels: int, bitrate: int) -> _Bank:
    """Render every block of the vocabulary in one ffmpeg run."""
    sounds = list(_vocabulary())
    inputs: dict[str, int] = {}
    args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    for s in sounds:
        if s.clip is not None:
            inputs[s.name] = len(inputs)
            args += ["-i", str(s.clip)]
    pans = {LEFT: ",pan=stereo|c0=c0", RIGHT: ",pan=stereo|c1=c0", CENTRE: ",pan=stereo|c0=c0|c1=c0"}
    graph: list[str] = []
    outs: list[tuple[str, str]] = []
    for i, s in enumerate(sounds):
        graph.append(_sound_graph(s, rate, f"m{i}", inputs))
        outs.append((s.name, f"o{i}"))
        graph.append(f"[m{i}]anull{pans[s.side] if channels == 2 else ''}[o{i}]")
    if family == "mp3":
        layout = "stereo" if channels == 2 else "mono"
        graph.append(f"anullsrc=r={rate}:cl={layout},atrim=duration=2[osilence]")
        outs.append(("", "osilence"))
    args += ["-filter_complex", ";".join(graph)]
    with tempfile.TemporaryDirectory(prefix="rectui-bank-") as tmp:
        for k, (_, label) in enumerate(outs):
            args += ["-map", f"[{label}]", *_family_args(family, bitrate), os.path.join(tmp, f"{k}.bin")]
        done = subprocess.run(args, capture_output=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"ffmpeg could not build the {family} {rate} Hz bank: "
                               f"{done.stderr.decode(errors='replace')[-500:]}")
        raw = [Path(tmp, f"{k}.bin").read_bytes() for k in range(len(outs))]
    blocks: dict[str, _Block] = {}
    width = channels * (2 if family == "s16" else 1)
    silence = b"\x00" * width if family == "s16" else b"\xff" * width
    frame_samples = 1
    for (name, _), data in zip(outs, raw, strict=True):
        if family != "mp3":
            blocks[name] = _Block(data, len(data) // width)
            continue
        frames = mp3_frames(data)
        if not frames or frames[-1].offset + frames[-1].length != len(data):
            raise RuntimeError(f"ffmpeg made an MP3 block that does not parse ({name or 'silence'})")
        frame_samples = frames[0].samples
        if name:
            blocks[name] = _Block(data, len(frames) * frame_samples)
        else:   # a stand-alone frame from the middle of digital silence
            f = next(f for f in frames[len(frames) // 2:] if f.main_data_begin == 0)
            silence = data[f.offset:f.offset + f.length]
    return _Bank(family, rate, channels, bitrate, blocks, silence, frame_samples)


def _bank_to_bytes(bank: _Bank) -> bytes:
    index: list[list[object]] = []
    parts: list[bytes] = []
    pos = 0
    for name, blk in [*bank.blocks.items(), ("", _Block(bank.silence, 0))]:
        index.append([name, pos, len(blk.data), blk.samples])
        parts.append(blk.data)
        pos += len(blk.data)
    head = json.dumps({"family": bank.family, "rate": bank.rate, "channels": bank.channels,
                       "bitrate": bank.bitrate, "frame_samples": bank.frame_samples, "index": index}).encode()
    return _BANK_MAGIC + struct.pack("<I", len(head)) + head + b"".join(parts)


def _bank_from_bytes(data: bytes) -> _Bank:
    if not data.startswith(_BANK_MAGIC):
        raise ValueError("not an audio bank")
    n = struct.unpack_from("<I", data, len(_BANK_MAGIC))[0]
    base = len(_BANK_MAGIC) + 4
    head = json.loads(data[base:base + n])
    base += n
    blocks, silence = {}, b""
    for name, off, length, samples in head["index"]:
        chunk = data[base + off:base + off + length]
        if len(chunk) != length:
            raise ValueError("truncated audio bank")
        if name:
            blocks[name] = _Block(chunk, samples)
        else:
            silence = chunk
    return _Bank(head["family"], head["rate"], head["channels"], head["bitrate"], blocks, silence,
                 head["frame_samples"])


# -- layouts: byte segments streamed or sliced without building the file -----------------------------
class _Layout:
    """A file as `(data, repeat)` segments; `size` is exact, `iter_range` yields any byte range."""

    def __init__(self, segments: Iterable[tuple[bytes, int]]) -> None:
        self.segments = [(d, n) for d, n in segments if d and n > 0]
        self.starts: list[int] = []
        pos = 0
        for d, n in self.segments:
            self.starts.append(pos)
            pos += len(d) * n
        self.size = pos

    def iter_range(self, start: int = 0, end: int | None = None, chunk: int = CHUNK) -> Iterator[bytes]:
        """Bytes `start`..`end` (exclusive) in pieces of `chunk` bytes (the last may be shorter)."""
        end = self.size if end is None else min(end, self.size)
        if start >= end:
            return
        i = bisect.bisect_right(self.starts, start) - 1
        pos = start
        buf = bytearray()
        tiles: dict[int, memoryview] = {}
        while pos < end:
            data, count = self.segments[i]
            seg_start, unit = self.starts[i], len(data)
            seg_end = min(seg_start + unit * count, end)
            if count == 1:
                src = memoryview(data)
            else:   # a repeated unit is tiled to more than a chunk, so any window of it is one slice
                src = tiles.get(id(data)) or tiles.setdefault(id(data), memoryview(data * (-(-chunk // unit) + 1)))
            while pos < seg_end:
                phase = (pos - seg_start) % unit
                take = min(seg_end - pos, len(src) - phase, chunk - len(buf))
                buf += src[phase:phase + take]
                pos += take
                if len(buf) >= chunk:
                    yield bytes(buf)
                    buf.clear()
            i += 1
        if buf:
            yield bytes(buf)

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        return b"".join(self.iter_range(start, end))


def _realise(bank: _Bank, events: Iterable[tuple[float, str]], total_samples: int) -> list[tuple[bytes, int]]:
    """Segments playing `events` from `bank`, padded with silence to `total_samples` (MP3: to the
    nearest whole frame, events kept within half a frame of their times)."""
    unit = bank.frame_samples
    segs: list[tuple[bytes, int]] = []
    cursor = 0
    for start_s, name in events:
        start = round(start_s * bank.rate)
        gap = (start - cursor) if unit == 1 else round((start - cursor) / unit)
        if gap > 0:
            segs.append((bank.silence, gap))
            cursor += gap * unit
        blk = bank.blocks[name]
        segs.append((blk.data, 1))
        cursor += blk.samples
    tail = (total_samples - cursor) if unit == 1 else round((total_samples - cursor) / unit)
    if tail > 0:
        segs.append((bank.silence, tail))
    return segs


def wav_header(fmt: str, rate: int, channels: int, data_size: int, frames: int | None = None) -> bytes:
    """A canonical RIFF/WAVE header: PCM s16le (`wav`) or G.711 µ-law with a `fact` chunk (`wav_ulaw`).
    Sizes of 0xFFFFFFFF mean "streaming, length unknown"."""
    if fmt == "wav":
        fmt_chunk = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
        extra = b""
    else:
        fmt_chunk = struct.pack("<HHIIHHH", 7, channels, rate, rate * channels, channels, 8, 0)
        n = 0xFFFFFFFF if frames is None else frames
        extra = b"fact" + struct.pack("<II", 4, n)
    body_len = 4 + 8 + len(fmt_chunk) + len(extra) + 8 + data_size + (data_size & 1)
    riff = min(body_len, 0xFFFFFFFF)
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk
            + extra + b"data" + struct.pack("<I", min(data_size, 0xFFFFFFFF)))


# -- Ogg and Matroska by hand (for the `empty` fault) ---------------------------------------------------
@functools.cache
def _ogg_crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
            r &= 0xFFFFFFFF
        table.append(r)
    return tuple(table)


def ogg_page(flags: int, granule: int, serial: int, sequence: int, packets: list[bytes]) -> bytes:
    """One Ogg page holding whole `packets` (flags: 2 = first page, 4 = last page)."""
    lacing = bytearray()
    for p in packets:
        lacing += b"\xff" * (len(p) // 255) + bytes([len(p) % 255])
    header = (b"OggS" + bytes([0, flags]) + struct.pack("<qIII", granule, serial, sequence, 0)
              + bytes([len(lacing)]) + bytes(lacing))
    page = header + b"".join(packets)
    table, crc = _ogg_crc_table(), 0
    for b in page:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[((crc >> 24) ^ b) & 0xFF]
    return page[:22] + struct.pack("<I", crc) + page[26:]


def ogg_packets(data: bytes) -> list[bytes]:
    """The packets of a single-stream Ogg file."""
    packets: list[bytes] = []
    current = b""
    pos = 0
    while pos + 27 <= len(data) and data[pos:pos + 4] == b"OggS":
        nseg = data[pos + 26]
        lacing = data[pos + 27:pos + 27 + nseg]
        body = pos + 27 + nseg
        for size in lacing:
            current += data[body:body + size]
            body += size
            if size < 255:
                packets.append(current)
                current = b""
        pos = body
    return packets


# A 20 ms Opus packet of digital silence (CELT, fullband, mono), as libopus codes it.
_OPUS_SILENT_PACKET = bytes.fromhex("b8fffe")


def _opus_head(pre_skip: int, input_rate: int = 16000) -> bytes:
    return b"OpusHead" + struct.pack("<BBHIhB", 1, 1, pre_skip, input_rate, 0, 0)


def _opus_tags() -> bytes:
    vendor = b"rectui emulator"
    return b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)


def _ebml(element_id: int, payload: bytes | int | float | str) -> bytes:
    if isinstance(payload, bool):
        raise TypeError("no booleans in EBML")
    if isinstance(payload, int):
        payload = payload.to_bytes(max(1, (payload.bit_length() + 7) // 8), "big")
    elif isinstance(payload, float):
        payload = struct.pack(">d", payload)
    elif isinstance(payload, str):
        payload = payload.encode()
    n = len(payload)
    length = next(k for k in range(1, 9) if n < (1 << (7 * k)) - 1)
    size = (n | (1 << (7 * length))).to_bytes(length, "big")
    return element_id.to_bytes((element_id.bit_length() + 7) // 8, "big") + size + payload


def _empty_webm() -> bytes:
    """A WebM with one Opus track and one 20 ms packet that the codec delay (20 ms, as in the
    OpusHead pre-skip) discards entirely: a valid file that decodes to zero samples."""
    ebml = _ebml(0x1A45DFA3, b"".join([_ebml(0x4286, 1), _ebml(0x42F7, 1), _ebml(0x42F2, 4), _ebml(0x42F3, 8),
                                        _ebml(0x4282, "webm"), _ebml(0x4287, 4), _ebml(0x4285, 2)]))
    info = _ebml(0x1549A966, _ebml(0x2AD7B1, 1_000_000) + _ebml(0x4D80, "rectui") + _ebml(0x5741, "rectui"))
    audio = _ebml(0xE1, _ebml(0xB5, 48000.0) + _ebml(0x9F, 1))
    track = _ebml(0xAE, b"".join([_ebml(0xD7, 1), _ebml(0x73C5, 1), _ebml(0x83, 2), _ebml(0x86, "A_OPUS"),
                                  _ebml(0x63A2, _opus_head(960)), _ebml(0x56AA, 20_000_000),
                                  _ebml(0x56BB, 80_000_000), audio]))
    block = _ebml(0xA3, b"\x81" + struct.pack(">h", 0) + b"\x80" + _OPUS_SILENT_PACKET)
    cluster = _ebml(0x1F43B675, _ebml(0xE7, 0) + block)
    return ebml + _ebml(0x18538067, info + _ebml(0x1654AE6B, track) + cluster)


def _empty_ogg_opus() -> bytes:
    """Ogg Opus whose only packet is wholly pre-skip: decodes to zero samples."""
    serial = 0x52454354
    return (ogg_page(2, 0, serial, 0, [_opus_head(312)]) + ogg_page(0, 0, serial, 1, [_opus_tags()])
            + ogg_page(4, 312, serial, 2, [_OPUS_SILENT_PACKET]))


def _lame_crc(data: bytes) -> int:
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _all_frames_skipped(data: bytes) -> bytes:
    """An MP3 that starts with a Xing/Info frame with a LAME tag, its encoder delay set to 4095
    samples — longer than the few frames that follow — and the tag's CRC redone: a decoder that
    honours the tag outputs nothing. (ffmpeg needs a few frames to recognise MP3 at all.)"""
    frames = mp3_frames(data)
    if len(frames) * frames[0].samples >= 4095 + 529:
        raise ValueError("too many frames to skip")
    buf = bytearray(data)
    at = max(buf.find(b"Info", 0, 200), buf.find(b"Xing", 0, 200))
    if at < 0:
        raise ValueError("no Xing/Info header")
    flags = struct.unpack_from(">I", buf, at + 4)[0]
    lame = at + 8 + 4 * bool(flags & 1) + 4 * bool(flags & 2) + 100 * bool(flags & 4) + 4 * bool(flags & 8)
    delay = 4095
    value = int.from_bytes(buf[lame + 21:lame + 24], "big")
    buf[lame + 21:lame + 24] = ((delay << 12) | (value & 0xFFF)).to_bytes(3, "big")
    buf[lame + 34:lame + 36] = b"\x00\x00"
    buf[lame + 34:lame + 36] = _lame_crc(bytes(buf[:190])).to_bytes(2, "big")
    return bytes(buf)


# -- the store ------------------------------------------------------------------------------------------
def _default_cache_dir() -> Path:
    try:
        import platformdirs
        return platformdirs.user_cache_path("rectui") / "emulator-media"
    except ImportError:   # pragma: no cover - platformdirs is a dependency
        return Path(tempfile.gettempdir()) / "rectui-emulator-media"


def _atomic_write(path: Path, chunks: Iterable[bytes]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            for c in chunks:
                f.write(c)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _feed(proc: subprocess.Popen[bytes], chunks: Iterator[bytes]) -> None:
    """Write PCM into ffmpeg's stdin until done or until ffmpeg goes away (runs in a thread)."""
    stdin = proc.stdin
    assert stdin is not None
    try:
        for c in chunks:
            stdin.write(c)
    except (OSError, ValueError):
        pass
    finally:
        with contextlib.suppress(OSError, ValueError):
            stdin.close()


def _parse_range(header: str, size: int) -> tuple[int, int] | bool | None:
    """`(start, end)` for one satisfiable byte range, None to ignore the header (malformed or
    several ranges: a full 200 is allowed), False when unsatisfiable (416)."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if not first.strip():
            n = int(last)
            if n <= 0:
                return False
            return (max(0, size - n), size)
        start = int(first)
        end = int(last) + 1 if last.strip() else size
    except ValueError:
        return None
    if start >= size:
        return False
    if end <= start:
        return None
    return (start, min(end, size))


async def _aiter(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for c in chunks:
        yield c
        await asyncio.sleep(0)     # a checkpoint, so a hang-up (cancellation) is noticed


async def _forever(layout: _Layout, head: bytes = b"") -> AsyncIterator[bytes]:
    if head:
        yield head
    while True:
        for c in layout.iter_range():
            yield c
            await asyncio.sleep(0)


# Banks in memory, shared by every store (an emulator per test would otherwise reload them), keyed by
# their file in the cache directory.
BANKS_IN_MEMORY = 8
_BANKS: OrderedDict[Path, _Bank] = OrderedDict()
_BANKS_LOCK = threading.Lock()


class MediaStore:
    """Renders, caches and serves the emulator's audio. Thread-safe; `render` blocks, the rest is async."""

    def __init__(self, cache_dir: Path | None, seed: int = 1) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir else _default_cache_dir()
        self.seed = seed
        self.foreign_url = "http://cdn.foreign.example"   # where the `hls` fault's playlist points
        self._lock = threading.Lock()
        self._key_locks: dict[object, threading.Lock] = {}
        self._extras: dict[str, bytes] = {}
        self._live: set[subprocess.Popen[bytes]] = set()
        self._long_layout: _Layout | None = None

    # -- naming ---------------------------------------------------------------------------------
    def _check(self, fmt: str) -> None:
        if fmt not in MEDIA_FORMATS:
            raise ValueError(f"unknown media format {fmt!r}; one of {', '.join(MEDIA_FORMATS)}")

    def cache_name(self, fact: Fact, fmt: str) -> str:
        key = "|".join([CACHE_VERSION, str(self.seed), fact.uid, fmt, str(fact.sample_rate), str(fact.channels),
                        repr(fact.duration), _clips_digest(), Path(ffmpeg_exe()).name])
        return f"{hashlib.sha256(key.encode()).hexdigest()[:40]}.{EXTENSIONS[fmt]}"

    def path_for(self, fact: Fact, fmt: str) -> Path:
        """Where the rendered file lives (or will) in the cache."""
        self._check(fmt)
        return self.cache_dir / self.cache_name(fact, fmt)

    @property
    def live_encoders(self) -> int:
        """ffmpeg processes currently encoding a streamed response."""
        return len(self._live)

    def _key_lock(self, key: object) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    # -- banks ----------------------------------------------------------------------------------
    def bank(self, family: str, rate: int, channels: int, bitrate: int = 0) -> _Bank:
        """The blocks of one (family, rate, channels, bitrate), from memory, disk or ffmpeg."""
        key = (family, rate, channels, bitrate)
        name = hashlib.sha256("|".join([CACHE_VERSION, *map(str, key), _clips_digest(),
                                        Path(ffmpeg_exe()).name]).encode()).hexdigest()[:32]
        path = self.cache_dir / "banks" / f"{family}-{rate}-{channels}-{bitrate}-{name}.bank"
        with _BANKS_LOCK:
            if (bank := _BANKS.get(path)) is not None:
                _BANKS.move_to_end(path)
                return bank
        with self._key_lock(path):
            with _BANKS_LOCK:
                if (bank := _BANKS.get(path)) is not None:
                    return bank
            if path.exists():
                with contextlib.suppress(OSError, ValueError, KeyError):
                    bank = _bank_from_bytes(path.read_bytes())
            if bank is None:
                bank = _build_bank(family, rate, channels, bitrate)
                path.parent.mkdir(parents=True, exist_ok=True)
                _atomic_write(path, [_bank_to_bytes(bank)])
            with _BANKS_LOCK:
                _BANKS[path] = bank
                while len(_BANKS) > BANKS_IN_MEMORY:
                    _BANKS.popitem(last=False)
            return bank

    def warm(self, combos: Iterable[tuple[str, int, int]]) -> None:
        """Build the banks that `(fmt, rate, channels)` media need, so no request waits for one
        (~0.3–1 s each, once per cache directory). Blocking: run it in a thread at start-up."""
        for fmt, rate, channels in combos:
            self._check(fmt)
            if fmt == "mp3":
                self.bank("mp3", rate, channels, mp3_bitrate(rate, channels))
            else:
                self.bank("ulaw" if fmt == "wav_ulaw" else "s16", encoded_rate(fmt, rate), channels)

    # -- what a file is made of -------------------------------------------------------------------
    def _pcm_layout(self, events: tuple[tuple[float, str], ...], duration: float, rate: int, channels: int,
                    family: str = "s16") -> tuple[_Layout, int]:
        bank = self.bank(family, rate, channels)
        total = round(duration * rate)
        if family == "ulaw" and channels == 1 and total % 2:
            total += 1          # keep the data chunk even: no RIFF pad byte needed
        return _Layout(_realise(bank, events, total)), total

    def layout(self, fact: Fact, fmt: str) -> _Layout:
        """The bytes of `fact` in `fmt` (`wav`, `wav_ulaw`, `mp3`), without building the file."""
        self._check(fmt)
        if fmt not in CONCAT_FORMATS:
            raise ValueError(f"{fmt} is encoded, not assembled")
        events = programme(self.seed, fact.uid, fact.duration)
        rate, ch = fact.sample_rate, fact.channels
        if fmt == "mp3":
            bank = self.bank("mp3", rate, ch, mp3_bitrate(rate, ch))
            return _Layout(_realise(bank, events, round(fact.duration * rate)))
        body, frames = self._pcm_layout(events, fact.duration, rate, ch, "s16" if fmt == "wav" else "ulaw")
        header = wav_header(fmt, rate, ch, body.size, frames)
        return _Layout([(header, 1), *body.segments])

    def pcm(self, fact: Fact, fmt: str) -> tuple[_Layout, int, int]:
        """Raw s16le PCM of `fact` at the rate `fmt` stores, with that rate and the channel count."""
        rate = encoded_rate(fmt, fact.sample_rate)
        body, _ = self._pcm_layout(programme(self.seed, fact.uid, fact.duration), fact.duration, rate,
                                   fact.channels)
        return body, rate, fact.channels

    # -- encoding -------------------------------------------------------------------------------
    @staticmethod
    def encoder_args(fmt: str, rate: int, channels: int) -> list[str]:
        """ffmpeg reading s16le PCM on stdin and writing `fmt` to stdout, byte-for-byte reproducibly."""
        args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "s16le", "-ar", str(rate),
                "-ac", str(channels), "-i", "pipe:0", "-map_metadata", "-1", "-fflags", "+bitexact",
                "-flags:a", "+bitexact"]
        if fmt == "ogg_vorbis":
            args += ["-c:a", "libvorbis", "-q:a", "2", "-f", "ogg"]
        else:
            kbps = {8000: 12, 12000: 16, 16000: 20, 24000: 24, 48000: 32}[rate] * (3 if channels == 2 else 2) // 2
            args += ["-c:a", "libopus", "-b:a", f"{kbps}k", "-compression_level", "5",
                     "-f", "ogg" if fmt == "ogg_opus" else "webm"]
        return [*args, "pipe:1"]

    def _encode_to(self, path: Path, fmt: str, pcm: _Layout, rate: int, channels: int) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        ok = False
        try:
            with os.fdopen(fd, "wb") as out, tempfile.TemporaryFile() as err:
                proc = subprocess.Popen(self.encoder_args(fmt, rate, channels), stdin=subprocess.PIPE, stdout=out,
                                        stderr=err)
                try:
                    _feed(proc, pcm.iter_range())
                    proc.wait(timeout=3600)
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
                if proc.returncode != 0:
                    err.seek(0)
                    raise RuntimeError(f"ffmpeg failed encoding {fmt}: {err.read().decode(errors='replace')[-500:]}")
            os.replace(tmp, path)
            ok = True
        finally:
            if not ok:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def render(self, fact: Fact, fmt: str) -> MediaFile:
        """Make (or find) the cached file of `fact` in `fmt`."""
        path = self.path_for(fact, fmt)
        if not path.exists():
            with self._key_lock(path):
                if not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    if fmt in CONCAT_FORMATS:
                        _atomic_write(path, self.layout(fact, fmt).iter_range())
                    else:
                        pcm, rate, ch = self.pcm(fact, fmt)
                        self._encode_to(path, fmt, pcm, rate, ch)
        return MediaFile(path, MEDIA_FORMATS[fmt], path.stat().st_size)

    async def get(self, fact: Fact, fmt: str) -> MediaFile:
        return await asyncio.to_thread(self.render, fact, fmt)

    def _start_encoder(self, fmt: str, pcm: Iterator[bytes], rate: int, channels: int,
                       dest: Path | None) -> tuple[subprocess.Popen[bytes], str | None, BinaryIO | None]:
        tmp: str | None = None
        sink: BinaryIO | None = None
        if dest is not None:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
            sink = os.fdopen(fd, "wb")
        try:
            proc = subprocess.Popen(self.encoder_args(fmt, rate, channels), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        except BaseException:
            if sink is not None and tmp is not None:
                sink.close()
                os.unlink(tmp)
            raise
        self._live.add(proc)
        threading.Thread(target=_feed, args=(proc, pcm), daemon=True, name="rectui-audio-feed").start()
        return proc, tmp, sink

    def _stop_encoder(self, proc: subprocess.Popen[bytes], tmp: str | None, sink: BinaryIO | None,
                      dest: Path | None) -> None:
        """Reap ffmpeg; keep the teed file as `dest` only if ffmpeg finished cleanly."""
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(OSError, ValueError, subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.stdout is not None:
            with contextlib.suppress(OSError, ValueError):
                proc.stdout.close()
        self._live.discard(proc)
        if sink is not None:
            with contextlib.suppress(OSError, ValueError):
                sink.close()
        if tmp is not None:
            if dest is not None and proc.returncode == 0:
                with contextlib.suppress(OSError):
                    os.replace(tmp, dest)
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    async def _encode_stream(self, fmt: str, pcm: Callable[[], Iterator[bytes]], rate: int, channels: int,
                             dest: Path | None) -> AsyncIterator[bytes]:
        """Stream ffmpeg's output while it encodes; with `dest`, tee it into a temporary file that
        becomes `dest` only if the encode completes. ffmpeg is killed when the client goes away."""
        proc, tmp, sink = await asyncio.to_thread(self._start_encoder, fmt, pcm(), rate, channels, dest)
        out = proc.stdout
        assert out is not None
        finished = False

        def pump() -> bytes:
            try:
                data = out.read1(CHUNK)
                if data and sink is not None:
                    sink.write(data)
                return data
            except (OSError, ValueError):
                return b""

        try:
            while chunk := await asyncio.to_thread(pump):
                yield chunk
            await asyncio.to_thread(proc.wait)
            finished = True
        finally:
            # On cancellation (client gone) this must not await: kill and reap synchronously.
            self._stop_encoder(proc, tmp, sink, dest if finished else None)

    # -- responses ------------------------------------------------------------------------------
    def _validators(self, fact: Fact, fmt: str) -> dict[str, str]:
        return {"etag": f'"{self.cache_name(fact, fmt).split(".")[0]}"',
                "last-modified": formatdate(fact.end.timestamp(), usegmt=True)}

    async def response(self, fact: Fact, fmt: str, request: Request,
                       headers: dict[str, str] | None = None) -> Response:
        """The media of `fact` in `fmt` (200, or 206/416 for a Range). `headers` are added and may
        override Content-Type (e.g. Kazoo's `audio/x-wav`)."""
        self._check(fmt)
        extra = {**self._validators(fact, fmt), **{k.lower(): v for k, v in (headers or {}).items()}}
        media_type = MEDIA_FORMATS[fmt]
        if fmt in CONCAT_FORMATS:
            layout = await asyncio.to_thread(self.layout, fact, fmt)
            return layout_response(layout, media_type, request, extra)
        path = self.path_for(fact, fmt)
        # Uncached: short items (and Range requests on items quick to encode) are rendered first;
        # otherwise the encode streams as a 200 and a Range header is ignored, as RFC 9110 allows.
        limit = RANGE_RENDER_SECONDS if "range" in request.headers else PRERENDER_SECONDS
        if not path.exists() and fact.duration <= limit:
            await self.get(fact, fmt)
        if path.exists():
            return FileResponse(path, media_type=media_type, headers=extra)
        if request.method == "HEAD":
            resp = Response(b"", media_type=media_type, headers=extra)
            del resp.headers["content-length"]
            return resp
        pcm, rate, ch = await asyncio.to_thread(self.pcm, fact, fmt)
        extra.pop("last-modified", None)
        return _ClosingStreamingResponse(self._encode_stream(fmt, pcm.iter_range, rate, ch, path),
                                         media_type=media_type, headers=extra)

    # -- faults ---------------------------------------------------------------------------------
    def _fixed_programme(self, name: str, duration: float) -> tuple[tuple[float, str], ...]:
        return programme(self.seed, f"fault:{name}", duration)

    def _extra(self, name: str, make: Callable[[], bytes]) -> bytes:
        with self._key_lock(("extra", name)):
            if name not in self._extras:
                self._extras[name] = make()
            return self._extras[name]

    def _ffmpeg_bytes(self, args: list[str], seekable: bool = False) -> bytes:
        """Run ffmpeg (lavfi input in `args`) and return what it wrote; `seekable` writes to a file
        so muxers can go back and fill in headers (MP3 Xing/Info)."""
        base = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args]
        if not seekable:
            done = subprocess.run([*base, "pipe:1"], capture_output=True, timeout=60, check=False)
            if done.returncode:
                raise RuntimeError(done.stderr.decode(errors="replace")[-500:])
            return done.stdout
        with tempfile.TemporaryDirectory(prefix="rectui-audio-") as tmp:
            out = os.path.join(tmp, "out.bin")
            done = subprocess.run([*base, out], capture_output=True, timeout=60, check=False)
            if done.returncode:
                raise RuntimeError(done.stderr.decode(errors="replace")[-500:])
            return Path(out).read_bytes()

    def empty_bytes(self, fmt: str) -> bytes:
        """A valid `fmt` file with no audio: it decodes, to zero samples."""
        self._check(fmt)
        if fmt in ("wav", "wav_ulaw"):
            return wav_header(fmt, 8000, 1, 0, 0)
        if fmt == "ogg_opus":
            return _empty_ogg_opus()
        if fmt == "webm":
            return _empty_webm()
        one_sample = ["-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-af", "atrim=end_sample=1",
                      "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact"]
        if fmt == "mp3":
            # Three frames of silence after an Info frame whose LAME tag says the encoder delay
            # covers them all (MP3 has no container that could say "no frames").
            data = self._extra("mp3-one", lambda: self._ffmpeg_bytes(
                [*one_sample, "-c:a", "libmp3lame", "-b:a", "16k", "-id3v2_version", "0", "-f", "mp3"],
                seekable=True))
            return _all_frames_skipped(data)

        def vorbis() -> bytes:
            # Vorbis headers and only the first audio packet, which by definition yields no samples.
            made = self._ffmpeg_bytes([*one_sample, "-c:a", "libvorbis", "-f", "ogg"])
            packets = ogg_packets(made)
            serial = struct.unpack_from("<I", made, 14)[0]
            return (ogg_page(2, 0, serial, 0, packets[:1]) + ogg_page(0, 0, serial, 1, packets[1:3])
                    + ogg_page(4, 0, serial, 2, packets[3:4]))

        return self._extra("vorbis-empty", vorbis)

    @staticmethod
    def corrupt_bytes(fmt: str) -> bytes:
        """Bytes that start like a `fmt` file but do not decode."""
        junk = random.Random(0xC0FFEE).randbytes(16 * 1024)
        if fmt in ("wav", "wav_ulaw"):
            fmt_chunk = struct.pack("<HHIIHH", 0xBEEF, 1, 8000, 16000, 2, 16)   # no such codec
            body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt_chunk + b"data" + struct.pack("<I", len(junk)) + junk
            return b"RIFF" + struct.pack("<I", len(body)) + body
        if fmt == "mp3":   # an ID3 tag, then frame syncs whose bitrate index is the forbidden 15
            return b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\xf0\x00" * 4096
        if fmt in ("ogg_vorbis", "ogg_opus"):   # capture patterns around pages that fail their CRC
            return b"".join(b"OggS\x00\x02" + junk[i * 200:(i + 1) * 200] for i in range(40))
        # an EBML header saying "webm", then a Segment of garbage
        ebml = _ebml(0x1A45DFA3, _ebml(0x4286, 1) + _ebml(0x4282, "webm") + _ebml(0x4287, 4) + _ebml(0x4285, 2))
        return ebml + bytes.fromhex("18538067 01ffffffffffffff") + junk

    def hls_bytes(self) -> bytes:
        base = self.foreign_url.rstrip("/")
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:10", "#EXT-X-MEDIA-SEQUENCE:0"]
        for i in range(3):
            lines += ["#EXTINF:10.0,", f"{base}/hls/segment-{i}.ts"]
        return ("\n".join([*lines, "#EXT-X-ENDLIST"]) + "\n").encode()

    def long_lowbitrate_layout(self) -> _Layout:
        """Ten hours of 8 kHz mono MP3 at 8 kbit/s (36 MB), assembled from frames."""
        def build() -> _Layout:
            bank = self.bank("mp3", 8000, 1, 8)
            events = self._fixed_programme("long_lowbitrate", LONG_LOWBITRATE_SECONDS)
            return _Layout(_realise(bank, events, LONG_LOWBITRATE_SECONDS * 8000))
        with self._key_lock("long_lowbitrate"):
            if self._long_layout is None:
                self._long_layout = build()
            return self._long_layout

    def huge_layout(self, fmt: str) -> _Layout:
        """`HUGE_SIZE` bytes that begin like a real `fmt` file: WAV and MP3 are valid silence
        throughout; Ogg and WebM are a valid empty stream followed by zeros."""
        self._check(fmt)
        if fmt in ("wav", "wav_ulaw"):
            data = HUGE_SIZE - len(wav_header(fmt, 8000, 1, 0, 0))
            head = wav_header(fmt, 8000, 1, data, data)
            fill = b"\x00" * CHUNK if fmt == "wav" else b"\xff" * CHUNK
        elif fmt == "mp3":
            head, fill = b"", self.bank("mp3", 8000, 1, mp3_bitrate(8000, 1)).silence
        else:
            head, fill = self.empty_bytes(fmt), b"\x00" * CHUNK
        n, rest = divmod(HUGE_SIZE - len(head), len(fill))
        return _Layout([(head, 1), (fill, n), (b"\x00" * rest, 1)])

    def _endless(self, fmt: str) -> AsyncIterator[bytes]:
        events = self._fixed_programme("endless", 60.0)
        if fmt == "mp3":
            bank = self.bank("mp3", 8000, 1, mp3_bitrate(8000, 1))
            return _forever(_Layout(_realise(bank, events, 60 * 8000)))
        if fmt in ("wav", "wav_ulaw"):
            body, _ = self._pcm_layout(events, 60.0, 8000, 1, "s16" if fmt == "wav" else "ulaw")
            return _forever(body, wav_header(fmt, 8000, 1, 0xFFFFFFFF))
        rate = 8000
        body, _ = self._pcm_layout(events, 60.0, rate, 1)

        def pcm() -> Iterator[bytes]:
            while True:
                yield from body.iter_range()

        return self._encode_stream(fmt, pcm, rate, 1, None)

    async def fault_response(self, mode: str, fmt: str, request: Request) -> Response:
        """Hostile media for the `media` fault knob: huge, endless, corrupt, html, hls, empty,
        long_lowbitrate (see `FAULT_MODES`)."""
        self._check(fmt)
        media_type = MEDIA_FORMATS[fmt]
        if mode == "huge":
            layout = await asyncio.to_thread(self.huge_layout, fmt)
            return layout_response(layout, media_type, request, {})
        if mode == "endless":
            stream = await asyncio.to_thread(self._endless, fmt)
            return _ClosingStreamingResponse(stream, media_type=media_type)
        if mode == "corrupt":
            return Response(self.corrupt_bytes(fmt), media_type=media_type)
        if mode == "html":
            page = (b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>"
                    b"<h1>Your session has expired</h1><p>Please <a href=\"/login\">sign in</a> again.</p>"
                    b"</body></html>\n")
            return Response(page, media_type=media_type)
        if mode == "hls":
            return Response(self.hls_bytes(), media_type=media_type)
        if mode == "empty":
            return Response(await asyncio.to_thread(self.empty_bytes, fmt), media_type=media_type)
        if mode == "long_lowbitrate":
            layout = await asyncio.to_thread(self.long_lowbitrate_layout)
            return layout_response(layout, "audio/mpeg", request, {})
        raise ValueError(f"unknown media fault {mode!r}; one of {', '.join(FAULT_MODES)}")


class _ClosingStreamingResponse(StreamingResponse):
    """A StreamingResponse that always closes its body iterator, so an encoder behind it is
    killed even when the server reports a hang-up by raising from `send` (ASGI 2.4)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()


def layout_response(layout: _Layout, media_type: str, request: Request, headers: dict[str, str]) -> Response:
    """Serve a `_Layout` like a file: Content-Length, `Accept-Ranges`, 206 for one range, 416 past
    the end, `If-Range` against the ETag, HEAD without a body."""
    hdrs = {"accept-ranges": "bytes", **headers}
    size = layout.size
    start, end, status = 0, size, 200
    raw = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if raw and request.method in ("GET", "HEAD") and (if_range is None or if_range == hdrs.get("etag")):
        parsed = _parse_range(raw, size)
        if parsed is False:
            return Response(b"", 416, headers={**hdrs, "content-range": f"bytes */{size}"})
        if isinstance(parsed, tuple):
            start, end = parsed
            status = 206
            hdrs["content-range"] = f"bytes {start}-{end - 1}/{size}"
    hdrs["content-length"] = str(end - start)
    body = _aiter(iter(())) if request.method == "HEAD" else _aiter(layout.iter_range(start, end))
    return _ClosingStreamingResponse(body, status, headers=hdrs, media_type=media_type)


__all__ = ["FAULT_MODES", "MEDIA_FORMATS", "OPUS_RATES", "MediaFile", "MediaStore", "encoded_rate", "ffmpeg_exe",
           "mp3_frames", "nearest_opus_rate", "programme", "wav_header"]
