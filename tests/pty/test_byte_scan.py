"""The terminal byte scan: no escape sequence from server text ever reaches the terminal.

`rectui demo --hostile` runs under a real pseudo-terminal against the emulator's hostile values,
where every escape (OSC 52 clipboard writes, OSC 8 links, OSC 0/2 titles, CSI 2J, DCS, APC, PM,
RIS, raw C1 CSI and OSC, NUL, DEL, a bidi override) carries a unique canary right after its
introducer (`rectui.emulator.dataset.HOSTILE_CANARIES`). The scan drives the app by keys through
every screen, then reads every byte the app wrote: a canary right after ESC or a C1 code means a
hostile sequence reached the terminal (Textual's own sequences are fine), and every canary that
should be drawn must show up as visible text (so the scan did see the data).

Keys are paced by what the app draws (a screen's own text, the detail pane's "Provider fields"),
never by fixed sleeps: deadlines only stop a stuck run, so a loaded machine makes it slower, not
flaky. `PTY_SCAN_TRACE=1` prints each step's time; `PTY_SCAN_DUMP=FILE` keeps every byte written.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rectui.emulator.dataset import HOSTILE_CANARIES, HOSTILE_ERRORS

from .conftest import LINUX, ROOT, app_env, control

NAMES = {"0": "All providers", "1": "Genesys Cloud", "2": "Kazoo", "3": "Restcomm", "4": "Webex", "5": "Screendesk"}
# Provider key -> how many rows to walk down its first page, where row 2k+1 (k < 20) is hostile
# with slot k: titles cycle with the slot; names (4: owner k, other k+1) show in the details of
# the rows with a safe id (odd slots: rows 3 and 7) in Genesys and Webex; notes (5) in
# Screendesk's (rows 1–9); Kazoo's server tags (4) in rows 1–7. Restcomm has no free text (its
# rows show the unsafe ids).
WALKS = {"1": 7, "2": 7, "3": 3, "4": 7, "5": 9}
TALL = (160, 110)            # for the walks: the detail pane holds every provider field
# The providers whose error bodies carry the server's message (Kazoo's in `data.message`, after
# the window halving gives up; a Restcomm 4xx has no body).
FAULTED = ("genesys", "webex", "screendesk", "kazoo")
# Canaries the scan need not see drawn, and why: none today (every hostile value of the demo's
# emulator is drawn somewhere; the error messages go to the providers that show them).
NOT_DRAWN: dict[str, str] = {}
ERROR_CANARIES = {c for c in HOSTILE_CANARIES if c.endswith("-ERROR")}

# The detail pane has the row's complete details (or says it will not fetch them).
DETAIL_READY = re.compile(r"Provider fields(?!  \(from the listing)|Details are not fetched for an unsafe id")
# A canary right after ESC (alone or with one introducer character: `[`, `]`, `P`, `_`, `^`, `c`…),
# or right after a C1 control, decoded (U+0080–U+009F) or as a stray byte (a surrogate escape).
GENERIC_LEAK = re.compile("(?:\x1b.?|[\x80-\x9f]|[\udc80-\udc9f])CANARY-", re.DOTALL)


@dataclass
class Scan:
    """What one run of the app wrote, and what the scan did to it."""

    raw: bytes = b""
    text: str = ""                 # every byte written, decoded (stray bytes kept as surrogates)
    visible: str = ""              # the same without control sequences: what a person reads
    small_visible: str = ""        # ... from the resize to 80×24 on
    small_from: int = 0
    exit_code: int = -1
    steps: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)    # when each step started (monotonic)
    offsets: list[int] = field(default_factory=list)    # how many bytes were written by then
    unreached: list[str] = field(default_factory=list)  # steps whose screen never drew its text
    faults_injected: bool = False
    walked_twice: bool = False                          # the first walks missed a canary
    seconds: float = 0.0


def leaks(text: str) -> list[str]:
    """Every place a canary follows its own raw escape prefix, or ESC, or a C1 control."""
    found = []
    for canary, prefix in HOSTILE_CANARIES.items():
        start = 0
        while (at := text.find(prefix + canary, start)) >= 0:
            found.append(f"{canary} after its raw prefix {prefix!r}: {text[max(0, at - 30):at + 40]!r}")
            start = at + 1
    for m in GENERIC_LEAK.finditer(text):
        found.append(f"canary after {m.group()[:-7]!r}: {text[max(0, m.start() - 30):m.end() + 30]!r}")
    return found


def timeline(scan: Scan, count: int = 6) -> str:
    """The slowest steps, for the printed summary."""
    ends = [*scan.times[1:], scan.times[-1]] if scan.times else []
    spans = sorted(((end - start, name) for start, end, name in zip(scan.times, ends, scan.steps, strict=True)),
                   reverse=True)
    return ", ".join(f"{name} {span:.1f}s" for span, name in spans[:count])


def first_seen(scan: Scan) -> dict[str, str]:
    """The step during which each canary was first written (as contiguous bytes)."""
    out = {}
    for canary in HOSTILE_CANARIES:
        if (at := scan.raw.find(canary.encode())) >= 0:
            out[canary] = scan.steps[max((n for n, off in enumerate(scan.offsets) if off <= at), default=0)]
    return out


class Driver:
    """The key script: each step named (so a failure says how far the app got) and paced by what
    the app draws."""

    def __init__(self, app: Any, scan: Scan) -> None:
        self.app, self.scan = app, scan

    def mark(self, name: str) -> None:
        if os.environ.get("PTY_SCAN_TRACE") and self.scan.times:
            print(f"{time.monotonic() - self.scan.times[-1]:6.2f}s  {self.scan.steps[-1]}", file=sys.stderr)
        self.scan.steps.append(name)
        self.scan.times.append(time.monotonic())
        self.scan.offsets.append(self.app.size())

    def step(self, name: str, *keys: str, quiet: float = 0.15, react: float = 1.0) -> None:
        """Press `keys`, each followed by a wait for the app to answer and settle."""
        self.mark(name)
        self.app.press(*keys, quiet=quiet, react=react)

    def expect(self, name: str, key: str, marker: str | re.Pattern[str], *, text: bool = False,
               deadline: float = 15.0, required: bool = True) -> bool:
        """Press `key` (or type it, with `text`), then wait until `marker` is drawn; a `required`
        screen that never draws it is reported."""
        self.mark(name)
        before = self.app.size()
        if text:
            self.app.type_text(key, quiet=0.05, react=0.3)
        else:
            self.app.press(key, settle=False)
        found = self.app.wait_for(marker, since=before, deadline=deadline)
        self.app.settle(0.1)
        if required and not found:
            self.scan.unreached.append(f"{name} (never drew {getattr(marker, 'pattern', marker)!r})")
        return found

    def view(self, key: str) -> None:
        """Show a provider's (or all providers') first page: its status bar names it. All
        providers through the palette's "provider:" command (its digit may serve the player)."""
        if key != "0":
            self.expect(f"view {key}", key, f"{NAMES[key]} · ")
            return
        self.expect("view 0 palette", "ctrl+p", "Search for commands")
        self.expect("view 0 command", "provider: All providers", "Show All providers", text=True)
        self.expect("view 0", "enter", "All providers · ")

    def walk_rows(self, rows: int, *, deadline: float = 10.0) -> None:
        """Down the table `rows` rows: on each hostile row (the odd ones of a first page) wait for
        its complete detail; the calm rows in between are passed without waiting."""
        self.mark(f"walk {rows} rows")
        for row in range(1, rows + 1):
            if row % 2:
                self.expect(f"row {row}", "down", DETAIL_READY, deadline=deadline, required=False)
            else:
                self.app.press("down", settle=False)

    def probe(self, key: str) -> None:
        """A key that may open a screen: if anything was drawn, close it again with escape."""
        self.mark(f"probe {key}")
        before = self.app.size()
        self.app.press(key, quiet=0.15, react=0.3)
        if self.app.size() > before:
            self.app.press("escape", quiet=0.15, react=0.3)

    def resize(self, cols: int, rows: int) -> None:
        self.mark(f"resize {cols}x{rows}")
        before = self.app.size()
        self.app.resize(cols, rows)
        self.app.wait_output(before, 2.0)
        self.app.settle(0.3)

    def seen(self) -> set[str]:
        """The canaries drawn so far."""
        visible = self.app.visible()
        return {c for c in HOSTILE_CANARIES if c in visible}


