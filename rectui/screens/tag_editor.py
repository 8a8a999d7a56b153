"""The tag editor: add and remove tags on one recording or many, with completion from the tags
already in use, and honest about where the tags live (on the provider's server, or only here).

The editor decides nothing about storage: it returns a `TagChange` (tags to add to every
recording, tags to remove from every recording) and the main screen applies it through the
operations queue (server tags) or the store (local tags). Tags are cleaned as the store cleans
them (`rectui.store.clean_tag`), so what the user sees here is what gets kept; tag text is shown
as plain text, never as markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from rectui.models import TAG_LIMIT, Recording
from rectui.store import clean_tag
from rectui.widgets import formatting as fmt

Key = tuple[str, str]
"""A recording's key: (provider instance, recording id), as `Recording.key`."""


@dataclass(frozen=True)
class TagChange:
    """What to do to every recording the editor was opened on."""

    add: frozenset[str]
    """Tags to put on every recording (those already on all of them are left out)."""
    remove: frozenset[str]
    """Tags to take off every recording that has them."""


def tag_counts(recordings: Sequence[Recording], current: Mapping[Key, frozenset[str]]) -> dict[str, int]:
    """Each tag on the recordings → on how many of them. A recording missing from `current`
    counts with its own `tags` (the server's, where the provider keeps tags)."""
    counts: dict[str, int] = {}
    for rec in recordings:
        for tag in current.get(rec.key, rec.tags):
            counts[tag] = counts.get(tag, 0) + 1
    return counts


def where_tags_live(server: bool, provider_name: str) -> str:
    if not server:
        return "local tags, kept on this machine"
    return f"server tags ({provider_name})" if provider_name else "server tags"


