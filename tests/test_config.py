"""Config: TOML + RECTUI_* overrides, per-provider validation, secrets env → keyring → file,
private-file check, clear messages naming file, key and expectation."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend

from rectui.config import load_config, mask, write_config
from rectui.errors import ConfigError
from rectui.paths import config_path

KAZOO = """
[providers.sales]
kind = "kazoo"
base_url = "https://kazoo.example.com:8443/v2"
account_id = "0123456789abcdef0123456789abcdef"
api_key = "file-secret-kazoo"
"""
WEBEX_NO_TOKEN = """
[providers.wx]
kind = "webex"
base_url = "https://webexapis.com/v1"
"""


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_config_path_default_env_and_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert config_path().name == "config.toml"
    assert str(config_path()).startswith(os.environ["XDG_CONFIG_HOME"])
    monkeypatch.setenv("RECTUI_CONFIG", str(tmp_path / "other.toml"))
    assert config_path() == tmp_path / "other.toml"


def test_missing_file_is_an_empty_config(tmp_path: Path) -> None:
    loaded = load_config(tmp_path / "none.toml")
    assert not loaded.exists and loaded.providers == {} and loaded.errors == {}


def test_good_config_loads_each_provider(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, "[ui]\ntheme = 'nord'\npage_size = 25\n" + KAZOO))
    prov = loaded.providers["sales"]
    assert prov.kind == "kazoo" and loaded.settings.ui.theme == "nord" and loaded.settings.ui.page_size == 25
    assert prov.api_key.get_secret_value() == "file-secret-kazoo"
    assert "file-secret-kazoo" not in repr(prov) and "file-secret-kazoo" not in str(loaded.providers)
    assert loaded.secret_sources[("sales", "api_key")] == "file"
    assert prov.origins == ("https://kazoo.example.com:8443",)


def test_missing_key_names_file_key_and_expectation(tmp_path: Path) -> None:
    path = write(tmp_path, KAZOO.replace('account_id = "0123456789abcdef0123456789abcdef"\n', ""))
    loaded = load_config(path)
    err = loaded.errors["sales"]
    assert str(path) in err.message and "providers.sales.account_id" in err.message
    assert "required" in err.message
    assert "sales" not in loaded.providers


def test_wrong_type_is_reported_for_that_provider_only(tmp_path: Path) -> None:
    text = KAZOO + "page_size = 'many'\n" + """
