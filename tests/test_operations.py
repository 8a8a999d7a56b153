"""The operations layer against the in-process emulator with its faults on: per-provider queues
under rate limits, 5xx, 403, 401 and 429; the journal they write; tags local, on the server and
falling back; downloads; and a bulk delete killed with SIGKILL, then reconciled by a new store.

Time is virtual: one clock for the queue, the adapter and the emulator, advanced by their sleeps."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from providers import conftest as _adapter_fixtures
from pydantic import TypeAdapter
from support import ANCHOR

from rectui.config import ProviderSettings
from rectui.emulator.app import Emulator, EmulatorConfig
from rectui.emulator.server import EmulatorServer
from rectui.errors import PermissionDenied, Unsupported
from rectui.mediafiles import sniff_file
from rectui.operations import (
    ItemResult,
    Operations,
    ProviderQueue,
    QueueEvent,
    RateLimiter,
    Target,
    download_name,
)
from rectui.providers import adapter_class, build_provider
from rectui.store import Reconciled, Store, StoreError

make_setup = _adapter_fixtures.make_setup      # the adapter tests' emulator + adapter fixture
Setup = _adapter_fixtures.Setup


def virtual(s: Setup) -> Callable[[float], Awaitable[None]]:
    """One virtual clock: the queue's, the adapter's (`s.mono`) and the emulator's (`s.wall`)."""

    async def sleep(seconds: float) -> None:
        s.mono.slept.append(seconds)
        s.mono.now += seconds
        s.wall.advance(seconds)
        await asyncio.sleep(0)

    s.provider.http.sleep = sleep
    return sleep


def operations(s: Setup, store: Store | None, **kw: Any) -> tuple[Operations, list[QueueEvent]]:
    events: list[QueueEvent] = []
    sleep = virtual(s)
    on_event = kw.pop("on_event", events.append)
    ops = Operations([s.provider], store, on_event=on_event, clock=s.mono, sleep=sleep, wall=s.wall, **kw)
    return ops, events


def sent(s: Setup, method: str = "DELETE") -> list[tuple[str, int]]:
    """(recording id, status) of every `method` request the emulator received."""
    out = []
    for r in s.emu.log.records:
        if r.method == method:
            last = unquote(r.path.rsplit("/", 1)[-1])
            out.append((last.removesuffix(".json"), r.status))
    return out


