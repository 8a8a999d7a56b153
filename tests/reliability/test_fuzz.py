"""Property tests (Hypothesis) for the parsers and guards that face server text: the sanitiser,
each provider's wire-model parsing, Retry-After, id encoding into paths, and cache-file naming.

The default profile (`ci`) runs a few dozen examples per property; `--hypothesis-profile slow`
(or `RECTUI_HYPOTHESIS_PROFILE=slow`) runs thousands."""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter
from support import ANCHOR, FakeClock, Monotonic

from rectui.config import ProviderSettings
from rectui.emulator.app import Emulator, EmulatorConfig
from rectui.errors import BadResponse, InvalidId, RectuiError
from rectui.mediafiles import EXTENSIONS, cache_path
from rectui.models import ListQuery
from rectui.providers import adapter_class
from rectui.providers.http import parse_retry_after
from rectui.sanitize import clean, one_line

from .conftest import KINDS

_SETTINGS = TypeAdapter(ProviderSettings)
ZWJ, ZWNJ = "\u200d", "\u200c"
UNSAFE = set(map(chr, [*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F),
                       *range(0x2066, 0x206A), 0x200B, 0xFEFF]))
HOSTILE = ["\x1b]52;c;Y2FuYXJ5\x07", "\x1b]8;;http://x\x1b\\", "\x1b[2J", "\x9b31m", "\x00", "\x7f", "\u202e",
           "\u2066", ZWJ, ZWNJ, "\ud800", "\udfff", "[@click=app.quit]x[/]", "\t", "\n", "\r\n", "👩‍💻", "שלום"]
texts = st.lists(st.one_of(st.text(st.characters(exclude_categories=())), st.sampled_from(HOSTILE)),
                 max_size=8).map("".join)


# -- the sanitiser ----------------------------------------------------------------------------------

@given(texts)
def test_fuzz_clean_leaves_no_control_or_bidi_override_keeps_joiners_and_is_idempotent(s: str) -> None:
    out = clean(s, limit=None)
    assert not UNSAFE & set(out)
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in out)
    assert out.count(ZWJ) == s.count(ZWJ) and out.count(ZWNJ) == s.count(ZWNJ)
    assert clean(out, limit=None) == out
    line = one_line(s, limit=None)
    assert "\t" not in line and "\n" not in line and not UNSAFE & set(line)
    assert one_line(line, limit=None) == line
    capped = clean(s, limit=50)
    assert len(capped) <= 50 and clean(capped, limit=50) == capped


# -- Retry-After -------------------------------------------------------------------------------------

