"""Playback for the main screen: fetch → convert → play, in workers, one recording at a time.

The screen owns one `Playback`; its keys call `play`, `stop`, `faster`… here, and everything slow
(the download, opening the cache, starting ffmpeg, the waveform, saving) runs in workers of the
screen's "audio" group, so no key ever waits for audio. A newer `play` outdates an older one by
request id: an outdated worker closes what it made and touches nothing on screen.

No sound device (usual over SSH) is found out once, before the first play, by
`rectui.audio.probe_device`: then the app says so once, in plain words, and offers "save as"
instead of playing. The audio stack (pydub, simpleaudio) is imported only when first needed, so
it never slows the app's start.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rectui.errors import RectuiError
from rectui.logs import redact
from rectui.models import Recording
from rectui.sanitize import one_line
from rectui.widgets.player_bar import PlayerBar

if TYPE_CHECKING:
    from textual.screen import Screen

    from rectui.audio import MediaCache, PcmFile, Player
    from rectui.screens.save_audio import SaveRequest

WAVEFORM_BUCKETS = 600
NO_DEVICE_HINT = "Press w (or enter) to save the audio to a file."


def no_device_text(reason: str) -> str:
    """The one "no audio device" notice: the reason, and how to get the audio anyway."""
    text = one_line(reason, limit=300).rstrip(". ")
    return f"{text}. {NO_DEVICE_HINT}"


@dataclass(frozen=True)
class AudioOptions:
    """How the app plays: the cache and its limits (`[ui]` settings), and for tests a player
    and a device probe of their choosing."""

    cache_root: Path | None = None
    """None: `audio/` in the user cache directory."""
    cache_mb: int = 2048
    media_max_mb: int = 200
    make_player: Callable[[], Player] | None = None
    """None: simpleaudio."""
    probe: Callable[[], str | None] | None = None
    """None: `rectui.audio.probe_device`."""


class Playback:
    """The one player of the app and the cache behind it."""

    def __init__(self, screen: Screen[Any], bar: PlayerBar, options: AudioOptions | None = None, *,
                 on_stage: Callable[[str], None] | None = None) -> None:
        options = options or AudioOptions()
        self.screen = screen
        self.bar = bar
        self.cache_root = options.cache_root
        self.cap_bytes = options.cache_mb * 1024 * 1024
        self.max_file_bytes = options.media_max_mb * 1024 * 1024
        self._make_player = options.make_player
        self._probe = options.probe
        self._on_stage = on_stage
        self.cache: MediaCache | None = None
        self.player: Player | None = None
        self.device_problem: str | None = None
        self.probed = False
        self.current: Recording | None = None
        """The recording in the player (or being prepared for it)."""
        self.request = 0
        self._held: PcmFile | None = None
        """With no device: the decoded audio kept ready for "save as"."""
        self._told_no_device = False

    # -- what the screen asks ----------------------------------------------------------------
    def play(self, rec: Recording, provider: Any) -> None:
        """Play `rec`; the same recording again pauses or resumes it (from the start once ended)."""
        player = self.player
        if player is not None and self.current is not None and self.current.key == rec.key:
            state = player.snapshot()
            if state.status == "ended":
                player.seek(0)
                player.play()
                self.bar.poll()
                return
            if state.status in ("playing", "paused"):
                player.toggle()
                self.bar.poll()
                return
        self.stop()
        self.current = rec
        self.request += 1
        self.bar.reset()
        self._stage("fetching…")
        self.screen.run_worker(self._prepare(rec, provider, self.request), group="audio", exclusive=True,
                               exit_on_error=False, name="audio-prepare")

    def stop(self) -> None:
        """Stop at once and forget the recording (its cached files stay for the next play)."""
        self.request += 1
        self.screen.workers.cancel_group(self.screen, "audio")
        if self.player is not None:
            self.player.stop()
        self._release_held()
        if self.current is not None:
            self.current = None
            self.bar.reset()
            self._stage("")

    def command(self, name: str) -> bool:
        """A player command from anywhere (`faster`, `slower`, `louder`, `quieter`, `toggle_mute`,
        `toggle`); False when nothing is loaded."""
        if self.player is None or self.current is None:
            return False
        getattr(self.player, name)()
        self.bar.poll()
        return True

    def close(self) -> None:
        self.stop()
        if self.player is not None:
            with contextlib.suppress(Exception):
                self.player.close()
            self.player = None

    # -- the worker --------------------------------------------------------------------------
    def _current(self, request: int) -> bool:
        return request == self.request

    def _stage(self, text: str) -> None:
        self.bar.set_stage(text)
        if self._on_stage is not None:
            self._on_stage(text)

    async def _open_cache(self) -> MediaCache:
        if self.cache is None:
            from rectui.audio import MediaCache
            root = self.cache_root
            if root is None:
                from rectui.paths import cache_dir
                root = cache_dir() / "audio"
            self.cache = await asyncio.to_thread(MediaCache, root, self.cap_bytes, self.max_file_bytes)
        return self.cache

    async def _probe_device(self) -> None:
        if self.probed:
            return
        probe = self._probe
        if probe is None:
            from rectui.audio import probe_device
            probe = probe_device
        self.device_problem = await asyncio.to_thread(probe)
        self.probed = True

    async def _decoded(self, rec: Recording, provider: Any, request: int) -> PcmFile | None:
        """The recording's PCM (decoding behind), or None when outdated or failed (said)."""
        try:
            cache = await self._open_cache()
            media = await cache.fetch(provider, rec)
            if not self._current(request):
                return None
            self._stage("converting…")
            pcm = await asyncio.to_thread(cache.decode, media, duration_hint=rec.duration)
        except RectuiError as exc:
            if self._current(request):
                self._failed(exc)
            return None
        except OSError as exc:
            if self._current(request):
                self._failed(RectuiError(f"The audio cache cannot be written: {exc.strerror or exc}",
                                         title="Audio cache"))
            return None
        if not self._current(request):
            pcm.close()
            return None
        return pcm

    async def _prepare(self, rec: Recording, provider: Any, request: int) -> None:
        await self._probe_device()
        pcm = await self._decoded(rec, provider, request)
        if pcm is None:
            return
        if self.device_problem is not None:
            self._held = pcm              # decoding goes on, so "save as" is quick
            self._stage("no audio device · w saves the audio")
            if not self._told_no_device:
                self._told_no_device = True
                self.screen.notify(no_device_text(self.device_problem), title="No audio device",
                                   severity="warning", markup=False, timeout=10)
            return
        player = self._player()
        pcm.retain()                       # our own hold, for the waveform
        player.load(pcm, title=rec.title)
        player.play()
        self.bar.attach(player)
        self._stage("")
        self.screen.run_worker(self._waveform(pcm, request), group="audio-waveform", exclusive=True,
                               exit_on_error=False, name="audio-waveform")

    async def _waveform(self, pcm: PcmFile, request: int) -> None:
        try:
            while not await asyncio.to_thread(pcm.wait_done, 0.5):
                if not self._current(request):
                    return
            if not pcm.ok or not self._current(request):
                return
            from rectui.audio import peaks
            values = await asyncio.to_thread(peaks, pcm, WAVEFORM_BUCKETS)
            if self._current(request):
                self.bar.set_peaks(values)
        finally:
            pcm.close()

    def _player(self) -> Player:
        if self.player is None:
            if self._make_player is not None:
                self.player = self._make_player()
            else:
                from rectui.audio import SimpleaudioPlayer
                self.player = SimpleaudioPlayer()
        return self.player

    def _release_held(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.close()

    def _failed(self, exc: RectuiError) -> None:
        self.current = None
        self._stage(exc.title)
        text = one_line(redact(exc.message), limit=400)
        self.screen.notify(text, title=exc.title, severity="error", markup=False, timeout=8)

    def device_failed(self, error: RectuiError) -> None:
        """The player reported a device error while playing (no device, busy): said once for
        "no device", and then "save as" is what enter offers."""
        from rectui.audio import NoAudioDevice
        if isinstance(error, NoAudioDevice):
            self.device_problem = error.message
            if self._told_no_device:
                return
            self._told_no_device = True
            self.screen.notify(no_device_text(error.message), title="No audio device", severity="warning",
                               markup=False, timeout=10)
            return
        self.screen.notify(one_line(error.message, limit=300), title=error.title, severity="error", markup=False)

    # -- save as -----------------------------------------------------------------------------
    def save(self, rec: Recording, provider: Any, folder: Path | None = None) -> None:
        """Ask where and as what, then write it in a worker; never overwrites without asking."""
        from rectui.screens.save_audio import SaveAudioDialog

        reason = f"No audio device: {self.device_problem}" if self.device_problem else ""

        def chosen(request: SaveRequest | None) -> None:
            if request is not None:
                self.screen.run_worker(self._save(rec, provider, request), group="audio-save", exit_on_error=False,
                                       name="audio-save")

        self.screen.app.push_screen(SaveAudioDialog(rec, folder=folder, reason=reason), chosen)

    async def _save(self, rec: Recording, provider: Any, request: SaveRequest) -> None:
        from rectui.audio import save_as
        self.screen.notify(f"Saving to {request.path.name}…", title="Save audio", markup=False, timeout=3)
        try:
            cache = await self._open_cache()
            media = await cache.fetch(provider, rec)
            pcm = await asyncio.to_thread(cache.decode, media, duration_hint=rec.duration)
            try:
                path = await asyncio.to_thread(save_as, pcm, request.path, request.format,
                                               overwrite=request.overwrite)
            finally:
                pcm.close()
        except FileExistsError:
            self.screen.notify(f"{request.path} exists; nothing was written.", title="Not saved", severity="warning",
                               markup=False)
            return
        except RectuiError as exc:
            self.screen.notify(one_line(redact(exc.message), limit=400), title=f"Not saved: {exc.title}",
                               severity="error", markup=False)
            return
        except OSError as exc:
            self.screen.notify(f"{request.path}: {exc.strerror or exc}", title="Not saved", severity="error",
                               markup=False)
            return
        size = path.stat().st_size
        from rectui.widgets import formatting as fmt
        self.screen.notify(f"{path} ({fmt.size(size)})", title="Audio saved", markup=False, timeout=6)
