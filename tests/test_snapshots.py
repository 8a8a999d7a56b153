"""Snapshots of the main states at 80×24 and 160×50: a fixed emulator (seed, anchor, counts), a
frozen clock, dates in UTC, no cursor blink. Review the report before `--snapshot-update`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from ui.harness import HeldDeletes, build, no_blink, screen_text, settle

from rectui.app import make_app
from rectui.widgets.player_bar import PlayerBar
from rectui.widgets.provider_sidebar import ProviderList

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 50), id="160x50")]
ERROR_FAULTS = "kazoo.*:status=401;webex.list:status=503;screendesk.list:retry_after=3600"
Steps = Callable[[Pilot[Any]], Awaitable[None]]


@pytest.fixture(autouse=True)
def _always_utc(utc: None) -> None:
    """Dates on screen in UTC, whatever the machine's zone."""


def steps(*keys: str, then: Callable[[Pilot[Any]], Awaitable[None] | None] | None = None) -> Steps:
    """Settle, press `keys` (settling after each), run `then`, settle, stop the cursor blinking."""
    async def run(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        if then is not None:
            result = then(pilot)
            if result is not None:
                await result
            await settle(pilot)
        no_blink(pilot.app)   # type: ignore[arg-type]
        await pilot.pause()
    return run


async def focus_sidebar(pilot: Pilot[Any]) -> None:
    pilot.app.screen.query_one(ProviderList).focus()


@pytest.mark.parametrize("size", SIZES)
def test_start(snap_compare: Any, media_cache: Path, size: tuple[int, int]) -> None:
    assert snap_compare(build(media_cache).app, terminal_size=size, run_before=steps())


@pytest.mark.parametrize("size", SIZES)
def test_provider(snap_compare: Any, media_cache: Path, size: tuple[int, int]) -> None:
    assert snap_compare(build(media_cache).app, terminal_size=size, run_before=steps("3", "s"))


@pytest.mark.parametrize("size", SIZES)
def test_detail(snap_compare: Any, media_cache: Path, size: tuple[int, int]) -> None:
    assert snap_compare(build(media_cache).app, terminal_size=size, run_before=steps("2", "down", "tab"))


@pytest.mark.parametrize("size", SIZES)
def test_filter(snap_compare: Any, media_cache: Path, size: tuple[int, int]) -> None:
    assert snap_compare(build(media_cache).app, terminal_size=size,
                        run_before=steps("slash", "s", "u", "p", "p"))


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare: Any, media_cache: Path, size: tuple[int, int]) -> None:
    assert snap_compare(build(media_cache).app, terminal_size=size, run_before=steps("question_mark"))


@pytest.mark.parametrize("size", SIZES)
def test_palette(snap_compare: Any, media_cache: Path, size: tuple[int, int]) -> None:
    assert snap_compare(build(media_cache).app, terminal_size=size,
                        run_before=steps("ctrl+p", "r", "o", "a", "d", "m", "a", "p"))


@pytest.mark.parametrize("size", SIZES)
def test_error_sidebar(snap_compare: Any, media_cache: Path, size: tuple[int, int]) -> None:
    app = build(media_cache, faults=ERROR_FAULTS).app
    assert snap_compare(app, terminal_size=size, run_before=steps("2", then=focus_sidebar))


async def mark_three(pilot: Pilot[Any]) -> None:
    await pilot.press("space", "space", "space")


@pytest.mark.parametrize("size", SIZES)
def test_delete_dialog_single(snap_compare: Any, media_cache: Path, size: tuple[int, int]) -> None:
    """One Kazoo recording: permanent, confirmed with y, focus on Cancel."""
    app = build(media_cache, kinds=("kazoo", "webex", "screendesk")).app
    assert snap_compare(app, terminal_size=size, run_before=steps("1", "d"))


