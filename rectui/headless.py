"""Headless commands for scripts and SSH one-liners: `rectui ls`, and the store's `rectui export`,
`rectui journal` and `rectui tag` (`add_store_commands` / `run_store_command`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from rectui.config import load_config
from rectui.errors import ConfigError, ProviderError, Unsupported
from rectui.logs import redact, register_secret
from rectui.models import ListQuery, Recording, SortSpec
from rectui.providers import build_provider
from rectui.providers.merged import MergedProvider
from rectui.sanitize import one_line

SORT_KEYS = ("start", "duration", "title", "owner", "caller", "call_id", "size")
JSON_FIELDS = ("provider", "id", "start", "duration", "title", "caller", "callee", "owner", "direction",
               "status", "call_id", "tags", "size", "has_media", "viewer_url")


def parse_when(text: str, flag: str) -> datetime:
    """An ISO 8601 date or date-time; without a zone it is local time."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: expected a date like 2026-11-02 or 2026-11-02T14:00") from None
    if value.tzinfo is None:
        value = value.astimezone()   # local time zone
    return value.astimezone(UTC)


def parse_sort(text: str | None) -> SortSpec | None:
    if not text:
        return None
    key, _, direction = text.partition(":")
    if key not in SORT_KEYS or direction not in ("", "asc", "desc"):
        raise ConfigError(f"--sort {text!r}: expected FIELD[:asc|desc] with FIELD one of {', '.join(SORT_KEYS)}")
    return SortSpec(key=key, descending=direction != "asc")  # type: ignore[arg-type]


def _sort_value(rec: Recording, key: str) -> Any:
    value = {"start": rec.start, "duration": rec.duration, "title": rec.title.casefold(), "owner": rec.owner,
             "caller": rec.caller, "call_id": rec.call_id, "size": rec.size}[key]
    return (value is None, value if value is not None else 0)


def as_json(rec: Recording) -> str:
    data = rec.model_dump(include=set(JSON_FIELDS), mode="json")
    data["tags"] = sorted(rec.tags)
    return json.dumps({k: data.get(k) for k in JSON_FIELDS}, ensure_ascii=False)


def _cell(text: str | None, width: int) -> str:
    text = one_line(text or "", limit=None)
    return text if len(text) <= width else text[: width - 1] + "…"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


def print_table(rows: list[Recording], out: TextIO) -> None:
    out.write(f"{'PROVIDER':<12} {'DATE':<16} {'DURATION':>8}  {'OWNER/FROM':<24} {'TITLE':<40} STATUS\n")
    for r in rows:
        when = r.start.astimezone().strftime("%Y-%m-%d %H:%M") if r.start else "—"
        who = r.owner or r.caller or ""
        out.write(f"{_cell(r.provider, 12):<12} {when:<16} {_duration(r.duration):>8}  {_cell(who, 24):<24} "
                  f"{_cell(r.title, 40):<40} {r.status}\n")


