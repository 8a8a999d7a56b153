"""Fault injection for the emulator: rules parsed from a spec, matched per provider and route.

Spec grammar (``--faults`` and ``POST /_emulator/faults``)::

    RULE[;RULE...]
    RULE   = TARGET ":" KNOB ["=" VALUE] ("," PARAM "=" VALUE)*
    TARGET = provider "." route, either part may be "*" (a glob), e.g. "webex.list", "kazoo.*"

Every rule may take ``count=N`` (fire on the first N matching requests only), ``every=N`` (fire on
every Nth matching request) or ``rate=P`` (fire with probability P from a seeded RNG, so a run is
reproducible), and ``after=N`` (let the first N matching requests through). ``id=A|B`` limits a
rule to requests whose path has one of those recording ids as a segment (``REC7`` matches
``/recordings/REC7`` and ``/Recordings/REC7.json``), for per-item faults in a bulk operation: such a
rule counts only the requests it matches. Knob names follow
the fault plan of the reliability notes; the generic ones are applied by `apply_before` and
`apply_after` in `rectui.emulator.app`, provider-specific ones are asked for with `Faults.take`.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import dataclass, field
from urllib.parse import unquote

GENERIC_KNOBS = frozenset({
    "latency", "drip", "reset_after", "status", "retry_after", "content_type", "malformed_json",
    "forbid",
})
KNOWN_KNOBS: set[str] = set(GENERIC_KNOBS) | {
    "schema_drift", "empty_page", "cursor_repeat", "cursor_cycle", "redirect", "gzip_bomb",
    "expire_token_after", "delete_apply_then_fail", "delete_async_ghost", "hostile_titles",
    "hostile_ids", "media", "link_expired", "rate_limit", "no_tags", "transcode_forever",
}


def register_knobs(*names: str) -> None:
    """Provider modules register the provider-specific knob names they understand."""
    KNOWN_KNOBS.update(names)
_CONTROL = frozenset({"count", "every", "rate", "after", "id"})
MEDIA_MODES = ("huge", "endless", "corrupt", "html", "hls", "empty", "long_lowbitrate")


class FaultSpecError(ValueError):
    """A fault spec that cannot be parsed; the message says which part and why."""


@dataclass
class FaultRule:
    target: str
    knob: str
    value: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    count: int | None = None
    every: int | None = None
    rate: float | None = None
    after: int = 0
    ids: frozenset[str] = frozenset()
    seen: int = 0
    fired: int = 0

    def matches(self, provider: str, route: str, path: str | None = None) -> bool:
        if not fnmatch.fnmatchcase(f"{provider}.{route}", self.target):
            return False
        return not self.ids or (path is not None and _path_has_id(path, self.ids))

    def param(self, name: str, default: str | None = None) -> str | None:
        return self.params.get(name, default)

    def number(self, name: str | None = None, default: float = 0.0) -> float:
        raw = self.value if name is None else self.params.get(name)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError as exc:
            raise FaultSpecError(f"{self.target}:{self.knob}: {name or 'value'} is not a number: {raw!r}") from exc

    def describe(self) -> str:
        extra = "".join(f",{k}={v}" for k, v in self.params.items())
        if self.ids:
            extra += ",id=" + "|".join(sorted(self.ids))
        val = f"={self.value}" if self.value is not None else ""
        return f"{self.target}:{self.knob}{val}{extra}"


def parse_faults(spec: str) -> list[FaultRule]:
    rules: list[FaultRule] = []
    for raw in spec.split(";"):
        raw = raw.strip()
        if not raw:
            continue
        target, sep, rest = raw.partition(":")
        if not sep or not target or not rest:
            raise FaultSpecError(f"fault rule {raw!r}: expected TARGET:KNOB[=VALUE][,param=value]")
        if "." not in target and target != "*":
            raise FaultSpecError(f"fault rule {raw!r}: target must be provider.route (globs allowed)")
        parts = [p.strip() for p in rest.split(",")]
        knob, _, value = parts[0].partition("=")
        if knob not in KNOWN_KNOBS:
            raise FaultSpecError(f"fault rule {raw!r}: unknown knob {knob!r} "
                                 f"(known: {', '.join(sorted(KNOWN_KNOBS))})")
        if knob == "media" and value and value not in MEDIA_MODES:
            raise FaultSpecError(f"fault rule {raw!r}: unknown media mode {value!r} "
                                 f"(known: {', '.join(MEDIA_MODES)})")
        rule = FaultRule(target=target if target != "*" else "*.*", knob=knob, value=value or None)
        for part in parts[1:]:
            name, eq, val = part.partition("=")
            if not eq:
                raise FaultSpecError(f"fault rule {raw!r}: parameter {part!r} needs a value")
            if name in _CONTROL:
                try:
                    if name == "id":
                        rule.ids = frozenset(i for i in val.split("|") if i)
                    elif name == "rate":
                        rule.rate = float(val)
                    else:
                        setattr(rule, name, int(val))
                except ValueError as exc:
                    raise FaultSpecError(f"fault rule {raw!r}: {name} must be a number") from exc
            else:
                rule.params[name] = val
        rules.append(rule)
    return rules


class Faults:
    """The active fault rules, thread-safe, deterministic under a seed."""

    def __init__(self, spec: str = "", seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.rules: list[FaultRule] = parse_faults(spec)

    def set(self, spec: str) -> None:
        rules = parse_faults(spec)
        with self._lock:
            self.rules = rules

    def add(self, spec: str) -> None:
        rules = parse_faults(spec)
        with self._lock:
            self.rules.extend(rules)

    def clear(self) -> None:
        with self._lock:
            self.rules = []

    def take(self, provider: str, route: str, knob: str, path: str | None = None) -> FaultRule | None:
        """The first rule for this knob that fires on this request (whose URL path is `path`, for
        rules limited to some ids), counting it; else None."""
        with self._lock:
            for rule in self.rules:
                if rule.knob != knob or not rule.matches(provider, route, path):
                    continue
                rule.seen += 1
                if rule.seen <= rule.after:
                    continue
                n = rule.seen - rule.after
                if rule.count is not None and rule.fired >= rule.count:
                    continue
                if rule.every is not None and n % rule.every != 0:
                    continue
                if rule.rate is not None and self._rng.random() >= rule.rate:
                    continue
                rule.fired += 1
                return rule
        return None

    def peek(self, provider: str, route: str, knob: str, path: str | None = None) -> FaultRule | None:
        """A rule for this knob and route, without counting (for standing conditions)."""
        with self._lock:
            for rule in self.rules:
                if rule.knob == knob and rule.matches(provider, route, path):
                    return rule
        return None


def _path_has_id(path: str, ids: frozenset[str]) -> bool:
    """Whether one of `path`'s segments is one of `ids`, with or without a `.json`-like suffix."""
    for raw in path.split("/"):
        seg = unquote(raw)
        if seg in ids or seg.rsplit(".", 1)[0] in ids:
            return True
    return False
