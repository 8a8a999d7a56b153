"""Kazoo's error envelopes: the top-level `message` is a code ("validation error"), the useful words
are in `data.message` or in the per-field validation messages. A refused request's error carries
them, cleaned (one line, no control characters, secrets masked) and bounded; a detail that only
repeats the code is not added twice."""

from __future__ import annotations

import pytest

from rectui.emulator.kazoo import KazooEmulator
from rectui.errors import BadResponse, PermissionDenied
from rectui.models import ListQuery
from rectui.providers.kazoo import DETAIL_LIMIT, MIN_WINDOW, error_detail

from .conftest import Setup


def kz(s: Setup) -> KazooEmulator:
    assert isinstance(s.prov_emu, KazooEmulator)
    return s.prov_emu


async def test_a_refused_patch_shows_data_message_cleaned_and_bounded(make_setup) -> None:
    hostile = "tag [b]rejected[/b]\x1b[31m by policy\nline two " + "x" * 600
    s = make_setup("kazoo", faults=f"kazoo.patch:status=400,message={hostile}")
    rec_id = kz(s).recording_id(0)
    with pytest.raises(BadResponse) as info:
        await s.provider.set_tags(rec_id, frozenset({"urgent"}))
    message = info.value.message
    assert "(validation error)" in message                         # the code, as before
    said = message.split("Kazoo says: ", 1)[1]
    assert said.startswith("tag [b]rejected[/b]") and "by policy line two" in said   # kept as text, one line
    assert "\x1b" not in message and "\n" not in message
    assert len(said) <= DETAIL_LIMIT and "x" * 600 not in said
    assert [r.status for r in s.emu.log.for_route("kazoo", "patch")] == [400]         # not retried


async def test_a_validation_error_names_the_field_and_its_message(make_setup, monkeypatch) -> None:
    import rectui.emulator.kazoo as emulated
    monkeypatch.setattr(emulated, "MAX_RANGE", MIN_WINDOW // 2)    # narrower than the adapter ever asks
    s = make_setup("kazoo")
    with pytest.raises(BadResponse) as info:
        await s.provider.list_recordings(ListQuery(page_size=10))
    message = info.value.message
    assert "Kazoo says: created_from: created_to " in message
    assert f"is more than {MIN_WINDOW // 2} seconds from created_from" in message
    assert info.value.status == 400


async def test_a_secret_in_the_detail_is_masked(make_setup) -> None:
    s = make_setup("kazoo")
    key = kz(s).api_key
    s.emu.faults.add(f"kazoo.patch:status=400,message=api_key {key} is not allowed here")
    with pytest.raises(BadResponse) as info:
        await s.provider.set_tags(kz(s).recording_id(0), frozenset({"a"}))
    assert "Kazoo says: api_key" in info.value.message and key not in info.value.message
    assert key not in str(info.value) and key not in info.value.one_line()


async def test_a_detail_that_repeats_the_code_is_not_added(make_setup) -> None:
    s = make_setup("kazoo", settings={"account_id": "f" * 32})    # not the token's account: 403 "forbidden"
    with pytest.raises(PermissionDenied) as info:
        await s.provider.get_recording(kz(s).recording_id(0))
    assert "(forbidden)" in info.value.message and "Kazoo says" not in info.value.message


def test_error_detail_shapes() -> None:
    """The envelope shapes of the reference page: data.message, per-field validation, an array."""
    fields = {f"f{n}": {"required": {"message": f"field {n} is required", "cause": "SECRET-CAUSE"}}
              for n in range(5)}
    detail = error_detail({"message": "validation error", "error": "400", "data": fields})
    assert detail == "f0: field 0 is required; f1: field 1 is required; f2: field 2 is required; …"
    assert "SECRET-CAUSE" not in detail                               # `cause` may echo the bad value
    assert error_detail({"message": "invalid data", "data": {"message": "name must be unique"}}) \
        == "name must be unique"
    assert error_detail({"message": "bad identifier", "data": ["202401-abc"]}) == ""   # only the id
    assert error_detail({"message": "bad_identifier", "data": {"message": "bad identifier"}}) == ""
    assert error_detail({"message": "invalid credentials", "data": {}}) == ""
    assert error_detail("not json at all") == "" and error_detail({"data": {"message": 42}}) == ""
