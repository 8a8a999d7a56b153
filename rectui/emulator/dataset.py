"""Deterministic recordings for the emulator, made lazily from a seed.

A `Dataset` holds `count` recordings for one provider. Recording `i` is built on first access
from `(seed, provider, i)` alone, so 100,000 recordings cost nothing until they are listed, and
the same seed always gives the same data. Index 0 is the newest; start times fall strictly with
the index, spread over `span` back from `anchor`, so a date range maps to an index range by
bisection.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache

FIRST = ["Alice", "Bob", "Chen", "Dmitri", "Élodie", "Fatima", "Gareth", "Hana", "Ibrahim", "Jun",
         "Kofi", "Lucía", "Mateus", "Nadia", "Olu", "Priya", "Quinn", "Rafael", "Sakura", "Tomás",
         "Ursula", "Vikram", "Wen", "Xavier", "Yusuf", "Zoë", "山田", "Şebnem", "Ørjan", "Ngozi"]
LAST = ["Anders", "Brown", "Costa", "Dubois", "Evans", "Fischer", "García", "Hughes", "Ito", "Jensen",
        "Kowalski", "Lopez", "Müller", "Nakamura", "O'Brien", "Petrov", "Quispe", "Rossi", "Singh",
        "Tanaka", "Umar", "Varga", "Wong", "Xu", "Yilmaz", "Zhou", "太郎", "Öztürk", "Nguyễn", "Ó Súilleabháin"]
DOMAINS = ["acme.example", "globex.example", "initech.example", "umbrella.example", "hooli.example"]
TOPICS = ["Quarterly review", "Support: login issue", "Sales call", "Onboarding", "Renewal discussion",
          "Billing question", "Incident 4521 bridge", "Weekly sync", "Interview", "Customer escalation",
          "Voicemail", "Demo follow-up", "Contract negotiation", "Roadmap planning", "Standup",
          "Password reset", "Shipping delay", "Refund request", "Partner intro", "Training session",
          "Réunion d'équipe", "会議の録音", "مكالمة مع العميل", "שיחת מכירות", "Встреча с клиентом",
          "Team lunch 🍕 planning", "Family 👨‍👩‍👧 plan review", "Q&A [draft]", "", "Call"]
NOTES = [None, None, "", "Customer asked for a callback.", "Follow up next week.",
         "Escalated to tier 2 — see ticket.", "Long silence at the start.", "顧客満足度は高い",
         "Contains PCI data: redacted.", "Recorded by request of the caller."]
TAGS = ["vip", "follow-up", "billing", "support", "sales", "legal-hold", "training", "qa"]
SAMPLE_RATES = [8000, 8000, 8000, 16000, 16000, 22050, 44100, 48000]

# Hostile values, on only with `hostile=True`: a small fixed share of recordings carry them, and,
# so that a demo or a scan meets every kind on its first page, every other one of each provider's
# newest `2 * len(HOSTILE_TEXTS)` recordings does. A hostile recording gets a hostile title, hostile
# caller/callee/owner names, notes and an extra tag; half of them an unsafe id suffix too.
#
# Every escape or control carries a unique canary (`CANARY-<KIND>-<FIELD>`) right after its
# introducer and the parameters that make it dangerous. Shown inertly, the control becomes U+FFFD
# and the canary stays readable text; if the control ever reached a terminal, the terminal's bytes
# hold the canary right after ESC or a C1 code (`HOSTILE_CANARIES` maps each canary to its raw
# prefix, for such a scan).
CANARY = "CANARY"
ST = "\x1b\\"             # string terminator: ESC backslash

# kind -> (raw prefix the canary follows, what comes after the canary)
_ESCAPES: dict[str, tuple[str, str]] = {
    "CSI2J": ("\x1b[2J", "\x1b[31mred alert\x1b[0m"),               # clear the screen, then colour
    "OSC52": ("\x1b]52;c;", "\x07clipboard"),                       # clipboard write, BEL-terminated
    "OSC52ST": ("\x1b]52;p;", ST + "selection"),                     # primary selection, ST-terminated
    "OSC0": ("\x1b]0;", "\x07title"),                                # window title, BEL-terminated
    "OSC2ST": ("\x1b]2;", ST + "title"),                              # window title, ST-terminated
    "OSC8": ("\x1b]8;;", ST + "link\x1b]8;;" + ST),                   # hyperlink (the canary is the URI)
    "DCS": ("\x1bP", "+q544e" + ST),                                 # device control string
    "APC": ("\x1b_", "Ga=T" + ST),                                   # application program command
    "PM": ("\x1b^", ST + "privacy"),                                 # privacy message
    "RIS": ("\x1bc", " reset"),                                      # full terminal reset
    "C1CSI": ("\x9b", "2J c1 csi"),                                  # raw U+009B (8-bit CSI)
    "C1OSC": ("\x9d0;", "\x9c c1 osc"),                              # raw U+009D OSC, U+009C ST
    "NUL": ("\x00", " nul byte"),
    "DEL": ("\x7f", " del byte"),
    "BIDI": ("\u202e", "\u202c exe.txt reversed"),                   # right-to-left override
}
HOSTILE_CANARIES: dict[str, str] = {}     # canary -> the raw prefix it follows in the hostile value


def _hostile(kind: str, field_: str, lead: str = "", tail: str | None = None) -> str:
    """`lead`, the escape `kind`'s prefix, its canary for `field_`, and its tail; registers the canary."""
    prefix, usual_tail = _ESCAPES[kind]
    canary = f"{CANARY}-{kind}-{field_}"
    HOSTILE_CANARIES[canary] = prefix
    return lead + prefix + canary + (usual_tail if tail is None else tail)


