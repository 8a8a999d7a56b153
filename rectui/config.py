"""rectui's configuration: a TOML file, `RECTUI_*` environment overrides, secrets from the
environment, then the system keyring, then the file.

```toml
[ui]
theme = "textual-dark"

[providers.sales]
kind = "kazoo"
base_url = "https://kazoo.example.com:8443/v2"
account_id = "…"
api_key = "…"            # or RECTUI_PROVIDERS__SALES__API_KEY, or the keyring
```

Each provider table is validated on its own: a bad one becomes an error the UI shows beside that
provider, never a failed start. A bad file (unreadable TOML, unknown top-level key, a secret in a
file others can read) raises `ConfigError`, whose message names the file, the key and what was
expected.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from rectui.errors import ConfigError
from rectui.paths import config_path

NAME_RE = re.compile(r"^[a-z0-9_]+$")
KEYRING_SERVICE = "rectui"
KEYRING_TIMEOUT = 4.0
_FALLBACK = "secrets come from the environment and the file"
ENV_PREFIX = "RECTUI_"


def refuse_credentials(url: str | None, key: str, where: str) -> str | None:
    """`url` unchanged, or a ValueError when it carries a user name or password (`user:pass@host`).

    A URL is shown as configured (`config check`, the sidebar, logs), so a password inside it would
    be printed; it would also ride along on every request outside the origin-bound auth. Any `@`
    counts: a password holding `/` would otherwise split the authority and hide the `@` in the path.
    The message never echoes the URL."""
    if url is not None and "@" in url:
        raise ValueError(f"{key} must not contain credentials (a user name or password before '@'); "
                         f"put them in {where} instead (or in the environment or the keyring)")
    return url


class _ProviderBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    SECRETS: ClassVar[tuple[str, ...]] = ()
    CREDENTIALS: ClassVar[str] = "this provider's secret settings"
    """Where credentials belong, named in the error for a base_url that carries them."""

    base_url: Annotated[str, Field(pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")]
    """The API root, as in the provider's documents (see README)."""
    read_only: bool = False
    """Disable delete, tag and rename for this provider."""
    page_size: int | None = Field(default=None, ge=1, le=1000)
    """Rows per page (capped at the provider's maximum)."""
    display_name: str | None = None
    """Shown in the sidebar; defaults to the table name."""
    rate_limit: float | None = Field(default=None, gt=0)
    """Requests per second at most for bulk operations."""
    verify_tls: bool = True

    @field_validator("base_url", mode="before")
    @classmethod
    def _no_userinfo(cls, value: Any) -> Any:
        # "before" so that the check runs (and the URL is never echoed) whatever else is wrong with it.
        return refuse_credentials(value, "base_url", cls.CREDENTIALS) if isinstance(value, str) else value

    @property
    def origins(self) -> tuple[str, ...]:
        """Origins (scheme://host:port) that may receive this provider's credentials."""
        return (origin_of(self.base_url),)


class GenesysSettings(_ProviderBase):
    SECRETS: ClassVar[tuple[str, ...]] = ("client_secret", "access_token")
    CREDENTIALS: ClassVar[str] = "client_id + client_secret, or access_token"
    kind: Literal["genesys"]
    login_url: Annotated[str, Field(pattern=r"^https?://[^\s/?#]+/?$")] | None = None
    """The region's login origin (https://login.mypurecloud.com); needed with client_id."""
    client_id: str | None = None
    client_secret: SecretStr | None = None
    access_token: SecretStr | None = None
    """A user access token, instead of the client-credentials grant."""

    @field_validator("login_url", mode="before")
    @classmethod
    def _login_no_userinfo(cls, value: Any) -> Any:
        return refuse_credentials(value, "login_url", cls.CREDENTIALS) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _auth(self) -> GenesysSettings:
        if self.access_token is None and not (self.client_id and self.client_secret and self.login_url):
            raise ValueError("needs either access_token, or client_id + client_secret + login_url")
        return self

    @property
    def origins(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(o for o in (origin_of(self.base_url),
                                               origin_of(self.login_url) if self.login_url else None) if o))


class KazooSettings(_ProviderBase):
    SECRETS: ClassVar[tuple[str, ...]] = ("api_key", "password")
    CREDENTIALS: ClassVar[str] = "api_key, or username + password + account_name"
    kind: Literal["kazoo"]
    horizon_days: int = Field(default=730, ge=1, le=3650)
    """How far back "older" walks the 31-day windows when no date range is given."""
    account_id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    account_name: str | None = None

    @model_validator(mode="after")
    def _auth(self) -> KazooSettings:
        if self.api_key is None and not (self.username and self.password and self.account_name):
            raise ValueError("needs either api_key, or username + password + account_name")
        return self


class RestcommSettings(_ProviderBase):
    SECRETS: ClassVar[tuple[str, ...]] = ("auth_token",)
    CREDENTIALS: ClassVar[str] = "account_sid + auth_token"
    kind: Literal["restcomm"]
    account_sid: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,64}$")]
    auth_token: SecretStr


