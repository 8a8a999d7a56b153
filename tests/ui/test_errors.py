"""Providers in error states: auth, 5xx after retries, rate-limited, offline, misconfigured; stale
results dropped; an unexpected worker error; the API-call log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ui.harness import Gate, build, screen_text, settle

from rectui.messages import PageLoaded
from rectui.models import ListQuery, Page
from rectui.screens.api_log import ApiLogScreen
from rectui.screens.main import MainScreen
from rectui.screens.no_config import NoConfigScreen
from rectui.widgets.provider_sidebar import ProviderList, chip

SIZE = (160, 50)
FAULTS = "kazoo.*:status=401;webex.list:status=503;screendesk.list:retry_after=3600"


def offline_restcomm(emu_entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {"restcomm_dr": {**emu_entry, "base_url": "http://nowhere.emulator.test/restcomm/2012-04-24",
                            "display_name": "Restcomm DR"},
            "broken": {"kind": "kazoo", "base_url": "http://kazoo.example.test/v2"}}


async def test_each_failing_provider_gets_its_status_and_the_others_still_show(media_cache: Path) -> None:
    probe = build(media_cache, kinds=("restcomm",))
    h = build(media_cache, faults=FAULTS, extra=offline_restcomm(probe.emu["restcomm"].config_entry()))
    # the extra entry points at an origin nobody serves: connection refused, as a dead host
    async with h.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = h.app.screen
        assert isinstance(screen, MainScreen)
        status = {pid: s.status for pid, s in screen.states.items()}
        assert status == {"all": "ok", "genesys": "ok", "kazoo": "auth", "restcomm": "ok", "webex": "error",
                          "screendesk": "rate_limited", "restcomm_dr": "offline", "broken": "config"}
        now = h.clock()
        assert chip(screen.states["webex"], now)[1] == "503"
        assert chip(screen.states["screendesk"], now)[1] == "429 1h00m"
        assert screen.states["screendesk"].until is not None
        h.clock.advance(600)                               # the countdown follows the (injected) clock
        assert chip(screen.states["screendesk"], h.clock())[1] == "429 50m00s"
        assert {r.provider for r in screen.table.rows_shown} == {"genesys", "restcomm"}
        titles = {n.title for n in h.app._notifications}
        assert {"Kazoo · Authentication failed", "Webex · Unavailable", "Screendesk · Rate-limited",
                "Restcomm DR · Offline"} <= titles
        assert "Restcomm DR" in screen_text(h.app)
        # the highlighted provider's full error is readable under the list
        screen.query_one(ProviderList).focus()
        await pilot.press("down", "down")                  # Kazoo
        await settle(pilot)
        assert screen.view_id == "kazoo"
        text = screen_text(h.app)
        assert "Authentication failed" in text and "(401)" in text and "Kazoo refused the API" in text
        assert "r: try again" in text                      # the table says what to do
        await pilot.press("end")                           # the misconfigured provider
        await settle(pilot)
        assert screen.view_id == "broken" and "account_id" in screen_text(h.app)
        await pilot.press("e")
        await pilot.pause()
        log = h.app.screen
        assert isinstance(log, ApiLogScreen)
        text = screen_text(h.app)
        assert "Webex · Unavailable (503)" in text and "GET /v1/convergedRecordings" in text
        assert "correlation id" in text                    # Webex's trackingId
        await pilot.press("escape")
        await pilot.pause()
        assert h.app.screen is screen


async def test_a_failed_provider_recovers_on_refresh(media_cache: Path) -> None:
    h = build(media_cache, kinds=("webex",), faults="webex.list:status=500")
    async with h.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = h.app.screen
        assert isinstance(screen, MainScreen)
        assert screen.states["webex"].status == "error" and screen.table.row_count == 0
        assert len(h.mono.slept) >= 3                      # retried, with (fake) backoff waits
        assert any(e.kind == "retry" for e in screen.api_log)
        h.emu.faults.clear()
        await pilot.press("r")
        await settle(pilot)
        assert screen.states["webex"].status == "ok" and screen.table.row_count == 50
        assert screen.query_one("#table-message").display is False


async def test_a_retried_request_shows_in_the_api_log_and_ends_ok(media_cache: Path) -> None:
    h = build(media_cache, kinds=("restcomm",), faults="restcomm.list:status=503,count=1")
    async with h.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = h.app.screen
        assert isinstance(screen, MainScreen)
        kinds = [(e.kind, e.status) for e in screen.api_log]
        assert ("request", 503) in kinds and ("retry", 503) in kinds and ("request", 200) in kinds
        assert screen.states["restcomm"].status == "ok" and screen.table.row_count == 50




async def test_a_slow_provider_never_freezes_the_app_and_stale_pages_are_dropped(media_cache: Path) -> None:
    gates: dict[str, Gate] = {}

    def wrap(provider: Any) -> Any:
        if provider.id != "kazoo":
            return provider
        gates["kazoo"] = Gate(provider)
        return gates["kazoo"]

    h = build(media_cache, kinds=("kazoo", "restcomm"), wrap=wrap)
    async with h.app.run_test(size=SIZE, message_hook=[].append) as pilot:
        await pilot.pause()
        screen = h.app.screen
        assert isinstance(screen, MainScreen)
        assert screen.states["kazoo"].status == "loading"   # "All providers" waits for Kazoo…
        await pilot.press("question_mark")                  # … and the app still answers
        await pilot.pause()
        assert type(h.app.screen).__name__ == "HelpScreen"
        await pilot.press("escape", "2")                     # Restcomm, while Kazoo is still pending
        await settle(pilot)
        assert screen.view_id == "restcomm" and screen.table.row_count == 50
        assert screen.states["kazoo"].status == "idle"       # its request was superseded
        shown = [r.key for r in screen.table.rows_shown]
        # a late answer to an older request changes nothing
        stale = PageLoaded("restcomm", ListQuery(page_size=50), None, Page(), request_id=1)
        screen.post_message(stale)
        await pilot.pause()
        assert [r.key for r in screen.table.rows_shown] == shown
        gates["kazoo"].open.set()
        await pilot.press("1")
        await settle(pilot)
        assert screen.view_id == "kazoo" and screen.table.row_count == 50


class Exploding:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def list_recordings(self, query: ListQuery, cursor: Any = None) -> Page:
        raise RuntimeError("a bug, not a provider error")


async def test_an_unexpected_worker_error_is_a_notification_not_a_crash(media_cache: Path) -> None:
    h = build(media_cache, kinds=("webex",), wrap=Exploding)
    async with h.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert h.app.is_running and isinstance(h.app.screen, MainScreen)
        notes = list(h.app._notifications)
        assert any(n.title == "Unexpected error (page)" and "a bug, not a provider error" in n.message for n in notes)
        assert h.app.screen.status_bar.right_text == ""      # not stuck on "loading…"


async def test_only_misconfigured_providers_still_start_the_app(media_cache: Path) -> None:
    h = build(media_cache, kinds=(), extra={"broken": {"kind": "webex", "base_url": "ftp://nope"}})
    async with h.app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = h.app.screen
        assert isinstance(screen, MainScreen)
        assert screen.states["broken"].status == "config"
        assert "select one in the sidebar" in screen_text(h.app)


async def test_no_config_screen_explains_how_to_configure_and_the_demo(media_cache: Path) -> None:
    from rectui.app import make_app
    app = make_app(config_path=Path("config.toml"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, NoConfigScreen)
        text = screen_text(app)
        assert "rectui demo" in text and "config.toml" in text
        await pilot.press("q")
    assert app.return_code == 0
