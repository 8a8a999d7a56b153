""""All providers": the next page of every provider, fetched concurrently, merged newest first.

A k-way merge over the providers' own newest-first listings: a row is emitted only when it is
at least as new as every row that any provider with more pages could still send (each provider's
rows beyond its fetched page are older than that page's last row). The compound cursor holds each
provider's page cursor and offset into that page. Providers whose listing order is not guaranteed
(Genesys, Screendesk) have each fetched page sorted, and the merged page says "order approximate".
A failing or rate-limited provider leaves the others' rows on the page plus its error in
`Page.failures`; its position is kept, so the next page tries it again.

The view never waits for its slowest provider: each provider page is fetched by a task the merge
owns (not the caller), and a merged page is returned once every provider has answered, or `grace`
seconds after the first one answered (`patience` seconds after the request at the latest, but
never before one answered). A provider still working then is *late*: it is named in `Page.late`
with a warning ("Webex is rate-limited: its rows will join when it answers"), its position is
kept and its request keeps running; the next page (or the same page asked again) merges its rows
in. Rows that arrive that way newer than rows already shown are not misplaced silently: that page
is marked "order approximate" and says how many. A cancelled page request leaves its fetches
running for the next request to reuse; `aclose` cancels and reaps whatever is still running.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rectui.errors import ProviderError, Unsupported
from rectui.models import Capabilities, Cursor, ListQuery, Page, Recording

log = logging.getLogger("rectui.providers.merged")

MERGED_ID = "all"
DEFAULT_GRACE = 1.5      # seconds the page waits for the others once one provider has answered
DEFAULT_PATIENCE = 3.0   # ... and no longer than this after the request (once one has answered)
_OLDEST = datetime.min.replace(tzinfo=UTC)
_MAX_ROUNDS = 64    # bounded: a provider with tiny pages cannot stall a merged page forever

_Key = tuple[str, str | None, str]     # (provider id, its page token, the query as JSON)


@dataclass
class _Lane:
    """One provider's position: the page to (re)read, how far into it we are, whether it ended."""

    cursor: str | None = None     # the provider's Cursor token of the current page; None = first
    offset: int = 0
    done: bool = False


@dataclass
class _Timer:
    """One page request's soft deadline: set when the first provider answers with a page."""

    started: float
    answered: float | None = None


def _start(rec: Recording) -> datetime:
    return rec.start or _OLDEST


