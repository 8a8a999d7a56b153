"""The HTTP core: one `httpx.AsyncClient` per provider instance, the retry policy, the single
mapping from failures to `rectui.errors`, origin-bound credentials, and secret-free events.

No Textual here. Adapters call `HttpCore.request()` / `get_json()` / `download()`; the UI learns
about waits and retries through the `on_event` callback (it posts them as messages).
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import logging
import math
import os
import random
import ssl
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import SecretStr

from rectui.errors import (
    AuthError,
    BadResponse,
    NotFound,
    PermissionDenied,
    ProviderError,
    RateLimited,
    Unavailable,
)
from rectui.logs import redact, register_secret
from rectui.sanitize import one_line

log = logging.getLogger("rectui.http")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Reads are retried on any transient failure. Writes (DELETE, PUT, PATCH, POST) are retried only
# when they certainly were not sent (connect-phase errors) or were refused with 429; after an
# ambiguous failure the adapter verifies with a read (RELIABILITY.md §1.3).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_JSON_BYTES = 20 * 1024 * 1024
MAX_MEDIA_BYTES = 200 * 1024 * 1024
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_AMBIGUOUS = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.WriteError,
              httpx.RemoteProtocolError, httpx.CloseError)


@functools.cache
def _shared_ssl_context() -> ssl.SSLContext:
    """One verifying TLS context for every client (building one costs ~80 ms)."""
    return httpx.create_ssl_context()


def _host_class(host: str) -> str:
    """"public", "private" (loopback, RFC 1918, ULA, localhost) or "forbidden" (link-local — cloud
    metadata lives there —, multicast, unspecified, reserved), for a literal address or localhost.
    Other names count as public (they are not resolved here)."""
    import ipaddress
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return "private"
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return "public"
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return "forbidden"
    if ip.is_loopback or ip.is_private:
        return "private"
    return "public"


class MediaLinkRefused(BadResponse):
    title = "Media link refused"


def origin_of(url: httpx.URL | str) -> str:
    u = httpx.URL(url)
    port = u.port or {"http": 80, "https": 443}.get(u.scheme, 0)
    return f"{u.scheme}://{u.host}:{port}"


def safe_path(url: httpx.URL | str) -> str:
    """Method-and-path display form of a URL: no query, no userinfo, no fragment."""
    u = httpx.URL(url)
    return u.path or "/"


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date). Negative → 0;
    missing or unparsable → None (use our own backoff)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


# -- credentials -----------------------------------------------------------------------------

class OriginBoundAuth(httpx.Auth):
    """Adds credential headers only to requests whose origin is one of `origins`; every other
    request (a page link to another host, a media link) goes out with none of them."""

    def __init__(self, origins: Iterable[str]) -> None:
        self.origins = frozenset(origins)

    def allowed(self, request: httpx.Request) -> bool:
        return origin_of(request.url) in self.origins

    def credential_headers(self) -> Mapping[str, str]:
        return {}

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.allowed(request):
            for k, v in self.credential_headers().items():
                request.headers[k] = v
        yield request


class HeaderAuth(OriginBoundAuth):
    """Static credential headers (Bearer, Basic, X-Auth-Token), origin-bound."""

    def __init__(self, origins: Iterable[str], headers: Mapping[str, SecretStr]) -> None:
        super().__init__(origins)
        self._headers = dict(headers)
        for v in self._headers.values():
            register_secret(v.get_secret_value())

    @classmethod
    def bearer(cls, origins: Iterable[str], token: SecretStr) -> HeaderAuth:
        register_secret(token.get_secret_value())
        return cls(origins, {"Authorization": SecretStr(f"Bearer {token.get_secret_value()}")})

    @classmethod
    def basic(cls, origins: Iterable[str], user: str, password: SecretStr) -> HeaderAuth:
        import base64
        register_secret(password.get_secret_value())
        raw = base64.b64encode(f"{user}:{password.get_secret_value()}".encode()).decode()
        return cls(origins, {"Authorization": SecretStr(f"Basic {raw}")})

    def credential_headers(self) -> Mapping[str, str]:
        return {k: v.get_secret_value() for k, v in self._headers.items()}


# -- retry policy ----------------------------------------------------------------------------

@dataclass
class RetryPolicy:
    attempts: int = 4
    base: float = 0.5                # full jitter: rand × min(cap, base × 2^n)
    cap: float = 20.0
    deadline: float = 45.0           # seconds for the whole call, retries included
    rate_limit_base: float | None = None   # backoff base for a 429 without Retry-After (Kazoo: 1 s)

    def backoff(self, attempt: int, rng: random.Random, base: float | None = None) -> float:
        b = self.base if base is None else base
        return rng.random() * min(self.cap, b * (2 ** (attempt - 1)))


@dataclass
class RetryBudget:
    """Shared by all calls of one provider: retries spend tokens, successes refund them; when it
    runs dry, failures are reported at once instead of retried (the provider looks offline)."""

    capacity: float = 100.0
    retry_cost: float = 5.0
    timeout_cost: float = 10.0
    refund: float = 1.0
    tokens: float = 100.0

    def spend(self, timeout: bool = False) -> bool:
        cost = self.timeout_cost if timeout else self.retry_cost
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True

    def success(self) -> None:
        self.tokens = min(self.capacity, self.tokens + self.refund)


EventKind = Literal["request", "retry", "rate_limited", "failed"]


@dataclass(frozen=True)
class HttpEvent:
    """Something the UI may show: a finished request, a wait before a retry, a failure.
    Holds the method and path only, never a query, header or body."""

    provider: str
    kind: EventKind
    method: str
    path: str
    status: int | None = None
    attempt: int = 1
    wait: float | None = None
    elapsed: float | None = None
    message: str = ""
    at: float = field(default_factory=time.time)


# -- error mapping ---------------------------------------------------------------------------

def _server_message(response: httpx.Response) -> tuple[str, str | None]:
    """The provider's own message and correlation id, cleaned, ≤ 200 characters."""
    corr = (response.headers.get("inin-correlation-id") or response.headers.get("trackingid")
            or response.headers.get("x-request-id"))
    msg = ""
    try:
        body = json.loads(response.content[:65536]) if response.content else None
    except (ValueError, UnicodeDecodeError, httpx.ResponseNotRead):
        body = None
    if isinstance(body, dict):
        err = body.get("error")
        for cand in (body.get("message"), err.get("message") if isinstance(err, dict) else err,
                     (body.get("errors") or [{}])[0].get("description")
                     if isinstance(body.get("errors"), list) and body.get("errors")
                     and isinstance(body["errors"][0], dict) else None):
            if isinstance(cand, str) and cand.strip():
                msg = cand
                break
        for key in ("contextId", "trackingId", "request_id"):
            if isinstance(body.get(key), str):
                corr = corr or body[key]
    return one_line(redact(msg), limit=200), (one_line(corr, limit=80) if corr else None)


