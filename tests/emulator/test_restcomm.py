"""The Restcomm emulator against the reference page (providers/restcomm.md), the seed and the
reconstructed OpenAPI document: every quirk a client must survive, auth, faults, hostile data."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from rectui.emulator.app import Emulator
from rectui.emulator.restcomm import (
    RestcommEmulator,
    gson_dumps,
    java_double,
    like_to_regex,
    parse_day,
    rfc2822ish,
)

ROOT = "/restcomm/2012-04-24"
JST = timezone(timedelta(hours=9))
DATE_RE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([1-9]|[12][0-9]|3[01]) "
                     r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d \+0900")


@pytest.fixture
def emu(make_emulator: Callable[..., Emulator]) -> Emulator:
    return make_emulator(providers=("restcomm",), count=60)


@pytest.fixture
def rc(emu: Emulator) -> RestcommEmulator:
    prov = emu["restcomm"]
    assert isinstance(prov, RestcommEmulator)
    return prov


@pytest.fixture
def client(emu: Emulator, client_for: Callable[[Emulator], httpx.AsyncClient]) -> httpx.AsyncClient:
    return client_for(emu)


def auth(rc: RestcommEmulator) -> httpx.BasicAuth:
    return httpx.BasicAuth(rc.account_sid, rc.auth_token)


def recs(rc: RestcommEmulator) -> str:
    return f"{ROOT}/Accounts/{rc.account_sid}/Recordings"


async def get_list(client: httpx.AsyncClient, rc: RestcommEmulator, **params: Any) -> httpx.Response:
    return await client.get(recs(rc) + ".json", params=params, auth=auth(rc))


async def all_sids(client: httpx.AsyncClient, rc: RestcommEmulator, **params: Any) -> list[str]:
    r = await get_list(client, rc, PageSize=1000, **params)
    assert r.status_code == 200, r.text
    return [item["sid"] for item in r.json()["recordings"]]


def sid(rc: RestcommEmulator, i: int) -> str:
    return rc.sid_of(rc.data.fact(i))


# -- listing, shape and validation -------------------------------------------------------------
async def test_list_first_page_shape_and_spec(client: httpx.AsyncClient, rc: RestcommEmulator,
                                              validate: Callable[..., None]) -> None:
    r = await client.get(recs(rc) + ".json", auth=auth(rc))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    validate("restcomm", r)
    body = r.json()
    assert list(body) == ["page", "num_pages", "page_size", "total", "start", "end", "uri", "first_page_uri",
                          "previous_page_uri", "next_page_uri", "last_page_uri", "recordings"]
    assert (body["page"], body["page_size"], body["total"], body["num_pages"]) == (0, 50, 60, 1)
    assert len(body["recordings"]) == 50
    item = body["recordings"][0]
    assert list(item) == ["sid", "date_created", "date_updated", "account_sid", "call_sid", "duration",
                          "api_version", "uri", "file_uri"]
    assert re.fullmatch(r"RE[0-9a-f]{32}", item["sid"])
    assert item["account_sid"] == rc.account_sid and item["api_version"] == "2012-04-24"
    assert item["uri"] == f"/2012-04-24/Accounts/{rc.account_sid}/Recordings/{item['sid']}.json"
    assert item["file_uri"] == f"{rc.emu.api_url}{ROOT}/Accounts/{rc.account_sid}/Recordings/{item['sid']}.wav"


async def test_list_default_order_is_date_created_desc(client: httpx.AsyncClient, rc: RestcommEmulator) -> None:
    assert await all_sids(client, rc) == [sid(rc, i) for i in range(60)]


async def test_quirk_num_pages_is_last_page_index_and_page_is_zero_based(
        client: httpx.AsyncClient, rc: RestcommEmulator, validate: Callable[..., None]) -> None:
    first = (await get_list(client, rc, PageSize=25)).json()
    assert first["page"] == 0 and first["num_pages"] == 2            # 3 pages: 0, 1, 2
    assert [r["sid"] for r in first["recordings"]] == [sid(rc, i) for i in range(25)]
    last = await get_list(client, rc, PageSize=25, Page=2)
    validate("restcomm", last)
    assert [r["sid"] for r in last.json()["recordings"]] == [sid(rc, i) for i in range(50, 60)]


async def test_quirk_start_end_duration_are_strings_and_end_off_by_one_on_last_page(
        client: httpx.AsyncClient, rc: RestcommEmulator) -> None:
    mid = (await get_list(client, rc, PageSize=25, Page=1)).json()
    assert (mid["start"], mid["end"]) == ("25", "49")                # inclusive on a non-last page
    last = (await get_list(client, rc, PageSize=25, Page=2)).json()
    assert (last["start"], last["end"]) == ("50", "60")              # one past the end on the last page
    for item in mid["recordings"]:
        assert isinstance(item["duration"], str)
        fact = rc.data.fact(rc.index_of(item["sid"]) or 0)
        assert abs(float(item["duration"]) - fact.duration) <= 1 / 8000


async def test_quirk_null_string_page_uris(client: httpx.AsyncClient, rc: RestcommEmulator) -> None:
    first = (await get_list(client, rc, PageSize=25)).json()
    assert first["previous_page_uri"] == "null"
    last = (await get_list(client, rc, PageSize=25, Page=2)).json()
    assert last["next_page_uri"] == "null"
    assert last["previous_page_uri"] == f"{recs(rc)}?Page=1&PageSize=25"
    single = (await get_list(client, rc)).json()
    assert single["num_pages"] == 1 and single["next_page_uri"] != "null"


async def test_quirk_page_past_the_last_gives_400_with_empty_body(
        client: httpx.AsyncClient, rc: RestcommEmulator, validate: Callable[..., None]) -> None:
    r = await get_list(client, rc, PageSize=25, Page=3)
    assert r.status_code == 400 and r.content == b""
    validate("restcomm", r)
    assert (await get_list(client, rc, PageSize=1000, Page=1)).status_code == 400


async def test_quirk_extra_empty_page_when_total_is_a_multiple_of_page_size(
        client: httpx.AsyncClient, rc: RestcommEmulator, validate: Callable[..., None]) -> None:
    before = (await get_list(client, rc, PageSize=20, Page=2)).json()
    assert before["num_pages"] == 3 and len(before["recordings"]) == 20
    assert before["next_page_uri"].startswith(f"{recs(rc)}?Page=3&PageSize=20&AfterSid=")
    extra = await get_list(client, rc, PageSize=20, Page=3)
    validate("restcomm", extra)
    body = extra.json()
    assert body["recordings"] == [] and body["page"] == 3
    assert (body["start"], body["end"], body["next_page_uri"]) == ("60", "60", "null")
    assert (await get_list(client, rc, PageSize=20, Page=4)).status_code == 400


async def test_quirk_page_links_drop_filters_sort_and_json_suffix(client: httpx.AsyncClient,
                                                                  rc: RestcommEmulator) -> None:
    start = rc.data.fact(59).start.astimezone(JST).date().isoformat()
    r = await get_list(client, rc, PageSize=5, Page=1, SortBy="Duration:desc", StartTime=start,
                       CallSid="%", SubAccounts="true")
    body = r.json()
    base = recs(rc)
    assert body["uri"] == base                                        # no ".json"
    last_sid = body["recordings"][4]["sid"]
    assert body["next_page_uri"] == f"{base}?Page=2&PageSize=5&AfterSid={last_sid}"
    assert body["previous_page_uri"] == f"{base}?Page=0&PageSize=5"
    assert body["first_page_uri"] == f"{base}?Page=0&PageSize=5"
    assert body["last_page_uri"] == f"{base}?Page={body['num_pages']}&PageSize=5"
    for key in ("uri", "first_page_uri", "previous_page_uri", "next_page_uri", "last_page_uri"):
        assert ".json" not in body[key] and "SortBy" not in body[key] and "StartTime" not in body[key]


async def test_quirk_page_links_are_gson_escaped_on_the_wire(client: httpx.AsyncClient,
                                                             rc: RestcommEmulator) -> None:
    raw = (await get_list(client, rc, PageSize=5, Page=1)).text
    assert "?Page\\u003d0\\u0026PageSize\\u003d5" in raw               # Gson's HTML-safe escaping
    assert raw.startswith('{\n  "page": 1,\n  "num_pages": 12,')     # pretty-printed


async def test_quirk_after_sid_is_ignored(client: httpx.AsyncClient, rc: RestcommEmulator) -> None:
    plain = (await get_list(client, rc, PageSize=10, Page=1)).json()["recordings"]
    bogus = (await get_list(client, rc, PageSize=10, Page=1, AfterSid=sid(rc, 40))).json()["recordings"]
    assert plain == bogus


async def test_quirk_following_next_page_uri_without_accept_json_gives_xml(
        client: httpx.AsyncClient, rc: RestcommEmulator) -> None:
    nxt = (await get_list(client, rc, PageSize=10)).json()["next_page_uri"]
    assert not nxt.startswith("http")                                 # host-relative
    xml = await client.get(nxt, auth=auth(rc))                        # httpx sends Accept: */*
    assert xml.status_code == 200 and xml.headers["content-type"] == "application/xml"
    assert xml.text.startswith("<RestcommResponse>\n  <Recordings>\n    <Recording>\n      <Sid>")
    assert "num_pages" not in xml.text and "Page" not in xml.text.replace("Recording", "")  # no paging info
    assert f"<Sid>{sid(rc, 10)}</Sid>" in xml.text
    as_json = await client.get(nxt, auth=auth(rc), headers={"Accept": "application/json"})
    assert as_json.headers["content-type"] == "application/json"
    assert [r["sid"] for r in as_json.json()["recordings"]] == [sid(rc, i) for i in range(10, 20)]


async def test_quirk_xml_is_the_default_representation(client: httpx.AsyncClient, rc: RestcommEmulator) -> None:
    token = base64.b64encode(f"{rc.account_sid}:{rc.auth_token}".encode()).decode()
    request = client.build_request("GET", recs(rc) + f"/{sid(rc, 0)}", headers={"Authorization": f"Basic {token}"})
    del request.headers["accept"]                                     # no Accept header at all
    r = await client.send(request)
    assert r.headers["content-type"] == "application/xml"
    assert r.text.startswith(f"<RestcommResponse>\n  <Recording>\n    <Sid>{sid(rc, 0)}</Sid>")
    assert f"<Uri>/2012-04-24/Accounts/{rc.account_sid}/Recordings/{sid(rc, 0)}</Uri>" in r.text
    r = await client.get(recs(rc) + f"/{sid(rc, 0)}", auth=auth(rc), headers={"Accept": "text/json"})
    assert r.json()["sid"] == sid(rc, 0)                              # "json" anywhere in Accept


async def test_quirk_dates_rfc2822_in_server_offset_with_unpadded_day(client: httpx.AsyncClient,
                                                                      rc: RestcommEmulator) -> None:
    items = (await get_list(client, rc, PageSize=100)).json()["recordings"]
    days = set()
    for item in items:
        assert DATE_RE.fullmatch(item["date_created"]), item["date_created"]
        assert item["date_updated"] == item["date_created"]
        fact = rc.data.fact(rc.index_of(item["sid"]) or 0)
        parsed = parsedate_to_datetime(item["date_created"])
        assert parsed == fact.start.replace(microsecond=0)
        days.add(parsed.astimezone(JST).day)
    assert any(d < 10 for d in days)                                  # single-digit days exist, unpadded
    assert rfc2822ish(datetime(2014, 1, 5, 23, 51, 7, tzinfo=UTC), JST) == "Mon, 6 Jan 2014 08:51:07 +0900"


async def test_quirk_start_and_end_time_honour_only_the_date_part_in_server_zone(
        client: httpx.AsyncClient, rc: RestcommEmulator) -> None:
    facts = [rc.data.fact(i) for i in range(60)]
    # A recording whose server-local date is one day after its UTC date.
    k = next(i for i, f in enumerate(facts) if f.start.astimezone(JST).date() != f.start.date())
    local_day = facts[k].start.astimezone(JST).date()
    midnight = datetime(local_day.year, local_day.month, local_day.day, tzinfo=JST)
    expected = [sid(rc, i) for i, f in enumerate(facts) if f.start >= midnight]
    assert sid(rc, k) in expected
    assert await all_sids(client, rc, StartTime=local_day.isoformat()) == expected
    # The time is silently ignored: 23:59:59 still includes the whole day.
    assert await all_sids(client, rc, StartTime=f"{local_day.isoformat()}T23:59:59") == expected
    # EndTime includes its whole day (<= EndTime + 1 day).
    expected_end = [sid(rc, i) for i, f in enumerate(facts) if f.start <= midnight + timedelta(days=1)]
    assert sid(rc, k) in expected_end
    assert await all_sids(client, rc, EndTime=f"{local_day.isoformat()}T00:00:00") == expected_end
    both = await all_sids(client, rc, StartTime=local_day.isoformat(), EndTime=local_day.isoformat())
    assert both == [s for s in expected if s in expected_end] and sid(rc, k) in both


async def test_start_time_unparsable_gives_400_with_empty_body(client: httpx.AsyncClient,
                                                               rc: RestcommEmulator) -> None:
    for bad in ("05/10/2026", "", "yesterday"):
        r = await get_list(client, rc, StartTime=bad)
        assert r.status_code == 400 and r.content == b""
    assert (await get_list(client, rc, EndTime="2026/10/05")).status_code == 400


def test_start_time_parsing_is_lenient_like_simpledateformat() -> None:
    assert parse_day("2026-13-01", JST) == datetime(2027, 1, 1, tzinfo=JST)
    assert parse_day("2026-1-5T10:00", JST) == datetime(2026, 1, 5, tzinfo=JST)
    assert parse_day("2026-03-00", JST) == datetime(2026, 2, 28, tzinfo=JST)
    assert parse_day("T2026-03-01", JST) is None


async def test_quirk_call_sid_filter_is_sql_like(client: httpx.AsyncClient, rc: RestcommEmulator) -> None:
    calls = {i: rc.call_sid(i) for i in range(60)}
    shared = next(c for c in calls.values() if c and list(calls.values()).count(c) > 1)
    assert await all_sids(client, rc, CallSid=shared) == [sid(rc, i) for i, c in calls.items() if c == shared]
    modern = await all_sids(client, rc, CallSid="ID%-CA%")
    legacy = await all_sids(client, rc, CallSid="CA%")
    assert modern == [sid(rc, i) for i, c in calls.items() if c and c.startswith("ID")]
    assert legacy == [sid(rc, i) for i, c in calls.items() if c and c.startswith("CA")]
    assert modern and legacy
    one_char = next(c for c in calls.values() if c)
    assert sid(rc, next(i for i, c in calls.items() if c == one_char)) in await all_sids(
        client, rc, CallSid=one_char[:-1] + "_")
    assert await all_sids(client, rc, CallSid="nothing-like-this") == []
    assert like_to_regex(r"a\%b_").fullmatch("a%bc") and not like_to_regex(r"a\%b").fullmatch("axb")


# -- sorting -----------------------------------------------------------------------------------
async def test_sort_by_fields_and_directions(client: httpx.AsyncClient, rc: RestcommEmulator) -> None:
    idx = list(range(60))
    dur = {i: RestcommEmulator.wire_duration(rc.data.fact(i)) for i in idx}
    assert await all_sids(client, rc, SortBy="DateCreated") == [sid(rc, i) for i in reversed(idx)]  # asc default
    assert await all_sids(client, rc, SortBy="DateCreated:desc") == [sid(rc, i) for i in idx]
    by_dur = sorted(idx, key=lambda i: dur[i], reverse=True)
    assert await all_sids(client, rc, SortBy="Duration:DESC") == [sid(rc, i) for i in by_dur]
    assert await all_sids(client, rc, SortBy="Duration:asc") == [sid(rc, i) for i in sorted(idx, key=dur.get)]
    by_call = sorted(idx, key=lambda i: (rc.call_sid(i) is not None, rc.call_sid(i) or ""))
    assert await all_sids(client, rc, SortBy="CallSid") == [sid(rc, i) for i in by_call]


async def test_sort_ties_break_by_date_created_desc(client: httpx.AsyncClient, rc: RestcommEmulator) -> None:
    calls = [rc.call_sid(i) for i in range(60)]
    tied = [i for i in range(60) if calls[i] is not None and calls.count(calls[i]) > 1]
    assert tied, "the dataset should have a call with two recordings"
    order = await all_sids(client, rc, SortBy="CallSid:desc")
    positions = [order.index(sid(rc, i)) for i in tied if calls[i] == calls[tied[0]]]
    assert positions == sorted(positions)                             # newer (lower index) first


async def test_quirk_sort_unknown_field_is_ignored(client: httpx.AsyncClient, rc: RestcommEmulator) -> None:
    default = await all_sids(client, rc)
    assert await all_sids(client, rc, SortBy="dateCreated:asc") == default     # field names are case-sensitive
    assert await all_sids(client, rc, SortBy="Title:asc") == default


async def test_quirk_sort_bad_direction_gives_400_with_message(client: httpx.AsyncClient, rc: RestcommEmulator,
                                                         validate: Callable[..., None]) -> None:
    r = await get_list(client, rc, SortBy="Duration:up")
    assert r.status_code == 400
    validate("restcomm", r)
    assert r.json() == {"message": "Error parsing the SortBy parameter: sort direction needs to be either "
                                   "ASC or DESC"}
    r = await get_list(client, rc, SortBy=":asc")
    assert r.json() == {"message": "Error parsing the SortBy parameter: missing field to sort by"}
    xml = await client.get(recs(rc), params={"SortBy": "Duration:up"}, auth=auth(rc))
    assert xml.status_code == 400 and xml.text.startswith("<RestcommResponse><Message>Error parsing")


async def test_sorted_pages_concatenate_to_the_sorted_list(client: httpx.AsyncClient, rc: RestcommEmulator) -> None:
    whole = await all_sids(client, rc, SortBy="Duration:desc")
    pages = []
    for page in range(5):
        pages += [r["sid"] for r in (await get_list(client, rc, SortBy="Duration:desc", PageSize=13,
                                                    Page=page)).json()["recordings"]]
    assert pages == whole


async def test_quirk_page_size_zero_and_bad_numbers_are_server_errors(client: httpx.AsyncClient,
                                                                       rc: RestcommEmulator) -> None:
    for params in ({"PageSize": 0}, {"Page": "abc"}, {"PageSize": ""}, {"Page": -1}, {"PageSize": "99999999999"}):
        r = await get_list(client, rc, **params)
        assert r.status_code == 500, params
        assert r.headers["content-type"].startswith("text/html") and "HTTP Status 500" in r.text


async def test_quirk_limit_is_not_read(client: httpx.AsyncClient, rc: RestcommEmulator) -> None:
    r = await get_list(client, rc, PageSize=7, Limit=3)
    assert len(r.json()["recordings"]) == 7 and "limit" not in r.json()
    assert (await get_list(client, rc, PageSize=7, Limit=3, localOnly="false")).json() == r.json()


# -- one recording, delete, update -------------------------------------------------------------
async def test_get_one_is_one_list_element(client: httpx.AsyncClient, rc: RestcommEmulator,
                                           validate: Callable[..., None]) -> None:
    listed = (await get_list(client, rc)).json()["recordings"][3]
    r = await client.get(recs(rc) + f"/{listed['sid']}.json", auth=auth(rc))
    validate("restcomm", r)
    assert r.json() == listed


async def test_quirk_unknown_recording_gives_404_with_empty_body(client: httpx.AsyncClient, rc: RestcommEmulator,
                                                     validate: Callable[..., None]) -> None:
    r = await client.get(recs(rc) + f"/RE{'0' * 32}.json", auth=auth(rc))
    assert r.status_code == 404 and r.content == b"" and "content-type" not in r.headers
    validate("restcomm", r)


async def test_malformed_sid_is_a_container_error(client: httpx.AsyncClient, rc: RestcommEmulator) -> None:
    # Not in the spec (the reference page: "500 container error page, exact code unconfirmed").
    r = await client.get(recs(rc) + "/RE123.json", auth=auth(rc))
    assert r.status_code == 500 and "INVALID_SID" in r.text and r.headers["content-type"].startswith("text/html")


async def test_quirk_delete_is_hard_with_empty_body(client: httpx.AsyncClient, rc: RestcommEmulator,
                                              validate: Callable[..., None]) -> None:
    target = sid(rc, 5)
    r = await client.delete(recs(rc) + f"/{target}", auth=auth(rc))
    assert r.status_code == 200 and r.content == b""
    validate("restcomm", r)
    assert (await client.get(recs(rc) + f"/{target}.json", auth=auth(rc))).status_code == 404
    assert (await client.get(recs(rc) + f"/{target}.wav")).status_code == 404
    body = (await get_list(client, rc)).json()
    assert body["total"] == 59 and target not in [x["sid"] for x in body["recordings"]]
    again = await client.delete(recs(rc) + f"/{target}", auth=auth(rc))
    assert again.status_code == 404 and again.content == b""
    validate("restcomm", again)
    assert (await client.delete(recs(rc) + f"/{sid(rc, 6)}.json", auth=auth(rc))).status_code == 200


async def test_paging_stays_exact_around_deleted_recordings(client: httpx.AsyncClient, rc: RestcommEmulator) -> None:
    gone = [0, 1, 7, 8, 9, 30, 59]
    for i in gone:
        assert (await client.delete(recs(rc) + f"/{sid(rc, i)}", auth=auth(rc))).status_code == 200
    alive = [sid(rc, i) for i in range(60) if i not in gone]
    for sort, expected in ((None, alive), ("DateCreated:asc", alive[::-1])):
        params = {"SortBy": sort} if sort else {}
        walked, page = [], 0
        while True:
            body = (await get_list(client, rc, PageSize=6, Page=page, **params)).json()
            assert body["total"] == len(alive)
            walked += [x["sid"] for x in body["recordings"]]
            if page >= body["num_pages"]:
                break
            page += 1
        assert walked == expected


async def test_quirk_no_update_endpoint_and_no_list_delete(client: httpx.AsyncClient, rc: RestcommEmulator) -> None:
    for method in ("PUT", "POST", "PATCH"):
        r = await client.request(method, recs(rc) + f"/{sid(rc, 0)}", auth=auth(rc), content=b"Duration=1")
        assert r.status_code == 405 and r.content == b""
    r = await client.delete(recs(rc) + ".json", auth=auth(rc))
    assert r.status_code == 405 and r.content == b""
    assert (await client.put(recs(rc) + f"/{sid(rc, 0)}")).status_code == 401   # auth comes first


async def test_quirk_deprecated_calls_recordings_is_a_bare_array(client: httpx.AsyncClient, rc: RestcommEmulator,
                                                           validate: Callable[..., None]) -> None:
    calls = [rc.call_sid(i) for i in range(60)]
    shared = next(c for c in calls if c and calls.count(c) > 1)
    r = await client.get(f"{ROOT}/Accounts/{rc.account_sid}/Calls/{shared}/Recordings.json", auth=auth(rc))
    validate("restcomm", r)
    body = r.json()
    assert isinstance(body, list) and len(body) == calls.count(shared)
    assert all(item["call_sid"] == shared for item in body)
    r = await client.get(f"{ROOT}/Accounts/{rc.account_sid}/Calls/CA{'1' * 32}/Recordings.json", auth=auth(rc))
    assert r.json() == []


async def test_quirk_call_sid_forms_and_omitted_when_null(rc: RestcommEmulator) -> None:
    modern = re.compile(rf"{rc.instance_id}-CA[0-9a-f]{{32}}")
    old = re.compile(r"CA[0-9a-f]{32}")
    calls = [rc.call_sid(i) for i in range(60)]
    for i, call in enumerate(calls):
        item = rc.recording(i)
        if call is None:
            assert "call_sid" not in item
        elif rc.is_legacy(i):
            assert old.fullmatch(call)
        elif not modern.fullmatch(call):       # a call shared with an older server's recording
            assert old.fullmatch(call) and any(calls[j] == call and rc.is_legacy(j) for j in range(60))
    assert any(c and old.fullmatch(c) for c in calls) and any(c and modern.fullmatch(c) for c in calls)


# -- authentication ----------------------------------------------------------------------------
async def test_auth_missing_gives_401_with_www_authenticate(client: httpx.AsyncClient, rc: RestcommEmulator,
                                                            validate: Callable[..., None]) -> None:
    calls = f"{ROOT}/Accounts/{rc.account_sid}/Calls/{rc.call_sid(0)}/Recordings.json"
    for method, path in (("GET", recs(rc) + ".json"), ("GET", recs(rc) + f"/{sid(rc, 0)}.json"),
                         ("DELETE", recs(rc) + f"/{sid(rc, 0)}"), ("GET", calls)):
        r = await client.request(method, path)
        assert r.status_code == 401 and r.content == b""
        assert r.headers["www-authenticate"] == 'Basic realm="Restcomm realm"'
        validate("restcomm", r)
    assert (await client.get(recs(rc) + f"/{sid(rc, 0)}.json", auth=auth(rc))).status_code == 200


async def test_unknown_paths(client: httpx.AsyncClient, rc: RestcommEmulator) -> None:
    assert (await client.get(f"{ROOT}/Accounts/{rc.account_sid}/Nothing.json")).status_code == 401
    r = await client.get(f"{ROOT}/Accounts/{rc.account_sid}/Nothing.json", auth=auth(rc))
    assert r.status_code == 404 and r.content == b""                  # Jersey: auth first, then 404
    r = await client.get("/restcomm/nothing.html")
    assert r.status_code == 404 and "HTTP Status 404" in r.text      # Tomcat outside the servlet


async def test_auth_wrong_credentials_give_401(client: httpx.AsyncClient, rc: RestcommEmulator) -> None:
    for creds in ((rc.account_sid, "0" * 32), ("AC" + "0" * 32, rc.auth_token), (rc.account_sid, "")):
        r = await client.get(recs(rc) + ".json", auth=httpx.BasicAuth(*creds))
        assert r.status_code == 401 and r.content == b""
    r = await client.get(recs(rc) + ".json", headers={"Authorization": f"Bearer {rc.auth_token}"})
    assert r.status_code == 401
    r = await client.get(recs(rc) + ".json", headers={"Authorization": "Basic !!!notbase64"})
    assert r.status_code == 401


async def test_auth_email_and_plaintext_password_also_work(client: httpx.AsyncClient, rc: RestcommEmulator) -> None:
    assert rc.auth_token == hashlib.md5(rc.account_password.encode()).hexdigest()
    for user, password in ((rc.account_email, rc.auth_token), (rc.account_sid, rc.account_password)):
        r = await client.get(recs(rc) + ".json", auth=httpx.BasicAuth(user, password))
        assert r.status_code == 200
    by_email = await client.get(f"{ROOT}/Accounts/{rc.account_email}/Recordings.json", auth=auth(rc))
    assert by_email.status_code == 200
    assert by_email.json()["uri"] == f"{ROOT}/Accounts/{rc.account_email}/Recordings"


async def test_unknown_account_in_path_is_a_server_error(client: httpx.AsyncClient, rc: RestcommEmulator) -> None:
    r = await client.get(f"{ROOT}/Accounts/AC{'0' * 32}/Recordings.json", auth=auth(rc))
    assert r.status_code == 500 and "NullPointerException" in r.text


async def test_inactive_account_gives_403_text(client: httpx.AsyncClient, rc: RestcommEmulator,
                                               validate: Callable[..., None]) -> None:
    rc.account_status = "suspended"
    r = await get_list(client, rc)
    assert r.status_code == 403 and r.text == "Provided Account is not active"
    assert r.headers["content-type"].startswith("text/plain")
    validate("restcomm", r)
    assert (await client.get(recs(rc) + f"/{sid(rc, 0)}.wav")).status_code == 200   # files are unprotected


# -- files ---------------------------------------------------------------------------------------
async def test_quirk_audio_files_need_no_auth(client: httpx.AsyncClient, rc: RestcommEmulator,
                                          validate: Callable[..., None]) -> None:
    r = await client.get(recs(rc) + f"/{sid(rc, 0)}.wav")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/x-wav" and len(r.content) > 44
    validate("restcomm", r)
    wrong = await client.get(recs(rc) + f"/{sid(rc, 0)}.wav", auth=httpx.BasicAuth("x", "y"))
    assert wrong.status_code == 200                                  # credentials are not even looked at
    other_account = await client.get(f"{ROOT}/Accounts/AC{'0' * 32}/Recordings/{sid(rc, 0)}.wav")
    assert other_account.status_code == 200                         # the path's account is not checked
    missing = await client.get(recs(rc) + f"/RE{'0' * 32}.wav")
    assert missing.status_code == 404 and missing.content == b""
    validate("restcomm", missing)


async def test_quirk_wav_ignores_range(client: httpx.AsyncClient, rc: RestcommEmulator) -> None:
    full = await client.get(recs(rc) + f"/{sid(rc, 0)}.wav")
    part = await client.get(recs(rc) + f"/{sid(rc, 0)}.wav", headers={"Range": "bytes=0-9"})
    assert part.status_code == 200 and part.content == full.content
    assert "accept-ranges" not in part.headers and "etag" not in part.headers
    conditional = await client.get(recs(rc) + f"/{sid(rc, 0)}.wav", headers={"If-None-Match": "*"})
    assert conditional.status_code == 200 and conditional.content == full.content
    legacy = await client.get(f"/restcomm/recordings/{sid(rc, 0)}.wav", headers={"Range": "bytes=0-9"})
    assert legacy.status_code == 206 and legacy.content == full.content[:10]   # Tomcat's static files


async def test_quirk_mp4_path_serves_the_stored_wav(client: httpx.AsyncClient, rc: RestcommEmulator) -> None:
    # The spec says video/mp4, but the server picks the extension from the stored file: an audio
    # recording comes back as audio/x-wav (so this response is not validated against the spec).
    r = await client.get(recs(rc) + f"/{sid(rc, 0)}.mp4")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/x-wav"
    assert r.content[:4] == (await client.get(recs(rc) + f"/{sid(rc, 0)}.wav")).content[:4]


async def test_quirk_mp3_is_not_a_route(client: httpx.AsyncClient, rc: RestcommEmulator) -> None:
    assert (await client.get(recs(rc) + f"/{sid(rc, 0)}.mp3")).status_code == 401
    assert (await client.get(recs(rc) + f"/{sid(rc, 0)}.mp3", auth=auth(rc))).status_code == 500


async def test_quirk_file_uri_absolute_or_legacy_and_both_serve(client: httpx.AsyncClient,
                                                                rc: RestcommEmulator) -> None:
    items = (await get_list(client, rc, PageSize=100)).json()["recordings"]
    legacy = [x for x in items if "/restcomm/recordings/" in x["file_uri"]]
    modern = [x for x in items if "/Recordings/" in x["file_uri"]]
    assert legacy and modern and len(legacy) + len(modern) == 60
    assert legacy[0]["file_uri"] == f"{rc.emu.api_url}/restcomm/recordings/{legacy[0]['sid']}.wav"
    r = await client.get(legacy[0]["file_uri"])
    assert r.status_code == 200 and r.headers["content-type"] == "audio/x-wav"
    missing = await client.get(f"{rc.emu.api_url}/restcomm/recordings/RE{'0' * 32}.wav")
    assert missing.status_code == 404 and "HTTP Status 404" in missing.text   # Tomcat's static 404


# -- faults ----------------------------------------------------------------------------------------
async def test_fault_redirect_media_307_to_presigned_media_origin(
        client: httpx.AsyncClient, rc: RestcommEmulator, emu: Emulator, clock: Any,
        validate: Callable[..., None]) -> None:
    emu.faults.set("restcomm.media:redirect,expires=60")
    r = await client.get(recs(rc) + f"/{sid(rc, 0)}.wav")
    assert r.status_code == 307 and r.content == b""
    validate("restcomm", r)
    location = r.headers["location"]
    assert location.startswith(emu.media_url + "/") and "X-Amz-Signature=" in location
    query = parse_qs(urlsplit(location).query)
    assert query["X-Amz-Expires"] == ["60"]
    got = await client.get(location)                                  # no auth needed
    assert got.status_code == 200 and got.headers["content-type"] == "application/octet-stream"
    assert len(got.content) > 44
    tampered = await client.get(location.replace("X-Amz-Expires=60", "X-Amz-Expires=9999"))
    assert tampered.status_code == 403 and "SignatureDoesNotMatch" in tampered.text
    clock.advance(61)
    expired = await client.get(location)
    assert expired.status_code == 403 and "<Message>Request has expired</Message>" in expired.text


async def test_fault_link_expired_and_deleted_object(client: httpx.AsyncClient, rc: RestcommEmulator,
                                                     emu: Emulator) -> None:
    emu.faults.set("restcomm.media:redirect;restcomm.s3:link_expired,count=1")
    location = (await client.get(recs(rc) + f"/{sid(rc, 1)}.wav")).headers["location"]
    assert "Request has expired" in (await client.get(location)).text
    assert (await client.delete(recs(rc) + f"/{sid(rc, 1)}", auth=auth(rc))).status_code == 200
    gone = await client.get(location)
    assert gone.status_code == 404 and "NoSuchKey" in gone.text


async def test_fault_redirect_api_to_foreign_origin(client: httpx.AsyncClient, rc: RestcommEmulator,
                                                    emu: Emulator) -> None:
    emu.faults.set("restcomm.list:redirect,count=1")
    r = await get_list(client, rc, PageSize=3)
    assert r.status_code == 302
    assert r.headers["location"].startswith(emu.media_url + "/") and "PageSize=3" in r.headers["location"]
    assert (await get_list(client, rc, PageSize=3)).status_code == 200


async def test_fault_account_inactive_and_forbid(client: httpx.AsyncClient, rc: RestcommEmulator,
                                                 emu: Emulator) -> None:
    emu.faults.set("restcomm.list:account_inactive,count=1;restcomm.get:forbid")
    r = await get_list(client, rc)
    assert r.status_code == 403 and r.text == "Provided Account is not active"
    assert (await get_list(client, rc)).status_code == 200
    r = await client.get(recs(rc) + f"/{sid(rc, 0)}.json", auth=auth(rc))
    assert r.status_code == 403 and r.content == b""


async def test_fault_expire_token_after(client: httpx.AsyncClient, rc: RestcommEmulator, emu: Emulator) -> None:
    emu.faults.set("restcomm.*:expire_token_after=2")
    assert [(await get_list(client, rc)).status_code for _ in range(4)] == [200, 200, 401, 401]
    assert (await client.get(recs(rc) + f"/{sid(rc, 0)}.wav")).status_code == 200


async def test_fault_generic_status_and_retry_after_bodies(client: httpx.AsyncClient, rc: RestcommEmulator,
                                                           emu: Emulator) -> None:
    emu.faults.set("restcomm.list:status=500,count=1;restcomm.list:status=503,count=1")
    r = await get_list(client, rc)
    assert r.status_code == 500 and "Apache Tomcat" in r.text
    r = await get_list(client, rc)
    assert r.status_code == 503 and "nginx" in r.text
    emu.faults.set("restcomm.list:retry_after=7,count=1")
    r = await get_list(client, rc)
    assert r.status_code == 429 and r.content == b"" and r.headers["retry-after"] == "7"


async def test_fault_delete_apply_then_fail(client: httpx.AsyncClient, rc: RestcommEmulator, emu: Emulator) -> None:
    emu.faults.set("restcomm.delete:delete_apply_then_fail,count=1")
    r = await client.delete(recs(rc) + f"/{sid(rc, 2)}", auth=auth(rc))
    assert r.status_code == 500
    assert (await client.get(recs(rc) + f"/{sid(rc, 2)}.json", auth=auth(rc))).status_code == 404


async def test_fault_file_uri_forms(client: httpx.AsyncClient, rc: RestcommEmulator, emu: Emulator) -> None:
    emu.faults.set("restcomm.list:file_uri=relative,count=1;restcomm.get:file_uri=legacy,count=1")
    item = (await get_list(client, rc, PageSize=1)).json()["recordings"][0]
    assert item["file_uri"] == f"{ROOT}/Accounts/{rc.account_sid}/Recordings/{item['sid']}.wav"
    one = (await client.get(recs(rc) + f"/{item['sid']}.json", auth=auth(rc))).json()
    assert one["file_uri"] == f"{emu.api_url}/restcomm/recordings/{item['sid']}.wav"


async def test_fault_empty_page(client: httpx.AsyncClient, rc: RestcommEmulator, emu: Emulator) -> None:
    emu.faults.set("restcomm.list:empty_page=1")
    first = (await get_list(client, rc, PageSize=10)).json()
    assert len(first["recordings"]) == 10
    second = (await get_list(client, rc, PageSize=10, Page=1)).json()
    assert second["recordings"] == [] and second["total"] == 60 and second["next_page_uri"] != "null"


async def test_fault_cursor_repeat_and_cycle(client: httpx.AsyncClient, rc: RestcommEmulator, emu: Emulator) -> None:
    emu.faults.set("restcomm.list:cursor_repeat,count=1;restcomm.list:cursor_cycle")
    body = (await get_list(client, rc, PageSize=10, Page=2)).json()
    assert "?Page=2&PageSize=10&" in body["next_page_uri"]
    last = (await get_list(client, rc, PageSize=10, Page=6)).json()
    assert last["recordings"] == [] and last["next_page_uri"].startswith(f"{recs(rc)}?Page=0&PageSize=10")


async def test_fault_schema_drift(client: httpx.AsyncClient, rc: RestcommEmulator, emu: Emulator) -> None:
    emu.faults.set("restcomm.list:schema_drift,count=1")
    items = (await get_list(client, rc, PageSize=8)).json()["recordings"]
    assert any("sid" not in x for x in items)
    assert any(x.get("date_created") is None for x in items)
    assert any(isinstance(x.get("duration"), float) for x in items)
    assert any("recording_status" in x for x in items)
    clean = (await get_list(client, rc, PageSize=8)).json()["recordings"]
    assert all("sid" in x and isinstance(x["duration"], str) for x in clean)


async def test_fault_hostile_ids_are_gson_escaped(client: httpx.AsyncClient, rc: RestcommEmulator,
                                                  emu: Emulator) -> None:
    emu.faults.set("restcomm.list:hostile_ids,count=1")
    r = await get_list(client, rc, PageSize=5)
    sids = [x["sid"] for x in r.json()["recordings"]]
    assert sids[2] == sid(rc, 2) + "x?y=1" and sids[0] == sid(rc, 0) + "../other"
    assert f'"sid": "{sid(rc, 2)}x?y\\u003d1"' in r.text


async def test_fault_gzip_bomb(client: httpx.AsyncClient, rc: RestcommEmulator, emu: Emulator) -> None:
    emu.faults.set("restcomm.list:gzip_bomb=2,count=1")
    r = await get_list(client, rc)
    assert r.headers["content-encoding"] == "gzip"
    assert int(r.headers["content-length"]) < 50_000 and len(r.content) >= 2 * 1024 * 1024
    assert json.loads(r.content)["recordings"] == []


# -- determinism, hostile data, scale, configuration ------------------------------------------------
async def test_determinism_same_seed_same_listing(make_emulator: Callable[..., Emulator],
                                                  client_for: Callable[[Emulator], httpx.AsyncClient]) -> None:
    bodies = []
    for seed in (7, 7, 8):
        emu = make_emulator(providers=("restcomm",), count=60, seed=seed)
        prov = emu["restcomm"]
        assert isinstance(prov, RestcommEmulator)
        r = await client_for(emu).get(recs(prov) + ".json", params={"PageSize": 60, "SortBy": "Duration"},
                                      auth=auth(prov))
        bodies.append(r.content)
    assert bodies[0] == bodies[1] and bodies[0] != bodies[2]


async def test_hostile_listing_still_serves(make_emulator: Callable[..., Emulator],
                                            client_for: Callable[[Emulator], httpx.AsyncClient]) -> None:
    emu = make_emulator(providers=("restcomm",), count=120, hostile=True)
    prov = emu["restcomm"]
    assert isinstance(prov, RestcommEmulator)
    client = client_for(emu)
    hostile = [prov.data.fact(i) for i in range(120) if prov.data.fact(i).hostile_id]
    assert hostile
    r = await client.get(recs(prov) + ".json", params={"PageSize": 200}, auth=auth(prov))
    assert r.status_code == 200
    items = r.json()["recordings"]
    assert len(items) == 120
    for fact in hostile:
        wanted = f"RE{fact.uid}{fact.hostile_id}"
        item = next(x for x in items if x["sid"] == wanted)           # verbatim after JSON decoding
        assert item["uri"].endswith(f"/Recordings/{wanted}.json")
        assert gson_dumps(wanted).decode() in r.text
        fetched = await client.get(recs(prov) + f"/{wanted}.json", auth=auth(prov))
        assert fetched.status_code in (404, 500)                    # not a valid Sid: no lookup
    xml = await client.get(recs(prov), params={"PageSize": 200}, auth=auth(prov))
    assert xml.status_code == 200 and xml.text.count("<Recording>") == 120


async def test_a_page_of_100000_builds_only_that_page(make_emulator: Callable[..., Emulator],
                                                      client_for: Callable[[Emulator], httpx.AsyncClient]) -> None:
    emu = make_emulator(providers=("restcomm",), count=100_000)
    prov = emu["restcomm"]
    assert isinstance(prov, RestcommEmulator)
    client = client_for(emu)
    for i in (10, 20_000):
        await client.delete(recs(prov) + f"/{prov.sid_of(prov.data.fact(i))}", auth=auth(prov))
    misses = prov.data.fact.cache_info().misses
    for params in ({"Page": 1500}, {"Page": 10, "SortBy": "DateCreated:asc"},
                   {"StartTime": "2026-01-01", "EndTime": "2026-02-01", "Page": 3}):
        r = await client.get(recs(prov) + ".json", params={"PageSize": 50, **params}, auth=auth(prov))
        assert r.status_code == 200 and len(r.json()["recordings"]) == 50
    assert prov.data.fact.cache_info().misses - misses <= 3 * 50
    body = (await client.get(recs(prov) + ".json", params={"Page": 1999}, auth=auth(prov))).json()
    assert body["total"] == 99_998 and body["num_pages"] == 1999 and len(body["recordings"]) == 48


def test_credentials_and_config_entry(rc: RestcommEmulator, emu: Emulator) -> None:
    entry = rc.config_entry()
    assert entry == {"kind": "restcomm", "base_url": emu.api_url + ROOT,
                     "account_sid": rc.account_sid, "auth_token": rc.auth_token}
    creds = rc.credentials()
    assert creds["account_sid"] == "AC" + hashlib.md5(creds["email"].encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{32}", creds["auth_token"])


def test_wire_helpers() -> None:
    assert java_double(0) == "0.0" and java_double(12.0) == "12.0" and java_double(14.70275) == "14.70275"
    assert java_double(1e7) == "1.0E7"
    assert gson_dumps({"a": "x=1&y<2>'"}).decode() == '{\n  "a": "x\\u003d1\\u0026y\\u003c2\\u003e\\u0027"\n}'
