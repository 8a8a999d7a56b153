"""Peaks of decoded PCM for the player bar's waveform, read from the file in chunks.

Each bucket's peak is `audioop.max` over its samples (C speed: an hour of 48 kHz stereo is read,
not looped over in Python), normalised to 0..1. Run it in a worker: it reads the whole file.
"""

from __future__ import annotations

import warnings

from rectui.audio.convert import PcmFile

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

READ_BYTES = 1024 * 1024
FULL_SCALE = 32768.0


def peaks(pcm: PcmFile, buckets: int, *, frames: int | None = None) -> list[float]:
    """`buckets` peaks (0..1) over the first `frames` frames (default: all decoded so far).
    Fewer frames than buckets still gives `buckets` values (some repeat a frame); no audio
    gives zeros."""
    if buckets <= 0:
        return []
    total = pcm.frames_ready if frames is None else min(frames, pcm.frames_ready)
    if total <= 0 or not pcm.rate:
        return [0.0] * buckets
    out: list[float] = []
    per_read = max(1, READ_BYTES // pcm.frame_bytes)
    for i in range(buckets):
        first = i * total // buckets
        last = max(first + 1, (i + 1) * total // buckets)
        peak = 0
        at = first
        while at < last:
            count = min(per_read, last - at)
            data = pcm.read(at, count)
            if not data:
                break
            peak = max(peak, audioop.max(data, 2))
            at += count
        out.append(min(1.0, peak / FULL_SCALE))
    return out
