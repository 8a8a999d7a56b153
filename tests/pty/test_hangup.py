"""Plan rows 53 and 48 under a real pseudo-terminal: a hang-up in the middle of a bulk delete, and
the secret canary on every error path the keys can reach.

Row 53: `rectui demo` deletes a page of Restcomm recordings (permanent deletes) made slow by the
emulator's `latency` fault; once the status line says "Deleting …", the app gets SIGHUP (what a
terminal that goes away sends) and the pty is closed. The journal in the demo's store must hold
every item of the batch, each with an open intent or a settled outcome; the next start settles
every open entry. The demo's emulator lives inside the app's process, so it dies with it and the
next start serves fresh data: "reconciling" there proves that every intent is settled (queued ones
cancelled, pending ones read back), not what the first server did.

Row 48: `rectui --config FILE` with a unique canary as the secret of providers the app cannot
reach (a closed port), cannot log in to (the canary is the wrong secret) or whose server echoes
the canary in its errors; every key that shows errors is pressed; the canary must not appear in
any byte written to the terminal nor in any file under the XDG dirs. No way was found to make the
app crash from outside (odd keymaps, failing or unreachable providers, absurd terminal sizes), so
Textual's traceback screen, which shows each frame's locals, is never drawn here.

Keys are paced by what the app draws; deadlines only stop a stuck run.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rectui.app import DEMO_STORE
from rectui.config import write_config
from rectui.emulator.app import Emulator, EmulatorConfig
from rectui.emulator.server import EmulatorServer
from rectui.store import FINAL_OUTCOMES, OPEN_OUTCOMES

from .conftest import LINUX, ROOT, app_env, control

SIZE = (160, 50)


# -- row 53 ---------------------------------------------------------------------------------------

def journal_rows(db: Path) -> list[dict[str, Any]]:
    """Every journal entry of a store, read without writing (read-only SQLite, WAL included)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT id, batch, provider, recording_id, op, outcome, message "
                                              "FROM journal ORDER BY id")]
    finally:
        conn.close()


def wait_until(check: Callable[[], bool], deadline: float) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.1)
    return check()


def start_demo(pty_run: Callable[..., Any], home: Path) -> Any:
    app = pty_run([sys.executable, "-m", "rectui", "demo"], cols=SIZE[0], rows=SIZE[1], env=app_env(home), cwd=ROOT)
    assert app.wait_for("All providers · ", deadline=60), f"the demo never drew: {app.visible()[-800:]!r}"
    app.settle(0.3)
    return app


