"""`?`: the keys of the focused widget first, then the screen's, then the ones that work everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static

NAMES = {"RecordingsTable": "Recordings table", "ProviderList": "Provider sidebar", "DetailPane": "Detail pane",
         "Input": "Filter", "MainScreen": "This screen", "NoConfigScreen": "This screen"}


@dataclass
class KeyRow:
    keys: str
    description: str
    enabled: bool


@dataclass
class Section:
    title: str
    help: str
    rows: list[KeyRow]


def sections_for(screen: Screen[object]) -> list[Section]:
    """The bindings active on `screen`, grouped by where they are defined (focused widget first)."""
    app = screen.app
    grouped: dict[int, tuple[object, dict[tuple[str, str], KeyRow]]] = {}
    for key, active in screen.active_bindings.items():
        node, binding = active.node, active.binding
        if binding.system and binding.action not in ("command_palette", "quit"):
            continue
        group = grouped.setdefault(id(node), (node, {}))[1]
        description = binding.description or binding.action.replace("_", " ")
        if binding.tooltip and binding.tooltip != description:
            description = f"{description} — {binding.tooltip}"
        shown = app.get_key_display(binding) if key == binding.key else key
        entry = group.get((binding.action, description))
        if entry is None:
            group[(binding.action, description)] = KeyRow(shown, description, active.enabled)
        elif shown not in entry.keys.split(" / "):
            entry.keys += f" / {shown}"

    def rank(node: object) -> int:
        if node is app:
            return 3
        if node is screen:
            return 2
        return 0 if node is screen.focused else 1

    out = []
    for node, rows in sorted(grouped.values(), key=lambda item: rank(item[0])):
        cls = type(node).__name__
        focused = " (focused)" if node is screen.focused else ""
        title = "Everywhere" if node is app else NAMES.get(cls, cls) + focused
        help_text = getattr(node, "HELP", None) or ""
        out.append(Section(title, help_text if isinstance(help_text, str) else "", list(rows.values())))
    return out


def render_section(section: Section) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(width=18, no_wrap=True, style="bold")
    table.add_column(ratio=1)
    for row in section.rows:
        style = "" if row.enabled else "dim"
        suffix = "" if row.enabled else "  (not available here)"
        table.add_row(Text(row.keys, style=style), Text(row.description + suffix, style=style))
    return table


class HelpScreen(ModalScreen[None]):
    """The keys that work now, where they work."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help-close", tooltip="Close the help"),
    ]

    def __init__(self, sections: list[Section]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with Vertical(id="help", classes="dialog"):
            yield Static(Content("Keys"), classes="dialog-title")
            with VerticalScroll(id="help-body"):
                for section in self.sections:
                    yield Static(Content(section.title), classes="help-section")
                    if section.help:
                        yield Static(Content(section.help), classes="muted")
                    yield Static(render_section(section))
        yield Footer()
