"""The provider-neutral types that leave the provider layer: `Recording`, `Page`, `ListQuery`,
`SortSpec`, `Capabilities`, `Cursor`, `Media`.

Every string that came from a server is sanitised when the model is built (`rectui.sanitize`),
times are tz-aware UTC, durations are seconds (None when unknown).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from rectui.sanitize import clean, one_line

ProviderKind = Literal["genesys", "kazoo", "restcomm", "webex", "screendesk"]
PROVIDER_KINDS: tuple[ProviderKind, ...] = ("genesys", "kazoo", "restcomm", "webex", "screendesk")

SortKey = Literal["start", "duration", "title", "owner", "caller", "call_id", "size"]
FilterKey = Literal["since", "until", "call_id", "owner", "caller", "status", "topic", "service_type"]
MediaFormat = Literal["wav", "mp3", "ogg", "webm", "mp4", "unknown"]
RecordingStatus = Literal["available", "deleted", "purged", "processing", "unknown"]
DeleteOutcome = Literal["deleted", "deleted-confirmed-by-404"]
"""How a delete (or a Webex restore or purge) ended: `deleted` when the provider said so at once;
`deleted-confirmed-by-404` when an ambiguous failure (5xx, timeout, reset) was followed by a read
that showed it done (a 404, or for Webex the recording's recycle-bin state). A recording that was
already gone raises `NotFound` instead."""

TAG_LIMIT = 100


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("a time without a time zone cannot be placed; expected a tz-aware datetime")
    return value.astimezone(UTC)


def _clean_value(value: Any) -> Any:
    """Recursively sanitise the strings of a JSON-like value (keys too)."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(str(k), limit=200): _clean_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_value(v) for v in value]
    return value


Line = Annotated[str, AfterValidator(one_line)]
"""Server text shown on one line: sanitised, TAB/LF as spaces, length-capped."""
Text = Annotated[str, AfterValidator(clean)]
"""Server text that may span lines: sanitised, length-capped."""
UtcTime = Annotated[datetime, AfterValidator(_utc)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Recording(_Model):
    """One recording, as any provider gives it."""

    provider: str
    """The configured provider instance name (not the kind): keys are (provider, id)."""
    id: Line
    id_valid: bool = True
    """False when the id could retarget a request (`..`, `/`, `?`…): shown, but never acted on."""
    title: Line = ""
    start: UtcTime | None = None
    duration: float | None = Field(default=None, ge=0)
    caller: Line | None = None
    callee: Line | None = None
    owner: Line | None = None
    direction: Line | None = None
    status: RecordingStatus = "available"
    call_id: Line | None = None
    tags: frozenset[str] = frozenset()
    """Tags stored on the server (Kazoo); local tags live in the store."""
    size: int | None = Field(default=None, ge=0)
    has_media: bool = True
    media_note: Line | None = None
    """Why there is no media, when `has_media` is False (e.g. "downloads are prevented")."""
    viewer_url: Line | None = None
    details: dict[str, str] = Field(default_factory=dict)
    """Every field the provider gave, as label → readable value, for the detail pane."""
    raw: dict[str, Any] = Field(default_factory=dict)
    """The provider's own document (sanitised), for "raw values on demand"."""

    @field_validator("tags", mode="after")
    @classmethod
    def _tags(cls, tags: frozenset[str]) -> frozenset[str]:
        return frozenset(t for t in (one_line(t, limit=TAG_LIMIT).strip() for t in tags) if t)

    @field_validator("details", mode="after")
    @classmethod
    def _details(cls, details: dict[str, str]) -> dict[str, str]:
        return {one_line(k, limit=200): clean(v) for k, v in details.items()}

    @field_validator("raw", mode="after")
    @classmethod
    def _raw(cls, raw: dict[str, Any]) -> dict[str, Any]:
        return _clean_value(raw)

    @property
    def key(self) -> tuple[str, str]:
        return (self.provider, self.id)


class Cursor(_Model):
    """Opaque to the UI: a page number, a start key or a next link, by provider."""

    provider: str
    token: str


class SortSpec(_Model):
    key: SortKey = "start"
    descending: bool = True


class ListQuery(_Model):
    """What to list. Unset fields mean "no filter"; asking for a filter or sort the provider
    cannot do raises `Unsupported`."""

    since: UtcTime | None = None
    until: UtcTime | None = None
    call_id: str | None = None
    owner: str | None = None
    caller: str | None = None
    status: RecordingStatus | None = None
    """`deleted` lists the recycle bin where the provider has one (Webex)."""
    topic: str | None = None
    service_type: str | None = None
    sort: SortSpec | None = None
    page_size: int | None = Field(default=None, ge=1, le=1000)

    def filters_used(self) -> frozenset[str]:
        names = ("since", "until", "call_id", "owner", "caller", "status", "topic", "service_type")
        return frozenset(n for n in names if getattr(self, n) is not None)


class Page(_Model):
    items: tuple[Recording, ...] = ()
    next: Cursor | None = None
    prev: Cursor | None = None
    total: int | None = None
    """Exact total, only where the provider gives one."""
    page_number: int | None = None
    """1-based, where the provider numbers its pages."""
    page_count: int | None = None
    sorted_on_server: bool = False
    order_approximate: bool = False
    warnings: tuple[str, ...] = ()
    """E.g. "3 items had unreadable fields"; shown in the status line."""
    failures: dict[str, Any] = Field(default_factory=dict)
    """"All providers" only: provider id → the `rectui.errors` error that kept its rows out of
    this page (the other providers' rows are still here)."""


class Capabilities(_Model):
    page_style: Literal["number", "cursor"]
    exact_total: bool
    server_sort: frozenset[SortKey] = frozenset()
    server_filters: frozenset[FilterKey] = frozenset()
    max_page_size: int = 100
    media: bool = True
    can_delete: bool = False
    can_restore: bool = False
    can_purge: bool = False
    server_tags: bool = False
    can_rename: bool = False
    rename_fields: tuple[str, ...] = ()


class Media(_Model):
    """Downloaded media: the bytes are in `path` (a cache file), the format sniffed from them."""

    path: Path
    format: MediaFormat
    size: int = Field(ge=0)
    content_type: Line | None = None
