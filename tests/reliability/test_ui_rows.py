"""Plan rows kept on the screen (RELIABILITY.md §6: 1, 25, 27, 29, 48, 50, 51, 55), through the app
with Pilot over the in-process emulator (`ui.harness.build`). What was deleted or changed is read
from the emulator's request log, never from the app's internals; what the user sees is read from
the composed screen (`screen_text`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from textual.command import CommandPalette
from ui import harness
from ui.harness import Gate, Harness, build, deleted_ids, main, notes, open_provider, screen_text, settle

from rectui.app import build_providers
from rectui.models import ListQuery, Page
from rectui.screens.api_log import ApiLogScreen
from rectui.screens.confirm import ConfirmDialog
from rectui.screens.state import PAGE_CACHE
from rectui.screens.tag_editor import TagEditor
from rectui.widgets.recordings_table import row_key

SIZE = (160, 50)
CLICK = "[@click=app.quit]Click me[/]"


# -- row 1 -----------------------------------------------------------------------------------------



async def test_r01_a_slow_first_byte_shows_loading_and_keys_still_work(media_cache: Path) -> None:
    gates: list[Gate] = []

    def wrap(provider: Any) -> Any:
        if provider.id != "kazoo":
            return provider
        gates.append(Gate(provider))
        return gates[-1]

    h = build(media_cache, kinds=("kazoo", "restcomm"), wrap=wrap)
    async with h.app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("1")                          # Kazoo: its first page never comes yet
        await pilot.pause()
        screen = main(h)
        assert screen.view_id == "kazoo" and screen.states["kazoo"].status == "loading"
        assert "loading" in screen_text(h.app)
        await pilot.press("question_mark")              # the app answers meanwhile
        await pilot.pause()
        assert type(h.app.screen).__name__ == "HelpScreen"
        await pilot.press("escape", "2", "down", "down")  # Restcomm browses while Kazoo hangs
        await settle(pilot)
        assert screen.view_id == "restcomm" and screen.table.row_count == 50 and screen.table.cursor_row == 2
        gates[0].open.set()
        await pilot.press("1")
        await settle(pilot)
        assert screen.view_id == "kazoo" and screen.table.row_count == 50
        assert "loading" not in screen.status_bar.right_text


# -- row 25 ----------------------------------------------------------------------------------------

async def test_r25_a_hundred_thousand_recordings_put_only_the_current_page_in_the_table(media_cache: Path) -> None:
    h = build(media_cache, kinds=("restcomm",), count=100_000)
    async with h.app.run_test(size=SIZE) as pilot:
        screen = await open_provider(h, pilot)
        assert screen.view is not None and screen.view.page is not None
        assert screen.view.page.total == 100_000 and screen.view.page.page_count == 2000
        assert "of 100,000" in screen.status_bar.left_text and "page 1/2,000" in screen.status_bar.left_text
        for _ in range(6):
            await pilot.press("n")
            await settle(pilot)
            assert screen.table.row_count == len(screen.table.rows_shown) == 50
        assert screen.view.page_number == 7
        screen.go_to_page(2000)                          # the last page: still one page of rows
        await settle(pilot)
        assert screen.view.page_number == 2000 and screen.table.row_count == 50
        assert "99,951–100,000 of 100,000" in screen.status_bar.left_text
        assert len(screen._cache) <= PAGE_CACHE
        assert len(screen.loaded_recordings()) <= 50 * (PAGE_CACHE + 1)
        lists = [r for r in h.emu.log.for_route("restcomm", "list")]
        assert 0 < len(lists) <= 20 and all("PageSize=50" in r.query for r in lists)


# -- row 27 ----------------------------------------------------------------------------------------

async def click_every(pilot: Any, h: Harness, needle: str = CLICK, most: int = 3) -> int:
    """Click where the screen shows `needle` (on its "Click me", the text a link made from the
    markup would cover), at up to `most` places; the count."""
    clicks = 0
    for y, line in enumerate(screen_text(h.app).splitlines()):
        start = line.find(needle)
        if start != -1 and clicks < most:
            await pilot.click(offset=(cell_len(line[:start]) + needle.index("Click me") + 2, y))
            clicks += 1
    await pilot.pause()
    return clicks


async def test_r27_markup_titles_show_verbatim_everywhere_and_clicks_on_them_run_nothing(
        media_cache: Path, actions: list[str]) -> None:
    h = build(media_cache, kinds=("webex",), hostile=True, faults="webex.list:hostile_titles")
    async with h.app.run_test(size=SIZE) as pilot:
        screen = await open_provider(h, pilot)
        target = next(r for r in screen.table.rows_shown if r.title == CLICK and r.id_valid)
        screen.table.move_to(row_key(target))
        await settle(pilot)
        screen.detail.show(target, provider_name="Webex", caps=None, full=True)   # the listing's title
        await pilot.pause()
        text = screen_text(h.app)
        assert text.count(CLICK) >= 2 and "[/red]" in text and "Q&A [draft]" in text
        assert await click_every(pilot, h) >= 2            # the table cell and the detail pane
        screen.table.move_to(row_key(target))
        await pilot.press("d")                             # the confirm dialog names it
        await pilot.pause()
        assert isinstance(h.app.screen, ConfirmDialog) and CLICK in screen_text(h.app)
        await click_every(pilot, h)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("t")                             # the tag editor names it
        await settle(pilot)
        assert isinstance(h.app.screen, TagEditor)
        if CLICK in screen_text(h.app):
            await click_every(pilot, h)
        await pilot.press("escape")
        await settle(pilot)
        h.app.notify(target.title, title=target.title, markup=False)    # a toast quoting it
        await pilot.pause()
        await click_every(pilot, h)
        await pilot.press("ctrl+p", *"click")               # the palette lists it
        await settle(pilot)
        assert isinstance(h.app.screen, CommandPalette) and CLICK in screen_text(h.app)
        await click_every(pilot, h)
        await pilot.press("escape")
        await settle(pilot)
        assert h.app.is_running and h.writes("webex") == []
        assert "QUIT" not in actions and not [a for a in actions if "quit" in a.lower()]


# -- row 29 ----------------------------------------------------------------------------------------

ODD_TITLES = {
    "ZWJ": "ZWJ 👩\u200d👩\u200d👧\u200d👦 family call 🏳\ufe0f\u200d🌈",
    "CJK": "CJK 会議の録音：重要な顧客との通話、全角テキスト",
    "RTL": "RTL مكالمة مع العميل שיחה עם לקוח",
    "LONG": "LONG " + "ten kilobytes of title " * 440,
    "TABS": "TABS one\ttwo\nthree\r\nfour",
    "BIDI": "BIDI abc\u202edcba\u202c end",
}


class Retitled:
    """The provider, with its first rows' titles replaced by the odd ones."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def list_recordings(self, query: ListQuery, cursor: Any = None) -> Page:
        page = await self.inner.list_recordings(query, cursor)
        titles = list(ODD_TITLES.values())
        items = tuple(type(r).model_validate({**r.model_dump(), "title": titles[i]}) if i < len(titles) else r
                      for i, r in enumerate(page.items))
        return page.model_copy(update={"items": items})