def ktargets(ids: list[str], provider: str = "kazoo") -> list[Target]:
    return [Target(provider, i, f"call {n}") for n, i in enumerate(ids)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    st = Store(tmp_path / "store.db")
    yield st
    st.close()


# -- the bulk queue -----------------------------------------------------------------------------------

async def test_bulk_delete_under_a_rate_limit_and_5xx_accounts_for_every_id_once(make_setup, store: Store) -> None:
    s = make_setup("kazoo", count=80, settings={"rate_limit": 10},
                   faults="kazoo.*:rate_limit=10;kazoo.delete:status=500,every=4;"
                          "kazoo.delete:delete_apply_then_fail,every=7")
    ops, events = operations(s, store)
    ids = s.prov_emu.listed_ids()[:60]
    s.emu.log.clear()
    start = s.mono.now
    batch = await ops.delete([*ktargets(ids), Target("kazoo", ids[0], "again")])   # a duplicate in the list

    assert [r.target.id for r in batch.results] == ids                 # one result per confirmed id
    assert {r.outcome for r in batch.results} <= {"deleted", "deleted-confirmed-by-404", "failed"}
    assert any(r.outcome == "deleted-confirmed-by-404" for r in batch.results)
    gone = set(ids) - set(s.prov_emu.listed_ids())
    assert gone == {r.target.id for r in batch.results if r.outcome.startswith("deleted")}
    deletes = sent(s)
    assert {rid for rid, _ in deletes} <= set(ids)                     # nothing outside the confirmed list
    assert max(Counter(rid for rid, st in deletes if st < 300).values()) == 1      # never deleted twice
    statuses = [r.status for r in s.emu.log.records]
    assert 429 not in statuses and statuses.count(500) >= 15           # the faults fired; the rate held
    queue = ops.queues["kazoo"]
    assert queue.requests == len(s.emu.log.records)                    # every request passed the bucket
    elapsed, floor = s.mono.now - start, queue.requests / 10
    assert floor - 0.1 <= elapsed <= 1.1 * floor
    journal = {e.recording_id: e for e in store.journal(limit=None)}
    assert set(journal) == set(ids)
    assert all(journal[r.target.id].outcome == r.outcome for r in batch.results)
    assert [e.target.id for e in events if e.kind == "item"] != [] and \
        sorted(e.target.id for e in events if e.kind == "item") == sorted(ids)
    assert events[-1].kind == "finished" and events[-1].message == batch.summary.text()


async def test_row_52_a_500_every_try_fails_one_item_and_a_403_denies_another(make_setup, store: Store) -> None:
    s = make_setup("kazoo", count=40,
                   faults="kazoo.delete:status=500,after=6,count=2;kazoo.delete:forbid,after=9,count=1")
    ops, _ = operations(s, store, concurrency={"kazoo": 1})
    ids = s.prov_emu.listed_ids()[:12]
    batch = await ops.delete(ktargets(ids))
    outcomes = [r.outcome for r in batch.results]
    assert outcomes[6] == "failed" and outcomes[8] == "denied"
    assert batch.summary.text() == "10 deleted · 1 failed · 1 denied"
    assert ids[6] in s.prov_emu.listed_ids() and ids[8] in s.prov_emu.listed_ids()
    assert Counter(e.outcome for e in store.journal(limit=None)) == {"deleted": 10, "failed": 1, "denied": 1}


async def test_row_49_an_item_already_deleted_is_journaled_already_gone(make_setup, store: Store) -> None:
    s = make_setup("kazoo", count=20)
    ops, _ = operations(s, store)
    target = ktargets(s.prov_emu.listed_ids()[:1])
    await s.provider.delete_recording(target[0].id)                    # out of band
    batch = await ops.delete(target)
    assert batch.summary.text() == "1 already gone" and batch.results[0].ok
    assert store.journal()[0].outcome == "already-gone"


async def test_a_401_pauses_the_queue_until_resumed_and_says_so(make_setup, store: Store) -> None:
    s = make_setup("kazoo", count=30, faults="kazoo.delete:status=401,after=3,count=2")
    paused = asyncio.Event()
    events: list[QueueEvent] = []

    def on_event(e: QueueEvent) -> None:
        events.append(e)
        if e.kind == "paused":
            paused.set()

    ops, _ = operations(s, store, concurrency={"kazoo": 1}, on_event=on_event)
    ids = s.prov_emu.listed_ids()[:8]
    task = asyncio.ensure_future(ops.delete(ktargets(ids)))
    await paused.wait()
    before = len(sent(s))
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(sent(s)) == before == 5                 # 3 deleted, then 401 and 401 after logging in again
    msg = next(e.message for e in events if e.kind == "paused")
    assert "authentication failed (401)" in msg and "5 item(s) waiting" in msg
    assert store.entry(store.journal(limit=None)[-4].id).outcome == "pending"      # the 4th stays an intent
    ops.resume("kazoo")
    batch = await task
    assert [r.outcome for r in batch.results] == ["deleted"] * 8
    assert any(e.kind == "resumed" for e in events)
    assert max(e.attempts for e in store.journal(limit=None)) == 2


async def test_a_429_lowers_the_rate_below_the_configured_one(make_setup, store: Store) -> None:
    s = make_setup("kazoo", count=40, settings={"rate_limit": 20}, faults="kazoo.*:rate_limit=4")
    ops, events = operations(s, store)
    ids = s.prov_emu.listed_ids()[:24]
    batch = await ops.delete(ktargets(ids))
    assert {r.outcome for r in batch.results} == {"deleted"}
    throttled = [e.message for e in events if e.kind == "throttled"]
    assert throttled and "slowing to" in throttled[0]
    statuses = [r.status for r in s.emu.log.records]
    assert 0 < statuses.count(429) < len(ids)            # feedback, not a storm
    assert max(Counter(rid for rid, st in sent(s) if st < 300).values()) == 1


async def test_retry_after_holds_every_request_of_the_queue(make_setup, store: Store) -> None:
    s = make_setup("webex", count=30, faults="webex.soft_delete:status=429,retry_after=7,after=2,count=1")
    ops, events = operations(s, store, concurrency={"webex": 1})
    ids = s.prov_emu.listed_ids()[:5]
    batch = await ops.delete(ktargets(ids, "webex"))
    assert batch.summary.text() == "5 deleted"
    assert any("holding for 7 s" in e.message for e in events if e.kind == "throttled")
    assert 7.0 in s.mono.slept
    assert ops.queues["webex"].limiter.rate < ops.queues["webex"].limiter.cap


async def test_repeated_429s_pause_the_queue_with_requests_bounded(make_setup, store: Store) -> None:
    s = make_setup("kazoo", count=30, faults="kazoo.delete:status=429")
    paused = asyncio.Event()
    ops, _ = operations(s, store, concurrency={"kazoo": 1},
                        on_event=lambda e: paused.set() if e.kind == "paused" else None)
    task = asyncio.ensure_future(ops.delete(ktargets(s.prov_emu.listed_ids()[:10])))
    await paused.wait()
    ops.cancel()
    batch = await task
    assert {r.outcome for r in batch.results} == {"cancelled"}
    assert len(sent(s)) <= 3 * 3                         # 3 items in a row, 3 tries each, then the pause
    assert all(e.outcome == "cancelled" for e in store.journal(limit=None))


async def test_cancel_between_items(make_setup, store: Store) -> None:
    s = make_setup("kazoo", count=30)
    done: list[ItemResult] = []
    ops: Operations

    def on_event(e: QueueEvent) -> None:
        if e.kind == "item" and e.result is not None:
            done.append(e.result)
            if len(done) == 3:
                ops.cancel()

    ops, _ = operations(s, store, concurrency={"kazoo": 1}, on_event=on_event)
    ids = s.prov_emu.listed_ids()[:10]
    batch = await ops.delete(ktargets(ids))
    assert [r.outcome for r in batch.results] == ["deleted"] * 3 + ["cancelled"] * 7
    assert len(sent(s)) == 3 and batch.summary.text() == "3 deleted · 7 cancelled"
    assert Counter(e.outcome for e in store.journal(limit=None)) == {"deleted": 3, "cancelled": 7}


async def test_overlapping_batches_never_send_an_id_twice_nor_another_providers_id(make_setup, store: Store) -> None:
    s = make_setup("kazoo", count=30)
    ops, _ = operations(s, store, concurrency={"kazoo": 1})
    ids = s.prov_emu.listed_ids()[:8]
    first, second = await asyncio.gather(ops.delete(ktargets(ids[:6])), ops.delete(ktargets(ids[3:])))
    assert {r.outcome for r in first.results} == {"deleted"}
    assert [r.outcome for r in second.results] == ["cancelled"] * 3 + ["deleted"] * 2
    assert sorted(rid for rid, _ in sent(s)) == sorted(ids)
    queue = ops.queue("kazoo")
    with pytest.raises(ValueError, match="belongs to"):
        await queue.run("delete", [Target("restcomm", ids[7])])
    with pytest.raises(ValueError, match="no provider"):
        await ops.delete([Target("nowhere", "x")])
    assert len(sent(s)) == 8


async def test_read_only_and_unsupported_refuse_before_anything_is_sent_or_journaled(make_setup, store: Store) -> None:
    s = make_setup("kazoo", count=10)
    ids = s.prov_emu.listed_ids()[:2]
    ops, _ = operations(s, store, read_only=True)
    for call in (ops.delete(ktargets(ids)), ops.tag(ktargets(ids), add=["x"]),
                 ops.rename(ktargets(ids)[0], {"a": "b"})):
        with pytest.raises(PermissionDenied, match="read-only"):
            await call
    ro = make_setup("restcomm", count=10, settings={"read_only": True})
    ro_ops, _ = operations(ro, store)
    with pytest.raises(PermissionDenied):
        await ro_ops.delete(ktargets(ro.prov_emu.listed_ids()[:1], "restcomm"))
    ops2, _ = operations(s, store)
    with pytest.raises(Unsupported):
        await ops2.restore(ktargets(ids))
    sd = make_setup("screendesk", count=5)
    sd_ops, _ = operations(sd, store)
    with pytest.raises(Unsupported):
        await sd_ops.delete(ktargets(sd.prov_emu.listed_ids()[:1], "screendesk"))
    assert not s.emu.log.records and not ro.emu.log.records and not sd.emu.log.records
    assert store.journal() == []


async def test_nothing_is_sent_when_the_journal_cannot_be_written(make_setup, store: Store,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    s = make_setup("kazoo", count=10)
    ids = s.prov_emu.listed_ids()[:4]
    ops, events = operations(s, store)

    def full(*_a: Any, **_k: Any) -> None:
        raise StoreError("Cannot journal the intent: the disk is full.", title="Disk full")

    monkeypatch.setattr(store, "mark_pending", full)
    batch = await ops.delete(ktargets(ids))
    assert {r.outcome for r in batch.results} == {"cancelled"} and not s.emu.log.records
    assert any(e.kind == "stopped" and "disk is full" in e.message for e in events)
    monkeypatch.setattr(store, "begin_batch", full)
    with pytest.raises(StoreError):
        await ops.delete(ktargets(ids))
    assert not s.emu.log.records


async def test_hostile_ids_fail_with_nothing_sent(make_setup, store: Store) -> None:
    s = make_setup("kazoo", count=10)
    ops, _ = operations(s, store)
    batch = await ops.delete(ktargets(["../../other/recordings/x", "a?should_soft_delete=false"]))
    assert {r.outcome for r in batch.results} == {"failed"} and not s.emu.log.records


async def test_webex_delete_restore_and_purge_through_the_queue(make_setup, store: Store) -> None:
    s = make_setup("webex", count=20)
    ops, _ = operations(s, store)
    target = ktargets(s.prov_emu.listed_ids()[:1], "webex")
    assert (await ops.delete(target)).summary.text() == "1 deleted"
    assert (await ops.restore(target)).summary.text() == "1 restored"
    assert target[0].id in s.prov_emu.listed_ids()
    await ops.delete(target)
    assert (await ops.purge(target)).summary.text() == "1 purged"
    assert [e.op for e in store.journal(limit=None)] == ["purge", "delete", "restore", "delete"]
    assert [e.outcome for e in store.journal(limit=None)] == ["deleted", "deleted", "done", "deleted"]


# -- tags -------------------------------------------------------------------------------------------

async def test_tags_are_local_where_the_provider_has_none_and_survive_a_restart(make_setup, tmp_path: Path) -> None:
    path = tmp_path / "tags.db"
    store = Store(path)
    s = make_setup("restcomm", count=10)
    ops, _ = operations(s, store)
    rid = s.prov_emu.listed_ids()[0]
    batch = await ops.tag([Target("restcomm", rid, "a call")], add=["vip", "[@click=app.quit]x", "\x1b]52;c;x\x07"])
    (result,) = batch.results
    assert result.tags_where == "local" and result.tags is not None and "vip" in result.tags.local
    assert not s.emu.log.records                                   # nothing sent for local tags
    await ops.untag([Target("restcomm", rid)], ["vip"])
    store.close()
    again = Store(path)
    tags = again.tags_for("restcomm", rid)
    assert tags.local == {"[@click=app.quit]x", "\ufffd]52;c;x\ufffd"} and tags.server == set()
    entries = again.journal(limit=None)
    assert [e.op for e in entries] == ["tag", "tag"] and all(e.outcome == "done" for e in entries)
    assert entries[-1].request["where"] == "local"
    again.close()


async def test_kazoo_tags_go_to_the_server_and_are_recorded_as_server_tags(make_setup, store: Store) -> None:
    s = make_setup("kazoo", count=10)
    ops, _ = operations(s, store)
    rid = s.prov_emu.listed_ids()[0]
    before = (await s.provider.get_recording(rid)).tags
    batch = await ops.tag([Target("kazoo", rid)], add=["vip", "follow-up"])
    (result,) = batch.results
    assert result.tags_where == "server" and result.recording is not None
    assert result.recording.tags == before | {"vip", "follow-up"}
    assert store.tags_for("kazoo", rid).server == before | {"vip", "follow-up"}
    assert store.local_tags("kazoo", rid) == set()
    await ops.untag([Target("kazoo", rid)], ["vip"])
    assert store.tags_for("kazoo", rid).server == before | {"follow-up"}
    assert (await s.provider.get_recording(rid)).tags == before | {"follow-up"}
    assert {e.outcome for e in store.journal(limit=None)} == {"done"}


async def test_kazoo_refusing_server_tags_falls_back_to_local_tags_and_says_so(make_setup, store: Store) -> None:
    s = make_setup("kazoo", count=10, faults="kazoo.patch:tags_405")
    ops, _ = operations(s, store, concurrency={"kazoo": 1})
    ids = s.prov_emu.listed_ids()[:3]
    batch = await ops.tag(ktargets(ids), add=["vip"])
    assert {r.tags_where for r in batch.results} == {"local-fallback"}
    assert all("kept as local tags" in r.message for r in batch.results)
    assert len(sent(s, "PATCH")) == 1                              # asked once, then local for the rest
    assert all(store.tags_for("kazoo", i).local == {"vip"} for i in ids)
    assert {e.outcome for e in store.journal(limit=None)} == {"done"}


# -- downloads -------------------------------------------------------------------------------------

async def test_download_names_files_safely_and_sniffs_the_format(make_setup, store: Store, tmp_path: Path) -> None:
    s = make_setup("restcomm", count=10, hostile=True, faults="restcomm.list:hostile_titles")
    page_ids = [i for i in s.prov_emu.listed_ids() if s.provider.ID_PATTERN.fullmatch(i)][:2]   # hostile titles
    recs = [await s.provider.get_recording(i) for i in page_ids]
    dest = tmp_path / "out"
    ops, _ = operations(s, store)
    batch = await ops.download([Target.of(r) for r in recs], dest)
    assert {r.outcome for r in batch.results} == {"done"}
    files = sorted(p.name for p in dest.iterdir())
    assert files == sorted(download_name(r, "wav") for r in recs)
    assert all(sniff_file(dest / f) == "wav" and f.endswith(".wav") for f in files)
    assert all(all(c.isalnum() or c in "-_." for c in f) for f in files)
    again = await ops.download([Target.of(recs[0])], dest)            # never replaces a file
    assert again.results[0].path is not None and again.results[0].path.name.endswith("-2.wav")
    assert store.journal() == []                                       # downloads are not journaled


async def test_download_on_a_full_disk_fails_cleanly_with_no_partial_file(make_setup, store: Store, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    s = make_setup("restcomm", count=10)
    rec = await s.provider.get_recording(s.prov_emu.listed_ids()[0])
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, fh: Any) -> None:
            self.fh = fh

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            self.fh.close()

        def write(self, _data: bytes) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: Full(real_fdopen(fd, *a, **k)))
    ops, _ = operations(s, store)
    dest = tmp_path / "out"
    (result,) = (await ops.download([Target.of(rec)], dest)).results
    assert result.outcome == "failed" and "No space left on device" in result.message
    assert list(dest.iterdir()) == []


def test_rate_limiter_arithmetic() -> None:
    now = [0.0]
    limiter = RateLimiter(10, clock=lambda: now[0])
    limiter.debit()
    assert limiter.tokens == 0
    assert limiter.throttle(3) == 5 and limiter.hold_until == 3
    for _ in range(20):
        limiter.success()
    assert limiter.rate == 10


# -- a bulk delete killed with SIGKILL -----------------------------------------------------------------

CHILD = """
import asyncio, json, sys
from pydantic import TypeAdapter
from rectui.config import ProviderSettings
from rectui.operations import Operations, Target
from rectui.providers import adapter_class, build_provider
from rectui.store import Store

cfg = json.loads(sys.argv[1])
settings = TypeAdapter(ProviderSettings).validate_python(cfg["settings"])

def say(event):
    if event.kind in ("started", "item") and event.target is not None:
        outcome = event.result.outcome if event.result is not None else "-"
        print(event.kind, event.target.id, outcome, flush=True)

async def main():
    provider = build_provider("kazoo", settings)
    store = Store(__import__("pathlib").Path(cfg["db"]))
    ops = Operations([provider], store, on_event=say, concurrency={"kazoo": 2})
    await ops.delete([Target("kazoo", i, "call") for i in cfg["ids"]])
    print("finished", flush=True)

asyncio.run(main())
"""


@pytest.mark.slow
def test_sigkill_mid_bulk_delete_loses_no_journal_entry(media_cache: Path, tmp_path: Path) -> None:
    # On a real loopback server, the 4th DELETE hangs before it is applied (latency) and the 5th
    # is applied, then its answer hangs (drip). The emulator's sleep tells us when both hang.
    hanging = threading.Semaphore(0)

    async def hang(_seconds: float) -> None:
        hanging.release()
        await asyncio.sleep(3600)

    emu = Emulator(EmulatorConfig(providers=("kazoo",), count=30, anchor=ANCHOR, media_cache_dir=media_cache,
                                  faults="kazoo.delete:latency=1,after=3,count=1;kazoo.delete:drip=1,after=3,count=1"),
                   sleep=hang)
    server = EmulatorServer(emu)
    server.start()
    db = tmp_path / "store.db"
    ids = emu["kazoo"].listed_ids()[:10]
    cfg = {"db": str(db), "ids": ids, "settings": {**emu["kazoo"].config_entry(), "rate_limit": 1000}}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(cfg)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(2):
            if not hanging.acquire(timeout=60):
                proc.kill()
                pytest.fail(f"the child did not reach the hanging requests: {proc.communicate()[1]}")
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        started = {line.split()[1] for line in out.splitlines() if line.startswith("started ")}
        finished = {line.split()[1]: line.split()[2] for line in out.splitlines() if line.startswith("item ")}
        in_flight = started - set(finished)
        assert len(started) == 5 and set(finished.values()) == {"deleted"} and len(in_flight) == 2

        store = Store(db)
        opened = store.open_intents()
        assert Counter(e.outcome for e in opened) == {"pending": 2, "queued": 5}
        settled = asyncio.run(_reconcile(store, cfg["settings"], emu))
        by_id = {r.entry.recording_id: r.outcome for r in settled}
        applied = [rid for rid in in_flight if rid not in emu["kazoo"].listed_ids()]
        assert len(applied) == 1                                       # the one whose answer hung
        assert by_id[applied[0]] == "deleted-confirmed-by-404"
        assert by_id[(in_flight - set(applied)).pop()] == "failed"      # still there: not deleted
        assert sorted(rid for rid, o in by_id.items() if o == "cancelled") == sorted(set(ids) - started)
        journal = {e.recording_id: e.outcome for e in store.journal(limit=None)}
        assert set(journal) == set(ids) and not store.open_intents()   # every id accounted for
        assert all(journal[rid] == "deleted" for rid in finished)
        store.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
        server.stop()


async def _reconcile(store: Store, entry: dict[str, Any], emu: Emulator) -> list[Reconciled]:
    provider = build_provider("kazoo", TypeAdapter(ProviderSettings).validate_python(entry), transport=emu.transport())
    try:
        return await store.reconcile({"kazoo": provider})
    finally:
        await provider.aclose()


def test_queue_for_a_double_paces_items_without_hooks() -> None:
    class Double:
        id = kind = "double"
        display_name = "Double"
        read_only = False
        capabilities = adapter_class("kazoo").capabilities   # type: ignore[union-attr]

        def __init__(self) -> None:
            self.deleted: list[str] = []

        async def delete_recording(self, rid: str) -> str:
            self.deleted.append(rid)
            return "deleted"

    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    double = Double()
    queue = ProviderQueue(double, None, rate=2, concurrency=1, clock=lambda: now[0], sleep=sleep)
    results = asyncio.run(queue.run("delete", [Target("double", str(i)) for i in range(5)]))
    assert [r.outcome for r in results] == ["deleted"] * 5 and double.deleted == [str(i) for i in range(5)]
    assert now[0] == pytest.approx(2.0)
