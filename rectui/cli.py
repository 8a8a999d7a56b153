"""`rectui` command line: the app, the demo, the emulator, and config helpers."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rectui import __version__
from rectui.errors import ConfigError, RectuiError

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rectui",
        description="A keyboard-driven terminal explorer for call and meeting recordings.",
        epilog="`rectui emulate` serves a local emulator of all five providers (no account needed).",
    )
    parser.add_argument("--version", action="version", version=f"rectui {__version__}")
    parser.add_argument("--config", metavar="FILE", type=Path,
                        help="config file (default: $RECTUI_CONFIG or the user config dir; see `rectui config path`)")
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        type=str.upper, help="log to the user log dir at this level (never to the terminal)")
    parser.add_argument("--read-only", action="store_true", help="disable delete, tag and rename everywhere")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the app against the built-in emulator of all five providers")
    demo.add_argument("--hostile", action="store_true",
                      help="include a small share of hostile values (markup, escapes, odd ids) in the data")

    em = sub.add_parser("emulate", help="serve the built-in emulator of all five providers' APIs on loopback")
    em.add_argument("--host", default="127.0.0.1", help="address to bind (loopback unless --allow-remote)")
    em.add_argument("--port", type=int, default=0, help="API port (0: any free port)")
    em.add_argument("--allow-remote", action="store_true", help="allow binding a non-loopback address")
    em.add_argument("--seed", type=int, default=1, help="data seed (same seed, same data)")
    em.add_argument("--count", type=int, default=2000, help="recordings per provider (up to 100000)")
    em.add_argument("--faults", default="", metavar="SPEC",
                    help='fault rules, e.g. "webex.list:status=503,count=2;kazoo.*:latency=0.5"')
    em.add_argument("--hostile", action="store_true", help="include a small share of hostile values")
    em.add_argument("--write-config", metavar="FILE", type=Path,
                    help="write a rectui config (mode 600) for the emulated providers")

    cfg = sub.add_parser("config", help="where the config lives, and whether it works")
    cfg_sub = cfg.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    cfg_sub.add_parser("path", help="print the config file's path")
    cfg_sub.add_parser("check", help="validate the config and try each provider's credentials")

    ls = sub.add_parser("ls", help="list recordings without the UI (a table, or JSON lines)")
    ls.add_argument("provider", nargs="?", default="all", help="a configured provider name, or `all`")
    ls.add_argument("--since", metavar="DATE", help="only recordings from this date/time (ISO 8601)")
    ls.add_argument("--until", metavar="DATE", help="only recordings before this date/time (ISO 8601)")
    ls.add_argument("--sort", metavar="FIELD[:asc|desc]",
                    help="start, duration, title, owner, caller, call_id or size (server-side where possible)")
    ls.add_argument("--limit", type=int, default=50, metavar="N", help="at most N recordings (default 50)")
    ls.add_argument("--json", action="store_true", help="one JSON object per line, stable field names")

    from rectui.headless import add_store_commands
    add_store_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config is not None:
        os.environ["RECTUI_CONFIG"] = str(args.config)
    try:
        if args.command in ("demo", "emulate", "ls", "export", "journal", "tag", None) \
                or getattr(args, "config_command", None) == "check":
            from rectui.logs import setup_logging
            setup_logging(args.log_level)
        if args.command == "config":
            return cmd_config(args)
        if args.command == "emulate":
            return cmd_emulate(args)
        if args.command == "demo":
            return cmd_demo(args)
        if args.command == "ls":
            from rectui.headless import cmd_ls
            return asyncio.run(cmd_ls(args))
        if args.command in ("export", "journal", "tag"):
            from rectui.headless import run_store_command
            return asyncio.run(run_store_command(args))
        from rectui.app import app_from_config
        app_from_config(read_only=args.read_only).run()
        return EXIT_OK
    except ConfigError as exc:
        print(f"rectui: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except RectuiError as exc:
        from rectui.logs import redact
        print(f"rectui: {redact(exc.one_line())}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        return 130


def cmd_config(args: argparse.Namespace) -> int:
    from rectui.paths import config_path
    path = config_path()
    if args.config_command == "path":
        print(path)
        return EXIT_OK
    return asyncio.run(config_check(path))


async def config_check(path: Path) -> int:
    from rectui.config import load_config, mask
    from rectui.logs import redact, register_secret
    from rectui.providers import adapter_class

    loaded = load_config(path)
    for secret in loaded.secret_values():
        register_secret(secret)
    if not loaded.exists:
        print(f"{path}: no config file. Run `rectui demo` to try rectui, or see the README for a config example.")
        return EXIT_FAIL
    print(f"{path}: readable, valid TOML")
    for warning in loaded.warnings:
        print(f"  note: {warning}")
    status = EXIT_OK
    for name, err in loaded.errors.items():
        print(f"✕ {name}: {err.message}")
        status = EXIT_FAIL
    for name, prov in loaded.providers.items():
        secrets = ", ".join(f"{k} {mask(getattr(prov, k))} from {loaded.secret_sources.get((name, k), '-')}"
                            for k in prov.SECRETS if getattr(prov, k, None) is not None)
        print(f"• {name} ({prov.kind}) {prov.base_url}  {secrets}")
        cls = adapter_class(prov.kind)
        if cls is None:
            print("    not checked: this provider's adapter is not available yet")
            continue
        adapter = cls(name, prov)
        try:
            await adapter.check()
            print("    ok")
            if note := getattr(adapter, "check_note", None):
                print(f"    note: {note}")
        except RectuiError as exc:
            verdict = {"AuthError": "auth error", "Unavailable": "unreachable"}.get(type(exc).__name__, exc.title)
            print(f"    {verdict}: {redact(exc.message)}")
            status = EXIT_FAIL
        finally:
            await adapter.aclose()
    return status


def _emulator_from_args(args: argparse.Namespace, hostile: bool) -> object:
    from rectui.emulator.app import Emulator, EmulatorConfig
    if not 0 < args.count <= 100_000:
        raise ConfigError("--count must be between 1 and 100000")
    return Emulator(EmulatorConfig(seed=args.seed, count=args.count, hostile=hostile, faults=args.faults))


def cmd_emulate(args: argparse.Namespace) -> int:
    from rectui.emulator.faults import FaultSpecError
    from rectui.emulator.server import EmulatorServer, RemoteBindRefused
    try:
        emu = _emulator_from_args(args, args.hostile)
        server = EmulatorServer(emu, args.host, args.port, allow_remote=args.allow_remote)  # type: ignore[arg-type]
    except (FaultSpecError, RemoteBindRefused) as exc:
        print(f"rectui emulate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"rectui emulate: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAIL
    bound = server.start()
    emu.warm_media()  # type: ignore[attr-defined]
    print(f"rectui emulator: {args.count} recordings per provider, seed {args.seed}"
          + (", hostile values on" if args.hostile else ""))
    print(f"  API origin   {bound.api}\n  login origin {bound.login}\n  media origin {bound.media}")
    for kind, prov in emu.providers.items():  # type: ignore[attr-defined]
        entry = prov.config_entry()
        creds = ", ".join(f"{k}={v}" for k, v in prov.credentials().items())
        print(f"  {kind:<10} {entry.get('base_url')}  {creds}")
    if args.write_config:
        from rectui.config import write_config
        write_config(args.write_config, emulator_config(emu))
        print(f"  wrote {args.write_config} (mode 600); use: rectui --config {args.write_config}")
    print("Press Ctrl+C to stop.", flush=True)
    import signal
    import threading
    stop = threading.Event()
    # SIGTERM stops it too: a shell starts background jobs with SIGINT ignored, and supervisors
    # (and the tests) stop programs with SIGTERM.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return EXIT_OK


def emulator_config(emu: object) -> dict[str, object]:
    """A complete rectui config for an emulator's providers (instance name = kind)."""
    providers = {kind: prov.config_entry() for kind, prov in emu.providers.items()}  # type: ignore[attr-defined]
    return {"providers": providers}


