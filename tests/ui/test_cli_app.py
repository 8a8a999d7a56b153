"""`rectui demo` (the emulator on loopback, all five providers) and `rectui` alone, headless."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot
from ui.harness import screen_text, settle

from rectui import cli
from rectui.app import RectuiApp
from rectui.config import write_config
from rectui.screens.main import MainScreen
from rectui.screens.no_config import NoConfigScreen


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Runs the app headless instead of on the terminal; records what its first screen showed."""
    out: dict[str, Any] = {}

    def run(self: RectuiApp, **_kwargs: Any) -> None:
        async def pilot(p: Pilot[None]) -> None:
            await settle(p)
            out["screen"] = p.app.screen
            out["text"] = screen_text(p.app)   # type: ignore[arg-type]
            out["states"] = {k: s.status for k, s in getattr(p.app.screen, "states", {}).items()}
            p.app.exit()

        App.run(self, headless=True, size=(160, 45), auto_pilot=pilot)

    monkeypatch.setattr(RectuiApp, "run", run)
    return out


def test_demo_serves_the_emulator_on_loopback_and_shows_all_five_providers(seen: dict[str, Any],
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from rectui.emulator.app import Emulator
    warmed: list[bool] = []
    monkeypatch.setattr(Emulator, "warm_media", lambda self: warmed.append(True))   # no audio rendering here
    assert cli.main(["demo"]) == 0
    assert warmed == [True]
    assert isinstance(seen["screen"], MainScreen)
    assert seen["states"] == {"all": "ok", "genesys": "ok", "kazoo": "ok", "restcomm": "ok", "webex": "ok",
                              "screendesk": "ok"}
    for name in ("All providers", "Genesys Cloud", "Kazoo", "Restcomm", "Webex", "Screendesk"):
        assert name in seen["text"]
    assert "1–50 of many" in seen["text"]


def test_rectui_without_a_config_explains_how_to_start(seen: dict[str, Any]) -> None:
    assert cli.main([]) == 0
    assert isinstance(seen["screen"], NoConfigScreen)
    assert "rectui demo" in seen["text"]


def test_rectui_with_a_broken_provider_starts_with_an_error_chip(seen: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    write_config(path, {"providers": {"sales": {"kind": "kazoo", "base_url": "https://kazoo.example.test/v2"}}})
    assert cli.main(["--config", str(path)]) == 0
    assert seen["states"]["sales"] == "config"
    assert "sales" in seen["text"] and "config" in seen["text"]


def test_rectui_with_an_unreadable_config_file_says_why(seen: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[providers.x\n")
    assert cli.main(["--config", str(path)]) == 0
    assert isinstance(seen["screen"], NoConfigScreen)
    assert "not valid TOML" in seen["text"]