@given(st.one_of(st.text(max_size=40), st.integers(-10**9, 10**12).map(str),
                 st.floats(allow_nan=True, allow_infinity=True).map(str),
                 st.datetimes(timezones=st.timezones()).map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT"))))
def test_fuzz_retry_after_is_a_finite_wait_or_none_never_an_exception(header: str) -> None:
    wait = parse_retry_after(header, ANCHOR.timestamp())
    assert wait is None or (math.isfinite(wait) and wait >= 0)
    if re.fullmatch(r"\s*-?\d+\s*", header):
        assert wait == max(0.0, float(int(header)))


# -- ids into paths ----------------------------------------------------------------------------------

_ADAPTERS: dict[str, Any] = {}


def adapter(kind: str) -> Any:
    """An adapter per kind, configured as for the emulator; only its id checks are used here."""
    if kind not in _ADAPTERS:
        emu = Emulator(EmulatorConfig(providers=(kind,), count=1, anchor=ANCHOR))
        _ADAPTERS[kind] = adapter_class(kind)(kind, _SETTINGS.validate_python(emu[kind].config_entry()))
    return _ADAPTERS[kind]


ids = st.one_of(texts, st.text(alphabet="./%?#&=;2eE\\ \x00abc", max_size=40),
                st.sampled_from(["..", "../../ACCT_B/recordings/REC9", "REC1?should_soft_delete=false", "%2e%2e",
                                 "a/b", "x" * 300, "REC%2F1", "\x00", "a#b"]))


@pytest.mark.parametrize("kind", KINDS)
@given(rid=ids)
def test_fuzz_an_id_never_leaves_its_path_segment(kind: str, rid: str) -> None:
    prov = adapter(kind)
    try:
        seg = prov.seg(rid)
    except InvalidId:
        return
    base = httpx.URL("https://api.example.com/v2/accounts/ACCT_A/")
    url = base.join(f"recordings/{seg}")
    assert url.host == base.host and not url.query and not url.fragment
    assert url.path.startswith("/v2/accounts/ACCT_A/recordings/")
    rest = url.raw_path.decode().removeprefix("/v2/accounts/ACCT_A/recordings/")
    assert "/" not in rest and unquote(rest) == rid and rid not in ("", ".", "..")


# -- cache-file naming -------------------------------------------------------------------------------

@given(provider=texts, account=texts, rid=ids, fmt=st.one_of(st.sampled_from(sorted(EXTENSIONS)), texts))
def test_fuzz_cache_names_never_escape_the_cache(tmp_path_factory: pytest.TempPathFactory, provider: str,
                                                 account: str, rid: str, fmt: str) -> None:
    cache = _cache_dir(tmp_path_factory)
    path = cache_path(cache, provider, account, rid, fmt)
    assert path.parent == cache and path.resolve().is_relative_to(cache.resolve())
    assert re.fullmatch(r"[0-9a-f]{64}\.[a-z0-9]+", path.name) and path.suffix in EXTENSIONS.values()


_CACHE: list[Path] = []


def _cache_dir(factory: pytest.TempPathFactory) -> Path:
    if not _CACHE:
        _CACHE.append(factory.mktemp("fuzz-cache"))
    return _CACHE[0]


# -- wire models -------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20) | st.sampled_from(["null", "", "2026-13-45T99:99:99Z", "-1", "1e309", "../x"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6)
mutations = st.lists(st.tuples(st.integers(0, 10**6), json_values), min_size=1, max_size=4)


def _nodes(doc: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """(container, key) of every value in `doc`, depth first."""
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        out.append((doc, key))
        _nodes(value, out)
    return out


def mutate(doc: Any, plan: list[tuple[int, Any]]) -> Any:
    for pick, value in plan:
        nodes = _nodes(doc, [])
        if not nodes or pick % (len(nodes) + 1) == len(nodes):
            doc = value                                   # the whole document replaced
            continue
        container, key = nodes[pick % (len(nodes) + 1)]
        container[key] = value
    return doc


class Mutating(httpx.AsyncBaseTransport):
    """The emulator, except that the first JSON answer to a GET on the API origin is mutated."""

    def __init__(self, emu: Emulator, plan: list[tuple[int, Any]]) -> None:
        self.inner, self.emu, self.plan, self.done = emu.transport(), emu, plan, False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if self.done or request.method != "GET" or not str(request.url).startswith(self.emu.api_url):
            return response
        body = await response.aread()
        try:
            doc = json.loads(body)
        except ValueError:
            return httpx.Response(response.status_code, headers=response.headers, content=body)
        self.done = True
        new = json.dumps(mutate(doc, self.plan)).encode()
        dropped = ("content-length", "content-encoding")
        headers = [(k, v) for k, v in response.headers.items() if k.lower() not in dropped]
        return httpx.Response(response.status_code, headers=headers, content=new)


_EMULATORS: dict[str, Emulator] = {}


def emulator(kind: str) -> Emulator:
    if kind not in _EMULATORS:
        _EMULATORS[kind] = Emulator(EmulatorConfig(providers=(kind,), count=30, anchor=ANCHOR),
                                    clock=FakeClock(ANCHOR.timestamp() + 3600))
    return _EMULATORS[kind]


async def _read(kind: str, plan: list[tuple[int, Any]], detail: bool) -> None:
    emu = emulator(kind)
    conf = _SETTINGS.validate_python(emu[kind].config_entry())
    mono = Monotonic()
    rid = emu[kind].listed_ids()[0]
    prov = adapter_class(kind)(kind, conf, transport=Mutating(emu, plan), clock=mono, sleep=mono.sleep,
                               wall=emu.clock, rng=random.Random(0))
    try:
        if detail:
            await prov.get_recording(rid)
        else:
            page = await prov.list_recordings(ListQuery(page_size=10))
            for rec in page.items:                       # everything that was kept is readable
                assert isinstance(rec.title, str) and rec.details is not None and rec.raw is not None
    finally:
        await prov.aclose()


@pytest.mark.parametrize("detail", [False, True], ids=["list", "detail"])
@pytest.mark.parametrize("kind", KINDS)
@given(plan=mutations)
def test_fuzz_any_json_from_a_provider_is_read_or_a_bad_response(kind: str, detail: bool,
                                                                 plan: list[tuple[int, Any]]) -> None:
    try:
        asyncio.run(_read(kind, plan, detail))
    except BadResponse:
        pass
    except RectuiError as exc:      # a mutated link or id may lead to a refusal; never a crash
        assert type(exc).__name__ in ("NotFound", "InvalidId", "Unsupported"), exc.one_line()
