"""The provider interface: what the UI and the operations layer may ask of any provider.

One module per provider implements it (private pydantic wire models in, `rectui.models` out,
`rectui.errors` as the only failures). The UI reads `capabilities` first and shows or hides
actions by them; methods a provider cannot do raise `Unsupported` as a safety net.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from rectui.errors import (
    AuthError,
    BadResponse,
    InvalidId,
    NotFound,
    PermissionDenied,
    ProviderError,
    RateLimited,
    Unavailable,
    Unsupported,
)
from rectui.models import Capabilities, Cursor, DeleteOutcome, ListQuery, Media, Page, Recording
from rectui.providers.http import HttpCore, HttpEvent, OriginBoundAuth, RetryPolicy

DEFAULT_MAX_MEDIA_BYTES = 200 * 1024 * 1024
OUTCOME_UNKNOWN = "Delete outcome unknown"
"""The title of the `Unavailable` raised when a write failed ambiguously and checking failed too."""


def outcome_unknown(exc: BaseException) -> bool:
    """Whether `exc` says "this write may or may not have happened" (journal: `unknown`)."""
    return isinstance(exc, Unavailable) and exc.title.endswith("outcome unknown")


@runtime_checkable
class RecordingProvider(Protocol):
    id: str
    """The configured instance name (`[providers.<id>]`)."""
    kind: str
    display_name: str
    capabilities: Capabilities

    async def list_recordings(self, query: ListQuery, cursor: Cursor | None = None) -> Page:
        """One page; `cursor` from a previous page's `next`/`prev`, None for the first."""
        ...

    async def get_recording(self, recording_id: str) -> Recording: ...

    async def fetch_media(self, recording: Recording, dest_dir: Path, *,
                          max_bytes: int = DEFAULT_MAX_MEDIA_BYTES) -> Media:
        """Download the audio into a new file in `dest_dir`; format sniffed from the bytes."""
        ...

    async def delete_recording(self, recording_id: str) -> DeleteOutcome:
        """Delete (Webex: into the recycle bin). A recording already gone raises `NotFound`
        titled "Already deleted" (Webex: "Already gone"); an ambiguous failure that could not be
        checked raises `Unavailable` titled `OUTCOME_UNKNOWN`."""
        ...

    async def restore_recording(self, recording_id: str) -> DeleteOutcome:
        """Out of the recycle bin (Webex); `deleted` here reads "done"."""
        ...

    async def purge_recording(self, recording_id: str) -> DeleteOutcome: ...

    async def rename(self, recording_id: str, fields: Mapping[str, str | None]) -> Recording: ...

    async def set_tags(self, recording_id: str, tags: frozenset[str]) -> Recording: ...

    async def check(self) -> None:
        """One cheap authenticated call (for `rectui config check`); raises on failure."""
        ...

    def describe(self) -> str:
        """A secret-free one-liner: kind and base URL."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class NumberPaged(Protocol):
    """What a provider that numbers its pages (`capabilities.page_style == "number"`: Genesys,
    Restcomm, Screendesk) adds for first/last/jump-to page. Kept out of `RecordingProvider` and
    out of `BaseProvider`: the UI reads a missing `page_cursor` as "cannot jump", so cursor-paged
    providers (Kazoo, Webex) must not have one."""

    def page_cursor(self, query: ListQuery, number: int) -> Cursor:
        """The cursor that, given to `list_recordings(query, cursor)`, returns page `number`
        (1-based) with the same items, `page_number`, `next` and `prev` as reaching it by
        following `next` from the first page. Synchronous and sends nothing. A number past the
        last page (the list shrank since its count was shown) lists the last page instead, whose
        `page_number` says which it is (Restcomm in a date range, whose pages carry no number,
        adds a warning instead); a number below 1 is a ValueError. A page that could only be
        found by reading too many pages before it is `Unsupported`, raised by the listing."""
        ...


# -- the shared adapter base ------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)
_UNSAFE_ID = re.compile(r"(\.\.|[/?#%\\\s\x00-\x1f\x7f]|\ufffd)")


class BaseProvider:
    """What every adapter shares: its HttpCore, id checks, cursor encoding, capability checks and
    `Unsupported` defaults. Subclasses set `kind`, `capabilities`, `ID_PATTERN` and implement
    the methods their provider can do."""

    kind: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities]
    ID_PATTERN: ClassVar[re.Pattern[str]] = re.compile(r"[A-Za-z0-9_-]{1,128}")
    ORDER_APPROXIMATE: ClassVar[bool] = False
    """True where the listing order is not guaranteed newest-first (Genesys, Screendesk)."""

    def __init__(self, name: str, settings: Any, *, transport: httpx.AsyncBaseTransport | None = None,
                 media_transport: httpx.AsyncBaseTransport | None = None, policy: RetryPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] | None = None, rng: random.Random | None = None,
                 on_event: Callable[[HttpEvent], None] | None = None) -> None:
        self.id = name
        self.settings = settings
        self.display_name = getattr(settings, "display_name", None) or name
        self.read_only = bool(getattr(settings, "read_only", False))
        self.wall = wall
        self.http = HttpCore(name, settings.base_url, auth=self.make_auth(), transport=transport,
                             media_transport=media_transport, policy=policy or self.default_policy(),
                             clock=clock, wall=wall, sleep=sleep or asyncio.sleep, rng=rng, on_event=on_event,
                             verify=getattr(settings, "verify_tls", True))

    # -- hooks ---------------------------------------------------------------------------------
    def make_auth(self) -> OriginBoundAuth | None:
        return None

    def default_policy(self) -> RetryPolicy:
        return RetryPolicy()

    @property
    def origins(self) -> tuple[str, ...]:
        return tuple(self.settings.origins)

    def describe(self) -> str:
        return f"{self.kind} at {httpx.URL(self.settings.base_url).copy_with(query=None)}"

    async def aclose(self) -> None:
        await self.http.aclose()

    # -- helpers -------------------------------------------------------------------------------
    def id_is_safe(self, recording_id: str) -> bool:
        return bool(self.ID_PATTERN.fullmatch(recording_id)) and not _UNSAFE_ID.search(recording_id)

    def seg(self, recording_id: str) -> str:
        """`recording_id` as one percent-encoded path segment, after checking it against the
        provider's id syntax: an id that could retarget the request is refused, nothing sent."""
        if not self.id_is_safe(recording_id):
            raise InvalidId(f"refusing to act on recording id {recording_id[:80]!r}: it does not look like a "
                            f"{self.kind} id and could change which resource the request reaches",
                            provider=self.id)
        return quote(recording_id, safe="")

    def cursor(self, **data: Any) -> Cursor:
        return Cursor(provider=self.id, token=json.dumps(data, separators=(",", ":"), sort_keys=True))

    @staticmethod
    def jump_number(number: int) -> int:
        """A page number for `page_cursor`: a whole number from 1 (ValueError otherwise)."""
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise ValueError(f"page numbers start at 1, not {number!r}")
        return number

    def read_cursor(self, cursor: Cursor | None) -> dict[str, Any]:
        if cursor is None:
            return {}
        if cursor.provider != self.id:
            raise ValueError(f"cursor of {cursor.provider!r} given to {self.id!r}")
        data = json.loads(cursor.token)
        if not isinstance(data, dict):
            raise ValueError("malformed cursor")
        return data

    def require(self, query: ListQuery) -> None:
        """Raise `Unsupported` for a filter or server sort this provider cannot do."""
        caps = self.capabilities
        missing = sorted(query.filters_used() - set(caps.server_filters))
        if missing:
            raise Unsupported(f"{self.display_name} cannot filter by {', '.join(missing)} on the server",
                              provider=self.id)
        if query.sort is not None and query.sort.key not in caps.server_sort:
            raise Unsupported(f"{self.display_name} cannot sort by {query.sort.key} on the server; "
                              "sort the loaded rows instead", provider=self.id)

    def page_size(self, query: ListQuery, default: int = 50) -> int:
        size = query.page_size or getattr(self.settings, "page_size", None) or default
        return max(1, min(size, self.capabilities.max_page_size))

    def parse(self, model: type[M], data: Any, where: str) -> M:
        """Validate a wire document; a mismatch is `BadResponse`, never a crash or an empty page."""
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            loc = ".".join(str(p) for p in first["loc"]) or "(top)"
            raise BadResponse(f"{where}: unexpected response shape at {loc}: {first['msg']}",
                              provider=self.id) from None

    def unsupported(self, what: str, why: str = "") -> Unsupported:
        return Unsupported(f"{self.display_name} cannot {what}" + (f": {why}" if why else ""), provider=self.id)

    async def verified_write(self, send: Callable[[], Awaitable[Any]], probe: Callable[[], Awaitable[bool]], *,
                             already_gone: Callable[[NotFound], ProviderError], what: str = "deleted",
                             gone_is_done: bool = True, retry_failure_unknown: bool = False,
                             unknown_title: str = OUTCOME_UNKNOWN,
                             on_outcome: Callable[[str], None] | None = None) -> DeleteOutcome:
        """A write that must not be repeated blindly (RELIABILITY.md §1.3), shared by the
        adapters' delete (and Webex's restore and purge).

        `send()` makes the request once; the HTTP core has already retried what certainly was not
        sent (connect errors) and 429s. A 404 on this first try raises `already_gone(exc)`. An
        `Unavailable` titled "Offline" (the connection never opened) is raised as it is. Any
        other `Unavailable` (5xx, timeout, reset) is ambiguous: `probe()` reads the recording and
        returns True when the write still has to be done, False when it shows it done; a
        `NotFound` from it counts as done when `gone_is_done`. Done → `deleted-confirmed-by-404`.
        Still to do → `send()` once more, whose 404 also counts as done (when `gone_is_done`).
        When the probe cannot tell (unavailable, unreadable, rate-limited, refused), an
        `Unavailable` titled `unknown_title` is raised; an `AuthError` always passes through (it
        pauses the provider). After a second ambiguous failure the probe is asked once more
        (never a third write): done → confirmed, still there → the failure is raised as it is
        ("failed"); with `retry_failure_unknown` it is raised at once as an unknown outcome.

        `on_outcome` hears "done", "confirmed" (the probe saw it done), "confirmed-by-404",
        "unknown" and "already-gone", for adapters that keep their own record."""
        def tell(outcome: str) -> None:
            if on_outcome is not None:
                on_outcome(outcome)

        try:
            await send()
        except NotFound as exc:
            tell("already-gone")
            raise already_gone(exc) from None
        except Unavailable as exc:
            if exc.title == "Offline":        # the connection never opened: certainly not sent
                raise
            ambiguous = exc
        else:
            tell("done")
            return "deleted"
        outcome = await self._probe_after(probe, ambiguous, what=what, gone_is_done=gone_is_done,
                                          unknown_title=unknown_title, tell=tell)
        if outcome is not None:
            return outcome
        try:
            await send()
        except NotFound:
            if not gone_is_done:
                raise
            tell("confirmed-by-404")
            return "deleted-confirmed-by-404"
        except Unavailable as exc:
            if retry_failure_unknown:
                tell("unknown")
                raise Unavailable(f"{exc.message} Sent twice; whether it was {what} is unknown.", provider=self.id,
                                  status=exc.status, correlation_id=exc.correlation_id,
                                  title=unknown_title) from None
            if exc.title == "Offline":
                raise
            # Failed twice, ambiguously: one more read says whether the second try went through
            # (never a third write). Still there: it failed.
            outcome = await self._probe_after(probe, exc, what=what, gone_is_done=gone_is_done,
                                              unknown_title=unknown_title, tell=tell)
            if outcome is None:
                raise
            return outcome
        tell("done")
        return "deleted"

    async def _probe_after(self, probe: Callable[[], Awaitable[bool]], ambiguous: Unavailable, *, what: str,
                           gone_is_done: bool, unknown_title: str,
                           tell: Callable[[str], None]) -> DeleteOutcome | None:
        """After an ambiguous failure: `deleted-confirmed-by-404` when the probe shows the write
        done, None when it still has to be done; an unknown outcome raises."""
        try:
            still_to_do = await probe()
        except NotFound:
            if not gone_is_done:
                raise
            tell("confirmed-by-404")
            return "deleted-confirmed-by-404"
        except AuthError:
            raise
        except (Unavailable, BadResponse, RateLimited, PermissionDenied) as exc:
            tell("unknown")
            raise Unavailable(f"{ambiguous.message} Whether it was {what} is unknown: checking failed too "
                              f"({exc.message}). Refresh to see.", provider=self.id, status=ambiguous.status,
                              correlation_id=ambiguous.correlation_id, title=unknown_title) from None
        if not still_to_do:
            tell("confirmed")
            return "deleted-confirmed-by-404"
        return None

    # -- defaults for what a provider cannot do --------------------------------------------------
    async def fetch_media(self, recording: Recording, dest_dir: Path, *,
                          max_bytes: int = DEFAULT_MAX_MEDIA_BYTES) -> Media:
        raise self.unsupported("download audio")

    async def delete_recording(self, recording_id: str) -> DeleteOutcome:
        raise self.unsupported("delete recordings")

    async def restore_recording(self, recording_id: str) -> DeleteOutcome:
        raise self.unsupported("restore recordings")

    async def purge_recording(self, recording_id: str) -> DeleteOutcome:
        raise self.unsupported("purge recordings")

    async def rename(self, recording_id: str, fields: Mapping[str, str | None]) -> Recording:
        raise self.unsupported("rename recordings")

    async def set_tags(self, recording_id: str, tags: frozenset[str]) -> Recording:
        raise self.unsupported("store tags on the server", "tags are kept locally")

    async def check(self) -> None:
        await self.list_recordings(ListQuery(page_size=1))

    async def list_recordings(self, query: ListQuery, cursor: Cursor | None = None) -> Page:
        raise NotImplementedError

    async def get_recording(self, recording_id: str) -> Recording:
        raise NotImplementedError
