"""Serve an `Emulator` with uvicorn on loopback: the API, login and media apps each on a port of
their own (three origins), in a background thread or in the foreground."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from dataclasses import dataclass

import uvicorn

from rectui.emulator.app import Emulator


class RemoteBindRefused(ValueError):
    """Binding a non-loopback address without `allow_remote`."""


@dataclass(frozen=True)
class Bound:
    api: str
    login: str
    media: str


def _check_host(host: str, allow_remote: bool) -> None:
    try:
        loop = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loop = host == "localhost"
    if not loop and not allow_remote:
        raise RemoteBindRefused(f"refusing to serve the emulator on {host}: it has demo credentials "
                                "and fault switches; pass --allow-remote to do it anyway")


def _socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this: without it a response written as headers + body waits for
    # the client's delayed ACK (~40 ms per request on Linux loopback, measured).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _url(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class EmulatorServer:
    """Binds three sockets at once (so the URLs are known before serving) and serves them."""

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0, *,
                 allow_remote: bool = False, log_level: str = "warning") -> None:
        _check_host(host, allow_remote)
        self.emulator = emulator
        self._socks = {name: _socket(host, port if name == "api" else 0)
                       for name in ("api", "login", "media")}
        self.bound = Bound(**{name: _url(host, s) for name, s in self._socks.items()})
        emulator.set_urls(api=self.bound.api, login=self.bound.login, media=self.bound.media)
        apps = {"api": emulator.api_app, "login": emulator.login_app, "media": emulator.media_app}
        self._servers = {
            name: uvicorn.Server(uvicorn.Config(apps[name], log_level=log_level, access_log=False,
                                                lifespan="off", timeout_graceful_shutdown=1))
            for name in apps
        }
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    async def serve(self) -> None:
        tasks = [asyncio.create_task(srv.serve(sockets=[self._socks[name]]))
                 for name, srv in self._servers.items()]
        while not all(s.started for s in self._servers.values()):  # noqa: ASYNC110 (uvicorn has no event)
            await asyncio.sleep(0.01)
        self._started.set()
        await asyncio.gather(*tasks)

    def start(self, timeout: float = 10.0) -> Bound:
        """Serve in a daemon thread; returns once all three listeners accept connections."""
        self._thread = threading.Thread(target=lambda: asyncio.run(self.serve()), name="rectui-emulator",
                                        daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise RuntimeError("the emulator did not start in time")
        return self.bound

    def stop(self) -> None:
        for srv in self._servers.values():
            srv.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