class WebexSettings(_ProviderBase):
    SECRETS: ClassVar[tuple[str, ...]] = ("access_token",)
    CREDENTIALS: ClassVar[str] = "access_token"
    kind: Literal["webex"]
    horizon_days: int = Field(default=730, ge=1, le=3650)
    """How far back "older" walks the 30-day windows when no date range is given."""
    access_token: SecretStr
    time_zone: str | None = None
    """Sent as Webex's `timezone` header; times are converted to UTC either way."""


class ScreendeskSettings(_ProviderBase):
    SECRETS: ClassVar[tuple[str, ...]] = ("api_token",)
    CREDENTIALS: ClassVar[str] = "api_token"
    kind: Literal["screendesk"]
    api_token: SecretStr


ProviderSettings = Annotated[
    GenesysSettings | KazooSettings | RestcommSettings | WebexSettings | ScreendeskSettings,
    Field(discriminator="kind"),
]
_PROVIDER_ADAPTER: TypeAdapter[Any] = TypeAdapter(ProviderSettings)
SETTINGS_BY_KIND: dict[str, type[_ProviderBase]] = {
    "genesys": GenesysSettings, "kazoo": KazooSettings, "restcomm": RestcommSettings,
    "webex": WebexSettings, "screendesk": ScreendeskSettings,
}
ALL_SECRET_FIELDS = frozenset(f for cls in SETTINGS_BY_KIND.values() for f in cls.SECRETS)


def origin_of(url: str) -> str:
    """`scheme://host:port` of `url`, with the default port made explicit."""
    import httpx
    u = httpx.URL(url)
    port = u.port or {"http": 80, "https": 443}.get(u.scheme, 0)
    return f"{u.scheme}://{u.host}:{port}"


class UiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    theme: str = "textual-dark"
    """A Textual theme name; changed from the palette and remembered."""
    page_size: int = Field(default=50, ge=1, le=1000)
    """Rows per page unless a provider sets its own."""
    time_zone: str | None = None
    """IANA zone for dates (default: the system's)."""
    read_only: bool = False
    """Disable every destructive action for all providers."""
    keyring: bool = True
    """Look secrets up in the system keyring (after the environment, before the file)."""
    audio_cache_mb: int = Field(default=2048, ge=16)
    """Size cap of the audio cache (downloaded media and decoded PCM); least recently used goes first."""
    media_max_mb: int = Field(default=200, ge=1)
    """Largest media file downloaded for playback (counts body bytes)."""


class Settings(BaseSettings):
    """The whole file, merged with `RECTUI_*` variables (environment wins)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid",
                                      case_sensitive=False)
    ui: UiSettings = UiSettings()
    keymap: dict[str, str] = Field(default_factory=dict)
    """Binding id → keys, e.g. `table-sort = "s,o"`."""
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)   # init = the TOML file's content


SecretSource = Literal["env", "keyring", "file"]


@dataclass
class LoadedConfig:
    path: Path
    exists: bool
    settings: Settings
    providers: dict[str, _ProviderBase] = field(default_factory=dict)
    errors: dict[str, ConfigError] = field(default_factory=dict)
    """Providers whose table is wrong: name → the error to show beside it."""
    warnings: list[str] = field(default_factory=list)
    secret_sources: dict[tuple[str, str], SecretSource] = field(default_factory=dict)

    def secret_values(self) -> list[str]:
        """Every configured secret's literal value, for redaction."""
        out = []
        for prov in self.providers.values():
            for name in prov.SECRETS:
                value = getattr(prov, name, None)
                if isinstance(value, SecretStr) and value.get_secret_value():
                    out.append(value.get_secret_value())
        return out


def _explain(exc: ValidationError, prefix: str) -> str:
    lines = []
    for err in exc.errors(include_url=False, include_input=False):
        parts = list(err["loc"])
        if prefix.startswith("providers.") and parts and parts[0] in SETTINGS_BY_KIND:
            parts = parts[1:]   # the union's tag, not a key the user wrote
        loc = ".".join(str(p) for p in (prefix, *parts) if p != "")
        kind = err["type"]
        if kind == "missing":
            msg = "is required but missing"
        elif kind == "extra_forbidden":
            msg = "is not a known setting"
        elif kind == "union_tag_invalid":
            msg = f"must be one of {', '.join(SETTINGS_BY_KIND)}"
        elif kind == "union_tag_not_found":
            msg = f"needs `kind` = one of {', '.join(SETTINGS_BY_KIND)}"
        else:
            msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{loc}: {msg}")
    return "; ".join(lines)


def _read_file(path: Path) -> tuple[dict[str, Any], os.stat_result]:
    try:
        with path.open("rb") as fh:
            st = os.fstat(fh.fileno())
            raw = fh.read()
    except PermissionError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the config file is not UTF-8 text") from None
    try:
        return tomllib.loads(text), st
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _file_has_secret(data: dict[str, Any]) -> bool:
    providers = data.get("providers")
    if not isinstance(providers, dict):
        return False
    return any(isinstance(t, dict) and any(t.get(k) for k in ALL_SECRET_FIELDS) for t in providers.values())


