"""Screendesk's viewer URL embeds the recording's uuid: for an id that fails validation no URL is
offered (nothing to open, nothing in `ls --json`), and the detail pane says "viewer link
unavailable (unsafe id)" where the link would be."""

from __future__ import annotations

import time

from textual.app import App, ComposeResult
from ui.harness import static_text

from rectui.models import ListQuery, Recording
from rectui.providers.screendesk import UNSAFE_VIEWER
from rectui.widgets.detail_pane import DetailPane

KIND = "screendesk"


def urls_of(rec: Recording) -> list[str]:
    """Every place a viewer URL could reach the user from a Recording."""
    return [rec.viewer_url or "", rec.media_note or "", *rec.details.values()]


async def test_an_unsafe_id_gets_no_viewer_url(make_setup) -> None:
    s = make_setup(KIND, faults="screendesk.list:hostile_ids")
    items = (await s.provider.list_recordings(ListQuery(page_size=10))).items
    assert items and all(not r.id_valid for r in items)
    for rec in items:
        assert rec.viewer_url is None and rec.details["Viewer URL"] == UNSAFE_VIEWER


async def test_a_hostile_id_embedded_in_the_viewer_url_is_not_shown(make_setup) -> None:
    s = make_setup(KIND, count=300, hostile=True)
    items = (await s.provider.list_recordings(ListQuery(page_size=100))).items
    unsafe = [r for r in items if not r.id_valid]
    assert unsafe
    for rec in unsafe:
        assert rec.viewer_url is None
        assert rec.media_note is not None and rec.media_note.endswith(UNSAFE_VIEWER)
        assert rec.details["Viewer URL"] == UNSAFE_VIEWER
        assert not any("/recordings/" in text for text in urls_of(rec))
        assert rec.raw["metadata"]["url"].endswith(rec.id)        # the server did embed the id


async def test_a_safe_id_keeps_its_viewer_url(make_setup) -> None:
    s = make_setup(KIND)
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[0]
    assert rec.id_valid and rec.viewer_url == rec.details["Viewer URL"] == rec.raw["metadata"]["url"]
    assert UNSAFE_VIEWER not in (rec.media_note or "")


class PaneApp(App[None]):
    def compose(self) -> ComposeResult:
        yield DetailPane(time.time, id="detail")


async def test_the_detail_pane_says_why_there_is_no_link(make_setup) -> None:
    s = make_setup(KIND, faults="screendesk.list:hostile_ids")
    rec = (await s.provider.list_recordings(ListQuery(page_size=5))).items[0]
    url = rec.raw["metadata"]["url"]
    app = PaneApp()
    async with app.run_test(size=(200, 60)) as pilot:
        pane = app.query_one(DetailPane)
        pane.show(rec, provider_name="Screendesk", caps=s.provider.capabilities, full=True)
        await pilot.pause()
        text = static_text(pane.query_one("#detail-body"), width=200)
    assert text.count(UNSAFE_VIEWER) == 2          # the Audio row and the provider's Viewer URL field
    assert url not in text and "Viewer URL" in text
