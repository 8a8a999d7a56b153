"""Keeping alsa-lib quiet and finding out, before the first play, whether a sound card exists.

alsa-lib prints its errors straight to fd 2 (eight lines when there is no card), which is where
Textual draws: the first line lands over the header row. A no-op error handler stops that; it
must be installed before the first PCM is opened and must outlive the call (a module global).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

_ALSA_ERROR_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                                       ctypes.c_char_p)
_handler = _ALSA_ERROR_HANDLER(lambda *_args: None)   # module level: alsa-lib keeps the pointer
_lock = threading.Lock()
_installed: bool | None = None
PROBE_FRAMES = 64                  # a few milliseconds of silence: never an empty buffer


def silence_alsa() -> bool:
    """Install the no-op alsa-lib error handler (once; later calls are free). Returns whether it
    is installed: False where there is no libasound (then there is nothing to silence either)."""
    global _installed
    with _lock:
        if _installed is None:
            try:
                lib = ctypes.CDLL(ctypes.util.find_library("asound") or "libasound.so.2")
                lib.snd_lib_error_set_handler(_handler)
                _installed = True
            except (OSError, AttributeError):
                _installed = False
        return _installed


def probe_device() -> str | None:
    """None when the default PCM opens and takes a few frames of silence, else the reason in
    plain words (for "No audio device"). Cheap: one open of the device, no decoding."""
    silence_alsa()
    try:
        import simpleaudio
        from simpleaudio._simpleaudio import SimpleaudioError
    except ImportError as exc:       # the C extension did not build
        return f"the playback module is not available ({exc.__class__.__name__})"
    try:
        play = simpleaudio.play_buffer(b"\x00\x00" * PROBE_FRAMES, 1, 2, 8000)
    except SimpleaudioError as exc:
        from rectui.audio.errors import device_error
        return device_error(exc).message
    play.stop()
    return None
