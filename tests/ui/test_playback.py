"""Pilot tests of listening and editing in the app: enter plays (real download from the emulator,
real ffmpeg decode, the real player logic without a device on the fake clock), the player keys,
no sound device (said once, save-as offered), save-as never overwrites silently, tags, rename,
the server search form and the All-providers key."""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input
from ui.harness import build, open_provider, settle, toasts

from rectui.screens.main import MainScreen
from rectui.screens.playback import AudioOptions
from rectui.screens.save_audio import SaveAudioDialog
from rectui.widgets.player_bar import PlayerBar

pytestmark = pytest.mark.asyncio

KAZOO, SCREENDESK, RESTCOMM, GENESYS = "2", "5", "3", "1"


async def to_playable(screen: MainScreen, pilot: Any) -> None:
    """Move the cursor to the first row with audio (short ones keep the decode quick)."""
    for _ in range(40):
        rec = screen.table.current()
        if rec is not None and rec.has_media and rec.id_valid and (rec.duration or 0) < 600:
            return
        await pilot.press("down")
    raise AssertionError("no playable row")


async def test_enter_plays_and_the_player_keys_work_from_anywhere(media_cache: Path) -> None:
    h = build(media_cache, count=60)
    async with h.app.run_test(size=(160, 45)) as pilot:
        screen = await open_provider(h, pilot, KAZOO)
        await to_playable(screen, pilot)
        rec = screen.table.current()
        assert rec is not None
        await pilot.press("enter")
        await settle(pilot, rounds=40)
        player = screen.playback.player
        assert player is not None
        state = player.snapshot()
        assert state.status == "playing" and state.title == rec.title
        assert state.duration == pytest.approx(rec.duration, abs=0.5)
        assert len(h.emu.log.for_route("kazoo", "media")) == 1
        bar = screen.query_one(PlayerBar)
        bar.poll()
        assert bar.state.status == "playing" and bar.peaks        # the waveform came from the decoded audio

        await pilot.press("right_square_bracket", "right_square_bracket", "9", "m")
        state = player.snapshot()
        assert state.speed == pytest.approx(1.2) and state.volume == pytest.approx(0.9) and state.muted

        await pilot.press("enter")                                 # the same recording: pause
        assert player.snapshot().status == "paused"
        await pilot.press("enter")
        assert player.snapshot().status == "playing"
        await pilot.press("z")                                     # stop from anywhere
        await settle(pilot)
        assert player.snapshot().status == "idle" and screen.playback.current is None

        await pilot.press("enter")                                 # again: from the cache, no download
        await settle(pilot, rounds=40)
        assert player.snapshot().status == "playing"
        assert len(h.emu.log.for_route("kazoo", "media")) == 1


async def test_the_player_bar_takes_mpv_keys_when_focused(media_cache: Path) -> None:
    h = build(media_cache, count=60)
    async with h.app.run_test(size=(160, 45)) as pilot:
        screen = await open_provider(h, pilot, RESTCOMM)
        await to_playable(screen, pilot)
        await pilot.press("enter")
        await settle(pilot, rounds=40)
        player = screen.playback.player
        assert player is not None
        bar = screen.query_one(PlayerBar)
        bar.focus()
        await pilot.pause()
        await pilot.press("space")
        assert player.snapshot().status == "paused"
        duration = player.snapshot().duration or 0
        await pilot.press("right")
        assert player.snapshot().position == pytest.approx(min(5.0, duration), abs=0.01)
        await pilot.press("left")
        assert player.snapshot().position == pytest.approx(0.0, abs=0.01)
        await pilot.press("space")
        assert player.snapshot().status == "playing"


async def test_a_recording_without_media_says_why_and_fetches_nothing(media_cache: Path) -> None:
    h = build(media_cache, count=30)
    async with h.app.run_test(size=(160, 45)) as pilot:
        screen = await open_provider(h, pilot, SCREENDESK)
        before = len(h.emu.log.records)
        await pilot.press("enter")
        await settle(pilot)
        assert screen.playback.current is None
        assert any("Nothing to play" in n for n in toasts(h))
        assert not [r for r in list(h.emu.log.records)[before:] if "media" in r.route]


async def test_no_sound_device_is_said_once_and_enter_offers_save_as(media_cache: Path, tmp_path: Path) -> None:
    made: list[Any] = []

    def never() -> Any:
        made.append(1)
        raise AssertionError("no player is made without a device")

    audio = AudioOptions(make_player=never, probe=lambda: "no sound card was found (ALSA: cannot find card 0)")
    h = build(media_cache, count=60, audio=audio)
    async with h.app.run_test(size=(160, 45)) as pilot:
        screen = await open_provider(h, pilot, KAZOO)
        await to_playable(screen, pilot)
        await pilot.press("enter")
        await settle(pilot, rounds=40)
        said = [n for n in toasts(h) if n.startswith("No audio device")]
        assert len(said) == 1 and "save" in said[0]
        assert not made

        await pilot.press("enter")                 # now enter offers "save as"
        await settle(pilot)
        dialog = h.app.screen
        assert isinstance(dialog, SaveAudioDialog)
        target = tmp_path / "call.wav"
        dialog.query_one("#save-path", Input).value = str(target)
        await pilot.press("ctrl+s")
        await settle(pilot, rounds=40)
        with wave.open(str(target)) as wav:
            assert wav.getsampwidth() == 2 and wav.getnframes() > 0
        assert len([n for n in toasts(h) if n.startswith("No audio device")]) == 1


