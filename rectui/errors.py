"""The one error hierarchy that leaves the provider layer.

Every error has a short `title` (for a toast or the sidebar chip) and a `message` that tells the
user what happened and what to do. Neither ever holds a secret or a URL's query string: the HTTP
core builds them from redacted parts only.
"""

from __future__ import annotations


class RectuiError(Exception):
    """Base class. `title` is a few words; `message` is a sentence or two with the next step."""

    title = "Error"

    def __init__(self, message: str, *, title: str | None = None, provider: str | None = None,
                 status: int | None = None, correlation_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title
        self.provider = provider
        self.status = status
        self.correlation_id = correlation_id

    def __str__(self) -> str:
        return self.message

    def one_line(self) -> str:
        """`Provider · title · status · message · correlation id`, for logs and the sidebar."""
        parts = [p for p in (self.provider, self.title) if p]
        if self.status:
            parts.append(str(self.status))
        parts.append(self.message)
        if self.correlation_id:
            parts.append(f"id {self.correlation_id}")
        return " · ".join(parts)


class ConfigError(RectuiError):
    """The configuration file or environment is wrong; the message names the file and key."""

    title = "Configuration error"


class ProviderError(RectuiError):
    """Anything that went wrong talking to a provider."""

    title = "Provider error"


class AuthError(ProviderError):
    """401: the credentials are wrong or expired. Pauses the provider until fixed."""

    title = "Authentication failed"


class PermissionDenied(ProviderError):
    """403: this call is not allowed with these credentials. Fails only this call or item."""

    title = "Permission denied"


class NotFound(ProviderError):
    """404: the recording (or route) does not exist, or no longer does."""

    title = "Not found"


class RateLimited(ProviderError):
    """429 whose wait is longer than the call may take. `retry_after` is in seconds."""

    title = "Rate-limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class Unavailable(ProviderError):
    """The provider cannot be reached, timed out, or answered 5xx after the retries."""

    title = "Unavailable"


class BadResponse(ProviderError):
    """The provider answered something we cannot read (wrong type, malformed, too large)."""

    title = "Bad response"


class Unsupported(ProviderError):
    """The provider cannot do this at all (no media API, no delete, no server sort on a key…)."""

    title = "Not supported"


class InvalidId(ProviderError):
    """A recording id that could retarget a request (`..`, `/`, `?`…): nothing was sent."""

    title = "Unsafe recording id"