HOSTILE_TEXTS = [                          # titles and topics: markup first, then every escape
    "[bold]x",
    "[@click=app.quit]Click me[/]",
    "[/red]",
    "Q&A [draft]",
    *(_hostile(kind, "TITLE") for kind in _ESCAPES),
    "T" * 10_000,
]
HOSTILE_NAMES = [_hostile(kind, "NAME", lead) for kind, lead in
                 (("OSC52", "Mallory "), ("OSC8", "Eve "), ("C1CSI", "Trudy "), ("BIDI", "Oscar "))]
HOSTILE_NOTES = [_hostile(kind, "NOTE", lead) for kind, lead in
                 (("DCS", "Note: "), ("OSC52ST", ""), ("APC", "See "), ("NUL", "Call"), ("OSC0", ""))]
HOSTILE_TAGS = [_hostile(kind, "TAG") for kind in ("OSC8", "CSI2J", "C1OSC", "OSC52")]
# Server error messages, for the emulator's `status=…,message=…` fault (so no `,` or `;`, the
# fault grammar's separators); Genesys, Webex and Screendesk put that message in their error bodies.
HOSTILE_ERRORS = [_hostile(kind, "ERROR", "upstream said: ") for kind in ("CSI2J", "C1CSI", "DCS")]
# Ids stay printable ASCII: the adapters clean ids too, and a listed id must be the server's own.
HOSTILE_ID_SUFFIXES = ["../other", "a/b", "x?y=1", "%2e%2e", "#frag"]
HOSTILE_SHARE = 0.03


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    email: str
    number: str
    user_id: str


@dataclass(frozen=True, slots=True)
class Fact:
    """One recording, provider-neutral; each provider module maps it to its wire format."""

    index: int
    uid: str                    # 32 lowercase hex digits, stable for (seed, provider, index)
    start: datetime             # tz-aware UTC
    duration: float             # seconds, 3 s .. 60 min
    direction: str              # "inbound" | "outbound"
    caller: Person
    callee: Person
    owner: Person
    topic: str
    notes: str | None
    sample_rate: int
    channels: int
    tags: tuple[str, ...]
    flag: int                   # 0..999, for provider-specific variety (status, "prevent download"…)
    hostile_text: str | None    # a hostile title/topic when the dataset is hostile
    hostile_id: str | None      # a suffix that makes this recording's id hostile

    def title(self) -> str:
        return self.hostile_text if self.hostile_text is not None else self.topic

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration)


def _person(rng: random.Random, uid_seed: str) -> Person:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = "".join(ch for ch in f"{first}.{last}".lower() if ch.isascii() and (ch.isalnum() or ch == "."))
    email = f"{local or 'user'}{rng.randrange(100)}@{rng.choice(DOMAINS)}"
    number = f"+1{rng.randrange(200, 999)}{rng.randrange(200, 999)}{rng.randrange(1000, 9999)}"
    user_id = hashlib.sha256(f"{uid_seed}:{email}".encode()).hexdigest()[:32]
    return Person(f"{first} {last}", email, number, user_id)


def _duration(rng: random.Random) -> float:
    """Mostly short calls, a long tail up to an hour."""
    r = rng.random()
    if r < 0.55:
        d = rng.uniform(3, 180)
    elif r < 0.9:
        d = rng.uniform(180, 900)
    else:
        d = rng.uniform(900, 3600)
    return round(d, 3)


