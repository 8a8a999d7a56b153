"""The Genesys Cloud user-recordings emulator: OAuth on the login origin, the API's wire format,
paging, update, delete, the two-step media download and the provider-specific faults."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from rectui.emulator.app import Emulator
from rectui.emulator.dataset import HOSTILE_ID_SUFFIXES, HOSTILE_TEXTS
from rectui.emulator.genesys import FORMATS, GenesysEmulator, iso_ms

from .conftest import FakeClock

ROOT = "/api/v2/userrecordings"
Validate = Callable[[str, httpx.Response], None]


@pytest.fixture
def emu(make_emulator: Callable[..., Emulator]) -> Emulator:
    return make_emulator(providers=("genesys",), count=60)


@pytest.fixture
def gen(emu: Emulator) -> GenesysEmulator:
    g = emu["genesys"]
    assert isinstance(g, GenesysEmulator)
    g.transcode_block_seconds = 0.0
    return g


@pytest.fixture
def client(emu: Emulator, client_for: Callable[[Emulator], httpx.AsyncClient]) -> httpx.AsyncClient:
    return client_for(emu)


async def login(client: httpx.AsyncClient, emu: Emulator) -> dict[str, str]:
    g = emu["genesys"]
    r = await client.post(f"{emu.login_url}/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(g.client_id, g.client_secret))
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture
async def auth(client: httpx.AsyncClient, emu: Emulator) -> dict[str, str]:
    return await login(client, emu)


def shortest(g: GenesysEmulator) -> int:
    """The index of the shortest recording (media tests render its audio)."""
    return min(range(len(g.data)), key=lambda i: g.data.fact(i).duration)


def assert_error_body(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["status"] == status and body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert body["details"] == [] or all("errorCode" in d for d in body["details"])
    assert body["errors"] == []
    assert body["contextId"] == r.headers["ININ-Correlation-Id"]
    return body


# -- OAuth on the login origin -------------------------------------------------------------------

async def test_token_client_credentials_with_basic_auth(client: httpx.AsyncClient, emu: Emulator,
                                                        gen: GenesysEmulator, validate: Validate) -> None:
    basic = base64.b64encode(f"{gen.client_id}:{gen.client_secret}".encode()).decode()
    r = await client.post(f"{emu.login_url}/oauth/token", content=b"grant_type=client_credentials",
                          headers={"Authorization": f"Basic {basic}",
                                   "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 86399
    listing = await client.get(ROOT, headers={"Authorization": f"Bearer {body['access_token']}"})
    assert listing.status_code == 200
    validate("genesys", listing)


async def test_token_client_credentials_with_form_fields(client: httpx.AsyncClient, emu: Emulator,
                                                         gen: GenesysEmulator) -> None:
    r = await client.post(f"{emu.login_url}/oauth/token", data={
        "grant_type": "client_credentials", "client_id": gen.client_id, "client_secret": gen.client_secret})
    assert r.status_code == 200
    token = r.json()["access_token"]
    assert (await client.get(ROOT, headers={"Authorization": f"Bearer {token}"})).status_code == 200


@pytest.mark.parametrize(("who", "description"), [
    ("wrong_secret", "authentication failed"),
    ("unknown_client", "client not found"),
    ("no_credentials", "client not found"),
    ("garbage_basic", "client not found"),
])
async def test_token_refuses_bad_client_credentials(client: httpx.AsyncClient, emu: Emulator, gen: GenesysEmulator,
                                                    who: str, description: str) -> None:
    headers: dict[str, str] = {}
    if who == "wrong_secret":
        headers["Authorization"] = "Basic " + base64.b64encode(f"{gen.client_id}:nope".encode()).decode()
    elif who == "unknown_client":
        headers["Authorization"] = "Basic " + base64.b64encode(f"someone:{gen.client_secret}".encode()).decode()
    elif who == "garbage_basic":
        headers["Authorization"] = "Basic !!!not-base64"
    r = await client.post(f"{emu.login_url}/oauth/token", data={"grant_type": "client_credentials"},
                          headers=headers)
    # The login service answers 400 with its own shape (not the API's ErrorBody).
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_client", "description": description, "error_description": description}
    assert not gen.tokens


async def test_token_refuses_other_or_missing_grant_type(client: httpx.AsyncClient, emu: Emulator,
                                                         gen: GenesysEmulator) -> None:
    creds = (gen.client_id, gen.client_secret)
    r = await client.post(f"{emu.login_url}/oauth/token", data={"grant_type": "password"}, auth=creds)
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"
    r = await client.post(f"{emu.login_url}/oauth/token", data={}, auth=creds)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    # JSON instead of a form: the grant type is not seen
    r = await client.post(f"{emu.login_url}/oauth/token", json={"grant_type": "client_credentials"}, auth=creds)
    assert r.status_code == 400


async def test_token_endpoint_lives_on_the_login_origin_only(client: httpx.AsyncClient, emu: Emulator,
                                                             gen: GenesysEmulator) -> None:
    r = await client.post(f"{emu.api_url}/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(gen.client_id, gen.client_secret))
    assert r.status_code == 404
    r = await client.get(f"{emu.login_url}/oauth/token")
    assert r.status_code == 405


async def test_auth_refused_without_token(client: httpx.AsyncClient, validate: Validate) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}):
        r = await client.get(ROOT, headers=headers)
        body = assert_error_body(r, 401, "authentication.required")
        assert body["message"] == "No authentication bearer token specified in authorization header."
        validate("genesys", r)


async def test_auth_refused_with_wrong_token(client: httpx.AsyncClient, gen: GenesysEmulator,
                                             validate: Validate) -> None:
    for path in (ROOT, f"{ROOT}/summary", f"{ROOT}/{gen.recording_id(gen.data.fact(0))}"):
        r = await client.get(path, headers={"Authorization": "Bearer not-a-token"})
        body = assert_error_body(r, 401, "bad.credentials")
        assert body["message"] == "Invalid login credentials."
        validate("genesys", r)


async def test_token_expires_after_expires_in(client: httpx.AsyncClient, emu: Emulator, clock: FakeClock,
                                              validate: Validate) -> None:
    auth = await login(client, emu)
    clock.advance(86398)
    assert (await client.get(ROOT, headers=auth)).status_code == 200
    clock.advance(1)
    r = await client.get(ROOT, headers=auth)
    assert_error_body(r, 401, "bad.credentials")
    validate("genesys", r)
    assert (await client.get(ROOT, headers=await login(client, emu))).status_code == 200


async def test_expire_token_after_knob(make_emulator: Callable[..., Emulator],
                                       client_for: Callable[[Emulator], httpx.AsyncClient]) -> None:
    emu = make_emulator(providers=("genesys",), count=60, faults="genesys.*:expire_token_after=3")
    client = client_for(emu)
    auth = await login(client, emu)
    statuses = [(await client.get(path, headers=auth)).status_code
                for path in (ROOT, f"{ROOT}/summary", ROOT, ROOT, f"{ROOT}/summary")]
    assert statuses == [200, 200, 200, 401, 401]
    fresh = await login(client, emu)
    assert [(await client.get(ROOT, headers=fresh)).status_code for _ in range(4)] == [200, 200, 200, 401]


# -- listing and paging ------------------------------------------------------------------------------

async def test_pagenumber_is_1_based_and_pagesize_defaults_to_25(client: httpx.AsyncClient, auth: dict[str, str],
                                                                 gen: GenesysEmulator, validate: Validate) -> None:
    r = await client.get(ROOT, headers=auth)
    validate("genesys", r)
    body = r.json()
    assert body["pageSize"] == 25 and body["pageNumber"] == 1
    assert body["total"] == 60 and body["pageCount"] == 3
    assert [e["id"] for e in body["entities"]] == [gen.recording_id(gen.data.fact(i)) for i in range(25)]
    # pageNumber=0 is not "the first page" of a 0-based API
    assert (await client.get(ROOT, params={"pageNumber": 0}, headers=auth)).status_code == 400


async def test_page_uris_are_host_relative_in_the_real_shape(client: httpx.AsyncClient, auth: dict[str, str],
                                                             validate: Validate) -> None:
    first = (await client.get(ROOT, params={"pageSize": 25, "pageNumber": 1}, headers=auth)).json()
    assert first["selfUri"] == "/api/v2/userrecordings?pageSize=25&pageNumber=1"
    assert first["firstUri"] == "/api/v2/userrecordings?pageSize=25&pageNumber=1"
    assert first["nextUri"] == "/api/v2/userrecordings?pageSize=25&pageNumber=2"
    assert first["lastUri"] == "/api/v2/userrecordings?pageSize=25&pageNumber=3"
    assert "previousUri" not in first                         # absent, not null
    middle = (await client.get(ROOT, params={"pageSize": 25, "pageNumber": 2}, headers=auth)).json()
    assert middle["previousUri"] == "/api/v2/userrecordings?pageSize=25&pageNumber=1"
    assert middle["nextUri"] == "/api/v2/userrecordings?pageSize=25&pageNumber=3"
    r = await client.get(ROOT, params={"pageSize": 25, "pageNumber": 3}, headers=auth)
    validate("genesys", r)
    last = r.json()
    assert "nextUri" not in last and last["pageNumber"] == last["pageCount"] == 3
    assert len(last["entities"]) == 10


async def test_following_nexturi_walks_every_recording_once(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    ids: list[str] = []
    created: list[str] = []
    url: str | None = f"{ROOT}?pageSize=7"
    pages = 0
    while url:
        assert url.startswith("/api/v2/")              # host-relative: resolved against the API origin
        body = (await client.get(url, headers=auth)).json()
        ids += [e["id"] for e in body["entities"]]
        created += [e["dateCreated"] for e in body["entities"]]
        url = body.get("nextUri")
        pages += 1
    assert pages == 9 and len(ids) == len(set(ids)) == 60
    assert created == sorted(created, reverse=True)        # newest first (the order itself is unconfirmed)


async def test_page_past_the_end_is_an_empty_200(client: httpx.AsyncClient, auth: dict[str, str],
                                                 validate: Validate) -> None:
    r = await client.get(ROOT, params={"pageSize": 25, "pageNumber": 9}, headers=auth)
    validate("genesys", r)
    body = r.json()
    assert r.status_code == 200 and body["entities"] == [] and body["total"] == 60
    assert "nextUri" not in body and body["pageCount"] == 3


async def test_pagesize_max_100_above_is_400(client: httpx.AsyncClient, auth: dict[str, str], gen: GenesysEmulator,
                                             validate: Validate) -> None:
    ok = await client.get(ROOT, params={"pageSize": 100}, headers=auth)
    assert ok.status_code == 200 and len(ok.json()["entities"]) == 60
    r = await client.get(ROOT, params={"pageSize": 101}, headers=auth)
    body = assert_error_body(r, 400, "invalid.value")
    assert body["details"] == [{"errorCode": "invalid.value", "fieldName": "pageSize"}]
    validate("genesys", r)
    gen.page_size_over_max = "clamp"
    clamped = (await client.get(ROOT, params={"pageSize": 500}, headers=auth)).json()
    assert clamped["pageSize"] == 100 and clamped["selfUri"].startswith(f"{ROOT}?pageSize=100&")
    gen.max_page_size = 10
    assert (await client.get(ROOT, params={"pageSize": 50}, headers=auth)).json()["pageSize"] == 10


@pytest.mark.parametrize("params", [{"pageSize": "abc"}, {"pageSize": 0}, {"pageSize": "5_0"}, {"pageSize": "2.5"},
                                    {"pageNumber": -1}, {"pageNumber": "99999999999"}])
async def test_bad_paging_parameters_are_400(client: httpx.AsyncClient, auth: dict[str, str], validate: Validate,
                                             params: dict[str, object]) -> None:
    r = await client.get(ROOT, params=params, headers=auth)
    assert_error_body(r, 400, "invalid.value")
    validate("genesys", r)


async def test_no_server_side_sort_or_filter(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    plain = (await client.get(ROOT, headers=auth)).json()
    tried = (await client.get(ROOT, params={"sortOrder": "asc", "sortBy": "name", "read": "false",
                                            "dateFrom": "2026-10-01"}, headers=auth)).json()
    assert tried["entities"] == plain["entities"] and tried["total"] == plain["total"]
    assert tried["selfUri"] == plain["selfUri"]


async def test_deletes_shift_later_pages(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    page1 = (await client.get(ROOT, params={"pageSize": 10}, headers=auth)).json()["entities"]
    page2 = (await client.get(ROOT, params={"pageSize": 10, "pageNumber": 2}, headers=auth)).json()["entities"]
    assert (await client.delete(f"{ROOT}/{page1[0]['id']}", headers=auth)).status_code == 202
    again = (await client.get(ROOT, params={"pageSize": 10, "pageNumber": 2}, headers=auth)).json()["entities"]
    assert again[0]["id"] == page2[1]["id"] and again[-1]["id"] not in {e["id"] for e in page2}


async def test_paging_skips_many_deleted(client: httpx.AsyncClient, auth: dict[str, str], gen: GenesysEmulator) -> None:
    doomed = [0, 1, 2, 9, 10, 30, 31, 59]
    for i in doomed:
        assert (await client.delete(f"{ROOT}/{gen.recording_id(gen.data.fact(i))}", headers=auth)).status_code == 202
    seen: list[str] = []
    for n in range(1, 8):
        body = (await client.get(ROOT, params={"pageSize": 8, "pageNumber": n}, headers=auth)).json()
        assert body["total"] == 52 and body["pageCount"] == 7
        seen += [e["id"] for e in body["entities"]]
    assert seen == [gen.recording_id(gen.data.fact(i)) for i in range(60) if i not in doomed]


async def test_expand_conversation_only_when_asked(client: httpx.AsyncClient, auth: dict[str, str],
                                                   validate: Validate) -> None:
    plain = await client.get(ROOT, params={"pageSize": 5}, headers=auth)
    assert all("conversation" not in e for e in plain.json()["entities"])
    r = await client.get(ROOT, params={"pageSize": 5, "expand": "conversation"}, headers=auth)
    validate("genesys", r)
    body = r.json()
    conv = body["entities"][0]["conversation"]
    assert conv["participants"] and conv["selfUri"] == f"/api/v2/conversations/{conv['id']}"
    assert len(r.content) > 5 * len(plain.content)        # huge: never for list views
    assert body["nextUri"] == "/api/v2/userrecordings?pageSize=5&pageNumber=2&expand=conversation"
    # the .NET SDK joins list values with commas; the CLI repeats the parameter
    joined = await client.get(ROOT, params={"pageSize": 5, "expand": "conversation,conversation"}, headers=auth)
    assert joined.json()["entities"] == body["entities"]
    bad = await client.get(ROOT, params={"expand": "participants"}, headers=auth)
    assert_error_body(bad, 400, "invalid.value")
    validate("genesys", bad)


async def test_missing_fields_are_absent_not_null(make_emulator: Callable[..., Emulator],
                                                  client_for: Callable[[Emulator], httpx.AsyncClient]) -> None:
    emu = make_emulator(providers=("genesys",), count=100)
    client = client_for(emu)
    g = emu["genesys"]
    unnamed = [i for i in range(100) if g.data.fact(i).topic == ""]
    assert unnamed, "the dataset for this seed has no unnamed recording"
    body = (await client.get(ROOT, params={"pageSize": 100}, headers=await login(client, emu))).json()

    def nulls(value: Any) -> bool:
        if isinstance(value, dict):
            return any(v is None or nulls(v) for v in value.values())
        if isinstance(value, list):
            return any(nulls(v) for v in value)
        return False

    assert not nulls(body)
    for i in unnamed:
        assert "name" not in body["entities"][i]
    assert all("contentUri" not in e and "conversation" not in e for e in body["entities"])


async def test_entity_wire_format(client: httpx.AsyncClient, auth: dict[str, str], gen: GenesysEmulator) -> None:
    e = (await client.get(ROOT, params={"pageSize": 1}, headers=auth)).json()["entities"][0]
    f = gen.data.fact(0)
    assert e["dateCreated"] == iso_ms(f.start)
    assert len(e["dateCreated"]) == 24 and e["dateCreated"].endswith("Z") and e["dateCreated"][19] == "."
    assert e["durationMilliseconds"] == round(f.duration * 1000)
    assert isinstance(e["contentLength"], int) and isinstance(e["read"], bool)
    assert e["selfUri"] == f"{ROOT}/{e['id']}"
    assert e["workspace"]["selfUri"] == f"/api/v2/contentmanagement/workspaces/{e['workspace']['id']}"
    assert e["createdBy"]["selfUri"] == f"/api/v2/users/{e['createdBy']['id']}"
    assert len(e["id"]) == 36 and e["id"][14] == "4"


# -- one recording: get, update, delete ----------------------------------------------------------------

async def test_get_one_has_the_shape_of_a_list_element(client: httpx.AsyncClient, auth: dict[str, str],
                                                       validate: Validate) -> None:
    listed = (await client.get(ROOT, params={"pageSize": 3}, headers=auth)).json()["entities"]
    for item in listed:
        r = await client.get(item["selfUri"], headers=auth)
        validate("genesys", r)
        assert r.json() == item
    r = await client.get(listed[0]["selfUri"], params={"expand": "conversation"}, headers=auth)
    validate("genesys", r)
    assert "conversation" in r.json()


@pytest.mark.parametrize("rid", ["00000000-0000-4000-8000-000000000000", "nope", "a/b"])
async def test_get_unknown_is_404(client: httpx.AsyncClient, auth: dict[str, str], validate: Validate,
                                  rid: str) -> None:
    r = await client.get(f"{ROOT}/{rid}", headers=auth)
    assert_error_body(r, 404, "not.found")
    if "/" not in rid:
        validate("genesys", r)


async def test_put_changes_only_name_and_read(client: httpx.AsyncClient, auth: dict[str, str], clock: FakeClock,
                                              validate: Validate) -> None:
    before = (await client.get(ROOT, params={"pageSize": 1}, headers=auth)).json()["entities"][0]
    assert before["read"] is False
    clock.advance(120)
    body = dict(before, name="Renamed ⟨x⟩", read=True, durationMilliseconds=1, contentLength=2,
                dateCreated="2000-01-01T00:00:00.000Z", id="11111111-1111-4111-8111-111111111111",
                workspace={"id": "elsewhere"}, thumbnails=[{"resolution": "x"}])
    r = await client.put(before["selfUri"], json=body, headers=auth)
    validate("genesys", r)
    after = r.json()
    assert after["name"] == "Renamed ⟨x⟩" and after["read"] is True
    assert after["dateModified"] == iso_ms(datetime.fromtimestamp(clock.now, UTC))
    for field in ("id", "dateCreated", "durationMilliseconds", "contentLength", "workspace", "createdBy",
                  "thumbnails", "selfUri"):
        assert after[field] == before[field], field
    assert (await client.get(before["selfUri"], headers=auth)).json() == after
    assert (await client.get(ROOT, params={"pageSize": 1}, headers=auth)).json()["entities"][0] == after
    # a body with only read leaves the name alone
    r = await client.put(before["selfUri"], json={"read": False}, headers=auth)
    assert r.json()["name"] == "Renamed ⟨x⟩" and r.json()["read"] is False


async def test_put_refuses_bad_bodies(client: httpx.AsyncClient, auth: dict[str, str], gen: GenesysEmulator,
                                      validate: Validate) -> None:
    url = f"{ROOT}/{gen.recording_id(gen.data.fact(0))}"
    headers = {**auth, "Content-Type": "application/json"}
    for content in (b"{not json", b"[1, 2]", b'"name"'):
        r = await client.put(url, content=content, headers=headers)
        assert_error_body(r, 400, "bad.request")
        validate("genesys", r)
    for body in ({"name": 5}, {"read": "yes"}):
        r = await client.put(url, json=body, headers=auth)
        assert_error_body(r, 400, "invalid.value")
        validate("genesys", r)
    r = await client.put(url, content=b"name=x", headers={**auth, "Content-Type": "text/plain"})
    # 415 is what Genesys answers a wrong Content-Type with; the reconstructed spec does not list it for PUT.
    assert_error_body(r, 415, "unsupported.media.type")
    r = await client.put(f"{ROOT}/00000000-0000-4000-8000-000000000000", json={"name": "x"}, headers=auth)
    assert_error_body(r, 404, "not.found")
    validate("genesys", r)
    assert 0 not in gen.names


async def test_delete_is_202_async_and_irreversible(client: httpx.AsyncClient, auth: dict[str, str],
                                                    gen: GenesysEmulator, validate: Validate) -> None:
    rid = gen.recording_id(gen.data.fact(4))
    r = await client.delete(f"{ROOT}/{rid}", headers=auth)
    validate("genesys", r)
    assert r.status_code == 202 and r.content == b""
    body = (await client.get(ROOT, params={"pageSize": 100}, headers=auth)).json()
    assert body["total"] == 59 and rid not in {e["id"] for e in body["entities"]}
    for method in ("GET", "DELETE"):
        again = await client.request(method, f"{ROOT}/{rid}", headers=auth)
        assert_error_body(again, 404, "not.found")
        validate("genesys", again)
    assert (await client.get(f"{ROOT}/{rid}/media", headers=auth)).status_code == 404
    assert (await client.get(f"{ROOT}/summary", headers=auth)).json()["totalCount"] == 59


async def test_delete_async_ghost_keeps_listing_it_for_a_while(make_emulator: Callable[..., Emulator],
                                                               client_for: Callable[[Emulator], httpx.AsyncClient],
                                                               clock: FakeClock) -> None:
    emu = make_emulator(providers=("genesys",), count=60, faults="genesys.delete:delete_async_ghost=30")
    client = client_for(emu)
    auth = await login(client, emu)
    g = emu["genesys"]
    rid = g.recording_id(g.data.fact(3))
    assert (await client.delete(f"{ROOT}/{rid}", headers=auth)).status_code == 202
    listed = (await client.get(ROOT, headers=auth)).json()
    assert rid in {e["id"] for e in listed["entities"]} and listed["total"] == 60
    assert (await client.get(f"{ROOT}/{rid}", headers=auth)).status_code == 404
    assert (await client.delete(f"{ROOT}/{rid}", headers=auth)).status_code == 404
    clock.advance(29)
    assert rid in {e["id"] for e in (await client.get(ROOT, headers=auth)).json()["entities"]}
    clock.advance(2)
    listed = (await client.get(ROOT, headers=auth)).json()
    assert rid not in {e["id"] for e in listed["entities"]} and listed["total"] == 59


async def test_delete_apply_then_fail(make_emulator: Callable[..., Emulator],
                                      client_for: Callable[[Emulator], httpx.AsyncClient],
                                      validate: Validate) -> None:
    emu = make_emulator(providers=("genesys",), count=60, faults="genesys.delete:delete_apply_then_fail,count=1")
    client = client_for(emu)
    auth = await login(client, emu)
    g = emu["genesys"]
    rid = g.recording_id(g.data.fact(0))
    r = await client.delete(f"{ROOT}/{rid}", headers=auth)
    assert_error_body(r, 500, "internal.server.error")
    assert (await client.get(f"{ROOT}/{rid}", headers=auth)).status_code == 404      # it was done
    other = g.recording_id(g.data.fact(1))
    assert (await client.delete(f"{ROOT}/{other}", headers=auth)).status_code == 202


async def test_summary_counts_read_and_unread(client: httpx.AsyncClient, auth: dict[str, str], gen: GenesysEmulator,
                                              validate: Validate) -> None:
    r = await client.get(f"{ROOT}/summary", headers=auth)
    validate("genesys", r)
    first = r.json()
    listed = (await client.get(ROOT, params={"pageSize": 100}, headers=auth)).json()["entities"]
    unread = [e for e in listed if not e["read"]]
    assert first == {"readCount": 60 - len(unread), "unreadCount": len(unread), "totalCount": 60}
    assert unread
    await client.put(unread[0]["selfUri"], json={"read": True}, headers=auth)
    read_one = next(e for e in listed if e["read"])
    await client.put(read_one["selfUri"], json={"read": False}, headers=auth)
    await client.put(read_one["selfUri"], json={"read": False}, headers=auth)
    await client.delete(unread[-1]["selfUri"], headers=auth)
    now = (await client.get(f"{ROOT}/summary", headers=auth)).json()
    listed = (await client.get(ROOT, params={"pageSize": 100}, headers=auth)).json()["entities"]
    assert now["totalCount"] == 59 == len(listed)
    assert now["unreadCount"] == sum(not e["read"] for e in listed) == first["unreadCount"] - 1
    assert now["readCount"] == sum(e["read"] for e in listed)


# -- media: two steps, asynchronous, temporary link on another origin ------------------------------------

@pytest.mark.parametrize("fmt", list(FORMATS))
async def test_media_two_step_download_every_format(client: httpx.AsyncClient, auth: dict[str, str],
                                                    gen: GenesysEmulator, emu: Emulator, validate: Validate,
                                                    fmt: str) -> None:
    rid = gen.recording_id(gen.data.fact(shortest(gen)))
    url = f"{ROOT}/{rid}/media"
    r = await client.get(url, params={"formatId": fmt, "async": "true"}, headers=auth)
    validate("genesys", r)
    if fmt != "NONE":                           # the stored original needs no transcode
        assert r.status_code == 202 and r.content == b""
        r = await client.get(url, params={"formatId": fmt, "async": "true"}, headers=auth)
        validate("genesys", r)
    assert r.status_code == 200
    link = r.json()["contentLocationUri"]
    parts = urlsplit(link)
    assert link.startswith(emu.media_url + "/") and not link.startswith(emu.api_url)
    assert parts.path.endswith(f"/{fmt}.{FORMATS[fmt][1]}")
    assert {"X-Amz-Signature", "X-Amz-Expires", "X-Amz-Date"} <= set(parse_qs(parts.query))
    audio = await client.get(link)              # no bearer token
    assert audio.status_code == 200 and len(audio.content) > 0
    # The content type is the audio store's for the mapped format (audio/mpeg for MP3 and so on once
    # the real encoders are in; the placeholder store says audio/wav for all).
    stored = await emu.media.get(gen.data.fact(shortest(gen)), FORMATS[fmt][0])
    assert audio.headers["content-type"].startswith("audio/")
    assert audio.headers["content-type"].split(";")[0] == stored.content_type
    assert "authorization" not in emu.log.for_route("genesys", "download")[-1].headers


async def test_media_default_format_is_webm(client: httpx.AsyncClient, auth: dict[str, str],
                                            gen: GenesysEmulator) -> None:
    rid = gen.recording_id(gen.data.fact(shortest(gen)))
    await client.get(f"{ROOT}/{rid}/media", params={"async": "true"}, headers=auth)
    r = await client.get(f"{ROOT}/{rid}/media", params={"async": "true"}, headers=auth)
    assert r.status_code == 200
    assert urlsplit(r.json()["contentLocationUri"]).path.endswith("/WEBM.webm")


async def test_media_without_async_blocks_until_ready(client: httpx.AsyncClient, auth: dict[str, str],
                                                      gen: GenesysEmulator, emu: Emulator) -> None:
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    emu.sleep = sleep
    gen.transcode_block_seconds = 2.5
    rid = gen.recording_id(gen.data.fact(0))
    r = await client.get(f"{ROOT}/{rid}/media", params={"formatId": "MP3"}, headers=auth)
    assert r.status_code == 200 and "contentLocationUri" in r.json()
    assert slept == [2.5]
    # transcoded once: later calls answer at once, async or not
    r = await client.get(f"{ROOT}/{rid}/media", params={"formatId": "MP3", "async": "true"}, headers=auth)
    assert r.status_code == 200 and slept == [2.5]


async def test_media_transcoding_takes_configured_polls(client: httpx.AsyncClient, auth: dict[str, str],
                                                        gen: GenesysEmulator) -> None:
    gen.transcode_polls = 3
    rid = gen.recording_id(gen.data.fact(0))
    codes = [(await client.get(f"{ROOT}/{rid}/media", params={"formatId": "WAV", "async": "true"},
                               headers=auth)).status_code for _ in range(5)]
    assert codes == [202, 202, 202, 200, 200]
    # per format: another format starts transcoding afresh
    r = await client.get(f"{ROOT}/{rid}/media", params={"formatId": "MP3", "async": "true"}, headers=auth)
    assert r.status_code == 202


async def test_transcode_forever(make_emulator: Callable[..., Emulator],
                                 client_for: Callable[[Emulator], httpx.AsyncClient]) -> None:
    emu = make_emulator(providers=("genesys",), count=60, faults="genesys.media:transcode_forever")
    emu["genesys"].transcode_block_seconds = 0
    client = client_for(emu)
    auth = await login(client, emu)
    rid = emu["genesys"].recording_id(emu["genesys"].data.fact(0))
    for params in ({"formatId": "MP3", "async": "true"},) * 6 + ({"formatId": "MP3"},):
        assert (await client.get(f"{ROOT}/{rid}/media", params=params, headers=auth)).status_code == 202
    emu.faults.clear()
    r = await client.get(f"{ROOT}/{rid}/media", params={"formatId": "MP3", "async": "true"}, headers=auth)
    assert r.status_code == 202      # a real first poll now
    r = await client.get(f"{ROOT}/{rid}/media", params={"formatId": "MP3", "async": "true"}, headers=auth)
    assert r.status_code == 200


@pytest.mark.parametrize("fmt", ["mp3", "FLAC", "wav "])
async def test_media_unknown_format_is_400(client: httpx.AsyncClient, auth: dict[str, str], gen: GenesysEmulator,
                                           fmt: str) -> None:
    rid = gen.recording_id(gen.data.fact(0))
    r = await client.get(f"{ROOT}/{rid}/media", params={"formatId": fmt}, headers=auth)
    # The reconstructed spec lists no 400 for /media; a value outside the seed's enum is a 400 like
    # any invalid parameter value, so this response is not validated.
    body = assert_error_body(r, 400, "invalid.value")
    assert body["details"] == [{"errorCode": "invalid.value", "fieldName": "formatId"}]


async def test_media_link_is_temporary_and_expires_with_403(client: httpx.AsyncClient, auth: dict[str, str],
                                                            gen: GenesysEmulator, clock: FakeClock) -> None:
    rid = gen.recording_id(gen.data.fact(shortest(gen)))
    url = f"{ROOT}/{rid}/media"
    await client.get(url, params={"formatId": "WAV", "async": "true"}, headers=auth)
    link = (await client.get(url, params={"formatId": "WAV", "async": "true"}, headers=auth)).json()[
        "contentLocationUri"]
    clock.advance(599)
    assert (await client.get(link)).status_code == 200
    clock.advance(1)
    expired = await client.get(link)
    assert expired.status_code == 403 and expired.headers["content-type"].startswith("application/xml")
    assert "<Code>AccessDenied</Code>" in expired.text and "Request has expired" in expired.text
    # the cure: ask /media again (already transcoded: 200 at once) for a fresh link
    fresh = await client.get(url, params={"formatId": "WAV", "async": "true"}, headers=auth)
    assert fresh.status_code == 200 and fresh.json()["contentLocationUri"] != link
    assert (await client.get(fresh.json()["contentLocationUri"])).status_code == 200


async def test_media_link_refuses_a_bearer_token_and_tampering(client: httpx.AsyncClient, auth: dict[str, str],
                                                               gen: GenesysEmulator) -> None:
    rid = gen.recording_id(gen.data.fact(shortest(gen)))
    link = (await client.get(f"{ROOT}/{rid}/media", params={"formatId": "NONE"}, headers=auth)).json()[
        "contentLocationUri"]
    with_auth = await client.get(link, headers=auth)
    assert with_auth.status_code == 400 and "<Code>InvalidArgument</Code>" in with_auth.text
    other_format = link.replace("/NONE.wav?", "/WAV.wav?")
    assert (await client.get(other_format)).status_code == 403
    bad_sig = link[:-4] + ("0000" if not link.endswith("0000") else "1111")
    r = await client.get(bad_sig)
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text
    unsigned = link.split("?")[0]
    r = await client.get(unsigned)
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text
    assert (await client.head(link)).status_code == 403          # signed for GET only
    assert (await client.get(link)).status_code == 200


async def test_link_expired_knob(make_emulator: Callable[..., Emulator],
                                 client_for: Callable[[Emulator], httpx.AsyncClient]) -> None:
    emu = make_emulator(providers=("genesys",), count=60,
                        faults="genesys.media:link_expired,count=1;genesys.download:link_expired,after=1,count=1")
    client = client_for(emu)
    auth = await login(client, emu)
    g = emu["genesys"]
    rid = g.recording_id(g.data.fact(shortest(g)))
    url = f"{ROOT}/{rid}/media"
    stale = (await client.get(url, params={"formatId": "NONE"}, headers=auth)).json()["contentLocationUri"]
    r = await client.get(stale)              # an already expired link, handed out by /media
    assert r.status_code == 403 and "Request has expired" in r.text
    good = (await client.get(url, params={"formatId": "NONE"}, headers=auth)).json()["contentLocationUri"]
    r = await client.get(good)               # a valid link the media origin calls expired
    assert r.status_code == 403 and "Request has expired" in r.text
    assert (await client.get(good)).status_code == 200


async def test_media_of_deleted_recording(client: httpx.AsyncClient, auth: dict[str, str], gen: GenesysEmulator,
                                          validate: Validate) -> None:
    rid = gen.recording_id(gen.data.fact(shortest(gen)))
    link = (await client.get(f"{ROOT}/{rid}/media", params={"formatId": "NONE"}, headers=auth)).json()[
        "contentLocationUri"]
    await client.delete(f"{ROOT}/{rid}", headers=auth)
    r = await client.get(f"{ROOT}/{rid}/media", params={"formatId": "NONE"}, headers=auth)
    assert_error_body(r, 404, "not.found")
    validate("genesys", r)
    assert (await client.get(link)).status_code == 403


# -- errors and faults -----------------------------------------------------------------------------------

async def test_429_has_retry_after_and_code(make_emulator: Callable[..., Emulator],
                                            client_for: Callable[[Emulator], httpx.AsyncClient],
                                            validate: Validate) -> None:
    emu = make_emulator(providers=("genesys",), count=60,
                        faults="genesys.list:retry_after=42,count=1;genesys.list:status=429,count=1")
    client = client_for(emu)
    auth = await login(client, emu)
    r = await client.get(ROOT, headers=auth)
    body = assert_error_body(r, 429, "too.many.requests.retry.after")
    assert r.headers["Retry-After"] == "42"
    assert body["message"] == "Rate limit exceeded the maximum. Retry the request in [42] seconds"
    validate("genesys", r)
    r = await client.get(ROOT, headers=auth)          # a 429 without retry_after= still has the header
    assert_error_body(r, 429, "too.many.requests.retry.after")
    assert int(r.headers["Retry-After"]) >= 1
    validate("genesys", r)
    assert (await client.get(ROOT, headers=auth)).status_code == 200


async def test_rate_limit_knob(make_emulator: Callable[..., Emulator],
                               client_for: Callable[[Emulator], httpx.AsyncClient], clock: FakeClock) -> None:
    emu = make_emulator(providers=("genesys",), count=60, faults="genesys.*:rate_limit=3,window=60")
    client = client_for(emu)
    auth = await login(client, emu)
    codes = [(await client.get(ROOT, headers=auth)).status_code for _ in range(3)]
    clock.advance(20)
    r = await client.get(f"{ROOT}/summary", headers=auth)
    assert codes == [200, 200, 200]
    assert_error_body(r, 429, "too.many.requests.retry.after")
    assert r.headers["Retry-After"] == "40"
    clock.advance(40)
    assert (await client.get(ROOT, headers=auth)).status_code == 200


@pytest.mark.parametrize(("status", "code"), [(500, "internal.server.error"), (502, "bad.gateway"),
                                              (503, "service.unavailable"), (504, "request.timeout")])
async def test_server_errors_use_the_errorbody(make_emulator: Callable[..., Emulator],
                                               client_for: Callable[[Emulator], httpx.AsyncClient],
                                               status: int, code: str) -> None:
    emu = make_emulator(providers=("genesys",), count=60, faults=f"genesys.get:status={status}")
    client = client_for(emu)
    auth = await login(client, emu)
    g = emu["genesys"]
    r = await client.get(f"{ROOT}/{g.recording_id(g.data.fact(0))}", headers=auth)
    # 5xx bodies are the platform's ErrorBody; the reconstructed spec lists no 5xx, so no validation.
    assert_error_body(r, status, code)


async def test_forbid_is_403_errorbody(make_emulator: Callable[..., Emulator],
                                       client_for: Callable[[Emulator], httpx.AsyncClient],
                                       validate: Validate) -> None:
    emu = make_emulator(providers=("genesys",), count=60, faults="genesys.list:forbid")
    client = client_for(emu)
    r = await client.get(ROOT, headers=await login(client, emu))
    assert_error_body(r, 403, "not.authorized")
    validate("genesys", r)


async def test_injected_errors_on_login_and_media_origins_keep_their_shapes(
        make_emulator: Callable[..., Emulator], client_for: Callable[[Emulator], httpx.AsyncClient]) -> None:
    emu = make_emulator(providers=("genesys",), count=60,
                        faults="genesys.token:status=503,count=1;genesys.download:status=500")
    client = client_for(emu)
    g = emu["genesys"]
    r = await client.post(f"{emu.login_url}/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(g.client_id, g.client_secret))
    assert r.status_code == 503 and r.json()["error"] == "server_error"
    auth = await login(client, emu)
    link = (await client.get(f"{ROOT}/{g.recording_id(g.data.fact(0))}/media", params={"formatId": "NONE"},
                             headers=auth)).json()["contentLocationUri"]
    r = await client.get(link)
    assert r.status_code == 500 and r.text.startswith("<?xml") and "<Code>InternalError</Code>" in r.text


async def test_empty_page_knob(make_emulator: Callable[..., Emulator],
                               client_for: Callable[[Emulator], httpx.AsyncClient]) -> None:
    emu = make_emulator(providers=("genesys",), count=60, faults="genesys.list:empty_page,after=1,count=1")
    client = client_for(emu)
    auth = await login(client, emu)
    first = (await client.get(ROOT, headers=auth)).json()
    second = (await client.get(first["nextUri"], headers=auth)).json()
    assert second["entities"] == [] and second["total"] == 60 and second["nextUri"].endswith("pageNumber=3")
    assert len((await client.get(first["nextUri"], headers=auth)).json()["entities"]) == 25


async def test_cursor_repeat_and_cycle_knobs(make_emulator: Callable[..., Emulator],
                                             client_for: Callable[[Emulator], httpx.AsyncClient]) -> None:
    emu = make_emulator(providers=("genesys",), count=60, faults="genesys.list:cursor_repeat,count=1")
    client = client_for(emu)
    auth = await login(client, emu)
    body = (await client.get(ROOT, headers=auth)).json()
    assert body["nextUri"] == body["selfUri"]
    emu.faults.set("genesys.list:cursor_cycle")
    last = (await client.get(ROOT, params={"pageNumber": 3}, headers=auth)).json()
    assert last["nextUri"] == last["firstUri"]
    middle = (await client.get(ROOT, params={"pageNumber": 2}, headers=auth)).json()
    assert middle["nextUri"].endswith("pageNumber=3")


@pytest.mark.parametrize("mode", ["mix", "no_id", "null", "bad", "unknown"])
async def test_schema_drift_knob(make_emulator: Callable[..., Emulator],
                                 client_for: Callable[[Emulator], httpx.AsyncClient], mode: str) -> None:
    emu = make_emulator(providers=("genesys",), count=60, faults=f"genesys.list:schema_drift={mode}")
    client = client_for(emu)
    entities = (await client.get(ROOT, params={"pageSize": 8}, headers=await login(client, emu))).json()["entities"]
    if mode in ("mix", "no_id"):
        assert any("id" not in e for e in entities)
    if mode in ("mix", "null"):
        assert any(e.get("dateCreated", "") is None for e in entities)
    if mode in ("mix", "bad"):
        assert any(isinstance(e.get("durationMilliseconds"), str) for e in entities)
    if mode in ("mix", "unknown"):
        assert any("futureField" in e and "contentUri" in e for e in entities)


async def test_hostile_titles_and_ids_knobs(make_emulator: Callable[..., Emulator],
                                            client_for: Callable[[Emulator], httpx.AsyncClient]) -> None:
    emu = make_emulator(providers=("genesys",), count=60, faults="genesys.list:hostile_titles;genesys.list:hostile_ids")
    client = client_for(emu)
    entities = (await client.get(ROOT, params={"pageSize": 12}, headers=await login(client, emu))).json()["entities"]
    assert all(e["name"] in HOSTILE_TEXTS for e in entities)
    assert all(any(e["id"].endswith(s) for s in HOSTILE_ID_SUFFIXES) for e in entities)
    assert all(e["selfUri"] == f"{ROOT}/{e['id']}" for e in entities)


async def test_redirect_knob_points_to_another_origin(make_emulator: Callable[..., Emulator],
                                                      client_for: Callable[[Emulator], httpx.AsyncClient]) -> None:
    emu = make_emulator(providers=("genesys",), count=60, faults="genesys.list:redirect,count=1")
    client = client_for(emu)
    auth = await login(client, emu)
    r = await client.get(ROOT, params={"pageSize": 5}, headers=auth)
    assert r.status_code == 302
    assert r.headers["location"] == f"{emu.media_url}{ROOT}?pageSize=5"
    assert (await client.get(ROOT, headers=auth)).status_code == 200


# -- determinism, hostile data, config, scale ---------------------------------------------------------------

async def test_same_seed_same_listing(make_emulator: Callable[..., Emulator],
                                      client_for: Callable[[Emulator], httpx.AsyncClient]) -> None:
    bodies = []
    for seed in (7, 7, 8):
        emu = make_emulator(providers=("genesys",), count=60, seed=seed)
        client = client_for(emu)
        auth = await login(client, emu)
        bodies.append([(await client.get(ROOT, params={"pageNumber": n, "expand": "conversation"},
                                         headers=auth)).content for n in (1, 3)])
    assert bodies[0] == bodies[1]
    assert bodies[0] != bodies[2]


async def test_hostile_listing_still_serves(make_emulator: Callable[..., Emulator],
                                            client_for: Callable[[Emulator], httpx.AsyncClient]) -> None:
    emu = make_emulator(providers=("genesys",), count=100, hostile=True, seed=3)
    g = emu["genesys"]
    client = client_for(emu)
    auth = await login(client, emu)
    r = await client.get(ROOT, params={"pageSize": 100}, headers=auth)
    assert r.status_code == 200
    by_index = r.json()["entities"]
    facts = [g.data.fact(i) for i in range(100)]
    hostile_titles = [(i, f.hostile_text) for i, f in enumerate(facts) if f.hostile_text is not None]
    hostile_ids = [(i, f.hostile_id) for i, f in enumerate(facts) if f.hostile_id is not None]
    assert hostile_titles and hostile_ids
    for i, text in hostile_titles:
        assert by_index[i]["name"] == text                          # verbatim
    for i, suffix in hostile_ids:
        assert by_index[i]["id"].endswith(suffix) and by_index[i]["selfUri"].endswith(suffix)
    raw = r.text
    assert "\x1b" not in raw and "\x00" not in raw                # JSON-escaped, not raw control bytes
    assert "\\u001b" in raw or "\\u0000" in raw
    assert json.loads(raw)["entities"] == by_index
    # Looked up by its (encoded) path, a hostile id is found, or (with a "/" in it) a JSON 404.
    for i, suffix in hostile_ids:
        rid = by_index[i]["id"]
        got = await client.get(f"{ROOT}/{quote(rid, safe='')}", headers=auth)
        if "/" in suffix:
            assert_error_body(got, 404, "not.found")
        else:
            assert got.status_code == 200 and got.json()["id"] == rid
    # its media still downloads: the object key of the link is the plain UUID
    rid = next(by_index[i]["id"] for i, suffix in hostile_ids if "/" not in suffix)
    media = await client.get(f"{ROOT}/{quote(rid, safe='')}/media", params={"formatId": "NONE"}, headers=auth)
    assert media.status_code == 200
    assert (await client.get(media.json()["contentLocationUri"])).status_code == 200


async def test_config_entry_and_credentials_reach_the_emulator(emu: Emulator, gen: GenesysEmulator,
                                                               client: httpx.AsyncClient) -> None:
    entry = gen.config_entry()
    assert entry == {"kind": "genesys", "base_url": emu.api_url, "login_url": emu.login_url,
                     "client_id": gen.client_id, "client_secret": gen.client_secret}
    assert gen.credentials() == {"client_id": gen.client_id, "client_secret": gen.client_secret}
    r = await client.post(f"{entry['login_url']}/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(str(entry["client_id"]), str(entry["client_secret"])))
    token = r.json()["access_token"]
    r = await client.get(f"{entry['base_url']}{ROOT}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert emu.log.counts["genesys.token"] == 1 and emu.log.counts["genesys.list"] == 1
    assert emu.log.for_route("genesys", "list")[-1].headers["authorization"] == f"Bearer {token}"


async def test_deep_page_of_a_large_dataset(make_emulator: Callable[..., Emulator],
                                            client_for: Callable[[Emulator], httpx.AsyncClient]) -> None:
    emu = make_emulator(providers=("genesys",), count=100_000)
    client = client_for(emu)
    auth = await login(client, emu)
    g = emu["genesys"]
    body = (await client.get(ROOT, params={"pageSize": 100, "pageNumber": 1000}, headers=auth)).json()
    assert body["total"] == 100_000 and body["pageCount"] == 1000 and "nextUri" not in body
    assert [e["id"] for e in body["entities"]] == [g.recording_id(g.data.fact(i)) for i in range(99_900, 100_000)]
    summary = (await client.get(f"{ROOT}/summary", headers=auth)).json()
    assert summary["totalCount"] == 100_000 and summary["readCount"] + summary["unreadCount"] == 100_000
