"""Operations on recordings: delete, restore, purge, tag, untag, rename and download, for one or
many recordings, through one queue per provider. No Textual here: the UI (and the headless
commands) call `Operations` and hear about every item through `on_event`, as it happens.

A `ProviderQueue`:

- takes a **confirmed list** of targets (provider, id, title) and never acts on anything else:
  ids are de-duplicated, an id of another provider is refused, an id already in flight in another
  batch of the same queue is skipped, and the adapter is never called twice for one item (its
  own verify-then-retry-once, `BaseProvider.verified_write`, aside);
- **journals** every write before sending it (`Store.begin_batch` → `queued`; `mark_pending`
  right before the item's first request; its outcome right after), so a crash leaves intents that
  the next start reconciles (`Store.reconcile`). If the journal cannot be written, nothing is sent;
- respects the provider's **rate**: a token bucket at the configured `rate_limit` (else a
  per-kind default) that every request of an item passes, verifications, token renewals and the
  HTTP core's own retries included (an httpx request hook on the provider's API client), lowered
  by each 429 (halved; a `Retry-After` also holds every request until it has passed) and raised
  back slowly by successes; requests made outside the queue (the app's listing) spend tokens too;
- runs a **few items at once** (`concurrency`, per kind by default);
- reports each item's **outcome** as it ends (`QueueEvent(kind="item")`) and a summary at the
  end ("10 deleted · 1 failed · 1 denied");
- can be **cancelled** between items (items in flight finish; the rest are `cancelled`);
- a **403** fails that item (`denied`) and goes on; a **401** pauses the queue (items in flight
  finish, the rest wait) and says so, until `resume()` (optionally with a new adapter) or
  `cancel()`; an item refused with **429** after the HTTP core's retries goes back in the queue
  (at most `max_tries` times), and several in a row pause the queue as a 401 does.

Journal outcomes: `deleted`, `deleted-confirmed-by-404`, `already-gone`, `denied`, `failed`,
`unknown`, `cancelled`, and `done` (restore, tag, rename).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import logging
import os
import re
import time
import unicodedata
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rectui.errors import (
    AuthError,
    BadResponse,
    NotFound,
    PermissionDenied,
    RateLimited,
    RectuiError,
    Unsupported,
)
from rectui.logs import redact
from rectui.mediafiles import EXTENSIONS, cache_key
from rectui.models import Recording
from rectui.providers.base import DEFAULT_MAX_MEDIA_BYTES, outcome_unknown
from rectui.providers.http import parse_retry_after
from rectui.sanitize import one_line
from rectui.store import Store, StoreError, TagSet, clean_tags

log = logging.getLogger("rectui.operations")

Op = Literal["delete", "restore", "purge", "tag", "rename", "download"]
JOURNALED: frozenset[str] = frozenset({"delete", "restore", "purge", "tag", "rename"})
WRITES: frozenset[str] = JOURNALED

# Requests per second when the config sets no `rate_limit`. Genesys allows 300 requests a minute
# per OAuth client by default; Kazoo's bucket and Webex's limits are per account and unpublished;
# Restcomm has none in the open-source server; Screendesk documents none. 429s lower these.
DEFAULT_RATE: dict[str, float] = {"genesys": 4.0, "kazoo": 5.0, "restcomm": 10.0, "webex": 4.0, "screendesk": 2.0}
DEFAULT_CONCURRENCY: dict[str, int] = {"genesys": 3, "kazoo": 2, "restcomm": 2, "webex": 2, "screendesk": 1}
MIN_RATE = 0.05               # the slowest 429 feedback can make a queue: one request in 20 s
MAX_TRIES = 4                 # an item refused with 429 (not carried out) is tried at most this often
RATE_LIMITED_PAUSE = 3        # items refused with 429 in a row (after the core's retries) pause the queue
NAME_LIMIT = 48               # characters of the title in a downloaded file's name

_ITEM: contextvars.ContextVar[_ItemCtx | None] = contextvars.ContextVar("rectui_queue_item", default=None)


# -- public records --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """One recording the user confirmed: captured when the dialog opened, never a cursor row."""

    provider: str
    id: str
    title: str = ""
    recording: Recording | None = field(default=None, compare=False, repr=False)
    """The whole recording, when known (download needs it; otherwise it is read when needed)."""

    @classmethod
    def of(cls, rec: Recording) -> Target:
        return cls(rec.provider, rec.id, rec.title, rec)


@dataclass(frozen=True)
class ItemResult:
    op: str
    target: Target
    outcome: str
    """A journal outcome: deleted, deleted-confirmed-by-404, already-gone, denied, failed,
    unknown, cancelled, done."""
    message: str = ""
    error: RectuiError | None = field(default=None, repr=False)
    journal_id: int | None = None
    recording: Recording | None = field(default=None, repr=False)
    """tag, rename: the recording as the provider answered."""
    tags: TagSet | None = None
    """tag: the recording's tags now."""
    tags_where: Literal["server", "local", "local-fallback"] | None = None
    path: Path | None = None
    """download: the file written."""

    @property
    def ok(self) -> bool:
        return self.outcome in ("deleted", "deleted-confirmed-by-404", "already-gone", "done")


