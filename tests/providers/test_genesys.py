"""The Genesys adapter against the emulator: one test per quirk of the reference page
(`genesys.md`, "Quirks a client must survive" and the sections above it), the fault plan's
cases, and one end-to-end run over real loopback sockets."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr
from support import ANCHOR

from rectui.config import GenesysSettings
from rectui.emulator.app import Emulator, EmulatorConfig
from rectui.emulator.genesys import GenesysEmulator
from rectui.emulator.server import EmulatorServer
from rectui.errors import (
    AuthError,
    BadResponse,
    InvalidId,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unavailable,
    Unsupported,
)
from rectui.mediafiles import sniff_file
from rectui.models import ListQuery, Recording, SortSpec
from rectui.providers.genesys import GenesysProvider, _BearerAuth
from rectui.providers.http import RetryPolicy

from .conftest import Setup

ROOT = "/api/v2/userrecordings"
Rewriter = Callable[[httpx.Request, httpx.Response], Awaitable[httpx.Response | None]]


# -- helpers ----------------------------------------------------------------------------------------------

def gen(s: Setup) -> GenesysEmulator:
    g = s.prov_emu
    assert isinstance(g, GenesysEmulator)
    g.transcode_block_seconds = 0.0
    return g


def requests(s: Setup, route: str) -> list[Any]:
    return s.emu.log.for_route("genesys", route)


def query_of(rec: Any) -> dict[str, list[str]]:
    return parse_qs(rec.query)


async def walk(provider: GenesysProvider, query: ListQuery | None = None, limit: int = 200) -> list[Recording]:
    items: list[Recording] = []
    cursor = None
    for _ in range(limit):
        page = await provider.list_recordings(query or ListQuery(page_size=10), cursor)
        items.extend(page.items)
        if page.next is None:
            return items
        cursor = page.next
    raise AssertionError("paging did not end")


class Rewrite(httpx.AsyncBaseTransport):
    """Wraps the emulator's transport and lets a test change answers (a proxy, an older server)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, fn: Rewriter) -> None:
        self.inner, self.fn = inner, fn
        self.seen: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        response = await self.inner.handle_async_request(request)
        await response.aread()
        return await self.fn(request, response) or response

    async def aclose(self) -> None:
        await self.inner.aclose()


def rebuilt(response: httpx.Response, *, content: bytes | None = None,
            drop: tuple[str, ...] = ()) -> httpx.Response:
    headers = [(k, v) for k, v in response.headers.items() if k.lower() not in ("content-length", *drop)]
    return httpx.Response(response.status_code, headers=headers,
                          content=response.content if content is None else content)


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    """An empty directory for downloads (tmp_path also holds the test's XDG dirs)."""
    d = tmp_path / "media"
    d.mkdir()
    return d


