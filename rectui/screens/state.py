"""The main screen's view state as plain data: where the user is in each listing, which page
request counts, which status an error means, and which recording actions a provider allows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rectui.errors import AuthError, ConfigError, RateLimited, RectuiError, Unavailable
from rectui.models import Cursor, ListQuery, Page, SortSpec
from rectui.operations import ItemResult, Summary, Target
from rectui.widgets.provider_sidebar import Status

SERVER_KEYS: dict[str, str] = {"date": "start", "duration": "duration", "title": "title", "who": "owner"}
"""Table column → the provider's server-side sort key."""

GATES: dict[str, tuple[str | None, bool]] = {
    # action: (capability that allows it, destructive: read-only removes it)
    "delete": ("can_delete", True),
    "restore": ("can_restore", True),
    "purge": ("can_purge", True),
    "rename": ("can_rename", True),
    "tag": (None, True),
    "play": ("media", False),
}
"""Capability gating of recording actions: `check_action` greys out (footer, help) what the
highlighted row's provider cannot do, and `gate_reason` says why when the key is pressed."""

VERBS: dict[str, tuple[str, str, str]] = {
    # op: (imperative, progressive, past)
    "delete": ("Delete", "Deleting", "deleted"),
    "restore": ("Restore", "Restoring", "restored"),
    "purge": ("Purge", "Purging", "purged"),
    "tag": ("Tag", "Tagging", "tagged"),
    "rename": ("Rename", "Renaming", "renamed"),
}

BIN_ACTIONS = frozenset({"restore", "purge"})
"""Actions of the recycle-bin view only (the listing view has delete instead)."""
UNSETTLED = frozenset({"auth", "offline", "config"})
"""Provider statuses in which nothing destructive starts: the state on screen may be stale."""

CAPABILITY_WORDS = {"can_delete": "delete recordings", "can_restore": "restore recordings",
                    "can_purge": "purge recordings", "can_rename": "rename recordings", "media": "play audio"}
PAGE_CACHE = 32
DETAIL_CACHE = 256


def status_for(error: RectuiError) -> Status:
    """The sidebar status an error puts its provider in."""
    if isinstance(error, AuthError):
        return "auth"
    if isinstance(error, RateLimited):
        return "rate_limited"
    if isinstance(error, ConfigError):
        return "config"
    if isinstance(error, Unavailable) and error.status is None:
        return "offline"
    return "error"


@dataclass
class ViewState:
    """Where the user is in one provider's listing (or "All providers")."""

    id: str
    sort_column: str = "date"
    descending: bool = True
    server_sort: SortSpec | None = None
    """The sort asked of the server (None: the provider's own order, newest first)."""
    cursor: Cursor | None = None
    offset: int = 0
    """Rows before this page."""
    history: list[tuple[Cursor | None, int]] = field(default_factory=list)
    """(cursor, offset) of the pages before this one, for "previous page"."""
    page: Page | None = None
    keep: str | None = None
    """The row key the cursor goes back to when this view is shown again."""
    bin: bool = False
    """The provider's recycle bin (`ListQuery(status="deleted")`) rather than its recordings."""
    search: ListQuery | None = None
    """Filters asked of the server (the search form), or None for everything."""
    stale: str = ""
    """Set while the page shown is the one kept from an earlier run ("cached 3 h ago")."""

    @property
    def natural(self) -> bool:
        return self.sort_column == "date" and self.descending

    def sorted_on_server(self) -> bool:
        spec = self.server_sort
        return (spec is not None and self.page is not None and self.page.sorted_on_server
                and SERVER_KEYS.get(self.sort_column) == spec.key and spec.descending == self.descending)

    @property
    def page_number(self) -> int:
        return len(self.history) + 1


def history_to(provider: Any, query: ListQuery, number: int, size: int) -> list[tuple[Cursor | None, int]]:
    """(cursor, offset) of every page before page `number` of a number-paged provider, for
    "previous page" after a jump (`page_cursor` sends nothing)."""
    if number <= 1:
        return []
    return [(None, 0)] + [(provider.page_cursor(query, n), (n - 1) * size) for n in range(2, number)]


@dataclass
class Pending:
    """The page request the screen is waiting for (only the latest one counts)."""

    request_id: int
    view: str
    query: ListQuery
    cursor: Cursor | None
    offset: int
    history: list[tuple[Cursor | None, int]]
    keep: str | None


@dataclass
class Batch:
    """One confirmed batch (delete, restore, purge, tag, rename) while it runs and after: the
    locked targets and each item's result as it arrives."""

    id: int
    op: str
    targets: tuple[Target, ...]
    view_bin: bool = False
    """Started from a recycle-bin view."""
    results: dict[tuple[str, str], ItemResult] = field(default_factory=dict)
    started: set[tuple[str, str]] = field(default_factory=set)
    finished: bool = False
    error: RectuiError | None = None
    """Refused before anything was sent."""

    @property
    def keys(self) -> set[tuple[str, str]]:
        return {(t.provider, t.id) for t in self.targets}

    @property
    def done(self) -> int:
        return len(self.results)

    @property
    def total(self) -> int:
        return len(self.targets)

    def summary(self) -> str:
        """"10 deleted · 1 failed · 1 denied"."""
        return Summary.of(self.op, self.results.values()).text()

    def progress(self) -> str:
        """"Deleting 7/12… · 6 deleted · 1 failed" while running; the summary at the end."""
        if self.finished:
            return self.summary()
        head = f"{VERBS.get(self.op, (self.op, self.op.capitalize(), self.op))[1]} {self.done}/{self.total}…"
        return f"{head} · {self.summary()}" if self.results else head

    def headline(self) -> str:
        verb = VERBS.get(self.op, (self.op.capitalize(), "", ""))[0]
        noun = "1 recording" if self.total == 1 else f"{self.total:,} recordings"
        state = self.summary() if self.finished else self.progress()
        return f"{verb} {noun}: {state}"
