""""All providers": the next page of every provider, fetched concurrently, merged newest first.

A k-way merge over the providers' own newest-first listings: a row is emitted only when it is
at least as new as every row that any provider with more pages could still send (each provider's
rows beyond its fetched page are older than that page's last row). The compound cursor holds each
provider's page cursor and offset into that page. Providers whose listing order is not guaranteed
(Genesys, Screendesk) have each fetched page sorted, and the merged page says "order approximate".
A failing or rate-limited provider leaves the others' rows on the page plus its error in
`Page.failures`; its position is kept, so the next page tries it again.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rectui.errors import ProviderError, Unsupported
from rectui.models import Capabilities, Cursor, ListQuery, Page, Recording

MERGED_ID = "all"
_OLDEST = datetime.min.replace(tzinfo=UTC)
_MAX_ROUNDS = 64    # bounded: a provider with tiny pages cannot stall a merged page forever


@dataclass
class _Lane:
    """One provider's position: the page to (re)read, how far into it we are, whether it ended."""

    cursor: str | None = None     # the provider's Cursor token of the current page; None = first
    offset: int = 0
    done: bool = False


def _start(rec: Recording) -> datetime:
    return rec.start or _OLDEST


class MergedProvider:
    """The "All providers" view over several adapters (any `RecordingProvider`)."""

    id = MERGED_ID
    kind = "all"
    display_name = "All providers"

    def __init__(self, providers: Sequence[Any], page_cache: int = 64) -> None:
        self.providers: dict[str, Any] = {p.id: p for p in providers}
        self._pages: OrderedDict[tuple[str, str | None, str], Page] = OrderedDict()
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

    # -- listing ---------------------------------------------------------------------------------
    def _state(self, cursor: Cursor | None) -> dict[str, _Lane]:
        if cursor is None:
            return {pid: _Lane() for pid in self.providers}
        if cursor.provider != MERGED_ID:
            raise ValueError("not an All-providers cursor")
        raw = json.loads(cursor.token)
        return {pid: _Lane(**raw.get(pid, {})) for pid in self.providers}

    @staticmethod
    def _token(state: Mapping[str, _Lane]) -> str:
        return json.dumps({pid: vars(lane) for pid, lane in state.items()}, sort_keys=True, separators=(",", ":"))

    async def _page(self, pid: str, query: ListQuery, token: str | None) -> Page:
        key = (pid, token, query.model_dump_json())
        if key in self._pages:
            self._pages.move_to_end(key)
            return self._pages[key]
        prov = self.providers[pid]
        page = await prov.list_recordings(query, Cursor(provider=pid, token=token) if token is not None else None)
        if getattr(prov, "ORDER_APPROXIMATE", False):
            page = page.model_copy(update={"items": tuple(sorted(page.items, key=_start, reverse=True)),
                                           "order_approximate": True})
        self._pages[key] = page
        while len(self._pages) > self._page_cache:
            self._pages.popitem(last=False)
        return page

    async def list_recordings(self, query: ListQuery, cursor: Cursor | None = None) -> Page:
        if query.sort is not None and (query.sort.key, query.sort.descending) != ("start", True):
            raise Unsupported("All providers lists newest first only; sort the loaded rows instead",
                              provider=MERGED_ID)
        size = query.page_size or 50
        per_query = query.model_copy(update={"sort": None})
        start_state = self._state(cursor)
        state = {pid: _Lane(**vars(lane)) for pid, lane in start_state.items()}
        failures: dict[str, ProviderError] = {}
        approximate = False
        out: list[Recording] = []
        seen: set[tuple[str, str]] = set()

        for _ in range(_MAX_ROUNDS):
            live = [pid for pid, lane in state.items() if not lane.done and pid not in failures]
            if not live or len(out) >= size:
                break
            results = await asyncio.gather(*(self._page(pid, per_query, state[pid].cursor) for pid in live),
                                            return_exceptions=True)
            pages: dict[str, Page] = {}
            for pid, result in zip(live, results, strict=True):
                if isinstance(result, ProviderError):
                    failures[pid] = result
                elif isinstance(result, BaseException):
                    raise result
                else:
                    pages[pid] = result
                    approximate |= result.order_approximate
            if not pages:
                break
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
            if not progressed:
                break

        start_token = self._token(start_state)
        end_token = self._token(state)
        has_more = any(not lane.done for lane in state.values())
        next_cursor = Cursor(provider=MERGED_ID, token=end_token) if has_more and end_token != start_token else None
        if next_cursor is not None:
            self._prev[end_token] = start_token      # how to come back (prev works after going forward)
        prev_token = self._prev.get(start_token) if cursor is not None else None
        prev_cursor = Cursor(provider=MERGED_ID, token=prev_token) if prev_token else None
        approximate |= bool(failures)   # a failed provider's newer rows may arrive on a later page
        return Page(items=tuple(out), next=next_cursor, prev=prev_cursor, sorted_on_server=False,
                    order_approximate=approximate, failures=failures)

    # -- everything else goes to the recording's own provider --------------------------------------
    async def get_recording(self, recording_id: str) -> Recording:
        raise Unsupported("ask the recording's own provider (Recording.provider)", provider=MERGED_ID)

    async def aclose(self) -> None:
        await asyncio.gather(*(p.aclose() for p in self.providers.values()))

    async def check(self) -> None:
        await asyncio.gather(*(p.check() for p in self.providers.values()))

    def describe(self) -> str:
        return f"all providers ({', '.join(self.providers)})"
