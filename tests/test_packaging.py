"""Packaging: styles found from an editable install and from a built wheel; the console script;
the maintained simpleaudio fork and never the original."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import rectui
from rectui.paths import STYLES_DIR

REPO = Path(__file__).resolve().parent.parent


def test_editable_install_reads_styles_from_the_repo() -> None:
    assert (STYLES_DIR / "rectui.tcss").is_file()
    if not (Path(rectui.__file__).parent / "styles").exists():     # editable: the repo's styles/
        assert STYLES_DIR == REPO / "styles"


@pytest.mark.slow
def test_wheel_carries_styles_and_finds_them_when_installed(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(dist), str(REPO)], check=True, capture_output=True, timeout=300)
    wheel = next(dist.glob("rectui-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(zf.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    repo_styles = sorted(p.name for p in (REPO / "styles").glob("*.tcss"))
    assert repo_styles and all(f"rectui/styles/{name}" in names for name in repo_styles)
    assert "rectui = rectui.cli:main" in entry_points
    assert "rectui/emulator/clips/agent-1.opus" in names     # the emulator's speech clips ship too
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target)}
    proc = subprocess.run([sys.executable, "-c", "from rectui.paths import STYLES_DIR; print(STYLES_DIR)"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, check=True, timeout=60)
    found = Path(proc.stdout.strip())
    assert found == target / "rectui" / "styles"
    assert (found / "rectui.tcss").is_file()


def test_simpleaudio_is_the_maintained_fork() -> None:
    # simpleaudio 1.0.4 segfaults on Python 3.12+; the fork installs the same module.
    assert importlib.metadata.version("simpleaudio-patched")
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("simpleaudio")
    import simpleaudio
    assert hasattr(simpleaudio, "play_buffer")


def test_ffmpeg_comes_from_a_wheel() -> None:
    import imageio_ffmpeg
    exe = Path(imageio_ffmpeg.get_ffmpeg_exe())
    assert exe.is_file()
    proc = subprocess.run([str(exe), "-hide_banner", "-version"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "ffmpeg version" in proc.stdout
