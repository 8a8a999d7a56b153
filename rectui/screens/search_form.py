"""The search form: asks the provider's server for a date range, caller, owner, call id, status
(the recycle bin included), topic or service type — only the filters that provider has.

What `/` does over the loaded rows, this does on the server, so it offers exactly the fields in
`Capabilities.server_filters` and says which ones the provider lacks, rather than letting a filter
the server would refuse (`Unsupported`) reach it. Dates are typed, not picked: `2026-11-01`,
`2026-11-01 14:00`, `7d`, `24h`, `2w`, `today`, `yesterday`, read in the user's time zone
(`parse_when`, a pure function) and sent as UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Select, Static

from rectui.models import Capabilities, ListQuery
from rectui.sanitize import one_line

TEXT_FILTER_LIMIT = 200
"""The longest caller, owner, call id or topic the form sends (no provider documents a limit)."""

FILTER_LABELS: dict[str, str] = {
    "since": "From date", "until": "To date", "caller": "Caller", "owner": "Owner", "call_id": "Call id",
    "status": "Status", "topic": "Topic", "service_type": "Service type",
}
"""Every filter a provider may offer, in the form's order, with the label the user sees."""

TEXT_PLACEHOLDERS: dict[str, str] = {
    "caller": "number or name", "owner": "user, id or e-mail", "call_id": "the call's id",
    "topic": "words in the topic",
}

STATUS_OPTIONS: tuple[tuple[str, str], ...] = (
    ("Any", ""), ("Available", "available"), ("In the recycle bin", "deleted"),
)
"""Status values a provider with a status filter lists (Webex: live recordings or its recycle bin)."""

SERVICE_TYPES: tuple[str, ...] = ("calling", "customerAssist")
"""The service types Webex documents; the only provider with this filter."""

DATE_HELP = "2026-11-01, 2026-11-01 14:00, 7d, 24h, 2w, today or yesterday"
_RELATIVE = re.compile(r"(\d{1,6})\s*(h|hours?|d|days?|w|weeks?)(\s+ago)?")
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def _localize(naive: datetime, tz: tzinfo | None) -> datetime:
    """A wall-clock time in `tz` (None: the machine's zone) as an aware datetime."""
    return naive.astimezone() if tz is None else naive.replace(tzinfo=tz)


def _local(value: datetime, tz: tzinfo | None) -> datetime:
    return value.astimezone() if tz is None else value.astimezone(tz)


def _midnight(day: datetime, tz: tzinfo | None, days: int = 0) -> datetime:
    """Local midnight of `day`'s date plus `days`, computed on the calendar (DST-safe)."""
    return _localize(datetime.combine(day.date() + timedelta(days=days), time()), tz)


def parse_when(text: str, tz: tzinfo | None, now: datetime, *, end: bool = False) -> datetime:
    """What the user typed in a date field, as a UTC datetime.

    Accepts an ISO date or date-time (`2026-11-01`, `2026-11-01 14:00`, `2026-11-01T14:00+02:00`),
    a span back from `now` (`7d`, `24h`, `2w`, `3 days ago`), `now`, `today` and `yesterday`.
    Times without an offset are wall-clock times in `tz` (None: the machine's zone). With `end`
    (the "to" field) a whole day means the end of that day, so `until=2026-11-01` includes it.
    Raises `ValueError` with a message fit to show under the field.
    """
    raw = " ".join(text.split())
    word = raw.casefold()
    if not word:
        raise ValueError("empty")
    try:
        if word == "now":
            return now.astimezone(UTC)
        if word in ("today", "yesterday"):
            back = 0 if word == "today" else 1
            return _midnight(_local(now, tz), tz, (1 if end else 0) - back).astimezone(UTC)
        relative = _RELATIVE.fullmatch(word)
        if relative is not None:
            return (now - int(relative.group(1)) * _UNITS[relative.group(2)[0]]).astimezone(UTC)
        value = datetime.fromisoformat(raw.upper())      # `t`/`z` as `T`/`Z`; nothing else has letters
    except (OverflowError, ValueError):
        raise ValueError(f"not a date; try {DATE_HELP}") from None
    if value.tzinfo is None:
        if end and _DATE_ONLY.fullmatch(word):
            return _midnight(value, tz, 1).astimezone(UTC)
        value = _localize(value, tz)
    return value.astimezone(UTC)


