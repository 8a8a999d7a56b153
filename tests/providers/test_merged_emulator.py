""""All providers" over the real adapters and the emulator: a provider held by a 429 with a long
`Retry-After` does not hold the merged page; its rows join later pages once it answers."""

from __future__ import annotations

import asyncio

from rectui.models import ListQuery
from rectui.providers.merged import MergedProvider


async def test_a_rate_limited_provider_does_not_hold_all_providers(make_setup) -> None:
    webex = make_setup("webex", count=20, faults="webex.list:status=429,retry_after=20,count=1")
    restcomm = make_setup("restcomm", count=20)
    gate = asyncio.Event()
    waits: list[float] = []

    async def held_sleep(seconds: float) -> None:     # Retry-After: 20, held until the test says
        waits.append(seconds)
        await gate.wait()

    webex.provider.http.sleep = held_sleep
    merged = MergedProvider([webex.provider, restcomm.provider], grace=0.01)
    try:
        p1 = await merged.list_recordings(ListQuery(page_size=10))
        assert {r.provider for r in p1.items} == {"restcomm"} and len(p1.items) == 10
        assert p1.late == ("webex",) and waits == [20]
        assert "webex is rate-limited: its rows will join when it answers" in p1.warnings
        gate.set()
        pages, page = [p1], p1
        while page.next is not None:
            page = await merged.list_recordings(ListQuery(page_size=10), page.next)
            pages.append(page)
        rows = [r.key for p in pages for r in p.items]
        assert len(rows) == len(set(rows))
        for setup in (webex, restcomm):             # every row of each, as its own listing gives them
            alone, cursor = [], None
            while True:
                page = await setup.provider.list_recordings(ListQuery(page_size=10), cursor)
                alone += [r.key for r in page.items]
                if (cursor := page.next) is None:
                    break
            assert sorted(k for k in rows if k[0] == setup.kind) == sorted(alone) and alone
        assert pages[1].late == () and any(r.provider == "webex" for r in pages[1].items)
    finally:
        await merged.aclose()
