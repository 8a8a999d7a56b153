"""Test-wide set-up: keep the developer's config, keyring, sound card and colours out."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from support import ANCHOR, FakeClock

from rectui.emulator.app import Emulator, EmulatorConfig

HERE = Path(__file__).parent

# Snapshots need colour; the ALSA test config replaces the system one (silent, checkable playback).
os.environ.pop("NO_COLOR", None)
os.environ["ALSA_CONFIG_PATH"] = str(HERE / "alsa" / "capture.conf")
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"


@pytest.fixture(autouse=True)
def tmp_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """XDG config/data/cache/state dirs inside tmp_path; no RECTUI_* variable leaks in."""
    for var in list(os.environ):
        if var.startswith("RECTUI_"):
            monkeypatch.delenv(var)
    root = tmp_path / "xdg"
    for name in ("CONFIG", "DATA", "CACHE", "STATE"):
        d = root / name.lower()
        d.mkdir(parents=True)
        monkeypatch.setenv(f"XDG_{name}_HOME", str(d))
    yield root
    from rectui.logs import teardown_logging
    teardown_logging()


class LoopbackServer:
    """An ASGI app served by uvicorn on 127.0.0.1 (port 0) in a daemon thread."""

    def __init__(self, app: object) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)   # no 40 ms delayed-ACK stalls
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.setblocking(False)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="off",  # type: ignore[arg-type]
                                                    access_log=False, timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])),
                                       daemon=True)

    def start(self) -> LoopbackServer:
        self.thread.start()
        ready = threading.Event()

        def wait() -> None:
            while not self.server.started:
                threading.Event().wait(0.01)
            ready.set()

        threading.Thread(target=wait, daemon=True).start()
        if not ready.wait(10):
            raise RuntimeError("test server did not start")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


@pytest.fixture
def utc() -> Iterator[None]:
    """TZ=UTC for the test (dates on screen and in snapshots do not depend on the machine)."""
    import time
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.fixture
def serve_app() -> Iterator[Callable[[object], LoopbackServer]]:
    """`serve_app(asgi_app)` → a started LoopbackServer with `.url`; stopped after the test."""
    servers: list[LoopbackServer] = []

    def start(app: object) -> LoopbackServer:
        srv = LoopbackServer(app).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening (connections are refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="session")
def media_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One rendered-audio cache for the whole run (rendering is the slow part)."""
    return tmp_path_factory.mktemp("emulator-media")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(ANCHOR.timestamp() + 3600)


@pytest.fixture
def make_emulator(media_cache: Path, clock: FakeClock) -> Callable[..., Emulator]:
    """`make_emulator(providers=("kazoo",), count=50, hostile=False, faults="...")`."""

    def make(**kwargs: Any) -> Emulator:
        kwargs.setdefault("anchor", ANCHOR)
        kwargs.setdefault("media_cache_dir", media_cache)
        return Emulator(EmulatorConfig(**kwargs), clock=clock)

    return make


@pytest.fixture
def actions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every action the app runs by name, and any attempt to quit (what `@click` markup in server
    text would do if it were ever interpreted)."""
    from rectui.app import RectuiApp

    ran: list[str] = []
    original = RectuiApp.run_action

    async def spy(self: RectuiApp, action: str, *args: object, **kwargs: object) -> bool:
        ran.append(str(action))
        return await original(self, action, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(RectuiApp, "run_action", spy)
    monkeypatch.setattr(RectuiApp, "action_quit", lambda self: ran.append("QUIT"))
    return ran
