"""Emulator benchmark: start time at 2,000 and 100,000 recordings per provider, and page latency
(p50/p99) per provider over loopback, measured as the HTTP round trip each adapter's request
takes (body read included). Prints figures; asserts nothing.

    .venv/bin/python tests/bench/bench_emulator.py [--pages 200] [--page-size 50]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import adapters, served, summary

from rectui.models import ListQuery
from rectui.providers.http import HttpEvent


async def page_latency(emu, pages: int, size: int) -> None:
    events: list[HttpEvent] = []
    provs = adapters(emu, on_event=events.append)
    try:
        for kind, prov in provs.items():
            await prov.list_recordings(ListQuery(page_size=1))        # warm: token, connection
            events.clear()
            cursor = None
            for _ in range(pages):
                page = await prov.list_recordings(ListQuery(page_size=size), cursor)
                cursor = page.next
                if cursor is None:
                    break
            rtts = [e.elapsed for e in events if e.kind == "request" and e.elapsed is not None]
            print(f"  {kind:<11} page of {size}: {summary(rtts)}")
    finally:
        for prov in provs.values():
            await prov.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--page-size", type=int, default=50)
    args = parser.parse_args()
    for count in (2_000, 100_000):
        with served(count) as (emu, _server, started):
            print(f"emulator with {count:,} recordings per provider: ready in {started * 1000:.0f} ms")
            if count == 100_000:
                asyncio.run(page_latency(emu, args.pages, args.page_size))


if __name__ == "__main__":
    main()
