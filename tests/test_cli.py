"""The command line: version, help, config path and check (secrets masked, clear failures)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rectui import __version__
from rectui.cli import main

SECRET = "cli-secret-canary-93a1"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:          # argparse's --help / --version
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_version_and_help(capsys) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"rectui {__version__}"
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for word in ("demo", "emulate", "config", "ls", "--config", "--read-only"):
        assert word in out


def test_config_path_follows_flag_env_and_default(capsys, tmp_path: Path, monkeypatch) -> None:
    _, out, _ = run(capsys, "config", "path")
    assert out.strip().endswith("rectui/config.toml") and out.startswith(os.environ["XDG_CONFIG_HOME"])
    monkeypatch.setenv("RECTUI_CONFIG", str(tmp_path / "env.toml"))
    _, out, _ = run(capsys, "config", "path")
    assert out.strip() == str(tmp_path / "env.toml")
    _, out, _ = run(capsys, "--config", str(tmp_path / "flag.toml"), "config", "path")
    assert out.strip() == str(tmp_path / "flag.toml")


def test_config_check_masks_secrets_and_reports_bad_providers(capsys, tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f"""
[providers.support]
kind = "screendesk"
base_url = "https://app.screendesk.io/api/v2"
api_token = "{SECRET}"

[providers.broken]
kind = "webex"
base_url = "not a url"
access_token = "x"
""")
    path.chmod(0o600)
    code, out, err = run(capsys, "--config", str(path), "config", "check")
    assert SECRET not in out + err
    assert "support (screendesk)" in out and "api_token (set) from file" in out
    assert "broken" in out and "providers.broken.base_url" in out
    assert code == 1


def test_config_check_without_a_file_says_what_to_do(capsys, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "--config", str(tmp_path / "none.toml"), "config", "check")
    assert code == 1 and "no config file" in out and "rectui demo" in out


def test_config_check_refuses_a_readable_secret_file_without_traceback(capsys, tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[providers.s]\nkind = "screendesk"\nbase_url = "https://x.example/api/v2"\n'
                    f'api_token = "{SECRET}"\n')
    path.chmod(0o644)
    code, out, err = run(capsys, "--config", str(path), "config", "check")
    assert code == 2 and "chmod 600" in err and "Traceback" not in err and SECRET not in out + err


def test_bad_toml_is_one_clear_line(capsys, tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[ui\n")
    code, _, err = run(capsys, "--config", str(path), "config", "check")
    assert code == 2 and "not valid TOML" in err and str(path) in err and len(err.strip().splitlines()) == 1



def test_console_script_runs_as_a_program() -> None:
    exe = Path(sys.executable).with_name("rectui")
    proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"rectui {__version__}"
    proc = subprocess.run([sys.executable, "-m", "rectui", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == f"rectui {__version__}"
