"""The README's screenshots, written by the app itself (`save_screenshot`), from the same factory
as the tests: emulated providers (hostile values off), a frozen clock, dates in UTC.

Regenerate: `RECTUI_WRITE_SCREENSHOTS=1 .venv/bin/python -m pytest tests/test_screenshots.py`
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from ui.harness import build, no_blink, settle

from rectui.app import make_app
from rectui.widgets.provider_sidebar import ProviderList

OUT = Path(__file__).resolve().parent.parent / "screenshots"
SIZE = (150, 42)
WRITE = os.environ.get("RECTUI_WRITE_SCREENSHOTS") == "1"
ERROR_FAULTS = "kazoo.*:status=401;webex.list:status=503;screendesk.list:retry_after=3600"


async def _sidebar(pilot: Pilot[Any]) -> None:
    pilot.app.screen.query_one(ProviderList).focus()


async def _playing(pilot: Pilot[Any]) -> None:
    """Wait for the waveform, then hold the player at 0:42 (the same picture every time)."""
    from rectui.widgets.player_bar import PlayerBar
    bar = pilot.app.screen.query_one(PlayerBar)
    for _ in range(40):
        await settle(pilot)
        if bar.peaks:
            break
    player = pilot.app.screen.playback.player  # type: ignore[attr-defined]
    player.pause()
    player.seek(42.0)
    bar.poll()


async def _delete_dialog(pilot: Pilot[Any]) -> None:
    for key in ("space", "space", "space", "d"):
        await pilot.press(key)
        await settle(pilot)


SHOTS: dict[str, tuple[dict[str, Any], tuple[str, ...], Callable[[Pilot[Any]], Awaitable[None]] | None]] = {
    "all-providers": ({}, (), None),
    "provider-detail": ({}, ("2", "down", "down"), None),
    "sorted-on-server": ({}, ("3", "s"), None),
    "filter": ({}, ("slash", "s", "u", "p", "p", "o", "r", "t"), None),
    "help": ({}, ("question_mark",), None),
    "palette": ({}, ("ctrl+p", "r", "o", "a", "d"), None),
    "provider-errors": ({"faults": ERROR_FAULTS}, ("2",), _sidebar),
    "playing": ({}, ("3", "down", "enter"), _playing),
    "delete-dialog": ({}, ("4",), _delete_dialog),
    "search-form": ({}, ("2", "f"), None),
    "tag-editor": ({}, ("3", "t"), None),
}




@pytest.mark.skipif(not WRITE, reason="set RECTUI_WRITE_SCREENSHOTS=1 to regenerate screenshots/")
@pytest.mark.parametrize("name", list(SHOTS))
async def test_write_screenshot(name: str, media_cache: Path, utc: None) -> None:
    options, keys, then = SHOTS[name]
    app = build(media_cache, **options).app
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        if then is not None:
            await then(pilot)
            await settle(pilot)
        no_blink(app)
        await pilot.pause()
        OUT.mkdir(exist_ok=True)
        app.save_screenshot(filename=f"{name}.svg", path=str(OUT))


@pytest.mark.skipif(not WRITE, reason="set RECTUI_WRITE_SCREENSHOTS=1 to regenerate screenshots/")
async def test_write_no_config_screenshot(utc: None) -> None:
    app = make_app(config_path=Path("~/.config/rectui/config.toml"), cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        OUT.mkdir(exist_ok=True)
        app.save_screenshot(filename="no-config.svg", path=str(OUT))


def test_screenshots_are_committed() -> None:
    """Runs last: after a regeneration, checks what was written."""
    names = {p.stem for p in OUT.glob("*.svg")}
    assert {*SHOTS, "no-config"} <= names
