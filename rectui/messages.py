"""Results that workers post back to the screen that started them: past-tense facts, all dataclasses.

Workers never touch widgets; they post one of these, and the screen's handler drops it when its
`request_id` is no longer the one the screen is waiting for (a newer request outdated it).
UI requests (`…Requested`) are nested in the widget that sends them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.message import Message

from rectui.errors import RectuiError
from rectui.models import Cursor, ListQuery, Page, Recording

if TYPE_CHECKING:
    from rectui.operations import BatchResult, QueueEvent
    from rectui.providers.http import HttpEvent


@dataclass
class PageLoaded(Message):
    """A page of the view `view` (a provider id, or "all") arrived."""

    view: str
    query: ListQuery
    cursor: Cursor | None
    page: Page
    request_id: int


@dataclass
class PagePrefetched(Message):
    """The page after the one on screen arrived in the background (kept for an instant next page)."""

    view: str
    query: ListQuery
    cursor: Cursor
    page: Page


@dataclass
class ProviderFailed(Message):
    """`operation` ("list", "prefetch", "detail") failed for `provider` with a `rectui.errors` error."""

    provider: str
    operation: str
    error: RectuiError
    request_id: int
    key: tuple[str, str] | None = None
    """The recording concerned, for "detail"."""


@dataclass
class RecordingLoaded(Message):
    """A recording's full details (`get_recording`) arrived."""

    recording: Recording
    request_id: int


@dataclass
class ApiEvent(Message):
    """A request, retry, wait or failure in the HTTP core (method and path only, no secrets)."""

    event: HttpEvent

    def can_replace(self, message: Message) -> bool:
        return False


@dataclass
class QueueProgress(Message):
    """The operations queue reported something: an item started or ended, a pause, a slow-down."""

    event: QueueEvent

    def can_replace(self, message: Message) -> bool:
        return False


@dataclass
class BatchFinished(Message):
    """A batch of `op` (delete, restore, purge, tag, rename) ended: one result per locked target,
    or `error` when it was refused before anything was sent (read-only, journal unwritable)."""

    batch_id: int
    op: str
    result: BatchResult | None
    error: RectuiError | None = None


class EventRelay:
    """The adapters' `on_event=` callback, built before the app exists: events are kept until a
    screen attaches, then forwarded to it (as `ApiEvent` messages, via `post_message`)."""

    def __init__(self, keep: int = 200) -> None:
        self._target: Callable[[Any], object] | None = None
        self._early: deque[Any] = deque(maxlen=keep)

    def __call__(self, event: HttpEvent) -> None:
        target = self._target
        if target is None:
            self._early.append(event)
        else:
            target(event)

    def attach(self, target: Callable[[Any], object]) -> None:
        self._target = target
        while self._early:
            target(self._early.popleft())

    def detach(self) -> None:
        self._target = None
