"""Plan rows about writes, identity and local state (RELIABILITY.md §6, rows 23, 26, 30, 33, 44, 52,
57): paging links that say "null", the same id at two providers, lone surrogates into SQLite,
huge and endless media, 403s that fail one call only, a bulk delete with per-item faults, and an
unwritable media cache."""

from __future__ import annotations

import errno
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from pydantic import TypeAdapter
from support import ANCHOR, FakeClock, Monotonic

from rectui.config import ProviderSettings
from rectui.emulator.app import Emulator, EmulatorConfig
from rectui.emulator.server import EmulatorServer
from rectui.errors import PermissionDenied
from rectui.models import ListQuery, Recording
from rectui.operations import Operations, Target
from rectui.providers import adapter_class
from rectui.store import Store

from .conftest import KINDS, Setup, virtual

_SETTINGS = TypeAdapter(ProviderSettings)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    st = Store(tmp_path / "store.db")
    yield st
    st.close()


def ops_for(s: Setup, store: Store | None, **kw: Any) -> Operations:
    sleep = virtual(s)
    return Operations([s.provider], store, clock=s.mono, sleep=sleep, wall=s.wall, **kw)


def targets(kind: str, ids: list[str]) -> list[Target]:
    return [Target(kind, i, f"call {n}") for n, i in enumerate(ids)]


def deletes(s: Setup) -> Counter[str]:
    return Counter(unquote(r.path.rsplit("/", 1)[-1]).removesuffix(".json")
                   for r in s.emu.log.records if r.method == "DELETE")


# -- row 23 --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
async def test_r23_the_end_of_a_list_is_seen_and_no_request_ever_carries_null(kind: str, make_setup) -> None:
    s = make_setup(kind, count=45)
    seen: list[str] = []
    cursor = None
    for _ in range(200):
        page = await s.provider.list_recordings(ListQuery(page_size=10), cursor)
        seen += [r.id for r in page.items]
        if page.next is None:
            break
        cursor = page.next
    assert page.next is None, "the walk never ended"
    assert sorted(seen) == sorted(s.prov_emu.listed_ids()) and len(set(seen)) == len(seen)
    for r in s.emu.log.records:
        assert "null" not in f"{unquote(r.path)}?{unquote(r.query)}".lower(), (r.path, r.query)


# -- row 26 --------------------------------------------------------------------------------------------

async def test_r26_the_same_id_at_two_providers_is_keyed_by_provider_and_id(media_cache: Path, store: Store) -> None:
    wall, mono = FakeClock(ANCHOR.timestamp() + 3600), Monotonic()
    emus, provs = {}, []
    for name in ("kazoo_a", "kazoo_b"):          # same seed: the same recording ids at both
        emu = Emulator(EmulatorConfig(providers=("kazoo",), count=10, anchor=ANCHOR, media_cache_dir=media_cache),
                       clock=wall)
        conf = _SETTINGS.validate_python(emu["kazoo"].config_entry())
        emus[name] = emu
        provs.append(adapter_class("kazoo")(name, conf, transport=emu.transport(), clock=mono, wall=wall,
                                            sleep=mono.sleep, rng=random.Random(0)))
    try:
        rid = emus["kazoo_a"]["kazoo"].listed_ids()[0]
        assert rid == emus["kazoo_b"]["kazoo"].listed_ids()[0]
        ops = Operations(provs, store, clock=mono, sleep=mono.sleep, wall=wall)
        batch = await ops.delete([Target("kazoo_b", rid, "b's call")])
        assert batch.summary.text() == "1 deleted"
        assert rid in emus["kazoo_a"]["kazoo"].listed_ids() and rid not in emus["kazoo_b"]["kazoo"].listed_ids()
        assert not [r for r in emus["kazoo_a"].log.records if r.method == "DELETE"]
        assert [e.provider for e in store.journal()] == ["kazoo_b"]
        store.set_local_tags("kazoo_a", rid, ["a-only"])
        assert store.tags_for("kazoo_b", rid).local == set() and store.tags_for("kazoo_a", rid).local == {"a-only"}
    finally:
        for p in provs:
            await p.aclose()


# -- row 30 --------------------------------------------------------------------------------------------

def test_r30_lone_surrogates_become_replacement_and_the_store_writes(store: Store) -> None:
    rec = Recording(provider="kazoo", id="r1", title="half \ud800 a pair", caller="\udfff",
                    details={"note": "x\ud83dy"}, raw={"title": "half \ud800 a pair"})
    assert rec.title == "half \ufffd a pair" and rec.caller == "\ufffd" and rec.details["note"] == "x\ufffdy"
    assert store.cache_page("kazoo", "{}", 1, [rec])
    (back,) = list(store.load_listing("kazoo", "{}").rows)
    assert back.title == "half \ufffd a pair"
    assert store.set_local_tags("kazoo", "r1", ["tag \ud800"]) == {"tag \ufffd"}
    assert store.integrity_check() == "ok"


# -- row 33 --------------------------------------------------------------------------------------------

