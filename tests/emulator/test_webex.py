"""The Webex Calling converged-recordings emulator: wire format, quirks, auth, faults, hostile data."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from rectui.emulator.dataset import HOSTILE_TEXTS
from rectui.emulator.faults import KNOWN_KNOBS, FaultSpecError, parse_faults
from rectui.emulator.webex import WebexEmulator

ANCHOR = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)   # the conftest anchor (checked in `setup`)
LIST = "/v1/convergedRecordings"
ADMIN_LIST = "/v1/admin/convergedRecordings"
NOW = ANCHOR + timedelta(hours=1)          # the conftest clock starts an hour after the anchor


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def setup(make_emulator, client_for):
    """`setup(count=..., hostile=..., faults=...)` -> (emulator, webex part, client)."""

    def make(**kwargs: Any):
        kwargs.setdefault("count", 600)
        emu = make_emulator(providers=("webex",), **kwargs)
        assert emu.anchor == ANCHOR and emu.now() == NOW
        assert isinstance(emu["webex"], WebexEmulator)
        return emu, emu["webex"], client_for(emu)

    return make


def bearer(w: WebexEmulator, role: str = "user") -> dict[str, str]:
    token = {"user": w.user_token, "admin": w.admin_token, "compliance": w.compliance_token}[role]
    return {"Authorization": f"Bearer {token}"}


def window(days_back: float = 0, days: float = 30) -> dict[str, str]:
    end = ANCHOR - timedelta(days=days_back) + timedelta(seconds=1)
    return {"from": iso(end - timedelta(days=days)), "to": iso(end)}


async def walk(client: httpx.AsyncClient, url: str, headers: dict[str, str], params=None, limit: int = 200):
    """Follow rel="next" links as given; returns (items, responses)."""
    items, responses = [], []
    r = await client.get(url, headers=headers, params=params)
    while True:
        assert r.status_code == 200, r.text
        responses.append(r)
        items.extend(r.json()["items"])
        nxt = r.links.get("next")
        if not nxt or len(responses) >= limit:
            return items, responses
        r = await client.get(nxt["url"], headers=headers)


async def first_available(client, w, **params) -> dict[str, Any]:
    r = await client.get(LIST, headers=bearer(w), params={**window(), "max": 100, **params})
    return r.json()["items"][0]


def expected_indices(w: WebexEmulator, start: datetime, end: datetime, status: str = "available") -> list[int]:
    return [i for i in w.data.index_range(start, end) if w.state(i).status == status]


# -- listing: shape, spec, paging ---------------------------------------------------------------

async def test_list_validates_against_spec_and_has_the_documented_fields(setup, validate):
    _, w, c = setup()
    r = await c.get(LIST, headers=bearer(w), params={**window(), "max": 5})
    validate("webex", r)
    body = r.json()
    assert list(body) == ["items"]
    assert len(body["items"]) == 5
    item = body["items"][0]
    for key in ("id", "topic", "createTime", "timeRecorded", "ownerId", "ownerType", "ownerEmail", "format",
                "durationSeconds", "sizeBytes", "serviceType", "storageRegion", "status", "serviceData"):
        assert key in item
    assert item["format"] == "MP3" and item["status"] == "available"
    assert isinstance(item["durationSeconds"], int) and isinstance(item["sizeBytes"], int)
    assert set(item["serviceData"]) == {"locationId", "callSessionId"}
    assert parse(item["timeRecorded"]) + timedelta(seconds=item["durationSeconds"]) <= parse(item["createTime"])
    assert "temporaryDirectDownloadLinks" not in item     # the list never carries a download link
    assert r.headers["trackingid"].startswith("ROUTER_")


async def test_pagination_lives_only_in_the_link_header(setup, validate):
    emu, w, c = setup()
    params = {**window(), "max": 7}
    items, responses = await walk(c, LIST, bearer(w), params)
    start, end = parse(params["from"]), parse(params["to"])
    want = [w.recording_id(w.data.fact(i)) for i in expected_indices(w, start, end)]
    assert len(want) > 14                             # at least three pages
    assert [it["id"] for it in items] == want         # nothing lost, nothing twice, in order
    for r in responses:
        validate("webex", r)
        assert list(r.json()) == ["items"]            # no total, page number or cursor in the body
    for r in responses[:-1]:
        link = r.headers["link"]
        assert link.startswith(f"<{emu.api_url}{LIST}?") and link.endswith('>; rel="next"')
    assert "link" not in responses[-1].headers        # the end: no Link header at all
    assert len(responses) == -(-len(want) // 7)


async def test_next_link_carries_the_cursor_and_repeats_the_query(setup):
    _, w, c = setup()
    params = {**window(), "max": 3, "serviceType": "calling", "topic": "call"}
    r = await c.get(LIST, headers=bearer(w), params=params)
    nxt = urlsplit(r.links["next"]["url"])
    q = {k: v[0] for k, v in parse_qs(nxt.query).items()}
    assert q["max"] == "3" and q["from"] == params["from"] and q["to"] == params["to"]
    assert q["serviceType"] == "calling" and q["topic"] == "call"
    last_id = r.json()["items"][-1]["id"]
    assert base64.urlsafe_b64decode(q["before"] + "==").decode() == last_id
    # filters persist across pages
    items, _ = await walk(c, LIST, bearer(w), params)
    assert items and all("call" in it["topic"].casefold() and it["serviceType"] == "calling" for it in items)


async def test_next_link_pins_the_default_window_so_paging_does_not_drift(setup, clock):
    _, w, c = setup(count=6000)
    r = await c.get(LIST, headers=bearer(w), params={"max": 2})
    nxt = r.links["next"]["url"]
    q = parse_qs(urlsplit(nxt).query)
    assert q["from"] == [iso(NOW - timedelta(days=7))] and q["to"] == [iso(NOW)]
    clock.advance(86400 * 3)
    r2 = await c.get(nxt, headers=bearer(w))
    assert r2.status_code == 200
    assert r2.json()["items"][0]["id"] != r.json()["items"][0]["id"]


async def test_bad_cursor_is_400(setup, validate):
    _, w, c = setup()
    r = await c.get(LIST, headers=bearer(w), params={**window(), "before": "bm90LWFuLWlk"})
    assert r.status_code == 400
    validate("webex", r)


async def test_no_server_side_sort_always_newest_first(setup):
    _, w, c = setup()
    r = await c.get(LIST, headers=bearer(w), params={**window(), "max": 100, "sortBy": "duration", "order": "asc"})
    times = [parse(it["createTime"]) for it in r.json()["items"]]
    assert len(times) > 5 and times == sorted(times, reverse=True)


async def test_max_defaults_to_10_and_tops_out_at_100(setup, validate):
    _, w, c = setup(count=6000)
    r = await c.get(LIST, headers=bearer(w), params=window())
    assert len(r.json()["items"]) == 10
    r = await c.get(LIST, headers=bearer(w), params={**window(), "max": 100})
    assert len(r.json()["items"]) == 100 and "link" in r.headers
    for bad in ("0", "101", "-1", "ten"):
        r = await c.get(LIST, headers=bearer(w), params={**window(), "max": bad})
        assert r.status_code == 400, bad
        assert "max" in r.json()["message"]
        if bad != "ten":        # the spec types max as an integer, so the request itself would not validate
            validate("webex", r)


async def test_default_window_is_7_days_and_empty_does_not_mean_no_recordings(setup):
    _, w, c = setup(count=60)                   # one recording every ~12 days
    r = await c.get(LIST, headers=bearer(w), params={"max": 100})
    want = expected_indices(w, NOW - timedelta(days=7), NOW)
    got = [it["id"] for it in r.json()["items"]]
    assert got == [w.recording_id(w.data.fact(i)) for i in want]
    assert all(parse(it["createTime"]) >= NOW - timedelta(days=7) for it in r.json()["items"])
    # walk back window by window: older recordings are there
    older = await c.get(LIST, headers=bearer(w), params={**window(days_back=7), "max": 100})
    assert older.json()["items"]
    # only `from`: to = from + 7 d; only `to`: from = to - 7 d
    f = ANCHOR - timedelta(days=40)
    r = await c.get(LIST, headers=bearer(w), params={"from": iso(f), "max": 100})
    assert all(f <= parse(it["createTime"]) < f + timedelta(days=7) for it in r.json()["items"])
    r = await c.get(LIST, headers=bearer(w), params={"to": iso(f), "max": 100})
    assert all(f - timedelta(days=7) <= parse(it["createTime"]) < f for it in r.json()["items"])


@pytest.mark.parametrize("path", [LIST, ADMIN_LIST])
async def test_span_over_30_days_is_400(setup, validate, path):
    _, w, c = setup()
    role = "user" if path == LIST else "admin"
    end = ANCHOR
    ok = await c.get(path, headers=bearer(w, role), params={"from": iso(end - timedelta(days=30)), "to": iso(end)})
    assert ok.status_code == 200
    r = await c.get(path, headers=bearer(w, role),
                    params={"from": iso(end - timedelta(days=30, seconds=1)), "to": iso(end)})
    assert r.status_code == 400
    validate("webex", r)
    assert "30 days" in r.json()["message"]


async def test_from_after_to_is_400_and_any_iso8601_is_accepted(setup, validate):
    _, w, c = setup()
    r = await c.get(LIST, headers=bearer(w), params={"from": "2026-10-20T00:00:00Z", "to": "2026-10-10T00:00:00Z"})
    assert r.status_code == 400
    validate("webex", r)
    r = await c.get(LIST, headers=bearer(w), params={"from": "yesterday", "to": "2026-10-10T00:00:00Z"})
    assert r.status_code == 400
    a = await c.get(LIST, headers=bearer(w), params={"from": "2026-10-05T00:00:00Z", "to": "2026-10-25T00:00:00Z"})
    b = await c.get(LIST, headers=bearer(w), params={"from": "2026-10-05T08:00:00+08:00", "to": "2026-10-25"})
    assert a.json()["items"] and a.json() == b.json()


async def test_times_follow_the_timezone_header(setup, validate):
    _, w, c = setup()
    utc = await c.get(LIST, headers=bearer(w), params=window())
    sg = await c.get(LIST, headers={**bearer(w), "timezone": "Asia/Singapore"}, params=window())
    ny = await c.get(LIST, headers={**bearer(w), "timezone": "America/New_York"}, params=window())
    validate("webex", sg)
    for a, b, d in zip(utc.json()["items"], sg.json()["items"], ny.json()["items"], strict=True):
        assert a["createTime"].endswith("Z") and b["createTime"].endswith("+08:00")
        assert d["createTime"][-6:] in ("-04:00", "-05:00")
        assert parse(a["createTime"]) == parse(b["createTime"]) == parse(d["createTime"])
        assert parse(a["timeRecorded"]) == parse(b["timeRecorded"])
    bad = await c.get(LIST, headers={**bearer(w), "timezone": "Mars/Olympus_Mons"}, params=window())
    assert bad.status_code == 400
    validate("webex", bad)


async def test_ids_appear_with_and_without_hyphens_and_are_opaque(setup, validate):
    _, w, c = setup()
    items, _ = await walk(c, LIST, bearer(w), {**window(), "max": 100})
    items += (await walk(c, LIST, bearer(w), {**window(days_back=30), "max": 100}))[0]
    plain = [it["id"] for it in items if "-" not in it["id"]]
    dashed = [it["id"] for it in items if "-" in it["id"]]
    assert plain and dashed
    assert all(len(x) == 32 for x in plain) and all(len(x) == 36 for x in dashed)
    for rid in (plain[0], dashed[0]):
        r = await c.get(f"{LIST}/{rid}", headers=bearer(w))
        assert r.status_code == 200 and r.json()["id"] == rid
        validate("webex", r)
    # the other spelling of the same id is not the id
    other = dashed[0].replace("-", "")
    assert (await c.get(f"{LIST}/{other}", headers=bearer(w))).status_code == 404


# -- filters --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "value", "field"), [
    ("serviceType", "customerAssist", "serviceType"),
    ("serviceType", "calling", "serviceType"),
    ("ownerType", "place", "ownerType"),
    ("ownerType", "user", "ownerType"),
    ("storageRegion", "GB", "storageRegion"),
    ("format", "MP3", "format"),
])
async def test_enum_filters(setup, validate, name, value, field):
    _, w, c = setup(count=3000)
    r = await c.get(LIST, headers=bearer(w), params={**window(), "max": 100, name: value})
    validate("webex", r)
    items, _ = await walk(c, LIST, bearer(w), {**window(), "max": 100, name: value})
    assert items and all(it[field] == value for it in items)
    everything, _ = await walk(c, LIST, bearer(w), {**window(), "max": 100})
    assert [it["id"] for it in items] == [it["id"] for it in everything if it[field] == value]


@pytest.mark.parametrize(("name", "value"), [("serviceType", "meeting"), ("format", "WAV"), ("ownerType", "robot"),
                                            ("storageRegion", "XX"), ("status", "purged"), ("status", "gone")])
async def test_invalid_filter_values_are_400(setup, name, value):
    _, w, c = setup()
    r = await c.get(LIST, headers=bearer(w), params={**window(), name: value})
    assert r.status_code == 400
    assert r.json()["errors"][0]["description"] == r.json()["message"]


async def test_location_and_topic_filters(setup):
    _, w, c = setup(count=3000)
    everything, _ = await walk(c, LIST, bearer(w), {**window(), "max": 100})
    loc = everything[0]["serviceData"]["locationId"]
    got, _ = await walk(c, LIST, bearer(w), {**window(), "max": 100, "locationId": loc})
    assert [it["id"] for it in got] == [it["id"] for it in everything if it["serviceData"]["locationId"] == loc]
    got, _ = await walk(c, LIST, bearer(w), {**window(), "max": 100, "topic": "CALL WITH"})
    assert got and all("call with" in it["topic"].lower() for it in got)   # case-insensitive
    assert len(got) == sum("call with" in it["topic"].lower() for it in everything)


async def test_admin_listing_filters_by_owner_and_user_listing_ignores_it(setup, validate):
    _, w, c = setup(count=3000)
    admin = bearer(w, "admin")
    everything, _ = await walk(c, ADMIN_LIST, admin, {**window(), "max": 100})
    email, oid = everything[0]["ownerEmail"], everything[0]["ownerId"]
    r = await c.get(ADMIN_LIST, headers=admin, params={**window(), "max": 100, "ownerEmail": email.upper()})
    validate("webex", r)
    assert [it["id"] for it in r.json()["items"]] == [it["id"] for it in everything if it["ownerEmail"] == email]
    r2 = await c.get(ADMIN_LIST, headers=admin, params={**window(), "max": 100, "ownerId": oid})
    assert r2.json() == r.json()
    mine, _ = await walk(c, LIST, bearer(w), {**window(), "max": 100, "ownerEmail": email})
    assert len(mine) == len(everything)


# -- auth -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"},
                                     {"Authorization": "Basic dXNlcjpwdw=="}, {"Authorization": "Bearer"}])
async def test_auth_refused_without_or_with_wrong_credentials(setup, validate, headers):
    _, _, c = setup()
    r = await c.get(LIST, headers=headers, params=window())
    assert r.status_code == 401
    validate("webex", r)
    body = r.json()
    assert body["message"] == "The request requires a valid access token set in the Authorization request header."
    assert body["errors"] == [{"description": body["message"]}]
    assert body["trackingId"].startswith("ROUTER_") and r.headers["trackingid"] == body["trackingId"]


async def test_scopes_decide_which_listing_answers(setup, validate):
    _, w, c = setup()
    r = await c.get(ADMIN_LIST, headers=bearer(w), params=window())
    assert r.status_code == 403
    validate("webex", r)
    assert (await c.get(LIST, headers=bearer(w, "admin"), params=window())).status_code == 403
    for role in ("admin", "compliance"):
        r = await c.get(ADMIN_LIST, headers=bearer(w, role), params=window())
        assert r.status_code == 200
        validate("webex", r)
    # status=purged is for compliance officers only
    assert (await c.get(ADMIN_LIST, headers=bearer(w, "admin"),
                        params={**window(), "status": "purged"})).status_code == 403
    assert (await c.get(ADMIN_LIST, headers=bearer(w, "compliance"),
                        params={**window(), "status": "purged"})).status_code == 200


# -- details, links, media ------------------------------------------------------------------------

async def test_download_link_comes_from_a_separate_details_call_on_the_media_origin(setup, validate):
    emu, w, c = setup()
    items = (await c.get(LIST, headers=bearer(w), params={**window(), "max": 100})).json()["items"]
    assert not any("temporaryDirectDownloadLinks" in it or "Link" in json.dumps(list(it)) for it in items)
    rid = next(it["id"] for it in items if not w.prevents_download(w.data.fact(w.index_of(it["id"]))))
    r = await c.get(f"{LIST}/{rid}", headers=bearer(w))
    validate("webex", r)
    links = r.json()["temporaryDirectDownloadLinks"]
    assert links["audioDownloadLink"].startswith(f"{emu.media_url}/")
    assert parse(links["expiration"]) == NOW + timedelta(hours=3)
    q = parse_qs(urlsplit(links["audioDownloadLink"]).query)
    assert q["recordUUID"] == [rid] and q["type"] == ["calling"]
    assert int(q["timestamp"][0]) == int((NOW + timedelta(hours=3)).timestamp() * 1000)
    # the link needs no Authorization header: its ticket is the credential
    audio = await c.get(links["audioDownloadLink"])
    assert audio.status_code == 200
    assert audio.headers["content-type"].startswith("audio/")
    assert audio.headers["content-type"] == (await emu.media.get(w.data.fact(w.index_of(rid)), "mp3")).content_type
    assert len(audio.content) > 1000
    assert emu.log.for_route("webex", "media")[-1].headers.get("authorization") is None


async def test_transcript_and_notes_links_and_notes_need_the_user_token(setup):
    _, w, c = setup()
    facts = {}
    for back in range(0, 360, 30):       # walk back until the data has both kinds of recording
        items, _ = await walk(c, LIST, bearer(w), {**window(days_back=back), "max": 100})
        facts.update({it["id"]: w.data.fact(w.index_of(it["id"])) for it in items})
        if any(w.has_transcript(f) and w.has_notes(f) and not w.prevents_download(f) for f in facts.values()):
            break
    rid = next(k for k, f in facts.items() if w.has_transcript(f) and w.has_notes(f) and not w.prevents_download(f))
    links = (await c.get(f"{LIST}/{rid}", headers=bearer(w))).json()["temporaryDirectDownloadLinks"]
    assert {"audioDownloadLink", "transcriptDownloadLink", "suggestedNotesDownloadLink", "shortNotesDownloadLink",
            "actionItemsDownloadLink", "expiration"} == set(links)
    t = await c.get(links["transcriptDownloadLink"])
    assert t.status_code == 200 and t.text.startswith("WEBVTT")
    notes = links["shortNotesDownloadLink"]
    assert (await c.get(notes)).status_code == 401
    ok = await c.get(notes, headers=bearer(w))
    assert ok.status_code == 200 and ok.text
    plain = next(k for k, f in facts.items() if not w.has_transcript(f) and not w.has_notes(f)
                 and not w.prevents_download(f))
    links = (await c.get(f"{LIST}/{plain}", headers=bearer(w))).json()["temporaryDirectDownloadLinks"]
    assert set(links) == {"audioDownloadLink", "expiration"}


async def test_download_link_expires_after_3_hours(setup, clock):
    _, w, c = setup()
    items = (await c.get(LIST, headers=bearer(w), params={**window(), "max": 100})).json()["items"]
    rid = next(it["id"] for it in items if not w.prevents_download(w.data.fact(w.index_of(it["id"]))))
    link = (await c.get(f"{LIST}/{rid}", headers=bearer(w))).json()["temporaryDirectDownloadLinks"]["audioDownloadLink"]
    clock.advance(3 * 3600 - 1)
    assert (await c.get(link)).status_code == 200
    clock.advance(1)
    r = await c.get(link)
    assert r.status_code == 403
    assert set(r.json()) == {"message", "errors", "trackingId"}
    # a fresh details call gives a working link again
    fresh = (await c.get(f"{LIST}/{rid}", headers=bearer(w))).json()
    link2 = fresh["temporaryDirectDownloadLinks"]["audioDownloadLink"]
    assert link2 != link and (await c.get(link2)).status_code == 200


async def test_tampered_link_is_refused(setup):
    _, w, c = setup()
    items = (await c.get(LIST, headers=bearer(w), params={**window(), "max": 100})).json()["items"]
    rid = next(it["id"] for it in items if not w.prevents_download(w.data.fact(w.index_of(it["id"]))))
    link = (await c.get(f"{LIST}/{rid}", headers=bearer(w))).json()["temporaryDirectDownloadLinks"]["audioDownloadLink"]
    stamp = parse_qs(urlsplit(link).query)["timestamp"][0]
    longer = link.replace(f"timestamp={stamp}", f"timestamp={int(stamp) + 86_400_000}")
    assert (await c.get(longer)).status_code == 403
    other = items[1]["id"] if items[0]["id"] == rid else items[0]["id"]
    assert (await c.get(link.replace(rid, other))).status_code == 403


async def test_links_absent_for_prevent_downloading(setup, validate):
    _, w, c = setup()
    items, _ = await walk(c, LIST, bearer(w), {**window(), "max": 100})
    blocked = [it["id"] for it in items if w.prevents_download(w.data.fact(w.index_of(it["id"])))]
    assert blocked
    r = await c.get(f"{LIST}/{blocked[0]}", headers=bearer(w))
    validate("webex", r)
    assert r.status_code == 200 and "temporaryDirectDownloadLinks" not in r.json()


async def test_links_absent_for_admins_present_for_compliance(setup, validate):
    _, w, c = setup()
    items = (await c.get(LIST, headers=bearer(w), params={**window(), "max": 100})).json()["items"]
    rid = next(it["id"] for it in items if not w.prevents_download(w.data.fact(w.index_of(it["id"]))))
    r = await c.get(f"{LIST}/{rid}", headers=bearer(w, "admin"))
    validate("webex", r)
    assert r.status_code == 200 and "temporaryDirectDownloadLinks" not in r.json()
    r = await c.get(f"{LIST}/{rid}", headers=bearer(w, "compliance"))
    assert "audioDownloadLink" in r.json()["temporaryDirectDownloadLinks"]


async def test_details_unknown_id_is_404_with_webex_body(setup, validate):
    _, w, c = setup()
    r = await c.get(f"{LIST}/7c1d9e52-3a6b-4f08-9d2e-5b4a3c2d1e0f", headers=bearer(w))
    assert r.status_code == 404
    validate("webex", r)
    assert r.json()["message"] == "The requested resource could not be found."
    r = await c.get(f"{LIST}/7c1d9e52-3a6b-4f08-9d2e-5b4a3c2d1e0f", headers={})
    assert r.status_code == 401
    validate("webex", r)
    r = await c.get(f"{LIST}/7c1d9e52-3a6b-4f08-9d2e-5b4a3c2d1e0f/metadata", headers=bearer(w))
    assert r.status_code == 404
    validate("webex", r)
    r = await c.get(ADMIN_LIST, headers={"Authorization": "Bearer expired"}, params=window())
    assert r.status_code == 401
    validate("webex", r)


async def test_metadata(setup, validate):
    _, w, c = setup()
    item = await first_available(c, w)
    r = await c.get(f"{LIST}/{item['id']}/metadata", headers=bearer(w))
    validate("webex", r)
    body = r.json()
    assert body["id"] == item["id"] and body["ownerEmail"] == item["ownerEmail"]
    assert "mediaStreams" not in body["serviceData"]["callActivity"][0]
    r = await c.get(f"{LIST}/{item['id']}/metadata", headers=bearer(w), params={"showAllTypes": "true"})
    validate("webex", r)
    assert "mediaStreams" in r.json()["serviceData"]["callActivity"][0]


async def test_wrong_method_and_unknown_path_have_webex_error_bodies(setup):
    _, w, c = setup()
    item = await first_available(c, w)
    r = await c.post(f"{LIST}/{item['id']}", headers=bearer(w))
    assert r.status_code == 405 and set(r.json()) == {"message", "errors", "trackingId"}
    r = await c.get(f"{LIST}/softDelete", headers=bearer(w))
    assert r.status_code == 404 and set(r.json()) == {"message", "errors", "trackingId"}
    r = await c.get("/v1/recordings", headers=bearer(w))
    assert r.status_code == 404 and "trackingId" in r.json()


# -- delete semantics -----------------------------------------------------------------------------

async def test_delete_for_users_is_a_reversible_recycle_bin_move_until_purged(setup, validate):
    _, w, c = setup()
    params = {**window(), "max": 100}
    before = (await c.get(LIST, headers=bearer(w), params=params)).json()["items"]
    rid = before[0]["id"]
    bin_before = (await c.get(LIST, headers=bearer(w), params={**params, "status": "deleted"})).json()["items"]
    r = await c.post(f"{LIST}/softDelete", headers=bearer(w), json={"trashAll": False, "recordingIds": [rid]})
    assert r.status_code == 204 and r.content == b""
    validate("webex", r)
    after = (await c.get(LIST, headers=bearer(w), params=params)).json()["items"]
    assert rid not in [it["id"] for it in after] and len(after) == len(before) - 1
    binned = await c.get(LIST, headers=bearer(w), params={**params, "status": "deleted"})
    validate("webex", binned)
    assert [it["id"] for it in binned.json()["items"]].count(rid) == 1
    assert len(binned.json()["items"]) == len(bin_before) + 1
    assert all(it["status"] == "deleted" for it in binned.json()["items"])
    details = (await c.get(f"{LIST}/{rid}", headers=bearer(w))).json()
    assert details["status"] == "deleted" and "temporaryDirectDownloadLinks" not in details
    # again: idempotent
    assert (await c.post(f"{LIST}/softDelete", headers=bearer(w), json={"recordingIds": [rid]})).status_code == 204
    r = await c.post(f"{LIST}/restore", headers=bearer(w), json={"restoreAll": False, "recordingIds": [rid]})
    assert r.status_code == 204
    validate("webex", r)
    assert (await c.get(LIST, headers=bearer(w), params=params)).json()["items"] == before
    # purge works only from the recycle bin, and is permanent
    r = await c.post(f"{LIST}/purge", headers=bearer(w), json={"purgeAll": False, "recordingIds": [rid]})
    assert r.status_code == 400
    validate("webex", r)
    await c.post(f"{LIST}/softDelete", headers=bearer(w), json={"recordingIds": [rid]})
    r = await c.post(f"{LIST}/purge", headers=bearer(w), json={"purgeAll": False, "recordingIds": [rid]})
    assert r.status_code == 204
    validate("webex", r)
    assert (await c.get(f"{LIST}/{rid}", headers=bearer(w))).status_code == 404
    assert rid not in [it["id"] for it in (await c.get(LIST, headers=bearer(w),
                                                       params={**params, "status": "deleted"})).json()["items"]]
    r = await c.post(f"{LIST}/restore", headers=bearer(w), json={"recordingIds": [rid]})
    assert r.status_code == 404       # purged: not restorable (404 is not among the spec's restore responses)
    r = await c.post(f"{LIST}/restore", headers=bearer(w), json={"restoreAll": True, "recordingIds": [rid]})
    assert r.status_code == 400
    validate("webex", r)
    purged = await c.get(ADMIN_LIST, headers=bearer(w, "compliance"), params={**params, "status": "purged"})
    assert [it["id"] for it in purged.json()["items"]] == [rid]
    compliance_view = await c.get(f"{LIST}/{rid}", headers=bearer(w, "compliance"))
    assert compliance_view.status_code == 200 and compliance_view.json()["status"] == "purged"


async def test_http_delete_is_the_compliance_officers_permanent_purge(setup, validate):
    _, w, c = setup()
    item = await first_available(c, w)
    rid = item["id"]
    for role in ("user", "admin"):
        r = await c.request("DELETE", f"{LIST}/{rid}", headers=bearer(w, role))
        assert r.status_code == 403, role
        validate("webex", r)
    co = bearer(w, "compliance")
    r = await c.request("DELETE", f"{LIST}/{rid}", headers=co)
    assert r.status_code == 400 and "reason" in r.json()["message"]     # someone else's recording
    r = await c.request("DELETE", f"{LIST}/{rid}", headers=co, json={"reason": "audit", "comment": "x" * 256})
    assert r.status_code == 400
    r = await c.request("DELETE", f"{LIST}/{rid}", headers=co, json={"reason": "audit", "comment": "legal request"})
    assert r.status_code == 204 and r.content == b""
    validate("webex", r)
    for role in ("user", "compliance"):
        assert (await c.get(f"{LIST}/{rid}", headers=bearer(w, role))).status_code == 404
    r = await c.request("DELETE", f"{LIST}/{rid}", headers=co, json={"reason": "audit"})
    assert r.status_code == 404
    validate("webex", r)
    purged = await c.get(ADMIN_LIST, headers=co, params={**window(), "status": "purged", "max": 100})
    assert rid not in [it["id"] for it in purged.json()["items"]]


@pytest.mark.parametrize(("body", "status"), [
    ({"recordingIds": []}, 400),
    ({}, 400),
    ({"trashAll": True, "recordingIds": ["x"]}, 400),
    ({"trashAll": True, "ownerEmail": "someone@acme.example"}, 400),     # a user must not name an owner
    ({"recordingIds": ["x"], "ownerEmail": "someone@acme.example"}, 400),
    ({"recordingIds": [f"id{i}" for i in range(101)]}, 400),              # at most 100 ids per call
    ({"recordingIds": "abc"}, 400),
    ({"recordingIds": ["7c1d9e52-3a6b-4f08-9d2e-5b4a3c2d1e0f"]}, 404),
])
async def test_soft_delete_body_rules(setup, validate, body, status):
    _, w, c = setup()
    r = await c.post(f"{LIST}/softDelete", headers=bearer(w), json=body)
    assert r.status_code == status, r.text
    if status == 400:
        validate("webex", r)
    # 404 is not among the spec's softDelete responses (it lists 204/400/401/403/429)
    assert set(r.json()) == {"message", "errors", "trackingId"}


async def test_soft_delete_batch_of_100_and_unknown_id_applies_nothing(setup):
    _, w, c = setup(count=6000)
    items = (await c.get(LIST, headers=bearer(w), params={**window(), "max": 100})).json()["items"]
    ids = [it["id"] for it in items]
    assert len(ids) == 100
    r = await c.post(f"{LIST}/softDelete", headers=bearer(w), json={"recordingIds": [*ids[:5], "nope"]})
    assert r.status_code == 404 and "nope" in r.json()["message"]
    assert (await c.get(LIST, headers=bearer(w), params={**window(), "max": 100})).json()["items"] == items
    assert (await c.post(f"{LIST}/softDelete", headers=bearer(w), json={"recordingIds": ids})).status_code == 204
    left = (await c.get(LIST, headers=bearer(w), params={**window(), "max": 100})).json()["items"]
    assert not set(ids) & {it["id"] for it in left}


async def test_write_calls_need_json_and_a_write_scope(setup):
    _, w, c = setup()
    item = await first_available(c, w)
    r = await c.post(f"{LIST}/softDelete", headers={**bearer(w), "content-type": "text/plain"},
                     content=json.dumps({"recordingIds": [item["id"]]}))
    assert r.status_code == 415
    r = await c.post(f"{LIST}/softDelete", headers={**bearer(w), "content-type": "application/json"}, content=b"{no")
    assert r.status_code == 400
    assert (await c.post(f"{LIST}/softDelete", json={"recordingIds": [item["id"]]})).status_code == 401
    r = await c.post(f"{LIST}/softDelete", headers=bearer(w, "compliance"), json={"recordingIds": [item["id"]]})
    assert r.status_code == 403


async def test_trash_restore_purge_all_for_a_user(setup):
    _, w, c = setup()
    params = {**window(), "max": 100}
    avail = (await c.get(LIST, headers=bearer(w), params=params)).json()["items"]
    binned = (await c.get(LIST, headers=bearer(w), params={**params, "status": "deleted"})).json()["items"]
    assert (await c.post(f"{LIST}/softDelete", headers=bearer(w), json={"trashAll": True})).status_code == 204
    assert (await c.get(LIST, headers=bearer(w), params=params)).json()["items"] == []
    now_binned = (await c.get(LIST, headers=bearer(w), params={**params, "status": "deleted"})).json()["items"]
    assert {it["id"] for it in now_binned} == {it["id"] for it in avail + binned}
    assert (await c.post(f"{LIST}/restore", headers=bearer(w), json={"restoreAll": True})).status_code == 204
    assert [it["id"] for it in (await c.get(LIST, headers=bearer(w), params=params)).json()["items"]] == \
        sorted({it["id"] for it in avail + binned}, key=lambda x: w.index_of(x))
    await c.post(f"{LIST}/softDelete", headers=bearer(w), json={"recordingIds": [avail[0]["id"]]})
    assert (await c.post(f"{LIST}/purge", headers=bearer(w), json={"purgeAll": True})).status_code == 204
    assert (await c.get(LIST, headers=bearer(w), params={**params, "status": "deleted"})).json()["items"] == []
    assert (await c.get(f"{LIST}/{avail[0]['id']}", headers=bearer(w))).status_code == 404
    assert (await c.get(f"{LIST}/{avail[1]['id']}", headers=bearer(w))).status_code == 200


async def test_admin_trash_all_needs_owner_email_and_acts_on_that_owner_only(setup):
    _, w, c = setup(count=3000)
    params = {**window(), "max": 100}
    admin = bearer(w, "admin")
    items, _ = await walk(c, ADMIN_LIST, admin, params)
    email = items[0]["ownerEmail"]
    assert (await c.post(f"{LIST}/softDelete", headers=admin, json={"trashAll": True})).status_code == 400
    r = await c.post(f"{LIST}/softDelete", headers=admin, json={"trashAll": True, "ownerEmail": email})
    assert r.status_code == 204
    left, _ = await walk(c, ADMIN_LIST, admin, params)
    assert [it["id"] for it in left] == [it["id"] for it in items if it["ownerEmail"] != email]
    assert len(left) < len(items)
    binned, _ = await walk(c, ADMIN_LIST, admin, {**params, "status": "deleted", "ownerEmail": email})
    assert {it["id"] for it in items if it["ownerEmail"] == email} <= {it["id"] for it in binned}


async def test_reassign_is_admin_only_and_changes_the_owner(setup, validate):
    _, w, c = setup()
    item = await first_available(c, w)
    body = {"reassignOwnerEmail": "new.owner@acme.example", "recordingIds": [item["id"]]}
    r = await c.post(f"{LIST}/reassign", headers=bearer(w), json=body)
    assert r.status_code == 403
    validate("webex", r)
    r = await c.post(f"{LIST}/reassign", headers=bearer(w, "admin"), json=body)
    assert r.status_code == 204
    validate("webex", r)
    got = (await c.get(f"{LIST}/{item['id']}", headers=bearer(w))).json()
    assert got["ownerEmail"] == "new.owner@acme.example" and got["ownerId"] != item["ownerId"]
    assert got["ownerType"] == "user"
    r = await c.post(f"{LIST}/reassign", headers=bearer(w, "admin"), json={"reassignOwnerEmail": "x@acme.example"})
    assert r.status_code == 400
    validate("webex", r)


# -- rate limiting and generic faults through the Webex error body --------------------------------

async def test_429_with_retry_after(setup, validate):
    _, w, c = setup(faults="webex.list:status=429,retry_after=7,count=1")
    r = await c.get(LIST, headers=bearer(w), params=window())
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    validate("webex", r)
    assert set(r.json()) == {"message", "errors", "trackingId"}
    assert (await c.get(LIST, headers=bearer(w), params=window())).status_code == 200


async def test_423_locked_may_carry_retry_after(setup):
    _, w, c = setup(faults="webex.get:status=423,retry_after=3,count=1")
    item = await first_available(c, w)
    r = await c.get(f"{LIST}/{item['id']}", headers=bearer(w))
    assert r.status_code == 423 and r.headers["retry-after"] == "3"
    assert r.json()["errors"][0]["description"]


async def test_rate_limit_knob_is_a_token_bucket_with_retry_after(setup, clock, validate):
    _, w, c = setup(faults="webex.list:rate_limit=2")
    codes = [(await c.get(LIST, headers=bearer(w), params=window())).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    r = await c.get(LIST, headers=bearer(w), params=window())
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    validate("webex", r)
    clock.advance(1)
    assert (await c.get(LIST, headers=bearer(w), params=window())).status_code == 200


# -- provider-specific fault knobs ----------------------------------------------------------------

async def test_link_expired_knob_hands_out_a_dead_link_once(setup):
    _, w, c = setup(faults="webex.get:link_expired,count=1")
    items = (await c.get(LIST, headers=bearer(w), params={**window(), "max": 100})).json()["items"]
    rid = next(it["id"] for it in items if not w.prevents_download(w.data.fact(w.index_of(it["id"]))))
    first = (await c.get(f"{LIST}/{rid}", headers=bearer(w))).json()["temporaryDirectDownloadLinks"]
    assert parse(first["expiration"]) > NOW          # it still claims 3 hours
    assert (await c.get(first["audioDownloadLink"])).status_code == 403
    second = (await c.get(f"{LIST}/{rid}", headers=bearer(w))).json()["temporaryDirectDownloadLinks"]
    assert (await c.get(second["audioDownloadLink"])).status_code == 200


async def test_link_expired_past_knob_says_so_in_the_expiration(setup):
    _, w, c = setup(faults="webex.get:link_expired=past")
    items = (await c.get(LIST, headers=bearer(w), params={**window(), "max": 100})).json()["items"]
    rid = next(it["id"] for it in items if not w.prevents_download(w.data.fact(w.index_of(it["id"]))))
    links = (await c.get(f"{LIST}/{rid}", headers=bearer(w))).json()["temporaryDirectDownloadLinks"]
    assert parse(links["expiration"]) < NOW
    assert (await c.get(links["audioDownloadLink"])).status_code == 403


async def test_empty_page_knob(setup):
    _, w, c = setup(faults="webex.list:empty_page,after=1,count=1")
    _, responses = await walk(c, LIST, bearer(w), {**window(), "max": 5})
    assert responses[1].json() == {"items": []} and "link" in responses[1].headers
    assert responses[0].json()["items"] and responses[2].json()["items"]


async def test_cursor_repeat_knob(setup):
    _, w, c = setup(faults="webex.list:cursor_repeat,after=1,count=1")
    r1 = await c.get(LIST, headers=bearer(w), params={**window(), "max": 5})
    r2 = await c.get(r1.links["next"]["url"], headers=bearer(w))
    assert r2.links["next"]["url"] == r1.links["next"]["url"]
    r3 = await c.get(r2.links["next"]["url"], headers=bearer(w))
    assert r3.json() == r2.json()


async def test_cursor_cycle_knob_points_the_last_page_back_to_the_first(setup):
    _, w, c = setup(faults="webex.list:cursor_cycle")
    params = {**window(), "max": 10}
    _, responses = await walk(c, LIST, bearer(w), params, limit=6)
    pages = [tuple(it["id"] for it in r.json()["items"]) for r in responses]
    n = len(expected_indices(w, parse(params["from"]), parse(params["to"])))
    cycle = -(-n // 10)
    assert len(responses) == 6 and pages[cycle] == pages[0]


async def test_link_drops_params_knob(setup):
    _, w, c = setup(faults="webex.list:link_drops_params,count=1", count=3000)
    r = await c.get(LIST, headers=bearer(w), params={**window(), "max": 5, "ownerType": "place"})
    assert all(it["ownerType"] == "place" for it in r.json()["items"])
    q = parse_qs(urlsplit(r.links["next"]["url"]).query)
    assert "ownerType" not in q and {"max", "from", "to", "before"} <= set(q)
    r2 = await c.get(r.links["next"]["url"], headers=bearer(w))
    assert any(it["ownerType"] != "place" for it in r2.json()["items"])


async def test_schema_drift_knob(setup):
    _, w, c = setup(faults="webex.list:schema_drift,count=1")
    items = (await c.get(LIST, headers=bearer(w), params={**window(), "max": 5})).json()["items"]
    assert items[0]["durationSeconds"] is None
    assert items[1]["createTime"] == "last Tuesday"
    assert isinstance(items[2]["sizeBytes"], str) and "surpriseField" in items[2]
    assert "id" not in items[3]
    clean = (await c.get(LIST, headers=bearer(w), params={**window(), "max": 5})).json()["items"]
    assert all("id" in it and isinstance(it["durationSeconds"], int) for it in clean)


async def test_hostile_titles_and_ids_knobs(setup):
    _, w, c = setup(faults="webex.list:hostile_titles,count=1;webex.list:hostile_ids,count=1")
    r = await c.get(LIST, headers=bearer(w), params={**window(), "max": 5})
    items = r.json()["items"]
    assert [it["topic"] for it in items] == HOSTILE_TEXTS[:5]
    assert items[1]["id"].endswith("a/b")
    assert b"\x1b" not in r.content and b"\\u001b" in r.content


async def test_expire_token_after_knob(setup, validate):
    _, w, c = setup(faults="webex.*:expire_token_after=2")
    assert (await c.get(LIST, headers=bearer(w), params=window())).status_code == 200
    assert (await c.get(LIST, headers=bearer(w), params=window())).status_code == 200
    r = await c.get(LIST, headers=bearer(w), params=window())
    assert r.status_code == 401
    validate("webex", r)


async def test_delete_apply_then_fail_knob(setup):
    _, w, c = setup(faults="webex.soft_delete:delete_apply_then_fail,count=1")
    item = await first_available(c, w)
    r = await c.post(f"{LIST}/softDelete", headers=bearer(w), json={"recordingIds": [item["id"]]})
    assert r.status_code == 500 and "trackingId" in r.json()
    assert (await c.get(f"{LIST}/{item['id']}", headers=bearer(w))).json()["status"] == "deleted"


async def test_media_knob_reaches_the_download_route(setup):
    _, w, c = setup(faults="webex.media:media=corrupt,count=1")
    items = (await c.get(LIST, headers=bearer(w), params={**window(), "max": 100})).json()["items"]
    rid = next(it["id"] for it in items if not w.prevents_download(w.data.fact(w.index_of(it["id"]))))
    link = (await c.get(f"{LIST}/{rid}", headers=bearer(w))).json()["temporaryDirectDownloadLinks"]["audioDownloadLink"]
    bad, good = await c.get(link), await c.get(link)
    assert bad.status_code == good.status_code == 200 and bad.content != good.content


def test_knob_names_are_registered():
    assert "link_drops_params" in KNOWN_KNOBS
    assert parse_faults("webex.list:link_drops_params")[0].knob == "link_drops_params"
    with pytest.raises(FaultSpecError):
        parse_faults("webex.list:no_such_knob")


# -- determinism, scale, hostile data, config -----------------------------------------------------

async def test_same_seed_same_listing(make_emulator, client_for):
    pages = []
    for seed in (7, 7, 8):
        emu = make_emulator(providers=("webex",), count=600, seed=seed)
        w = emu["webex"]
        r = await client_for(emu).get(LIST, headers=bearer(w), params={**window(), "max": 20})
        pages.append((r.json(), r.headers.get("link"), w.user_token))
    assert pages[0] == pages[1]
    assert pages[0][0] != pages[2][0] and pages[0][2] != pages[2][2]


async def test_a_page_of_100000_recordings_builds_only_that_page(setup):
    _, w, c = setup(count=100_000)
    w.data.fact.cache_clear()
    r = await c.get(LIST, headers=bearer(w), params={**window(days=29), "max": 100})
    assert len(r.json()["items"]) == 100 and "link" in r.headers
    assert w.data.fact.cache_info().misses <= 102
    nxt = await c.get(r.links["next"]["url"], headers=bearer(w))
    assert len(nxt.json()["items"]) == 100
    assert w.data.fact.cache_info().misses <= 204


async def test_hostile_listing_still_serves_verbatim(setup):
    _, w, c = setup(hostile=True, count=1000)
    facts = [w.data.fact(i) for i in range(len(w.data))]
    with_id = next(f for f in facts if f.hostile_id and w.state(f.index).status == "available")
    with_text = next(f for f in facts if f.hostile_text and "\x1b" in f.hostile_text
                     and w.state(f.index).status == "available")
    for fact in (with_id, with_text):
        params = {"from": iso(fact.start - timedelta(days=10)), "to": iso(fact.start + timedelta(days=10)),
                  "max": 2}
        items, responses = await walk(c, LIST, bearer(w), params)     # cursors built from hostile ids work
        got = {it["id"]: it for it in items}
        rid = w.recording_id(fact)
        assert rid in got
        if fact is with_id:
            assert rid.endswith(fact.hostile_id)
        else:
            assert got[rid]["topic"] == fact.hostile_text
            raw = b"".join(r.content for r in responses)
            assert b"\x1b" not in raw and b"\\u001b" in raw
        assert len(got) == len(items)


def test_config_entry_and_credentials(make_emulator):
    emu = make_emulator(providers=("webex",), count=60)
    w = emu["webex"]
    entry = w.config_entry()
    assert entry == {"kind": "webex", "base_url": emu.api_url + "/v1", "access_token": w.user_token}
    creds = w.credentials()
    assert creds["access_token"] == w.user_token
    assert len({creds["access_token"], creds["admin_access_token"], creds["compliance_access_token"]}) == 3