def error_for_response(provider: str, method: str, response: httpx.Response,
                       retry_after: float | None = None, now: float | None = None) -> ProviderError:
    """The single mapping from an HTTP failure status to a `rectui.errors` type."""
    status = response.status_code
    server_msg, corr = _server_message(response)
    where = f"{method} {safe_path(response.request.url)}"
    detail = f" ({server_msg})" if server_msg else ""
    kw: dict[str, Any] = {"provider": provider, "status": status, "correlation_id": corr}
    if status == 401:
        return AuthError(f"{where} was refused: the credentials are wrong or have expired{detail}. "
                         "Check them with `rectui config check`.", **kw)
    if status == 403:
        return PermissionDenied(f"{where} is not allowed with these credentials{detail}.", **kw)
    if status in (404, 410):
        return NotFound(f"{where}: not found{detail}; it may have been deleted.", **kw)
    if status == 429:
        when = ""
        if retry_after is not None:
            until = datetime.fromtimestamp((time.time() if now is None else now) + retry_after).strftime("%H:%M:%S")
            when = f" until {until}"
        return RateLimited(f"{where}: rate-limited{when}{detail}; try again later.", retry_after=retry_after,
                           **kw)
    if status >= 500:
        return Unavailable(f"{where}: the server failed ({status}){detail}; try again later.", **kw)
    return BadResponse(f"{where}: unexpected status {status}{detail}.", **kw)


