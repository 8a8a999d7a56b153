"""The README tells the truth about what each provider supports: its table is the generated one."""

from __future__ import annotations

from pathlib import Path

from rectui.providers.table import BEGIN, END, block

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_capabilities_table_is_generated_from_the_adapters() -> None:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] == block(), "regenerate it with: python -m rectui.providers.table"


def test_table_marks_what_a_provider_cannot_do() -> None:
    table = block()
    screendesk = next(line for line in table.splitlines() if line.startswith("| Screendesk"))
    assert "viewer link" in screendesk and "| – |" in screendesk
    webex = next(line for line in table.splitlines() if line.startswith("| Webex"))
    assert "to recycle bin" in webex
