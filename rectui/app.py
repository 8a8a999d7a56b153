"""RectuiApp: wiring only. Providers, clock, time zone and settings are injected through
`make_app(...)`, the one factory the CLI, the tests and the screenshots share."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any, ClassVar

from pydantic import TypeAdapter, ValidationError
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import Input

from rectui.commands import RecordingSearch
from rectui.config import ProviderSettings, UiSettings
from rectui.errors import ConfigError, RectuiError
from rectui.messages import EventRelay
from rectui.paths import STYLES_DIR
from rectui.screens.help import HelpScreen, sections_for
from rectui.screens.main import MainScreen
from rectui.screens.no_config import NoConfigScreen

_SETTINGS: TypeAdapter[Any] = TypeAdapter(ProviderSettings)


@dataclass
class AppConfig:
    """Everything the app depends on, injected."""

    providers: Sequence[Any] = ()
    """Built adapters (any `RecordingProvider`); the app closes them when it exits."""
    config_errors: Mapping[str, RectuiError] = field(default_factory=dict)
    """Providers that could not be built: shown as error chips in the sidebar."""
    ui: UiSettings = field(default_factory=UiSettings)
    keymap: Mapping[str, str] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    """Wall-clock seconds: ages, countdowns ("rate-limited, retry in 12s")."""
    tz: tzinfo | None = None
    """Where dates are shown (None: the system's zone, or `ui.time_zone`)."""
    read_only: bool = False
    relay: EventRelay | None = None
    """The adapters' `on_event` callback, for the sidebar's waits and the API-call log."""
    config_path: Path | None = None
    config_problem: RectuiError | None = None
    """A config file that cannot be used at all: the no-config screen explains it."""
    store: Any | None = None
    """The local store (`rectui.store.Store`): the journal of deletes, local tags. None: no journal."""
    store_problem: str | None = None
    """Why the store could not be opened: destructive actions are refused with this reason."""
    operations: Any | None = None
    """The operations queue (`rectui.operations.Operations`); built over `providers` and `store`
    when None."""
    detail_delay: float = 0.15
    merge_grace: float | None = 1.5
    """How long "All providers" waits for slower providers after the first answers (None: for all)."""
    """Debounce before a highlighted row's details are fetched (0: at once, for tests)."""
    cursor_blink: bool = True
    audio: Any | None = None
    remember_theme: bool = True
    """Keep the theme chosen in the palette for the next start (in the user data dir)."""
    """`rectui.screens.playback.AudioOptions` (None: from `ui`: the user cache dir, simpleaudio)."""


class RectuiApp(App[None]):
    """A keyboard-driven explorer of call recordings."""

    TITLE = "rectui"
    CSS_PATH: ClassVar[list[str | Path]] = [STYLES_DIR / "rectui.tcss", STYLES_DIR / "widgets.tcss",
                                            STYLES_DIR / "dialogs.tcss", STYLES_DIR / "forms.tcss",
                                            STYLES_DIR / "player.tcss"]
    COMMANDS = App.COMMANDS | {RecordingSearch}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app-quit", tooltip="Leave rectui"),
        Binding("question_mark", "help", "Help", id="app-help", tooltip="The keys of the focused widget and more"),
    ]

    def __init__(self, config: AppConfig) -> None:
        super().__init__()
        self.config = config

    def get_default_screen(self) -> Screen[Any]:
        cfg = self.config
        if not cfg.providers and not cfg.config_errors:
            return NoConfigScreen(cfg.config_path, cfg.config_problem)
        return MainScreen(providers=cfg.providers, config_errors=cfg.config_errors, clock=cfg.clock, tz=cfg.tz,
                          read_only=cfg.read_only or cfg.ui.read_only, page_size=cfg.ui.page_size,
                          detail_delay=cfg.detail_delay, relay=cfg.relay, operations=cfg.operations,
                          store=cfg.store, store_problem=cfg.store_problem, audio=self.audio_options(),
                          merge_grace=cfg.merge_grace)

    def audio_options(self) -> Any:
        from rectui.screens.playback import AudioOptions
        cfg = self.config
        if cfg.audio is not None:
            return cfg.audio
        return AudioOptions(cache_mb=cfg.ui.audio_cache_mb, media_max_mb=cfg.ui.media_max_mb)

    def on_mount(self) -> None:
        theme = self.config.ui.theme
        remembered = remembered_theme() if self.config.remember_theme else None
        if remembered in self.available_themes:
            self.theme = remembered          # chosen in the palette last time: it wins over the default
        elif theme in self.available_themes:
            self.theme = theme
        else:
            self.notify(f"Unknown theme {theme!r}; using {self.theme}.", title="Config", severity="warning",
                        markup=False)
        if self.config.remember_theme:
            self.theme_changed_signal.subscribe(self, self._theme_changed)
        if self.config.keymap:
            self.set_keymap(dict(self.config.keymap))

    def _theme_changed(self, theme: Any) -> None:
        name = getattr(theme, "name", None)
        if isinstance(name, str):
            self.run_worker(lambda: remember_theme(name), thread=True, group="ui-state", exit_on_error=False)

    def _fatal_error(self) -> None:
        """Textual's crash report shows every frame's local variables, where a header or a
        secret could sit: ours is the plain traceback, no locals, with every secret redacted."""
        import sys
        import traceback

        from rich.text import Text

        from rectui.logs import redact

        self.bell()
        report = redact("".join(traceback.format_exception(*sys.exc_info())))
        self._exit_renderables.append(Text(report))
        self._close_messages_no_wait()

    async def on_unmount(self) -> None:
        for provider in self.config.providers:
            with contextlib.suppress(Exception):
                await provider.aclose()
        if self.config.store is not None:
            with contextlib.suppress(Exception):
                self.config.store.close()

    def on_descendant_focus(self, event: Any) -> None:
        if not self.config.cursor_blink and isinstance(event.widget, Input):
            event.widget.cursor_blink = False

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss()
            return
        self.push_screen(HelpScreen(sections_for(self.screen)))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        commands = getattr(screen, "system_commands", None)
        if commands is not None:
            for title, help_text, callback in commands():
                yield SystemCommand(escape(title), escape(help_text), callback)