async def test_r29_unicode_long_and_multiline_titles_are_one_aligned_cut_line_per_row(media_cache: Path) -> None:
    assert len(ODD_TITLES["LONG"]) > 10_000
    h = build(media_cache, kinds=("kazoo",), wrap=Retitled)
    async with h.app.run_test(size=SIZE) as pilot:
        await open_provider(h, pilot)
        lines = screen_text(h.app).splitlines()
        assert all(cell_len(line) == SIZE[0] for line in lines)          # every line exactly fills the screen
        where = {}
        for marker in ODD_TITLES:
            found = [y for y, line in enumerate(lines) if f" {marker} " in line and "│" not in line[:2]]
            assert found, marker
            where[marker] = found[0]
        rows = [where[m] for m in ODD_TITLES]
        assert rows == list(range(rows[0], rows[0] + len(ODD_TITLES)))   # one line per row, in order
        assert "…" in lines[where["LONG"]] and "ten kilobytes" in lines[where["LONG"]]
        assert "one" in lines[where["TABS"]] and "two" in lines[where["TABS"]]
        assert "\t" not in "".join(lines) and "\u202e" not in "".join(lines) and "\u202c" not in "".join(lines)
        assert "会議の録音" in lines[where["CJK"]] and "مكالمة" in lines[where["RTL"]]
        assert "\u200d" in lines[where["ZWJ"]] or "👩" in lines[where["ZWJ"]]
        # the columns after the title line up on every row, whatever the title's script
        table_lines = [lines[y] for y in rows] + [lines[rows[-1] + 1]]
        columns = {cell_len(line[:line.rfind("│") if "│" in line else len(line)]) for line in table_lines}
        assert len(columns) == 1


