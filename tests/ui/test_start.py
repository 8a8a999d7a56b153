"""The start of a session: the first page each provider showed last time appears at once, marked
as from the last run, until the provider answers; nothing destructive runs on those rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ui.harness import Gate, build, settle

from rectui.screens.main import MainScreen


async def _until(pilot: Any, check: Any, rounds: int = 200) -> bool:
    for _ in range(rounds):
        if check():
            return True
        await pilot.pause(0.01)
    return check()


async def test_rows_from_the_last_run_show_at_once_marked_stale_and_refuse_deletes(media_cache: Path,
                                                                                   tmp_path: Path) -> None:
    store = tmp_path / "rectui.db"
    first = build(media_cache, kinds=("restcomm",), store_path=store)
    async with first.app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await pilot.press("1")
        await settle(pilot)
        screen = first.app.screen
        assert isinstance(screen, MainScreen)
        shown = [r.key for r in screen.table.rows_shown]
    first.store.close()

    gates: list[Gate] = []

    def gate(provider: Any) -> Any:
        gates.append(Gate(provider))
        return gates[-1]

    second = build(media_cache, kinds=("restcomm",), store_path=store, wrap=gate)
    async with second.app.run_test(size=(160, 45)) as pilot:
        screen = second.app.screen
        assert isinstance(screen, MainScreen)
        await pilot.press("1")
        assert await _until(pilot, lambda: bool(screen.table.rows_shown))
        assert [r.key for r in screen.table.rows_shown] == shown          # before the provider answered
        assert "from the last run" in screen.status_bar.left_text
        await pilot.press("d")
        await pilot.pause()
        assert not isinstance(second.app.screen, type(None)) and isinstance(second.app.screen, MainScreen)
        assert any("last run" in n.message for n in second.app._notifications)
        gates[0].open.set()
        assert await _until(pilot, lambda: "from the last run" not in screen.status_bar.left_text)
        await settle(pilot)
        assert "1–50 of" in screen.status_bar.left_text


async def test_a_theme_chosen_in_the_app_is_remembered_for_the_next_start(media_cache: Path) -> None:
    first = build(media_cache, kinds=("restcomm",))
    async with first.app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert first.app.theme == "textual-dark"
        first.app.theme = "nord"                     # what the palette's "Change theme" does
        await pilot.pause()
        await first.app.workers.wait_for_complete()
    second = build(media_cache, kinds=("restcomm",))
    async with second.app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert second.app.theme == "nord"


async def test_all_providers_shows_what_arrived_and_a_late_provider_joins_when_it_answers(media_cache: Path) -> None:
    gates: list[Gate] = []

    def gate_kazoo(provider: Any) -> Any:
        if provider.id != "kazoo":
            return provider
        gates.append(Gate(provider))
        return gates[-1]

    h = build(media_cache, kinds=("kazoo", "restcomm"), wrap=gate_kazoo, merge_grace=0.05)
    async with h.app.run_test(size=(160, 45)) as pilot:
        screen = h.app.screen
        assert isinstance(screen, MainScreen)
        assert await _until(pilot, lambda: bool(screen.table.rows_shown))     # Kazoo has not answered
        assert {r.provider for r in screen.table.rows_shown} == {"restcomm"}
        assert "Kazoo" in screen.status_bar.left_text                         # the page names the late one
        assert screen.states["kazoo"].status != "ok"
        gates[0].open.set()
        assert await _until(pilot, lambda: "kazoo" in {r.provider for r in screen.table.rows_shown}, rounds=500)
        keys = [r.key for r in screen.table.rows_shown]
        assert len(keys) == len(set(keys))


async def test_the_crash_report_shows_no_locals_and_no_secret(media_cache: Path) -> None:
    from rectui.logs import register_secret

    canary = "CANARY-crash-7f3e2b9d1c"
    register_secret(canary)
    h = build(media_cache, kinds=("restcomm",))

    def explode() -> None:
        token = canary                      # a local a crash report with locals would print
        raise RuntimeError(f"bad answer for token={token}")

    h.app.action_explode = explode  # type: ignore[attr-defined]
    h.app._print_error_renderables = lambda: None  # type: ignore[method-assign]  # keep them to read
    try:
        async with h.app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.press("ctrl+p")        # any moment: run the failing action
            h.app.call_later(h.app.run_action, "explode")
            await pilot.pause(0.2)
    except RuntimeError:
        pass                                   # run_test re-raises the app's crash
    report = "".join(str(r) for r in h.app._exit_renderables)
    assert "RuntimeError" in report and "bad answer" in report
    assert canary not in report and "token =" not in report