def format_when(value: datetime, tz: tzinfo | None, *, end: bool = False) -> str:
    """The inverse of `parse_when` for prefilling a field: a local midnight shows as a date alone
    (for `end`, the day it closes), anything else as `YYYY-MM-DD HH:MM[:SS]`."""
    local = _local(value, tz)
    if local.time() == time():
        day = local - timedelta(days=1) if end else local
        return day.strftime("%Y-%m-%d")
    return local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")


def describe_when(value: datetime, tz: tzinfo | None, *, end: bool = False) -> str:
    """The resolved time, local and as sent: `2026-11-01 00:00 CET · 2026-10-31 23:00 UTC`; for
    the "to" field a local midnight reads as the end of the day before (`end of 2026-11-01 CET`)."""
    local = _local(value, tz)
    zone = local.tzname() or ""
    if end and local.time() == time():
        shown = f"end of {local - timedelta(days=1):%Y-%m-%d} {zone}".rstrip()
    else:
        shown = f"{local:%Y-%m-%d %H:%M} {zone}".rstrip()
    return shown if local.utcoffset() == timedelta(0) else f"{shown} · {value:%Y-%m-%d %H:%M} UTC"


def _join(names: Iterable[str]) -> str:
    items = list(names)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def missing_note(capabilities: Capabilities, provider_name: str) -> str:
    """Which filters the provider cannot apply on its server, said plainly ("" when none)."""
    offered = capabilities.server_filters
    if not offered:
        return f"{provider_name} cannot filter on its server; / filters the loaded rows."
    missing = [label.casefold() for key, label in FILTER_LABELS.items() if key not in offered]
    dates = {"from date", "to date"}
    if dates <= set(missing):             # "dates" reads better than "from date or to date"
        missing = ["dates", *(m for m in missing if m not in dates)]
    return f"{provider_name} cannot filter by {_join(missing)}." if missing else ""


def _clean_text(value: str) -> str | None:
    text = one_line(value, limit=TEXT_FILTER_LIMIT).strip()
    return text or None


