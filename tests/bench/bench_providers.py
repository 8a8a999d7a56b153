"""Adapter benchmark over loopback: recordings listed per second through each adapter (walking
10,000 per provider), "All providers" first-page latency against the slowest single provider's
first page (goal ≤ 1.2×), and the adapter's own overhead per page against the bare HTTP round
trip of the same requests. The emulator runs in its own process, as a real provider runs on
another machine. Prints figures; asserts nothing.

    .venv/bin/python tests/bench/bench_providers.py [--count 10000] [--page-size 100] [--rounds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import adapters_from, emulate_process, pct

from rectui.models import ListQuery
from rectui.providers.http import HttpEvent
from rectui.providers.merged import MergedProvider


async def throughput(settings, size: int) -> None:
    events: list[HttpEvent] = []
    provs = adapters_from(settings, on_event=events.append)
    print(f"listing every recording through each adapter, pages of {size}:")
    try:
        for kind, prov in provs.items():
            await prov.list_recordings(ListQuery(page_size=1))     # log in, open the connection
            events.clear()
            n, pages, cursor = 0, 0, None
            t0 = time.perf_counter()
            while True:
                page = await prov.list_recordings(ListQuery(page_size=size), cursor)
                n += len(page.items)
                pages += 1
                cursor = page.next
                if cursor is None:
                    break
            wall = time.perf_counter() - t0
            http = sum(e.elapsed or 0 for e in events if e.kind == "request")
            per_page_overhead = (wall - http) / pages * 1000
            print(f"  {kind:<11} {n:>6} recordings in {wall:6.2f} s = {n / wall:7.0f}/s over {pages} pages; "
                  f"HTTP {http / wall:4.0%} of it; adapter overhead {per_page_overhead:6.2f} ms/page "
                  f"({len(events)} requests)")
    finally:
        for prov in provs.values():
            await prov.aclose()


async def first_pages(settings, size: int, rounds: int) -> None:
    """Wall time and this process's CPU time (the adapters' own work: the emulator is another
    process) of each provider's first page and of the merged first page."""
    single: dict[str, list[float]] = {}
    single_cpu: dict[str, list[float]] = {}
    merged: list[float] = []
    merged_cpu: list[float] = []
    for _ in range(rounds):
        provs = adapters_from(settings)
        try:
            for prov in provs.values():          # log in first: measure listing, not the token
                await prov.check()
            for kind, prov in provs.items():
                t0, c0 = time.perf_counter(), time.process_time()
                await prov.list_recordings(ListQuery(page_size=size))
                single.setdefault(kind, []).append(time.perf_counter() - t0)
                single_cpu.setdefault(kind, []).append(time.process_time() - c0)
            m = MergedProvider(list(provs.values()), grace=None)    # the whole page, as before
            t0, c0 = time.perf_counter(), time.process_time()
            page = await m.list_recordings(ListQuery(page_size=size))
            merged.append(time.perf_counter() - t0)
            merged_cpu.append(time.process_time() - c0)
            assert page.items
        finally:
            for prov in provs.values():
                await prov.aclose()
    print(f"first page of {size}, median of {rounds} rounds (wall; this process's CPU):")
    medians = {k: statistics.median(v) for k, v in single.items()}
    cpu = {k: statistics.median(v) for k, v in single_cpu.items()}
    for kind, med in medians.items():
        print(f"  {kind:<11} {med * 1000:7.1f} ms; CPU {cpu[kind] * 1000:6.1f} ms")
    slowest = max(medians.values())
    all_cpu = statistics.median(merged_cpu)
    print(f"  {'all':<11} {statistics.median(merged) * 1000:7.1f} ms; CPU {all_cpu * 1000:6.1f} ms"
          f" (p90 {pct(merged, 90) * 1000:.1f} ms) = {statistics.median(merged) / slowest:.2f}× the slowest single "
          f"provider (goal ≤ 1.2×); its CPU = {all_cpu / sum(cpu.values()):.2f}× the five "
          "pages' CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with emulate_process(args.count) as (settings, ready):
        print(f"`rectui emulate --count {args.count}` in its own process, ready in {ready:.2f} s")
        asyncio.run(throughput(settings, args.page_size))
        asyncio.run(first_pages(settings, 50, args.rounds))


if __name__ == "__main__":
    main()
