"""Store and operations benchmark. Prints figures; asserts nothing.

1. Bulk delete: N single deletes (default 1,000) through the Kazoo queue against `rectui emulate`
   in its own process, the emulator limited to R requests/s (default 10, Kazoo's token bucket:
   429 without Retry-After) with 5xx injected on deletes; the queue configured with
   `rate_limit = R`. Total time against the floor (every request the queue sent, verifications
   and the login included, divided by R; goal ≤ 1.1×), and lost (a confirmed id without a final
   journal outcome) or repeated (an id whose DELETE succeeded twice) items: goal zero.
2. Open the store and load a cached 100k-row listing (goal ≤ 300 ms), then read its first page,
   and decode every row.
3. Export those 100k rows from the cache to CSV and JSON: time, and peak memory (tracemalloc, in a
   second run: it slows Python down).

    .venv/bin/python tests/bench/bench_store.py [--deletes 1000] [--rate 10] [--skip-deletes]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import httpx
from _common import emulate_process

from rectui.headless import ExportWriter, export_rows
from rectui.models import ListQuery, Recording
from rectui.operations import Operations, Target
from rectui.providers import build_provider
from rectui.store import Store, listing_key

FAULTS = "kazoo.*:rate_limit={rate};kazoo.delete:status=500,every=25;kazoo.delete:delete_apply_then_fail,every=40"


async def bulk_delete(settings: dict[str, Any], n: int, rate: float, db: Path) -> None:
    conf = settings["kazoo"].model_copy(update={"rate_limit": rate})
    api = str(httpx.URL(conf.base_url).copy_with(path="/"))
    async with httpx.AsyncClient(base_url=api) as control:
        await control.post("/_emulator/faults", content=FAULTS.format(rate=rate))
    lister = build_provider("kazoo", conf)
    ids: list[str] = []
    cursor = None
    while len(ids) < n:                                     # before the faults bite: list first, unthrottled
        page = await lister.list_recordings(ListQuery(page_size=100), cursor)
        ids += [r.id for r in page.items]
        cursor = page.next
        if cursor is None:
            break
    await lister.aclose()
    ids = ids[:n]
    async with httpx.AsyncClient(base_url=api) as control:
        await control.delete("/_emulator/requests")         # count from here
        await control.post("/_emulator/faults", content=FAULTS.format(rate=rate))   # a full bucket

    provider = build_provider("kazoo", conf)
    ok_deletes: Counter[str] = Counter()
    statuses: Counter[int] = Counter()

    async def seen(response: httpx.Response) -> None:
        statuses[response.status_code] += 1
        if response.request.method == "DELETE" and response.status_code < 300:
            ok_deletes[response.request.url.path.rsplit("/", 1)[-1]] += 1

    provider.http.client.event_hooks["response"].append(seen)
    store = Store(db)
    ops = Operations([provider], store)
    t0 = time.perf_counter()
    batch = await ops.delete([Target("kazoo", i, f"bench {k}") for k, i in enumerate(ids)])
    wall = time.perf_counter() - t0
    await provider.aclose()
    queue = ops.queues["kazoo"]
    async with httpx.AsyncClient(base_url=api) as control:
        served = (await control.get("/_emulator/requests")).json()["counts"]
    journal = {e.recording_id: e.outcome for e in store.journal(limit=None)}
    lost = [i for i in ids if journal.get(i) in (None, "queued", "pending")]
    repeated = [i for i, c in ok_deletes.items() if c > 1]
    floor = queue.requests / rate
    print(f"bulk delete of {n} through the Kazoo queue, emulator and queue at {rate:g} requests/s, 5xx injected:")
    print(f"  {wall:7.1f} s for {queue.requests} requests sent by the queue (emulator served "
          f"{sum(served.values())}: {dict(sorted(served.items()))})")
    print(f"  floor {floor:.1f} s ({queue.requests} / {rate:g}); {wall / floor:.3f}× the floor (goal ≤ 1.1×); "
          f"{n / rate:.0f} s would be the floor without the 5xx verifications")
    print(f"  outcomes: {batch.summary.text()}; statuses {dict(sorted(statuses.items()))}")
    print(f"  lost {len(lost)}, repeated {len(repeated)} (goal 0 and 0)")
    store.close()


def sample_rows(settings: dict[str, Any]) -> list[Recording]:
    async def fetch() -> list[Recording]:
        provider = build_provider("kazoo", settings["kazoo"])
        try:
            return list((await provider.list_recordings(ListQuery(page_size=100))).items)
        finally:
            await provider.aclose()
    return asyncio.run(fetch())


def cache_figures(sample: list[Recording], db: Path, rows: int = 100_000, page: int = 100) -> None:
    pages = [[sample[(p + k) % len(sample)].model_copy(update={"id": f"{p + k:06d}-{sample[0].id}"})
              for k in range(page)] for p in range(0, rows, page)]
    store = Store(db, max_rows_per_listing=rows)
    t0 = time.perf_counter()
    store.cache_listing("kazoo", listing_key(), pages)
    written = time.perf_counter() - t0
    store.close()
    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    print(f"listing cache: {rows} real Kazoo rows ({len(sample[0].model_dump_json(exclude={'raw'}))} bytes of JSON "
          f"each), written in {written:.2f} s; store {size / 1e6:.1f} MB on disk")
    t0 = time.perf_counter()
    store = Store(db)
    listing = store.load_listing("kazoo")
    loaded = time.perf_counter() - t0
    assert listing is not None and len(listing.rows) == rows
    first = listing.rows[:50]
    shown = time.perf_counter() - t0
    t1 = time.perf_counter()
    n = sum(1 for _ in listing.rows)
    decode = time.perf_counter() - t1
    print(f"  open the store + load the cached listing: {loaded * 1000:.0f} ms (goal ≤ 300 ms); with its first "
          f"{len(first)} rows decoded: {shown * 1000:.0f} ms; decoding all {n} rows: {decode:.2f} s")
    store.close()


def export_figures(db: Path, folder: Path) -> None:
    for fmt in ("csv", "json"):
        out = folder / f"export.{fmt}"
        store = Store(db)
        t0 = time.perf_counter()
        with out.open("w", encoding="utf-8", newline="") as fh:
            writer = ExportWriter(fh, fmt)
            n = asyncio.run(export_rows(store.iter_cached("kazoo"), writer, store, "kazoo"))
            writer.close()
        took = time.perf_counter() - t0
        tracemalloc.start()
        writer = ExportWriter(_Discard(), fmt)
        asyncio.run(export_rows(store.iter_cached("kazoo"), writer, store, "kazoo"))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        store.close()
        print(f"export {n} rows from the cache as {fmt}: {took:.2f} s ({n / took:,.0f} rows/s), "
              f"{out.stat().st_size / 1e6:.1f} MB written; peak traced memory {peak / 1e6:.1f} MB")


class _Discard(io.TextIOBase):
    def write(self, s: str) -> int:
        return len(s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deletes", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--skip-deletes", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, emulate_process(max(2000, args.deletes + 200)) as (settings, ready):
        folder = Path(tmp)
        print(f"`rectui emulate` in its own process, ready in {ready:.2f} s")
        sample = sample_rows(settings)                       # before the bulk delete takes the newest
        if not args.skip_deletes:
            asyncio.run(bulk_delete(settings, args.deletes, args.rate, folder / "ops.db"))
        cache_figures(sample, folder / "cache.db")
        export_figures(folder / "cache.db", folder)


if __name__ == "__main__":
    main()
