"""Server text is sanitised at ingestion: visible, idempotent, markup left for the UI to render
as plain text."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rectui.sanitize import _UNSAFE_LINE, DEFAULT_LIMIT, ELLIPSIS, REPLACEMENT, clean, is_clean, one_line

HOSTILE = [
    "\x1b[2J\x1b[31mred\x1b[0m",                       # CSI clear screen, SGR
    "\x1b]52;c;Y2FuYXJ5\x07",                         # OSC 52 clipboard write
    "\x1b]0;title\x07",                                # OSC 0 window title
    "\x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\",   # OSC 8 hyperlink
    "c1 \x9b31m csi",                                  # 8-bit CSI
    "nul\x00 del\x7f bel\x07 bs\x08",
    "\u202eexe.txt\u202c",                             # RTL override (CVE-2021-42574)
    "\u2066isolate\u2069",
    "zero\u200bwidth\ufeffbom",
    "lone \ud800 surrogate",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_controls_become_visible_replacement(text: str) -> None:
    out = clean(text)
    assert REPLACEMENT in out
    for ch in out:
        cat = unicodedata.category(ch)
        assert cat not in ("Cc", "Cs") or ch in "\t\n", repr(ch)
        assert ch not in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\ufeff"
    assert "\x1b" not in out and "\x9b" not in out


@pytest.mark.parametrize("text", ["[bold]x", "[@click=app.quit]Click[/]", "[/red]", "Q&A [draft]"])
def test_markup_is_kept_verbatim_for_plain_rendering(text: str) -> None:
    assert clean(text) == text


@pytest.mark.parametrize("text", [
    "Family 👨‍👩‍👧 plan",            # ZWJ sequence
    "می‌خواهم",                       # ZWNJ in Persian
    "会議の録音", "مكالمة مع العميل", "שיחת מכירות", "Réunion d'équipe",
])
def test_scripts_and_joiners_survive(text: str) -> None:
    assert clean(text) == text


def test_tab_and_newline_kept_by_clean_but_not_by_one_line() -> None:
    assert clean("a\tb\nc") == "a\tb\nc"
    assert one_line("a\tb\nc") == "a b c"
    assert clean("a\r\nb") == "a\nb"


def test_absurd_lengths_are_capped_with_an_ellipsis() -> None:
    out = clean("T" * 1_000_000)
    assert len(out) == DEFAULT_LIMIT
    assert out.endswith(ELLIPSIS)
    assert clean(out) == out
    assert len(clean("x" * 50, limit=10)) == 10


def test_is_clean() -> None:
    assert is_clean("plain [bold] text")
    assert not is_clean("bad\x1bescape")


@given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=300))
def test_clean_is_idempotent_and_control_free(text: str) -> None:
    once = clean(text, limit=100)
    assert clean(once, limit=100) == once
    assert one_line(one_line(text, limit=100), limit=100) == one_line(text, limit=100)
    for ch in once:
        cp = ord(ch)
        assert ch in "\t\n" or not (cp < 0x20 or 0x7F <= cp < 0xA0)
        assert not 0xD800 <= cp <= 0xDFFF
        assert not (0x202A <= cp <= 0x202E or 0x2066 <= cp <= 0x2069)


@given(st.text(max_size=200))
def test_zero_width_joiners_are_never_removed(text: str) -> None:
    assert clean(text, limit=None).count("\u200d") == text.count("\u200d")


@given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=60))
def test_the_printable_fast_path_agrees_with_the_full_scan(text: str) -> None:
    """Printable text skips the scan; it must be exactly what the scan would leave alone."""
    if text.isprintable():
        assert not _UNSAFE_LINE.search(text) and "\r" not in text
    for limit in (None, 10):
        assert clean(text, limit=limit) == clean(clean(text, limit=limit), limit=limit)
        assert one_line(text, limit=limit) == one_line(one_line(text, limit=limit), limit=limit)


def test_no_character_the_sanitiser_replaces_counts_as_printable() -> None:
    from rectui.sanitize import _BAD
    assert not any(chr(cp).isprintable() for cp in [*_BAD, *range(0xD800, 0xE000), 0x09, 0x0A, 0x0D])
