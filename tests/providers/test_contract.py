"""One contract for all five adapters, against the emulator in-process: paging with no gaps or
duplicates, totals, sort and filters as declared, detail, media that decodes, changes where
capable and `Unsupported` where not, and failures mapped to rectui errors."""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta

import imageio_ffmpeg
import pytest
from support import ANCHOR

from rectui.errors import AuthError, BadResponse, InvalidId, NotFound, Unsupported
from rectui.mediafiles import sniff_file
from rectui.models import Capabilities, ListQuery, Recording, SortSpec

from .conftest import KINDS, SECRET_FIELD, Setup

pytestmark = pytest.mark.parametrize("kind", KINDS)
MAX_PAGES = 500


async def walk(s: Setup, query: ListQuery | None = None) -> list[Recording]:
    query = query or ListQuery(page_size=10)
    items: list[Recording] = []
    cursor = None
    for _ in range(MAX_PAGES):
        page = await s.provider.list_recordings(query, cursor)
        items.extend(page.items)
        if page.next is None:
            return items
        cursor = page.next
    raise AssertionError("paging did not end")


async def test_capabilities_are_declared(kind: str, make_setup) -> None:
    s = make_setup(kind)
    caps = s.provider.capabilities
    assert isinstance(caps, Capabilities) and caps.max_page_size >= 1
    assert s.provider.kind == kind and s.provider.id == kind


async def test_walks_every_page_without_gaps_or_duplicates(kind: str, make_setup) -> None:
    s = make_setup(kind, count=60)
    items = await walk(s)
    ids = [r.id for r in items]
    assert len(ids) == len(set(ids)), "duplicates across pages"
    assert set(ids) == set(s.prov_emu.listed_ids()), "gaps or extras against the emulator's data"
    assert all(r.provider == kind and r.start is not None and r.start.tzinfo is not None for r in items)
    if not s.provider.ORDER_APPROXIMATE:
        starts = [r.start for r in items]
        assert starts == sorted(starts, reverse=True), "not newest first"


async def test_previous_page_returns_the_same_rows(kind: str, make_setup) -> None:
    s = make_setup(kind, count=60)
    first = await s.provider.list_recordings(ListQuery(page_size=5))
    assert first.next is not None
    second = await s.provider.list_recordings(ListQuery(page_size=5), first.next)
    assert second.prev is not None
    again = await s.provider.list_recordings(ListQuery(page_size=5), second.prev)
    assert [r.id for r in again.items] == [r.id for r in first.items]


async def test_totals_only_where_exact(kind: str, make_setup) -> None:
    s = make_setup(kind, count=60)
    page = await s.provider.list_recordings(ListQuery(page_size=10))
    if s.provider.capabilities.exact_total:
        assert page.total == len(s.prov_emu.listed_ids())
        assert page.page_number == 1
    else:
        assert page.total is None


async def test_server_sort_where_declared_unsupported_elsewhere(kind: str, make_setup) -> None:
    s = make_setup(kind, count=60)
    caps = s.provider.capabilities
    key_of = {"start": lambda r: r.start, "duration": lambda r: r.duration or 0, "call_id": lambda r: r.call_id or ""}
    for key in sorted(caps.server_sort):
        for desc in (False, True):
            page = await s.provider.list_recordings(ListQuery(page_size=20, sort=SortSpec(key=key, descending=desc)))
            assert page.sorted_on_server
            values = [key_of[key](r) for r in page.items]
            assert values == sorted(values, reverse=desc), f"sort by {key} desc={desc}"
    for key in ("title", "owner", "duration", "start", "size"):
        if key not in caps.server_sort:
            with pytest.raises(Unsupported):
                await s.provider.list_recordings(ListQuery(sort=SortSpec(key=key)))


async def test_date_filters_where_declared_unsupported_elsewhere(kind: str, make_setup) -> None:
    s = make_setup(kind, count=200)
    since, until = ANCHOR - timedelta(days=120), ANCHOR - timedelta(days=60)
    query = ListQuery(since=since, until=until, page_size=50)
    if "since" in s.provider.capabilities.server_filters:
        items = await walk(s, query)
        assert items and all(since <= r.start < until + timedelta(days=1) for r in items)
    else:
        with pytest.raises(Unsupported):
            await s.provider.list_recordings(query)


async def test_detail_has_the_fields_the_provider_gives(kind: str, make_setup) -> None:
    s = make_setup(kind)
    first = (await s.provider.list_recordings(ListQuery(page_size=3))).items[0]
    rec = await s.provider.get_recording(first.id)
    assert rec.id == first.id and rec.provider == kind
    assert rec.details and rec.raw
    with pytest.raises(NotFound):
        await s.provider.get_recording(_missing_id(s, first.id))


def _missing_id(s: Setup, like: str) -> str:
    """An id of the provider's syntax that the emulator does not have."""
    flipped = like[:-1] + ("0" if like[-1] != "0" else "1")
    return flipped if s.provider.id_is_safe(flipped) else like + "0"


