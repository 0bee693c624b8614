"""Operating pauses shared by the clients of one credential, through each store; the client's own
throttle (``"none"``) is the control."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from bitrix24_provider.client import BitrixAsync, ClientSettings, OperationTimeLimit
from bitrix24_provider.client.throttle import SharedThrottle

from ..conftest import MakePortal, Portal
from .conftest import Sharing

SCALE = 4.0  # portal seconds per real second: slow enough that a busy machine's delays stay small


async def _until(condition: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_an_operating_block_seen_by_one_client_makes_the_others_wait(
    make_portal: MakePortal, sharing: Sharing
) -> None:
    # a crm.deal.list call costs 1.5 portal s of the method's 2 s per 20 s, all in one basket, so
    # that the reset frees the whole budget (two calls' worth); a 4x clock
    portal: Portal = await make_portal(
        deals=20,
        simulate_cost=True,
        time_scale=SCALE,
        operating_limit=2.0,
        operating_window=20.0,
        operating_baskets=1,
        costs={"base": 1.5, "per_row": 0.0},
    )
    shared = sharing.shared
    config = ClientSettings(
        time_scale=SCALE,
        operating_time_limit=2.0,
        operating_window=20.0,
        shared_throttle=sharing.url,
        shared_throttle_prefix=sharing.prefix,
    )
    never_refused = ClientSettings(**{**config.__dict__, "operating_retries": 0})
    params = {"select": ["ID"], "start": -1}
    async with (
        BitrixAsync(portal.webhook, verbose=False, settings=config) as first,
        BitrixAsync(portal.webhook, verbose=False, settings=never_refused) as second,
        BitrixAsync(verbose=False, oauth=portal.oauth(), settings=never_refused) as other_credential,
    ):
        # the portal's baskets are aligned on its clock (every 20 s here): two calls on either side of
        # a boundary would land in two baskets, and the reset would free only the first one
        await _until(lambda: _early_in_basket(portal, 20.0), timeout=30.0)
        await first.call("crm.deal.list", params)  # 1.5 s used: below the limit, no pause
        async with portal.session.post(f"{portal.webhook}crm.deal.list", json=params) as resp:
            assert resp.status == 200  # someone else spends the rest: 3 s > 2 s, blocked
        blocked = asyncio.create_task(first.call("crm.deal.list", params))
        await _until(lambda: _retried(first))  # first was refused and waits for the reset
        if isinstance(first.throttle, SharedThrottle):
            shared_throttle = first.throttle
            await _until(lambda: _paused(shared_throttle, "crm.deal.list"))
        # another credential has its own budget on the portal, and its own shared pauses
        await other_credential.call("crm.deal.list", params)
        assert other_credential.stats.operating_wait_seconds < 0.1
        if shared:
            await second.call("crm.deal.list", params)  # waits for the reset instead of a 429
            assert second.stats.retries["operation_time_limit"] == 0
            assert second.stats.operating_wait_seconds > 5.0  # portal seconds
        else:
            with pytest.raises(OperationTimeLimit):
                await second.call("crm.deal.list", params)
        await blocked
        assert blocked.done() and first.stats.operating_wait_seconds > 5.0
    statuses = (await portal.stats())["http_by_status"]
    assert statuses["429"] == (1 if shared else 2)


async def _early_in_basket(portal: Portal, basket_seconds: float) -> bool:
    return portal.emulator.portal.clock.now() % basket_seconds < basket_seconds / 4


async def _retried(client: BitrixAsync) -> bool:
    return client.stats.retries["operation_time_limit"] > 0


async def _paused(throttle: SharedThrottle, method: str) -> bool:
    [seconds] = await throttle.store.blocks(throttle.budget.key, [method])
    return seconds > 0
