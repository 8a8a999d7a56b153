"""Logging to a file (never the terminal: the TUI owns it) with every secret redacted.

`redact()` is the one function that cleans text bound for logs, toasts, error messages and
`config check`: authorization headers, tokens in query strings, presigned signatures, URL
userinfo, and the literal value of every secret registered with `register_secret()`.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

from rectui.paths import ensure_private_dir, log_dir

MASK = "***"
_PATTERNS = [
    # header lines and reprs: "Authorization: Bearer x", "'x-auth-token': 'x'", cookie
    re.compile(r"(?i)((?:authorization|x-auth-token|cookie|set-cookie)['\"]?\s*[:=]\s*['\"]?)"
               r"(?:(?:bearer|basic|token)\s+)?[^\s'\",}]+"),
    # query parameters and form fields carrying credentials or signatures
    re.compile(r"(?i)((?:auth_token|access_token|refresh_token|client_secret|api_key|password|token|"
               r"signature|x-amz-signature|sig|key)=)[^&\s'\"#]+"),
    # JSON fields carrying credentials
    re.compile(r"(?i)(\"(?:auth_token|access_token|refresh_token|client_secret|api_key|password|"
               r"credentials)\"\s*:\s*\")[^\"]*"),
    # userinfo in URLs: scheme://user:pass@host
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+(?=@)"),
]
_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Redact this literal value everywhere from now on (short values are ignored: masking
    every "a" would ruin the text and protect nothing)."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    out = text
    for pat in _PATTERNS:
        out = pat.sub(lambda m: (m.group(1) if m.re.groups else "") + MASK, out)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in out:
            out = out.replace(secret, MASK)
    return out


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def setup_logging(level: str = "WARNING", path: Path | None = None) -> Path:
    """Send rectui's logs (and its libraries') to a file in the user log dir, redacted."""
    if path is None:
        path = ensure_private_dir(log_dir()) / "rectui.log"
    teardown_logging()
    root = logging.getLogger()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler._rectui = True  # type: ignore[attr-defined]
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs full URLs at INFO; keep them out unless asked for DEBUG (they are redacted anyway)
    for name in ("httpx", "httpcore", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING)
    return path


def teardown_logging() -> None:
    """Remove and close the handler `setup_logging` installed."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_rectui", False):
            root.removeHandler(handler)
            handler.close()