async def test_media_decodes_or_is_unsupported(kind: str, make_setup, tmp_path) -> None:
    s = make_setup(kind)
    items = (await s.provider.list_recordings(ListQuery(page_size=20))).items
    if not s.provider.capabilities.media:
        with pytest.raises(Unsupported):
            await s.provider.fetch_media(items[0], tmp_path)
        return
    rec = None
    for r in items:        # the detail is authoritative (a listing may not know "downloads prevented")
        if r.has_media and (r.duration or 0) < 120 and (detail := await s.provider.get_recording(r.id)).has_media:
            rec = detail
            break
    assert rec is not None
    media = await s.provider.fetch_media(rec, tmp_path, max_bytes=50_000_000)
    assert media.path.parent == tmp_path and media.path.stat().st_size == media.size > 0
    assert media.format == sniff_file(media.path) != "unknown"
    proc = subprocess.run(  # noqa: ASYNC221 (a test; nothing else runs)
       [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(media.path), "-f", "null", "-"],
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-500:]


async def test_delete_where_capable(kind: str, make_setup) -> None:
    s = make_setup(kind)
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[1]
    if not s.provider.capabilities.can_delete:
        with pytest.raises(Unsupported):
            await s.provider.delete_recording(rec.id)
        return
    await s.provider.delete_recording(rec.id)
    assert rec.id not in s.prov_emu.listed_ids()
    if s.provider.capabilities.can_restore:
        assert rec.id in s.prov_emu.listed_ids("deleted")
        await s.provider.restore_recording(rec.id)
        assert rec.id in s.prov_emu.listed_ids()
    else:
        with pytest.raises(Unsupported):
            await s.provider.restore_recording(rec.id)


async def test_tags_where_capable(kind: str, make_setup) -> None:
    s = make_setup(kind)
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[0]
    if not s.provider.capabilities.server_tags:
        with pytest.raises(Unsupported):
            await s.provider.set_tags(rec.id, frozenset({"vip"}))
        return
    updated = await s.provider.set_tags(rec.id, frozenset({"vip", "follow-up"}))
    assert updated.tags == {"vip", "follow-up"}
    assert (await s.provider.get_recording(rec.id)).tags == {"vip", "follow-up"}


async def test_rename_where_capable(kind: str, make_setup) -> None:
    s = make_setup(kind)
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[0]
    caps = s.provider.capabilities
    if not caps.can_rename:
        with pytest.raises(Unsupported):
            await s.provider.rename(rec.id, {"title": "x"})
        return
    field = caps.rename_fields[0]
    updated = await s.provider.rename(rec.id, {field: "Renamed by the contract suite"})
    assert updated.title == "Renamed by the contract suite"
    assert (await s.provider.get_recording(rec.id)).title == "Renamed by the contract suite"


async def test_wrong_credentials_are_an_auth_error_without_the_secret(kind: str, make_setup) -> None:
    wrong = "wrong-secret-canary-0b7e"
    s = make_setup(kind, settings={SECRET_FIELD[kind]: wrong})
    with pytest.raises(AuthError) as info:
        await s.provider.list_recordings(ListQuery(page_size=5))
    assert wrong not in info.value.message


async def test_hostile_ids_are_shown_but_never_sent(kind: str, make_setup, tmp_path) -> None:
    s = make_setup(kind, count=600, hostile=True)
    items = await walk(s, ListQuery(page_size=100))
    bad = [r for r in items if not r.id_valid]
    assert bad, "the hostile dataset should hold unsafe ids"
    before = len(s.emu.log.records)
    for rec in bad[:3]:
        with pytest.raises(InvalidId):
            await s.provider.get_recording(rec.id)
        if s.provider.capabilities.can_delete:
            with pytest.raises(InvalidId):
                await s.provider.delete_recording(rec.id)
    assert len(s.emu.log.records) == before, "a request was sent for an unsafe id"


async def test_5xx_is_retried_then_succeeds(kind: str, make_setup) -> None:
    s = make_setup(kind, faults=f"{kind}.list:status=503,count=2")
    page = await s.provider.list_recordings(ListQuery(page_size=5))
    assert page.items
    assert len(s.mono.slept) == 2


async def test_429_with_retry_after_is_honoured(kind: str, make_setup) -> None:
    s = make_setup(kind, faults=f"{kind}.list:status=429,retry_after=3,count=1")
    await s.provider.list_recordings(ListQuery(page_size=5))
    assert s.mono.slept == [3.0]


async def test_malformed_json_is_a_bad_response_never_an_empty_page(kind: str, make_setup) -> None:
    s = make_setup(kind, faults=f"{kind}.list:malformed_json")
    with pytest.raises(BadResponse):
        await s.provider.list_recordings(ListQuery(page_size=5))


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple | frozenset | set):
        return [s for v in value for s in _strings(v)]
    return []


async def test_hostile_server_text_is_sanitised_in_every_field_lazy_ones_too(kind: str, make_setup) -> None:
    """`details` and `raw` are sanitised on first access: whichever way a row is read (its
    attributes, `model_dump`, JSON, a copy), no string from the server carries a control."""
    s = make_setup(kind, count=400, hostile=True)
    rows, cursor = [], None
    for _ in range(8):
        page = await s.provider.list_recordings(ListQuery(page_size=50), cursor)
        rows += page.items
        if (cursor := page.next) is None:
            break
    assert rows
    unsafe = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b\ufeff]")
    hostile = 0
    for rec in rows:
        copy = rec.model_copy(update={"title": "t"})
        texts = [*_strings(rec.model_dump()), *_strings(copy.raw), *_strings(copy.details),
                 rec.model_dump_json()]
        hostile += "\ufffd" in " ".join(texts)
        assert not any(unsafe.search(t) for t in texts), rec.id
        assert all(len(k) <= 200 for k in rec.details) and all(len(v) <= 2000 for v in rec.details.values())
    assert hostile or kind == "restcomm", "the hostile dataset should have put controls somewhere"   # no free text
