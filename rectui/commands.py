"""Command palette: jump to a loaded recording by its title.

Server text is data here too: Textual's `Matcher.highlight` parses its candidate as markup, so the
hit is built as plain `Content` and the matched characters are styled by offset; the help line
holds only escaped text of ours.
"""

from __future__ import annotations

from functools import partial

from textual.command import Hit, Hits, Provider
from textual.content import Content
from textual.markup import escape

from rectui.widgets import formatting as fmt

MAX_HITS = 50


class RecordingSearch(Provider):
    """Loaded recordings (the page on screen), matched fuzzily by title."""

    async def search(self, query: str) -> Hits:
        screen = self.screen
        loaded = getattr(screen, "loaded_recordings", None)
        jump = getattr(screen, "jump_to", None)
        if loaded is None or jump is None or not query.strip():
            return
        matcher = self.matcher(query)
        names = getattr(screen, "names", {})
        tz = getattr(screen, "tz", None)
        found = 0
        for rec in loaded():
            title = rec.title or fmt.who(rec) or rec.id
            score, offsets = matcher.fuzzy_search.match(matcher.query, title)
            if score <= 0:
                continue
            display = Content(title)
            for offset in offsets:
                if offset < len(title) and not title[offset].isspace():
                    display = display.stylize(matcher.match_style, offset, offset + 1)
            where = " · ".join((names.get(rec.provider, rec.provider), fmt.when(rec.start, tz),
                                fmt.duration(rec.duration)))
            yield Hit(score, display, partial(jump, rec.key), text=title, help=escape(where))
            found += 1
            if found >= MAX_HITS:
                return
