"""Humanised, terminal-safe text for the widgets: times, durations, sizes, counts, ranges.

Every function returns plain `str`; widgets wrap them (and any server text) in `Text`/`Content`,
never in markup.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from rich.cells import cell_len

from rectui.models import Recording

DASH = "—"
ELLIPSIS = "…"


def duration(seconds: float | None) -> str:
    """`0:07`, `7:58`, `1:02:03`; `—` when unknown."""
    if seconds is None:
        return DASH
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def size(n: int | None) -> str:
    """`812 B`, `7.3 MB`; `—` when unknown."""
    if n is None:
        return DASH
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover


def count(n: int) -> str:
    return f"{n:,}"


def when(value: datetime | None, tz: tzinfo | None, *, seconds: bool = False) -> str:
    """A start time in the user's time zone (`tz`, or the system's when None)."""
    if value is None:
        return DASH
    local = value.astimezone(tz)
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def ago(then: datetime | None, now: float) -> str:
    """`3 min ago`, `2 days ago`, `in 5 min` from the injected clock's `now`."""
    if then is None:
        return ""
    delta = now - then.timestamp()
    future = delta < 0
    delta = abs(delta)
    steps = ((60, "s", 1), (3600, "min", 60), (86400, "h", 3600), (86400 * 60, "day", 86400),
             (86400 * 730, "month", 86400 * 30))
    amount, unit = int(delta // (86400 * 365)), "year"
    for limit, name, div in steps:
        if delta < limit:
            amount, unit = int(delta // div), name
            break
    if unit in ("day", "month", "year") and amount != 1:
        unit += "s"
    return f"in {amount} {unit}" if future else f"{amount} {unit} ago"


def countdown(seconds: float) -> str:
    """`12s`, `3m05s`, `2h10m` for a wait."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s // 60 % 60:02d}m"


def page_range(offset: int, shown: int, total: int | None) -> str:
    """"51–100 of 2,345" where the total is exact, "51–100 of many" where it is not."""
    of = count(total) if total is not None else "many"
    if shown == 0:
        return f"0 of {of}" if total is not None else "no rows"
    return f"{count(offset + 1)}–{count(offset + shown)} of {of}"


def fit(text: str, width: int) -> str:
    """`text` cut to `width` terminal cells, ending in `…` when cut."""
    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = cell_len(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + ELLIPSIS


def pad(text: str, width: int) -> str:
    """`text` fitted and padded with spaces to exactly `width` cells."""
    text = fit(text, width)
    return text + " " * (width - cell_len(text))


def who(rec: Recording) -> str:
    """The From/Owner column: the caller of an inbound call, else the owner, else any party."""
    if rec.direction == "inbound" and rec.caller:
        return rec.caller
    return rec.owner or rec.caller or rec.callee or ""


def title(rec: Recording) -> str:
    return rec.title or ""


def tags(rec: Recording) -> str:
    return ", ".join(sorted(rec.tags))