_LABELS = {"deleted": "deleted", "deleted-confirmed-by-404": "deleted", "already-gone": "already gone",
           "denied": "denied", "failed": "failed", "unknown": "unknown", "cancelled": "cancelled"}
_DONE = {"restore": "restored", "tag": "tagged", "rename": "renamed", "download": "downloaded", "purge": "purged",
         "delete": "deleted"}
_ORDER = ("deleted", "purged", "restored", "tagged", "renamed", "downloaded", "already gone", "failed", "denied",
          "unknown", "cancelled")


@dataclass(frozen=True)
class Summary:
    op: str
    counts: Counter[str]

    @classmethod
    def of(cls, op: str, results: Iterable[ItemResult]) -> Summary:
        counts: Counter[str] = Counter()
        for r in results:
            label = _DONE.get(op, "done") if r.outcome in ("done", "deleted", "deleted-confirmed-by-404") \
                else _LABELS.get(r.outcome, r.outcome)
            counts[label] += 1
        return cls(op, counts)

    def text(self) -> str:
        """"10 deleted · 1 failed · 1 denied"."""
        parts = [f"{self.counts[k]} {k}" for k in _ORDER if self.counts.get(k)]
        parts += [f"{n} {k}" for k, n in self.counts.items() if k not in _ORDER and n]
        return " · ".join(parts) or "nothing to do"


EventKind = Literal["started", "item", "paused", "resumed", "throttled", "stopped", "finished"]


@dataclass(frozen=True)
class QueueEvent:
    """What the UI posts as a message: an item about to be sent (its intent journaled), an item's
    result, a pause (401, repeated 429), a resume, a slow-down after a 429, a stop (the journal
    cannot be written), the end of a batch."""

    kind: EventKind
    provider: str
    message: str = ""
    result: ItemResult | None = None
    target: Target | None = None
    summary: Summary | None = None
    waiting: int = 0
    """Items still queued (paused, stopped)."""


@dataclass
class BatchResult:
    op: str
    results: list[ItemResult]

    @property
    def summary(self) -> Summary:
        return Summary.of(self.op, self.results)


# -- the rate ----------------------------------------------------------------------------------------

