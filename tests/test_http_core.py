"""The HTTP core against real servers on 127.0.0.1: retries and their bounds, Retry-After in
both forms, the overall deadline on a trickling body, credentials bound to their origins,
redaction, and the one mapping from failures to rectui errors."""

from __future__ import annotations

import asyncio
import gzip
import json
import random
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from rectui.errors import AuthError, BadResponse, NotFound, PermissionDenied, RateLimited, Unavailable
from rectui.providers.http import (
    HeaderAuth,
    HttpCore,
    HttpEvent,
    RetryBudget,
    RetryPolicy,
    origin_of,
    parse_retry_after,
)

CANARY = "s3cr3t-canary-7f1d"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclass
class Scripted:
    """An ASGI app answering each path from a queue of scripted responses (the last repeats) and
    recording every request's method, path, query and headers."""

    queues: dict[str, deque[Callable[[Request], Response]]] = field(default_factory=lambda: defaultdict(deque))
    seen: list[tuple[str, str, str, dict[str, str]]] = field(default_factory=list)

    def on(self, path: str, *responses: Callable[[Request], Response]) -> None:
        self.queues[path].extend(responses)

    def count(self, path: str) -> int:
        return sum(1 for s in self.seen if s[1] == path)

    def app(self) -> Starlette:
        async def handle(request: Request) -> Response:
            self.seen.append((request.method, request.url.path, request.url.query, dict(request.headers)))
            q = self.queues[request.url.path]
            if not q:
                return Response(b"", 404)
            fn = q.popleft() if len(q) > 1 else q[0]
            return fn(request)

        return Starlette(routes=[Route("/{path:path}", handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])])


def status(code: int, body: Any = None, headers: dict[str, str] | None = None) -> Callable[[Request], Response]:
    content = b"" if body is None else json.dumps(body).encode()
    return lambda _r: Response(content, code, headers=headers, media_type="application/json")


def ok(body: Any = None) -> Callable[[Request], Response]:
    return status(200, {"ok": True} if body is None else body)


