"""What `rectui` shows with no providers configured (or a config file it cannot use): how to
configure one, and how to try the demo."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Static

from rectui.errors import RectuiError
from rectui.logs import redact

EXAMPLE = """\
[providers.sales]
kind = "kazoo"
base_url = "https://kazoo.example.com:8443/v2"
account_id = "0123456789abcdef0123456789abcdef"
# api_key: set RECTUI_PROVIDERS__SALES__API_KEY, or store it in the system keyring"""


class NoConfigScreen(Screen[None]):
    """Friendly first-run help instead of an empty app."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "app.quit", "Quit", id="no-config-quit", tooltip="Leave rectui"),
    ]
    HELP = "No providers are configured yet: this explains how to add one, or to try the demo."

    def __init__(self, config_path: Path | None, problem: RectuiError | None = None) -> None:
        super().__init__()
        self.config_path = config_path
        self.problem = problem

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="no-config"):
            yield Static(self.body(), id="no-config-body")
        yield Footer()

    def body(self) -> Text:
        text = Text()
        if self.problem is not None:
            text.append("rectui cannot use its configuration\n\n", style="bold")
            text.append(redact(self.problem.message) + "\n\n")
        else:
            text.append("Welcome to rectui\n\n", style="bold")
            text.append("No recording providers are configured yet.\n\n")
        text.append("Try it now, with no account: ", style="bold")
        text.append("quit (q) and run\n")
        text.append("    rectui demo\n", style="bold")
        text.append("It starts a built-in emulator of all five providers (Genesys Cloud, Kazoo, Restcomm, "
                    "Webex, Screendesk) and opens the app on it.\n\n")
        text.append("To use your own providers, ", style="bold")
        text.append("add them to the config file")
        if self.config_path is not None:
            text.append("\n    ")
            text.append(str(self.config_path), style="bold")
        text.append("\n(`rectui config path` prints it; `--config FILE` or RECTUI_CONFIG choose another), "
                    "for example:\n\n")
        text.append(EXAMPLE + "\n\n", style="italic")
        text.append("The README lists every provider's settings. `rectui config check` validates the file and "
                    "tries each provider's credentials; `rectui emulate --write-config FILE` writes a config for "
                    "the emulator.")
        return text

    def on_mount(self) -> None:
        self.query_one("#no-config-body", Static).border_title = Content("rectui")