class RateLimiter:
    """A token bucket on an injected clock: `rate` requests a second (at most `cap`), a burst of
    `burst`. `acquire` waits for a token; `debit` spends one without waiting (a request made
    outside the queue), possibly into debt; `throttle` halves the rate after a 429 and holds
    every request until a `Retry-After` has passed; `success` raises the rate back by 5 % of the
    cap per answer."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, burst: float = 1.0,
                 floor: float = MIN_RATE) -> None:
        self.cap = max(float(rate), floor)
        self.rate = self.cap
        self.burst = max(1.0, burst)
        self.floor = floor
        self.clock, self.sleep = clock, sleep
        self.tokens = self.burst
        self.updated = clock()
        self.hold_until = 0.0
        self.waited = 0.0

    def _refill(self) -> float:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now
        return now

    async def acquire(self) -> None:
        while True:
            now = self._refill()
            if now < self.hold_until:
                wait = self.hold_until - now
            elif self.tokens >= 1.0 - 1e-9:      # float sums of refills land a hair under 1
                self.tokens -= 1.0
                return
            else:
                wait = (1.0 - self.tokens) / self.rate
            wait = max(wait, 1e-6)                # a wait the clock can see
            self.waited += wait
            await self.sleep(wait)

    def debit(self) -> None:
        self._refill()
        self.tokens -= 1.0

    def throttle(self, retry_after: float | None) -> float:
        now = self._refill()
        self.rate = max(self.floor, self.rate / 2)
        self.tokens = min(self.tokens, 0.0)
        if retry_after is not None and retry_after > 0:
            self.hold_until = max(self.hold_until, now + retry_after)
        return self.rate

    def hold(self, seconds: float | None) -> None:
        if seconds is not None and seconds > 0:
            self.hold_until = max(self.hold_until, self._refill() + seconds)

    def success(self) -> None:
        if self.rate < self.cap:
            self._refill()
            self.rate = min(self.cap, self.rate + self.cap * 0.05)


# -- one provider's queue ----------------------------------------------------------------------------

@dataclass
class _Item:
    index: int
    target: Target
    journal_id: int | None = None
    tries: int = 0
    uncertain: bool = False
    """An earlier try of this item may have been carried out (a 401 after an ambiguous failure):
    a 404 now means "deleted (confirmed)", and cancelling it leaves it `unknown`."""


@dataclass(eq=False)
class _Run:
    """One batch: cancelled (between items) or stopped (the journal cannot be written, or a
    pause nobody can resume)."""

    cancelled: bool = False
    stopped: str | None = None

    @property
    def over(self) -> bool:
        return self.cancelled or self.stopped is not None


@dataclass
class _ItemCtx:
    queue: ProviderQueue
    prepaid: int
    requests: int = 0
    responses: int = 0
    ambiguous: bool = False
    """A request of this item got a 5xx or no answer at all: it may have been carried out."""

    @property
    def unclear(self) -> bool:
        return self.ambiguous or self.requests > self.responses


class _Requeue(Exception):
    """The item was not carried out and goes back to the front of the queue."""


class ProviderQueue:
    """The queue of one provider. Long-lived: `Operations` keeps one per provider, so a pause
    (401) holds every batch of that provider until resumed."""

    def __init__(self, provider: Any, store: Store | None = None, *,
                 on_event: Callable[[QueueEvent], None] | None = None, rate: float | None = None,
                 concurrency: int | None = None, read_only: bool = False, max_tries: int = MAX_TRIES,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 wall: Callable[[], float] = time.time) -> None:
        self.provider = provider
        self.store = store
        self.on_event = on_event
        self.read_only = read_only
        self.max_tries = max_tries
        self.wall = wall
        kind = getattr(provider, "kind", "")
        configured = getattr(getattr(provider, "settings", None), "rate_limit", None)
        self.limiter = RateLimiter(rate or configured or DEFAULT_RATE.get(kind, 5.0), clock=clock, sleep=sleep)
        self.concurrency = max(1, concurrency or DEFAULT_CONCURRENCY.get(kind, 2))
        self.paused: str | None = None
        self.requests = 0
        """Requests sent by this queue's items (every try, verifications and token renewals too)."""
        self.other_requests = 0
        self._running: set[_Run] = set()
        self._resumed = asyncio.Event()
        self._active: set[str] = set()
        self._attached: list[tuple[Any, Callable[..., Any], Callable[..., Any]]] = []
        self._rate_limited_run = 0
        self._server_tags_refused: str | None = None

    @property
    def id(self) -> str:
        return str(self.provider.id)

    @property
    def name(self) -> str:
        return str(getattr(self.provider, "display_name", None) or self.provider.id)

    # -- control ------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop every running batch between items: items in flight finish; the others end
        `cancelled`."""
        for run in self._running:
            run.cancelled = True
        self._resumed.set()

    def resume(self, provider: Any | None = None) -> None:
        """Go on after a pause; `provider` replaces the adapter (new credentials)."""
        if provider is not None and provider is not self.provider:
            running = bool(self._attached)
            self._detach()
            self.provider = provider
            if running:
                self._attach()
        if self.paused is not None:
            self.paused = None
            self._rate_limited_run = 0
            self._emit(QueueEvent("resumed", self.id, f"{self.name}: going on"))
        self._resumed.set()

    def _pause(self, message: str, waiting: int, stopped: str) -> None:
        """Pause with `message`; with no listener, stop the running batches with `stopped`."""
        if self.on_event is None:
            # Nobody hears a pause, so nobody could resume it (the headless commands): a pause
            # would wait forever. Stop the running batches instead; their items end `cancelled`
            # (or `unknown`) with this reason.
            for run in self._running:
                run.stopped = run.stopped or stopped
            return
        if self.paused is None:
            self.paused = message
            self._resumed.clear()
            self._emit(QueueEvent("paused", self.id, message, waiting=waiting))

    def _emit(self, event: QueueEvent) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:     # a UI callback must never break the queue
            log.exception("queue event callback failed")

    # -- request hooks ------------------------------------------------------------------------
    def _client(self) -> Any:
        http = getattr(self.provider, "http", None)
        return getattr(http, "client", None)

    def _attach(self) -> None:
        client = self._client()
        hooks = getattr(client, "event_hooks", None)
        if not isinstance(hooks, dict):
            return             # not an HTTP adapter (a test double): items are paced, requests are not
        hooks.setdefault("request", []).append(self._on_request)
        hooks.setdefault("response", []).append(self._on_response)
        self._attached.append((hooks, self._on_request, self._on_response))

    def _detach(self) -> None:
        for hooks, on_request, on_response in self._attached:
            with contextlib.suppress(ValueError):
                hooks["request"].remove(on_request)
            with contextlib.suppress(ValueError):
                hooks["response"].remove(on_response)
        self._attached.clear()

    async def _on_request(self, request: Any) -> None:
        ctx = _ITEM.get()
        if ctx is None or ctx.queue is not self:
            self.other_requests += 1
            self.limiter.debit()
            return
        ctx.requests += 1
        self.requests += 1
        if ctx.prepaid:
            ctx.prepaid -= 1
            return
        await self.limiter.acquire()

    async def _on_response(self, response: Any) -> None:
        status = response.status_code
        ctx = _ITEM.get()
        if ctx is not None and ctx.queue is self:
            ctx.responses += 1
            ctx.ambiguous = ctx.ambiguous or status >= 500
        if status == 429:
            wait = parse_retry_after(response.headers.get("retry-after"), self.wall())
            rate = self.limiter.throttle(wait)
            hold = f"; holding for {wait:.0f} s" if wait else ""
            self._emit(QueueEvent("throttled", self.id, f"{self.name} · 429 · slowing to {rate:.2g} requests/s{hold}"))
        elif status < 400:
            self.limiter.success()

    # -- running ------------------------------------------------------------------------------
    def check(self, op: str) -> None:
        """Refuse, before anything is sent or journaled, what this provider cannot or may not do."""
        p = self.provider
        caps = p.capabilities
        if op in WRITES and (self.read_only or getattr(p, "read_only", False)):
            raise PermissionDenied(f"{self.name} is read-only: delete, tag and rename are disabled; nothing was sent.",
                                   provider=self.id, title="Read-only")
        need = {"delete": caps.can_delete, "restore": caps.can_restore, "purge": caps.can_purge,
                "rename": caps.can_rename, "download": caps.media}.get(op, True)
        if not need:
            verb = {"download": "download audio"}.get(op, f"{op} recordings")
            raise Unsupported(f"{self.name} cannot {verb}; nothing was sent.", provider=self.id)

    async def run(self, op: Op, targets: Sequence[Target], *, add: Iterable[str] = (), remove: Iterable[str] = (),
                  fields: Mapping[str, str | None] | None = None, dest_dir: Path | None = None,
                  max_bytes: int = DEFAULT_MAX_MEDIA_BYTES) -> list[ItemResult]:
        """Run `op` over `targets` (all of this provider); returns one result per distinct target,
        in order. Raises before sending anything when the op is refused (read-only, unsupported)
        or the journal cannot be written."""
        if op not in ("delete", "restore", "purge", "tag", "rename", "download"):
            raise ValueError(f"unknown operation {op!r}")
        for t in targets:
            if t.provider != self.id:
                raise ValueError(f"target {t.id!r} belongs to {t.provider!r}, not {self.id!r}")
        self.check(op)
        if op == "download" and dest_dir is None:
            raise ValueError("download needs dest_dir")
        if op == "rename" and not fields:
            raise ValueError("rename needs fields")
        params = {"add": clean_tags(add), "remove": clean_tags(remove), "fields": dict(fields or {}),
                  "dest_dir": dest_dir, "max_bytes": max_bytes}
        if op == "tag" and not (params["add"] or params["remove"]):
            raise ValueError("tag needs a tag to add or remove")

        seen: set[str] = set()
        items: list[_Item] = []
        results: dict[int, ItemResult] = {}
        for t in targets:
            if t.id in seen:
                continue
            seen.add(t.id)
            item = _Item(len(items), t)
            items.append(item)
            if t.id in self._active:
                results[item.index] = ItemResult(op, t, "cancelled", "already in another batch of this provider")
        todo = [i for i in items if i.index not in results]
        if self.store is not None and op in JOURNALED and not (op == "tag" and not self._server_tags(op)):
            ids = self.store.begin_batch(op, self.id, [(i.target.id, i.target.title) for i in todo],
                                         self._request(op, params, len(todo)))
            for item, jid in zip(todo, ids, strict=True):
                item.journal_id = jid
        self._active.update(i.target.id for i in todo)
        queue: deque[_Item] = deque(todo)
        run = _Run()
        self._running.add(run)
        if len(self._running) == 1:
            self._attach()
        try:
            workers = [asyncio.ensure_future(self._worker(run, op, queue, params, results))
                       for _ in range(min(self.concurrency, len(queue)) or 0)]
            try:
                await asyncio.gather(*workers)
            except BaseException:
                for w in workers:
                    w.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                raise
        finally:
            self._running.discard(run)
            if not self._running:
                self._detach()
            self._finish_leftovers(run, op, queue, results)
            self._active.difference_update(i.target.id for i in todo)
        ordered = [results[i.index] for i in items]
        self._emit(QueueEvent("finished", self.id, Summary.of(op, ordered).text(), summary=Summary.of(op, ordered)))
        return ordered

    def _server_tags(self, op: str) -> bool:
        return op == "tag" and bool(self.provider.capabilities.server_tags) and self._server_tags_refused is None

    @staticmethod
    def _request(op: str, params: Mapping[str, Any], count: int) -> dict[str, Any]:
        if op == "tag":
            return {"add": sorted(params["add"]), "remove": sorted(params["remove"]), "batch": count}
        if op == "rename":
            return {"fields": params["fields"]}
        return {"batch": count}

    def _finish_leftovers(self, run: _Run, op: str, queue: deque[_Item], results: dict[int, ItemResult]) -> None:
        """Items never started (cancelled, stopped): `cancelled`; items whose earlier try may
        have been carried out: `unknown`."""
        why = run.stopped or "cancelled before it was sent"
        finals: list[tuple[int, str, str]] = []
        for item in queue:
            if item.index in results:
                continue
            outcome = "unknown" if item.uncertain else "cancelled"
            message = "cancelled after a try whose outcome is unclear; check it" if item.uncertain else why
            results[item.index] = ItemResult(op, item.target, outcome, message, journal_id=item.journal_id)
            if item.journal_id is not None:
                finals.append((item.journal_id, outcome, message))
            self._emit(QueueEvent("item", self.id, message, result=results[item.index], target=item.target))
        queue.clear()
        if finals and self.store is not None:
            try:
                self.store.finish_many(finals)
            except StoreError as exc:
                log.warning("journal not updated for %d cancelled items: %s", len(finals), exc.message)

    async def _worker(self, run: _Run, op: str, queue: deque[_Item], params: dict[str, Any],
                      results: dict[int, ItemResult]) -> None:
        while True:
            while self.paused is not None and not run.over:
                await self._resumed.wait()
            if run.over or not queue:
                return
            item = queue.popleft()
            if op != "tag" or self._server_tags(op):
                await self.limiter.acquire()
                if run.over or self.paused is not None:
                    queue.appendleft(item)
                    continue
            try:
                result = await self._one(run, op, item, params, queue)
            except _Requeue:
                queue.appendleft(item)
                continue
            results[item.index] = result
            self._emit(QueueEvent("item", self.id, result.message, result=result, target=item.target))

    async def _one(self, run: _Run, op: str, item: _Item, params: dict[str, Any], queue: deque[_Item]) -> ItemResult:
        server = op != "tag" or self._server_tags(op)
        if item.journal_id is not None and self.store is not None:
            try:
                self.store.mark_pending(item.journal_id)
            except StoreError as exc:
                # Journal before deleting: no intent written, nothing sent. Stop this queue.
                run.stopped = f"not sent: the journal cannot be written ({exc.message})"
                self._emit(QueueEvent("stopped", self.id, f"{self.name}: stopped; {exc.message}",
                                      waiting=len(queue) + 1))
                raise _Requeue from None
        self._emit(QueueEvent("started", self.id, target=item.target))
        ctx = _ItemCtx(self, prepaid=1 if server else 0)
        token = _ITEM.set(ctx)
        try:
            result = await self._attempt(op, item, params, queue, ctx)
        finally:
            _ITEM.reset(token)
        if result.outcome != "failed" or not isinstance(result.error, RateLimited):
            self._rate_limited_run = 0
        if item.journal_id is not None and self.store is not None:
            try:
                self.store.finish(item.journal_id, result.outcome, result.message)
            except StoreError as exc:
                log.warning("journal entry %s not completed: %s", item.journal_id, exc.message)
                result = dataclasses.replace(result, message=f"{result.message} (not journaled: {exc.message})")
        return result

    async def _attempt(self, op: str, item: _Item, params: dict[str, Any], queue: deque[_Item],
                       ctx: _ItemCtx) -> ItemResult:
        t = item.target
        try:
            return await self._call(op, item, params)
        except AuthError as exc:
            # A 401 after a 5xx or a timeout of this item: that earlier try may have been carried out.
            item.uncertain = item.uncertain or (op in ("delete", "purge", "restore") and ctx.unclear)
            self._pause(f"{self.name}: authentication failed (401), queue paused with {len(queue) + 1} item(s) "
                        f"waiting. Fix the credentials (rectui config check), then resume. {_msg(exc)}",
                        waiting=len(queue) + 1,
                        stopped=f"{self.name}: authentication failed (401), not sent. Fix the credentials "
                                f"(rectui config check). {_msg(exc)}")
            raise _Requeue from None
        except RateLimited as exc:
            item.tries += 1
            self._rate_limited_run += 1
            self.limiter.hold(exc.retry_after)
            if item.tries >= self.max_tries:
                return self._result(op, item, "failed", f"rate-limited {item.tries} times; try again later "
                                                         f"({_msg(exc)})", exc)
            if item.journal_id is not None and self.store is not None and not item.uncertain:
                with contextlib.suppress(StoreError):
                    self.store.requeue(item.journal_id, f"rate-limited ({_msg(exc)}); waiting to retry")
            if self._rate_limited_run >= RATE_LIMITED_PAUSE:
                self._pause(f"{self.name} keeps refusing requests (429, rate-limited); queue paused with "
                            f"{len(queue) + 1} item(s) waiting: resume to go on", waiting=len(queue) + 1,
                            stopped=f"{self.name} keeps refusing requests (429, rate-limited); not sent: "
                                    "try again later")
            raise _Requeue from None
        except NotFound as exc:
            if op in ("delete", "purge"):
                if item.uncertain:
                    return self._result(op, item, "deleted-confirmed-by-404", "deleted (confirmed: gone after an "
                                                                              "unclear earlier try)", exc)
                return self._result(op, item, "already-gone", "already deleted (elsewhere, or never there)", exc)
            return self._result(op, item, "failed", _msg(exc), exc)
        except PermissionDenied as exc:
            return self._result(op, item, "denied", _msg(exc), exc)
        except RectuiError as exc:
            outcome = "unknown" if outcome_unknown(exc) else "failed"
            return self._result(op, item, outcome, _msg(exc), exc)
        except OSError as exc:
            where = f" {params['dest_dir']}" if op == "download" else ""
            reason = exc.strerror or type(exc).__name__
            return self._result(op, item, "failed", f"cannot write{where}: {reason}; nothing kept", None)
        except Exception as exc:   # a bug in an adapter must not end the batch
            log.exception("%s %s of %s failed unexpectedly", self.id, op, t.id[:60])
            return self._result(op, item, "failed", f"unexpected {type(exc).__name__}; see the log", None)

    def _result(self, op: str, item: _Item, outcome: str, message: str, error: RectuiError | None,
                **extra: Any) -> ItemResult:
        return ItemResult(op, item.target, outcome, one_line(message, limit=500), error=error,
                          journal_id=item.journal_id, **extra)

    async def _call(self, op: str, item: _Item, params: dict[str, Any]) -> ItemResult:
        p, t = self.provider, item.target
        if op == "delete":
            outcome = await p.delete_recording(t.id)
            if outcome == "deleted-confirmed-by-404":
                return self._result(op, item, "deleted-confirmed-by-404", "deleted (confirmed after an unclear "
                                                                          "answer)", None)
            return self._result(op, item, "deleted", "deleted", None)
        if op == "purge":
            outcome = await p.purge_recording(t.id)
            confirmed = outcome == "deleted-confirmed-by-404"
            return self._result(op, item, "deleted-confirmed-by-404" if confirmed else "deleted",
                                "purged (confirmed after an unclear answer)" if confirmed else "purged", None)
        if op == "restore":
            await p.restore_recording(t.id)
            return self._result(op, item, "done", "restored", None)
        if op == "rename":
            rec = await p.rename(t.id, params["fields"])
            return self._result(op, item, "done", "renamed", None, recording=rec)
        if op == "tag":
            return await self._tag(item, params["add"], params["remove"])
        return await self._download(item, params["dest_dir"], params["max_bytes"])

    # -- tags ---------------------------------------------------------------------------------
    async def _tag(self, item: _Item, add: frozenset[str], remove: frozenset[str]) -> ItemResult:
        t = item.target
        if self._server_tags("tag"):
            try:
                current = await self.provider.get_recording(t.id)
                wanted = (current.tags | add) - remove
                rec = await self.provider.set_tags(t.id, frozenset(wanted))
            except Unsupported as exc:
                self._server_tags_refused = f"{self.name} refused server tags ({_msg(exc)}); kept as local tags"
            else:
                if self.store is not None:
                    try:
                        self.store.record_server_tags(self.id, t.id, rec.tags)
                    except StoreError as exc:
                        log.warning("server tags not recorded: %s", exc.message)
                tags = TagSet(local=self._local_tags(t.id), server=rec.tags, server_seen_at=self.wall())
                return self._result("tag", item, "done", "tags saved on the server", None, recording=rec, tags=tags,
                                    tags_where="server")
        where: Literal["local", "local-fallback"] = "local-fallback" if self._server_tags_refused else "local"
        if self.store is None:
            raise RectuiError("local tags need the local store, which is not available", title="No local store",
                              provider=self.id)
        local = self.store.change_local_tags(self.id, t.id, add, remove)
        message = self._server_tags_refused or "tags saved locally"
        if item.journal_id is None:
            self.store.record("tag", self.id, t.id, t.title, "done", message=message,
                              request={"add": sorted(add), "remove": sorted(remove), "where": where})
        tags = self.store.tags_for(self.id, t.id)
        return self._result("tag", item, "done", message, None, tags=TagSet(local=local, server=tags.server,
                                                                              server_seen_at=tags.server_seen_at),
                            tags_where=where)

    def _local_tags(self, recording_id: str) -> frozenset[str]:
        if self.store is None:
            return frozenset()
        try:
            return self.store.local_tags(self.id, recording_id)
        except StoreError:
            return frozenset()

    # -- download -----------------------------------------------------------------------------
    async def _download(self, item: _Item, dest_dir: Path, max_bytes: int) -> ItemResult:
        t = item.target
        rec = t.recording or await self.provider.get_recording(t.id)
        dest_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (one quick syscall)
        media = await self.provider.fetch_media(rec, dest_dir, max_bytes=max_bytes)
        try:
            if media.format == "unknown":
                raise BadResponse("the download is not audio (unknown format); nothing kept", provider=self.id,
                                  title="Not audio")
            final = _place(media.path, dest_dir, download_name(rec, media.format))
        except BaseException:
            media.path.unlink(missing_ok=True)
            raise
        return self._result("download", item, "done", f"saved as {final.name}", None, path=final)


def _msg(exc: RectuiError) -> str:
    return redact(exc.message)


def download_name(rec: Recording, fmt: str) -> str:
    """A safe, readable file name: provider, start time, the title in plain ASCII (at most
    `NAME_LIMIT` characters), a short hash of the id (`mediafiles.cache_key`), an allow-listed
    extension. Never a server-chosen path."""
    when = rec.start.strftime("%Y%m%d-%H%M%S") if rec.start else "undated"
    title = unicodedata.normalize("NFKD", rec.title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")[:NAME_LIMIT].strip("-")
    prov = re.sub(r"[^A-Za-z0-9_]+", "-", rec.provider).strip("-")[:32] or "recording"
    key = cache_key(rec.provider, "", rec.id, fmt)[:10]
    parts = [prov, when] + ([slug] if slug else []) + [key]
    return "_".join(parts) + EXTENSIONS.get(fmt, ".bin")


def _place(src: Path, dest_dir: Path, name: str) -> Path:
    """Give the downloaded file its name without replacing any existing file (`-2`, `-3`…)."""
    root = dest_dir.resolve()
    stem, ext = os.path.splitext(name)
    for n in range(1, 1000):
        final = dest_dir / (name if n == 1 else f"{stem}-{n}{ext}")
        if not final.resolve().is_relative_to(root):
            raise ValueError("download path escapes the destination folder")
        try:
            os.link(src, final)
        except FileExistsError:
            continue
        except OSError:
            if final.exists():
                continue
            os.rename(src, final)      # a file system without hard links
            return final
        src.unlink()
        return final
    raise FileExistsError(f"too many files named {name}")


# -- every provider ----------------------------------------------------------------------------------

class Operations:
    """Operations over the configured providers: one `ProviderQueue` each, run side by side."""

    def __init__(self, providers: Mapping[str, Any] | Iterable[Any], store: Store | None = None, *,
                 on_event: Callable[[QueueEvent], None] | None = None, read_only: bool = False,
                 rates: Mapping[str, float] | None = None, concurrency: Mapping[str, int] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 wall: Callable[[], float] = time.time) -> None:
        self.providers: dict[str, Any] = dict(providers) if isinstance(providers, Mapping) else \
            {p.id: p for p in providers}
        self.store = store
        self.on_event = on_event
        self.read_only = read_only
        self._rates = dict(rates or {})
        self._concurrency = dict(concurrency or {})
        self._clock, self._sleep, self._wall = clock, sleep, wall
        self.queues: dict[str, ProviderQueue] = {}

    def queue(self, provider_id: str) -> ProviderQueue:
        q = self.queues.get(provider_id)
        if q is None:
            provider = self.providers.get(provider_id)
            if provider is None:
                raise ValueError(f"no provider named {provider_id!r}")
            q = ProviderQueue(provider, self.store, on_event=self.on_event, rate=self._rates.get(provider_id),
                              concurrency=self._concurrency.get(provider_id), read_only=self.read_only,
                              clock=self._clock, sleep=self._sleep, wall=self._wall)
            self.queues[provider_id] = q
        return q

    async def delete(self, targets: Sequence[Target]) -> BatchResult:
        return await self._run("delete", targets)

    async def restore(self, targets: Sequence[Target]) -> BatchResult:
        return await self._run("restore", targets)

    async def purge(self, targets: Sequence[Target]) -> BatchResult:
        return await self._run("purge", targets)

    async def tag(self, targets: Sequence[Target], *, add: Iterable[str] = (),
                  remove: Iterable[str] = ()) -> BatchResult:
        return await self._run("tag", targets, add=tuple(add), remove=tuple(remove))

    async def untag(self, targets: Sequence[Target], tags: Iterable[str]) -> BatchResult:
        return await self._run("tag", targets, remove=tuple(tags))

    async def rename(self, target: Target, fields: Mapping[str, str | None]) -> BatchResult:
        return await self._run("rename", [target], fields=fields)

    async def download(self, targets: Sequence[Target], dest_dir: Path, *,
                       max_bytes: int = DEFAULT_MAX_MEDIA_BYTES) -> BatchResult:
        return await self._run("download", targets, dest_dir=dest_dir, max_bytes=max_bytes)

    async def _run(self, op: Op, targets: Sequence[Target], **params: Any) -> BatchResult:
        groups: dict[str, list[Target]] = {}
        for t in targets:
            groups.setdefault(t.provider, []).append(t)
        queues = {pid: self.queue(pid) for pid in groups}
        for q in queues.values():          # refuse everything before anything is sent anywhere
            q.check(op)
        outs = await asyncio.gather(*(queues[pid].run(op, ts, **params) for pid, ts in groups.items()))
        by_key = {(r.target.provider, r.target.id): r for out in outs for r in out}
        ordered = list(dict.fromkeys((t.provider, t.id) for t in targets))
        return BatchResult(op, [by_key[k] for k in ordered])

    def cancel(self, provider_id: str | None = None) -> None:
        for pid, q in self.queues.items():
            if provider_id is None or pid == provider_id:
                q.cancel()

    def resume(self, provider_id: str, provider: Any | None = None) -> None:
        if provider is not None:
            self.providers[provider_id] = provider
        if provider_id in self.queues:
            self.queues[provider_id].resume(provider)

    async def reconcile(self) -> list[Any]:
        """Settle the journal's open entries left by a process that is gone (`Store.reconcile`)."""
        if self.store is None:
            return []
        return await self.store.reconcile(self.providers)
