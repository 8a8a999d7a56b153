"""Real audio for the emulator (placeholder: PCM WAV tones; the encoder work replaces this)."""

from __future__ import annotations

import asyncio
import math
import struct
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from rectui.emulator.dataset import Fact

MEDIA_FORMATS: dict[str, str] = {
    "wav": "audio/wav",
    "wav_ulaw": "audio/wav",
    "ogg_vorbis": "audio/ogg",
    "ogg_opus": "audio/ogg",
    "webm": "audio/webm",
    "mp3": "audio/mpeg",
}


@dataclass(frozen=True)
class MediaFile:
    path: Path
    content_type: str
    size: int


class MediaStore:
    def __init__(self, cache_dir: Path | None, seed: int = 1) -> None:
        self.cache_dir = cache_dir or Path(tempfile.gettempdir()) / "rectui-emulator-media"
        self.seed = seed

    def render(self, fact: Fact, fmt: str) -> MediaFile:
        if fmt not in MEDIA_FORMATS:
            raise ValueError(f"unknown media format {fmt!r}")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        path = self.cache_dir / f"{self.seed}-{fact.uid}.wav"
        if not path.exists():
            rate = 8000
            frames = int(min(fact.duration, 30) * rate)
            with wave.open(str(path), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(rate)
                w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i * 0.1)))
                                       for i in range(frames)))
        return MediaFile(path, "audio/wav", path.stat().st_size)

    async def get(self, fact: Fact, fmt: str) -> MediaFile:
        return await asyncio.to_thread(self.render, fact, fmt)

    async def response(self, fact: Fact, fmt: str, request: Request,
                       headers: dict[str, str] | None = None) -> Response:
        media = await self.get(fact, fmt)
        return FileResponse(media.path, media_type=media.content_type, headers=headers)

    async def fault_response(self, mode: str, fmt: str, request: Request) -> Response:
        return Response(b"not audio", 200, media_type=MEDIA_FORMATS.get(fmt, "audio/wav"))