class TagList(OptionList):
    """The tags shown, one per line; delete/backspace marks the highlighted one for removal
    (again: keeps it), or drops a tag that was only about to be added."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("delete,backspace,d,x", "toggle", "Remove", id="tags-remove",
                tooltip="Remove the highlighted tag, or keep it again"),
    ]

    @dataclass
    class ToggleRequested(Message):
        tag: str

    def action_toggle(self) -> None:
        index = self.highlighted
        if index is not None and (tag := self.get_option_at_index(index).id) is not None:
            self.post_message(self.ToggleRequested(tag))


class TagEditor(ModalScreen[TagChange | None]):
    """Dismisses with a `TagChange`, or None on Escape or when nothing was changed."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="tags-cancel", tooltip="Close without changing any tag"),
        Binding("ctrl+s", "save", "Save", id="tags-save", tooltip="Apply the added and removed tags"),
    ]

    def __init__(self, recordings: Sequence[Recording], *, tags_in_use: Iterable[str], server: bool,
                 current: Mapping[Key, frozenset[str]], provider_name: str = "") -> None:
        """`current` holds each recording's tags as shown (local or server); `tags_in_use` feeds
        the completion; `server` says the tags are the provider's (`provider_name`'s)."""
        super().__init__()
        if not recordings:
            raise ValueError("the tag editor needs at least one recording")
        self.recordings = tuple(recordings)
        self.server = server
        self.provider_name = provider_name
        self.counts = tag_counts(self.recordings, current)
        """Tag → how many of the recordings have it now."""
        self.added: list[str] = []
        """Tags typed in this session, in the order typed (none already on every recording)."""
        self.removed: set[str] = set()
        """Existing tags marked for removal."""
        self.suggestions = sorted({t for t in map(clean_tag, tags_in_use) if t}, key=lambda t: (t.casefold(), t))

    # -- layout -----------------------------------------------------------------------------------
    def _heading(self) -> str:
        if len(self.recordings) > 1:
            return f"Tags · {len(self.recordings):,} recordings"
        rec = self.recordings[0]
        return f"Tags · {fmt.fit(rec.title or rec.id, 60)}"

    def compose(self) -> ComposeResult:
        with Vertical(id="tag-editor", classes="form"):
            yield Static(Content(self._heading()), classes="dialog-title")
            yield Static(Content(where_tags_live(self.server, self.provider_name)), id="tags-where", classes="muted")
            yield TagList(id="tags-list")
            yield Static(Content("No tags yet."), id="tags-empty", classes="muted")
            with Horizontal(classes="form-row"):
                yield Label(Content("Add a tag"), classes="form-label")
                yield Input(placeholder="type, → completes, enter adds", id="tags-input", compact=True,
                            max_length=TAG_LIMIT, suggester=SuggestFromList(self.suggestions, case_sensitive=False))
            yield Static(Content(""), id="tags-note", classes="field-note")
            with Horizontal(classes="form-buttons"):
                yield Button(Content("Save"), id="tags-save-button", variant="primary", compact=True)
                yield Button(Content("Cancel"), id="tags-cancel-button", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self._note("")
        self._refresh_list()
        self.query_one("#tags-input", Input).focus()

    def _line(self, tag: str) -> Text:
        """One tag as plain text (never markup) with where it stands."""
        total = len(self.recordings)
        line = Text(tag)
        if tag in self.added:
            have = self.counts.get(tag, 0)
            line.append(f"  on {have} of {total} → all" if have else "  + to add", style="bold")
        elif tag in self.removed:
            line.stylize("strike")
            line.append("  − to remove", style="bold")
        elif total > 1:
            have = self.counts[tag]
            line.append("  on all" if have == total else f"  on {have} of {total}", style="dim")
        return line

    def _refresh_list(self, highlight: str | None = None) -> None:
        tags = sorted(self.counts, key=lambda t: (-self.counts[t], t.casefold(), t))
        tags += [t for t in self.added if t not in self.counts]
        listing = self.query_one(TagList)
        keep = highlight or self._highlighted()
        listing.set_options(Option(self._line(tag), id=tag) for tag in tags)
        if keep in tags:
            listing.highlighted = tags.index(keep)
        elif tags:
            listing.highlighted = 0
        listing.display = bool(tags)
        self.query_one("#tags-empty").display = not tags

    def _highlighted(self) -> str | None:
        listing = self.query_one(TagList)
        if listing.highlighted is None or listing.option_count == 0:
            return None
        return listing.get_option_at_index(listing.highlighted).id

    def _note(self, text: str, *, error: bool = False) -> None:
        note = self.query_one("#tags-note", Static)
        note.update(Content(text))
        note.set_class(error, "-error")
        note.display = bool(text)

    # -- changes ----------------------------------------------------------------------------------
    def add_tag(self, text: str) -> bool:
        """Add what was typed (cleaned like the store does); False with a note when it cannot be."""
        tag = clean_tag(text)
        if not tag:
            self._note("A tag needs a visible character.", error=True)
            return False
        if tag in self.removed:
            self.removed.discard(tag)
        elif tag in self.added or self.counts.get(tag) == len(self.recordings):
            self._note("Already there.")
            self._refresh_list(tag)
            return True
        else:
            self.added.append(tag)
        self._note("")
        self._refresh_list(tag)
        return True

    def toggle(self, tag: str) -> None:
        if tag in self.added:
            self.added.remove(tag)
        elif tag in self.removed:
            self.removed.discard(tag)
        else:
            self.removed.add(tag)
        self._refresh_list(tag)

    def change(self) -> TagChange | None:
        """The change so far; None when there is none."""
        if not self.added and not self.removed:
            return None
        return TagChange(add=frozenset(self.added), remove=frozenset(self.removed))

    # -- events and actions -----------------------------------------------------------------------
    @on(Input.Submitted, "#tags-input")
    def _submitted(self, event: Input.Submitted) -> None:
        """Enter adds what was typed; on an empty field it saves."""
        if not event.value.strip():
            self.action_save()
        elif self.add_tag(event.value):
            event.input.clear()

    @on(TagList.ToggleRequested)
    def _toggle_requested(self, event: TagList.ToggleRequested) -> None:
        self.toggle(event.tag)

    @on(Button.Pressed, "#tags-save-button")
    def action_save(self) -> None:
        self.dismiss(self.change())

    @on(Button.Pressed, "#tags-cancel-button")
    def action_cancel(self) -> None:
        self.dismiss(None)