def walk_providers(d: Driver, *, deadline: float) -> None:
    """Each provider's first page: down its hostile rows (names, notes, tags and unsafe ids are in
    the detail pane), its raw view, and at the end a last row (the rest of the hostile titles)."""
    for key, rows in WALKS.items():
        d.view(key)
        d.walk_rows(rows, deadline=deadline)
        d.expect(f"view {key} raw", "v", "Raw document")
        d.step(f"view {key} readable", "v")
    d.step("last row", "end", quiet=0.3)
    d.step("first row", "home")


def browse_script(d: Driver) -> None:
    """The list and detail of every view, at 160×110 (the detail pane holds every field); if a
    canary is still missing (a detail that did not load in time on a loaded machine), the walks
    again with longer deadlines. Then back to 160×50."""
    d.walk_rows(1)                                  # the app opens on All providers
    d.expect("all providers raw", "v", "Raw document")
    d.step("all providers readable", "v")
    d.resize(*TALL)
    walk_providers(d, deadline=10)
    if set(HOSTILE_CANARIES) - ERROR_CANARIES - set(NOT_DRAWN) - d.seen():
        d.scan.walked_twice = True
        walk_providers(d, deadline=30)
    d.resize(160, 50)


def screens_script(d: Driver) -> None:
    """At 160×50, every other screen: paging, sort, filter, help, palette, the dialogs, and the
    errors log with hostile server messages."""
    # paging and sorting: Webex pages by cursor; Restcomm by number, sorted on the server
    d.view("4")
    d.expect("next page", "n", "Webex · 51–")
    d.expect("page right", "right", "Webex · 101–")
    d.expect("previous page", "p", "Webex · 51–")
    d.step("last row", "end")
    d.step("recycle bin", "b", quiet=0.3, react=0.5)
    d.step("recycle bin back", "b", quiet=0.3, react=0.5)
    d.view("3")
    d.step("sort", "s", "s", "S", quiet=0.2)
    d.view("5")
    d.step("sort by title", "s", "s", "s", quiet=0.2)
    # filter, help, palette
    d.view("0")
    d.expect("filter", "/", "filter the loaded rows")
    d.expect("filter text", "CANARY", "CANARY-", text=True)
    d.step("filter keep", "enter")
    d.step("filter clear", "escape")
    d.expect("help", "?", "Keys")
    d.step("help close", "escape")
    d.expect("palette", "ctrl+p", "Search for commands")
    d.expect("palette query", "CANARY", "CANARY-", text=True)
    d.step("palette close", "escape")
    # dialogs: delete a hostile row (Kazoo's, filtered to them), cancel; other dialogs if bound
    d.view("2")
    d.expect("kazoo filter", "/", "filter the loaded rows")
    d.expect("kazoo filter text", "CANARY", "CANARY-", text=True)
    d.step("kazoo filter keep", "enter")
    d.expect("delete dialog", "d", "Cancel")
    d.step("delete dialog cancel", "escape")
    d.step("kazoo filter clear", "escape")
    for key in ("R", "t", "f", ":"):                # results; tags, search, jump if they are bound
        d.probe(key)
    # errors: listings fail with hostile server messages; reload, read the errors log
    d.mark("inject errors")
    spec = ";".join(f"{kind}.list:status=400,message={HOSTILE_ERRORS[n % len(HOSTILE_ERRORS)]}"
                    for n, kind in enumerate(FAULTED))
    d.scan.faults_injected = control(d.app, "POST", spec)
    d.view("0")
    d.expect("errors reload", "r", "Bad response")
    d.app.settle(0.5)
    d.expect("errors log", "e", "Errors and recent API calls")
    d.step("errors log close", "escape")
    d.view("4")
    control(d.app, "DELETE")