@pytest.fixture
def served_genesys(media_cache: Path) -> Iterator[tuple[Emulator, Any]]:
    """Genesys on a real loopback server (huge and endless bodies need a socket: the in-process
    transport would buffer them whole)."""
    emu = Emulator(EmulatorConfig(providers=("genesys",), count=10, anchor=ANCHOR, media_cache_dir=media_cache))
    server = EmulatorServer(emu, log_level="critical")
    server.start()
    emu["genesys"].transcode_polls = 0
    conf = _SETTINGS.validate_python(emu["genesys"].config_entry())
    mono = Monotonic()
    prov = adapter_class("genesys")("genesys", conf, clock=mono, sleep=mono.sleep, rng=random.Random(0))
    yield emu, prov
    server.stop()


@pytest.mark.parametrize("mode", ["huge", "endless"])
async def test_r33_huge_or_endless_media_stops_at_the_cap_and_nothing_is_kept(
        served_genesys: tuple[Emulator, Any], tmp_path: Path, mode: str) -> None:
    emu, prov = served_genesys
    emu.faults.set(f"genesys.media:media={mode}")
    cache = tmp_path / "cache"
    cache.mkdir()
    try:
        rec = (await prov.list_recordings(ListQuery(page_size=1))).items[0]
        ops = Operations([prov], None, clock=prov.http.clock, sleep=prov.http.sleep)
        batch = await ops.download([Target.of(rec)], cache, max_bytes=2_000_000)
    finally:
        await prov.aclose()
    (result,) = batch.results
    assert result.outcome == "failed" and "2 MB" in result.message
    assert list(cache.iterdir()) == []


# -- row 44 --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
async def test_r44_403_on_a_list_fails_that_call_only(kind: str, make_setup) -> None:
    s = make_setup(kind, count=10, faults=f"{kind}.list:forbid,count=1")
    with pytest.raises(PermissionDenied):
        await s.provider.list_recordings(ListQuery(page_size=5))
    assert (await s.provider.list_recordings(ListQuery(page_size=5))).items
    assert next(r.status for r in s.emu.log.for_route(kind, "list")) == 403


async def test_r44_403_on_one_delete_is_journaled_denied_and_the_others_go_on(make_setup, store: Store) -> None:
    s = make_setup("restcomm", count=10)
    ids = s.prov_emu.listed_ids()[:4]
    s.emu.faults.set(f"restcomm.delete:forbid,id={ids[1]}")
    batch = await ops_for(s, store).delete(targets("restcomm", ids))
    assert [r.outcome for r in batch.results] == ["deleted", "denied", "deleted", "deleted"]
    assert deletes(s)[ids[1]] == 1                                   # a 403 is never retried
    assert {e.recording_id: e.outcome for e in store.journal()}[ids[1]] == "denied"


async def test_r44_403_on_a_screendesk_update_is_permission_denied(make_setup) -> None:
    s = make_setup("screendesk", count=5, faults="screendesk.update:forbid")
    rid = s.prov_emu.listed_ids()[0]
    with pytest.raises(PermissionDenied):
        await s.provider.rename(rid, {"title": "new"})
    assert [r.status for r in s.emu.log.for_route("screendesk", "update")] == [403]
    assert (await s.provider.get_recording(rid)).title != "new"


# -- row 52 --------------------------------------------------------------------------------------------

async def test_r52_bulk_of_12_with_a_500_on_the_7th_every_try_and_a_403_on_the_9th(make_setup, store: Store) -> None:
    s = make_setup("kazoo", count=40)
    ids = s.prov_emu.listed_ids()[:12]
    s.emu.faults.set(f"kazoo.delete:status=500,id={ids[6]};kazoo.delete:forbid,id={ids[8]}")
    batch = await ops_for(s, store).delete(targets("kazoo", ids))
    outcomes = [r.outcome for r in batch.results]
    assert outcomes[6] == "failed" and outcomes[8] == "denied"
    assert batch.summary.text() == "10 deleted · 1 failed · 1 denied"
    left = s.prov_emu.listed_ids()
    assert ids[6] in left and ids[8] in left and not set(ids) - {ids[6], ids[8]} & set(left)
    sent = deletes(s)
    assert sent[ids[6]] == 2 and sent[ids[8]] == 1                  # checked, sent once more, never a third time
    assert all(sent[i] == 1 for n, i in enumerate(ids) if n not in (6, 8))
    journal = {e.recording_id: e.outcome for e in store.journal(limit=None)}
    assert Counter(journal.values()) == {"deleted": 10, "failed": 1, "denied": 1}
    assert journal[ids[6]] == "failed" and journal[ids[8]] == "denied"


# -- row 57 --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("error", [PermissionError(errno.EACCES, "Permission denied"),
                                   OSError(errno.ENOSPC, "No space left on device")])
async def test_r57_unwritable_or_full_media_cache_is_a_clear_failure_with_no_partial_file(
        make_setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: OSError) -> None:
    s = make_setup("restcomm", count=5)
    rec = (await s.provider.list_recordings(ListQuery(page_size=1))).items[0]
    cache = tmp_path / "cache"
    cache.mkdir()
    import os
    real_open = os.open

    def refuse(path: Any, flags: int, *a: Any, **k: Any) -> int:
        if str(path).startswith(str(cache)) and flags & os.O_CREAT:
            raise error
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(os, "open", refuse)
    batch = await ops_for(s, None).download([Target.of(rec)], cache)
    (result,) = batch.results
    assert result.outcome == "failed" and result.message
    assert os.strerror(error.errno).lower() in result.message.lower() or "disk" in result.message.lower() \
        or "permission" in result.message.lower()
    assert list(cache.iterdir()) == []
