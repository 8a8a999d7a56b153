"""The confirmation of a destructive action (delete, restore, purge).

The targets are locked into an `ActionPlan` when the dialog opens; the dialog only answers yes
or no, and the screen then acts on the plan's targets, never on cursor rows. Focus starts on
Cancel, so Enter alone never deletes. One recording in one provider confirms with `y`; more than
one, any purge, and anything started from "All providers" asks for the count to be typed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.events import Key
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Static

from rectui.operations import Target
from rectui.screens.state import VERBS
from rectui.widgets import formatting as fmt

SHOWN_TITLES = 5
"""Titles named in the dialog before "and N more"."""


@dataclass(frozen=True)
class ActionPlan:
    """What the user is asked to confirm: `op` on exactly these targets (locked when the dialog
    opened), with what is needed to say where they go."""

    op: str
    targets: tuple[Target, ...]
    names: Mapping[str, str]
    """Provider id → display name."""
    from_all: bool = False
    """Started from "All providers": always typed."""
    restorable: frozenset[str] = frozenset()
    """Providers whose delete goes to a recycle bin (Webex)."""

    @property
    def count(self) -> int:
        return len(self.targets)

    @property
    def type_count(self) -> bool:
        """The user types the count: several recordings, any purge, any delete from "All providers"."""
        return self.count > 1 or self.op == "purge" or (self.from_all and self.op == "delete")

    @property
    def providers(self) -> list[str]:
        return list(dict.fromkeys(t.provider for t in self.targets))

    def noun(self) -> str:
        return "1 recording" if self.count == 1 else f"{fmt.count(self.count)} recordings"

    def question(self) -> str:
        return f"{VERBS[self.op][0]} {self.noun()}?"

    def where(self) -> str:
        """"From Kazoo (2), Webex (1)"."""
        counts = Counter(t.provider for t in self.targets)
        parts = [f"{self.names.get(p, p)} ({counts[p]})" if len(counts) > 1 else self.names.get(p, p)
                 for p in self.providers]
        return ("From " if self.op != "restore" else "In the recycle bin of ") + ", ".join(parts)

    def titles(self) -> list[str]:
        out = [f"• {t.title or t.id}" for t in self.targets[:SHOWN_TITLES]]
        if self.count > SHOWN_TITLES:
            out.append(f"  and {fmt.count(self.count - SHOWN_TITLES)} more")
        return out

    def total_duration(self) -> str:
        durations = [t.recording.duration for t in self.targets
                     if t.recording is not None and t.recording.duration is not None]
        if not durations:
            return ""
        text = f"Total duration {fmt.duration(sum(durations))}"
        return text if len(durations) == self.count else f"{text} (of {len(durations)} with a known duration)"

    def consequence(self) -> str:
        if self.op == "restore":
            return "They go back to the recordings list." if self.count > 1 else "It goes back to the recordings list."
        if self.op == "purge":
            return "Permanent — cannot be undone."
        binned = [p for p in self.providers if p in self.restorable]
        permanent = [p for p in self.providers if p not in self.restorable]
        parts = []
        if permanent:
            which = "" if not binned else f" ({', '.join(self.names.get(p, p) for p in permanent)})"
            parts.append(f"Permanent{which} — cannot be undone.")
        if binned:
            bins = ", ".join(self.names.get(p, p) for p in binned)
            parts.append(f"To the {bins} recycle bin (restorable).")
        return " ".join(parts)


class ConfirmDialog(ModalScreen[bool]):
    """Yes or no to an `ActionPlan`; True only from the confirm button or `y` (single mode)."""

    AUTO_FOCUS = "#confirm-cancel"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="confirm-cancel", tooltip="Close without doing anything"),
        Binding("y", "confirm", "Yes", id="confirm-yes", tooltip="Confirm (one recording in one provider)"),
    ]

    def __init__(self, plan: ActionPlan) -> None:
        super().__init__()
        self.plan = plan

    def compose(self) -> ComposeResult:
        plan = self.plan
        verb = VERBS[plan.op][0]
        danger = "-danger" if plan.op != "restore" else ""
        with Vertical(id="confirm", classes=f"dialog {danger}"):
            yield Static(Content(plan.question()), id="confirm-question", classes="dialog-title")
            yield Static(Content(plan.where()), id="confirm-where")
            yield Static(Content("\n".join(plan.titles())), id="confirm-titles")
            if duration := plan.total_duration():
                yield Static(Content(duration), id="confirm-duration")
            yield Static(Content(plan.consequence()), id="confirm-consequence")
            with Horizontal(id="confirm-buttons"):
                if plan.type_count:
                    yield Static(Content(f"Type {plan.count} to confirm:"), id="confirm-prompt")
                    yield Input(placeholder=str(plan.count), id="confirm-count", restrict=r"[0-9]*", max_length=9,
                                select_on_focus=False)
                yield Static(id="confirm-gap")
                yield Button("Cancel", id="confirm-cancel")
                label = verb if plan.type_count else f"{verb} (y)"
                yield Button(label, id="confirm-ok", variant="error" if danger else "primary",
                             disabled=plan.type_count)
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "confirm":
            return not self.plan.type_count
        return True

    def typed_matches(self) -> bool:
        if not self.plan.type_count:
            return True
        return self.query_one("#confirm-count", Input).value.strip() == str(self.plan.count)

    @on(Input.Changed, "#confirm-count")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#confirm-ok", Button).disabled = not self.typed_matches()

    @on(Input.Submitted, "#confirm-count")
    def _submitted(self, event: Input.Submitted) -> None:
        """Enter in the count box never confirms: with the right count it moves to the button."""
        event.stop()
        if self.typed_matches():
            self.query_one("#confirm-ok", Button).focus()

    def on_key(self, event: Key) -> None:
        """Digits typed anywhere in the dialog go to the count box (focus starts on Cancel)."""
        if not self.plan.type_count or event.character is None or not event.character.isdigit():
            return
        box = self.query_one("#confirm-count", Input)
        if not box.has_focus:
            event.stop()
            event.prevent_default()
            box.focus()
            box.insert_text_at_cursor(event.character)

    @on(Button.Pressed, "#confirm-cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#confirm-ok")
    def _ok_pressed(self) -> None:
        if self.typed_matches():
            self.dismiss(True)

    def action_confirm(self) -> None:
        if not self.plan.type_count:
            self.dismiss(True)
