"""Layering: the non-UI packages never import Textual, and the UI never imports httpx."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import rectui

PKG = Path(rectui.__file__).parent
NON_UI = ["rectui.config", "rectui.models", "rectui.errors", "rectui.sanitize", "rectui.logs", "rectui.paths",
          "rectui.providers", "rectui.providers.base", "rectui.providers.http", "rectui.cli"]
NON_UI_DIRS = ["providers", "audio", "emulator"]
NON_UI_FILES = ["store.py", "models.py", "config.py", "errors.py", "sanitize.py", "logs.py", "paths.py",
                "operations.py"]
UI_DIRS = ["screens", "widgets"]
UI_FILES = ["app.py", "commands.py", "messages.py"]


def _modules_under(names: list[str], files: list[str]) -> list[Path]:
    out = [PKG / f for f in files if (PKG / f).exists()]
    for d in names:
        out += sorted((PKG / d).rglob("*.py")) if (PKG / d).is_dir() else []
    return out


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_non_ui_sources_never_import_textual() -> None:
    files = _modules_under(NON_UI_DIRS, NON_UI_FILES)
    assert len(files) >= 8
    offenders = [str(f.relative_to(PKG)) for f in files if {"textual", "rich"} & _imports(f)]
    assert offenders == []


def test_ui_sources_never_import_httpx() -> None:
    offenders = [str(f.relative_to(PKG)) for f in _modules_under(UI_DIRS, UI_FILES) if "httpx" in _imports(f)]
    assert offenders == []


def test_importing_the_non_ui_layer_loads_no_textual() -> None:
    code = ("import sys, importlib\n"
            f"for m in {NON_UI!r}: importlib.import_module(m)\n"
            "import rectui.emulator.app, rectui.emulator.dataset, rectui.emulator.faults\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'textual')\n"
            "print(','.join(bad))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout.strip() == ""
