"""The main screen's actions on recordings beyond browsing and deleting: play and the player's
keys, save the audio, tag, rename, the server search form and jump-to-page.

A mixin of `MainScreen` (which holds the views, the table, the operations queue and the store);
each action opens a form from `rectui.screens` and acts on its typed result, through the
operations queue (`run_batch`) for anything the provider or the journal must see.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rectui.models import ListQuery, Page, Recording
from rectui.providers.merged import MERGED_ID
from rectui.screens.playback import Playback
from rectui.screens.state import history_to
from rectui.widgets.player_bar import PlayerBar

if TYPE_CHECKING:
    from rectui.screens.tag_editor import TagChange
    from rectui.widgets.recordings_table import RecordingsTable

PLAYER_COMMANDS = {"faster": "faster", "slower": "slower", "louder": "louder", "quieter": "quieter",
                   "mute": "toggle_mute", "pause": "toggle"}


class RecordingActions:
    """Play, save, tag, rename, search, jump: see the module docstring."""

    playback: Playback

    # -- play --------------------------------------------------------------------------------
    # (handlers by name: Textual collects `@on` decorators only from message-pump classes)
    def on_recordings_table_selected(self, event: RecordingsTable.Selected) -> None:
        """Enter in the table plays the highlighted recording (again: pause/resume)."""
        event.stop()
        self.action_play()

    def _audio_target(self, refused: str) -> tuple[Recording, Any] | None:
        """The highlighted recording and its provider when its audio can be fetched; else None,
        after a warning titled `refused` with the reason (and the viewer key where there is one)."""
        screen: Any = self
        rec = screen.table.current()
        if rec is None:
            return None
        reason = screen.gate_reason("play", rec)
        if reason is not None:
            if rec.viewer_url:
                reason += ": o opens its viewer page in a browser"
            screen.notify(reason, title=refused, severity="warning", markup=False, timeout=6)
            return None
        provider = screen.providers.get(rec.provider)
        return (rec, provider) if provider is not None else None

    def action_play(self) -> None:
        target = self._audio_target("Nothing to play")
        if target is None:
            return
        rec, provider = target
        if self.playback.device_problem is not None and self.playback.probed:
            self.playback.save(rec, provider)       # no sound card: "save as" is what enter offers
            return
        self.playback.play(rec, provider)

    def action_stop_audio(self) -> None:
        self.playback.stop()

    def action_player(self, command: str) -> None:
        """`[`/`]` speed, `9`/`0` volume, `m` mute, from anywhere."""
        if not self.playback.command(PLAYER_COMMANDS[command]):
            screen: Any = self
            screen.notify("Nothing is playing: enter plays the highlighted recording.", timeout=3)

    def action_save_audio(self) -> None:
        target = self._audio_target("No audio to save")
        if target is not None:
            self.playback.save(*target)

    def on_player_bar_failed(self, event: PlayerBar.Failed) -> None:
        self.playback.device_failed(event.error)

    # -- tags and rename ---------------------------------------------------------------------
    def action_tag(self) -> None:
        screen: Any = self
        rows = screen.action_rows()
        reason = screen.refusal("tag", rows)
        if reason is not None:
            screen._refuse("tag", reason)
            return
        screen.run_worker(self._open_tag_editor(rows), group="tags", exclusive=True, exit_on_error=False,
                          name="tag-editor")

    async def _open_tag_editor(self, rows: list[Recording]) -> None:
        from rectui.operations import Target
        from rectui.screens.tag_editor import TagEditor

        screen: Any = self
        in_use: set[str] = {t for page_row in screen.loaded_recordings() for t in page_row.tags}
        if screen.store is not None:
            try:
                found = await asyncio.to_thread(lambda: [tags for _p, _i, tags in screen.store.tagged()])
            except Exception:      # the editor still works without completion
                found = []
            for tags in found:
                in_use |= tags
        providers = {r.provider for r in rows}
        server = all(screen.providers[p].capabilities.server_tags for p in providers if p in screen.providers)
        name = screen.names.get(rows[0].provider, rows[0].provider) if len(providers) == 1 else ""
        targets = tuple(Target.of(r) for r in rows)      # locked now, like a delete
        editor = TagEditor(rows, tags_in_use=sorted(in_use), server=server, current={r.key: r.tags for r in rows},
                           provider_name=name)

        def done(change: TagChange | None) -> None:
            if change is not None and (change.add or change.remove):
                screen.run_batch("tag", targets, add=change.add, remove=change.remove)

        screen.app.push_screen(editor, done)

    def action_rename(self) -> None:
        from rectui.operations import Target
        from rectui.screens.rename import RenameDialog

        screen: Any = self
        rec = screen.table.current()
        reason = screen.refusal("rename", [rec] if rec is not None else [])
        if reason is not None or rec is None:
            screen._refuse("rename", reason or "No recording is highlighted.")
            return
        full = screen._details.get(rec.key, rec)
        fields = screen.providers[rec.provider].capabilities.rename_fields
        target = Target.of(full)

        def done(changed: dict[str, str | None] | None) -> None:
            if changed:
                screen.run_batch("rename", (target,), fields=changed)

        screen.app.push_screen(RenameDialog(full, fields), done)

    def replace_rows(self, updates: dict[tuple[str, str], Recording]) -> None:
        """Put changed recordings (new tags, a new title) in every loaded page and cache."""
        screen: Any = self

        def patched(page: Page) -> Page:
            if not any(r.key in updates for r in page.items):
                return page
            return page.model_copy(update={"items": tuple(updates.get(r.key, r) for r in page.items)})

        for view in screen.views.values():
            if view.page is not None:
                view.page = patched(view.page)
        for key, page in list(screen._cache.items()):
            screen._cache[key] = patched(page)
        for key, rec in updates.items():
            if key in screen._details:
                screen._details[key] = rec
        screen._show_rows()

    # -- search and jump ---------------------------------------------------------------------
    def action_search(self) -> None:
        from rectui.screens.search_form import SearchForm

        screen: Any = self
        view = screen.view
        caps = screen.capabilities()
        if view is None or caps is None:
            return
        current = screen.query_for(view)
        name = screen.names.get(view.id, view.id)
        now = datetime.fromtimestamp(screen.clock(), UTC)

        def done(query: ListQuery | None) -> None:
            if query is not None:
                self.apply_search(query)

        screen.app.push_screen(SearchForm(caps, current, provider_name=name, tz=screen.tz, now=now), done)

    def apply_search(self, query: ListQuery) -> None:
        """Ask the server for `query`'s filters, from the first page (None filters: all)."""
        screen: Any = self
        view = screen.view
        if view is None:
            return
        filters = query.model_copy(update={"sort": None, "page_size": None})
        if filters.status == "deleted" and not view.bin and view.id != MERGED_ID:
            filters = filters.model_copy(update={"status": None})
            view.search = filters if filters.filters_used() else None
            screen.action_recycle_bin()
            return
        view.search = filters if filters.filters_used() else None
        screen.table.clear_marks()
        screen._load(view, None, 0, [], keep=None)

    def action_jump(self) -> None:
        from rectui.screens.jump import JumpToPage

        screen: Any = self
        view = screen.view
        provider = screen.provider_for_view(screen.view_id)
        if view is None or view.page is None or provider is None:
            return
        if getattr(provider, "page_cursor", None) is None or provider.capabilities.page_style != "number":
            screen.notify(f"{screen.names.get(view.id, view.id)} pages by cursor: only next and previous.",
                          title="Go to page", severity="warning", timeout=5)
            return

        def done(number: int | None) -> None:
            if number is not None:
                self.go_to_page(number)

        screen.app.push_screen(JumpToPage(view.page.page_count, view.page_number), done)

    def go_to_page(self, number: int) -> None:
        """Page `number` (1-based) of a number-paged provider, through its `page_cursor`."""
        screen: Any = self
        view = screen.view
        provider = screen.provider_for_view(screen.view_id)
        if view is None or provider is None or view.page is None:
            return
        query = screen.query_for(view)
        size = query.page_size or len(view.page.items) or 1
        if number <= 1:
            screen._load(view, None, 0, [], keep=None)
            return
        cursor = provider.page_cursor(query, number)
        screen._load(view, cursor, (number - 1) * size, history_to(provider, query, number, size), keep=None)

    def action_last_page(self) -> None:
        screen: Any = self
        view = screen.view
        if view is not None and view.page is not None and view.page.page_count:
            provider = screen.provider_for_view(screen.view_id)
            if getattr(provider, "page_cursor", None) is not None:
                self.go_to_page(view.page.page_count)
