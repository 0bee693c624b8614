"""The throttle holds the portal's limits: measured on the emulator, not assumed."""

from __future__ import annotations

import asyncio

import pytest

from bitrix24_provider.client import BitrixAsync, ClientSettings, OperationTimeLimit

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
    # half the requests get 503, again and again: another client keeps the bucket full
    portal: Portal = await make_portal(deals=1500, time_scale=50.0, faults={"query_limit": 0.5, "seed": 5})
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


async def test_an_operating_block_given_up_on_says_when_to_come_back(make_portal: MakePortal) -> None:
    # every call costs 3 portal s of the method's 2 s per 60 s: the second call is refused with 429;
    # with no operating retries the client raises it, carrying the wait its budget measured
    portal: Portal = await make_portal(
        deals=5,
        simulate_cost=True,
        time_scale=100.0,
        operating_limit=2.0,
        operating_window=60.0,
        operating_baskets=1,
        costs={"base": 3.0, "per_row": 0.0},
    )
    settings = ClientSettings(
        time_scale=100.0,
        operating_window=60.0,
        operating_time_limit=2.0,
        operating_retries=0,
        respect_velocity_policy=False,  # no pause before the block: the portal refuses
    )
    async with BitrixAsync(portal.webhook, verbose=False, settings=settings) as bx:
        await bx.call("crm.deal.list", {"select": ["ID"], "start": -1})
        with pytest.raises(OperationTimeLimit) as refused:
            await bx.call("crm.deal.list", {"select": ["ID"], "start": -1})
    wait = refused.value.retry_after
    assert wait is not None and 0 < wait <= 60.0 / 100.0 + 1.0  # real seconds: the window at 100x


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


async def test_a_fresh_client_meeting_a_full_bucket_goes_on_at_the_drain_rate(
    make_portal: MakePortal,
) -> None:
    # another client leaves the portal's bucket full; a fresh client then reads three lists of ten
    # pages at once: its first requests get 503, which tells it how full the bucket is, and it goes
    # on at the portal's drain rate (2/s) instead of half of it
    scale = 5.0
    portal: Portal = await make_portal(deals=500, time_scale=scale)
    async with BitrixAsync(portal.webhook, verbose=False, time_scale=scale) as other:
        await asyncio.gather(*(other.call("profile") for _ in range(49)))
    before = await portal.stats()
    async with BitrixAsync(portal.webhook, verbose=False, time_scale=scale) as bx:
        results = await asyncio.gather(*(bx.get_all("crm.deal.list", {"select": ["ID"]}) for _ in range(3)))
        rate = bx.throttle.bucket.rate
    after = await portal.stats()
    truth = await portal.ids()
    assert all(sorted(int(r["ID"]) for r in rows) == truth for rows in results)
    rejected = after["http_by_status"].get("503", 0)
    answered = after["http_requests"] - before["http_requests"] - rejected
    seconds = after["portal_time"] - before["portal_time"]
    assert rejected <= 3  # one volley: the three first pages
    assert rate == 2.0
    # the bucket lets one more request through, then one per 0.5 s: what any client would wait
    drained = (answered - 1) / 2.0
    assert seconds < drained + 1.5, (seconds, drained)
