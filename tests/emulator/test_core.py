"""The emulator's core: deterministic lazy data, fault rules, the generic fault knobs, request
logging, the loopback-only control routes and the loopback server."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from support import ANCHOR

from rectui.emulator.app import Emulator, EmulatorConfig, ProviderEmulator
from rectui.emulator.dataset import Dataset
from rectui.emulator.faults import Faults, FaultSpecError, parse_faults
from rectui.emulator.server import EmulatorServer, RemoteBindRefused


class EchoEmulator(ProviderEmulator):
    """A minimal provider for testing the core: one JSON route and its own error body."""

    kind = "echo"

    def api_routes(self) -> list[BaseRoute]:
        async def listing(_request: Request) -> Response:
            return JSONResponse({"items": [self.data.fact(i).uid for i in range(3)], "padding": "x" * 40})

        return [self.route("/echo/list", listing, "list")]

    def error_response(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        return JSONResponse({"echo_error": message, "code": status}, status_code=status, headers=headers)


def make(faults: str = "", **kw) -> Emulator:
    return Emulator(EmulatorConfig(providers=("echo",), count=20, anchor=ANCHOR, faults=faults, **kw),
                    provider_classes={"echo": EchoEmulator}, sleep=_no_sleep)


async def _no_sleep(_seconds: float) -> None:
    return None


@pytest.fixture
async def call():
    clients: list[httpx.AsyncClient] = []

    async def get(emu: Emulator, path: str = "/echo/list", **kw) -> httpx.Response:
        client = httpx.AsyncClient(mounts=emu.mounts(), base_url=emu.api_url)
        clients.append(client)
        return await client.get(path, **kw)

    yield get
    for c in clients:
        await c.aclose()


# -- data ---------------------------------------------------------------------------------------

def test_dataset_is_deterministic_and_newest_first() -> None:
    a = Dataset("kazoo", seed=5, count=500, anchor=ANCHOR)
    b = Dataset("kazoo", seed=5, count=500, anchor=ANCHOR)
    c = Dataset("kazoo", seed=6, count=500, anchor=ANCHOR)
    assert [a.fact(i) for i in range(50)] == [b.fact(i) for i in range(50)]
    assert [a.fact(i).uid for i in range(5)] != [c.fact(i).uid for i in range(5)]
    starts = [a.start_of(i) for i in range(500)]
    assert starts == sorted(starts, reverse=True) and len(set(starts)) == 500
    assert ANCHOR - timedelta(days=731) < starts[-1] < starts[0] <= ANCHOR
    assert all(3 <= a.fact(i).duration <= 3600 for i in range(500))
    assert len({a.fact(i).uid for i in range(500)}) == 500


def test_dataset_index_range_matches_a_scan() -> None:
    d = Dataset("webex", count=300, anchor=ANCHOR)
    lo, hi = ANCHOR - timedelta(days=200), ANCHOR - timedelta(days=100)
    expected = [i for i in range(300) if lo <= d.start_of(i) < hi]
    assert list(d.index_range(lo, hi)) == expected and expected
    assert list(d.index_range(None, None)) == list(range(300))
    assert list(d.index_range(ANCHOR, None)) == []


def test_a_hundred_thousand_recordings_cost_nothing_until_used() -> None:
    t0 = time.perf_counter()
    d = Dataset("restcomm", count=100_000, anchor=ANCHOR)
    d.fact(99_999)
    assert time.perf_counter() - t0 < 1.0    # generous: lazily built, this takes microseconds


def test_hostile_values_only_when_asked() -> None:
    calm = Dataset("genesys", count=2000, anchor=ANCHOR)
    wild = Dataset("genesys", count=2000, anchor=ANCHOR, hostile=True)
    assert not any(calm.fact(i).hostile_text or calm.fact(i).hostile_id for i in range(2000))
    hostile = [wild.fact(i) for i in range(2000) if wild.fact(i).hostile_text]
    assert 10 <= len(hostile) <= 150                      # a small fixed share
    assert any(f.hostile_id for f in hostile)
    assert any("\x1b" in f.title() for f in hostile) and any("[" in f.title() for f in hostile)


# -- fault rules --------------------------------------------------------------------------------

def test_fault_spec_grammar() -> None:
    rules = parse_faults("webex.list:status=503,count=2,retry_after=5; kazoo.*:latency=0.5,jitter=0.1;*:forbid")
    assert [(r.target, r.knob, r.value) for r in rules] == [
        ("webex.list", "status", "503"), ("kazoo.*", "latency", "0.5"), ("*.*", "forbid", None)]
    assert rules[0].count == 2 and rules[0].param("retry_after") == "5"
    for bad in ("nonsense", "webex.list:frobnicate", "webex.list:status=500,count", "webex:status=500",
                "webex.list:status=500,count=x"):
        with pytest.raises(FaultSpecError):
            parse_faults(bad)


def test_count_every_after_and_rate_are_deterministic() -> None:
    f = Faults("a.x:forbid,count=2;b.x:forbid,every=3;c.x:forbid,after=2", seed=1)
    assert [bool(f.take("a", "x", "forbid")) for _ in range(4)] == [True, True, False, False]
    assert [bool(f.take("b", "x", "forbid")) for _ in range(6)] == [False, False, True, False, False, True]
    assert [bool(f.take("c", "x", "forbid")) for _ in range(4)] == [False, False, True, True]
    assert f.take("a", "y", "forbid") is None
    runs = [[bool(Faults("a.x:forbid,rate=0.5", seed=9).take("a", "x", "forbid")) for _ in range(1)]
            for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]


# -- generic knobs through the wrapper ----------------------------------------------------------

async def test_status_knob_uses_the_providers_error_body(call) -> None:
    emu = make("echo.list:status=503,count=1,retry_after=7")
    r = await call(emu)
    assert r.status_code == 503 and r.json()["echo_error"] and r.headers["retry-after"] == "7"
    assert (await call(emu)).status_code == 200
    assert emu.log.counts["echo.list"] == 2


async def test_retry_after_and_forbid_knobs(call) -> None:
    emu = make("echo.list:retry_after=3,count=1;echo.list:forbid,after=1,count=1")
    r1, r2, r3 = [await call(emu) for _ in range(3)]
    assert (r1.status_code, r1.headers.get("retry-after")) == (429, "3")
    assert r2.status_code == 403 and r3.status_code == 200


async def test_content_type_knob_serves_an_html_login_page(call) -> None:
    r = await call(make("echo.list:content_type"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html") and b"<html" in r.content


@pytest.mark.parametrize("mode", ["truncated", "garbage", "nan"])
async def test_malformed_json_knob(call, mode: str) -> None:
    import json
    r = await call(make(f"echo.list:malformed_json={mode}"))
    assert r.status_code == 200
    with pytest.raises(ValueError):
        json.loads(r.content, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))


async def test_drip_knob_streams_the_same_body_byte_by_byte(call) -> None:
    emu = make("echo.list:drip=0.001")
    r = await call(emu)
    assert r.status_code == 200 and r.json()["items"] and "content-length" not in r.headers


async def test_latency_knob_sleeps_through_the_injected_sleep(call) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    emu = Emulator(EmulatorConfig(providers=("echo",), count=5, anchor=ANCHOR, faults="echo.*:latency=3"),
                   provider_classes={"echo": EchoEmulator}, sleep=sleep)
    assert (await call(emu)).status_code == 200
    assert slept == [3.0]


async def test_requests_are_logged_with_headers(call) -> None:
    emu = make()
    await call(emu, headers={"X-Probe": "1"})
    rec = emu.log.for_route("echo", "list")[0]
    assert rec.headers["x-probe"] == "1" and rec.status == 200 and rec.origin == "api"


async def test_control_routes_set_faults_and_read_counts_from_loopback_only(call) -> None:
    emu = make()
    async with httpx.AsyncClient(mounts=emu.mounts(), base_url=emu.api_url) as c:
        r = await c.post("/_emulator/faults", json={"spec": "echo.list:status=500,count=1"})
        assert r.status_code == 200 and r.json()["rules"] == ["echo.list:status=500"]
        assert (await c.get("/echo/list")).status_code == 500
        assert (await c.get("/_emulator/requests")).json()["counts"] == {"echo.list": 1}
        assert (await c.post("/_emulator/faults", content=b"echo.list:bogus")).status_code == 400
        assert (await c.delete("/_emulator/faults")).json()["rules"] == []
    remote = httpx.ASGITransport(app=emu.api_app, client=("203.0.113.9", 4000))
    async with httpx.AsyncClient(transport=remote, base_url=emu.api_url) as c:
        r = await c.post("/_emulator/faults", json={"spec": "echo.list:forbid"})
        assert r.status_code == 403 and emu.faults.rules == []


# -- the loopback server -------------------------------------------------------------------------

async def test_server_binds_three_loopback_origins_and_serves() -> None:
    emu = make()
    server = EmulatorServer(emu)
    bound = server.start()
    try:
        origins = {bound.api, bound.login, bound.media}
        assert len(origins) == 3 and all(o.startswith("http://127.0.0.1:") for o in origins)
        assert emu.api_url == bound.api
        async with httpx.AsyncClient() as c:
            r = await c.get(f"{bound.api}/echo/list")
        assert r.status_code == 200 and len(r.json()["items"]) == 3
    finally:
        server.stop()


def test_server_refuses_non_loopback_without_allow_remote() -> None:
    with pytest.raises(RemoteBindRefused, match="--allow-remote"):
        EmulatorServer(make(), host="0.0.0.0")


# -- knobs added for the fault plan --------------------------------------------------------------

def test_id_limits_a_rule_to_requests_naming_that_recording() -> None:
    f = Faults("k.delete:status=500,id=REC7|REC9")
    assert f.take("k", "delete", "status", "/v2/accounts/A/recordings/REC1") is None
    assert f.take("k", "delete", "status", "/v2/accounts/A/recordings/REC7") is not None
    assert f.take("k", "delete", "status", "/Accounts/A/Recordings/REC9.json") is not None
    assert f.take("k", "delete", "status", "/recordings/REC%39") is not None          # percent-encoded
    assert f.take("k", "delete", "status") is None                                    # no path: no match
    assert f.rules[0].describe() == "k.delete:status=500,id=REC7|REC9"


async def test_reset_after_cuts_the_body_and_resets_the_connection() -> None:
    emu = make("echo.list:reset_after=5,count=1")
    async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.api_url) as c:
        with pytest.raises(httpx.RemoteProtocolError):     # as over a socket
            await c.get("/echo/list")
        assert (await c.get("/echo/list")).status_code == 200


async def test_gzip_bomb_is_generic_and_inflates_to_the_asked_size(call) -> None:
    r = await call(make("echo.list:gzip_bomb=2"))
    assert r.headers["content-encoding"] == "gzip" and len(r.content) == 2 * 1024 * 1024
    assert int(r.headers["content-length"]) < 20_000


async def test_drip_and_reset_work_on_media_responses_too(media_cache) -> None:
    from rectui.emulator.app import EmulatorConfig as Config
    emu = Emulator(Config(providers=("restcomm",), count=5, anchor=ANCHOR, media_cache_dir=media_cache,
                          faults="restcomm.media:drip=0,bytes=4096,count=1;restcomm.media:reset_after=1000"),
                   sleep=_no_sleep)
    fact_id = emu["restcomm"].listed_ids()[0]
    base = emu["restcomm"].config_entry()["base_url"]
    sid = emu["restcomm"].config_entry()["account_sid"]
    async with httpx.AsyncClient(transport=emu.transport()) as c:
        url = f"{base}/Accounts/{sid}/Recordings/{fact_id}.wav"
        whole = await c.get(url)
        assert whole.status_code == 200 and whole.content[:4] == b"RIFF" and "content-length" not in whole.headers
        with pytest.raises(httpx.RemoteProtocolError):
            await c.get(url)
