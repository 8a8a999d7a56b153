"""The main screen: provider sidebar, one page of recordings, the detail pane, the status line.

It owns every provider worker (named groups, `exit_on_error=False`): `load_page` ("page",
exclusive: a newer request supersedes it), `prefetch_page` ("prefetch", exclusive), `load_detail`
("detail", exclusive, after a short debounce), and `run_ops` ("ops", never exclusive: a write is
never cancelled halfway). Results come back as messages from `rectui.messages`; each carries the
request id it answers, and anything older than the request on screen is dropped, so a slow page
never overwrites a newer one.

Destructive actions (delete, restore, purge) lock their targets when the confirmation opens
(`selected_targets`), run through the operations queue (journaled, rate-aware) and report each
item as it ends; `run_batch` is the one entry point, which tag editing and rename reuse.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.events import Key
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from rectui.errors import ProviderError, RateLimited, RectuiError
from rectui.logs import redact
from rectui.messages import (
    ApiEvent,
    BatchFinished,
    EventRelay,
    PageLoaded,
    PagePrefetched,
    ProviderFailed,
    QueueProgress,
    RecordingLoaded,
)
from rectui.models import Capabilities, Cursor, ListQuery, Page, Recording, SortSpec
from rectui.operations import ItemResult, Operations, QueueEvent, Target
from rectui.providers.merged import MERGED_ID, MergedProvider
from rectui.sanitize import one_line
from rectui.screens.confirm import ActionPlan, ConfirmDialog
from rectui.screens.playback import AudioOptions, Playback
from rectui.screens.recording_actions import RecordingActions
from rectui.screens.state import (
    BIN_ACTIONS,
    CAPABILITY_WORDS,
    DETAIL_CACHE,
    GATES,
    PAGE_CACHE,
    SERVER_KEYS,
    UNSETTLED,
    VERBS,
    Batch,
    Pending,
    ViewState,
    history_to,
    status_for,
)
from rectui.widgets import formatting as fmt
from rectui.widgets.detail_pane import DetailPane
from rectui.widgets.footer import Footer  # not Textual's: that one leaks its old keys (see the module)
from rectui.widgets.player_bar import PlayerBar
from rectui.widgets.provider_sidebar import ProviderSidebar, ProviderState
from rectui.widgets.recordings_table import COLUMNS, Haystacks, RecordingsTable, sort_rows
from rectui.widgets.status_bar import StatusBar


class MainScreen(RecordingActions, Screen[None]):
    """Browse recordings: every action is a key away; `?` lists them."""

    AUTO_FOCUS = "#recordings"
    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: the keys typed right after "/" must reach the filter box, not the table
        Binding("slash", "filter", "Filter", id="screen-filter", priority=True,
                tooltip="Filter the loaded rows as you type"),
        Binding("d", "delete", "Delete", id="action-delete",
                tooltip="Delete the marked recordings (else the highlighted one), after a confirmation"),
        Binding("u", "restore", "Restore", id="action-restore",
                tooltip="Recycle bin: restore the marked recordings (else the highlighted one)"),
        Binding("D", "purge", "Purge", id="action-purge",
                tooltip="Recycle bin: delete the marked recordings for good (type the count)"),
        Binding("b", "recycle_bin", "Recycle bin", id="view-recycle-bin",
                tooltip="The provider's recycle bin (Webex), and back"),
        Binding("right,n", "page(1)", "Next", id="page-next", tooltip="The next page of recordings"),
        Binding("left,p", "page(-1)", "Prev", id="page-prev", tooltip="The previous page of recordings"),
        Binding("r", "refresh", "Refresh", id="screen-refresh", tooltip="Load this page again from the provider"),
        Binding("v", "toggle_raw", "Raw", show=False, id="detail-raw",
                tooltip="Show the provider's raw document in the detail pane (again: the readable view)"),
        Binding("o", "open_viewer", "Open viewer", id="detail-open-viewer",
                tooltip="Open the recording's viewer page in a browser (Screendesk)"),
        Binding("e", "api_log", "Errors/API", id="screen-api-log",
                tooltip="Each provider's full error and the recent API calls"),
        Binding("escape", "clear_filter", "Clear", id="screen-clear-filter",
                tooltip="Clear the filter and go back to the table; with no filter, clear the marks"),
        Binding("R", "results", "Results", id="action-results",
                tooltip="Each recording of the last delete, restore or purge, and what happened to it"),
        Binding("t", "tag", "Tags", id="action-tag", tooltip="Add or remove tags of the marked recordings (else the "
                "highlighted one): on the server where the provider keeps tags, else locally"),
        Binding("E", "rename", "Rename", show=False, id="action-rename",
                tooltip="Rename the highlighted recording (where the provider allows it)"),
        Binding("f", "search", "Search", id="screen-search",
                tooltip="Ask the server for a date range, caller, owner, status or topic (what this provider filters)"),
        Binding("colon", "jump", "Go to page", show=False, id="page-jump",
                tooltip="Go to a page by number (providers that number their pages)"),
        Binding("less_than_sign", "first_page", "First page", show=False, id="page-first",
                tooltip="Back to the first page"),
        Binding("greater_than_sign", "last_page", "Last page", show=False, id="page-last",
                tooltip="The last page (providers that number their pages)"),
        Binding("w", "save_audio", "Save audio", show=False, id="audio-save",
                tooltip="Save the highlighted recording's audio as WAV or MP3"),
        Binding("left_square_bracket", "player('slower')", "Slower", show=False, id="audio-slower",
                tooltip="Play slower (down to 0.5×, same pitch)"),
        Binding("right_square_bracket", "player('faster')", "Faster", show=False, id="audio-faster",
                tooltip="Play faster (up to 2×, same pitch)"),
        Binding("9", "player('quieter')", "Quieter", show=False, id="audio-quieter", tooltip="Volume down"),
        Binding("0", "player('louder')", "Louder", show=False, id="audio-louder", tooltip="Volume up"),
        Binding("m", "player('mute')", "Mute", show=False, id="audio-mute", tooltip="Mute or unmute"),
        Binding("z", "stop_audio", "Stop", show=False, id="audio-stop", tooltip="Stop playing"),
        Binding("a", "provider(0)", "All providers", show=False, id="provider-all",
                tooltip="The All providers view"),
        *(Binding(str(n), f"provider({n})", f"Provider {n}", show=False, id=f"provider-{n}",
                  tooltip="1–8: the providers in sidebar order (a: All providers)") for n in range(1, 9)),
    ]
    HELP = "Browse recordings: the sidebar picks a provider, the table shows one page, the pane its details."

    def __init__(self, *, providers: Sequence[Any], config_errors: Mapping[str, RectuiError] | None = None,
                 clock: Callable[[], float], tz: tzinfo | None = None, read_only: bool = False,
                 page_size: int = 50, detail_delay: float = 0.15, relay: EventRelay | None = None,
                 operations: Operations | None = None, store: Any | None = None,
                 store_problem: str | None = None, audio: AudioOptions | None = None,
                 merge_grace: float | None = 1.5) -> None:
        super().__init__()
        self.audio = audio or AudioOptions()
        self.providers: dict[str, Any] = {p.id: p for p in providers}
        self.merged = (MergedProvider(list(providers), grace=merge_grace, on_late_answer=self._late_answer_threadsafe)
                       if providers else None)
        self.config_errors = dict(config_errors or {})
        self.clock = clock
        self.tz = tz
        self.read_only = read_only
        self.page_size = page_size
        self.detail_delay = detail_delay
        self.relay = relay
        self.names: dict[str, str] = {MERGED_ID: "All providers"}
        self.names |= {p.id: p.display_name for p in providers}
        self.names |= {name: name for name in self.config_errors if name not in self.names}
        self.states: dict[str, ProviderState] = {MERGED_ID: ProviderState(MERGED_ID, "All providers", "all")}
        for p in providers:
            self.states[p.id] = ProviderState(p.id, p.display_name, p.kind, read_only=self.is_read_only(p.id))
        for name, err in self.config_errors.items():
            if name not in self.states:
                self.states[name] = ProviderState(name, name, "?", status="config", error=err)
        self.views: dict[str, ViewState] = {}
        self.view_id = ""
        self.needle = ""
        self._haystacks = Haystacks(self.names)
        """The `/` filter's text of each loaded row, built once."""
        self._sorted_rows: tuple[Page, tuple[object, ...], list[Recording]] | None = None
        """The page on screen sorted (page, sort, rows): a filter keystroke does not sort again."""
        self._warming: list[Recording] | None = None
        self.raw = False
        self.api_log: deque[Any] = deque(maxlen=500)
        """Recent `HttpEvent`s of every provider (method, path, status; never a query or secret)."""
        self.errors: deque[tuple[float, str, str, RectuiError]] = deque(maxlen=50)
        """Recent errors: (time, provider, operation, error)."""
        self._request_id = 0
        self._pending: Pending | None = None
        self._cache: OrderedDict[tuple[str, str, str | None], Page] = OrderedDict()
        self._details: OrderedDict[tuple[str, str], Recording] = OrderedDict()
        self._detail_request = 0
        self._detail_timer: Timer | None = None
        self._binding_signature: tuple[object, ...] = ()
        self.store = store
        self.store_problem = store_problem
        """Why the local journal cannot be used (then nothing destructive starts)."""
        self.ops = operations if operations is not None else Operations(
            self.providers, store, read_only=read_only)
        self.batches: list[Batch] = []
        """Recent batches, newest last (the running ones and the last few finished)."""
        self._batch_id = 0
        self.gone: set[tuple[str, str]] = set()
        """Recordings deleted here: hidden from listings (the server may list them a while longer:
        Genesys deletes asynchronously)."""
        self.gone_bin: set[tuple[str, str]] = set()
        """Recordings restored or purged here: hidden from recycle-bin listings."""
        self._other_views: dict[str, ViewState] = {}
        """Per provider, the view not on screen: its listing while its recycle bin shows, or back."""
        self._ops_note = ""

    # -- composition -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            yield ProviderSidebar(self.clock, id="sidebar")
            with Vertical(id="main"):
                yield Input(placeholder="filter the loaded rows…", id="filter")
                yield RecordingsTable(tz=self.tz, names=self.names, id="recordings")
                yield Static(id="table-message")
                yield DetailPane(self.clock, tz=self.tz, id="detail")
                yield PlayerBar(id="player")
        yield StatusBar(id="status")
        yield Footer()

    @property
    def table(self) -> RecordingsTable:
        return self.query_one(RecordingsTable)

    @property
    def sidebar(self) -> ProviderSidebar:
        return self.query_one(ProviderSidebar)

    @property
    def detail(self) -> DetailPane:
        return self.query_one(DetailPane)

    @property
    def status_bar(self) -> StatusBar:
        return self.query_one(StatusBar)

    def on_mount(self) -> None:
        self.query_one("#filter").display = False
        if self.relay is not None:
            self.relay.attach(lambda event: self.post_message(ApiEvent(event)))
        self.ops.on_event = self._queue_event
        for queue in self.ops.queues.values():
            queue.on_event = self._queue_event
        self.playback = Playback(self, self.query_one(PlayerBar), self.audio)
        self.sidebar.set_states(self.states)
        self.show_view(MERGED_ID)
        self.load_kept_listings()
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        """Once a second while a provider waits: the countdown in the status line."""
        if any(s.status in ("retrying", "rate_limited") for s in self.states.values()):
            self._status()

    def on_resize(self) -> None:
        self.set_class(self.size.width < 110, "-narrow")
        self.set_class(self.size.height < 32, "-short")

    def on_unmount(self) -> None:
        self.playback.close()
        if self.relay is not None:
            self.relay.detach()

    # -- helpers -----------------------------------------------------------------------------
    def is_read_only(self, provider_id: str) -> bool:
        if self.read_only:
            return True
        if provider_id == MERGED_ID:
            return all(self.is_read_only(p) for p in self.providers) if self.providers else True
        return bool(getattr(self.providers.get(provider_id), "read_only", False))

    def provider_for_view(self, view_id: str) -> Any:
        return self.merged if view_id == MERGED_ID else self.providers.get(view_id)

    def capabilities(self, view_id: str | None = None) -> Capabilities | None:
        provider = self.provider_for_view(view_id or self.view_id)
        return provider.capabilities if provider is not None else None

    @property
    def view(self) -> ViewState | None:
        return self.views.get(self.view_id)

    def query_for(self, view: ViewState) -> ListQuery:
        provider = self.provider_for_view(view.id)
        size = self.page_size
        settings = getattr(provider, "settings", None)
        if getattr(settings, "page_size", None):
            size = settings.page_size
        if provider is not None:
            size = min(size, provider.capabilities.max_page_size)
        update: dict[str, Any] = {"sort": view.server_sort, "page_size": max(1, size)}
        if view.bin:
            update["status"] = "deleted"
        return (view.search or ListQuery()).model_copy(update=update)

    def loaded_recordings(self) -> list[Recording]:
        """The rows of the page on screen (unfiltered), for the palette's recording search."""
        view = self.view
        return list(view.page.items) if view is not None and view.page is not None else []

    def gate_reason(self, action: str, recording: Recording | None = None) -> str | None:
        """Why `action` (delete, restore, purge, rename, tag, play) is not possible here, or None."""
        if action not in GATES:
            return None
        capability, destructive = GATES[action]
        provider_id = recording.provider if recording is not None else self.view_id
        if destructive and self.is_read_only(provider_id):
            return f"{self.names.get(provider_id, provider_id)} is read-only"
        provider = self.providers.get(provider_id) if recording is not None else self.provider_for_view(provider_id)
        if provider is None:
            return "no provider"
        if capability is not None and not getattr(provider.capabilities, capability):
            return f"{self.names.get(provider_id, provider_id)} cannot {CAPABILITY_WORDS[capability]}"
        if recording is not None and not recording.id_valid:
            return "this recording's id is unsafe: it is never acted on"
        if action == "play" and recording is not None and not recording.has_media:
            return recording.media_note or "this recording has no audio"
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.is_mounted:
            return True
        if action in GATES:
            return self._gate_state(action)
        view = self.view
        if action == "recycle_bin":
            caps = self.capabilities()
            return bool(view is not None and (view.bin or (view.id != MERGED_ID and caps is not None
                                                           and caps.can_restore)))
        if action == "results":
            return bool(self.batches)
        if action == "jump":            # cursor-paged providers: `action_jump` says why not
            return view is not None and view.page is not None
        if action == "last_page":
            provider = self.provider_for_view(self.view_id)
            return bool(view is not None and view.page is not None and provider is not None
                        and provider.capabilities.page_style == "number"
                        and getattr(provider, "page_cursor", None) is not None)
        if action == "first_page":
            return bool(view is not None and view.history)
        if action == "page":
            if view is None or view.page is None:
                return None
            forward = bool(parameters) and int(parameters[0]) > 0  # type: ignore[call-overload]
            return True if (view.page.next is not None if forward else bool(view.history)) else None
        if action == "open_viewer":
            rec = self.table.current()
            return bool(rec is not None and rec.viewer_url)
        if action == "filter":     # in the filter box, "/" is typed like any character
            return self.focused is not self.query_one("#filter")
        if action == "clear_filter":
            return bool(self.needle or self.query_one("#filter").display or self.table.marks)
        return True

    def _gate_state(self, action: str) -> bool | None:
        """Footer and palette state of a recording action: hidden where it can never apply here
        (the wrong view), greyed out where the rows it would act on refuse it or the view is
        read-only (the palette leaves read-only actions out)."""
        view = self.view
        if GATES[action][1] and self.is_read_only(view.id if view is not None else self.view_id):
            return None                  # greyed out everywhere; the key says "read-only"
        in_bin = bool(view is not None and view.bin)
        if action in BIN_ACTIONS and not in_bin:
            return False
        if action == "delete" and in_bin:
            return False
        rows = self.action_rows()
        if not rows:
            return None
        return True if all(self.gate_reason(action, r) is None for r in rows) else None

    # -- views -------------------------------------------------------------------------------
    def show_view(self, view_id: str) -> None:
        """Show `view_id` ("all" or a provider): its last page at once, then a fresh one."""
        if view_id == self.view_id:
            return
        if self.view is not None:
            self.view.keep = self.table.current_key()
        self.view_id = view_id
        self.sidebar.highlight(view_id)
        self.workers.cancel_group(self, "prefetch")
        self._superseded()
        self.table.clear_marks()
        self._display(self.views.setdefault(view_id, ViewState(view_id)))

    def _display(self, view: ViewState) -> None:
        """Show `view` (the one of `self.view_id`): its last page at once, then a fresh one."""
        view_id = view.id
        self.detail.show_message("")
        if self.provider_for_view(view_id) is None:
            self._pending = None
            self.workers.cancel_group(self, "page")
            self.table.show_rows([], show_provider=False, sort_column=view.sort_column,
                                 descending=view.descending)
            err = self.states[view_id].error if view_id in self.states else None
            if err is not None:
                self._message(f"{self.names.get(view_id, view_id)}: {redact(err.message)}")
            else:
                self._message("No provider could be started: select one in the sidebar to read why.")
            self._status()
            self.refresh_bindings()
            return
        if view.page is not None:
            self._show_rows(keep=view.keep)
            self._load(view, view.cursor, view.offset, list(view.history), keep=view.keep, use_cache=False)
        else:
            self.table.show_rows([], show_provider=view_id == MERGED_ID, sort_column=view.sort_column,
                                 descending=view.descending)
            self._load(view, None, 0, [], keep=None)

    def _load(self, view: ViewState, cursor: Cursor | None, offset: int, history: list[tuple[Cursor | None, int]],
              *, keep: str | None, use_cache: bool = True) -> None:
        provider = self.provider_for_view(view.id)
        if provider is None:
            return
        query = self.query_for(view)
        self._request_id += 1
        pending = Pending(self._request_id, view.id, query, cursor, offset, history, keep)
        self._pending = pending
        key = self._cache_key(view.id, query, cursor)
        if use_cache and key in self._cache:
            self._cache.move_to_end(key)
            self._commit(pending, self._cache[key])
            return
        ids = [MERGED_ID, *self.providers] if view.id == MERGED_ID else [view.id]
        self._superseded(keep=ids)
        for pid, state in self.states.items():
            if pid in ids and state.status in ("idle", "ok"):
                state.status = "loading"
                self.sidebar.update_state(state)
        if view.page is None:
            self._message("Loading…")
        self._status()
        self.load_page(provider, view.id, query, cursor, pending.request_id)

    def _superseded(self, keep: Sequence[str] = ()) -> None:
        """Providers (other than `keep`) shown as loading or waiting for a request that a newer
        one cancelled go back to what was last known of them."""
        for pid, state in self.states.items():
            if pid in keep or state.status not in ("loading", "retrying", "rate_limited"):
                continue
            if state.status == "rate_limited" and isinstance(state.error, RateLimited):
                continue                     # a real rate limit, with its own countdown
            state.status = status_for(state.error) if state.error is not None else "idle"
            state.until, state.note = None, ""
            self.sidebar.update_state(state)

    @staticmethod
    def _cache_key(view_id: str, query: ListQuery, cursor: Cursor | None) -> tuple[str, str, str | None]:
        return (view_id, query.model_dump_json(), cursor.token if cursor is not None else None)

    @work(group="page", exclusive=True, exit_on_error=False, description="Loading recordings")
    async def load_page(self, provider: Any, view_id: str, query: ListQuery, cursor: Cursor | None,
                        request_id: int) -> None:
        try:
            page = await provider.list_recordings(query, cursor)
        except ProviderError as exc:
            self.post_message(ProviderFailed(view_id, "list", exc, request_id))
        else:
            page = await self._with_local_tags(page)
            self.post_message(PageLoaded(view_id, query, cursor, page, request_id))

    async def _with_local_tags(self, page: Page) -> Page:
        """The page with each row's local tags (kept in the store) added to its tags; the store
        is read in a thread. A store that cannot be read leaves the page as it came."""
        store = self.store
        if store is None or not page.items:
            return page

        def read() -> dict[tuple[str, str], frozenset[str]]:
            by_provider: dict[str, list[str]] = {}
            for rec in page.items:
                by_provider.setdefault(rec.provider, []).append(rec.id)
            return {(pid, rid): tags.local for pid, ids in by_provider.items()
                    for rid, tags in store.tags_for_many(pid, ids).items() if tags.local}

        try:
            local = await asyncio.to_thread(read)
        except RectuiError:
            return page
        if not local:
            return page
        items = tuple(r.model_copy(update={"tags": r.tags | local[r.key]}) if r.key in local else r
                      for r in page.items)
        return page.model_copy(update={"items": items})

    @work(group="prefetch", exclusive=True, exit_on_error=False, description="Prefetching the next page")
    async def prefetch_page(self, provider: Any, view_id: str, query: ListQuery, cursor: Cursor) -> None:
        try:
            page = await provider.list_recordings(query, cursor)
        except ProviderError as exc:
            self.post_message(ProviderFailed(view_id, "prefetch", exc, -1))
        else:
            page = await self._with_local_tags(page)
            self.post_message(PagePrefetched(view_id, query, cursor, page))

    @work(group="detail", exclusive=True, exit_on_error=False, description="Loading details")
    async def load_detail(self, provider: Any, recording: Recording, request_id: int) -> None:
        try:
            full = await provider.get_recording(recording.id)
        except ProviderError as exc:
            self.post_message(ProviderFailed(recording.provider, "detail", exc, request_id, key=recording.key))
        else:
            self.post_message(RecordingLoaded(full, request_id))

    # -- results -----------------------------------------------------------------------------
    def on_page_loaded(self, message: PageLoaded) -> None:
        pending = self._pending
        if pending is None or message.request_id != pending.request_id:
            return   # outdated by a newer request
        self._remember(self._cache_key(message.view, message.query, message.cursor), message.page)
        self._commit(pending, message.page)

    def on_page_prefetched(self, message: PagePrefetched) -> None:
        self._remember(self._cache_key(message.view, message.query, message.cursor), message.page)
        self._page_ok(message.view, message.page, notify=False)

    def _remember(self, key: tuple[str, str, str | None], page: Page) -> None:
        self._cache[key] = page
        self._cache.move_to_end(key)
        while len(self._cache) > PAGE_CACHE:
            self._cache.popitem(last=False)

    def _commit(self, pending: Pending, page: Page) -> None:
        """Make a loaded page current in its view; show it if the view is on screen; prefetch."""
        self._pending = None
        view = self.views[pending.view]
        if pending.view == self.view_id:
            same_page = view.page is not None and view.cursor == pending.cursor and view.offset == pending.offset
            # marks survive a refresh of the page for the rows still listed, never a move elsewhere
            self.table.clear_marks(keep={r.key for r in page.items} if same_page else None)
        view.cursor, view.offset, view.history, view.page = pending.cursor, pending.offset, pending.history, page
        view.stale = ""
        self._renumber(view, pending.query, page)
        self._page_ok(pending.view, page, notify=True)
        if (self.store is not None and pending.view != MERGED_ID and not view.history and not view.bin
                and view.search is None and view.server_sort is None and page.items):
            self.keep_listing(pending.view, page)
        if pending.view == self.view_id:
            self._show_rows(keep=pending.keep)
        self._prefetch(view, pending.query)

    def _renumber(self, view: ViewState, query: ListQuery, page: Page) -> None:
        """A jump past the end lands on the last page: its range and "previous" follow the page
        the provider says this is, not the number asked for."""
        provider = self.provider_for_view(view.id)
        number = page.page_number
        if (number is None or number == view.page_number or number < 1
                or getattr(provider, "page_cursor", None) is None):
            return
        size = query.page_size or len(page.items) or 1
        view.offset = (number - 1) * size
        view.history = history_to(provider, query, number, size)

    # -- the listing kept for the next start -------------------------------------------------
    @work(group="store", exit_on_error=False, description="Keeping the first page for the next start")
    async def keep_listing(self, provider_id: str, page: Page) -> None:
        """Page 1 of a provider's plain listing goes to the store: the next start shows it at once."""
        from rectui.store import listing_key
        store = self.store
        with contextlib.suppress(RectuiError):
            await asyncio.to_thread(store.cache_page, provider_id, listing_key(None), 1, page.items, total=page.total)

    @work(group="store", exit_on_error=False, description="Reading the rows kept from the last run")
    async def load_kept_listings(self) -> None:
        """At start: each provider's first page from the last run, shown at once, marked stale
        until the provider answers (and the journal's open entries settled)."""
        store = self.store
        if store is None:
            return
        size = self.page_size

        def read() -> dict[str, tuple[list[Recording], str, int | None]]:
            out = {}
            now = self.clock()
            for pid in self.providers:
                try:
                    kept = store.load_listing(pid, "{}")
                except RectuiError:
                    continue
                if kept is not None and kept.pages:
                    out[pid] = (list(kept.rows[:size]), kept.describe_age(now), kept.total)
            return out

        kept = await asyncio.to_thread(read)
        if kept:
            self.call_later(self._show_kept, kept)
        try:
            await self.ops.reconcile()
        except RectuiError as exc:
            self.notify(one_line(redact(exc.message), limit=300), title="Journal", severity="warning", markup=False)

    def _show_kept(self, kept: dict[str, tuple[list[Recording], str, int | None]]) -> None:
        for pid, (rows, age, total) in kept.items():
            view = self.views.setdefault(pid, ViewState(pid))
            if view.page is None:
                view.page, view.stale = Page(items=tuple(rows), total=total), age
        merged = self.views.get(MERGED_ID)
        if merged is not None and merged.page is None:
            rows = sorted((r for rows, _, _ in kept.values() for r in rows),
                          key=lambda r: r.start.timestamp() if r.start else 0.0, reverse=True)[:self.page_size]
            ages = sorted({age for _, age, _ in kept.values()})
            merged.page, merged.stale = Page(items=tuple(rows)), ages[-1] if ages else "cached"
        view = self.view
        if view is not None and view.stale:
            self._show_rows()

    def _prefetch(self, view: ViewState, query: ListQuery) -> None:
        page = view.page
        provider = self.provider_for_view(view.id)
        if page is None or page.next is None or provider is None:
            return
        key = self._cache_key(view.id, query, page.next)
        if key not in self._cache:
            self.prefetch_page(provider, view.id, query, page.next)

    def _page_ok(self, view_id: str, page: Page, *, notify: bool) -> None:
        """Statuses after a page: ok for its provider(s), the failures of "All providers"."""
        if view_id == MERGED_ID:
            for pid in self.providers:
                err = page.failures.get(pid)
                if isinstance(err, RectuiError):
                    self._fail(pid, "list", err, notify=notify)
                elif pid not in page.late:     # a late provider keeps its waiting/loading status
                    self._ok(pid)
            self._ok(MERGED_ID)
        else:
            self._ok(view_id)

    def _late_answer_threadsafe(self, provider_id: str) -> None:
        """`MergedProvider`'s callback (on the event loop): a provider that kept "All providers"
        waiting has answered, so the page on screen is merged again with its rows."""
        if self.is_mounted:
            self.call_later(self._late_rows, provider_id)

    def _late_rows(self, provider_id: str) -> None:
        view = self.views.get(MERGED_ID)
        if view is None or view.page is None or provider_id not in view.page.late:
            return
        for key in [k for k in self._cache if k[0] == MERGED_ID]:
            del self._cache[key]
        if self.view_id == MERGED_ID:
            self._load(view, view.cursor, view.offset, list(view.history), keep=self.table.current_key(),
                       use_cache=False)

    def _ok(self, provider_id: str) -> None:
        state = self.states[provider_id]
        if state.status != "ok" or state.error is not None:
            state.status, state.error, state.until, state.note = "ok", None, None, ""
            self.sidebar.update_state(state)

    def _fail(self, provider_id: str, operation: str, error: RectuiError, *, notify: bool = True) -> None:
        self.errors.append((self.clock(), provider_id, operation, error))
        state = self.states.get(provider_id)
        if state is None:
            return
        status = status_for(error)
        changed = state.status != status or type(state.error) is not type(error)
        state.status, state.error, state.note = status, error, ""
        retry_after = getattr(error, "retry_after", None)
        state.until = self.clock() + retry_after if isinstance(retry_after, int | float) else None
        self.sidebar.update_state(state)
        if notify and changed:
            text = redact(error.message)
            if isinstance(error, RateLimited) and state.until is not None:
                # in the app's own clock and zone (the error's text was written with the system's)
                until = datetime.fromtimestamp(state.until, self.tz).strftime("%H:%M:%S")
                text = f"Rate-limited: try again in {fmt.countdown(state.until - self.clock())}, at {until}."
            self.notify(text + "\nPress e for the full error and the recent API calls.",
                        title=f"{state.name} · {error.title}", markup=False,
                        severity="warning" if status == "rate_limited" else "error", timeout=8)

    def on_provider_failed(self, message: ProviderFailed) -> None:
        if message.operation == "detail":
            if message.request_id != self._detail_request:
                return
            err = message.error
            self.errors.append((self.clock(), message.provider, "detail", err))
            if status_for(err) in ("auth", "offline", "rate_limited"):
                self._fail(message.provider, "detail", err)
            rec = self.table.current()
            if rec is not None and rec.key == message.key:
                self.detail.show(rec, provider_name=self.names.get(rec.provider, rec.provider),
                                 caps=self._caps_of(rec), full=False,
                                 note=f"Details not loaded: {err.title}: {redact(err.message)}")
            return
        if message.operation == "prefetch":
            self._fail(message.provider, "prefetch", message.error, notify=False)
            return
        pending = self._pending
        if pending is None or message.request_id != pending.request_id:
            return
        self._pending = None
        self._fail(message.provider, "list", message.error)
        if message.provider == MERGED_ID:
            for pid in self.providers:
                if self.states[pid].status == "loading":
                    self.states[pid].status = "idle"
                    self.sidebar.update_state(self.states[pid])
        view = self.views.get(message.provider)
        if message.provider == self.view_id and (view is None or view.page is None):
            self.table.show_rows([], show_provider=False, sort_column="date", descending=True)
            self._message(f"{self.names.get(message.provider, message.provider)}: {message.error.title}. "
                          f"{redact(message.error.message)}\nr: try again · e: the full error and recent API calls")
        self._status()
        self._sync_bindings()

    def on_recording_loaded(self, message: RecordingLoaded) -> None:
        rec = message.recording
        self._details[rec.key] = rec
        self._details.move_to_end(rec.key)
        while len(self._details) > DETAIL_CACHE:
            self._details.popitem(last=False)
        if message.request_id != self._detail_request:
            return
        current = self.table.current()
        if current is not None and current.key == rec.key:
            self.detail.show(rec, provider_name=self.names.get(rec.provider, rec.provider), caps=self._caps_of(rec),
                             full=True)

    def on_api_event(self, message: ApiEvent) -> None:
        event = message.event
        self.api_log.append(event)
        state = self.states.get(event.provider)
        if state is None:
            return
        if event.kind in ("retry", "rate_limited") and event.wait is not None:
            state.status = "rate_limited" if event.status == 429 else "retrying"
            state.until = self.clock() + event.wait
            what = str(event.status) if event.status else event.message
            state.note = f"{event.method} {event.path} · {what} · attempt {event.attempt}"
            self.sidebar.update_state(state)
            self._status()
        elif (event.kind == "request" and event.status is not None and 200 <= event.status < 400
              and state.status in ("retrying", "rate_limited")):
            state.status, state.until, state.note = "loading", None, ""
            self.sidebar.update_state(state)
            self._status()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The fallback for the unexpected: any worker that raised something other than a
        `ProviderError` (those arrive as `ProviderFailed`)."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        text = one_line(redact(f"{type(error).__name__}: {error}"), limit=300)
        self.notify(text, title=f"Unexpected error ({event.worker.group})", severity="error", markup=False)
        if event.worker.group == "page":
            self._pending = None
            self._status()

    # -- rendering ---------------------------------------------------------------------------
    def _caps_of(self, rec: Recording) -> Capabilities | None:
        provider = self.providers.get(rec.provider)
        return provider.capabilities if provider is not None else None

    def visible_rows(self) -> list[Recording]:
        view = self.view
        if view is None or view.page is None:
            return []
        gone = self.gone_bin if view.bin else self.gone
        local_sort = not view.natural and not view.sorted_on_server()
        # the page sorted once per (page, sort, hidden rows), not once per filter keystroke
        signature = (view.sort_column, view.descending, local_sort, frozenset(gone))
        cached = self._sorted_rows
        if cached is not None and cached[0] is view.page and cached[1] == signature:
            rows = cached[2]
        else:
            rows = [r for r in view.page.items if r.key not in gone] if gone else list(view.page.items)
            if local_sort:
                rows = sort_rows(rows, view.sort_column, view.descending)
            self._sorted_rows = (view.page, signature, rows)
        return self._haystacks.filter(rows, self.needle)

    def _show_rows(self, keep: str | None = None) -> None:
        view = self.view
        if view is None:
            return
        keep = keep or self.table.current_key()
        rows = self.visible_rows()
        source = self._sorted_rows[2] if self._sorted_rows is not None else rows
        if self._warming is not source:          # the list the filter searches, not its result
            self._warming = source
            self.call_later(self._warm_filter, source, 0)
        self.table.show_rows(rows, show_provider=view.id == MERGED_ID, sort_column=view.sort_column,
                             descending=view.descending, needle=self.needle, keep=keep)
        if rows:
            self._message("")
        elif view.page is not None and view.page.items:
            self._message(f"No loaded row matches “{self.needle}”. Esc clears the filter.")
        elif view.page is not None and view.bin:
            self._message("The recycle bin is empty. b: back to the recordings." if view.page_number == 1
                          else "No more recordings in the recycle bin.")
        elif view.page is not None:
            self._message("No recordings here." if view.page_number == 1 else "No more recordings.")
        self._highlight_changed()
        self._status()

    def _warm_filter(self, rows: list[Recording], start: int) -> None:
        """Build the `/` filter's text of the rows shown, 1,000 rows per turn of the message
        loop (keys are handled in between), so the first keystroke does not pay for it."""
        if self._warming is rows and start < len(rows):
            self.call_later(self._warm_filter, rows, self._haystacks.warm(rows, start))

    def _message(self, text: str) -> None:
        """A message in place of the rows (loading, empty, an error); "" shows the rows."""
        message = self.query_one("#table-message", Static)
        message.update(Content(text))
        message.display = bool(text)
        self.set_class(bool(text), "-empty")

    def sort_description(self, view: ViewState) -> str:
        if view.page is None:
            return ""
        label = COLUMNS[view.sort_column].label if view.sort_column in COLUMNS else view.sort_column
        arrow = "▼" if view.descending else "▲"
        if view.natural:
            text = "newest first"
        elif view.sorted_on_server():
            text = f"sorted by {label} {arrow} on the server"
        else:
            text = f"sorted by {label} {arrow} over the {fmt.count(len(view.page.items))} loaded rows"
        if view.page.order_approximate:
            text += " · order approximate"
        return text

    def _status(self) -> None:
        view = self.view
        if view is None:
            return
        name = self.names.get(view.id, view.id)
        parts = [f"{name} · recycle bin" if view.bin else name]
        if view.stale and view.page is not None:
            parts += [f"{fmt.count(len(view.page.items))} rows from the last run ({view.stale})", "refreshing…"]
        elif view.page is not None:
            page = view.page
            parts.append(fmt.page_range(view.offset, len(page.items), page.total))
            if page.page_count:
                parts.append(f"page {fmt.count(page.page_number or view.page_number)}/{fmt.count(page.page_count)}")
            else:
                parts.append(f"page {fmt.count(view.page_number)}")
            parts.append(self.sort_description(view))
            if page.warnings:
                parts.append("; ".join(page.warnings))
        if self.needle:
            parts.append(f"filter “{self.needle}”: {len(self.table.rows_shown)} shown")
        if self.table.marks:
            parts.append(f"{fmt.count(len(self.table.marks))} marked")
        if self.is_read_only(view.id):
            parts.append("read-only")
        self.status_bar.set_left(*parts)
        waits = [s for s in self.states.values() if s.status in ("retrying", "rate_limited")]
        if waits:
            s = waits[0]
            left = self.clock()
            wait = f" · retry in {fmt.countdown(s.until - left)}" if s.until and s.until > left else ""
            what = "rate-limited" if s.status == "rate_limited" else "retrying"
            self.status_bar.set_right(f"{s.name} · {what}{wait}", "$text-warning")
        elif self._pending is not None:
            self.status_bar.set_right("loading…", "$text-muted")
        else:
            self.status_bar.set_right("")

    # -- the detail pane ---------------------------------------------------------------------
    @on(RecordingsTable.Highlighted)
    def _row_highlighted(self, event: RecordingsTable.Highlighted) -> None:
        self._highlight_changed()

    def _sync_bindings(self) -> None:
        """Refresh the footer only when what the keys may do changed (next/previous page, the
        filter, what the highlighted row allows): a refresh rebuilds the footer, too slow for
        every cursor move or page."""
        rec = self.table.current()
        view = self.view
        page = view.page if view is not None else None
        signature = (self.view_id, page is not None and page.next is not None, bool(view and view.history),
                     bool(self.needle), rec is not None and bool(rec.viewer_url), bool(view and view.bin),
                     bool(self.batches), len(self.table.marks),
                     tuple(self._gate_state(action) for action in GATES))
        if signature != self._binding_signature:
            self._binding_signature = signature
            self.refresh_bindings()

    def _highlight_changed(self) -> None:
        self._sync_bindings()
        rec = self.table.current()
        if rec is None:
            if self.detail.recording is not None or not self.table.row_count:
                self.detail.show_message("")
            return
        if self.detail.recording is not None and self.detail.recording.key == rec.key and self.detail.full:
            return
        name = self.names.get(rec.provider, rec.provider)
        full = self._details.get(rec.key)
        if full is not None:
            self.detail.show(full, provider_name=name, caps=self._caps_of(rec), full=True)
            return
        note = "" if rec.id_valid else "Details are not fetched for an unsafe id."
        self.detail.show(rec, provider_name=name, caps=self._caps_of(rec), full=not rec.id_valid, note=note)
        if self._detail_timer is not None:
            self._detail_timer.stop()
            self._detail_timer = None
        if not rec.id_valid:
            return
        if self.detail_delay > 0:
            self._detail_timer = self.set_timer(self.detail_delay, lambda: self._start_detail(rec.key))
        else:
            self._start_detail(rec.key)

    def _start_detail(self, key: tuple[str, str]) -> None:
        self._detail_timer = None
        rec = self.table.current()
        if rec is None or rec.key != key or key in self._details:
            return
        provider = self.providers.get(rec.provider)
        if provider is None:
            return
        self._detail_request += 1
        self.load_detail(provider, rec, self._detail_request)

    # -- user requests -----------------------------------------------------------------------
    @on(ProviderSidebar.Selected)
    def _provider_selected(self, event: ProviderSidebar.Selected) -> None:
        self.show_view(event.provider)

    @on(ProviderSidebar.Opened)
    def _provider_opened(self, event: ProviderSidebar.Opened) -> None:
        self.show_view(event.provider)
        self.set_focus(self.table)

    @on(RecordingsTable.SortRequested)
    def _sort_requested(self, event: RecordingsTable.SortRequested) -> None:
        self.sort(event.column, event.descending)

    def sort(self, column: str, descending: bool) -> None:
        """Sort on the server where the provider can (from the first page), else the loaded rows."""
        view = self.view
        caps = self.capabilities()
        if view is None or caps is None:
            return
        keep = self.table.current_key()
        view.sort_column, view.descending = column, descending
        server_key = SERVER_KEYS.get(column)
        if view.natural:
            wanted: SortSpec | None = None
        elif server_key is not None and server_key in caps.server_sort:
            wanted = SortSpec(key=server_key, descending=descending)  # type: ignore[arg-type]
        else:
            wanted = view.server_sort    # sort the loaded rows; the server's order stays as it is
        if wanted != view.server_sort:
            view.server_sort = wanted
            self._load(view, None, 0, [], keep=keep)
        self._show_rows(keep=keep)

    def action_page(self, direction: int) -> None:
        view = self.view
        if view is None or view.page is None:
            return
        keep = None
        if direction > 0:
            if view.page.next is None:
                self.notify("This is the last page.", timeout=2)
                return
            history = [*view.history, (view.cursor, view.offset)]
            self._load(view, view.page.next, view.offset + len(view.page.items), history, keep=keep)
        else:
            if not view.history:
                self.notify("This is the first page.", timeout=2)
                return
            cursor, offset = view.history[-1]
            self._load(view, cursor, offset, view.history[:-1], keep=keep)

    def action_first_page(self) -> None:
        view = self.view
        if view is not None and view.page is not None and view.history:
            self._load(view, None, 0, [], keep=None)

    def action_refresh(self) -> None:
        view = self.view
        if view is None:
            return
        if view.id == MERGED_ID and self.merged is not None:
            self.merged.clear_cache()      # its providers' pages are read again; late requests go on
        for key in [k for k in self._cache if k[0] == view.id]:
            del self._cache[key]
        self._details.clear()
        self._load(view, view.cursor, view.offset, list(view.history), keep=self.table.current_key(),
                   use_cache=False)

    def action_provider(self, index: int) -> None:
        order = list(self.states)
        if 0 <= index < len(order):
            self.show_view(order[index])

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        self.set_focus(box)
        self.refresh_bindings()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if not box.value and not box.display and not self.needle:
            self.table.clear_marks()
            return
        if box.value:
            box.value = ""       # Input.Changed re-renders
        box.display = False
        self.set_focus(self.table)
        self.refresh_bindings()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.needle = event.value.strip()
        self._show_rows()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.query_one("#filter").display = False
        self.set_focus(self.table)

    def action_toggle_raw(self) -> None:
        self.raw = not self.raw
        self.detail.set_raw(self.raw)

    def action_open_viewer(self) -> None:
        rec = self.table.current()
        if rec is not None and rec.viewer_url:
            self.app.open_url(rec.viewer_url)
            self.notify(rec.viewer_url, title="Opening the viewer", markup=False, timeout=4)

    def action_api_log(self) -> None:
        from rectui.screens.api_log import ApiLogScreen
        self.app.push_screen(ApiLogScreen(self.states, list(self.errors), list(self.api_log), self.names))

    def jump_to(self, key: tuple[str, str]) -> None:
        """Put the cursor on a loaded recording (the palette's recording search)."""
        rk = f"{key[0]}/{key[1]}"
        if not self.table.move_to(rk) and self.needle:
            self.action_clear_filter()
            self.table.move_to(rk)
        self.set_focus(self.table)

    # -- actions: marks, delete, restore, purge, the recycle bin -------------------------------
    @on(RecordingsTable.MarksChanged)
    def _marks_changed(self, event: RecordingsTable.MarksChanged) -> None:
        self._status()
        self._sync_bindings()

    def action_rows(self) -> list[Recording]:
        """The rows an action applies to: the marked ones, else the highlighted one."""
        marked = self.table.marked()
        if marked:
            return marked
        rec = self.table.current()
        return [rec] if rec is not None else []

    def selected_targets(self) -> tuple[Target, ...]:
        """The targets of an action, locked now (provider, id, title, the recording): what a
        confirmation shows and what is acted on afterwards, whatever the cursor does."""
        return tuple(Target.of(r) for r in self.action_rows())

    def refusal(self, op: str, rows: Sequence[Recording], *, starting: bool = True) -> str | None:
        """Why `op` cannot run on `rows` now, or None. `starting`: also refuse while a listing of
        their provider is in flight (what is on screen may be about to change)."""
        if not rows:
            return "No recording is highlighted."
        if self.view is not None and self.view.stale:
            return "These rows are from the last run: wait for the provider's fresh page (r reloads it)."
        view = self.view
        in_bin = bool(view is not None and view.bin)
        if op in BIN_ACTIONS and not in_bin:
            return f"{VERBS[op][0]} works in the recycle bin: press b to open it."
        if op == "delete" and in_bin:
            return "These are in the recycle bin already: u restores them, D deletes them for good."
        if op in GATES and GATES[op][1] and self.store_problem:
            return f"The local journal is not available, so nothing is deleted or changed: {self.store_problem}"
        for rec in rows:
            reason = self.gate_reason(op, rec)
            if reason is not None:
                return reason if len(rows) == 1 else f"{reason} (a marked recording: {rec.title or rec.id})"
        providers = list(dict.fromkeys(r.provider for r in rows))
        for pid in providers:
            state = self.states.get(pid)
            if state is not None and state.status in UNSETTLED:
                what = {"auth": "failing authentication", "offline": "offline"}.get(state.status, "misconfigured")
                return f"{state.name} is {what}: nothing is sent until it answers again (e: the full error)."
        pending = self._pending
        if starting and pending is not None and (pending.view == MERGED_ID or pending.view in providers):
            return f"{self.names.get(pending.view, pending.view)} is loading: try again when the page is shown."
        busy = {key for b in self.batches if not b.finished for key in b.keys}
        if any(r.key in busy for r in rows):
            return "An operation on these recordings is still running (R: its progress)."
        return None

    def _refuse(self, op: str, reason: str) -> None:
        self.notify(reason, title=f"{VERBS.get(op, (op.capitalize(),))[0]}: not possible", severity="warning",
                    markup=False, timeout=6)

    def on_key(self, event: Key) -> None:
        """A key whose action is greyed out here says why (the footer can only grey it)."""
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            action = binding.action
            if action in GATES and self.is_mounted and not self.check_action(action, ()):
                reason = self.refusal(action, self.action_rows())
                if reason is not None:
                    self._refuse(action, reason)
                return

    def plan(self, op: str, rows: Sequence[Recording]) -> ActionPlan:
        restorable = frozenset(pid for pid, p in self.providers.items() if p.capabilities.can_restore)
        return ActionPlan(op, tuple(Target.of(r) for r in rows), dict(self.names),
                          from_all=self.view_id == MERGED_ID, restorable=restorable)

    def confirm(self, op: str) -> None:
        """Lock the targets, ask, then run: the dialog's answer acts on the locked plan only."""
        rows = self.action_rows()
        reason = self.refusal(op, rows)
        if reason is not None:
            self._refuse(op, reason)
            return
        plan = self.plan(op, rows)
        self.app.push_screen(ConfirmDialog(plan), lambda ok: self._confirmed(plan, ok))

    def _confirmed(self, plan: ActionPlan, ok: bool | None) -> None:
        if not ok:
            return
        recs = [t.recording for t in plan.targets if t.recording is not None]
        reason = self.refusal(plan.op, recs, starting=False) if len(recs) == plan.count else None
        if reason is not None:
            self._refuse(plan.op, reason)
            return
        self.run_batch(plan.op, plan.targets)

    def action_delete(self) -> None:
        self.confirm("delete")

    def action_restore(self) -> None:
        self.confirm("restore")

    def action_purge(self) -> None:
        self.confirm("purge")

    def run_batch(self, op: str, targets: Sequence[Target], **params: Any) -> Batch:
        """Run `op` over confirmed `targets` through the operations queue, in an "ops" worker:
        progress in the status line, a summary when it ends, `R` for each item. Tag editing
        (`op="tag"`, `add=`, `remove=`) and rename (`op="rename"`, `fields=`) reuse it."""
        self._batch_id += 1
        batch = Batch(self._batch_id, op, tuple(targets), view_bin=bool(self.view and self.view.bin))
        self.batches.append(batch)
        finished = [b for b in self.batches if b.finished]
        for old in finished[:-5]:
            self.batches.remove(old)
        self.table.clear_marks()
        self._ops_status()
        self._sync_bindings()
        self.run_ops(batch, params)
        return batch

    @work(group="ops", exit_on_error=False, description="Running an operation")
    async def run_ops(self, batch: Batch, params: dict[str, Any]) -> None:
        try:
            if batch.op == "rename":
                result = await self.ops.rename(batch.targets[0], params["fields"])
            elif batch.op == "tag":
                result = await self.ops.tag(batch.targets, add=params.get("add", ()), remove=params.get("remove", ()))
            else:
                result = await getattr(self.ops, batch.op)(batch.targets)
        except RectuiError as exc:
            self.post_message(BatchFinished(batch.id, batch.op, None, exc))
        else:
            self.post_message(BatchFinished(batch.id, batch.op, result))

    def _queue_event(self, event: QueueEvent) -> None:
        """The operations queue's callback (called in the "ops" worker): a message to handle."""
        self.post_message(QueueProgress(event))

    def _batch_of(self, key: tuple[str, str]) -> Batch | None:
        return next((b for b in reversed(self.batches) if not b.finished and key in b.keys), None)

    def on_queue_progress(self, message: QueueProgress) -> None:
        event = message.event
        if event.kind in ("started", "item") and event.target is not None:
            key = (event.target.provider, event.target.id)
            batch = self._batch_of(key)
            if batch is not None:
                if event.kind == "started":
                    batch.started.add(key)
                elif event.result is not None:
                    batch.results[key] = event.result
                    if self._apply(batch.op, event.result):
                        self._show_rows()
            self._ops_status()
        elif event.kind == "throttled":
            self._ops_note = event.message
            self._ops_status()
        elif event.kind in ("paused", "stopped"):
            self._ops_note = event.message
            self._ops_status()
            extra = "\nctrl+p then “operations: resume” or “operations: cancel”." if event.kind == "paused" else ""
            self.notify(event.message + extra, title="Operations paused" if event.kind == "paused" else
                        "Operations stopped", severity="error", markup=False, timeout=12)
        elif event.kind == "resumed":
            self._ops_note = ""
            self._ops_status()

    def _apply(self, op: str, result: ItemResult) -> bool:
        """Hide a row the operation took away (deleted from the listing; restored or purged from
        the recycle bin); True when something changed on screen."""
        if not result.ok:
            return False
        key = (result.target.provider, result.target.id)
        if op == "delete":
            self.gone.add(key)
            self.gone_bin.discard(key)
        elif op == "purge":
            self.gone_bin.add(key)
        elif op == "restore":
            self.gone_bin.add(key)
            self.gone.discard(key)
        elif op in ("tag", "rename"):
            self._changed(key, result)
            return False
        else:
            return False
        if key in self.table.marks:     # a hidden row is never part of the next action on the marks
            self.table.clear_marks(keep=set(self.table.marks) - {key})
        self._details.pop(key, None)
        return True

    def _changed(self, key: tuple[str, str], result: ItemResult) -> None:
        """A tag or rename result: the row shows the new tags or title at once."""
        base = next((r for v in self.views.values() if v.page is not None for r in v.page.items if r.key == key),
                    None)
        if base is None:
            return
        if result.op == "tag" and result.tags is not None:
            self.replace_rows({key: base.model_copy(update={"tags": result.tags.all})})
        elif result.op == "rename" and result.recording is not None:
            self.replace_rows({key: result.recording.model_copy(update={"tags": base.tags})})

    def on_batch_finished(self, message: BatchFinished) -> None:
        batch = next((b for b in self.batches if b.id == message.batch_id), None)
        if batch is None:
            return
        batch.finished, batch.error = True, message.error
        self._ops_note = ""
        verb = VERBS.get(batch.op, (batch.op.capitalize(), "", ""))[0]
        if message.result is not None:
            for result in message.result.results:
                batch.results[(result.target.provider, result.target.id)] = result
                self._apply(batch.op, result)
        touched = {t.provider for t in batch.targets}
        for key in [k for k in self._cache if k[0] in touched or k[0] == MERGED_ID]:
            del self._cache[key]
        if message.error is not None:
            self.notify(f"Nothing was sent. {redact(message.error.message)}", title=f"{verb}: refused",
                        severity="error", markup=False, timeout=10)
        else:
            self._notify_summary(batch)
        self._show_rows()
        self._ops_status()
        self._sync_bindings()

    def _notify_summary(self, batch: Batch) -> None:
        ok = [r for r in batch.results.values() if r.ok]
        lines = [batch.summary()]
        if batch.op == "delete" and ok:
            binned = {r.target.provider for r in ok if self._restorable(r.target.provider)}
            if binned:
                lines.append("Restore with u in the recycle bin (b).")
            if len(binned) < len({r.target.provider for r in ok}):
                lines.append("Deletes outside a recycle bin cannot be undone." if binned else "Cannot be undone.")
        elif batch.op == "purge" and ok:
            lines.append("Cannot be undone.")
        lines.append("R: the result of each recording.")
        severity = "information" if len(ok) == batch.total else ("warning" if ok else "error")
        verb = VERBS.get(batch.op, (batch.op.capitalize(), "", ""))[0]
        noun = "1 recording" if batch.total == 1 else f"{fmt.count(batch.total)} recordings"
        self.notify("\n".join(lines), title=f"{verb} · {noun}", severity=severity, markup=False, timeout=10)

    def _restorable(self, provider_id: str) -> bool:
        provider = self.providers.get(provider_id)
        return bool(provider is not None and provider.capabilities.can_restore)

    def _ops_status(self) -> None:
        """The operations part of the status line: the running batch's progress, else the last
        batch's summary (R shows each item)."""
        running = [b for b in self.batches if not b.finished]
        if running:
            text = " · ".join(b.progress() for b in running)
            if self._ops_note:
                text += f" · {self._ops_note}"
            self.status_bar.set_ops(text, "$text-warning")
        elif self.batches:
            last = self.batches[-1]
            verb = VERBS.get(last.op, (last.op.capitalize(), "", ""))[0]
            what = "refused" if last.error is not None else last.summary()
            self.status_bar.set_ops(f"{verb}: {what} (R)", "$text-muted")
        else:
            self.status_bar.set_ops("")

    def action_results(self) -> None:
        if not self.batches:
            return
        from rectui.screens.results import ResultsScreen
        self.app.push_screen(ResultsScreen(self.batches[-1], dict(self.names)))

    def action_recycle_bin(self) -> None:
        """Swap the provider's listing for its recycle bin (`status="deleted"`), or back."""
        view = self.view
        caps = self.capabilities()
        if view is None or view.id == MERGED_ID or caps is None or not (caps.can_restore or view.bin):
            name = self.names.get(self.view_id, self.view_id)
            self._refuse("recycle bin", "“All providers” has no recycle bin: select Webex first." if
                         self.view_id == MERGED_ID else f"{name} keeps no recycle bin: its deletes are permanent.")
            return
        self.workers.cancel_group(self, "page")
        self.workers.cancel_group(self, "prefetch")
        self._pending = None
        self._superseded()
        view.keep = self.table.current_key()
        other = self._other_views.pop(view.id, None) or ViewState(view.id, bin=not view.bin)
        self._other_views[view.id] = view
        self.views[view.id] = other
        self.table.clear_marks()
        self._display(other)
        self.refresh_bindings()

    def action_cancel_ops(self) -> None:
        self.ops.cancel()

    def action_resume_ops(self) -> None:
        for pid, queue in self.ops.queues.items():
            if queue.paused is not None:
                self.ops.resume(pid)

    # -- the palette -------------------------------------------------------------------------
    def system_commands(self) -> Iterable[tuple[str, str, Callable[[], object]]]:
        """(title, help, callback) for the command palette; titles carry a category."""
        for n, (pid, state) in enumerate(self.states.items()):
            yield (f"provider: {state.name}", f"Show {state.name} (key {n})" if n < 10 else f"Show {state.name}",
                   lambda pid=pid: self.show_view(pid))
        yield ("page: next", "The next page of recordings", lambda: self.action_page(1))
        yield ("page: previous", "The previous page of recordings", lambda: self.action_page(-1))
        yield ("page: first", "Back to the first page", self.action_first_page)
        view = self.view
        for cid in self.table.visible_columns():
            if cid == "provider":
                continue
            label = COLUMNS[cid].label
            desc = cid in ("date", "duration")
            if SERVER_KEYS.get(cid) in (self.capabilities() or _NO_CAPS).server_sort:
                server = "on the server"
            elif cid == "date":
                server = "newest first, as the provider lists them"
            else:
                server = "over the loaded rows"
            yield (f"sort: by {label}", f"Sort by {label} ({server})", lambda c=cid, d=desc: self.sort(c, d))
        if view is not None:
            yield ("sort: reverse", "Reverse the sort order", lambda: self.sort(view.sort_column, not view.descending))
        yield ("filter: loaded rows", "Filter the loaded rows as you type", self.action_filter)
        if self.needle:
            yield ("filter: clear", "Show every loaded row", self.action_clear_filter)
        yield ("refresh", "Load this page again", self.action_refresh)
        yield ("view: raw details", "Toggle the provider's raw document in the detail pane", self.action_toggle_raw)
        yield ("view: errors and API calls", "Each provider's full error and the recent API calls",
               self.action_api_log)
        rec = self.table.current()
        if rec is not None and rec.viewer_url:
            yield ("open: viewer page", "Open the highlighted recording's viewer page in a browser",
                   self.action_open_viewer)
        yield from self._action_commands()

    def _action_commands(self) -> Iterable[tuple[str, str, Callable[[], object]]]:
        """Marks, delete, restore, purge, the recycle bin, results: hidden where they can never
        apply here, and with the reason where the selected rows refuse them."""
        marked = len(self.table.marks)
        which = f"the {marked} marked recordings" if marked else "the highlighted recording"
        yield ("select: mark all on this page", "Mark every row shown (again: unmark them)", self.table.action_mark_all)
        if marked:
            yield ("select: clear marks", f"Unmark the {marked} marked recordings", self.table.clear_marks)
        helps = {"delete": f"Delete {which}, after a confirmation", "restore": f"Restore {which} from the recycle bin",
                 "purge": f"Delete {which} for good from the recycle bin"}
        read_only = self.is_read_only(self.view_id)
        for op, help_text in helps.items():
            state = self._gate_state(op)
            if state is False or read_only:
                continue
            if state is None:
                reason = self.refusal(op, self.action_rows()) or "not available here"
                yield (f"{op}: not available", reason, lambda op=op, reason=reason: self._refuse(op, reason))
            else:
                yield (f"{op}: {which}", help_text, lambda op=op: self.confirm(op))
        if self.check_action("recycle_bin", ()):
            view = self.view
            title = "view: back to the recordings" if view is not None and view.bin else "view: recycle bin"
            yield (title, "The provider's recycle bin (deleted recordings you can restore), and back",
                   self.action_recycle_bin)
        if self.batches:
            yield ("operations: results", "Each recording of the last batch and what happened to it",
                   self.action_results)
        if any(not b.finished for b in self.batches):
            yield ("operations: cancel", "Stop the running batches between items (items in flight finish)",
                   self.action_cancel_ops)
        if any(q.paused is not None for q in self.ops.queues.values()):
            yield ("operations: resume", "Go on with the paused batches", self.action_resume_ops)


_NO_CAPS = Capabilities(page_style="cursor", exact_total=False)
