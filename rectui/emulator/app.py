"""The emulator: three ASGI apps (API, login, media), each its own origin, and the route wrapper
that counts requests, records headers and applies the generic faults."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import gzip
import ipaddress
import json
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from rectui.emulator.dataset import Dataset, Fact
from rectui.emulator.faults import FaultRule, Faults, FaultSpecError

if TYPE_CHECKING:
    from rectui.emulator.audio import MediaStore

Endpoint = Callable[[Request], Awaitable[Response]]

PROVIDER_KINDS = ("genesys", "kazoo", "restcomm", "webex", "screendesk")

_CURRENT_ROUTE: contextvars.ContextVar[str | None] = contextvars.ContextVar("emulator_route", default=None)
_CURRENT_PATH: contextvars.ContextVar[str | None] = contextvars.ContextVar("emulator_path", default=None)


def current_route() -> str | None:
    """The short name of the route being answered (for `error_response`, which the wrapper also
    calls for the generic faults)."""
    return _CURRENT_ROUTE.get()


@dataclass
class EmulatorConfig:
    seed: int = 1
    count: int = 2000                         # recordings per provider
    counts: dict[str, int] = field(default_factory=dict)   # per-provider override
    hostile: bool = False
    faults: str = ""
    anchor: datetime | None = None            # newest recording's time; default: now, to the hour
    media_cache_dir: Path | None = None       # where rendered audio is kept; default: user cache
    providers: tuple[str, ...] = PROVIDER_KINDS


@dataclass
class RequestRecord:
    origin: str           # "api" | "login" | "media"
    provider: str
    route: str
    method: str
    path: str
    query: str
    headers: dict[str, str]
    status: int = 0


class RequestLog:
    """What the emulator received: counts per route and the last requests with their headers."""

    def __init__(self, maxlen: int = 5000) -> None:
        self.records: deque[RequestRecord] = deque(maxlen=maxlen)
        self.counts: Counter[str] = Counter()

    def add(self, rec: RequestRecord) -> None:
        self.records.append(rec)
        self.counts[f"{rec.provider}.{rec.route}"] += 1

    def for_route(self, provider: str, route: str | None = None) -> list[RequestRecord]:
        return [r for r in self.records
                if r.provider == provider and (route is None or r.route == route)]

    def clear(self) -> None:
        self.records.clear()
        self.counts.clear()


class ProviderEmulator:
    """Base for one provider's emulation. Subclasses set `kind` and add routes."""

    kind: ClassVar[str] = ""

    def __init__(self, emu: Emulator, dataset: Dataset) -> None:
        self.emu = emu
        self.data = dataset

    # Routes on each origin; names are short route names ("list", "get", "media", …).
    def api_routes(self) -> list[BaseRoute]:
        return []

    def login_routes(self) -> list[BaseRoute]:
        return []

    def media_routes(self) -> list[BaseRoute]:
        return []

    def error_response(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        """The provider's own error body for `status` (overridden per provider)."""
        return JSONResponse({"message": message}, status_code=status, headers=headers)

    def credentials(self) -> dict[str, str]:
        """Demo credentials, printed by `rectui emulate`."""
        return {}

    def recording_id(self, fact: Fact) -> str:
        """The id this provider gives the recording `fact` on the wire."""
        raise NotImplementedError

    def listed_ids(self, status: str = "available") -> list[str]:
        """Ground truth for tests: the ids a complete default listing returns right now (with
        `status="deleted"`, the recycle bin where there is one), in the provider's order."""
        raise NotImplementedError

    def config_entry(self) -> dict[str, object]:
        """This provider's `[providers.<name>]` table for a rectui config pointing here."""
        return {"kind": self.kind, "base_url": self.emu.api_url}

    # Helpers for subclasses
    def route(self, path: str, endpoint: Endpoint, name: str, methods: list[str] | None = None,
              origin: str = "api") -> Route:
        return Route(path, self.emu.wrap(self, name, endpoint, origin), methods=methods or ["GET"],
                     name=f"{self.kind}.{name}")

    def take(self, route: str, knob: str) -> FaultRule | None:
        return self.emu.faults.take(self.kind, route, knob, _CURRENT_PATH.get())

    async def media_response(self, route: str, fact: Fact, fmt: str, request: Request,
                             headers: dict[str, str] | None = None) -> Response:
        """The audio of `fact` in `fmt` (a key of `MEDIA_FORMATS`), honouring the `media` fault
        knob (`media=huge|endless|corrupt|html|hls|empty|long_lowbitrate`) and HTTP Range."""
        if rule := self.take(route, "media"):
            return await self.emu.media.fault_response(rule.value or "corrupt", fmt, request)
        return await self.emu.media.response(fact, fmt, request, headers=headers)


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost", "testclient")


HTML_LOGIN_PAGE = (b"<!DOCTYPE html><html><head><title>Sign in</title></head>"
                   b"<body><form action=\"/login\"><input name=user></form></body></html>")


class Emulator:
    """All five providers' recordings APIs. Build it, then serve `api_app`, `login_app` and
    `media_app` (uvicorn on loopback, or in-process through `mounts()` for httpx)."""

    def __init__(self, config: EmulatorConfig | None = None, *,
                 api_url: str = "http://api.emulator.test",
                 login_url: str = "http://login.emulator.test",
                 media_url: str = "http://media.emulator.test",
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 provider_classes: dict[str, type[ProviderEmulator]] | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.api_url, self.login_url, self.media_url = api_url, login_url, media_url
        self.clock = clock
        self.sleep = sleep
        self.faults = Faults(self.config.faults, seed=self.config.seed)
        self.log = RequestLog()
        self._rng = random.Random(self.config.seed)
        anchor = self.config.anchor or datetime.fromtimestamp(clock(), UTC).replace(
            minute=0, second=0, microsecond=0)
        self.anchor = anchor
        from rectui.emulator.audio import MediaStore
        self.media: MediaStore = MediaStore(self.config.media_cache_dir, seed=self.config.seed)
        self.providers: dict[str, ProviderEmulator] = {}
        classes = provider_classes or {}
        for kind in self.config.providers:
            cls = classes.get(kind) or _provider_class(kind)
            ds = Dataset(provider=kind, seed=self.config.seed,
                         count=self.config.counts.get(kind, self.config.count),
                         hostile=self.config.hostile, anchor=anchor)
            self.providers[kind] = cls(self, ds)
        self.api_app = self._build("api")
        self.login_app = self._build("login")
        self.media_app = self._build("media")

    def warm_media(self, formats: tuple[str, ...] = ("mp3", "wav")) -> threading.Thread:
        """Build the audio building blocks the adapters ask for (MP3 and WAV at every rate) in a
        daemon thread, so the first play does not wait ~0.3–0.9 s for them."""
        from rectui.emulator.dataset import SAMPLE_RATES
        combos = [(f, r, c) for f in formats for r in sorted(set(SAMPLE_RATES)) for c in (1, 2)]
        thread = threading.Thread(target=self.media.warm, args=(combos,), name="rectui-emulator-warm", daemon=True)
        thread.start()
        return thread

    def __getitem__(self, kind: str) -> ProviderEmulator:
        return self.providers[kind]

    def set_urls(self, *, api: str, login: str, media: str) -> None:
        """Where the apps are really served (after binding ports); links are built from these."""
        self.api_url, self.login_url, self.media_url = api.rstrip("/"), login.rstrip("/"), media.rstrip("/")

    def transport(self) -> httpx.AsyncBaseTransport:
        """One httpx transport that reaches the three apps in-process by origin (and refuses
        any other origin, as a closed port would)."""
        return _OriginRouter(self.mounts())

    def mounts(self) -> dict[str, httpx.AsyncBaseTransport]:
        """httpx transports that reach the three apps in-process, keyed by origin."""
        return {
            self.api_url: httpx.ASGITransport(app=self.api_app),
            self.login_url: httpx.ASGITransport(app=self.login_app),
            self.media_url: httpx.ASGITransport(app=self.media_app),
        }

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # -- building ---------------------------------------------------------------------------
    def _build(self, origin: str) -> Starlette:
        routes: list[BaseRoute] = []
        for prov in self.providers.values():
            routes.extend({"api": prov.api_routes, "login": prov.login_routes,
                           "media": prov.media_routes}[origin]())
        routes.append(Route("/_emulator/faults", self._control_faults, methods=["GET", "POST", "DELETE"]))
        routes.append(Route("/_emulator/requests", self._control_requests, methods=["GET", "DELETE"]))
        return Starlette(routes=routes)

    async def _control_faults(self, request: Request) -> Response:
        if not _is_loopback(request):
            return JSONResponse({"error": "the control routes answer loopback clients only"}, 403)
        if request.method == "DELETE":
            self.faults.clear()
        elif request.method == "POST":
            body = await request.body()
            try:
                data = json.loads(body) if body.strip().startswith(b"{") else {"spec": body.decode()}
                spec = str(data.get("spec", ""))
                (self.faults.add if data.get("append") else self.faults.set)(spec)
            except (FaultSpecError, ValueError, UnicodeDecodeError) as exc:
                return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse({"rules": [r.describe() for r in self.faults.rules]})

    async def _control_requests(self, request: Request) -> Response:
        if not _is_loopback(request):
            return JSONResponse({"error": "the control routes answer loopback clients only"}, 403)
        if request.method == "DELETE":
            self.log.clear()
        return JSONResponse({"counts": dict(self.log.counts)})

    # -- the route wrapper ------------------------------------------------------------------
    def wrap(self, prov: ProviderEmulator, route: str, endpoint: Endpoint, origin: str) -> Endpoint:
        kind = prov.kind

        async def handler(request: Request) -> Response:
            rec = RequestRecord(origin, kind, route, request.method, request.url.path,
                                request.url.query, dict(request.headers))
            self.log.add(rec)
            token = _CURRENT_ROUTE.set(route)
            path_token = _CURRENT_PATH.set(request.url.path)
            try:
                response = await self._before(prov, route)
                if response is None:
                    response = await endpoint(request)
                    response = await self._after(prov, route, response)
            finally:
                _CURRENT_PATH.reset(path_token)
                _CURRENT_ROUTE.reset(token)
            rec.status = response.status_code
            return response

        return handler

    async def _before(self, prov: ProviderEmulator, route: str) -> Response | None:
        kind = prov.kind
        if rule := self._take(kind, route, "latency"):
            delay = rule.number(default=0.0) + self._rng.random() * rule.number("jitter", 0.0)
            await self.sleep(delay)
        if rule := self._take(kind, route, "forbid"):
            return prov.error_response(403, rule.value or "forbidden")
        if rule := self._take(kind, route, "retry_after"):
            return prov.error_response(429, "Too many requests", {"Retry-After": rule.value or "1"})
        if rule := self._take(kind, route, "status"):
            code = int(rule.number(default=500))
            headers = {}
            if ra := rule.param("retry_after"):
                headers["Retry-After"] = ra
            return prov.error_response(code, rule.param("message") or f"injected status {code}", headers)
        if rule := self._take(kind, route, "content_type"):
            if (rule.value or "html") == "html":
                return Response(HTML_LOGIN_PAGE, 200, media_type="text/html")
            return Response(b"{}", 200, media_type=rule.value)
        return None

    def _take(self, kind: str, route: str, knob: str) -> FaultRule | None:
        return self.faults.take(kind, route, knob, _CURRENT_PATH.get())

    async def _after(self, prov: ProviderEmulator, route: str, response: Response) -> Response:
        kind = prov.kind
        whole = not isinstance(response, StreamingResponse | FileResponse)   # a body in memory
        if whole and (rule := self._take(kind, route, "malformed_json")):
            body = bytes(getattr(response, "body", b""))
            mode = rule.value or "truncated"
            if mode == "garbage":
                new = b"\x00\xffnot json at all<html>"
            elif mode == "nan":
                new = b'{"value": NaN, "items": [}'
            else:
                new = body[: max(1, len(body) // 2)]
            return Response(new, response.status_code, media_type="application/json")
        if whole and "content-encoding" not in response.headers and (rule := self._take(kind, route, "gzip_bomb")):
            return Response(gzip_bomb(rule.number(default=50.0)), response.status_code,
                            headers={"content-encoding": "gzip"}, media_type="application/json")
        if rule := self._take(kind, route, "drip"):
            return _Trickle(response, sleep=self.sleep, interval=rule.number(default=0.5),
                            step=int(rule.number("bytes", 1.0)))
        if rule := self._take(kind, route, "reset_after"):
            return _Trickle(response, reset_after=int(rule.number(default=10)))
        return response


class ConnectionReset(Exception):
    """Raised inside the ASGI app to make the server drop the connection mid-body."""


@functools.lru_cache(maxsize=4)
def gzip_bomb(megabytes: float) -> bytes:
    """A valid JSON document of `megabytes` MB (an object padded with blanks), gzip-compressed to
    a few tens of kB: the `gzip_bomb[=MB]` knob's body for providers without their own."""
    size = int(megabytes * 1024 * 1024)
    head, tail = b'{"items": [', b"]}"
    return gzip.compress(head + b" " * max(0, size - len(head) - len(tail)) + tail, compresslevel=9)


class _Trickle(Response):
    """Any response (plain, file or streamed, media included) passed through with its body cut
    into `step`-byte pieces `interval` seconds apart (`drip`: Content-Length is dropped, as a
    trickling server would send it chunked), or with the connection reset once `reset_after`
    bytes of body were sent (`reset_after`, also when the body is shorter: its end never comes)."""

    def __init__(self, inner: Response, *, sleep: Callable[[float], Awaitable[None]] | None = None,
                 interval: float = 0.0, step: int = 1, reset_after: int | None = None) -> None:
        self.inner, self.sleep, self.interval = inner, sleep, interval
        self.step, self.reset_after = max(1, step), reset_after
        self.status_code = inner.status_code
        self.background = None
        self.raw_headers = list(inner.raw_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sent = 0

        async def relay(message: dict[str, Any]) -> None:
            nonlocal sent
            if message["type"] == "http.response.start":
                if self.sleep is not None:
                    message = {**message, "headers": [(k, v) for k, v in message.get("headers", [])
                                                      if k.lower() != b"content-length"]}
                await send(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            body, more = message.get("body", b""), message.get("more_body", False)
            if self.reset_after is not None:
                room = self.reset_after - sent
                if len(body) >= room or not more:
                    await send({"type": "http.response.body", "body": body[:max(0, room)], "more_body": True})
                    raise ConnectionReset("emulated connection reset")
                sent += len(body)
                await send(message)
                return
            for i in range(0, len(body), self.step):
                await send({"type": "http.response.body", "body": body[i:i + self.step], "more_body": True})
                if self.sleep is not None:
                    await self.sleep(self.interval)
            if not more:
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        await self.inner(scope, receive, relay)  # type: ignore[arg-type]


def _provider_class(kind: str) -> type[ProviderEmulator]:
    import importlib
    module = importlib.import_module(f"rectui.emulator.{kind}")
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, ProviderEmulator) and value.kind == kind:
            return value
    raise LookupError(f"no emulator for provider {kind!r}")


def _origin(url: httpx.URL) -> str:
    port = url.port or {"http": 80, "https": 443}.get(url.scheme, 0)
    return f"{url.scheme}://{url.host}:{port}"


class _OriginRouter(httpx.AsyncBaseTransport):
    """An httpx transport dispatching requests to in-process apps by origin."""

    def __init__(self, routes: dict[str, httpx.AsyncBaseTransport]) -> None:
        self._routes = {_origin(httpx.URL(k)): v for k, v in routes.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._routes.get(_origin(request.url))
        if transport is None:
            raise httpx.ConnectError(f"no emulator origin at {request.url.host}", request=request)
        try:
            return await transport.handle_async_request(request)
        except ConnectionReset:
            # What a client sees over a socket when the server drops the connection mid-body.
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body "
                                            "(emulated reset)", request=request) from None

    async def aclose(self) -> None:
        for t in self._routes.values():
            await t.aclose()
