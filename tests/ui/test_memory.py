"""Memory held by the long-lived main screen stays bounded. The soak found two of Textual's holders
(see `rectui/widgets/footer.py`): its footer keeping every old set of keys alive (~0.5 MB per
bindings change), and a cache keeping the rendered lines of up to 1024 removed widgets. Counted
with gc after many screens opened and closed, never measured in bytes or time."""

from __future__ import annotations

import gc
from pathlib import Path

from textual._styles_cache import StylesCache
from textual.widget import Widget
from textual.widgets._footer import FooterKey
from ui.harness import build, settle

from rectui.screens.help import HelpScreen
from rectui.screens.main import MainScreen
from rectui.widgets.footer import prune_closed_watchers


def alive_footer_keys() -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if isinstance(obj, FooterKey))


def orphan_styles_caches() -> int:
    """Render caches (a widget's rendered lines) whose widget is gone."""
    gc.collect()
    objects = gc.get_objects()
    owned = {id(obj._styles_cache) for obj in objects if isinstance(obj, Widget)}
    return sum(1 for obj in objects if isinstance(obj, StylesCache) and id(obj) not in owned)


async def test_old_footer_keys_and_closed_screens_widgets_are_not_kept_alive(media_cache: Path) -> None:
    harness = build(media_cache, kinds=("restcomm",))
    async with harness.app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        for _ in range(12):                  # each return to the main screen recomposes its footer
            await pilot.press("question_mark")
            await settle(pilot, rounds=2)
            assert isinstance(harness.app.screen, HelpScreen)
            await pilot.press("escape")
            await settle(pilot, rounds=2)
        await pilot.press("down", "down", "up")
        await settle(pilot)
        screen = harness.app.screen
        assert isinstance(screen, MainScreen)
        shown = len(screen.query(FooterKey))
        assert shown > 0
        assert alive_footer_keys() <= shown           # 12 returns leaked ~12 × shown before the fix
        assert orphan_styles_caches() == 0            # the help screens' widgets kept them before


def test_prune_closed_watchers_keeps_live_entries_only() -> None:
    class Node:
        def __init__(self, closing: bool = False, closed: bool = False) -> None:
            self._closing, self._closed = closing, closed

    class Observed:
        pass

    live, closing, closed = Node(), Node(closing=True), Node(closed=True)
    observed = Observed()
    setattr(observed, "__watchers", {"compact": [(live, print), (closing, print), (closed, print)], "other": []})
    assert prune_closed_watchers(observed) == 2
    assert getattr(observed, "__watchers") == {"compact": [(live, print)], "other": []}
    assert prune_closed_watchers(Observed()) == 0        # nothing watched: nothing to do
