"""Client tests run against the bundled emulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp
import pytest

from bitrix24_provider.client import OAuthCredentials
from bitrix24_provider.emulator import Emulator

from ..emulator_support import start_emulator


class Portal:
    """A started emulator plus plain-HTTP helpers to ask it for the truth."""

    def __init__(self, emulator: Emulator, session: aiohttp.ClientSession) -> None:
        self.emulator = emulator
        self.session = session
        self.webhook = emulator.webhook_url

    async def ids(self, entity: str = "deal") -> list[int]:
        async with self.session.get(f"{self.emulator.base_url}/_emulator/ids/{entity}") as resp:
            return list((await resp.json())["ids"])

    async def stats(self) -> dict[str, Any]:
        async with self.session.get(f"{self.emulator.base_url}/_emulator/stats") as resp:
            return dict(await resp.json())

    async def configure(self, **changes: Any) -> None:
        async with self.session.post(f"{self.emulator.base_url}/_emulator/config", json=changes) as resp:
            assert resp.status == 200, await resp.text()

    def oauth(self, on_refresh: Callable[[Mapping[str, Any]], None] | None = None) -> OAuthCredentials:
        """OAuth credentials of the emulator's application (its refresh token)."""
        config = self.emulator.config
        return OAuthCredentials(
            endpoint=self.emulator.oauth_url,
            client_id=config.client_id,
            client_secret=config.client_secret,
            refresh_token=config.refresh_token,
            oauth_server=self.emulator.token_url,
            on_refresh=on_refresh,
        )

    async def reset(self) -> None:
        async with self.session.post(f"{self.emulator.base_url}/_emulator/reset") as resp:
            assert resp.status == 200


MakePortal = Callable[..., Any]


@pytest.fixture
async def make_portal() -> AsyncIterator[MakePortal]:
    started: list[tuple[Emulator, aiohttp.ClientSession]] = []

    async def factory(**settings: Any) -> Portal:
        emulator = await start_emulator(**settings)
        session = aiohttp.ClientSession()
        started.append((emulator, session))
        return Portal(emulator, session)

    yield factory
    for emulator, session in started:
        await session.close()
        await emulator.stop()


@pytest.fixture
async def portal(make_portal: MakePortal) -> Portal:
    result: Portal = await make_portal(deals=3000, leads=130, contacts=60, companies=40, items=260, tasks=180)
    return result
