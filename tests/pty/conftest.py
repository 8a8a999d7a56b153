"""`pty_run`: a command under a real pseudo-terminal, keys typed at it, every byte it writes kept;
and what the pty tests share (import them with `from .conftest import …`): `ROOT`, `LINUX`,
`app_env` (the environment the app runs in) and `control` (the demo's emulator fault route).

What Textual's own test harness cannot show is what reaches the terminal: `PtyApp` starts the
program on a fresh pty of a fixed size (`TIOCSWINSZ`), in its own session, reads the master side
in a thread into one growing buffer, and paces the keys by watching that buffer (for a given
text to be drawn, or for it to stay quiet a moment), never by fixed sleeps: deadlines are only
there to stop a stuck run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
"""The repository: the app runs from here (`python -m rectui`)."""
LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"),
                           reason="finds the demo's emulator ports in /proc (Linux)")

KEYS: dict[str, bytes] = {
    "up": b"\x1b[A", "down": b"\x1b[B", "right": b"\x1b[C", "left": b"\x1b[D",
    "home": b"\x1b[H", "end": b"\x1b[F", "enter": b"\r", "tab": b"\t", "escape": b"\x1b",
    "backspace": b"\x7f", "ctrl+p": b"\x10", "space": b" ", "shift+tab": b"\x1b[Z",
}

# What a terminal would take as a control sequence rather than text (for the visible-text view).
_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"                   # CSI
    r"|\x1b[\]P_^X][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC, DCS, APC, PM, SOS
    r"|\x1b[ -/]*[0-~]"                           # other two-character escapes
)


class PtyApp:
    """One program on a pty: `press` keys, `settle`, `wait_for` text, `finish`."""

    def __init__(self, argv: Sequence[str], *, cols: int, rows: int, env: Mapping[str, str],
                 cwd: Path | None = None) -> None:
        self.master, slave = os.openpty()
        self._set_size(slave, cols, rows)
        self.proc = subprocess.Popen(list(argv), stdin=slave, stdout=slave, stderr=slave, env=dict(env),
                                     cwd=cwd, start_new_session=True, close_fds=True)
        os.close(slave)
        self.buf = bytearray()
        self._closed = False
        self._lock = threading.Lock()
        self._changed = time.monotonic()
        self._reader = threading.Thread(target=self._read, name="pty-reader", daemon=True)
        self._reader.start()

    @staticmethod
    def _set_size(fd: int, cols: int, rows: int) -> None:
        import fcntl
        import termios

        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def resize(self, cols: int, rows: int) -> None:
        """A new window size, as a terminal emulator sets it, and the SIGWINCH that tells the
        program (sent by hand: the pty is not the program's controlling terminal, so the kernel
        has no foreground process group to signal)."""
        self._set_size(self.master, cols, rows)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGWINCH)

    # -- reading ---------------------------------------------------------------------------------
    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:          # EIO: the child closed the terminal
                return
            if not chunk:
                return
            with self._lock:
                self.buf.extend(chunk)
                self._changed = time.monotonic()

    def output(self) -> bytes:
        with self._lock:
            return bytes(self.buf)

    def text(self) -> str:
        """All the output as text (see `decode`)."""
        return decode(self.output())

    def visible(self, since: int = 0, until: int | None = None) -> str:
        """The output from byte `since` (to `until`) as a person would read it (see `visible_text`)."""
        return visible_text(self.output()[since:until])

    def size(self) -> int:
        with self._lock:
            return len(self.buf)

    # -- waiting ---------------------------------------------------------------------------------
    def settle(self, quiet: float = 0.25, *, at_least: float = 0.0, deadline: float = 15.0) -> bool:
        """Wait until nothing was written for `quiet` seconds (and `at_least` seconds passed);
        False when `deadline` passed first (a screen that never stops redrawing)."""
        start = time.monotonic()
        while True:
            now = time.monotonic()
            with self._lock:
                idle = now - self._changed
            if idle >= quiet and now - start >= at_least:
                return True
            if now - start > deadline or self.proc.poll() is not None:
                return False
            time.sleep(0.02)

    def wait_for(self, needle: str | re.Pattern[str], *, since: int = 0, deadline: float = 30.0) -> bool:
        """Wait until `needle` (text or a pattern) shows as visible text in what was written after
        byte `since`; False after `deadline` seconds."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            seen = visible_text(self.output()[since:])
            if needle in seen if isinstance(needle, str) else needle.search(seen):
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    # -- typing ----------------------------------------------------------------------------------
    def press(self, *keys: str, quiet: float = 0.25, react: float = 1.0, settle: bool = True) -> None:
        """Type each key (a name from `KEYS`, else its characters); unless `settle` is off, wait for
        the app to answer it (up to `react` seconds: a key that changes nothing writes nothing),
        then for the screen to settle."""
        for key in keys:
            before = self.size()
            os.write(self.master, KEYS.get(key, key.encode()))
            if settle:
                self.wait_output(before, react)
                self.settle(quiet)

    def wait_output(self, since: int, deadline: float) -> bool:
        """Wait until something was written past byte `since` (False after `deadline` seconds)."""
        end = time.monotonic() + deadline
        while self.size() <= since:
            if time.monotonic() > end or self.proc.poll() is not None:
                return False
            time.sleep(0.01)
        return True

    def type_text(self, text: str, *, quiet: float = 0.25, react: float = 1.0) -> None:
        """Type `text` in one write (as a paste would arrive, but without bracketed paste), then
        wait for the app to answer and settle."""
        before = self.size()
        os.write(self.master, text.encode())
        self.wait_output(before, react)
        self.settle(quiet)

    # -- ending ----------------------------------------------------------------------------------
    def finish(self, timeout: float = 30.0) -> int:
        """The exit status once the program ended (terminated after `timeout`), all output read."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            try:
                code = self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill(signal.SIGKILL)
                code = self.proc.wait(10)
        self._reader.join(5)
        if not self._closed:
            self._closed = True
            with contextlib.suppress(OSError):
                os.close(self.master)
        return code

    def kill(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Signal the program's whole session (it was started in its own)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)

    # -- the program's sockets -------------------------------------------------------------------
    def listening_ports(self) -> list[int]:
        """TCP ports the program listens on, from /proc (Linux): its sockets' inodes matched
        against the LISTEN entries of its network namespace."""
        inodes = set()
        fd_dir = Path(f"/proc/{self.proc.pid}/fd")
        for fd in fd_dir.iterdir():
            with contextlib.suppress(OSError):
                link = os.readlink(fd)
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        ports = []
        for table in ("tcp", "tcp6"):
            path = Path(f"/proc/{self.proc.pid}/net/{table}")
            if not path.exists():
                continue
            for line in path.read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[3] == "0A" and fields[9] in inodes:
                    ports.append(int(fields[1].rsplit(":", 1)[1], 16))
        return sorted(set(ports))


def decode(data: bytes) -> str:
    """Terminal output as text; a stray byte (say a lone 0x9b) stays visible as a surrogate."""
    return data.decode("utf-8", "surrogateescape")


def visible_text(data: bytes) -> str:
    """What a person would read: the output without its control sequences (cursor moves between
    screen regions simply join the text around them)."""
    return _SEQUENCE.sub("", decode(data))


@pytest.fixture
def pty_run() -> Iterator[Callable[..., PtyApp]]:
    """`pty_run(argv, cols=, rows=, env=, cwd=)` starts a `PtyApp`; any still running at the end
    of the test is terminated (its whole session)."""
    if not hasattr(os, "openpty"):
        pytest.skip("no pseudo-terminals on this platform")
    pytest.importorskip("termios")
    pytest.importorskip("fcntl")
    started: list[PtyApp] = []

    def start(argv: Sequence[str], **kwargs: object) -> PtyApp:
        app = PtyApp(argv, **kwargs)  # type: ignore[arg-type]
        started.append(app)
        return app

    yield start
    for app in started:
        app.kill()
        app.finish(timeout=10)


# -- what the pty tests share ------------------------------------------------------------------------

def app_env(home: Path) -> dict[str, str]:
    """The test's environment (XDG dirs from `tmp_xdg`, no keyring, silent ALSA) plus a plain
    xterm, with `home` as HOME."""
    env = dict(os.environ)
    env.update(TERM="xterm-256color", HOME=str(home), LANG="C.UTF-8", PYTHONDONTWRITEBYTECODE="1")
    for var in ("COLORTERM", "NO_COLOR", "TEXTUAL", "TMUX", "PYTEST_CURRENT_TEST"):
        env.pop(var, None)
    return env


def control(app: Any, method: str, spec: str | None = None) -> bool:
    """Call the demo's emulator control route `/_emulator/faults` (POST a fault `spec`, DELETE to
    clear them): it answers loopback clients on any of its ports, found from the app's listening
    sockets. False when no port answered."""
    body = json.dumps({"spec": spec}).encode() if spec is not None else None
    for port in app.listening_ports():
        request = urllib.request.Request(f"http://127.0.0.1:{port}/_emulator/faults", data=body, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status == 200 and "rules" in json.load(response)
        except (OSError, ValueError):
            continue
    return False