WARM_MEDIA_AFTER = 0.0
"""Seconds after `rectui demo` starts before the emulator builds its audio blocks (in a daemon
thread, ~0.3–0.9 s of work that competes with the first frame); 0: at once, None: never."""


@contextmanager
def demo_session(*, hostile: bool = False, read_only: bool = False,
                 warm_after: float | None = WARM_MEDIA_AFTER) -> Iterator[Any]:
    """The emulator of all five providers on loopback (in a background thread), and the app on
    it, not yet running; the emulator stops on leaving. `rectui demo` and the launch benchmark
    both start the demo through here."""
    import threading

    from rectui.app import DEMO_STORE, demo_providers, make_app, open_store
    from rectui.emulator.app import Emulator, EmulatorConfig
    from rectui.emulator.server import EmulatorServer
    from rectui.messages import EventRelay

    emu = Emulator(EmulatorConfig(hostile=hostile))
    # uvicorn logs to stderr, where the app draws: a request the app cancels (a newer page
    # superseding it) would print "Exception in ASGI application" over the screen.
    server = EmulatorServer(emu, log_level="critical")
    warm: threading.Timer | None = None
    try:
        server.start()
        if warm_after == 0:
            emu.warm_media()
        elif warm_after is not None:
            warm = threading.Timer(warm_after, emu.warm_media)
            warm.daemon = True
            warm.start()
        relay = EventRelay()
        providers, errors = demo_providers(emu, relay=relay)
        store, problem = open_store(DEMO_STORE)      # the demo's journal, never the user's
        yield make_app(providers, config_errors=errors, read_only=read_only, relay=relay, store=store,
                       store_problem=problem)
    finally:
        if warm is not None:
            warm.cancel()
        server.stop()


def cmd_demo(args: argparse.Namespace) -> int:
    """The emulator of all five providers on loopback (in a background thread) and the app on it."""
    with demo_session(hostile=args.hostile, read_only=args.read_only) as app:
        app.run()
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