[providers.screen]
kind = "screendesk"
base_url = "https://app.screendesk.io/api/v2"
api_token = "tok-screen"
"""
    loaded = load_config(write(tmp_path, text))
    assert "providers.sales.page_size" in loaded.errors["sales"].message
    assert "integer" in loaded.errors["sales"].message
    assert "screen" in loaded.providers


def test_unknown_kind_lists_the_known_ones(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, '[providers.z]\nkind = "zoom"\nbase_url = "https://z"\n'))
    assert "genesys, kazoo, restcomm, webex, screendesk" in loaded.errors["z"].message


def test_bad_provider_name_is_refused(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, KAZOO.replace("providers.sales", 'providers."Sales-1"')))
    assert "a-z, 0-9 and _" in loaded.errors["Sales-1"].message


def test_bad_toml_and_unknown_top_level_key_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not valid TOML.*line 1"):
        load_config(write(tmp_path, "[providers\n"))
    with pytest.raises(ConfigError, match=r"colour: is not a known setting"):
        load_config(write(tmp_path, "colour = 'red'\n"))
    with pytest.raises(ConfigError, match=r"ui.page_size"):
        load_config(write(tmp_path, "[ui]\npage_size = 0\n"))


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_world_or_group_readable_secret_file_is_refused_with_chmod(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path, KAZOO, mode)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"chmod 600 '{path}'" in info.value.message
    assert "file-secret-kazoo" not in info.value.message


def test_readable_file_without_secrets_is_fine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECTUI_PROVIDERS__WX__ACCESS_TOKEN", "env-token-wx")
    loaded = load_config(write(tmp_path, WEBEX_NO_TOKEN, 0o644))
    assert loaded.providers["wx"].access_token.get_secret_value() == "env-token-wx"


def test_secret_file_owned_by_someone_else_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # CI runs as root, which owns everything it creates: inject another user id instead.
    path = write(tmp_path, KAZOO)
    monkeypatch.setattr(os, "getuid", lambda: path.stat().st_uid + 1)
    with pytest.raises(ConfigError, match="belongs to another user"):
        load_config(path)


def test_env_overrides_nested_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECTUI_PROVIDERS__SALES__API_KEY", "env-secret-kazoo")
    monkeypatch.setenv("RECTUI_PROVIDERS__SALES__PAGE_SIZE", "75")
    monkeypatch.setenv("RECTUI_UI__THEME", "dracula")
    loaded = load_config(write(tmp_path, KAZOO))
    prov = loaded.providers["sales"]
    assert prov.api_key.get_secret_value() == "env-secret-kazoo"
    assert prov.page_size == 75
    assert prov.base_url == "https://kazoo.example.com:8443/v2"   # untouched keys survive the merge
    assert loaded.settings.ui.theme == "dracula"
    assert loaded.secret_sources[("sales", "api_key")] == "env"


def test_provider_from_environment_alone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RECTUI_PROVIDERS__SD__KIND", "screendesk")
    monkeypatch.setenv("RECTUI_PROVIDERS__SD__BASE_URL", "https://app.screendesk.io/api/v2")
    monkeypatch.setenv("RECTUI_PROVIDERS__SD__API_TOKEN", "tok")
    loaded = load_config(tmp_path / "absent.toml")
    assert loaded.providers["sd"].kind == "screendesk"


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self, values: dict[tuple[str, str], str] | None = None, hang: threading.Event | None = None,
                 fail: bool = False) -> None:
        super().__init__()
        self.values = values or {}
        self.hang = hang
        self.fail = fail

    def get_password(self, service: str, username: str) -> str | None:
        if self.hang is not None:
            self.hang.wait(5)
        if self.fail:
            from keyring.errors import NoKeyringError
            raise NoKeyringError("no backend")
        return self.values.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.values[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.values.pop((service, username), None)


@pytest.fixture
def use_keyring() -> object:
    previous = keyring.get_keyring()

    def install(backend: KeyringBackend) -> None:
        keyring.set_keyring(backend)

    yield install
    keyring.set_keyring(previous)


def test_keyring_wins_over_file_and_env_wins_over_keyring(tmp_path: Path, use_keyring, monkeypatch) -> None:
    use_keyring(MemoryKeyring({("rectui", "sales.api_key"): "keyring-secret"}))
    path = write(tmp_path, KAZOO)
    loaded = load_config(path)
    assert loaded.providers["sales"].api_key.get_secret_value() == "keyring-secret"
    assert loaded.secret_sources[("sales", "api_key")] == "keyring"
    monkeypatch.setenv("RECTUI_PROVIDERS__SALES__API_KEY", "env-secret")
    loaded = load_config(path)
    assert loaded.providers["sales"].api_key.get_secret_value() == "env-secret"


def test_failing_keyring_gives_one_notice_and_the_file_value(tmp_path: Path, use_keyring) -> None:
    use_keyring(MemoryKeyring(fail=True))
    loaded = load_config(write(tmp_path, KAZOO))
    assert loaded.providers["sales"].api_key.get_secret_value() == "file-secret-kazoo"
    assert len(loaded.warnings) == 1 and "keyring is unavailable" in loaded.warnings[0]


def test_hanging_keyring_is_cut_at_the_timeout(tmp_path: Path, use_keyring) -> None:
    release = threading.Event()
    use_keyring(MemoryKeyring(hang=release))
    try:
        loaded = load_config(write(tmp_path, KAZOO), keyring_timeout=0.05)
    finally:
        release.set()
    assert "did not answer within 0.05 s" in loaded.warnings[0]
    assert loaded.providers["sales"].api_key.get_secret_value() == "file-secret-kazoo"


def test_write_config_is_private_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "emu.toml"
    write_config(path, {"providers": {"rc": {"kind": "restcomm", "base_url": "http://127.0.0.1:1/restcomm/2012-04-24",
                                             "account_sid": "AC1", "auth_token": "tok", "page_size": None}}})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_config(path)
    assert loaded.providers["rc"].auth_token.get_secret_value() == "tok"


def test_genesys_needs_a_way_to_authenticate(tmp_path: Path) -> None:
    text = '[providers.g]\nkind = "genesys"\nbase_url = "https://api.mypurecloud.com"\nclient_id = "x"\n'
    loaded = load_config(write(tmp_path, text))
    assert "access_token, or client_id + client_secret + login_url" in loaded.errors["g"].message
    text += 'client_secret = "s3"\nlogin_url = "https://login.mypurecloud.com"\n'
    g = load_config(write(tmp_path, text)).providers["g"]
    assert g.origins == ("https://api.mypurecloud.com:443", "https://login.mypurecloud.com:443")


def test_mask_never_shows_the_value() -> None:
    from pydantic import SecretStr
    assert mask(SecretStr("hunter22")) == "(set)" and mask(None) == "(not set)" and mask(SecretStr("")) == "(empty)"
