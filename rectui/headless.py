"""Headless commands for scripts and SSH one-liners (`rectui ls`)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
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
    loaded = load_config()
    for secret in loaded.secret_values():
        register_secret(secret)
    if args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    names = list(loaded.providers) if args.provider == "all" else [args.provider]
    for name in names:
        if name in loaded.errors:
            raise ConfigError(loaded.errors[name].message)
        if name not in loaded.providers:
            known = ", ".join(loaded.providers) or "none configured"
            raise ConfigError(f"no provider named {name!r} (configured: {known})")
    if not names:
        raise ConfigError(f"{loaded.path}: no providers configured; try `rectui emulate --write-config FILE`")
    sort = parse_sort(args.sort)
    since = parse_when(args.since, "--since") if args.since else None
    until = parse_when(args.until, "--until") if args.until else None
    providers = [build_provider(n, loaded.providers[n]) for n in names]
    target: Any = providers[0] if len(providers) == 1 else MergedProvider(providers)
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