class SearchForm(ModalScreen[ListQuery | None]):
    """Server-side filters for one provider (or "All providers": the filters every one has).

    Dismisses with the new `ListQuery` (the `sort` and `page_size` of `current` kept), with a
    query without filters on Clear, or with None on Escape.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="search-cancel", tooltip="Close without searching"),
        Binding("ctrl+s", "submit", "Search", id="search-submit", tooltip="Ask the server with these filters"),
        Binding("ctrl+l", "clear", "Clear", id="search-clear", tooltip="Remove every server filter"),
    ]

    def __init__(self, capabilities: Capabilities, current: ListQuery, *, provider_name: str, tz: tzinfo | None,
                 now: datetime) -> None:
        """`tz` is the zone dates are typed in (None: the machine's), `now` anchors `7d`/`today`."""
        super().__init__()
        self.capabilities = capabilities
        self.current = current
        self.provider_name = provider_name
        self.tz = tz
        self.now = now
        self.fields: tuple[str, ...] = tuple(k for k in FILTER_LABELS if k in capabilities.server_filters)
        """The filters offered, in form order."""

    # -- layout -----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Vertical(id="search-form", classes="form"):
            yield Static(Content(f"Search {self.provider_name} on the server"), classes="dialog-title")
            note = missing_note(self.capabilities, self.provider_name)
            if note:
                yield Static(Content(note), id="search-missing", classes="muted")
            with VerticalScroll(id="search-fields", classes="form-fields") as fields:
                fields.can_focus = False          # tab goes from field to field, not to the frame
                for key in self.fields:
                    yield from self._field(key)
            with Horizontal(classes="form-buttons"):
                yield Button(Content("Search"), id="search-go", variant="primary", compact=True,
                             disabled=not self.fields)
                yield Button(Content("Clear"), id="search-clear-button", compact=True)
                yield Button(Content("Cancel"), id="search-cancel-button", compact=True)
        yield Footer()

    def _field(self, key: str) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label(Content(FILTER_LABELS[key]), classes="form-label")
            yield self._control(key)
        if key in ("since", "until"):
            yield Static(Content(""), id=f"search-{key}-note", classes="field-note")

    def _control(self, key: str) -> Input | Select[str]:
        cur = self.current
        if key in ("since", "until"):
            value = getattr(cur, key)
            text = "" if value is None else format_when(value, self.tz, end=key == "until")
            return Input(text, placeholder="e.g. 2026-11-01, 7d, today", id=f"search-{key}", compact=True,
                         max_length=60)
        if key == "status":
            statuses = list(STATUS_OPTIONS)
            if cur.status and cur.status not in (value for _, value in statuses):
                statuses.append((cur.status.capitalize(), cur.status))
            return Select(statuses, value=cur.status or "", allow_blank=False, id="search-status", compact=True)
        if key == "service_type":
            types = list(SERVICE_TYPES)
            if cur.service_type and cur.service_type not in types:
                types.append(cur.service_type)
            return Select([("Any", ""), *((t, t) for t in types)], value=cur.service_type or "", allow_blank=False,
                          id="search-service_type", compact=True)
        return Input(getattr(cur, key) or "", placeholder=TEXT_PLACEHOLDERS.get(key, ""), id=f"search-{key}",
                     compact=True, max_length=TEXT_FILTER_LIMIT)

    def on_mount(self) -> None:
        if {"since", "until"} & set(self.fields):
            self._check_dates()
        self.query_one(f"#search-{self.fields[0]}" if self.fields else "#search-clear-button").focus()

    # -- values -----------------------------------------------------------------------------------
    def _text(self, key: str) -> str:
        return self.query_one(f"#search-{key}", Input).value

    def _date(self, key: str) -> datetime | None:
        """The field's UTC time; None when empty. Raises ValueError when unreadable."""
        text = self._text(key)
        return parse_when(text, self.tz, self.now, end=key == "until") if text.strip() else None

    def _check_dates(self) -> dict[str, str]:
        """Resolve both date fields, show each one's time or error under it; the errors by field."""
        errors: dict[str, str] = {}
        values: dict[str, datetime | None] = {}
        for key in ("since", "until"):
            if key not in self.fields:
                continue
            try:
                values[key] = self._date(key)
            except ValueError as exc:
                errors[key] = str(exc)
        since, until = values.get("since"), values.get("until")
        if since is not None and until is not None and since >= until:
            errors["until"] = "must be after the from date"
        for key in ("since", "until"):
            if key in self.fields:
                value = values.get(key)
                note = errors.get(key) or ("any time" if value is None
                                          else describe_when(value, self.tz, end=key == "until"))
                widget = self.query_one(f"#search-{key}-note", Static)
                widget.update(Content(note))
                widget.set_class(key in errors, "-error")
        return errors

    def build_query(self) -> ListQuery:
        """The query the form describes now (dates must be valid: see `_check_dates`)."""
        filters: dict[str, object] = {}
        for key in self.fields:
            if key in ("since", "until"):
                filters[key] = self._date(key)
            elif key in ("status", "service_type"):
                choice = self.query_one(f"#search-{key}", Select).value
                filters[key] = choice if isinstance(choice, str) and choice else None
            else:
                filters[key] = _clean_text(self._text(key))
        return ListQuery(sort=self.current.sort, page_size=self.current.page_size, **filters)  # type: ignore[arg-type]

    # -- events and actions -----------------------------------------------------------------------
    @on(Input.Changed, "#search-since, #search-until")
    def _date_changed(self) -> None:
        self._check_dates()

    @on(Input.Submitted)
    def _input_submitted(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#search-go")
    def action_submit(self) -> None:
        errors = self._check_dates()
        if errors:
            self.query_one(f"#search-{next(iter(errors))}", Input).focus()
            self.app.bell()
            return
        self.dismiss(self.build_query())

    @on(Button.Pressed, "#search-clear-button")
    def action_clear(self) -> None:
        self.dismiss(ListQuery(sort=self.current.sort, page_size=self.current.page_size))

    @on(Button.Pressed, "#search-cancel-button")
    def action_cancel(self) -> None:
        self.dismiss(None)


__all__ = ["FILTER_LABELS", "SearchForm", "describe_when", "format_when", "missing_note", "parse_when"]