async def test_save_as_never_overwrites_without_asking(media_cache: Path, tmp_path: Path) -> None:
    h = build(media_cache, count=60)
    target = tmp_path / "keep.wav"
    target.write_bytes(b"precious")
    async with h.app.run_test(size=(160, 45)) as pilot:
        screen = await open_provider(h, pilot, RESTCOMM)
        await to_playable(screen, pilot)
        await pilot.press("w")
        await settle(pilot)
        dialog = h.app.screen
        assert isinstance(dialog, SaveAudioDialog)
        dialog.query_one("#save-path", Input).value = str(target)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert h.app.screen is dialog and target.read_bytes() == b"precious"   # it asks first
        await pilot.press("ctrl+s")                                           # the second press replaces
        await settle(pilot, rounds=40)
        assert target.read_bytes()[:4] == b"RIFF"


async def test_local_tags_are_added_through_the_editor_and_shown_in_the_table(media_cache: Path) -> None:
    h = build(media_cache, count=30)
    async with h.app.run_test(size=(160, 45)) as pilot:
        screen = await open_provider(h, pilot, RESTCOMM)
        rec = screen.table.current()
        assert rec is not None
        await pilot.press("t")
        await settle(pilot)
        await pilot.press(*"[b]urgent", "enter")     # markup-looking text is a plain tag
        await pilot.press("enter")                   # an empty field: save
        await settle(pilot, rounds=20)
        assert "[b]urgent" in h.store.tags_for(rec.provider, rec.id).local
        shown = screen.table.current()
        assert shown is not None and shown.key == rec.key and "[b]urgent" in shown.tags
        assert not h.emu.log.for_route("restcomm", "update")    # local tags never reach the server


async def test_kazoo_tags_are_saved_on_the_server(media_cache: Path) -> None:
    h = build(media_cache, count=30)
    async with h.app.run_test(size=(160, 45)) as pilot:
        screen = await open_provider(h, pilot, KAZOO)
        rec = screen.table.current()
        assert rec is not None
        await pilot.press("t")
        await settle(pilot)
        await pilot.press(*"escalated", "enter", "enter")
        await settle(pilot, rounds=20)
        writes = [r for r in h.emu.log.for_route("kazoo") if r.method in ("PATCH", "POST", "PUT")]
        assert writes, "the tag went to the server"
        shown = screen.table.current()
        assert shown is not None and "escalated" in shown.tags


async def test_rename_on_genesys_changes_the_title_on_the_server_and_in_the_table(media_cache: Path) -> None:
    h = build(media_cache, count=30)
    async with h.app.run_test(size=(160, 45)) as pilot:
        screen = await open_provider(h, pilot, GENESYS)
        rec = screen.table.current()
        assert rec is not None
        await pilot.press("E")
        await settle(pilot)
        box = h.app.screen.query(Input).first()
        box.value = "Renamed from rectui"
        await pilot.press("ctrl+s")
        await settle(pilot, rounds=20)
        assert [r for r in h.emu.log.for_route("genesys") if r.method in ("PUT", "PATCH")]
        shown = screen.table.current()
        assert shown is not None and shown.key == rec.key and shown.title == "Renamed from rectui"


async def test_rename_is_refused_where_the_provider_cannot(media_cache: Path) -> None:
    h = build(media_cache, count=30)
    async with h.app.run_test(size=(160, 45)) as pilot:
        await open_provider(h, pilot, KAZOO)
        await pilot.press("E")
        await settle(pilot)
        assert isinstance(h.app.screen, MainScreen)
        assert any("cannot rename" in n for n in toasts(h))


async def test_the_search_form_asks_the_server_and_a_cleared_form_lists_everything(media_cache: Path) -> None:
    h = build(media_cache, count=200)
    async with h.app.run_test(size=(160, 45)) as pilot:
        screen = await open_provider(h, pilot, RESTCOMM)
        first = screen.table.current()
        assert first is not None and first.call_id
        await pilot.press("f")
        await settle(pilot)
        form = h.app.screen
        box = form.query_one("#search-call_id", Input)
        box.value = first.call_id
        await pilot.press("ctrl+s")
        await settle(pilot, rounds=20)
        view = screen.view
        assert view is not None and view.search is not None and view.search.call_id == first.call_id
        assert view.page is not None and [r.key for r in view.page.items] == [first.key]
        last = h.emu.log.for_route("restcomm", "list")[-1]
        assert "CallSid" in last.query

        await pilot.press("f")
        await settle(pilot)
        await pilot.press("ctrl+l")                  # clear: everything again
        await settle(pilot, rounds=20)
        assert view.search is None and view.page is not None and len(view.page.items) > 1


async def test_a_selects_all_providers_and_digits_select_providers(media_cache: Path) -> None:
    h = build(media_cache, count=30)
    async with h.app.run_test(size=(160, 45)) as pilot:
        screen = await open_provider(h, pilot, KAZOO)
        assert screen.view_id == "kazoo"
        await pilot.press("a")
        await settle(pilot)
        assert screen.view_id == "all"


async def test_the_player_line_shows_position_speed_volume_and_a_decoder_warning() -> None:
    from rectui.audio import PlayerState
    from rectui.widgets.player_bar import status_line, waveform

    state = PlayerState(status="playing", position=64.0, duration=192.0, speed=1.25, volume=0.8)
    assert status_line(state) == "▶ 1:04 / 3:12 · ×1.25 · vol 80%"
    cut = PlayerState(status="playing", position=0.0, duration=10800.0, warning="only the first 3 h are played")
    assert status_line(cut).endswith("only the first 3 h are played")
    assert status_line(PlayerState(status="paused", muted=True, duration=5.0)).endswith("muted · paused")
    line = waveform([0.0, 0.5, 1.0, 0.25], 8, 0.5)
    assert len(line.plain) == 8 and line.plain[0] == " " and "█" in line.plain
