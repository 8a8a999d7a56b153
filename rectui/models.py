"""The provider-neutral types that leave the provider layer: `Recording`, `Page`, `ListQuery`,
`SortSpec`, `Capabilities`, `Cursor`, `Media`.

Every string that came from a server is sanitised before anyone can read it (`rectui.sanitize`):
the fields when the model is built, a recording's `details` and `raw` (every field the provider
gave, most of a row's text, read only for the row on the detail pane) on first access. Times are
tz-aware UTC, durations are seconds (None when unknown).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidatorFunctionWrapHandler,
    computed_field,
    field_validator,
    model_validator,
)

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
_UNSET: Any = object()


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("a time without a time zone cannot be placed; expected a tz-aware datetime")
    return value.astimezone(UTC)


def _clean_value(value: Any) -> Any:
    """Recursively sanitise the strings of a JSON-like value (keys too)."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, Mapping):
        return {clean(str(k), limit=200): _clean_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_value(v) for v in value]
    return value


def _clean_details(details: Mapping[Any, Any]) -> dict[str, str]:
    """label → readable value, sanitised; a value that is not text is shown as its `str`."""
    return {one_line(str(k), limit=200): clean(v if isinstance(v, str) else str(v)) for k, v in details.items()}


DetailsSource = Mapping[str, str] | Callable[[], Mapping[str, str]]
"""What an adapter gives as `details`: the mapping, or a function that builds it (called on first
access, so that rows never opened never pay for it)."""


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

    # `details` and `raw` are given to the constructor like fields (and serialised like fields),
    # but kept as given and sanitised on first access: most rows of a page are never opened, and
    # cleaning every nested string of every row was most of a page's CPU.
    _details_src: DetailsSource | None = PrivateAttr(default=None)
    _details: dict[str, str] | None = PrivateAttr(default=None)
    _raw_src: Mapping[str, Any] | None = PrivateAttr(default=None)
    _raw: dict[str, Any] | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _lazy_parts(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if not isinstance(data, Mapping) or ("details" not in data and "raw" not in data):
            return handler(data)
        fields = dict(data)
        details, raw = fields.pop("details", None), fields.pop("raw", None)
        rec = handler(fields)
        rec._keep(details, raw)
        return rec

    def _keep(self, details: Any = _UNSET, raw: Any = _UNSET) -> None:
        """Hold `details` and `raw` as given, after a cheap shape check (a wrong type fails now,
        as a field would, not on first access)."""
        private = self.__pydantic_private__
        assert private is not None
        if details is not _UNSET:
            if details is not None and not (isinstance(details, Mapping) or callable(details)):
                raise ValueError("details must be a mapping of label → text (or a function returning one)")
            private["_details_src"], private["_details"] = details, None
        if raw is not _UNSET:
            if raw is not None and not isinstance(raw, Mapping):
                raise ValueError("raw must be a mapping (the provider's document)")
            private["_raw_src"], private["_raw"] = raw, None

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Recording:
        """As pydantic's (no validation of `update`); `details` and `raw` may be updated too."""
        fields = dict(update or {})
        details, raw = fields.pop("details", _UNSET), fields.pop("raw", _UNSET)
        copied = super().model_copy(update=fields or None, deep=deep)
        copied._keep(details, raw)
        return copied

    @classmethod
    def model_construct(cls, _fields_set: set[str] | None = None, **values: Any) -> Recording:
        """As pydantic's, for trusted values (the store's own cache); `details` and `raw` are
        still sanitised on first access."""
        details, raw = values.pop("details", None), values.pop("raw", None)
        rec = super().model_construct(_fields_set, **values)
        rec._keep(details, raw)
        return rec

    @computed_field  # type: ignore[prop-decorator]
    @property
    def details(self) -> dict[str, str]:
        """Every field the provider gave, as label → readable value, for the detail pane."""
        private = self.__pydantic_private__
        assert private is not None
        if private["_details"] is None:
            src = private["_details_src"]
            if callable(src):
                try:
                    src = src()
                except Exception as exc:    # an adapter's builder choking on odd data: say so, never crash
                    logging.getLogger("rectui.models").exception("building the details of %s failed", self.key)
                    src = {"Details": f"could not be read ({type(exc).__name__})"}
            private["_details"] = _clean_details(src) if src else {}
            private["_details_src"] = None
        return private["_details"]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def raw(self) -> dict[str, Any]:
        """The provider's own document (sanitised), for "raw values on demand"."""
        private = self.__pydantic_private__
        assert private is not None
        if private["_raw"] is None:
            src = private["_raw_src"]
            private["_raw"] = _clean_value(src) if src else {}
            private["_raw_src"] = None
        return private["_raw"]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Recording):
            return NotImplemented
        return (type(self) is type(other) and self.__dict__ == other.__dict__
                and self.details == other.details and self.raw == other.raw)

    def __hash__(self) -> int:
        return hash((self.provider, self.id))

    @field_validator("tags", mode="after")
    @classmethod
    def _tags(cls, tags: frozenset[str]) -> frozenset[str]:
        return frozenset(t for t in (one_line(t, limit=TAG_LIMIT).strip() for t in tags) if t)

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
    late: tuple[str, ...] = ()
    """"All providers" only: providers still answering when this page was returned (rate-limited
    or slow); their rows join later pages, and `warnings` says so in words."""


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