def check_file_permissions(path: Path, st: os.stat_result) -> None:
    """Refuse a file holding secrets that others can read or that someone else owns."""
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise ConfigError(f"{path} holds secrets but others can read it (mode {mode:04o}); "
                          f"fix it with: chmod 600 '{path}'", title="Config file not private")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise ConfigError(f"{path} holds secrets but belongs to another user (uid {st.st_uid}); "
                          f"copy it to a file of your own and run: chmod 600 <file>",
                          title="Config file not private")


def _env_has(name: str, key: str) -> bool:
    want = f"{ENV_PREFIX}PROVIDERS__{name}__{key}".upper()
    return any(k.upper() == want for k in os.environ)


def _keyring_lookup(keys: list[tuple[str, str]], timeout: float) -> tuple[dict[tuple[str, str], str], str | None]:
    """Look `(provider, field)` secrets up in the system keyring within `timeout` seconds, in a
    thread: a locked keyring can block on a prompt nobody sees. Returns what was found and, when
    the keyring was unusable, a one-line notice."""
    if not keys:
        return {}, None

    def work() -> dict[tuple[str, str], str]:
        import keyring
        found = {}
        for name, key in keys:
            value = keyring.get_password(KEYRING_SERVICE, f"{name}.{key}")
            if value:
                found[(name, key)] = value
        return found

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="rectui-keyring")
    try:
        return pool.submit(work).result(timeout=timeout), None
    except concurrent.futures.TimeoutError:
        return {}, f"the system keyring did not answer within {timeout:g} s; {_FALLBACK}"
    except Exception as exc:  # keyring.errors.* and backend failures: any of them means "unavailable"
        return {}, f"the system keyring is unavailable ({type(exc).__name__}); {_FALLBACK}"
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def load_config(path: Path | None = None, *, keyring_timeout: float = KEYRING_TIMEOUT,
                use_keyring: bool | None = None) -> LoadedConfig:
    """Read, merge and validate the configuration. Raises `ConfigError` for a file that cannot be
    used at all; a wrong provider table lands in `LoadedConfig.errors` instead."""
    path = path or config_path()
    data: dict[str, Any] = {}
    exists = path.exists()
    if exists:
        data, st = _read_file(path)
        if _file_has_secret(data):
            check_file_permissions(path, st)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_explain(exc, '')}") from None
    loaded = LoadedConfig(path=path, exists=exists, settings=settings)
    file_providers = data.get("providers") if isinstance(data.get("providers"), dict) else {}

    wanted_keyring: list[tuple[str, str]] = []
    for name, table in settings.providers.items():
        if not NAME_RE.match(name):
            loaded.errors[name] = ConfigError(
                f"{path}: providers.{name}: provider names may use only a-z, 0-9 and _", provider=name)
            continue
        kind = table.get("kind")
        cls = SETTINGS_BY_KIND.get(kind) if isinstance(kind, str) else None
        if cls is None:
            continue   # reported by validation below
        wanted_keyring += [(name, k) for k in cls.SECRETS if not _env_has(name, k)]

    keyring_on = settings.ui.keyring if use_keyring is None else use_keyring
    from_keyring: dict[tuple[str, str], str] = {}
    if keyring_on and wanted_keyring:
        from_keyring, notice = _keyring_lookup(wanted_keyring, keyring_timeout)
        if notice:
            loaded.warnings.append(notice)

    for name, table in settings.providers.items():
        if name in loaded.errors:
            continue
        table = dict(table)
        kind = table.get("kind")
        cls = SETTINGS_BY_KIND.get(kind) if isinstance(kind, str) else None
        for key in cls.SECRETS if cls else ():
            if _env_has(name, key):
                loaded.secret_sources[(name, key)] = "env"
            elif (name, key) in from_keyring:
                table[key] = from_keyring[(name, key)]
                loaded.secret_sources[(name, key)] = "keyring"
            elif table.get(key):
                loaded.secret_sources[(name, key)] = "file"
        try:
            loaded.providers[name] = _PROVIDER_ADAPTER.validate_python(table)
        except ValidationError as exc:
            where = f"{path}: " if name in file_providers else "environment: "
            loaded.errors[name] = ConfigError(where + _explain(exc, f"providers.{name}"), provider=name,
                                              title="Provider misconfigured")
    return loaded


def mask(value: SecretStr | str | None) -> str:
    """A secret as shown by `config check`: never its value, only whether it is set."""
    if value is None:
        return "(not set)"
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    return "(set)" if raw else "(empty)"


def write_config(path: Path, data: dict[str, Any]) -> None:
    """Write a config file created 0600 (in a 0700 directory when it creates one)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    import tomli_w
    text = tomli_w.dumps(_plain(data))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(text)


def _plain(value: Any) -> Any:
    """`data` with SecretStr values revealed and None values dropped, for writing TOML."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value