def files(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


@pytest.fixture
async def adapter_for() -> AsyncIterator[Callable[..., GenesysProvider]]:
    """`adapter_for(s, transport=…, policy=…)`: another adapter on the same emulator and clocks."""
    made: list[GenesysProvider] = []

    def make(s: Setup, *, transport: httpx.AsyncBaseTransport | None = None, **kwargs: Any) -> GenesysProvider:
        kwargs.setdefault("clock", s.mono)
        kwargs.setdefault("sleep", s.mono.sleep)
        prov = GenesysProvider("genesys", s.provider.settings, transport=transport or s.emu.transport(),
                               wall=s.wall, rng=random.Random(0), **kwargs)
        made.append(prov)
        return prov

    yield make
    for prov in made:
        await prov.aclose()


# -- quirks ---------------------------------------------------------------------------------------------------

async def test_quirk_page_numbers_are_1_based_with_an_exact_total(make_setup) -> None:
    s = make_setup("genesys", count=60)
    first = await s.provider.list_recordings(ListQuery(page_size=25))
    assert (first.page_number, first.page_count, first.total) == (1, 3, 60)
    assert first.prev is None and first.next is not None
    assert query_of(requests(s, "list")[-1]) == {"pageSize": ["25"], "pageNumber": ["1"]}
    second = await s.provider.list_recordings(ListQuery(page_size=25), first.next)
    assert query_of(requests(s, "list")[-1])["pageNumber"] == ["2"]
    last = await s.provider.list_recordings(ListQuery(page_size=25), second.next)
    assert last.page_number == 3 and len(last.items) == 10 and last.next is None
    ids = [r.id for p in (first, second, last) for r in p.items]
    assert ids == gen(s).listed_ids()


async def test_quirk_page_size_is_capped_at_100(make_setup) -> None:
    s = make_setup("genesys", count=150)
    page = await s.provider.list_recordings(ListQuery(page_size=500))
    assert len(page.items) == 100 and page.page_count == 2
    assert query_of(requests(s, "list")[-1])["pageSize"] == ["100"]


@pytest.mark.parametrize("fault", ["cursor_repeat", "cursor_cycle"])
async def test_quirk_page_links_are_not_trusted_to_end_the_walk(make_setup, fault: str) -> None:
    # nextUri naming the same page again, or the last page pointing back to page 1: the adapter
    # numbers pages itself, so neither repeats rows nor loops.
    s = make_setup("genesys", count=45, faults=f"genesys.list:{fault}")
    items = await walk(s.provider)
    assert [r.id for r in items] == gen(s).listed_ids()
    assert len(requests(s, "list")) == 5


async def test_quirk_deletes_shift_pages_rows_seen_on_the_page_before_are_not_repeated(make_setup) -> None:
    # Offset paging: after a delete on page 1, the first row of page 2 slides onto page 1.
    s = make_setup("genesys", count=30)
    first = await s.provider.list_recordings(ListQuery(page_size=10))
    second = await s.provider.list_recordings(ListQuery(page_size=10), first.next)
    await s.provider.delete_recording(first.items[3].id)
    back = await s.provider.list_recordings(ListQuery(page_size=10), second.prev)
    slid = second.items[0].id
    assert slid in gen(s).listed_ids()[:10]                  # the server lists it on page 1 now …
    assert slid not in [r.id for r in back.items]            # … it was on the page we came from
    assert len(back.items) == 9 and any("page just viewed" in w for w in back.warnings)


async def test_quirk_missing_fields_are_absent_not_null(make_setup) -> None:
    s = make_setup("genesys", count=200)
    g = gen(s)
    nameless = next(i for i in range(200) if not g.data.fact(i).title())
    page_size = 10
    cursor, items = None, []
    pages = []
    while True:
        page = await s.provider.list_recordings(ListQuery(page_size=page_size), cursor)
        pages.append(page)
        items.extend(page.items)
        if page.next is None:
            break
        cursor = page.next
    assert pages[0].prev is None and pages[-1].next is None     # no previousUri / no nextUri
    rec = next(r for r in items if r.id == g.recording_id(g.data.fact(nameless)))
    assert "name" not in rec.raw and rec.title == ""
    assert "contentUri" not in rec.raw and rec.call_id is None   # no conversation without expand


async def test_quirk_no_server_sort_or_filter_is_unsupported_and_sends_nothing(make_setup) -> None:
    s = make_setup("genesys")
    asks = [ListQuery(sort=SortSpec(key=k)) for k in ("start", "duration", "title", "owner", "size")]
    asks += [ListQuery(since=ANCHOR - timedelta(days=3)), ListQuery(until=ANCHOR), ListQuery(owner="x"),
             ListQuery(caller="+1"), ListQuery(call_id="c"), ListQuery(topic="t")]
    for query in asks:
        with pytest.raises(Unsupported):
            await s.provider.list_recordings(query)
    with pytest.raises(Unsupported, match="recycle bin"):
        await s.provider.list_recordings(ListQuery(status="deleted"))
    assert not s.emu.log.records
    caps = s.provider.capabilities
    assert not caps.server_sort and not caps.server_filters and caps.page_style == "number" and caps.exact_total
    # "available" is what everything listed is: accepted, not a filter
    assert (await s.provider.list_recordings(ListQuery(status="available", page_size=5))).items


async def test_quirk_order_is_unconfirmed_rows_sorted_within_the_page(make_setup, adapter_for) -> None:
    s = make_setup("genesys", count=30)

    async def shuffle(request: httpx.Request, response: httpx.Response) -> httpx.Response | None:
        if request.url.path != ROOT:
            return None
        body = json.loads(response.content)
        random.Random(7).shuffle(body["entities"])
        return rebuilt(response, content=json.dumps(body).encode())

    prov = adapter_for(s, transport=Rewrite(s.emu.transport(), shuffle))
    page = await prov.list_recordings(ListQuery(page_size=10))
    starts = [r.start for r in page.items]
    assert starts == sorted(starts, reverse=True)
    assert page.order_approximate and not page.sorted_on_server and GenesysProvider.ORDER_APPROXIMATE
    assert {r.id for r in page.items} == set(gen(s).listed_ids()[:10])


async def test_quirk_expand_conversation_only_for_the_detail(make_setup) -> None:
    s = make_setup("genesys", count=20)
    g = gen(s)
    page = await s.provider.list_recordings(ListQuery(page_size=20))
    assert all("expand" not in query_of(r) for r in requests(s, "list"))
    assert all(r.caller is None and "conversation" not in r.raw for r in page.items)
    fact = g.data.fact(0)
    rec = await s.provider.get_recording(g.recording_id(fact))
    assert query_of(requests(s, "get")[-1])["expand"] == ["conversation"]
    assert rec.caller == fact.caller.number and rec.callee == fact.callee.number
    assert rec.direction == fact.direction and rec.call_id and rec.details["Conversation id"] == rec.call_id
    assert rec.title == fact.title() and rec.duration == pytest.approx(fact.duration, abs=0.001)
    assert rec.start is not None and abs((rec.start - fact.start).total_seconds()) < 0.001
    assert rec.size == round(fact.duration * 1000) * 16 and rec.owner and rec.tags == frozenset()
    for label in ("Id", "Name", "Created", "Modified", "Workspace", "Created by", "Size", "Duration", "Read",
                  "Self URI", "Participants"):
        assert label in rec.details, label


@pytest.mark.parametrize("mode", ["mix", "no_id", "null", "bad", "unknown"])
async def test_quirk_the_model_drifts_fields_missing_null_wrong_or_unknown(make_setup, mode: str) -> None:
    s = make_setup("genesys", count=20, faults=f"genesys.list:schema_drift={mode},count=1")
    page = await s.provider.list_recordings(ListQuery(page_size=8))
    expect_dropped = {"mix": 2, "no_id": 8}.get(mode, 0)
    assert len(page.items) == 8 - expect_dropped
    if expect_dropped:
        assert any("without a usable id" in w for w in page.warnings)
    if mode in ("bad", "mix"):
        assert any("Unreadable fields" in r.details for r in page.items)
        assert any("unreadable" in w for w in page.warnings)
    if mode == "null":                                        # null where Genesys leaves fields out
        rec = page.items[0]
        assert rec.start is None and rec.title == "" and rec.duration is None and rec.owner is None
        assert rec.details["Created"] == "—" and rec.details["Read"] == "—"
    if mode == "bad":
        rec = page.items[0]
        assert rec.start is None and rec.size is None and rec.details["Created"] == "—"
        assert rec.details["Read"] == "—"                     # "no" is not a boolean
    if mode == "unknown":
        rec = page.items[0]
        assert "futureField" in rec.raw and "futureField" in rec.details and "Content URI" in rec.details
        assert not page.warnings
    # the next page is whole again
    nxt = await s.provider.list_recordings(ListQuery(page_size=8), page.next)
    assert len(nxt.items) == 8 and not nxt.warnings


async def test_quirk_media_is_two_steps_202_polled_then_a_temporary_link(make_setup, dest: Path) -> None:
    s = make_setup("genesys", count=20)
    g = gen(s)
    g.transcode_polls = 3
    items = (await s.provider.list_recordings(ListQuery(page_size=20))).items
    rec = min(items, key=lambda r: r.duration or 0)
    media = await s.provider.fetch_media(rec, dest)
    polls = requests(s, "media")
    assert [p.status for p in polls] == [202, 202, 202, 200]
    assert all(query_of(p) == {"formatId": ["MP3"], "async": ["true"]} for p in polls)
    assert s.mono.slept == [1.0, 1.5, 2.0]                   # every 1–2 s
    (download,) = requests(s, "download")
    assert download.origin == "media" and "X-Amz-Signature" in download.query
    assert media.format == "mp3" == sniff_file(media.path) and media.size == media.path.stat().st_size
    assert media.path.parent == dest and rec.id not in media.path.name
    assert files(dest) == [media.path.name]    # no temp file left behind


async def test_quirk_202_forever_is_still_transcoding_at_the_cap(make_setup, dest: Path) -> None:
    s = make_setup("genesys", count=5, faults="genesys.media:transcode_forever")
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[0]
    with pytest.raises(Unavailable, match="still transcoding") as info:
        await s.provider.fetch_media(rec, dest)
    assert info.value.title == "Still transcoding"
    assert sum(s.mono.slept) <= 60 and max(s.mono.slept) <= 2.0
    assert 25 <= len(requests(s, "media")) <= 40 and not requests(s, "download")
    assert not files(dest)


async def test_quirk_expired_link_is_asked_for_again_once(make_setup, dest: Path) -> None:
    s = make_setup("genesys", count=5, faults="genesys.download:link_expired,count=1")
    gen(s).transcode_polls = 0
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[0]
    media = await s.provider.fetch_media(rec, dest)
    assert media.format == "mp3"
    assert [r.status for r in requests(s, "download")] == [403, 200] and len(requests(s, "media")) == 2


async def test_quirk_a_link_that_keeps_expiring_is_an_error(make_setup, dest: Path) -> None:
    s = make_setup("genesys", count=5, faults="genesys.media:link_expired")
    gen(s).transcode_polls = 0
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[0]
    with pytest.raises(Unavailable) as info:
        await s.provider.fetch_media(rec, dest)
    assert info.value.title == "Download link expired"
    assert len(requests(s, "download")) == 2 and not files(dest)


async def test_quirk_an_older_api_without_mp3_gets_wav(make_setup, dest: Path) -> None:
    s = make_setup("genesys", count=5, faults="genesys.media:status=400,count=1")
    gen(s).transcode_polls = 0
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[0]
    media = await s.provider.fetch_media(rec, dest)
    assert [query_of(r)["formatId"] for r in requests(s, "media")] == [["MP3"], ["WAV"]]
    assert media.format == "wav" == sniff_file(media.path)


async def test_quirk_delete_is_async_202_and_may_stay_listed(make_setup) -> None:
    s = make_setup("genesys", count=30, faults="genesys.delete:delete_async_ghost=30")
    page = await s.provider.list_recordings(ListQuery(page_size=10))
    victim = page.items[3]
    await s.provider.delete_recording(victim.id)
    assert requests(s, "delete")[-1].status == 202
    assert s.provider.delete_outcomes[victim.id] == "deleted"
    assert victim.id in gen(s).listed_ids()                  # Genesys still lists it …
    again = await s.provider.list_recordings(ListQuery(page_size=10))
    assert victim.id not in [r.id for r in again.items]      # … we do not
    assert any("deleted moments ago" in w for w in again.warnings)
    with pytest.raises(NotFound):
        await s.provider.get_recording(victim.id)
    caps = s.provider.capabilities
    assert caps.can_delete and not caps.can_restore and not caps.can_purge
    with pytest.raises(Unsupported):
        await s.provider.restore_recording(victim.id)


async def test_quirk_delete_of_a_recording_already_gone_says_so(make_setup) -> None:
    s = make_setup("genesys", count=10)
    rid = gen(s).listed_ids()[2]
    await s.provider.delete_recording(rid)
    with pytest.raises(NotFound) as info:
        await s.provider.delete_recording(rid)
    assert info.value.title == "Already deleted" and len(requests(s, "delete")) == 2


async def test_quirk_rename_is_a_get_then_a_whole_object_put(make_setup) -> None:
    s = make_setup("genesys", count=10)
    g = gen(s)
    rid = g.listed_ids()[1]
    read_before = g.is_read(1)
    updated = await s.provider.rename(rid, {"name": "Greeting v2 [draft]"})
    assert updated.title == "Greeting v2 [draft]" and updated.id == rid
    assert [(r.route, r.method) for r in s.emu.log.records if r.route in ("get", "update")] == \
        [("get", "GET"), ("update", "PUT")]
    assert g.names[1] == "Greeting v2 [draft]" and g.is_read(1) == read_before
    assert (await s.provider.get_recording(rid)).title == "Greeting v2 [draft]"
    with pytest.raises(Unsupported):
        await s.provider.rename(rid, {"description": "x"})
    with pytest.raises(Unsupported):                         # no tag concept at all
        await s.provider.set_tags(rid, frozenset({"vip"}))


async def test_quirk_rename_put_carries_every_field_back(make_setup, adapter_for) -> None:
    s = make_setup("genesys", count=5)
    bodies: list[dict[str, Any]] = []

    async def spy(request: httpx.Request, response: httpx.Response) -> None:
        if request.method == "PUT":
            bodies.append(json.loads(request.content))

    prov = adapter_for(s, transport=Rewrite(s.emu.transport(), spy))
    rid = gen(s).listed_ids()[0]
    await prov.rename(rid, {"name": "New"})
    (body,) = bodies
    assert body["name"] == "New" and body["id"] == rid
    assert {"workspace", "createdBy", "dateCreated", "read", "contentLength", "selfUri"} <= set(body)


async def test_rename_after_an_ambiguous_failure_looks_before_putting_again(make_setup) -> None:
    s = make_setup("genesys", count=5, faults="genesys.update:status=502,count=1")
    rid = gen(s).listed_ids()[0]
    updated = await s.provider.rename(rid, {"name": "Second try"})
    assert updated.title == "Second try"
    assert [(r.route, r.status) for r in s.emu.log.records if r.route in ("get", "update")] == \
        [("get", 200), ("update", 502), ("get", 200), ("update", 200)]


async def test_quirk_login_and_api_are_separate_origins(make_setup) -> None:
    s = make_setup("genesys", count=5)
    await s.provider.list_recordings(ListQuery(page_size=5))
    (token,) = requests(s, "token")
    assert token.origin == "login" and token.method == "POST"
    assert token.headers["authorization"].startswith("Basic ")
    assert token.headers["content-type"].startswith("application/x-www-form-urlencoded")
    (listing,) = requests(s, "list")
    bearer = listing.headers["authorization"]
    assert bearer.startswith("Bearer ") and bearer.removeprefix("Bearer ") in gen(s).tokens
    secret = gen(s).client_secret
    assert all(secret not in json.dumps(r.headers) for r in s.emu.log.records if r.origin != "login")


def test_bearer_only_for_the_api_origin_and_never_over_an_explicit_header() -> None:
    auth = _BearerAuth(("https://api.mypurecloud.ie:443",), SecretStr("tok-123456"))

    def sent(url: str, headers: dict[str, str] | None = None) -> str | None:
        request = httpx.Request("GET", url, headers=headers)
        return next(auth.auth_flow(request)).headers.get("authorization")

    assert sent("https://api.mypurecloud.ie/api/v2/userrecordings") == "Bearer tok-123456"
    assert sent("https://login.mypurecloud.ie/oauth/token") is None
    assert sent("http://api.mypurecloud.ie/api/v2/userrecordings") is None      # another origin: http
    assert sent("https://api.mypurecloud.ie/oauth/token", {"Authorization": "Basic abc"}) == "Basic abc"


async def test_quirk_client_credentials_token_is_renewed_before_it_expires(make_setup) -> None:
    s = make_setup("genesys", count=5)
    gen(s).token_expires_in = 600
    await s.provider.list_recordings(ListQuery(page_size=5))
    s.mono.now += 580          # past 600 - 60 s of margin, before the server's expiry
    s.wall.advance(580)
    await s.provider.list_recordings(ListQuery(page_size=5))
    assert len(requests(s, "token")) == 2
    assert [r.status for r in requests(s, "list")] == [200, 200]     # never met a 401


async def test_quirk_a_user_access_token_is_not_refreshed(make_setup) -> None:
    s = make_setup("genesys", count=5, faults="genesys.list:expire_token_after=1")
    token = gen(s).issue_token()
    user = GenesysSettings(kind="genesys", base_url=s.emu.api_url, access_token=token)
    prov = GenesysProvider("genesys", user, transport=s.emu.transport(), clock=s.mono, wall=s.wall,
                           sleep=s.mono.sleep)
    try:
        await prov.list_recordings(ListQuery(page_size=5))
        with pytest.raises(AuthError, match="access_token") as info:
            await prov.list_recordings(ListQuery(page_size=5))
        assert token not in info.value.message and info.value.status == 401
        assert not requests(s, "token")
    finally:
        await prov.aclose()


async def test_check_is_one_summary_call_and_notes_an_empty_list(make_setup) -> None:
    s = make_setup("genesys", count=10)
    await s.provider.check()
    assert s.provider.check_note is None
    assert [r.route for r in s.emu.log.records] == ["token", "summary"]
    empty = make_setup("genesys", count=0)
    await empty.provider.check()
    assert empty.provider.check_note and "client-credentials" in empty.provider.check_note


# -- faults --------------------------------------------------------------------------------------------------------

async def test_429_retry_after_is_honoured_and_a_long_one_is_not_slept(make_setup, adapter_for) -> None:
    # The emulator's own limiter: 2 requests per 10 s window, then 429 with Retry-After to the
    # window's end. The adapter's fake sleep moves the emulator's clock too.
    s = make_setup("genesys", count=5, faults="genesys.list:rate_limit=2,window=10")

    async def sleep(seconds: float) -> None:
        await s.mono.sleep(seconds)
        s.wall.advance(seconds)

    prov = adapter_for(s, sleep=sleep)
    for _ in range(3):
        assert (await prov.list_recordings(ListQuery(page_size=5))).items
    assert [r.status for r in requests(s, "list")] == [200, 200, 429, 200]
    assert s.mono.slept == [10.0]
    long = make_setup("genesys", faults="genesys.list:status=429,retry_after=120")
    with pytest.raises(RateLimited) as info:
        await long.provider.list_recordings(ListQuery(page_size=5))
    assert info.value.retry_after == 120.0 and long.mono.slept == []
    assert len(requests(long, "list")) == 1


async def test_429_without_retry_after_backs_off_from_3_s(make_setup, adapter_for) -> None:
    s = make_setup("genesys", faults="genesys.list:status=429,count=2")

    async def strip(request: httpx.Request, response: httpx.Response) -> httpx.Response | None:
        return rebuilt(response, drop=("retry-after",)) if response.status_code == 429 else None

    prov = adapter_for(s, transport=Rewrite(s.emu.transport(), strip))
    page = await prov.list_recordings(ListQuery(page_size=5))
    assert page.items and len(s.mono.slept) == 2
    assert 0 < s.mono.slept[0] <= 3.0 and 0 < s.mono.slept[1] <= 6.0     # full jitter from 3 s, doubling


async def test_5xx_is_retried_then_surfaced_with_the_context_id(make_setup) -> None:
    s = make_setup("genesys", faults="genesys.list:status=503")
    with pytest.raises(Unavailable) as info:
        await s.provider.list_recordings(ListQuery(page_size=5))
    assert info.value.status == 503 and info.value.correlation_id
    assert len(requests(s, "list")) == 4 and len(s.mono.slept) == 3
    s501 = make_setup("genesys", faults="genesys.list:status=501")
    with pytest.raises(Unavailable):
        await s501.provider.list_recordings(ListQuery(page_size=5))
    assert len(requests(s501, "list")) == 1                             # 501 is not retried


@pytest.mark.parametrize("fault", ["malformed_json", "malformed_json=garbage", "malformed_json=nan",
                                   "content_type=html", "content_type=text/plain"])
async def test_unreadable_listing_is_a_bad_response_never_an_empty_page(make_setup, fault: str) -> None:
    s = make_setup("genesys", faults=f"genesys.list:{fault}")
    with pytest.raises(BadResponse):
        await s.provider.list_recordings(ListQuery(page_size=5))


async def test_a_listing_without_entities_is_a_bad_response(make_setup, adapter_for) -> None:
    s = make_setup("genesys", count=10)

    async def hollow(request: httpx.Request, response: httpx.Response) -> httpx.Response | None:
        if request.url.path != ROOT:
            return None
        body = json.loads(response.content)
        del body["entities"]
        return rebuilt(response, content=json.dumps(body).encode())

    prov = adapter_for(s, transport=Rewrite(s.emu.transport(), hollow))
    with pytest.raises(BadResponse, match="no entities"):
        await prov.list_recordings(ListQuery(page_size=5))


async def test_empty_page_mid_list_is_said_and_paging_goes_on(make_setup) -> None:
    s = make_setup("genesys", count=30, faults="genesys.list:empty_page,after=1,count=1")
    first = await s.provider.list_recordings(ListQuery(page_size=10))
    second = await s.provider.list_recordings(ListQuery(page_size=10), first.next)
    assert not second.items and "empty page 2 of 3" in second.warnings and second.next is not None
    third = await s.provider.list_recordings(ListQuery(page_size=10), second.next)
    assert third.page_number == 3 and len(third.items) == 10 and third.next is None


async def test_empty_page_warning_names_the_page(make_setup) -> None:
    s = make_setup("genesys", count=30, faults="genesys.list:empty_page,count=1")
    page = await s.provider.list_recordings(ListQuery(page_size=10))
    assert not page.items and page.next is not None and "empty page 1 of 3" in page.warnings


async def test_token_expiry_is_refreshed_once_and_replayed(make_setup) -> None:
    s = make_setup("genesys", count=20, faults="genesys.*:expire_token_after=2")
    for _ in range(5):
        assert (await s.provider.list_recordings(ListQuery(page_size=5))).items
    assert [r.status for r in requests(s, "list")] == [200, 200, 401, 200, 200, 401, 200]
    assert len(requests(s, "token")) == 3


async def test_a_refreshed_token_refused_again_is_an_auth_error(make_setup) -> None:
    s = make_setup("genesys", count=5, faults="genesys.list:expire_token_after=0")
    with pytest.raises(AuthError, match="freshly issued"):
        await s.provider.list_recordings(ListQuery(page_size=5))
    assert len(requests(s, "token")) == 2 and len(requests(s, "list")) == 2


async def test_login_refusal_is_an_auth_error_without_the_secret(make_setup) -> None:
    s = make_setup("genesys", settings={"client_secret": "canary-secret-5f1d"})
    with pytest.raises(AuthError, match="client credentials") as info:
        await s.provider.list_recordings(ListQuery(page_size=5))
    assert "canary-secret-5f1d" not in info.value.message and "invalid_client" in info.value.message
    assert not requests(s, "list")


async def test_login_service_5xx_is_retried(make_setup) -> None:
    s = make_setup("genesys", count=5, faults="genesys.token:status=503,count=1")
    assert (await s.provider.list_recordings(ListQuery(page_size=5))).items
    assert [r.status for r in requests(s, "token")] == [503, 200]


async def test_trickling_body_is_cut_by_the_deadline(make_setup, media_cache: Path) -> None:
    # A real (short) wait: the deadline is wall time, as httpx's read timeout is per chunk.
    emu = Emulator(EmulatorConfig(providers=("genesys",), count=30, anchor=ANCHOR, media_cache_dir=media_cache,
                                  faults="genesys.list:drip=0.02"))
    conf = GenesysSettings.model_validate(emu["genesys"].config_entry())
    prov = GenesysProvider("genesys", conf, transport=emu.transport(), policy=RetryPolicy(deadline=0.3))
    try:
        with pytest.raises(Unavailable, match="timed out"):
            await prov.list_recordings(ListQuery(page_size=10))
        assert len(emu.log.for_route("genesys", "list")) == 1
    finally:
        await prov.aclose()


async def test_credentials_never_reach_the_media_origin(make_setup, dest: Path) -> None:
    s = make_setup("genesys", count=5)
    gen(s).transcode_polls = 0
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[0]
    await s.provider.fetch_media(rec, dest)
    media_reqs = [r for r in s.emu.log.records if r.origin == "media"]
    assert media_reqs and all("authorization" not in r.headers for r in media_reqs)
    tokens = list(gen(s).tokens)
    assert all(t not in json.dumps(r.headers) for r in media_reqs for t in tokens)


async def test_api_redirect_to_another_origin_is_not_followed(make_setup) -> None:
    s = make_setup("genesys", count=5, faults="genesys.list:redirect")
    with pytest.raises(BadResponse):
        await s.provider.list_recordings(ListQuery(page_size=5))
    assert not [r for r in s.emu.log.records if r.origin == "media"]


@pytest.mark.parametrize("link", ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:9/x.mp3",
                                  "file:///etc/passwd", "ftp://media.emulator.test/x.mp3", "not a url"])
