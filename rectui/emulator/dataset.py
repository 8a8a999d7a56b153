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
from dataclasses import dataclass, field
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

# Hostile values, on only with `hostile=True`: a small fixed share of recordings carry them.
HOSTILE_TEXTS = [
    "[bold]x",
    "[@click=app.quit]Click me[/]",
    "[/red]",
    "Q&A [draft]",
    "\x1b[2J\x1b[31mred alert\x1b[0m",
    "\x1b]52;c;Y2FuYXJ5LWNsaXBib2FyZA==\x07clipboard",
    "\x1b]0;pwned title\x07title",
    "\x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\",
    "\u202eevil.exe\u202c reversed",
    "nul\x00byte del\x7f c1\x9b31m",
    "T" * 10_000,
]
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
        hostile_text = hostile_id = None
        if self.hostile and rng.random() < HOSTILE_SHARE:
            hostile_text = HOSTILE_TEXTS[index % len(HOSTILE_TEXTS)]
            if index % 3 == 0:
                hostile_id = HOSTILE_ID_SUFFIXES[index % len(HOSTILE_ID_SUFFIXES)]
        else:
            rng.random()
        return Fact(
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
            hostile_text=hostile_text,
            hostile_id=hostile_id,
        )

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