class MergedProvider:
    """The "All providers" view over several adapters (any `RecordingProvider`).

    `grace=None` waits for every provider (scripts that want complete pages, `rectui ls`).
    `on_late_answer(provider_id)` is called when a provider reported late has answered (or
    failed): reload the page on screen (without `clear_cache`) to merge its rows in.
    """

    id = MERGED_ID
    kind = "all"
    display_name = "All providers"

    def __init__(self, providers: Sequence[Any], page_cache: int = 64, *, grace: float | None = DEFAULT_GRACE,
                 patience: float | None = DEFAULT_PATIENCE, clock: Callable[[], float] = time.monotonic,
                 on_late_answer: Callable[[str], None] | None = None) -> None:
        self.providers: dict[str, Any] = {p.id: p for p in providers}
        self.grace = grace
        self.patience = patience
        self.clock = clock
        self.on_late_answer = on_late_answer
        self._fetches: OrderedDict[_Key, asyncio.Task[Page]] = OrderedDict()
        self._late_keys: set[_Key] = set()
        self._page_cache = page_cache
        self._prev: dict[str, str | None] = {}
        filters = [frozenset(p.capabilities.server_filters) for p in providers]
        self.capabilities = Capabilities(
            page_style="cursor", exact_total=False, server_sort=frozenset(),
            server_filters=frozenset.intersection(*filters) if filters else frozenset(),
            max_page_size=max((p.capabilities.max_page_size for p in providers), default=100),
            media=any(p.capabilities.media for p in providers),
            can_delete=any(p.capabilities.can_delete for p in providers),
            can_restore=any(p.capabilities.can_restore for p in providers),
            can_purge=any(p.capabilities.can_purge for p in providers),
            server_tags=any(p.capabilities.server_tags for p in providers),
            can_rename=any(p.capabilities.can_rename for p in providers),
        )

    def provider_for(self, recording: Recording) -> Any:
        return self.providers[recording.provider]

    def clear_cache(self) -> None:
        """Forget the provider pages already fetched, so that the next request reads them again
        (refresh). Requests still running are kept: what they bring is as fresh as a new one."""
        for key in [k for k, task in self._fetches.items() if task.done()]:
            self._forget(key)

    @property
    def pending(self) -> tuple[str, ...]:
        """Providers with a page request still running (late ones included)."""
        return tuple(dict.fromkeys(k[0] for k, task in self._fetches.items() if not task.done()))

    # -- cursor ------------------------------------------------------------------------------------
    def _state(self, cursor: Cursor | None) -> tuple[dict[str, _Lane], float | None]:
        """The lanes, and the start time (POSIX) of the oldest row shown before this page."""
        if cursor is None:
            return {pid: _Lane() for pid in self.providers}, None
        if cursor.provider != MERGED_ID:
            raise ValueError("not an All-providers cursor")
        raw = json.loads(cursor.token)
        lanes = raw.get("l", {})
        return {pid: _Lane(**lanes.get(pid, {})) for pid in self.providers}, raw.get("f")

    @staticmethod
    def _token(state: Mapping[str, _Lane], floor: float | None) -> str:
        data = {"l": {pid: vars(lane) for pid, lane in state.items()}, "f": floor}
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    # -- provider pages, fetched by tasks the merge owns ------------------------------------------
    async def _load(self, pid: str, query: ListQuery, token: str | None) -> Page:
        prov = self.providers[pid]
        page = await prov.list_recordings(query, Cursor(provider=pid, token=token) if token is not None else None)
        if getattr(prov, "ORDER_APPROXIMATE", False):
            page = page.model_copy(update={"items": tuple(sorted(page.items, key=_start, reverse=True)),
                                           "order_approximate": True})
        return page

    def _fetch(self, pid: str, query: ListQuery, token: str | None) -> tuple[_Key, asyncio.Task[Page]]:
        """The task for one provider page: the one already fetched or running, else a new one."""
        key = (pid, token, query.model_dump_json())
        task = self._fetches.get(key)
        if task is None or task.cancelled():
            task = asyncio.get_running_loop().create_task(self._load(pid, query, token),
                                                          name=f"rectui-merged-{pid}")
            task.add_done_callback(lambda t, k=key: self._landed(k, t))
            self._fetches[key] = task
            self._trim()
        else:
            self._fetches.move_to_end(key)
        return key, task

    def _landed(self, key: _Key, task: asyncio.Task[Page]) -> None:
        """A fetch ended: its exception is retrieved here (it is reported by the next page that
        asks for it, never as "Task exception was never retrieved"); a late provider is announced."""
        if task.cancelled():
            if self._fetches.get(key) is task:
                del self._fetches[key]
            self._late_keys.discard(key)
            return
        task.exception()
        if key in self._late_keys:
            self._late_keys.discard(key)
            self._landed_late(key[0])

    def _forget(self, key: _Key) -> None:
        self._fetches.pop(key, None)
        self._late_keys.discard(key)

    def _trim(self) -> None:
        done = [k for k, task in self._fetches.items() if task.done()]
        for key in done[: max(0, len(done) - self._page_cache)]:
            self._forget(key)

    def _deadline(self, timer: _Timer) -> float | None:
        if self.grace is None or timer.answered is None:
            return None
        deadline = timer.answered + self.grace
        if self.patience is not None:
            deadline = min(deadline, max(timer.answered, timer.started + self.patience))
        return deadline

    async def _settle(self, tasks: Iterable[asyncio.Task[Page]], timer: _Timer, *, must_answer: bool) -> None:
        """Wait until every task is done, or the soft deadline has passed since a provider
        answered. With `must_answer`, wait at least for one task to end. Never cancels a task."""
        tasks = list(tasks)
        while True:
            if timer.answered is None and any(t.done() and not t.cancelled() and t.exception() is None
                                              for t in tasks):
                timer.answered = self.clock()
            pending = [t for t in tasks if not t.done()]
            if not pending:
                return
            deadline = self._deadline(timer)
            timeout = None if deadline is None else deadline - self.clock()
            if timeout is not None and timeout <= 0:
                if must_answer and len(pending) == len(tasks):
                    timeout = None
                else:
                    return
            await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)

    # -- listing ---------------------------------------------------------------------------------
    async def list_recordings(self, query: ListQuery, cursor: Cursor | None = None) -> Page:
        if query.sort is not None and (query.sort.key, query.sort.descending) != ("start", True):
            raise Unsupported("All providers lists newest first only; sort the loaded rows instead",
                              provider=MERGED_ID)
        size = query.page_size or 50
        per_query = query.model_copy(update={"sort": None})
        start_state, floor = self._state(cursor)
        state = {pid: _Lane(**vars(lane)) for pid, lane in start_state.items()}
        failures: dict[str, ProviderError] = {}
        late: dict[str, tuple[_Key, asyncio.Task[Page]]] = {}
        approximate = False
        out: list[Recording] = []
        seen: set[tuple[str, str]] = set()
        timer = _Timer(started=self.clock())

        for _ in range(_MAX_ROUNDS):
            live = [pid for pid, lane in state.items() if not lane.done and pid not in failures and pid not in late]
            if len(out) >= size:
                break
            if not live:
                if out or not late:
                    break
                # Nothing to show yet and only late providers left: an empty page would say
                # nothing, so wait for one of them after all.
                await asyncio.wait([task for _key, task in late.values()], return_when=asyncio.FIRST_COMPLETED)
                late = {pid: lt for pid, lt in late.items() if not lt[1].done()}
                continue
            fetches = {pid: self._fetch(pid, per_query, state[pid].cursor) for pid in live}
            await self._settle((task for _key, task in fetches.values()), timer, must_answer=not out)
            pages: dict[str, Page] = {}
            for pid, (key, task) in fetches.items():
                if not task.done():
                    late[pid] = (key, task)
                    continue
                exc = None if task.cancelled() else task.exception()
                if task.cancelled() or isinstance(exc, ProviderError):
                    self._forget(key)          # delivered once; the next page asks again
                    if isinstance(exc, ProviderError):
                        failures[pid] = exc
                    continue
                if exc is not None:
                    self._forget(key)
                    raise exc
                pages[pid] = task.result()
                approximate |= pages[pid].order_approximate
            if not pages:
                continue
            # The emit bound: rows older than what a provider with more pages may still send wait.
            bound = max((_start(p.items[-1]) for pid, p in pages.items() if p.next is not None and p.items),
                        default=_OLDEST)
            candidates = [(rec, pid) for pid, p in pages.items() for rec in p.items[state[pid].offset:]]
            candidates.sort(key=lambda c: _start(c[0]), reverse=True)
            progressed = False
            for rec, pid in candidates:
                if len(out) >= size or _start(rec) < bound:
                    break
                state[pid].offset += 1
                progressed = True
                if rec.key not in seen:
                    seen.add(rec.key)
                    out.append(rec)
            for pid, page in pages.items():   # lanes whose page is used up move to their next page
                lane = state[pid]
                if lane.offset >= len(page.items):
                    if page.next is None:
                        lane.done = True
                    else:
                        lane.cursor, lane.offset = page.next.token, 0
                        progressed = True
            if not progressed and not late:
                break

        self._announce_later(late.values())
        warnings: list[str] = [self._late_message(pid) for pid in late]
        newer = self._newer_than_shown(out, floor)
        if newer:
            approximate = True
            warnings.append(newer)
        oldest = min((r.start.timestamp() for r in out if r.start is not None), default=None)
        end_floor = oldest if floor is None else (floor if oldest is None else min(floor, oldest))
        start_token = self._token(start_state, floor)
        end_token = self._token(state, end_floor)
        has_more = any(not lane.done for lane in state.values())
        next_cursor = None
        if has_more and (out or late) and end_token != start_token:
            next_cursor = Cursor(provider=MERGED_ID, token=end_token)
            self._prev[end_token] = start_token      # how to come back (prev works after going forward)
        prev_token = self._prev.get(start_token) if cursor is not None else None
        prev_cursor = Cursor(provider=MERGED_ID, token=prev_token) if prev_token else None
        approximate |= bool(failures) or bool(late)   # their newer rows may arrive on a later page
        return Page(items=tuple(out), next=next_cursor, prev=prev_cursor, sorted_on_server=False,
                    order_approximate=approximate, failures=failures, late=tuple(late),
                    warnings=tuple(warnings))

    def _announce_later(self, late: Iterable[tuple[_Key, asyncio.Task[Page]]]) -> None:
        """`on_late_answer` for each provider left out of the page being returned: when its
        request ends, or at once if it ended while this page was being merged."""
        for key, task in late:
            if not task.done():
                self._late_keys.add(key)
            elif self.on_late_answer is not None:
                asyncio.get_running_loop().call_soon(self._landed_late, key[0])

    def _landed_late(self, pid: str) -> None:
        if self.on_late_answer is not None:
            try:
                self.on_late_answer(pid)
            except Exception:     # a UI callback must never break the merge
                log.exception("on_late_answer callback failed")

    def _late_message(self, pid: str) -> str:
        """Why a provider is late, from its HTTP core's last event when it has one."""
        prov = self.providers[pid]
        name = getattr(prov, "display_name", pid) or pid
        recent = getattr(getattr(prov, "http", None), "recent", None)
        last = recent[-1] if recent else None
        if last is not None and last.kind == "retry" and last.status == 429:
            why = "is rate-limited"
        elif last is not None and last.kind == "retry":
            why = "is retrying after an error"
        else:
            why = "is slow to answer"
        return f"{name} {why}: its rows will join when it answers"

    def _newer_than_shown(self, rows: Sequence[Recording], floor: float | None) -> str:
        """A warning when rows of this page are newer than rows on earlier pages (a provider
        that answered late, or failed before), naming the providers; "" when none are."""
        if floor is None:
            return ""
        newer = [r for r in rows if r.start is not None and r.start.timestamp() > floor]
        if not newer:
            return ""
        names = ", ".join(dict.fromkeys(getattr(self.providers.get(r.provider), "display_name", r.provider)
                                        or r.provider for r in newer))
        what = "row is" if len(newer) == 1 else "rows are"
        return f"{len(newer)} {what} newer than rows on earlier pages ({names} answered late)"

    # -- everything else goes to the recording's own provider --------------------------------------
    async def get_recording(self, recording_id: str) -> Recording:
        raise Unsupported("ask the recording's own provider (Recording.provider)", provider=MERGED_ID)

    async def aclose(self) -> None:
        """Cancel and reap the fetches still running, then close every provider."""
        running = [task for task in self._fetches.values() if not task.done()]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        self._fetches.clear()
        self._late_keys.clear()
        await asyncio.gather(*(p.aclose() for p in self.providers.values()))

    async def check(self) -> None:
        await asyncio.gather(*(p.check() for p in self.providers.values()))

    def describe(self) -> str:
        return f"all providers ({', '.join(self.providers)})"
