"""The audio path, without any UI:

    provider.fetch_media ──► MediaCache (root/media, hash names, atomic, LRU under a cap)
        ──► convert.start_decode: ffmpeg on stdin ─► 16-bit PCM WAV in root/pcm, in chunks
        ──► Player (simpleaudio in windows, or silent) · waveform.peaks · save.save_as

`alsa.silence_alsa()` must run before the UI starts and `alsa.probe_device()` before the first
play (None: a sound card; else why not, and the app offers "save as"). Everything blocking runs
on the caller's worker thread or on the player's and decoder's own threads.
"""

from rectui.audio.alsa import probe_device, silence_alsa
from rectui.audio.cache import MediaCache
from rectui.audio.convert import PcmFile, start_decode
from rectui.audio.errors import (
    AudioError,
    DecodeError,
    DecoderFailed,
    DecoderMissing,
    DeviceBusy,
    EmptyAudio,
    NoAudioDevice,
)
from rectui.audio.player import BasePlayer, Player, PlayerState, SilentPlayer, SimpleaudioPlayer
from rectui.audio.save import save_as
from rectui.audio.waveform import peaks

__all__ = [
    "AudioError",
    "BasePlayer",
    "DecodeError",
    "DecoderFailed",
    "DecoderMissing",
    "DeviceBusy",
    "EmptyAudio",
    "MediaCache",
    "NoAudioDevice",
    "PcmFile",
    "Player",
    "PlayerState",
    "SilentPlayer",
    "SimpleaudioPlayer",
    "peaks",
    "probe_device",
    "save_as",
    "silence_alsa",
    "start_decode",
]
