"""Fixtures for emulator tests: a fixed clock and anchor, in-process clients, OpenAPI validation."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator, Callable
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from support import ANCHOR, FakeClock  # noqa: F401  (re-exported for the emulator tests)
from werkzeug.datastructures import Headers, ImmutableMultiDict

from rectui.emulator.app import Emulator

SPECS = Path(__file__).parent.parent / "specs"
_SSL = ssl.create_default_context()   # one context for all clients: building one costs ~80 ms


@pytest.fixture
async def client_for() -> AsyncIterator[Callable[[Emulator], httpx.AsyncClient]]:
    """`client_for(emu)`: an httpx client that reaches all three of the emulator's origins."""
    clients: list[httpx.AsyncClient] = []

    def make(emu: Emulator) -> httpx.AsyncClient:
        c = httpx.AsyncClient(mounts=emu.mounts(), base_url=emu.api_url, follow_redirects=False, verify=_SSL)
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()


@cache
def _spec(name: str, api_url: str) -> OpenAPI:
    path = next(SPECS.glob(f"{name}.openapi.*"))
    text = path.read_text()
    doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    server = doc["servers"][0]
    url = server["url"]
    for var, spec in server.get("variables", {}).items():
        url = url.replace("{" + var + "}", str(spec["default"]))
    doc["servers"] = [{"url": api_url + urlsplit(url).path}]
    return OpenAPI.from_dict(doc)


class _Req:
    def __init__(self, request: httpx.Request) -> None:
        url = request.url
        self.host_url = f"{url.scheme}://{url.netloc.decode()}"
        self.path = url.path
        self.method = request.method.lower()
        self.body = request.content or None
        self.content_type = request.headers.get("content-type", "")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(url.params.multi_items())),
            header=Headers(list(request.headers.items())),
            cookie=ImmutableMultiDict(),
        )


class _Resp:
    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.data = response.content
        self.content_type = response.headers.get("content-type", "")
        self.headers = Headers(list(response.headers.items()))


@pytest.fixture
def validate() -> Callable[[str, httpx.Response], None]:
    """`validate("kazoo", response)`: raises if the response does not match the provider's spec."""

    def check(name: str, response: httpx.Response) -> None:
        req = response.request
        api = f"{req.url.scheme}://{req.url.netloc.decode()}"
        _spec(name, api).validate_response(_Req(req), _Resp(response))

    return check
