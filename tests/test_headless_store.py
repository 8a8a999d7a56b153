"""`rectui export`, `rectui journal` and `rectui tag` against the emulator on loopback sockets,
configured as `rectui emulate --write-config` would; export streaming 100k rows in bounded memory;
a full disk under `--out`."""

from __future__ import annotations

import argparse
import asyncio
import csv
import errno
import io
import json
import os
import sqlite3
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter
from support import ANCHOR

from rectui.cli import emulator_config
from rectui.config import ProviderSettings, write_config
from rectui.emulator.app import Emulator, EmulatorConfig
from rectui.emulator.server import EmulatorServer
from rectui.errors import ConfigError
from rectui.headless import EXPORT_FIELDS, ExportWriter, _csv_cell, add_store_commands, export_rows, run_store_command
from rectui.models import Recording
from rectui.providers import build_provider
from rectui.store import Store, listing_key


def leftovers(folder: Path) -> list[str]:
    """Temporary files an export left behind."""
    return [p.name for p in folder.iterdir() if p.name.endswith(".part")]


def reaped_pid() -> int:
    """The pid of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rectui")
    parser.add_argument("--read-only", action="store_true")
    add_store_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


async def run(*argv: str) -> int:
    return await run_store_command(parse(*argv))


@pytest.fixture
def emulated(tmp_path: Path, media_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    emu = Emulator(EmulatorConfig(providers=("kazoo", "restcomm"), count=120, anchor=ANCHOR,
                                  media_cache_dir=media_cache))
    server = EmulatorServer(emu)
    server.start()
    config = tmp_path / "rectui.toml"
    write_config(config, emulator_config(emu))
    monkeypatch.setenv("RECTUI_CONFIG", str(config))
    try:
        yield emu
    finally:
        server.stop()


async def test_export_streams_every_recording_with_server_and_local_tags(emulated: Emulator, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    rc_id = emulated["restcomm"].listed_ids()[5]
    kz_id = emulated["kazoo"].listed_ids()[3]
    assert await run("tag", "restcomm", rc_id, "--add", "vip", "--add", "=cmd|' /C calc'!A0") == 0
    assert await run("tag", "kazoo", kz_id, "--add", "follow-up") == 0
    assert "follow-up · on kazoo" in capsys.readouterr().out

    out = tmp_path / "export.csv"
    assert await run("export", "restcomm", "--out", str(out)) == 0
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == EXPORT_FIELDS and len(rows) == 1 + len(emulated["restcomm"].listed_ids())
    tagged = next(r for r in rows if r[1] == rc_id)
    assert tagged[-1] == "'=cmd|' /C calc'!A0;vip"                 # a spreadsheet will not run it
    assert out.stat().st_mode & 0o777 == 0o600 and leftovers(tmp_path) == []

    buffer = io.StringIO()
    assert await run_store_command_to(buffer, "export", "kazoo", "--format", "jsonl") == 0
    kazoo_rows = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert len(kazoo_rows) >= 100 and kz_id in {d["id"] for d in kazoo_rows}

    buffer = io.StringIO()
    assert await run_store_command_to(buffer, "export", "all", "--format", "json") == 0
    data = json.loads(buffer.getvalue())
    total = len(rows) - 1 + len(kazoo_rows)
    assert len(data) == total and list(data[0]) == list(EXPORT_FIELDS)
    kz = next(d for d in data if d["id"] == kz_id)
    assert "follow-up" in kz["server_tags"] and kz["local_tags"] == []
    assert f"{total} recording(s)" in capsys.readouterr().err


async def run_store_command_to(out: io.StringIO, *argv: str) -> int:
    from rectui.headless import cmd_export
    return await cmd_export(parse(*argv), out)


async def test_export_from_the_cache_asks_no_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      closed_port: int) -> None:
    # The provider is configured on a closed port: any request would fail the export.
    config = tmp_path / "offline.toml"
    write_config(config, {"providers": {"sales": {"kind": "restcomm", "account_sid": "AC1",
                                                  "base_url": f"http://127.0.0.1:{closed_port}/restcomm/2012-04-24",
                                                  "auth_token": "secret-token-1"}}})
    monkeypatch.setenv("RECTUI_CONFIG", str(config))
    store = Store()
    rows = [Recording(provider="sales", id=f"RE{i:032d}", title=f"Call {i}") for i in range(30)]
    store.cache_listing("sales", listing_key(), [rows[:20], rows[20:]])
    store.change_local_tags("sales", rows[2].id, add=["kept"])
    store.close()
    buffer = io.StringIO()
    assert await run_store_command_to(buffer, "export", "sales", "--cached", "--format", "jsonl") == 0
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert [d["id"] for d in lines] == [r.id for r in rows] and lines[2]["local_tags"] == ["kept"]


def _page(n: int) -> list[Recording]:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    return [Recording.model_construct(provider="kz", id=f"r{i}", id_valid=True, title=f"Call {i} «with» someone",
                                      start=base + timedelta(seconds=i), duration=12.5, caller="+15555550100",
                                      callee="alice", owner="alice@example.com", direction="inbound",
                                      status="available", call_id=f"c{i}", tags=frozenset({"qa"}), size=1000,
                                      has_media=True, media_note=None, viewer_url=None, details={}, raw={})
            for i in range(n)]


class _Sink(io.TextIOBase):
    """Counts what is written and keeps none of it."""

    def __init__(self) -> None:
        self.chars = 0
        self.lines = 0

    def write(self, s: str) -> int:
        self.chars += len(s)
        self.lines += s.count("\n")
        return len(s)


def test_export_of_100k_rows_streams_in_bounded_memory() -> None:
    page = _page(1000)                      # one page object, handed out 100 times: nothing else holds rows
    sink = _Sink()
    tracemalloc.start()
    try:
        writer = ExportWriter(sink, "csv")
        written = asyncio.run(export_rows((page for _ in range(100)), writer, None, "kz"))
        writer.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert written == 100_000 and sink.lines == 100_001
    assert peak < 4_000_000 < sink.chars                     # far below the 13 MB written


async def test_export_to_a_full_disk_keeps_nothing(emulated: Emulator, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    real_fdopen = os.fdopen

    class Full(io.TextIOWrapper):
        def write(self, s: str) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def fdopen(fd: int, mode: str = "r", *a: Any, **k: Any) -> Any:
        if "w" in mode and "b" not in mode:
            return Full(real_fdopen(fd, "wb"), encoding="utf-8", newline="")
        return real_fdopen(fd, mode, *a, **k)

    monkeypatch.setattr(os, "fdopen", fdopen)
    out = tmp_path / "export.csv"
    assert await run("export", "restcomm", "--out", str(out)) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert not out.exists() and leftovers(tmp_path) == []


def test_csv_cells_that_a_spreadsheet_would_run_are_defused() -> None:
    assert [_csv_cell(v) for v in ("=1+2", "@SUM(A1)", "+1 (555) 010-0100", "-12.5", "-2+3+cmd|' /C calc'!A0",
                                   "\tx", "plain", "", "+cmd")] == \
        ["'=1+2", "'@SUM(A1)", "+1 (555) 010-0100", "-12.5", "'-2+3+cmd|' /C calc'!A0", "'\tx", "plain", "",
         "'+cmd"]


# -- journal ---------------------------------------------------------------------------------------

async def test_journal_lists_filters_and_reconciles(emulated: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    gone, there = emulated["kazoo"].listed_ids()[:2]
    store = Store()
    done = store.begin_batch("delete", "kazoo", [("D1", "Done \x1b[31mred")])
    store.mark_pending(done[0])
    store.finish(done[0], "deleted", "deleted")
    open_ids = store.begin_batch("delete", "kazoo", [(gone, "will be gone"), (there, "still there")])
    for eid in open_ids:
        store.mark_pending(eid)
    path = store.path
    store.close()
    with sqlite3.connect(path) as conn:            # as if written by a rectui that was killed
        conn.execute("UPDATE journal SET owner_session = 'gone', owner_pid = ?", (reaped_pid(),))
    await _delete_out_of_band(emulated, gone)

    assert await run("journal", "--pending") == 0
    out = capsys.readouterr().out
    assert "will be gone" in out and "still there" in out and "Done" not in out
    assert await run("journal", "--json") == 0
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["outcome"] for e in entries] == ["pending", "pending", "deleted"]
    assert entries[-1]["title"] == "Done \ufffd[31mred"

    assert await run("journal", "--reconcile", "--limit", "0") == 0
    out = capsys.readouterr().out
    assert f"reconciled: kazoo delete {gone}: deleted-confirmed-by-404" in out
    assert f"reconciled: kazoo delete {there}: failed" in out
    assert await run("journal", "--pending") == 0
    assert "will be gone" not in capsys.readouterr().out


async def _delete_out_of_band(emu: Emulator, rid: str) -> None:
    provider = build_provider("kazoo", TypeAdapter(ProviderSettings).validate_python(emu["kazoo"].config_entry()),
                              transport=emu.transport())
    try:
        await provider.delete_recording(rid)
    finally:
        await provider.aclose()


# -- tag -------------------------------------------------------------------------------------------

async def test_tag_command_server_local_read_only_and_refusals(emulated: Emulator,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    kz_id = emulated["kazoo"].listed_ids()[0]
    rc_id = emulated["restcomm"].listed_ids()[0]
    assert await run("tag", "restcomm", rc_id, "--add", "a", "--add", "b") == 0
    assert await run("tag", "restcomm", rc_id, "--remove", "a") == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"restcomm {rc_id}: b · local tags"
    assert await run("tag", "restcomm", rc_id) == 0
    assert "local: b" in capsys.readouterr().out

    before = len(emulated.log.records)
    assert await run("--read-only", "tag", "kazoo", kz_id, "--add", "x") == 1
    assert "read-only" in capsys.readouterr().err and len(emulated.log.records) == before
    assert await run("tag", "kazoo", "../../accounts/other", "--add", "x") == 2
    assert len(emulated.log.records) == before
    with pytest.raises(ConfigError, match="no provider named"):
        await run("tag", "nowhere", "x", "--add", "y")
    with pytest.raises(ConfigError, match="one provider"):
        await run("tag", "all", "x", "--add", "y")
    assert await run("tag", "kazoo", kz_id, "--add", "x") == 0
    store = Store()
    assert [(e.op, e.outcome) for e in store.journal(limit=None)] == [("tag", "done")] * 3
    store.close()
