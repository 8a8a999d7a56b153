"""Where rectui keeps things. Nothing here creates a directory at import time."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "rectui"
PACKAGE_DIR = Path(__file__).resolve().parent


def _styles_dir() -> Path:
    """`rectui/styles` inside an installed wheel; the repo's top-level `styles/` in an editable
    install (where the package directory has no copy)."""
    packaged = PACKAGE_DIR / "styles"
    if packaged.is_dir():
        return packaged
    return PACKAGE_DIR.parent / "styles"


STYLES_DIR = _styles_dir()


def config_path() -> Path:
    """The config file: `$RECTUI_CONFIG`, else `config.toml` in the platform's user config dir."""
    env = os.environ.get("RECTUI_CONFIG")
    if env:
        return Path(env).expanduser()
    return platformdirs.user_config_path(APP, appauthor=False) / "config.toml"


def data_dir() -> Path:
    return platformdirs.user_data_path(APP, appauthor=False)


def cache_dir() -> Path:
    return platformdirs.user_cache_path(APP, appauthor=False)


def log_dir() -> Path:
    return platformdirs.user_log_path(APP, appauthor=False)


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) with mode 0700 for the leaf; returns it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