async def test_unsafe_media_links_are_refused_before_connecting(make_setup, adapter_for, dest: Path,
                                                                link: str) -> None:
    s = make_setup("genesys", count=5)
    gen(s).transcode_polls = 0

    async def poison(request: httpx.Request, response: httpx.Response) -> httpx.Response | None:
        if not request.url.path.endswith("/media"):
            return None
        return rebuilt(response, content=json.dumps({"contentLocationUri": link}).encode())

    rewrite = Rewrite(s.emu.transport(), poison)
    prov = adapter_for(s, transport=rewrite)
    rec = (await prov.list_recordings(ListQuery(page_size=5))).items[0]
    with pytest.raises(BadResponse, match="refusing the download link"):
        await prov.fetch_media(rec, dest)
    assert all(r.url.host in ("api.emulator.test", "login.emulator.test") for r in rewrite.seen)


async def test_media_over_the_size_cap_leaves_nothing(make_setup, dest: Path) -> None:
    s = make_setup("genesys", count=5)
    gen(s).transcode_polls = 0
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[0]
    with pytest.raises(BadResponse, match="limit"):
        await s.provider.fetch_media(rec, dest, max_bytes=1000)
    assert not files(dest)


async def test_hostile_ids_are_shown_but_refused_with_nothing_sent(make_setup, dest: Path) -> None:
    s = make_setup("genesys", count=10, faults="genesys.list:hostile_ids,count=1")
    page = await s.provider.list_recordings(ListQuery(page_size=10))
    assert page.items and not any(r.id_valid for r in page.items)
    before = len(s.emu.log.records)
    for rec in page.items[:5]:
        for call in (s.provider.get_recording(rec.id), s.provider.delete_recording(rec.id),
                     s.provider.rename(rec.id, {"name": "x"}), s.provider.fetch_media(rec, dest)):
            with pytest.raises(InvalidId):
                await call
    assert len(s.emu.log.records) == before and not files(dest)


