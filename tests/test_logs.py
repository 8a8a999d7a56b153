"""Logs go to a file, never the terminal, and every secret is redacted on the way."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from rectui.logs import redact, register_secret, setup_logging

CANARY = "log-secret-canary-55e2"


@pytest.mark.parametrize(("text", "leak"), [
    ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
    ("{'x-auth-token': 'tok-123456', 'accept': '*/*'}", "tok-123456"),
    ("Cookie: sid=s3ss10n", "s3ss10n"),
    ("GET https://h.example/x?auth_token=qwerty123&page=2", "qwerty123"),
    ("https://bucket.example/a.wav?X-Amz-Signature=deadbeef99&Expires=1", "deadbeef99"),
    ('{"access_token": "jwt.jwt.jwt", "expires_in": 3600}', "jwt.jwt.jwt"),
    ("https://admin:hunter2pw@h.example/v2", "hunter2pw"),
])
def test_redact_known_secret_shapes(text: str, leak: str) -> None:
    out = redact(text)
    assert leak not in out and "***" in out


def test_redact_keeps_ordinary_text_and_userinfo_host() -> None:
    assert redact("GET /api/v2/userrecordings 200 page=3") == "GET /api/v2/userrecordings 200 page=3"
    assert redact("https://u:p4ssw0rd@h.example/x").endswith("@h.example/x")


def test_registered_secrets_are_redacted_literally() -> None:
    register_secret(CANARY)
    assert redact(f"the server said {CANARY}!") == "the server said ***!"


def test_log_file_is_redacted_and_nothing_goes_to_the_terminal(tmp_path: Path, capfd) -> None:
    register_secret(CANARY)
    path = setup_logging("INFO", tmp_path / "rectui.log")
    log = logging.getLogger("rectui.test")
    log.info("calling with token %s", CANARY)
    try:
        raise RuntimeError(f"boom {CANARY}")
    except RuntimeError:
        log.exception("failed")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = path.read_text()
    assert "calling with token ***" in text and "RuntimeError" in text
    assert CANARY not in text
    out, err = capfd.readouterr()
    assert out == "" and err == ""
