"""Textual's `Footer` without its memory leaks, for screens that live as long as the app.

Textual 8.2.8's `Footer` recomposes (removes its `FooterKey`s and builds new ones) whenever the
screen's bindings change: a focus change, a screen coming back on top, a binding refreshed. Each new
key does `data_bind(compact=Footer.compact)`, which stores `(key, setter)` in the footer's own
watcher list; Textual drops a closed key from that list only when `compact` changes, which it never
does. So every recompose left ~24 dead keys (their styles, caches and rendered strips: ~0.5 MB)
reachable from the footer of the main screen: ~20 MB a minute in the soak (upstream:
Textualize/textual#6666). This footer drops the closed keys' entries after each recompose, by the
rule Textual applies when the value does change.

A recompose also follows every closed dialog, the moment its widgets become garbage, except that
Textual's `StylesCache.get_inner_outer` cache keeps up to 1024 of their render caches alive with
every line they drew (~9 MB once full; upstream: Textualize/textual#6665): the footer empties that
cache then too.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Footer as _TextualFooter

__all__ = ["Footer", "forget_dead_styles_caches", "prune_closed_watchers"]


def prune_closed_watchers(obj: object) -> int:
    """Drop the watchers registered on `obj` by nodes that have closed (removed from the DOM);
    returns how many were dropped. A no-op if Textual keeps its watchers some other way."""
    watchers: Any = getattr(obj, "__watchers", None)
    if not isinstance(watchers, dict):
        return 0
    dropped = 0
    for entries in watchers.values():
        if not isinstance(entries, list):
            continue
        alive = [(node, callback) for node, callback in entries
                 if not (getattr(node, "_closing", False) or getattr(node, "_closed", False))]
        dropped += len(entries) - len(alive)
        entries[:] = alive
    return dropped


def forget_dead_styles_caches() -> None:
    """Empty the `lru_cache` on Textual's `StylesCache.get_inner_outer`: it is keyed by the
    `StylesCache` itself, so it keeps up to 1024 of them alive, with every line they rendered,
    long after their widgets were removed (upstream: Textualize/textual#6665). What it caches is two
    colour styles, cheap to compute again."""
    try:
        from textual._styles_cache import StylesCache
        StylesCache.get_inner_outer.cache_clear()  # type: ignore[attr-defined]
    except (ImportError, AttributeError):
        pass


class Footer(_TextualFooter):
    """`textual.widgets.Footer` that does not keep its old keys alive (see the module docstring)."""

    async def recompose(self) -> None:
        await super().recompose()
        prune_closed_watchers(self)
        forget_dead_styles_caches()