def _make_hostile(fact: Fact, slot: int) -> Fact:
    """`fact` with hostile values in every free-text field: title, names, notes, an extra tag and,
    for every other slot, an id suffix."""
    def renamed(person: Person, k: int) -> Person:
        return replace(person, name=HOSTILE_NAMES[k % len(HOSTILE_NAMES)])

    owner = renamed(fact.owner, slot)
    other = renamed(fact.callee if fact.caller == fact.owner else fact.caller, slot + 1)
    caller, callee = (other, owner) if fact.direction == "inbound" else (owner, other)
    return replace(
        fact, caller=caller, callee=callee, owner=owner,
        notes=HOSTILE_NOTES[slot % len(HOSTILE_NOTES)],
        tags=tuple(sorted({*fact.tags, HOSTILE_TAGS[slot % len(HOSTILE_TAGS)]})),
        hostile_text=HOSTILE_TEXTS[slot % len(HOSTILE_TEXTS)],
        hostile_id=HOSTILE_ID_SUFFIXES[-1 - slot // 2 % len(HOSTILE_ID_SUFFIXES)] if slot % 2 == 0 else None,
    )


@dataclass
class Dataset:
    """`count` recordings for one provider, newest first, built lazily."""

    provider: str
    seed: int = 1
    count: int = 2000
    hostile: bool = False
    anchor: datetime = field(default_factory=lambda: datetime.now(UTC).replace(minute=0, second=0,
                                                                              microsecond=0))
    span: timedelta = timedelta(days=730)

    def __post_init__(self) -> None:
        if self.anchor.tzinfo is None:
            raise ValueError("anchor must be tz-aware")
        self._step = self.span.total_seconds() / max(self.count, 1)
        self.fact = lru_cache(maxsize=8192)(self._make)

    def __len__(self) -> int:
        return self.count

    def _rng(self, index: int) -> random.Random:
        digest = hashlib.blake2b(f"{self.seed}:{self.provider}:{index}".encode(), digest_size=16)
        return random.Random(int.from_bytes(digest.digest(), "big"))

    def start_of(self, index: int) -> datetime:
        """Start time of recording `index`: strictly decreasing with the index."""
        jitter = self._rng(index).random() * 0.9   # stays inside its own slot
        return self.anchor - timedelta(seconds=(index + jitter) * self._step)

    def _make(self, index: int) -> Fact:
        if not 0 <= index < self.count:
            raise IndexError(index)
        rng = self._rng(index)
        rng.random()   # the jitter draw of start_of
        uid = hashlib.sha256(f"{self.seed}:{self.provider}:{index}:uid".encode()).hexdigest()[:32]
        owner_key = f"{self.seed}:{self.provider}:owner{rng.randrange(12)}"
        owner = _person(random.Random(owner_key), owner_key)   # a dozen owners per provider
        other = _person(rng, f"{self.seed}:{self.provider}:{index}")
        direction = rng.choice(["inbound", "outbound"])
        caller, callee = (other, owner) if direction == "inbound" else (owner, other)
        roll = rng.random()     # always drawn: hostile values change no other field of a recording
        slot = self._hostile_slot(index, roll)
        fact = Fact(
            index=index,
            uid=uid,
            start=self.start_of(index),
            duration=_duration(rng),
            direction=direction,
            caller=caller,
            callee=callee,
            owner=owner,
            topic=rng.choice(TOPICS),
            notes=rng.choice(NOTES),
            sample_rate=rng.choice(SAMPLE_RATES),
            channels=2 if rng.random() < 0.2 else 1,
            tags=tuple(sorted(rng.sample(TAGS, rng.choice([0, 0, 0, 1, 1, 2])))),
            flag=rng.randrange(1000),
            hostile_text=None,
            hostile_id=None,
        )
        return fact if slot is None else _make_hostile(fact, slot)

    def _hostile_slot(self, index: int, roll: float) -> int | None:
        """Which hostile values recording `index` carries, or None for a calm one: every other one
        of the newest `2 * len(HOSTILE_TEXTS)` (so the first page shows every kind), and a
        `HOSTILE_SHARE` of the rest."""
        if not self.hostile:
            return None
        if index < 2 * len(HOSTILE_TEXTS):
            return index // 2 if index % 2 else None
        return index if roll < HOSTILE_SHARE else None

    def _first_before(self, when: datetime, lo: int = 0) -> int:
        """The first index >= lo whose start time is before `when` (start times fall with the index)."""
        a, b = lo, self.count
        while a < b:
            m = (a + b) // 2
            if self.start_of(m) < when:
                b = m
            else:
                a = m + 1
        return a

    def index_range(self, start: datetime | None, end: datetime | None) -> range:
        """Indices whose start time t satisfies start <= t < end (either bound optional)."""
        lo = self._first_before(end) if end is not None else 0
        hi = self._first_before(start, lo) if start is not None else self.count
        return range(lo, max(lo, hi))
