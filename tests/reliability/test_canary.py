"""Plan row 48, the secret canary (non-UI part): a unique canary inside every credential of every
provider; the headless commands and the adapters are driven through their success paths and every
error path (wrong credentials, a provider echoing the token in its error body, 5xx, bad JSON, an HTML
page, the network gone); then every artefact is searched for the canary: captured stdout and
stderr, every file under the XDG dirs (logs, the store and its WAL, caches), the exported file, and
the text and repr of every exception and API-call event. Zero hits."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter
from support import ANCHOR

from rectui.cli import main
from rectui.config import ProviderSettings, write_config
from rectui.emulator.app import Emulator, EmulatorConfig
from rectui.emulator.server import EmulatorServer
from rectui.errors import RectuiError
from rectui.models import ListQuery
from rectui.providers import adapter_class

from .conftest import KINDS

CANARY = uuid.uuid4().hex            # hex, so that it fits Kazoo's 64-hex API keys too
_SETTINGS = TypeAdapter(ProviderSettings)
# The emulator attribute holding each provider's accepted credential, and the config field for it.
ACCEPTS = {"genesys": ("client_secret", "client_secret"), "kazoo": ("api_key", "api_key"),
           "restcomm": ("auth_token", "auth_token"), "webex": ("user_token", "access_token"),
           "screendesk": ("admin_token", "api_token")}
ERROR_FAULTS = [
    "{kind}.*:status=401,message=the token {secret} is not valid",
    "{kind}.*:status=403,message=Bearer {secret} may not do this",
    "{kind}.*:status=501,message=internal error for auth_token={secret}",     # 501: not retried (quick)
    "{kind}.*:malformed_json=garbage",
    "{kind}.*:content_type",
]


def secret_of(kind: str) -> str:
    return CANARY + "0" * 32 if kind == "kazoo" else f"{CANARY}{kind}"


def canaried(emu: Emulator) -> dict[str, dict[str, Any]]:
    """Make the emulator accept canary credentials; return a config using them."""
    providers = {}
    for kind, prov in emu.providers.items():
        attr, field = ACCEPTS[kind]
        if kind == "webex":                   # tokens map to principals
            prov.tokens[secret_of(kind)] = prov.tokens.pop(prov.user_token)
        setattr(prov, attr, secret_of(kind))
        providers[kind] = {**prov.config_entry(), field: secret_of(kind)}
    return providers


def hits(blob: str | bytes) -> bool:
    data = blob.encode("utf-8", "surrogatepass") if isinstance(blob, str) else blob
    return CANARY.encode() in data


@pytest.fixture
def served(media_cache: Path) -> Iterator[Emulator]:
    emu = Emulator(EmulatorConfig(count=30, anchor=ANCHOR, media_cache_dir=media_cache))
    server = EmulatorServer(emu, log_level="critical")
    server.start()
    yield emu
    server.stop()


def test_r48_canary_never_leaves_through_the_headless_commands(
        served: Emulator, tmp_xdg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, closed_port: int) -> None:
    emu = served
    config = tmp_path / "conf" / "config.toml"
    providers = canaried(emu)
    write_config(config, {"providers": providers})
    monkeypatch.setenv("RECTUI_CONFIG", str(config))
    export = tmp_path / "export.jsonl"
    kazoo_id = emu["kazoo"].listed_ids()[0]
    restcomm_id = emu["restcomm"].listed_ids()[0]
    outputs: list[str] = []
    codes: list[int] = []

    def run(*argv: str) -> None:
        codes.append(main(["--log-level", "DEBUG", *argv]))
        captured = capsys.readouterr()
        outputs.extend([captured.out, captured.err])

    # Success paths first: the secrets are in use, the logs are at DEBUG.
    run("config", "check")
    run("ls", "all", "--json", "--limit", "40")
    run("export", "all", "--format", "jsonl", "--out", str(export))
    run("tag", "kazoo", kazoo_id, "--add", "vip")
    run("tag", "restcomm", restcomm_id, "--add", "local")
    assert codes == [0, 0, 0, 0, 0], "\n".join(outputs)
    # Every error path, each provider echoing its own secret where the fault carries a message.
    for fault in ERROR_FAULTS:
        emu.faults.set(";".join(fault.format(kind=k, secret=secret_of(k)) for k in KINDS))
        run("config", "check")
        run("ls", "all", "--limit", "5")
        run("tag", "kazoo", kazoo_id, "--add", "again")
    emu.faults.clear()
    # The network gone: every provider at a closed port.
    offline = {k: {**v, "base_url": v["base_url"].replace(emu.api_url, f"http://127.0.0.1:{closed_port}")}
               for k, v in providers.items()}
    offline["genesys"]["login_url"] = f"http://127.0.0.1:{closed_port}"
    write_config(config, {"providers": offline})
    run("config", "check")
    run("ls", "all")
    assert codes[5:].count(0) == 0, "every error path should exit non-zero"

    assert "***" in "".join(outputs), "the echoed secrets should have reached the output, redacted"
    leaks = [i for i, text in enumerate(outputs) if hits(text)]
    assert not leaks, [outputs[i] for i in leaks]
    files = [p for p in tmp_xdg.rglob("*") if p.is_file()] + [export]
    assert any(p.name.endswith(".log") for p in files) and any("store" in p.name or p.suffix == ".db" for p in files)
    leaked_files = [str(p.relative_to(tmp_path)) for p in files if hits(p.read_bytes())]
    assert not leaked_files
    assert export.stat().st_size > 0


@pytest.mark.parametrize("kind", KINDS)
async def test_r48_canary_never_in_adapter_errors_or_events(kind: str, media_cache: Path) -> None:
    emu = Emulator(EmulatorConfig(providers=(kind,), count=10, anchor=ANCHOR, media_cache_dir=media_cache))
    entry = canaried(emu)[kind]
    seen: list[str] = []

    async def attempt(prov: Any) -> None:
        try:
            page = await prov.list_recordings(ListQuery(page_size=3))
            if page.items:
                await prov.get_recording(page.items[0].id)
        except RectuiError as exc:
            seen.extend([str(exc), repr(exc), exc.one_line(), exc.title, str(exc.correlation_id)])

    for fault in ["", *ERROR_FAULTS]:
        emu.faults.set(fault.format(kind=kind, secret=secret_of(kind)))
        conf = _SETTINGS.validate_python(entry)
        seen += [repr(conf), str(conf), conf.model_dump_json()]
        prov = adapter_class(kind)(kind, conf, transport=emu.transport())
        prov.http.policy.attempts = 1
        try:
            await attempt(prov)
            seen += [repr(e) for e in prov.http.recent] + [prov.describe()]
        finally:
            await prov.aclose()
    assert seen and not [s for s in seen if hits(s)]