async def test_hostile_titles_are_kept_but_cleaned(make_setup) -> None:
    s = make_setup("genesys", count=12, faults="genesys.list:hostile_titles,count=1")
    page = await s.provider.list_recordings(ListQuery(page_size=12))
    titles = [r.title for r in page.items]
    assert "[@click=app.quit]Click me[/]" in titles and "Q&A [draft]" in titles
    assert all("\x1b" not in t and "\u202e" not in t and "\x00" not in t for t in titles)


async def test_delete_verified_after_an_ambiguous_failure(make_setup) -> None:
    s = make_setup("genesys", count=10, faults="genesys.delete:delete_apply_then_fail")
    rid = gen(s).listed_ids()[4]
    await s.provider.delete_recording(rid)
    assert [(r.route, r.status) for r in s.emu.log.records if r.route in ("delete", "get")] == \
        [("delete", 500), ("get", 404)]
    assert s.provider.delete_outcomes[rid] == "deleted-confirmed-by-404"
    assert rid not in gen(s).listed_ids()


async def test_delete_retried_once_when_the_check_finds_it_still_there(make_setup) -> None:
    s = make_setup("genesys", count=10, faults="genesys.delete:status=502,count=1")
    rid = gen(s).listed_ids()[4]
    await s.provider.delete_recording(rid)
    assert [(r.route, r.status) for r in s.emu.log.records if r.route in ("delete", "get")] == \
        [("delete", 502), ("get", 200), ("delete", 202)]
    assert s.provider.delete_outcomes[rid] == "deleted" and rid not in gen(s).listed_ids()


