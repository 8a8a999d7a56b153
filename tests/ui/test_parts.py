"""The UI's pure parts: formatting, column layout, status chips, local sort and filter, relay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rectui.errors import AuthError, ConfigError, RateLimited, Unavailable
from rectui.messages import EventRelay
from rectui.models import Recording
from rectui.screens.state import status_for
from rectui.widgets import formatting as fmt
from rectui.widgets.provider_sidebar import ProviderState, chip, prompt
from rectui.widgets.recordings_table import Haystacks, layout, marked, sort_rows

NOW = datetime(2026, 11, 1, 13, tzinfo=UTC)


def rec(i: int, **kw: object) -> Recording:
    base: dict[str, object] = {"provider": "p", "id": f"id{i}", "title": f"Call {i}",
                               "start": NOW - timedelta(hours=i), "duration": 60.0 * i}
    return Recording(**(base | kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(("seconds", "text"), [(None, "—"), (7.4, "0:07"), (478.2, "7:58"), (3723, "1:02:03")])
def test_duration(seconds: float | None, text: str) -> None:
    assert fmt.duration(seconds) == text


def test_sizes_counts_ranges_and_ages() -> None:
    assert (fmt.size(None), fmt.size(812), fmt.size(7_651_328)) == ("—", "812 B", "7.7 MB")
    assert fmt.page_range(50, 50, 2345) == "51–100 of 2,345"
    assert fmt.page_range(50, 50, None) == "51–100 of many"
    assert fmt.page_range(0, 0, 0) == "0 of 0"
    now = NOW.timestamp()
    assert fmt.ago(NOW - timedelta(days=1), now) == "1 day ago"
    assert fmt.ago(NOW - timedelta(minutes=3), now) == "3 min ago"
    assert fmt.ago(NOW + timedelta(minutes=5), now) == "in 5 min"
    assert (fmt.countdown(12), fmt.countdown(185), fmt.countdown(3600)) == ("12s", "3m05s", "1h00m")


def test_fit_counts_terminal_cells() -> None:
    assert fmt.fit("会議の録音", 5) == "会議…"
    assert fmt.fit("short", 10) == "short"
    assert fmt.pad("ab", 4) == "ab  "


def test_columns_fit_the_width_and_keep_the_important_ones() -> None:
    narrow = layout(56, show_provider=True)
    assert [c for c, _ in narrow] == ["provider", "date", "duration", "title"]
    wide = layout(134, show_provider=True)
    assert [c for c, _ in wide] == ["provider", "date", "duration", "who", "title", "tags", "status"]
    assert sum(w + 2 for _, w in wide) == 133
    assert [c for c, _ in layout(20, show_provider=False)] == ["date"]


def test_marked_text_is_never_markup_and_highlights_matches() -> None:
    text = marked("[@click=app.quit]x[/]", "click", 40)
    assert text.plain == "[@click=app.quit]x[/]" and text.spans and text.spans[0].style == "reverse"


def test_local_sort_is_stable_and_filter_matches_any_shown_field() -> None:
    rows = [rec(1, title="b"), rec(2, title="a"), rec(3, title="b", tags=frozenset({"vip"}))]
    assert [r.id for r in sort_rows(rows, "title", False)] == ["id2", "id1", "id3"]
    assert [r.id for r in sort_rows(rows, "duration", True)] == ["id3", "id2", "id1"]
    assert [r.id for r in Haystacks({}).filter(rows, "VIP")] == ["id3"]
    assert Haystacks({}).filter(rows, "") == rows
    assert [r.id for r in Haystacks({"p": "My provider"}).filter(rows, "prov")] == ["id1", "id2", "id3"]


def test_status_chips() -> None:
    now = 1000.0
    state = ProviderState("w", "Webex", "webex", status="rate_limited", until=now + 12)
    assert chip(state, now) == ("◌", "429 12s", "$text-warning")
    assert chip(ProviderState("k", "Kazoo", "kazoo", status="ok", read_only=True), now)[1] == "ro"
    err = Unavailable("x", status=503)
    assert chip(ProviderState("k", "Kazoo", "kazoo", status="error", error=err), now)[1] == "503"
    assert prompt(state, now, 22).plain == "◌ Webex        429 12s" and len(prompt(state, now, 22).plain) == 22


def test_errors_map_to_statuses() -> None:
    assert status_for(AuthError("x")) == "auth"
    assert status_for(RateLimited("x", retry_after=3)) == "rate_limited"
    assert status_for(ConfigError("x")) == "config"
    assert status_for(Unavailable("x", title="Offline")) == "offline"
    assert status_for(Unavailable("x", status=503)) == "error"


def test_the_relay_keeps_early_events_until_a_screen_attaches() -> None:
    relay = EventRelay()
    seen: list[object] = []
    relay("a")   # type: ignore[arg-type]
    relay.attach(seen.append)
    relay("b")   # type: ignore[arg-type]
    relay.detach()
    relay("c")   # type: ignore[arg-type]
    assert seen == ["a", "b"]