class Sleeps:
    """Injected sleep: records the waits, advances a fake clock, never really sleeps."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.now = 1000.0

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def scripted(serve_app) -> tuple[Scripted, str]:
    s = Scripted()
    return s, serve_app(s.app()).url


@pytest.fixture
async def make_core():
    cores: list[HttpCore] = []

    def make(base: str, **kw: Any) -> HttpCore:
        sleeps = kw.pop("sleeps", None) or Sleeps()
        kw.setdefault("sleep", sleeps)
        kw.setdefault("clock", sleeps.clock)
        kw.setdefault("wall", lambda: NOW.timestamp())
        kw.setdefault("rng", random.Random(7))
        core = HttpCore("testprov", base, **kw)
        core.sleeps = sleeps  # type: ignore[attr-defined]
        cores.append(core)
        return core

    yield make
    for core in cores:
        await core.aclose()


async def test_get_retries_5xx_then_succeeds_with_jittered_backoff(scripted, make_core) -> None:
    s, url = scripted
    s.on("/list", status(503), status(502), status(500), ok())
    events: list[HttpEvent] = []
    core = make_core(url, on_event=events.append)
    data, _ = await core.get_json("/list")
    assert data == {"ok": True}
    assert s.count("/list") == 4
    waits = core.sleeps.waits
    assert len(waits) == 3
    assert all(0 <= w <= min(20, 0.5 * 2 ** i) for i, w in enumerate(waits))
    assert [e.kind for e in events].count("retry") == 3
    assert all("?" not in e.path for e in events)


async def test_get_retries_are_bounded_and_surface_unavailable_with_correlation_id(scripted, make_core) -> None:
    s, url = scripted
    s.on("/list", status(503, {"message": "down for maintenance", "contextId": "ctx-42"}))
    core = make_core(url)
    with pytest.raises(Unavailable) as info:
        await core.get_json("/list", params={"auth_token": CANARY})
    assert s.count("/list") == 4
    err = info.value
    assert err.status == 503 and err.correlation_id == "ctx-42"
    assert "GET /list" in err.message and "down for maintenance" in err.message
    assert CANARY not in err.message and "auth_token" not in err.message


async def test_501_is_not_retried(scripted, make_core) -> None:
    s, url = scripted
    s.on("/x", status(501))
    with pytest.raises(Unavailable):
        await make_core(url).get_json("/x")
    assert s.count("/x") == 1


async def test_retry_after_seconds_is_honoured(scripted, make_core) -> None:
    s, url = scripted
    s.on("/x", status(429, headers={"Retry-After": "2"}), status(429, headers={"Retry-After": "2"}),
         status(429, headers={"Retry-After": "2"}), ok())
    core = make_core(url)
    await core.get_json("/x")
    assert core.sleeps.waits == [2.0, 2.0, 2.0]
    assert s.count("/x") == 4


async def test_retry_after_http_date_is_honoured(scripted, make_core) -> None:
    s, url = scripted
    when = format_datetime(NOW + timedelta(seconds=7), usegmt=True)
    s.on("/x", status(429, headers={"Retry-After": when}), ok())
    core = make_core(url)
    await core.get_json("/x")
    assert core.sleeps.waits == [7.0]


async def test_retry_after_past_the_deadline_is_not_slept_but_raised(scripted, make_core) -> None:
    s, url = scripted
    s.on("/x", status(429, headers={"Retry-After": "86400"}))
    core = make_core(url)
    with pytest.raises(RateLimited) as info:
        await core.get_json("/x")
    assert info.value.retry_after == 86400
    assert core.sleeps.waits == []
    assert s.count("/x") == 1
    until = datetime.fromtimestamp(NOW.timestamp() + 86400).strftime("%H:%M:%S")   # from the injected wall clock
    assert f"rate-limited until {until}" in info.value.message


@pytest.mark.parametrize(("header", "expected"), [
    ("5", 5.0), ("0", 0.0), ("-5", 0.0), ("garbage", None), ("", None), (None, None), ("nan", None),
    (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
    (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),
])
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, NOW.timestamp()) == expected


async def test_429_without_retry_after_backs_off_from_the_rate_limit_base(scripted, make_core) -> None:
    s, url = scripted
    s.on("/x", status(429), status(429), ok())
    core = make_core(url, policy=RetryPolicy(rate_limit_base=1.0))
    await core.get_json("/x")
    assert len(core.sleeps.waits) == 2
    assert 0 <= core.sleeps.waits[0] <= 1.0 and 0 <= core.sleeps.waits[1] <= 2.0


async def test_writes_are_not_retried_after_a_5xx(scripted, make_core) -> None:
    s, url = scripted
    s.on("/rec/1", status(500))
    core = make_core(url)
    with pytest.raises(Unavailable):
        await core.request("DELETE", "/rec/1")
    assert s.count("/rec/1") == 1
    s.on("/post", status(503))
    with pytest.raises(Unavailable):
        await core.request("POST", "/post", json_body={"a": 1})
    assert s.count("/post") == 1


async def test_writes_are_retried_after_429(scripted, make_core) -> None:
    s, url = scripted
    s.on("/rec/2", status(429, headers={"Retry-After": "1"}), status(200))
    core = make_core(url)
    await core.request("DELETE", "/rec/2")
    assert s.count("/rec/2") == 2


async def test_connection_refused_is_retried_even_for_a_post_then_offline(closed_port, make_core) -> None:
    core = make_core(f"http://127.0.0.1:{closed_port}")
    with pytest.raises(Unavailable) as info:
        await core.request("POST", "/x", json_body={})
    assert len(core.sleeps.waits) == 2          # 3 tries for a write, all refused before sending
    assert info.value.title == "Offline" and "cannot connect" in info.value.message


async def test_retry_budget_caps_retries_across_calls(scripted, make_core) -> None:
    s, url = scripted
    s.on("/x", status(503))
    core = make_core(url, budget=RetryBudget(capacity=10, tokens=10))
    with pytest.raises(Unavailable):
        await core.get_json("/x")
    assert s.count("/x") == 3     # two retries of cost 5, then the budget is dry
    with pytest.raises(Unavailable):
        await core.get_json("/x")
    assert s.count("/x") == 4     # no retry at all now


async def test_overall_deadline_cuts_a_trickling_body(serve_app, make_core) -> None:
    async def drip(_request: Request) -> Response:
        async def body():
            for _ in range(40):
                yield b" "
                await asyncio.sleep(0.1)
        return StreamingResponse(body(), media_type="application/json")

    url = serve_app(Starlette(routes=[Route("/slow", drip)])).url
    core = make_core(url, clock=__import__("time").monotonic, policy=RetryPolicy(deadline=0.5))
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(Unavailable, match=r"timed out after 0\.5 s"):
        await core.get_json("/slow")
    assert loop.time() - t0 < 3.0   # far less than the 4 s the body would take


@pytest.fixture
def two_origins(serve_app) -> tuple[Scripted, str, Scripted, str]:
    home, foreign = Scripted(), Scripted()
    return home, serve_app(home.app()).url, foreign, serve_app(foreign.app()).url


CRED_HEADERS = ("authorization", "x-auth-token", "cookie")


async def test_credentials_go_only_to_configured_origins(two_origins, make_core) -> None:
    home, home_url, foreign, foreign_url = two_origins
    home.on("/page", ok())
    foreign.on("/page", ok())
    auth = HeaderAuth([origin_of(home_url)], {"X-Auth-Token": SecretStr(CANARY), "Cookie": SecretStr("sid=1")})
    core = make_core(home_url, auth=auth)
    await core.get_json("/page")
    await core.get_json(f"{foreign_url}/page")      # e.g. an absolute page link to another host
    assert home.seen[0][3]["x-auth-token"] == CANARY
    assert not any(h in foreign.seen[0][3] for h in CRED_HEADERS)


async def test_cross_origin_redirect_is_not_followed(two_origins, make_core) -> None:
    home, home_url, foreign, foreign_url = two_origins
    home.on("/page", lambda _r: Response(b"", 302, headers={"Location": f"{foreign_url}/steal"}))
    auth = HeaderAuth.bearer([origin_of(home_url)], SecretStr(CANARY))
    core = make_core(home_url, auth=auth)
    with pytest.raises(BadResponse, match="302"):
        await core.get_json("/page")
    assert foreign.seen == []


async def test_media_links_get_no_credentials_and_respect_the_size_cap(two_origins, make_core, tmp_path) -> None:
    _home, home_url, foreign, foreign_url = two_origins
    foreign.on("/media.wav", lambda _r: Response(b"RIFF" + b"\0" * 996, 200, media_type="audio/wav"))
    auth = HeaderAuth.basic([origin_of(home_url)], "AC1", SecretStr(CANARY))
    core = make_core(home_url, auth=auth)
    size, ctype = await core.download(f"{foreign_url}/media.wav?Signature=abc", tmp_path / "a.bin")
    assert size == 1000 and ctype == "audio/wav" and (tmp_path / "a.bin").stat().st_size == 1000
    assert not any(h in foreign.seen[0][3] for h in CRED_HEADERS)
    with pytest.raises(BadResponse, match="limit"):
        await core.download(f"{foreign_url}/media.wav", tmp_path / "b.bin", max_bytes=100)
    assert not (tmp_path / "b.bin").exists()


async def test_media_cap_counts_streamed_bytes_without_content_length(serve_app, make_core, tmp_path) -> None:
    async def endless(_request: Request) -> Response:
        async def body():
            while True:
                yield b"\xff" * 65536
                await asyncio.sleep(0)
        return StreamingResponse(body(), media_type="audio/mpeg")

    url = serve_app(Starlette(routes=[Route("/endless", endless)])).url
    with pytest.raises(BadResponse, match="over the 1 MB limit"):
        await make_core(url).download(f"{url}/endless", tmp_path / "e.bin", max_bytes=1_000_000)
    assert not (tmp_path / "e.bin").exists()


@pytest.mark.parametrize(("code", "exc"), [(401, AuthError), (403, PermissionDenied), (404, NotFound),
                                           (400, BadResponse)])
async def test_status_mapping(scripted, make_core, code: int, exc: type) -> None:
    s, url = scripted
    s.on("/x", status(code, {"error": {"message": "nope", "code": "x"}}))
    with pytest.raises(exc) as info:
        await make_core(url).get_json("/x")
    assert info.value.status == code and "nope" in info.value.message
    assert s.count("/x") == 1


async def test_error_text_echoing_a_secret_is_redacted(scripted, make_core) -> None:
    s, url = scripted
    s.on("/x", status(401, {"message": f"token {CANARY} is invalid; Authorization: Bearer {CANARY}"}))
    auth = HeaderAuth.bearer([origin_of(url)], SecretStr(CANARY))
    with pytest.raises(AuthError) as info:
        await make_core(url, auth=auth).get_json("/x")
    assert CANARY not in info.value.message and CANARY not in info.value.one_line()
    assert "rectui config check" in info.value.message


@pytest.mark.parametrize(("body", "ctype"), [
    (b"<!DOCTYPE html><html>login</html>", "text/html"),
    (b'{"items": [1, 2', "application/json"),
    (b'{"value": NaN}', "application/json"),
    (b"\x00\xff garbage", "application/json"),
])
async def test_non_json_is_a_bad_response_never_empty(scripted, make_core, body: bytes, ctype: str) -> None:
    s, url = scripted
    s.on("/x", lambda _r: Response(body, 200, media_type=ctype))
    with pytest.raises(BadResponse):
        await make_core(url).get_json("/x")


async def test_oversized_and_gzip_bomb_pages_are_refused(scripted, make_core) -> None:
    s, url = scripted
    bomb = gzip.compress(b"[" + b" " * 5_000_000 + b"]")
    s.on("/bomb", lambda _r: Response(bomb, 200, media_type="application/json",
                                      headers={"Content-Encoding": "gzip"}))
    assert len(bomb) < 50_000
    with pytest.raises(BadResponse, match="too large"):
        await make_core(url, max_json_bytes=1_000_000).get_json("/bomb")


def test_origin_of_makes_default_ports_explicit() -> None:
    assert origin_of("https://api.mypurecloud.com/api/v2") == "https://api.mypurecloud.com:443"
    assert origin_of("http://127.0.0.1:8000/v2") == "http://127.0.0.1:8000"
    assert origin_of("https://h.example:443/x") == origin_of("https://h.example/y")




@pytest.mark.parametrize("link", ["http://169.254.169.254/latest/meta-data", "https://10.0.0.8/a.wav",
                                  "https://[::1]/a.wav", "https://localhost/a.wav", "file:///etc/passwd",
                                  "ftp://files.example.com/a.wav", "http://media.example.com/a.wav"])
async def test_media_links_to_private_or_insecure_targets_are_refused_before_connecting(
        make_core, tmp_path, link: str) -> None:
    from rectui.providers.http import MediaLinkRefused
    core = make_core("https://api.provider.example")        # a public provider
    with pytest.raises(MediaLinkRefused):
        await core.download(link, tmp_path / "x.bin")
    assert not (tmp_path / "x.bin").exists()


async def test_redirects_of_media_links_are_checked_too(two_origins, make_core, tmp_path) -> None:
    from rectui.providers.http import MediaLinkRefused
    _home, _home_url, foreign, foreign_url = two_origins
    foreign.on("/a.wav", lambda _r: Response(b"", 307, headers={"Location": "http://169.254.169.254/x"}))
    core = make_core(foreign_url)   # loopback provider: its own links are allowed, the redirect is not
    with pytest.raises(MediaLinkRefused):
        await core.download(f"{foreign_url}/a.wav", tmp_path / "y.bin")
