"""What can go wrong between a downloaded file and the speaker, in words a user can act on.

Each error has a short `title` (a toast heading or the player bar) and a `message` with the next
step. Device errors come from simpleaudio's `SimpleaudioError` (its CODE is a negative errno);
decode errors from ffmpeg's exit status, never from its raw output alone.
"""

from __future__ import annotations

import re

from rectui.errors import RectuiError


class AudioError(RectuiError):
    """Base class for playback, decoding and saving failures."""

    title = "Audio error"


class NoAudioDevice(AudioError):
    """No PCM could be opened: usual over SSH, in containers and on servers."""

    title = "No audio device"

    def __init__(self, message: str = "", **kwargs: object) -> None:
        super().__init__(message or (
            "No sound card is available here (usual over SSH). Save the audio as WAV or MP3 instead "
            "and play it on your own machine."), **kwargs)  # type: ignore[arg-type]


class DeviceBusy(AudioError):
    """Another program holds the sound card exclusively (ALSA `-EBUSY`)."""

    title = "Audio device busy"

    def __init__(self, message: str = "", **kwargs: object) -> None:
        super().__init__(message or (
            "Another program is using the sound card. Close it and press play again, or save the audio "
            "instead."), **kwargs)  # type: ignore[arg-type]


class DecodeError(AudioError):
    """The bytes are not audio ffmpeg can read: damaged, truncated, a web page, a playlist."""

    title = "Cannot decode"


class EmptyAudio(AudioError):
    """The file decoded to zero samples (simpleaudio must never get an empty buffer)."""

    title = "Recording is empty"

    def __init__(self, message: str = "", **kwargs: object) -> None:
        super().__init__(message or "The recording is empty: its audio has no samples to play.",
                         **kwargs)  # type: ignore[arg-type]


class DecoderMissing(AudioError):
    """The bundled ffmpeg (imageio-ffmpeg) is not installed or not runnable."""

    title = "ffmpeg not found"

    def __init__(self, message: str = "", **kwargs: object) -> None:
        super().__init__(message or (
            "The ffmpeg that rectui uses (from the imageio-ffmpeg package) is missing or cannot run. "
            "Reinstall rectui (pip install --force-reinstall imageio-ffmpeg)."), **kwargs)  # type: ignore[arg-type]


class DecoderFailed(AudioError):
    """ffmpeg hung (no progress within the deadline) or crashed (killed by a signal)."""

    title = "Decoder failed"


_CODE = re.compile(r"CODE:\s*(-?\d+)")
_NO_DEVICE = {-2, -6, -19}          # ENOENT, ENXIO, ENODEV: no card, no such PCM
_BUSY = {-16}                        # EBUSY


def device_error(exc: BaseException) -> AudioError:
    """Map simpleaudio's `SimpleaudioError` ("Error opening PCM device. -- CODE: -2 -- MSG: …")
    to the error the user sees; an unknown code keeps its errno text for the log."""
    text = str(exc)
    match = _CODE.search(text)
    code = int(match.group(1)) if match else None
    if code in _NO_DEVICE:
        return NoAudioDevice()
    if code in _BUSY:
        return DeviceBusy()
    detail = text.rsplit("MSG:", 1)[-1].strip()[:120] if "MSG:" in text else text[:120]
    return AudioError(f"The sound card reported an error ({detail}). Try again, or save the audio instead.",
                      title="Audio device error")
