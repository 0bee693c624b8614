"""Fixtures that start the emulator on 127.0.0.1 and talk to it over real HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from bitrix24_provider.emulator import Emulator

from ..emulator_support import start_emulator


@dataclass
class Reply:
    status: int
    body: Any
    text: str
    headers: Any


class PortalClient:
    """A deliberately dumb HTTP helper for tests: no retries, no throttling."""

    def __init__(self, emulator: Emulator, session: aiohttp.ClientSession) -> None:
        self.emulator = emulator
        self.session = session

    async def request(
        self,
        http_method: str,
        url: str,
        *,
        json_body: Any = None,
        data: Any = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        async with self.session.request(
            http_method, url, json=json_body, data=data, params=params, headers=headers
        ) as resp:
            text = await resp.text()
            try:
                body = json.loads(text)
            except ValueError:
                body = None
            return Reply(resp.status, body, text, resp.headers)

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Reply:
        """POST a JSON body to the webhook URL."""
        return await self.request("POST", self.emulator.webhook_url + method, json_body=params or {})

    async def get(self, path: str) -> Reply:
        return await self.request("GET", self.emulator.base_url + path)

    async def post(self, path: str, body: Any = None) -> Reply:
        return await self.request("POST", self.emulator.base_url + path, json_body=body)


MakePortal = Callable[..., Any]


@pytest.fixture
async def make_portal() -> AsyncIterator[MakePortal]:
    """``await make_portal(deals=100, simulate_cost=False, ...)`` starts an emulator and returns
    a :class:`PortalClient` for it; everything is stopped at the end of the test."""
    started: list[tuple[Emulator, aiohttp.ClientSession]] = []

    async def factory(**settings: Any) -> PortalClient:
        emulator = await start_emulator(**settings)
        session = aiohttp.ClientSession()
        started.append((emulator, session))
        return PortalClient(emulator, session)

    yield factory
    for emulator, session in started:
        await session.close()
        await emulator.stop()


@pytest.fixture
async def portal(make_portal: MakePortal) -> PortalClient:
    client: PortalClient = await make_portal(deals=230, leads=120, contacts=60, companies=40)
    return client
