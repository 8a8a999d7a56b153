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

from rectui.errors import BadResponse, InvalidId, Unsupported
from rectui.models import Capabilities, Cursor, ListQuery, Media, Page, Recording
from rectui.providers.http import HttpCore, HttpEvent, OriginBoundAuth, RetryPolicy

DEFAULT_MAX_MEDIA_BYTES = 200 * 1024 * 1024


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

    async def delete_recording(self, recording_id: str) -> None: ...

    async def restore_recording(self, recording_id: str) -> None: ...

    async def purge_recording(self, recording_id: str) -> None: ...

    async def rename(self, recording_id: str, fields: Mapping[str, str | None]) -> Recording: ...

    async def set_tags(self, recording_id: str, tags: frozenset[str]) -> Recording: ...

    async def check(self) -> None:
        """One cheap authenticated call (for `rectui config check`); raises on failure."""
        ...

    def describe(self) -> str:
        """A secret-free one-liner: kind and base URL."""
        ...

    async def aclose(self) -> None: ...


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

    # -- defaults for what a provider cannot do --------------------------------------------------
    async def fetch_media(self, recording: Recording, dest_dir: Path, *,
                          max_bytes: int = DEFAULT_MAX_MEDIA_BYTES) -> Media:
        raise self.unsupported("download audio")

    async def delete_recording(self, recording_id: str) -> None:
        raise self.unsupported("delete recordings")

    async def restore_recording(self, recording_id: str) -> None:
        raise self.unsupported("restore recordings")

    async def purge_recording(self, recording_id: str) -> None:
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
