"""Server text is data: make it safe to put on a terminal, at ingestion, idempotently.

`clean()` replaces every character that could move the cursor, change the terminal's state or
reorder what is shown (C0 controls but TAB and LF, DEL, C1 controls, bidi overrides and isolates,
zero-width space, BOM, lone surrogates) with U+FFFD, visibly, instead of dropping it; it keeps
ZWJ/ZWNJ (emoji sequences and scripts need them) and caps absurd lengths. Markup safety is a
separate matter: the UI always renders server text as plain `Text`/`Content`, never as markup.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
ELLIPSIS = "…"
DEFAULT_LIMIT = 2000

_BAD = [*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0),
        *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200B, 0x200E, 0x200F, 0x061C, 0xFEFF]
_BAD_CLASS = "".join(f"\\u{cp:04x}" for cp in _BAD) + "\ud800-\udfff"
_UNSAFE = re.compile(f"[{_BAD_CLASS}]")                  # what `clean` replaces
_UNSAFE_LINE = re.compile(f"[{_BAD_CLASS}\t\n]")      # what `one_line` replaces


def _apply(text: str, unsafe: re.Pattern[str], limit: int | None) -> str:
    # Fastest path, most server text: printable means no control, format (bidi, zero-width,
    # BOM), surrogate, TAB, LF or CR character, so there is nothing to replace.
    if text.isprintable():
        return text if limit is None or len(text) <= limit else text[: limit - 1] + ELLIPSIS
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    # Fast path: most server text has nothing to replace (a C-speed scan, no copy).
    out = unsafe.sub(_replacement, text) if unsafe.search(text) else text
    if limit is not None and len(out) > limit:
        out = out[: limit - 1] + ELLIPSIS
    return out


def _replacement(match: re.Match[str]) -> str:
    return " " if match.group() in "\t\n" else REPLACEMENT


def clean(text: str, *, limit: int | None = DEFAULT_LIMIT) -> str:
    """`text` with terminal-unsafe characters replaced by U+FFFD and cut to `limit` characters
    (the last being `…`). TAB and LF are kept. Idempotent: `clean(clean(s)) == clean(s)`."""
    return _apply(text, _UNSAFE, limit)


def one_line(text: str, *, limit: int | None = DEFAULT_LIMIT) -> str:
    """As `clean`, and TAB/LF become spaces, for table cells and titles."""
    return _apply(text, _UNSAFE_LINE, limit)


def clean_optional(text: str | None, *, limit: int | None = DEFAULT_LIMIT) -> str | None:
    return None if text is None else clean(text, limit=limit)


def is_clean(text: str) -> bool:
    """True when `text` holds nothing `clean` would replace (length aside)."""
    return clean(text, limit=None) == text