# -- rows 50, 51 -----------------------------------------------------------------------------------

async def test_r50_a_refresh_under_the_confirm_dialog_deletes_only_the_captured_id(media_cache: Path) -> None:
    h = build(media_cache, kinds=("kazoo",))
    async with h.app.run_test(size=SIZE) as pilot:
        screen = await open_provider(h, pilot)
        captured = screen.table.current()
        assert captured is not None
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(h.app.screen, ConfirmDialog)
        h.emu.faults.add("kazoo.list:schema_drift=unknown")    # the listing changes under the dialog
        screen.action_refresh()
        await settle(pilot)
        screen.table.move_cursor(row=7)                      # and the cursor is elsewhere
        await pilot.pause()
        assert screen.table.current() != captured and isinstance(h.app.screen, ConfirmDialog)
        await pilot.press("y")
        await settle(pilot)
        assert deleted_ids(h, "kazoo") == [captured.id]
        assert h.store is not None
        assert [e.recording_id for e in h.store.journal(limit=10) if e.op == "delete"] == [captured.id]


async def test_r51_rows_deleted_from_genesys_stay_hidden_while_the_server_still_lists_them(
        media_cache: Path) -> None:
    """Genesys deletes asynchronously: its listing keeps the deleted rows a while (here 15 min of
    the emulator's clock, longer than the adapter's own 5-minute hiding)."""
    h = build(media_cache, kinds=("genesys",), count=120, faults="genesys.delete:delete_async_ghost=900")
    async with h.app.run_test(size=SIZE) as pilot:
        screen = await open_provider(h, pilot)
        await pilot.press("space", "space", "space", "d")
        await pilot.pause()
        assert isinstance(h.app.screen, ConfirmDialog)
        marked = [t.id for t in h.app.screen.plan.targets]
        await pilot.press("3", "enter")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert len(marked) == 3 and sorted(deleted_ids(h, "genesys")) == sorted(marked)
        deleted_at = h.clock()
        for advance in (0, 0, 400, 600):                 # refreshes; the adapter's hiding lapses at 300 s
            h.clock.advance(advance)
            still_listed = set(marked) <= set(h.emu["genesys"].listed_ids())
            assert still_listed == (h.clock() < deleted_at + 900)
            await pilot.press("r")
            await settle(pilot)
            assert not set(marked) & {r.id for r in screen.table.rows_shown}, f"shown again after +{advance} s"
            assert screen.table.row_count >= 47
        assert len(h.writes("genesys", "delete")) == 3


# -- row 55 ----------------------------------------------------------------------------------------

async def test_r55_read_only_disables_delete_tag_and_rename_and_sends_nothing(media_cache: Path) -> None:
    h = build(media_cache, kinds=("kazoo", "genesys", "webex"), read_only=True)
    async with h.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for key in ("1", "2", "3"):
            await pilot.press(key)
            await settle(pilot)
            screen = main(h)
            for action in ("delete", "tag", "rename"):
                assert screen.check_action(action, ()) in (None, False), (screen.view_id, action)
            await pilot.press("space", "d")
            await settle(pilot)
            await pilot.press("t")
            await settle(pilot)
            await pilot.press("E")
            await settle(pilot)
            assert h.app.screen is screen, type(h.app.screen).__name__
            screen.table.clear_marks()
        assert "read-only" in notes(h)
        for kind in ("kazoo", "genesys", "webex"):
            assert h.writes(kind) == [], kind
        assert h.store is not None and h.store.journal(limit=10) == []
        assert not list(h.store.tagged())


