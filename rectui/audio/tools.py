"""The two external tools of the audio path, set up once: the bundled ffmpeg and pydub.

pydub looks for `ffmpeg` on `PATH` when it is imported and warns ("Couldn't find ffmpeg") when it
is not there, which would print before the TUI starts; on Python 3.11–3.12 it also triggers
`audioop`'s deprecation warning. Both are silenced for that one import, and pydub is pointed at
the bundled ffmpeg. rectui never lets pydub call ffprobe (it is not bundled): pydub here only
parses WAV headers and applies gain to windows of samples already in memory.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from types import ModuleType

from rectui.audio.errors import DecoderMissing


@functools.cache
def ffmpeg_exe() -> str:
    """The path of imageio-ffmpeg's static ffmpeg; `DecoderMissing` when it is absent or not
    executable (never a system ffmpeg: its demuxers and version are not the ones tested)."""
    try:
        import imageio_ffmpeg
        path = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError, OSError) as exc:
        raise DecoderMissing() from exc
    if not os.access(path, os.X_OK):
        raise DecoderMissing()
    return path


@functools.cache
def pydub() -> ModuleType:
    """`pydub.audio_segment`, imported quietly, with `AudioSegment.converter` set to the bundled
    ffmpeg so that nothing in pydub looks on `PATH`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        from pydub import audio_segment
    with contextlib.suppress(DecoderMissing):   # decoding will say so; header parsing and gain still work
        audio_segment.AudioSegment.converter = ffmpeg_exe()
    return audio_segment