def error_for_exception(provider: str, method: str, url: httpx.URL, exc: BaseException) -> ProviderError:
    where = f"{method} {safe_path(url)}"
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return Unavailable(f"{where}: timed out; the provider is slow or unreachable.", provider=provider,
                           title="Timed out")
    if isinstance(exc, httpx.ConnectError):
        return Unavailable(f"{where}: cannot connect to {httpx.URL(url).host}; check the network and "
                           "base_url.", provider=provider, title="Offline")
    if isinstance(exc, httpx.TransportError):
        return Unavailable(f"{where}: the connection failed ({type(exc).__name__}).", provider=provider)
    return Unavailable(f"{where}: {type(exc).__name__}", provider=provider)


# -- bodies ----------------------------------------------------------------------------------

_INFLATE_STEP = 1 << 20    # zlib grows its output buffer as it goes: bounded steps bound that too


class _CappedDecoder:
    """Decodes a body as it arrives, never inflating more than the room left under the cap: httpx
    inflates each received chunk whole, so one 50 kB chunk of a gzip bomb became 50 MB in memory
    before any cap could look at it (observed)."""

    def __init__(self, encoding: str) -> None:
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip().lower() not in ("", "identity")]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise ValueError(encoding)
        self.coding = codings[0] if codings else None
        wbits = zlib.MAX_WBITS | 16 if self.coding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._z = zlib.decompressobj(wbits) if self.coding else None
        self._first = True

    def feed(self, data: bytes, room: int) -> list[bytes]:
        """The decoded pieces of `data`, at most `room + 1` bytes in all (one more than fits, so the
        caller sees it is over the cap). Raises `zlib.error` for a body that does not decode."""
        if self._z is None:
            return [data]
        if self._first and self.coding == "deflate":
            self._first = False
            try:    # "deflate" is zlib-wrapped by the standard, raw from some servers (as httpx allows)
                return self._inflate(data, room)
            except zlib.error:
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        self._first = False
        return self._inflate(data, room)

    def _inflate(self, data: bytes, room: int) -> list[bytes]:
        assert self._z is not None
        pieces, size = [], 0
        while True:
            piece = self._z.decompress(data, min(room + 1 - size, _INFLATE_STEP))
            pieces.append(piece)
            size += len(piece)
            data = self._z.unconsumed_tail
            if (not data and len(piece) < _INFLATE_STEP) or size > room:
                return pieces


# -- the client ------------------------------------------------------------------------------

