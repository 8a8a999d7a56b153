"""Models: server strings sanitised when built, times tz-aware UTC, durations in seconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from rectui.models import Capabilities, ListQuery, Page, Recording, SortSpec
from rectui.sanitize import REPLACEMENT

HOSTILE_TITLES = ["[bold]x", "[@click=app.quit]", "[/red]", "\x1b]52;c;AAAA\x07x", "\u202eevil", "T" * 1_000_000]


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_recording_title_is_sanitised_at_construction(title: str) -> None:
    rec = Recording(provider="p", id="1", title=title)
    assert "\x1b" not in rec.title and "\u202e" not in rec.title and "\x07" not in rec.title
    assert len(rec.title) <= 2000
    if title.startswith("["):
        assert rec.title == title   # markup stays verbatim; the UI renders it as plain text


def test_every_text_field_of_a_recording_is_sanitised() -> None:
    rec = Recording(
        provider="p", id="id\x1b[2J", title="t\x9b", caller="c\x00", callee="d\x7f", owner="o\u2066",
        tags=frozenset({"vip\x1b", "  ", "x" * 500}), details={"k\x1b": "v\x07"},
        raw={"nested": [{"x": "\x1b]0;t\x07"}], "n": 3}, viewer_url="https://v.example/\x1b",
    )
    for value in (rec.id, rec.title, rec.caller, rec.callee, rec.owner, rec.viewer_url):
        assert value is not None and REPLACEMENT in value
    assert all("\x1b" not in t and len(t) <= 100 for t in rec.tags)
    assert "" not in rec.tags and len(rec.tags) == 2
    assert rec.details == {f"k{REPLACEMENT}": f"v{REPLACEMENT}"}
    assert rec.raw["nested"][0]["x"].startswith(REPLACEMENT)
    assert rec.raw["n"] == 3


def test_times_must_be_tz_aware_and_become_utc() -> None:
    local = datetime(2026, 5, 2, 16, 3, tzinfo=timezone(timedelta(hours=2)))
    rec = Recording(provider="p", id="1", start=local)
    assert rec.start == datetime(2026, 5, 2, 14, 3, tzinfo=UTC)
    assert rec.start.utcoffset() == timedelta(0)
    with pytest.raises(ValidationError, match="time zone"):
        Recording(provider="p", id="1", start=datetime(2026, 5, 2, 14, 3))


def test_duration_seconds_or_none_never_negative() -> None:
    assert Recording(provider="p", id="1").duration is None
    assert Recording(provider="p", id="1", duration=3.5).duration == 3.5
    with pytest.raises(ValidationError):
        Recording(provider="p", id="1", duration=-1)


def test_models_are_frozen_and_keyed_by_provider_and_id() -> None:
    rec = Recording(provider="kazoo_a", id="abc")
    assert rec.key == ("kazoo_a", "abc")
    with pytest.raises(ValidationError):
        rec.title = "x"  # type: ignore[misc]


def test_list_query_reports_the_filters_it_uses() -> None:
    q = ListQuery(since=datetime(2026, 1, 1, tzinfo=UTC), status="deleted", sort=SortSpec(key="duration"))
    assert q.filters_used() == {"since", "status"}
    assert ListQuery().filters_used() == frozenset()


def test_page_and_capabilities_shapes() -> None:
    caps = Capabilities(page_style="cursor", exact_total=False, server_sort=frozenset({"start"}))
    assert "start" in caps.server_sort and not caps.can_delete
    page = Page(items=(Recording(provider="p", id="1"),), total=None)
    assert page.total is None and page.items[0].id == "1"
    with pytest.raises(ValidationError):
        Capabilities(page_style="offset", exact_total=True)  # type: ignore[arg-type]


# -- `details` and `raw`: kept as given, sanitised on first access ---------------------------------
HOSTILE_RAW = {"title\x1b[2J": "\x1b]52;c;AAAA\x07", "nested": [{"x": "\u202eevil", "k" * 300: 1}],
               "n": 3, "none": None, "long": "L" * 5000}


def _all_strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_all_strings(k), *_all_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _all_strings(v)]
    return []


def _assert_clean(value: object) -> None:
    for text in _all_strings(value):
        assert not any(ch in text for ch in "\x1b\x07\u202e"), text
        assert len(text) <= 2000


def test_lazy_raw_and_details_are_sanitised_whichever_way_they_are_read() -> None:
    rec = Recording(provider="p", id="1", raw=HOSTILE_RAW, details={"k\x1b": "v\x07", "n": 3})  # type: ignore[dict-item]
    _assert_clean(rec.raw)
    _assert_clean(rec.details)
    assert rec.details == {f"k{REPLACEMENT}": f"v{REPLACEMENT}", "n": "3"}
    assert rec.raw["n"] == 3 and rec.raw["none"] is None and len(rec.raw["nested"][0]) == 2
    fresh = Recording(provider="p", id="1", raw=HOSTILE_RAW, details={"k\x1b": "v\x07"})
    _assert_clean(fresh.model_dump())              # never read before: dumped clean
    assert "\\u001b" not in fresh.model_dump_json() and "\\u0007" not in fresh.model_dump_json()
    copied = Recording(provider="p", id="1", raw=HOSTILE_RAW).model_copy(update={"details": {"a\x1b": "b"}})
    _assert_clean(copied.raw)
    _assert_clean(copied.details)
    built = Recording.model_construct(provider="p", id="1", raw=HOSTILE_RAW, details={"a": "\x1b"})
    _assert_clean(built.raw)
    _assert_clean(built.details)
    assert HOSTILE_RAW["title\x1b[2J"].startswith("\x1b")      # the adapter's document is left alone


def test_details_may_be_built_on_first_access_only() -> None:
    calls: list[int] = []

    def build() -> dict[str, str]:
        calls.append(1)
        return {"Title": "x\x1b"}

    rec = Recording(provider="p", id="1", details=build)
    assert calls == []
    assert rec.details == {"Title": f"x{REPLACEMENT}"} and rec.details is rec.details and calls == [1]


def test_lazy_parts_round_trip_compare_and_refuse_wrong_shapes() -> None:
    rec = Recording(provider="p", id="1", raw={"a": [1, "b"]}, details={"A": "b"})
    again = Recording.model_validate_json(rec.model_dump_json())
    assert again == rec and again.raw == {"a": [1, "b"]} and again.details == {"A": "b"}
    assert Recording.model_validate(rec.model_dump()) == rec
    assert rec != Recording(provider="p", id="1", raw={"a": [2]}, details={"A": "b"})
    assert Recording(provider="p", id="1").raw == {} and Recording(provider="p", id="1").details == {}
    with pytest.raises(ValidationError, match="raw must be a mapping"):
        Recording(provider="p", id="1", raw=["not", "a", "document"])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="details must be"):
        Recording(provider="p", id="1", details="text")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Recording(provider="p", id="1", unknown_field=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        rec.raw = {}  # type: ignore[misc]


def test_a_details_builder_that_fails_is_shown_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> dict[str, str]:
        raise KeyError("x")

    rec = Recording(provider="p", id="1", details=broken)
    assert rec.details == {"Details": "could not be read (KeyError)"}