async def test_delete_outcome_unknown_when_the_check_fails_too(make_setup) -> None:
    s = make_setup("genesys", count=10, faults="genesys.delete:status=500;genesys.get:status=503")
    rid = gen(s).listed_ids()[4]
    with pytest.raises(Unavailable) as info:
        await s.provider.delete_recording(rid)
    assert info.value.title == "Delete outcome unknown"
    assert len(requests(s, "delete")) == 1                    # never blindly retried


async def test_delete_429_is_retried_as_it_was_not_carried_out(make_setup) -> None:
    s = make_setup("genesys", count=10, faults="genesys.delete:status=429,retry_after=2,count=1")
    rid = gen(s).listed_ids()[4]
    await s.provider.delete_recording(rid)
    assert [r.status for r in requests(s, "delete")] == [429, 202] and s.mono.slept == [2.0]
    assert not requests(s, "get")


async def test_read_only_refuses_changes_before_sending(make_setup) -> None:
    s = make_setup("genesys", count=5, settings={"read_only": True})
    rid = gen(s).listed_ids()[0]
    with pytest.raises(PermissionDenied):
        await s.provider.delete_recording(rid)
    with pytest.raises(PermissionDenied):
        await s.provider.rename(rid, {"name": "x"})
    assert not s.emu.log.records