@LINUX
@pytest.mark.slow
def test_r53_hangup_mid_bulk_delete_next_start_settles_every_intent(
        pty_run: Callable[..., Any], tmp_xdg: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    db = tmp_xdg / "data" / "rectui" / DEMO_STORE
    app = start_demo(pty_run, home)
    # Restcomm deletes for good; the first two go through at once, every later one takes 5 s.
    assert control(app, "POST", "restcomm.delete:latency=5,after=2"), "the demo's emulator fault route was not reached"
    before = app.size()
    app.press("3", settle=False)
    assert app.wait_for("Restcomm · 1–", since=before, deadline=30), app.visible(before)[-800:]
    app.settle(0.3)
    app.press("*")
    before = app.size()
    app.press("d", settle=False)
    assert app.wait_for("to confirm", since=before, deadline=15), app.visible(before)[-800:]
    app.settle(0.2)
    shown = app.visible(before)
    count = int(shown[shown.index("Type ") + 5:].split(" ", 1)[0])
    assert count > 4, f"only {count} rows were marked"
    app.type_text(str(count))
    app.press("enter")                            # the right count moves focus to the delete button
    before = app.size()
    app.press("enter", settle=False)
    assert app.wait_for("Deleting 2/", since=before, deadline=30), app.visible(before)[-800:]
    assert db.exists()
    batch = [r for r in journal_rows(db) if r["op"] == "delete"]
    assert len(batch) == count, "the whole batch is journaled before anything is sent"

    # The hang-up: SIGHUP to the app's session (as the kernel sends it to a terminal's foreground
    # group), then the pty's master side goes (`finish` closes it once the reader saw the end).
    os.killpg(app.proc.pid, signal.SIGHUP)
    code = app.finish(timeout=20)
    assert code == -signal.SIGHUP, f"the app did not end on SIGHUP: exit {code}"

    rows = journal_rows(db)
    deleting = [r for r in rows if r["op"] == "delete"]
    assert {r["id"] for r in deleting} == {r["id"] for r in batch}, "journal entries were lost or added"
    assert all(r["outcome"] in OPEN_OUTCOMES | FINAL_OUTCOMES for r in deleting)
    settled = [r for r in deleting if r["outcome"] in FINAL_OUTCOMES]
    still_open = [r for r in deleting if r["outcome"] in OPEN_OUTCOMES]
    assert len(settled) >= 2, f"the two quick deletes were not settled: {deleting[:4]}"
    assert still_open, "nothing was left open: the hang-up came too late to test anything"
    assert any(r["outcome"] == "pending" for r in still_open), "no delete was in flight at the hang-up"

    # The next start settles every open entry (queued: cancelled; pending: read back).
    again = start_demo(pty_run, home)
    settled_all = wait_until(lambda: not [r for r in journal_rows(db) if r["outcome"] in OPEN_OUTCOMES], 30)
    before = again.size()
    again.press("q", settle=False)
    assert again.finish(timeout=30) == 0
    after = {r["id"]: r for r in journal_rows(db)}
    print(f"\nhang-up: {count} marked; at the hang-up {Counter(r['outcome'] for r in deleting)}; "
          f"after the next start {Counter(r['outcome'] for r in after.values())}")
    left = [r for r in after.values() if r["outcome"] in OPEN_OUTCOMES]
    assert settled_all and not left, f"still open after the next start: {left}"
    for row in settled:                                       # what was settled stays as it was
        assert after[row["id"]]["outcome"] == row["outcome"]
    for row in still_open:
        now = after[row["id"]]
        if row["outcome"] == "queued":
            assert now["outcome"] == "cancelled", now
        else:
            assert "checked after rectui stopped" in now["message"], now
    assert "Traceback" not in again.visible(before)


# -- row 48 ---------------------------------------------------------------------------------------

CANARY = uuid.uuid4().hex            # hex, so that it fits Kazoo's 64-hex API keys too
NAMES = {"genesys": "Genesys Cloud", "kazoo": "Kazoo", "restcomm": "Restcomm", "webex": "Webex",
         "screendesk": "Screendesk"}
# Each provider's accepted credential on the emulator, and its config field.
SECRETS = {"genesys": ("client_secret", "client_secret"), "kazoo": ("api_key", "api_key"),
           "restcomm": ("auth_token", "auth_token"), "webex": ("user_token", "access_token"),
           "screendesk": ("admin_token", "api_token")}
# Where the canary is a working credential (so rows load and the keys have something to act on);
# Genesys' is the wrong secret (its login fails), Webex's goes to a closed port.
ACCEPTED = ("kazoo", "restcomm", "screendesk")
# Server errors that echo the provider's secret, for listings, details, audio and deletes.
ECHOES = ("genesys.*:status=401,message=client secret {s} was rejected",
          "screendesk.list:status=501,message=internal error for token={s}")
LATER = ("kazoo.*:status=501,message=the key {s} may not do this",
         "restcomm.*:status=501,message=internal error for auth_token={s}")


def secret_of(kind: str) -> str:
    return CANARY + "0" * 32 if kind == "kazoo" else f"{CANARY}{kind}"


def echoing(rules: tuple[str, ...]) -> str:
    """A fault spec whose messages carry each provider's own secret."""
    return ";".join(rule.format(s=secret_of(rule.split(".", 1)[0])) for rule in rules)


def canary_hits(data: bytes) -> list[str]:
    """Where the canary (or a piece of it cut short: its first or last 12 characters) occurs."""
    out = []
    for piece in {CANARY, CANARY[:12], CANARY[-12:]}:
        at = data.find(piece.encode())
        if at >= 0:
            out.append(repr(data[max(0, at - 60):at + 60]))
    return out


@pytest.fixture
def served() -> Iterator[Emulator]:
    emu = Emulator(EmulatorConfig(count=60))
    server = EmulatorServer(emu, log_level="critical")
    server.start()
    yield emu
    server.stop()


def canary_config(emu: Emulator, path: Path, closed_port: int) -> None:
    providers = {}
    for kind, prov in emu.providers.items():
        attr, field = SECRETS[kind]
        entry = {**prov.config_entry(), field: secret_of(kind), "display_name": NAMES[kind]}
        if kind in ACCEPTED:
            setattr(prov, attr, secret_of(kind))
        if kind == "webex":
            entry["base_url"] = f"http://127.0.0.1:{closed_port}/v1"
        providers[kind] = entry
    write_config(path, {"providers": providers})


class Keys:
    """Pressing keys on the pty, each step named (a failure says how far it got)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.steps: list[str] = []

    def expect(self, key: str, marker: str, *, deadline: float = 15.0, text: bool = False) -> bool:
        self.steps.append(key)
        before = self.app.size()
        if text:
            self.app.type_text(key, quiet=0.05, react=0.3)
        else:
            self.app.press(key, settle=False)
        found = self.app.wait_for(marker, since=before, deadline=deadline)
        self.app.settle(0.15)
        return found

    def probe(self, *keys: str) -> None:
        """Keys that may or may not draw something (an action refused, a dialog): pressed, settled."""
        for key in keys:
            self.steps.append(key)
            self.app.press(key, quiet=0.15, react=0.5)


@LINUX
@pytest.mark.slow
def test_r48_canary_never_reaches_the_terminal_even_on_errors(
        pty_run: Callable[..., Any], served: Emulator, tmp_xdg: Path, tmp_path: Path, closed_port: int) -> None:
    emu = served
    home = tmp_path / "home"
    home.mkdir()
    config = tmp_xdg / "config" / "rectui" / "config.toml"
    canary_config(emu, config, closed_port)
    emu.faults.set(echoing(ECHOES))
    app = pty_run([sys.executable, "-m", "rectui", "--config", str(config), "--log-level", "debug"],
                  cols=SIZE[0], rows=SIZE[1], env=app_env(home), cwd=ROOT)
    keys = Keys(app)
    try:
        assert app.wait_for("Kazoo", deadline=60), f"the app never drew: {app.visible()[-800:]!r}"
        app.settle(0.5)
        # Listing errors: the errors log of every provider, then each provider's own view.
        assert keys.expect("e", "Errors and recent API calls"), keys.steps
        keys.probe("end", "escape")
        for key, name in (("1", "Genesys Cloud"), ("4", "Webex"), ("5", "Screendesk")):
            keys.expect(key, name)
            keys.probe("r", "enter", "d", "escape")
        # A working provider: its rows, raw view; then every call fails echoing the canary.
        for key, name in (("2", "Kazoo · 1–"), ("3", "Restcomm · 1–")):
            assert keys.expect(key, name, deadline=30), (keys.steps, app.visible()[-800:])
            keys.probe("down", "v", "v")
        emu.faults.set(echoing((*ECHOES, *LATER)))
        for key, name in (("2", "Kazoo"), ("3", "Restcomm")):
            keys.expect(key, name)
            keys.probe("down")                                  # the detail: a failing read
            keys.probe("enter")                                 # play: a failing audio fetch
            app.settle(0.5, at_least=1.0)
            keys.probe("y", "d", "y")                           # delete one: a failing delete, journaled
            app.settle(0.5, at_least=1.0)
            keys.probe("R", "escape", "r")
            app.settle(0.5, at_least=0.5)
        assert keys.expect("e", "Errors and recent API calls"), keys.steps
        keys.probe("end")
        for cols, rows in ((1, 1), (0, 0), (20, 3), SIZE):     # absurd sizes: no crash screen either
            before = app.size()
            app.resize(cols, rows)
            app.wait_output(before, 1.0)
            app.settle(0.2)
        keys.probe("escape", "q")
        code = app.finish(timeout=30)
    finally:
        app.kill()
    raw = app.output()
    files = [p for root in (tmp_xdg, home) for p in root.rglob("*") if p.is_file() and p != config]
    found_files = {str(p.relative_to(tmp_path)): canary_hits(p.read_bytes()) for p in files}
    print(f"\ncanary: {len(raw):,} bytes written to the terminal, {len(files)} files searched "
          f"({', '.join(sorted(p.name for p in files))}); keys: {' '.join(keys.steps)}")
    assert code == 0, f"exit {code}: {app.visible()[-1500:]!r}"
    assert "Traceback" not in app.visible()
    assert "CANARY" not in raw.decode("utf-8", "replace")          # the test's own word, for sanity
    assert emu.log.counts, "the emulator saw no request"
    assert not canary_hits(raw), canary_hits(raw)
    assert not canary_hits(app.visible().encode("utf-8", "surrogateescape"))
    assert not {k: v for k, v in found_files.items() if v}
    # The scan saw the errors: the echoed secrets drawn as "***", the failed deletes journaled.
    shown = " ".join(app.visible().split())
    assert "client secret *** was rejected" in shown and "token=*** try again" in shown, "no echoed error was drawn"
    deletes = {r["provider"] for r in journal_rows(tmp_xdg / "data" / "rectui" / "rectui.db") if r["op"] == "delete"}
    assert deletes == {"kazoo", "restcomm"}, deletes
    assert any(p.suffix == ".db" for p in files) and any(p.suffix == ".log" for p in files), found_files
