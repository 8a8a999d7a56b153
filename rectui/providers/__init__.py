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