async def cmd_ls(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    loaded, names = _configured(args.provider)
    if not names:
        raise ConfigError(f"{loaded.path}: no providers configured; try `rectui emulate --write-config FILE`")
    sort = parse_sort(args.sort)
    since = parse_when(args.since, "--since") if args.since else None
    until = parse_when(args.until, "--until") if args.until else None
    providers = [build_provider(n, loaded.providers[n]) for n in names]
    target: Any = providers[0] if len(providers) == 1 else MergedProvider(providers, grace=None)  # complete, not fast
    local_sort = sort is not None and (sort.key, sort.descending) != ("start", True) and (
        sort.key not in target.capabilities.server_sort)
    query = ListQuery(since=since, until=until, sort=None if local_sort else sort,
                      page_size=max(1, min(args.limit, target.capabilities.max_page_size)))
    rows: list[Recording] = []
    status = 0
    try:
        cursor = None
        while len(rows) < args.limit:
            page = await target.list_recordings(query, cursor)
            rows.extend(page.items[: args.limit - len(rows)])
            for pid, err in page.failures.items():
                print(f"rectui ls: {pid}: {redact(err.one_line())}", file=sys.stderr)
                status = 1
            if page.next is None:
                break
            cursor = page.next
    except Unsupported as exc:
        print(f"rectui ls: {redact(exc.message)}", file=sys.stderr)
        return 2
    except ProviderError as exc:
        print(f"rectui ls: {redact(exc.one_line())}", file=sys.stderr)
        return 1
    finally:
        await target.aclose()
    if local_sort and sort is not None:
        rows.sort(key=lambda r: _sort_value(r, sort.key), reverse=sort.descending)
        print(f"rectui ls: sorted by {sort.key} locally, over the {len(rows)} rows fetched", file=sys.stderr)
    if args.json:
        for rec in rows:
            out.write(as_json(rec) + "\n")
    else:
        print_table(rows, out)
    return status


# -- store commands: export, journal, tag ----------------------------------------------------------

STORE_COMMANDS = ("export", "journal", "tag")
EXPORT_FIELDS = ("provider", "id", "start", "duration", "title", "caller", "callee", "owner", "direction", "status",
                 "call_id", "size", "has_media", "viewer_url", "server_tags", "local_tags")
_PHONE_OR_NUMBER = re.compile(r"[+-]?[0-9 ().-]*")


def add_store_commands(subparsers: Any) -> None:
    """`rectui export`, `rectui journal` and `rectui tag` (deleting stays interactive)."""
    ex = subparsers.add_parser("export", help="write every recording's metadata and tags as CSV or JSON")
    ex.add_argument("provider", nargs="?", default="all", help="a configured provider name, or `all`")
    ex.add_argument("--format", choices=("csv", "json", "jsonl"), default="csv",
                    help="csv (default), json (one array) or jsonl (one object per line)")
    ex.add_argument("--out", metavar="FILE", type=Path, help="write to FILE (replaced only when complete)")
    ex.add_argument("--cached", action="store_true",
                    help="from the local cache of the last listing, without asking the providers")
    jr = subparsers.add_parser("journal", help="the local journal of deletes, restores, tag changes and renames")
    jr.add_argument("--pending", action="store_true", help="only entries whose outcome is not known yet")
    jr.add_argument("--provider", metavar="NAME", help="only this provider's entries")
    jr.add_argument("--limit", type=int, default=50, metavar="N", help="the newest N entries (default 50; 0: all)")
    jr.add_argument("--json", action="store_true", help="one JSON object per line")
    jr.add_argument("--reconcile", action="store_true",
                    help="first check open entries left by a rectui that stopped, against the providers")
    tg = subparsers.add_parser("tag", help="add or remove tags (on the server where the provider keeps tags)")
    tg.add_argument("provider", help="a configured provider name")
    tg.add_argument("id", help="the recording id")
    tg.add_argument("--add", action="append", default=[], metavar="TAG", help="a tag to add (repeatable)")
    tg.add_argument("--remove", action="append", default=[], metavar="TAG", help="a tag to remove (repeatable)")


async def run_store_command(args: argparse.Namespace) -> int:
    """Dispatch `export`, `journal` and `tag`; returns the exit status."""
    if args.command == "export":
        return await cmd_export(args)
    if args.command == "journal":
        return await cmd_journal(args)
    if args.command == "tag":
        return await cmd_tag(args)
    raise ValueError(f"not a store command: {args.command!r}")


def _configured(name: str | None) -> tuple[Any, list[str]]:
    """The loaded config and the provider names asked for (`all` or None: every one)."""
    loaded = load_config()
    for secret in loaded.secret_values():
        register_secret(secret)
    names = list(loaded.providers) if name in (None, "all") else [name]
    for n in names:
        if n in loaded.errors:
            raise ConfigError(loaded.errors[n].message)
        if n not in loaded.providers:
            known = ", ".join(loaded.providers) or "none configured"
            raise ConfigError(f"no provider named {n!r} (configured: {known})")
    return loaded, names


def _open_store(what: str) -> Any:
    """The local store, or None with a note on stderr (the command goes on without it)."""
    from rectui.store import Store, StoreError
    try:
        store = Store()
    except StoreError as exc:
        print(f"rectui {what}: {exc.message}", file=sys.stderr)
        return None
    if store.notice:
        print(f"rectui {what}: {store.notice}", file=sys.stderr)
    return store


def _csv_cell(value: str) -> str:
    """A text cell a spreadsheet will not run: `=`, `@`, `+`, `-`, TAB, CR at the start get a `'`
    (OWASP CSV injection), except plain numbers and phone numbers."""
    if value and (value[0] in "=@\t\r" or (value[0] in "+-" and not _PHONE_OR_NUMBER.fullmatch(value))):
        return "'" + value
    return value


class ExportWriter:
    """Writes rows as they come (CSV, a JSON array, or JSON lines): nothing is held."""

    def __init__(self, out: TextIO, fmt: str) -> None:
        import csv
        self.out, self.fmt, self.count = out, fmt, 0
        self._csv = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writerow(EXPORT_FIELDS)
        elif fmt == "json":
            out.write("[")

    def row(self, rec: Recording, local: frozenset[str]) -> None:
        # Straight from the attributes (model_dump costs ~10× more per row at 100k rows).
        values = (rec.provider, rec.id, rec.start.isoformat() if rec.start else None, rec.duration, rec.title,
                  rec.caller, rec.callee, rec.owner, rec.direction, rec.status, rec.call_id, rec.size, rec.has_media,
                  rec.viewer_url, sorted(rec.tags), sorted(local))
        if self._csv is not None:
            self._csv.writerow([_csv_cell(";".join(v)) if isinstance(v, list) else _csv_cell(v) if isinstance(v, str)
                                else "" if v is None else v for v in values])
        else:
            text = json.dumps(dict(zip(EXPORT_FIELDS, values, strict=True)), ensure_ascii=False)
            if self.fmt == "json":
                self.out.write(("\n" if self.count == 0 else ",\n") + text)
            else:
                self.out.write(text + "\n")
        self.count += 1

    def close(self) -> None:
        if self.fmt == "json":
            self.out.write("\n]\n" if self.count else "]\n")


async def export_rows(pages: Any, writer: ExportWriter, store: Any, provider: str) -> int:
    """Write every page of `pages` (an async or plain iterable of lists of recordings) with the
    local tags from `store`; returns the rows written."""
    from rectui.store import StoreError
    n = 0

    async def each() -> Any:
        if hasattr(pages, "__aiter__"):
            async for page in pages:
                yield page
        else:
            for page in pages:
                yield page

    async for page in each():
        local: dict[str, Any] = {}
        if store is not None and page:
            try:
                local = store.tags_for_many(provider, [r.id for r in page])
            except StoreError as exc:
                print(f"rectui export: local tags left out: {exc.message}", file=sys.stderr)
                store = None
        for rec in page:
            tags = local.get(rec.id)
            writer.row(rec, tags.local if tags is not None else frozenset())
            n += 1
    return n


async def _live_pages(provider: Any) -> Any:
    cursor = None
    query = ListQuery(page_size=provider.capabilities.max_page_size)
    while True:
        page = await provider.list_recordings(query, cursor)
        yield list(page.items)
        if page.next is None:
            return
        cursor = page.next


async def cmd_export(args: argparse.Namespace, out: TextIO | None = None) -> int:
    loaded, names = _configured(args.provider)
    if not names:
        raise ConfigError(f"{loaded.path}: no providers configured; try `rectui emulate --write-config FILE`")
    store = _open_store("export")
    status = 0
    target, tmp = _export_target(args, out)
    count = 0
    try:
        writer = ExportWriter(target, args.format)
        for name in names:
            if args.cached:
                if store is None:
                    raise ConfigError("--cached needs the local store, which cannot be opened")
                await export_rows(store.iter_cached(name), writer, store, name)
                continue
            provider = build_provider(name, loaded.providers[name])
            try:
                await export_rows(_live_pages(provider), writer, store, name)
            except ProviderError as exc:
                print(f"rectui export: {name}: {redact(exc.one_line())}; its rows are incomplete", file=sys.stderr)
                status = 1
            finally:
                await provider.aclose()
        writer.close()
        count = writer.count
        target.flush()
        if tmp is not None:
            os.fsync(target.fileno())
            target.close()
            os.replace(tmp, args.out)
            tmp = None
    except OSError as exc:
        where = args.out if args.out is not None else "the output"
        print(f"rectui export: cannot write {where}: {exc.strerror or exc}; nothing was kept", file=sys.stderr)
        return 1
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                target.close()           # may fail again flushing what the disk refused
            tmp.unlink(missing_ok=True)
        if store is not None:
            store.close()
    print(f"rectui export: {count} recording(s)" + (f" to {args.out}" if args.out else ""), file=sys.stderr)
    return status


def _export_target(args: argparse.Namespace, out: TextIO | None) -> tuple[TextIO, Path | None]:
    """stdout (or `out`), or a new temporary file beside `--out` that replaces it when complete."""
    if args.out is None:
        return out or sys.stdout, None
    from rectui.mediafiles import temp_path
    dest = Path(args.out)
    tmp = temp_path(dest)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as exc:
        raise ConfigError(f"--out {dest}: cannot create a file there ({exc.strerror or exc})") from None
    return os.fdopen(fd, "w", encoding="utf-8", newline=""), tmp


async def cmd_journal(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    from rectui.store import Store
    store = Store()
    try:
        if store.notice:
            print(f"rectui journal: {store.notice}", file=sys.stderr)
        if args.reconcile:
            await _reconcile(store, out)
        entries = store.journal(limit=args.limit or None, open_only=args.pending, provider=args.provider)
        for e in entries if args.json else ():
            out.write(json.dumps({"id": e.id, "at": datetime.fromtimestamp(e.created_at, UTC).isoformat(),
                                  "updated": datetime.fromtimestamp(e.updated_at, UTC).isoformat(),
                                  "provider": e.provider, "recording_id": e.recording_id, "title": e.title,
                                  "op": e.op, "request": e.request, "outcome": e.outcome, "message": e.message,
                                  "attempts": e.attempts, "batch": e.batch}, ensure_ascii=False) + "\n")
        if not args.json:
            out.write(f"{'WHEN':<19} {'PROVIDER':<12} {'OP':<7} {'OUTCOME':<24} {'RECORDING':<24} {'TITLE':<30} "
                      "MESSAGE\n")
            for e in reversed(entries):
                when = datetime.fromtimestamp(e.updated_at).strftime("%Y-%m-%d %H:%M:%S")
                out.write(f"{when:<19} {_cell(e.provider, 12):<12} {e.op:<7} {e.outcome:<24} "
                          f"{_cell(e.recording_id, 24):<24} {_cell(e.title, 30):<30} {_cell(e.message, 80)}\n")
    finally:
        store.close()
    return 0


async def _reconcile(store: Any, out: TextIO) -> None:
    opened = store.open_intents()
    if not opened:
        out.write("nothing to reconcile\n")
        return
    loaded = load_config()
    for secret in loaded.secret_values():
        register_secret(secret)
    wanted = {e.provider for e in opened if e.outcome == "pending"} & set(loaded.providers)
    providers = {n: build_provider(n, loaded.providers[n]) for n in wanted}
    try:
        results = await store.reconcile(providers)
    finally:
        for p in providers.values():
            await p.aclose()
    for r in results:
        verdict = r.outcome or "still open"
        out.write(f"reconciled: {r.entry.provider} {r.entry.op} {_cell(r.entry.recording_id, 40)}: {verdict} "
                  f"({r.message})\n")


async def cmd_tag(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    from rectui.errors import InvalidId, RectuiError
    from rectui.operations import Operations, Target
    from rectui.store import StoreError
    if args.provider == "all":
        raise ConfigError("rectui tag needs one provider name, not `all`")
    loaded, (name,) = _configured(args.provider)
    read_only = bool(getattr(args, "read_only", False) or loaded.settings.ui.read_only)
    provider = build_provider(name, loaded.providers[name])
    store = None
    try:
        if hasattr(provider, "id_is_safe") and not provider.id_is_safe(args.id):
            err = InvalidId(f"refusing recording id {one_line(args.id, limit=80)!r}: it does not look like a "
                            f"{provider.kind} id; nothing was changed", provider=name)
            print(f"rectui tag: {err.message}", file=sys.stderr)
            return 2
        store = _open_store("tag")
        if not args.add and not args.remove:
            tags = store.tags_for(name, args.id) if store is not None else None
            local = sorted(tags.local) if tags else []
            server = sorted(tags.server) if tags else []
            out.write(f"{name} {args.id}: local: {', '.join(local) or '-'}; server (last seen): "
                      f"{', '.join(server) or '-'}\n")
            return 0
        ops = Operations([provider], store, read_only=read_only)
        try:
            batch = await ops.tag([Target(name, args.id)], add=args.add, remove=args.remove)
        except RectuiError as exc:
            print(f"rectui tag: {redact(exc.message)}", file=sys.stderr)
            return 1
        (result,) = batch.results
        if not result.ok:
            print(f"rectui tag: {name} {args.id}: {result.outcome}: {redact(result.message)}", file=sys.stderr)
            return 1
        tags = result.tags
        shown = ", ".join(sorted(tags.all)) if tags else ""
        where = {"server": f"on {provider.display_name}", "local": "local tags",
                 "local-fallback": "local tags (the server refused tags)"}.get(result.tags_where or "", "")
        out.write(f"{name} {args.id}: {shown or '(no tags)'} · {where}\n")
        return 0
    except StoreError as exc:
        print(f"rectui tag: {exc.message}", file=sys.stderr)
        return 1
    finally:
        if store is not None:
            store.close()
        await provider.aclose()