def small_script(d: Driver) -> None:
    """The same app at 80×24: the narrow layout of the list, a hostile row's detail and raw view,
    help, palette, the errors log."""
    d.resize(80, 24)
    d.view("5")
    d.expect("small reload", "r", "Screendesk · 1–")          # the injected error is gone
    for row in (1, 2, 3):
        d.step(f"small row {row}", "down", quiet=0.3)
    d.expect("small raw", "v", "Raw document")
    d.step("small readable", "v")
    d.view("2")
    d.expect("small help", "?", "Keys")
    d.step("small help close", "escape")
    d.expect("small palette", "ctrl+p", "Search for commands")
    d.expect("small palette query", "CANARY", "CANARY-", text=True)
    d.step("small palette close", "escape")
    d.expect("small errors log", "e", "Errors and recent API calls")
    d.step("small errors log close", "escape")


def run_scan(pty_run: Callable[..., Any], tmp: Path) -> Scan:
    """`rectui demo --hostile` at 160×50 (walks at 160×110), then at 80×24, then `q`."""
    started = time.monotonic()
    home = tmp / "home"
    home.mkdir()
    app = pty_run([sys.executable, "-m", "rectui", "demo", "--hostile"], cols=160, rows=50,
                  env=app_env(home), cwd=ROOT)
    scan = Scan()
    try:
        assert app.wait_for("All providers · ", deadline=60), "the app never drew its first page"
        app.settle(0.3)
        driver = Driver(app, scan)
        browse_script(driver)
        screens_script(driver)
        scan.small_from = app.size()
        small_script(driver)
        driver.mark("quit")
        app.press("q", settle=False)
        scan.exit_code = app.finish(timeout=30)
    finally:
        app.kill()
        scan.raw = app.output()
        scan.text, scan.visible = app.text(), app.visible()
        scan.small_visible = app.visible(since=scan.small_from) if scan.small_from else ""
        scan.seconds = time.monotonic() - started
    return scan