class HttpCore:
    """One provider instance's HTTP client with the retry policy and error mapping."""

    def __init__(self, provider: str, base_url: str, *, auth: OriginBoundAuth | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 media_transport: httpx.AsyncBaseTransport | None = None,
                 policy: RetryPolicy | None = None, budget: RetryBudget | None = None,
                 timeout: httpx.Timeout | None = None, concurrency: int = 4,
                 headers: Mapping[str, str] | None = None, verify: bool = True,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 rng: random.Random | None = None, wall: Callable[[], float] = time.time,
                 on_event: Callable[[HttpEvent], None] | None = None,
                 max_json_bytes: int = MAX_JSON_BYTES) -> None:
        self.provider = provider
        self.base_url = httpx.URL(base_url.rstrip("/") + "/")
        self.policy = policy or RetryPolicy()
        self.budget = budget or RetryBudget()
        self.clock, self.sleep, self.wall = clock, sleep, wall
        self.rng = rng or random.Random()
        self.on_event = on_event
        self.max_json_bytes = max_json_bytes
        self.recent: deque[HttpEvent] = deque(maxlen=200)
        self._sem = asyncio.Semaphore(concurrency)
        timeout = timeout or httpx.Timeout(connect=5, read=30, write=30, pool=5)
        tls: ssl.SSLContext | bool = _shared_ssl_context() if verify else False
        # Only the encodings `_CappedDecoder` inflates under the byte cap.
        common_headers = {"User-Agent": f"rectui/{_version()}", "Accept-Encoding": "gzip, deflate", **(headers or {})}
        # Credentials are on this client only; it never follows redirects (X-Auth-Token would be
        # forwarded to another host by httpx), and its Auth adds them for configured origins only.
        self.client = httpx.AsyncClient(base_url=self.base_url, auth=auth, transport=transport,
                                        timeout=timeout, follow_redirects=False, headers=common_headers,
                                        verify=tls)
        # Temporary media links get a client with no credentials at all.
        # Every request it makes, redirects included, passes the media-link check first.
        self.allow_private_media = _host_class(self.base_url.host) == "private"
        self.allow_plain_http_media = self.base_url.scheme == "http"   # the user configured plain http
        self.media_client = httpx.AsyncClient(transport=media_transport or transport, timeout=timeout,
                                              follow_redirects=True, max_redirects=5,
                                              headers={**common_headers, "Accept-Encoding": "identity"},
                                              verify=tls, event_hooks={"request": [self._check_media_link]})

    async def _check_media_link(self, request: httpx.Request) -> None:
        """Server-provided media links (and their redirects) may point anywhere: only https (or
        http when the provider's own API is configured as http, as the emulator is), never
        `file:`/`ftp:`, never a link-local (cloud metadata), multicast or reserved address, and never
        a loopback or private one unless the provider itself is on one (RELIABILITY §3.6). Host
        names are checked as written; names that resolve to private addresses are not caught (no
        DNS pinning yet)."""
        url = request.url
        scheme_ok = url.scheme == "https" or (url.scheme == "http" and self.allow_plain_http_media)
        target = _host_class(url.host)
        if not scheme_ok or target == "forbidden" or (target == "private" and not self.allow_private_media):
            raise MediaLinkRefused(f"refusing a media link to {url.scheme}://{one_line(url.host, limit=80)}: "
                                   "only public https links are fetched", provider=self.provider)

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.media_client.aclose()

    def _emit(self, event: HttpEvent) -> None:   # kept for adapters written before `emit` was public
        self.emit(event)

    def emit(self, event: HttpEvent) -> None:
        self.recent.append(event)
        log.info("%s %s %s %s %s", event.provider, event.kind, event.method, event.path,
                 event.status if event.status is not None else event.message)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # a UI callback must never break a request
                log.exception("on_event callback failed")

    def url(self, path: str) -> httpx.URL:
        """`path` relative to the base URL (a leading '/' is host-relative, as in page links)."""
        return self.base_url.join(path)

    async def request(self, method: str, url: str | httpx.URL, *, params: Mapping[str, Any] | None = None,
                      json_body: Any = None, content: bytes | None = None,
                      data: Mapping[str, str] | None = None,
                      headers: Mapping[str, str] | None = None, idempotent: bool | None = None,
                      deadline: float | None = None, ok: Callable[[int], bool] | None = None,
                      media: bool = False, attempts: int | None = None) -> httpx.Response:
        """Send with the retry policy; returns a response whose body has been read (capped), or
        raises a `rectui.errors` type. `ok(status)` decides success (default: 2xx)."""
        method = method.upper()
        idempotent = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        max_attempts = attempts or (self.policy.attempts if idempotent else min(3, self.policy.attempts))
        ok = ok or (lambda s: 200 <= s < 300)
        client = self.media_client if media else self.client
        deadline = self.policy.deadline if deadline is None else deadline
        started = self.clock()
        req = client.build_request(method, url, params=params, json=json_body, content=content, data=data,
                                   headers=headers)
        path = safe_path(req.url)
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - (self.clock() - started)
            if remaining <= 0:
                raise Unavailable(f"{method} {path}: timed out after {deadline:g} s", provider=self.provider,
                                  title="Timed out")
            sent_at = self.clock()
            try:
                response = await self._send_once(client, req, remaining)
            except (httpx.TransportError, TimeoutError) as exc:
                sent_maybe = not isinstance(exc, _NOT_SENT)
                if isinstance(exc, TimeoutError) and not isinstance(exc, httpx.TimeoutException):
                    self.emit(HttpEvent(self.provider, "failed", method, path, attempt=attempt,
                                         message=f"timed out after {deadline:g} s"))
                    raise Unavailable(f"{method} {path}: timed out after {deadline:g} s",
                                      provider=self.provider, title="Timed out") from None
                retryable = (not sent_maybe or idempotent) and attempt < max_attempts
                if retryable and self.budget.spend(timeout=isinstance(exc, httpx.TimeoutException)):
                    wait = self.policy.backoff(attempt, self.rng)
                    if await self._wait(method, path, attempt, wait, None, started, deadline,
                                        f"{type(exc).__name__}"):
                        continue
                err = error_for_exception(self.provider, method, req.url, exc)
                self.emit(HttpEvent(self.provider, "failed", method, path, attempt=attempt, message=err.title))
                raise err from None
            status = response.status_code
            self.emit(HttpEvent(self.provider, "request", method, path, status=status, attempt=attempt,
                                 elapsed=self.clock() - sent_at))
            if ok(status):
                self.budget.success()
                return response
            if status in RETRY_STATUSES:
                retry_after = parse_retry_after(response.headers.get("retry-after"), self.wall())
                retryable = (status == 429 or idempotent) and attempt < max_attempts
                if retryable and self.budget.spend():
                    if retry_after is None:
                        base = self.policy.rate_limit_base if status == 429 else None
                        wait = self.policy.backoff(attempt, self.rng, base)
                    else:
                        wait = retry_after
                    if await self._wait(method, path, attempt, wait, status, started, deadline,
                                        f"status {status}"):
                        continue
                    if status == 429:
                        raise error_for_response(self.provider, method, response, retry_after=wait, now=self.wall())
                raise error_for_response(self.provider, method, response, retry_after=retry_after, now=self.wall())
            raise error_for_response(self.provider, method, response)

    async def _wait(self, method: str, path: str, attempt: int, wait: float, status: int | None,
                    started: float, deadline: float, why: str) -> bool:
        """Sleep `wait` before the next try, unless that would pass the deadline (→ False)."""
        if self.clock() - started + wait > deadline:
            self.emit(HttpEvent(self.provider, "rate_limited" if status == 429 else "failed", method, path,
                                 status=status, attempt=attempt, wait=wait,
                                 message=f"{why}; retry in {wait:.0f} s is past the deadline"))
            return False
        self.emit(HttpEvent(self.provider, "retry", method, path, status=status, attempt=attempt, wait=wait,
                             message=f"{why}; retry in {wait:.1f} s"))
        await self.sleep(wait)
        return True

    async def _send_once(self, client: httpx.AsyncClient, req: httpx.Request, remaining: float) -> httpx.Response:
        """One attempt, its body read under the byte cap, within `remaining` seconds of wall time
        (httpx's read timeout is per chunk: a trickling body would never trip it)."""
        async with self._sem, asyncio.timeout(remaining):
            response = await client.send(req, stream=True)
            try:
                chunks: list[bytes] = []
                too_large = (f"{req.method} {safe_path(req.url)}: response too large "
                             f"(over {self.max_json_bytes // 1_000_000} MB)")
                async for piece in self._capped(response, self.max_json_bytes, too_large):
                    chunks.append(piece)
                response._content = b"".join(chunks)
            finally:
                await response.aclose()
            return response

    async def _capped(self, response: httpx.Response, limit: int, too_large: str) -> AsyncIterator[bytes]:
        """The decoded body of `response`, raising `BadResponse` (titled "Too large") as soon as it
        passes `limit` bytes, decoded a bounded piece at a time (a gzip bomb never inflates past
        the cap), or when it is in an encoding we did not ask for or does not decode."""
        where = f"{response.request.method} {safe_path(response.request.url)}"
        if response.is_stream_consumed:
            # A transport that hands over a body it already read (and decoded): only the cap applies.
            if len(response.content) > limit:
                raise BadResponse(too_large, provider=self.provider, status=response.status_code, title="Too large")
            yield response.content
            return
        try:
            decoder = _CappedDecoder(response.headers.get("content-encoding", ""))
        except ValueError:
            raise BadResponse(f"{where}: the response is in an encoding rectui did not ask for "
                              f"({one_line(response.headers.get('content-encoding', ''), limit=40)})",
                              provider=self.provider, status=response.status_code) from None
        size = 0
        async for raw in response.aiter_raw():
            try:
                pieces = decoder.feed(raw, limit - size)
            except zlib.error:
                raise BadResponse(f"{where}: the compressed response does not decode", provider=self.provider,
                                  status=response.status_code) from None
            for piece in pieces:
                size += len(piece)
                if size > limit:
                    raise BadResponse(too_large, provider=self.provider, status=response.status_code,
                                      title="Too large")
                yield piece

    async def get_json(self, url: str | httpx.URL, *, params: Mapping[str, Any] | None = None,
                       headers: Mapping[str, str] | None = None,
                       deadline: float | None = None) -> tuple[Any, httpx.Response]:
        """GET and parse JSON; anything that is not JSON (an HTML login page, garbage, a
        truncated body, NaN) raises `BadResponse`, never an empty result."""
        response = await self.request("GET", url, params=params, headers=headers, deadline=deadline)
        return self.parse_json(response), response

    def parse_json(self, response: httpx.Response) -> Any:
        where = f"{response.request.method} {safe_path(response.request.url)}"
        ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype and not (ctype == "application/json" or ctype.endswith("+json") or ctype == "text/json"):
            raise BadResponse(f"{where}: expected JSON but got {one_line(ctype, limit=60)}; "
                              "a proxy or login page may be in the way.", provider=self.provider,
                              status=response.status_code)
        try:
            return json.loads(response.content, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadResponse(f"{where}: the response is not valid JSON ({type(exc).__name__}).",
                              provider=self.provider, status=response.status_code) from None

    @asynccontextmanager
    async def stream(self, method: str, url: str | httpx.URL, *, media: bool = True,
                     headers: Mapping[str, str] | None = None,
                     params: Mapping[str, Any] | None = None) -> AsyncIterator[httpx.Response]:
        """A streamed response (for media) after the status was checked; the caller reads it."""
        client = self.media_client if media else self.client
        req = client.build_request(method, url, headers=headers, params=params)
        try:
            response = await client.send(req, stream=True)
        except httpx.TransportError as exc:
            raise error_for_exception(self.provider, method, req.url, exc) from None
        try:
            if not 200 <= response.status_code < 300:
                await response.aread()
                raise error_for_response(self.provider, method, response)
            yield response
        finally:
            await response.aclose()

    async def download(self, url: str | httpx.URL, dest: Path, *, max_bytes: int = MAX_MEDIA_BYTES,
                       media: bool = True, headers: Mapping[str, str] | None = None,
                       params: Mapping[str, Any] | None = None,
                       deadline: float | None = None) -> tuple[int, str | None]:
        """Stream the body to `dest` (created exclusively), at most `max_bytes` of downloaded body,
        retried from byte 0 on transient failures. Returns (size, content type). On any failure
        `dest` is removed."""
        deadline = deadline if deadline is not None else 30 + max_bytes / 1_000_000
        attempts = 3
        for attempt in range(1, attempts + 1):
            try:
                async with asyncio.timeout(deadline):
                    return await self._download_once(url, dest, max_bytes, media, headers, params)
            except (Unavailable, TimeoutError) as exc:
                dest.unlink(missing_ok=True)  # noqa: ASYNC240 (one quick syscall)
                if attempt == attempts or isinstance(exc, TimeoutError):
                    if isinstance(exc, TimeoutError):
                        raise Unavailable(f"GET {safe_path(url)}: the download timed out after {deadline:g} s",
                                          provider=self.provider, title="Timed out") from None
                    raise
                await self.sleep(self.policy.backoff(attempt, self.rng))
            except BaseException:
                dest.unlink(missing_ok=True)  # noqa: ASYNC240 (one quick syscall)
                raise
        raise AssertionError("unreachable")

    async def _download_once(self, url: str | httpx.URL, dest: Path, max_bytes: int, media: bool,
                             headers: Mapping[str, str] | None,
                             params: Mapping[str, Any] | None) -> tuple[int, str | None]:
        hdrs = {"Accept-Encoding": "identity", **(headers or {})}
        async with self.stream("GET", url, media=media, headers=hdrs, params=params) as response:
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise BadResponse(f"GET {safe_path(url)}: the media is {int(declared) // 1_000_000} MB, over the "
                                  f"{max_bytes // 1_000_000} MB limit", provider=self.provider, title="Too large")
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(dest, flags, 0o600)
            size = 0
            try:
                with os.fdopen(fd, "wb") as fh:
                    too_large = f"GET {safe_path(url)}: the media is over the {max_bytes // 1_000_000} MB limit"
                    async for chunk in self._capped(response, max_bytes, too_large):
                        size += len(chunk)
                        fh.write(chunk)
            except httpx.TransportError as exc:
                raise error_for_exception(self.provider, "GET", httpx.URL(url), exc) from None
            return size, response.headers.get("content-type")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _version() -> str:
    from rectui import __version__
    return __version__
