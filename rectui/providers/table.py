"""The README's "What each provider supports" table, generated from the adapters' `Capabilities`
so the documentation cannot drift from what the app offers (`tests/test_readme.py` checks it).

Regenerate with `python -m rectui.providers.table` and paste the output between the markers.
"""

from __future__ import annotations

from rectui.models import Capabilities
from rectui.providers import REGISTRY, adapter_class

BEGIN = "<!-- capabilities:begin -->"
END = "<!-- capabilities:end -->"
NAMES = {"genesys": "Genesys Cloud", "kazoo": "Kazoo", "restcomm": "Restcomm", "webex": "Webex",
         "screendesk": "Screendesk"}
FILTER_WORDS = {"since": "from", "until": "to", "call_id": "call id", "owner": "owner", "caller": "caller",
                "status": "status (recycle bin)", "topic": "topic", "service_type": "service type"}
SORT_WORDS = {"start": "date", "duration": "duration", "title": "title", "owner": "owner", "caller": "caller",
              "call_id": "call id", "size": "size"}


def _yes(flag: bool) -> str:
    return "yes" if flag else "–"


def _words(values: frozenset[str], words: dict[str, str]) -> str:
    ordered = [words[v] for v in words if v in values]
    return ", ".join(ordered) if ordered else "–"


def row(kind: str, caps: Capabilities) -> list[str]:
    paging = "numbered (first/last/jump)" if caps.page_style == "number" else "next/previous"
    delete = "–"
    if caps.can_delete:
        delete = "to recycle bin" if caps.can_restore else "permanent"
    return [
        NAMES.get(kind, kind),
        paging,
        _yes(caps.exact_total),
        _words(caps.server_sort, SORT_WORDS) + ("" if caps.server_sort else " (sorts loaded rows)"),
        _words(caps.server_filters, FILTER_WORDS),
        _yes(caps.media) if caps.media else "– (viewer link)",
        delete,
        _yes(caps.can_restore),
        _yes(caps.can_purge),
        "server" if caps.server_tags else "local",
        ", ".join(caps.rename_fields) if caps.can_rename else "–",
        str(caps.max_page_size),
    ]


HEADER = ["Provider", "Paging", "Exact total", "Server sort", "Server filters", "Audio", "Delete", "Restore",
          "Purge", "Tags", "Rename", "Max page"]


def markdown() -> str:
    """The table, one provider a row, in sidebar order."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for kind in REGISTRY:
        cls = adapter_class(kind)
        if cls is not None:
            lines.append("| " + " | ".join(row(kind, cls.capabilities)) + " |")
    return "\n".join(lines)


def block() -> str:
    return f"{BEGIN}\n{markdown()}\n{END}"


if __name__ == "__main__":  # pragma: no cover
    print(block())