UI_STATE = "ui-state.json"


def remembered_theme() -> str | None:
    """The theme last chosen in the palette, or None (no file, or one that cannot be read)."""
    import json

    from rectui.paths import data_dir
    try:
        data = json.loads((data_dir() / UI_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    theme = data.get("theme") if isinstance(data, dict) else None
    return theme if isinstance(theme, str) and len(theme) < 100 else None


def remember_theme(name: str) -> None:
    """Write the chosen theme atomically; a failure only means it is not remembered."""
    import json
    import os

    from rectui.paths import data_dir, ensure_private_dir
    try:
        folder = ensure_private_dir(data_dir())
        tmp = folder / f".{UI_STATE}.{os.getpid()}.part"
        tmp.write_text(json.dumps({"theme": name}), encoding="utf-8")
        os.replace(tmp, folder / UI_STATE)
    except OSError:
        pass


def _explain(exc: ValidationError, name: str) -> str:
    """`providers.<name>.<field>: what is wrong`, one clause per problem."""
    from rectui.config import SETTINGS_BY_KIND

    clauses = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = [str(part) for part in err["loc"]]
        if loc and loc[0] in SETTINGS_BY_KIND:
            loc = loc[1:]          # the union's tag, not a key anyone wrote
        what = "is required but missing" if err["type"] == "missing" else err["msg"].removeprefix("Value error, ")
        clauses.append(f"{'.'.join(['providers', name, *loc])}: {what}")
    return "; ".join(clauses)


def make_app(providers: Sequence[Any] = (), **kwargs: Any) -> RectuiApp:
    """The app around `providers`; keyword arguments are `AppConfig` fields."""
    return RectuiApp(AppConfig(providers=providers, **kwargs))


def build_providers(entries: Mapping[str, Any], *, relay: EventRelay | None = None,
                    **adapter_kwargs: Any) -> tuple[list[Any], dict[str, RectuiError]]:
    """Adapters for config entries (validated settings, or raw tables validated here with the
    `ProviderSettings` TypeAdapter); one that cannot be built becomes an error, not a failure."""
    from rectui.providers import build_provider

    providers: list[Any] = []
    errors: dict[str, RectuiError] = {}
    for name, entry in entries.items():
        try:
            settings = _SETTINGS.validate_python(entry) if isinstance(entry, Mapping) else entry
            providers.append(build_provider(name, settings, on_event=relay, **adapter_kwargs))
        except ValidationError as exc:
            errors[name] = ConfigError(_explain(exc, name), provider=name, title="Provider misconfigured")
        except RectuiError as exc:
            errors[name] = exc
    return providers, errors


DEMO_STORE = "demo.db"
"""The demo's own store file, beside the user's `rectui.db`."""

DEMO_NAMES = {"genesys": "Genesys Cloud", "kazoo": "Kazoo", "restcomm": "Restcomm", "webex": "Webex",
              "screendesk": "Screendesk"}


def demo_providers(emulator: Any, *, relay: EventRelay | None = None,
                   **adapter_kwargs: Any) -> tuple[list[Any], dict[str, RectuiError]]:
    """All the emulator's providers, configured from its own config entries (`rectui demo`, the
    tests and the screenshots); `adapter_kwargs` (e.g. `transport=`) go to every adapter."""
    entries = {kind: {**prov.config_entry(), "display_name": DEMO_NAMES.get(kind, kind)}
               for kind, prov in emulator.providers.items()}
    return build_providers(entries, relay=relay, **adapter_kwargs)


def open_store(name: str | None = None) -> tuple[Any | None, str | None]:
    """The local store (the user's `rectui.db`, or `name` beside it: the demo keeps its own),
    or None and why it cannot be used (then destructive actions are refused, never unjournaled)."""
    from rectui.paths import data_dir
    from rectui.store import Store, StoreError

    try:
        return Store(data_dir() / name if name else None), None
    except StoreError as exc:
        return None, exc.message


def app_from_config(path: Path | None = None, *, read_only: bool = False) -> RectuiApp:
    """`rectui` with no subcommand: the configured providers, or the no-config screen."""
    from rectui.config import load_config
    from rectui.logs import register_secret
    from rectui.paths import config_path

    path = path or config_path()
    try:
        loaded = load_config(path)
    except ConfigError as exc:
        return make_app(config_path=path, config_problem=exc, read_only=read_only)
    for secret in loaded.secret_values():
        register_secret(secret)
    relay = EventRelay()
    providers, errors = build_providers(loaded.providers, relay=relay)
    errors = {**loaded.errors, **errors}
    ui = loaded.settings.ui
    tz = None
    if ui.time_zone:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
        try:
            tz = ZoneInfo(ui.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            tz = None
    store, problem = open_store()
    return make_app(providers, config_errors=errors, ui=ui, keymap=loaded.settings.keymap, tz=tz,
                    read_only=read_only, relay=relay, config_path=path, store=store, store_problem=problem)