@pytest.mark.parametrize("size", SIZES)
def test_delete_dialog_typed_count(snap_compare: Any, media_cache: Path, size: tuple[int, int]) -> None:
    """Three marked Webex recordings: to the recycle bin, the count typed (a wrong one so far)."""
    app = build(media_cache, kinds=("kazoo", "webex", "screendesk")).app
    assert snap_compare(app, terminal_size=size, run_before=steps("2", "space", "space", "space", "d", "2"))


@pytest.mark.parametrize("size", SIZES)
def test_bulk_results(snap_compare: Any, media_cache: Path, size: tuple[int, int]) -> None:
    """Four Kazoo deletes, one denied: the summary in the status line, then each item (R)."""
    app = build(media_cache, kinds=("kazoo", "webex", "screendesk"), faults="kazoo.delete:forbid,after=1,count=1").app
    assert snap_compare(app, terminal_size=size,
                        run_before=steps("1", "space", "space", "space", "space", "d", "4", "enter", "enter", "R"))


@pytest.mark.parametrize("size", SIZES)
def test_bulk_progress(snap_compare: Any, media_cache: Path, size: tuple[int, int]) -> None:
    """Four Kazoo deletes, two done and the third waiting on the server: progress in the status line."""
    app = build(media_cache, kinds=("kazoo", "webex", "screendesk"), wrap=HeldDeletes).app

    async def mid_run(pilot: Pilot[Any]) -> None:
        await steps("1", "space", "space", "space", "space", "d", "4", "enter")(pilot)
        await pilot.press("enter")                      # confirmed: the batch starts (no settle: it never ends)
        for _ in range(200):
            await pilot.pause()
            if "2 deleted" in screen_text(pilot.app):   # type: ignore[arg-type]
                break
        assert "Deleting 2/4… · 2 deleted" in screen_text(pilot.app)   # type: ignore[arg-type]
        no_blink(pilot.app)   # type: ignore[arg-type]

    assert snap_compare(app, terminal_size=size, run_before=mid_run)


@pytest.mark.parametrize("size", SIZES)
def test_bulk_done_status(snap_compare: Any, media_cache: Path, size: tuple[int, int]) -> None:
    """After the bulk delete: the failed row stays, the others are gone, the summary toast."""
    app = build(media_cache, kinds=("kazoo", "webex", "screendesk"), faults="kazoo.delete:forbid,after=1,count=1").app
    assert snap_compare(app, terminal_size=size,
                        run_before=steps("1", "space", "space", "space", "space", "d", "4", "enter", "enter"))


@pytest.mark.parametrize("size", SIZES)
def test_recycle_bin(snap_compare: Any, media_cache: Path, size: tuple[int, int]) -> None:
    """Webex's recycle bin after a delete, one row marked."""
    app = build(media_cache, kinds=("kazoo", "webex", "screendesk")).app
    assert snap_compare(app, terminal_size=size, run_before=steps("2", "d", "y", "b", "space"))


@pytest.mark.parametrize("size", SIZES)
def test_no_config(snap_compare: Any, size: tuple[int, int]) -> None:
    app = make_app(config_path=Path("~/.config/rectui/config.toml"), cursor_blink=False)
    assert snap_compare(app, terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_playing(snap_compare: Any, media_cache: Path, size: tuple[int, int]) -> None:
    """The player bar under the detail pane: waveform with the playhead, position, speed, volume."""
    h = build(media_cache)

    async def seven_seconds_in(pilot: Pilot[Any]) -> None:
        for _ in range(40):                     # the decode and the waveform finish in workers
            await settle(pilot)
            if pilot.app.screen.query_one(PlayerBar).peaks:
                break
        player = pilot.app.screen.playback.player   # type: ignore[attr-defined]
        player.pause()                              # paused at 0:07: the same picture on every run
        player.seek(7.0)
        pilot.app.screen.query_one(PlayerBar).poll()

    assert snap_compare(h.app, terminal_size=size, run_before=steps("3", "enter", then=seven_seconds_in))