# -- end to end ------------------------------------------------------------------------------------------------

async def test_end_to_end_over_loopback(media_cache: Path, dest: Path) -> None:
    emu = Emulator(EmulatorConfig(providers=("genesys",), count=40, anchor=ANCHOR, media_cache_dir=media_cache))
    server = EmulatorServer(emu)
    server.start()
    slept: list[float] = []

    async def no_wait(seconds: float) -> None:   # the 202 poll interval, not the network
        slept.append(seconds)

    conf = GenesysSettings.model_validate(emu["genesys"].config_entry())
    assert conf.base_url.startswith("http://127.0.0.1:") and conf.login_url != conf.base_url
    prov = GenesysProvider("genesys", conf, sleep=no_wait)
    try:
        items = await walk(prov, ListQuery(page_size=15))
        assert [r.id for r in items] == emu["genesys"].listed_ids() and len(items) == 40
        shortest = min(items, key=lambda r: r.duration or 0)
        detail = await prov.get_recording(shortest.id)
        assert detail.call_id and detail.caller
        media = await prov.fetch_media(detail, dest, max_bytes=50_000_000)
        assert media.format == "mp3" == sniff_file(media.path) and media.size > 0 and slept == [1.0]
        renamed = await prov.rename(items[0].id, {"name": "over the wire"})
        assert renamed.title == "over the wire"
        await prov.delete_recording(items[1].id)
        assert items[1].id not in emu["genesys"].listed_ids()
        await prov.check()
        media_reqs = [r for r in emu.log.records if r.origin == "media"]
        assert media_reqs and all("authorization" not in r.headers for r in media_reqs)
        assert all(r.headers["authorization"].startswith("Basic ") for r in emu.log.records if r.origin == "login")
    finally:
        await prov.aclose()
        server.stop()
