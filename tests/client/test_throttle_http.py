"""The throttle holds the portal's limits: measured on the emulator, not assumed."""

from __future__ import annotations

import asyncio

from bitrix24_provider.client import BitrixAsync, ClientSettings

from .conftest import MakePortal, Portal


async def test_ten_concurrent_get_all_never_overrun_the_bucket(make_portal: MakePortal) -> None:
    # 20 portal seconds per real second: the bucket drains 40 requests per real second
    portal: Portal = await make_portal(deals=2000, time_scale=20.0)
    settings = ClientSettings(batch_size=4, time_scale=20.0)
    async with BitrixAsync(portal.webhook, verbose=False, settings=settings) as bx:
        results = await asyncio.gather(*(bx.get_all("crm.deal.list", {"select": ["ID"]}) for _ in range(10)))
    truth = await portal.ids()
    for rows in results:
        assert sorted(int(r["ID"]) for r in rows) == truth
    stats = await portal.stats()
    assert stats["http_requests"] > 100  # far more than the bucket's 50
    assert stats["http_by_status"].get("503", 0) == 0
    assert stats["bucket_high_water"] <= 50


async def test_many_single_calls_are_paced_not_rejected(make_portal: MakePortal) -> None:
    portal: Portal = await make_portal(deals=10, time_scale=20.0)
    async with BitrixAsync(portal.webhook, verbose=False, time_scale=20.0) as bx:
        await asyncio.gather(*(bx.call("profile") for _ in range(150)))
        assert bx.stats.bucket_wait_seconds > 0
    stats = await portal.stats()
    assert stats["http_by_status"] == {"200": 150}


async def test_query_limit_from_another_client_slows_down_and_recovers(make_portal: MakePortal) -> None:
    portal: Portal = await make_portal(deals=1500, time_scale=50.0, faults={"query_limit": 0.3, "seed": 5})
    async with BitrixAsync(portal.webhook, verbose=False, time_scale=50.0, batch_size=3) as bx:
        rows = await bx.get_all("crm.deal.list", {"select": ["ID"], "order": {"TITLE": "ASC"}})
        assert bx.stats.retries["query_limit_exceeded"] > 0
        slowed = bx.throttle.bucket.rate
        assert slowed < 2.0  # slowed down after the 503s
        await portal.configure(faults={"query_limit": 0.0})
        for _ in range(45):
            await bx.call("profile")
        assert bx.throttle.bucket.rate > slowed  # and recovers step by step
    assert sorted(int(r["ID"]) for r in rows) == await portal.ids()


async def test_throttle_state_carries_over_to_a_new_client(make_portal: MakePortal) -> None:
    portal: Portal = await make_portal(deals=10, time_scale=10.0)
    async with BitrixAsync(portal.webhook, verbose=False, time_scale=10.0) as first:
        await asyncio.gather(*(first.call("profile") for _ in range(49)))
        state = first.export_throttle_state()
    async with BitrixAsync(portal.webhook, verbose=False, time_scale=10.0) as second:
        second.restore_throttle_state(state)
        await asyncio.gather(*(second.call("profile") for _ in range(20)))
        assert second.stats.bucket_wait_seconds > 0  # without the state it would burst at once
    stats = await portal.stats()
    assert stats["http_by_status"] == {"200": 69}


async def test_operating_limit_block_waits_for_reset_and_resumes(make_portal: MakePortal) -> None:
    # each page costs 0.5 portal s; the method may use 5 s per 60 s; 200x clock
    portal: Portal = await make_portal(
        deals=2000,
        simulate_cost=True,
        time_scale=200.0,
        operating_limit=5.0,
        operating_window=60.0,
        costs={"base": 0.5, "per_row": 0.0},
    )
    settings = ClientSettings(time_scale=200.0, operating_window=60.0, operating_time_limit=5.0)
    async with BitrixAsync(portal.webhook, verbose=False, settings=settings) as bx:
        rows = await bx.get_all("crm.deal.list", {"select": ["ID"]})
    assert sorted(int(r["ID"]) for r in rows) == await portal.ids()
    assert bx.stats.operating_wait_seconds > 0 or bx.stats.retries["operation_time_limit"] > 0


async def test_slow_limits_requests_in_flight(make_portal: MakePortal) -> None:
    portal: Portal = await make_portal(deals=10, simulate_cost=True, time_scale=10.0, costs={"base": 0.5})
    async with BitrixAsync(portal.webhook, verbose=False, time_scale=10.0) as bx:
        await asyncio.gather(*(bx.call("profile") for _ in range(6)))
        fast = (await portal.stats())["max_in_flight"]
        await portal.reset()
        async with bx.slow(1):
            await asyncio.gather(*(bx.call("profile") for _ in range(6)))
        assert (await portal.stats())["max_in_flight"] == 1
        with bx.slow(2):
            await asyncio.gather(*(bx.call("profile") for _ in range(6)))
        assert (await portal.stats())["max_in_flight"] == 2
    assert fast > 2
