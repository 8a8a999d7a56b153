"""Provider adapters, imported lazily by kind (so `rectui --help` never pays for them)."""

from __future__ import annotations

import importlib
from typing import Any

REGISTRY: dict[str, str] = {
    "genesys": "rectui.providers.genesys:GenesysProvider",
    "kazoo": "rectui.providers.kazoo:KazooProvider",
    "restcomm": "rectui.providers.restcomm:RestcommProvider",
    "webex": "rectui.providers.webex:WebexProvider",
    "screendesk": "rectui.providers.screendesk:ScreendeskProvider",
}


def adapter_class(kind: str) -> type[Any] | None:
    """The adapter class for `kind`, or None while that adapter does not exist yet."""
    target = REGISTRY.get(kind)
    if target is None:
        return None
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    return getattr(module, attr, None)


def build_provider(name: str, settings: Any, **kwargs: Any) -> Any:
    """An adapter instance for a configured provider, or `ConfigError` when its kind has none."""
    from rectui.errors import ConfigError
    cls = adapter_class(settings.kind)
    if cls is None:
        raise ConfigError(f"providers.{name}: the {settings.kind} adapter is not available yet", provider=name)
    return cls(name, settings, **kwargs)
