"""A base_url (or Genesys login_url) carrying `user:password@` is refused at load, beside that
provider, with an error that names where credentials belong and never echoes the URL; `config
check` then prints neither the password nor the URL, and the log file holds neither."""

from __future__ import annotations

from pathlib import Path

import pytest

from rectui.cli import main
from rectui.config import load_config

PASSWORD = "pw-canary-7f3e"
USER = "user-canary-51"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def kazoo(base_url: str, *, other: bool = True) -> str:
    text = f"""
[providers.sales]
kind = "kazoo"
base_url = "{base_url}"
account_id = "0123456789abcdef0123456789abcdef"
api_key = "k"
"""
    return text + OTHER if other else text


OTHER = """
[providers.support]
kind = "screendesk"
base_url = "https://app.screendesk.io/api/v2"
api_token = "t"
"""


@pytest.mark.parametrize("url", [
    f"https://{USER}:{PASSWORD}@kazoo.example.com:8443/v2",
    f"https://{USER}@kazoo.example.com/v2",                      # a user name alone is refused too
    f"https://{USER}:{PASSWORD}/x@kazoo.example.com/v2",         # a password with '/' hides the '@'
    f"https://{USER}:{PASSWORD}@",                               # and whatever else is wrong
])
def test_userinfo_in_base_url_is_refused_without_echoing_it(tmp_path: Path, url: str) -> None:
    loaded = load_config(write(tmp_path, kazoo(url)))
    assert "sales" not in loaded.providers and "support" in loaded.providers   # only that provider
    message = loaded.errors["sales"].message
    assert "providers.sales.base_url: base_url must not contain credentials" in message
    assert "put them in api_key, or username + password + account_name instead" in message
    assert PASSWORD not in message and USER not in message and "kazoo.example.com" not in message


def test_userinfo_from_the_environment_is_refused_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECTUI_PROVIDERS__SALES__BASE_URL", f"https://{USER}:{PASSWORD}@kazoo.example.com/v2")
    loaded = load_config(write(tmp_path, kazoo("https://kazoo.example.com/v2")))
    message = loaded.errors["sales"].message
    assert "base_url must not contain credentials" in message and PASSWORD not in message


def test_genesys_login_url_with_userinfo_is_refused(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, f"""
[providers.gc]
kind = "genesys"
base_url = "https://api.mypurecloud.com"
login_url = "https://{USER}:{PASSWORD}@login.mypurecloud.com"
client_id = "id"
client_secret = "s"
"""))
    message = loaded.errors["gc"].message
    assert "login_url must not contain credentials" in message and "client_id + client_secret" in message
    assert PASSWORD not in message and USER not in message


def test_a_plain_base_url_still_loads(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, kazoo("https://kazoo.example.com:8443/v2")))
    assert loaded.errors == {} and loaded.providers["sales"].base_url == "https://kazoo.example.com:8443/v2"


def test_config_check_prints_neither_password_nor_url(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                      tmp_xdg: Path) -> None:
    path = write(tmp_path, kazoo(f"https://{USER}:{PASSWORD}@127.0.0.1:9/v2", other=False))  # nothing to reach
    code = main(["--config", str(path), "--log-level", "DEBUG", "config", "check"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "✕ sales: " in out and "base_url must not contain credentials" in out
    assert PASSWORD not in out + err and USER not in out + err
    logs = "".join(p.read_text(errors="replace") for p in tmp_xdg.rglob("*.log*") if p.is_file())
    assert PASSWORD not in logs and USER not in logs