@LINUX
@pytest.mark.slow
def test_byte_scan_every_screen_at_160x50_then_80x24(pty_run: Callable[..., Any], tmp_path: Path) -> None:
    scan = run_scan(pty_run, tmp_path)
    if dump := os.environ.get("PTY_SCAN_DUMP"):      # a file to keep what the app wrote, to look at
        Path(dump).write_bytes(scan.raw)
    seen = {c for c in HOSTILE_CANARIES if c in scan.visible}
    seen_small = {c for c in HOSTILE_CANARIES if c in scan.small_visible}
    missing = sorted(set(HOSTILE_CANARIES) - seen - set(NOT_DRAWN))
    print(f"\nbyte scan: {len(scan.raw):,} bytes in {scan.seconds:.1f} s"
          f"{' (walked twice)' if scan.walked_twice else ''}; {len(seen)}/{len(HOSTILE_CANARIES)} canaries drawn "
          f"({len(seen_small)} at 80x24); slowest steps: {timeline(scan)}")
    assert scan.exit_code == 0, f"exit {scan.exit_code} after {scan.steps[-3:]}; last drawn: {scan.visible[-1500:]!r}"
    assert "Traceback" not in scan.visible, scan.visible[scan.visible.find("Traceback"):][:2000]
    assert not leaks(scan.text), "\n".join(leaks(scan.text))
    assert scan.faults_injected, "the emulator's fault route was not reached: no hostile error messages"
    assert not scan.unreached, f"screens the scan did not reach: {scan.unreached}"
    assert not missing, f"never drawn: {missing}; first seen: {first_seen(scan)}"
    assert len(seen_small) >= 5, f"at 80x24 only {sorted(seen_small)} drawn: the small layout showed no hostile row"


def test_the_leak_check_tells_a_leak_from_inert_text_and_textual_own_sequences() -> None:
    canary = "CANARY-OSC52-TITLE"
    assert leaks(f"\x1b]52;c;{canary}\x07")                       # the raw escape, as the value holds it
    assert leaks(f"\x1b[{canary}") and leaks(f"\x9b{canary}")      # right after ESC + introducer, or C1
    assert leaks(b"\x9bCANARY-C1CSI-TITLE".decode("utf-8", "surrogateescape"))   # a stray 0x9b byte
    assert not leaks(f"\ufffd]52;c;{canary}\ufffdclipboard")        # cleaned: shown, inert
    assert not leaks(f"\x1b[1;38;5;231m\ufffd]52;c;\x1b[0m\x1b[7m{canary}")  # Textual's own SGR around it
    assert not leaks(f"\x1b[12;30H{canary}")                         # a cursor move to a wrapped line


@LINUX
@pytest.mark.slow
def test_the_scan_catches_an_app_that_does_not_clean(pty_run: Callable[..., Any], tmp_path: Path) -> None:
    """The positive control: the same capture and check flag a Textual app that shows the hostile
    titles without `clean()`."""
    app = pty_run([sys.executable, str(Path(__file__).with_name("leaky_app.py"))], cols=160, rows=50,
                  env=app_env(tmp_path), cwd=ROOT)
    assert app.wait_for("leaky app ready", deadline=60)
    app.settle(0.3)
    app.press("q", settle=False)
    assert app.finish(timeout=30) == 0
    found = " ".join(leaks(app.text()))
    print(f"\nleaky app: {sorted(set(re.findall(r'CANARY-[A-Z0-9]+-TITLE', found)))}")
    assert "CANARY-OSC52-TITLE" in found and "CANARY-OSC8-TITLE" in found and "CANARY-C1CSI-TITLE" in found, found