# -- row 48 (the UI part) --------------------------------------------------------------------------

CANARY = uuid.uuid4().hex
SECRETS = {"genesys": ("client_secret", "client_secret"), "kazoo": ("api_key", "api_key"),
           "restcomm": ("auth_token", "auth_token"), "webex": ("user_token", "access_token"),
           "screendesk": ("admin_token", "api_token")}


def secret_of(kind: str) -> str:
    return CANARY + "0" * 32 if kind == "kazoo" else f"{CANARY}{kind}"


@pytest.fixture
def canaried(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`build` with the canary as every provider's credential (the emulator accepts it)."""

    def providers(emu: Any, *, relay: Any = None, **kw: Any) -> tuple[list[Any], dict[str, Any]]:
        entries = {}
        for kind, prov in emu.providers.items():
            attr, field = SECRETS[kind]
            if kind == "webex":
                prov.tokens[secret_of(kind)] = prov.tokens.pop(prov.user_token)
            setattr(prov, attr, secret_of(kind))
            entries[kind] = {**prov.config_entry(), field: secret_of(kind), "display_name": kind.title()}
        return build_providers(entries, relay=relay, **kw)

    monkeypatch.setattr(harness, "demo_providers", providers)
    yield


def leaked_files(root: Path, log: Path) -> list[str]:
    """The files under the XDG dirs (the log and the store among them) holding the canary."""
    files = [p for p in root.rglob("*") if p.is_file()]
    assert log in files and any(p.suffix == ".db" for p in files)
    return [str(p) for p in files if leaks(p.read_bytes())]


def leaks(blob: str | bytes) -> bool:
    data = blob.encode("utf-8", "surrogatepass") if isinstance(blob, str) else blob
    return CANARY.encode() in data


async def test_r48_the_canary_never_reaches_the_screen_notifications_logs_or_store(
        media_cache: Path, canaried: None, tmp_xdg: Path) -> None:
    from rectui.logs import setup_logging
    log = setup_logging("DEBUG")
    h = build(media_cache, kinds=tuple(SECRETS), count=30)
    seen: list[str] = []

    def capture() -> None:
        seen.append(screen_text(h.app))
        seen.extend(f"{n.title}\n{n.message}" for n in h.app._notifications)

    async with h.app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert h.emu["restcomm"].auth_token == secret_of("restcomm")       # the canary is the credential…
        assert {s.status for s in main(h).states.values()} <= {"ok", "idle"}   # …and it works
        capture()
        faults = [
            "*.*:status=401,message=the token {secret} is not valid",
            "*.*:status=501,message=internal error for auth_token={secret}",
            "*.*:malformed_json=garbage",
            "*.*:content_type",
        ]
        for i, fault in enumerate(faults):
            h.emu.faults.set(";".join(f"{k}." + fault.format(secret=secret_of(k))[2:] for k in SECRETS))
            await pilot.press(str(i % 5 + 1), "r")
            await settle(pilot)
            capture()
            await pilot.press("d")                       # actions on failing providers are refused
            await settle(pilot)
            capture()
            await pilot.press("escape", "e")             # the API log: each provider's error and calls
            await settle(pilot)
            assert isinstance(h.app.screen, ApiLogScreen)
            capture()
            await pilot.press("escape", "v")             # the raw document
            await settle(pilot)
            capture()
        h.emu.faults.clear()
        await pilot.press("0", "r")
        await settle(pilot)
        capture()
    assert any("401" in s or "not valid" in s or "***" in s for s in seen)
    assert not [s for s in seen if leaks(s)]
    assert leaked_files(tmp_xdg, log) == []
