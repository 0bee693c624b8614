"""The throttle's interface (admit, rejected, answered, blocked) and its state, on a virtual clock;
and measured on the emulator: it holds the portal's limits, not assumed."""

from __future__ import annotations

import asyncio
import json

import pytest

from bitrix24_provider.client import BitrixAsync, ClientSettings, OperationTimeLimit
from bitrix24_provider.client.throttle import SharedThrottle, Throttle

from ..conftest import MakePortal, Portal
from .clock_support import T0, VirtualClock, make_bucket, make_budget, time_block


async def test_throttle_state_round_trip() -> None:
    clock = VirtualClock()
    throttle = Throttle(make_bucket(clock, 50, 2), make_budget(clock))
    await clock.run(*(throttle.admit(["crm.deal.list"]) for _ in range(20)))
    throttle.budget.record("crm.deal.list", time_block(clock, operating=450, operating_reset_at=T0 + 90))
    throttle.budget.block("tasks.task.list", reset_at=T0 + 300)
    throttle.bucket.on_query_limit()
    throttle.bucket.on_query_limit()

    state = json.loads(json.dumps(throttle.export_state()))
    assert state["version"] == 1
    assert set(state["budget"]["methods"]) == {"crm.deal.list", "tasks.task.list"}

    later = VirtualClock(start=T0 + 10)
    restored = Throttle(make_bucket(later, 50, 2), make_budget(later))
    restored.restore_state(state)
    assert restored.bucket.rate == pytest.approx(1.0)
    assert restored.bucket.level() == pytest.approx(49 - 10)
    assert restored.budget.used("crm.deal.list") == 450
    assert restored.budget.ready_at("crm.deal.list") == pytest.approx(T0 + 91)
    assert restored.budget.ready_at("tasks.task.list") == pytest.approx(T0 + 301)
    [admission] = await later.run(restored.admit(["crm.deal.list", "tasks.task.list"]))
    assert admission.operating_wait == pytest.approx(291)
    assert admission.bucket_wait == pytest.approx(0.0)  # drained while it waited for the budget
    assert restored.export_state()["budget"]["methods"]["crm.deal.list"]["used"] == 450

    with pytest.raises(ValueError, match="version"):
        restored.restore_state({**state, "version": 99})


async def test_the_interface_feeds_the_bucket_and_the_budget() -> None:
    clock = VirtualClock()
    throttle = Throttle(make_bucket(clock, 10, 2), make_budget(clock, reset_margin=1))
    [first] = await clock.run(throttle.admit(["crm.deal.list"]))
    throttle.rejected(first)
    throttle.rejected(first)  # the same overrun: once
    assert throttle.bucket.level() == pytest.approx(9)
    [second] = await clock.run(throttle.admit(["crm.deal.list"]))
    assert second.bucket_wait == pytest.approx(0.5) and second.generation == first.generation + 1
    throttle.rejected(second)  # again within a full drain: half the rate
    assert throttle.bucket.rate == pytest.approx(1.0)
    throttle.answered("crm.deal.list", time_block(clock, operating=470, operating_reset_at=clock.t + 30))
    throttle.answered_batch({"c0": "user.get"}, {"c0": time_block(clock, operating=1)})
    assert throttle.budget.used("user.get") == 1
    [paused] = await clock.run(throttle.admit(["crm.deal.list"]))
    assert paused.operating_wait == pytest.approx(31)
    [unpaused] = await clock.run(throttle.admit(["crm.deal.list"], budget=False))
    assert unpaused.operating_wait == 0.0
    throttle.blocked("tasks.task.list", "user.get")
    assert throttle.budget.ready_at("user.get") == pytest.approx(clock.t + 60)


async def test_ten_concurrent_get_all_never_overrun_the_bucket(make_portal: MakePortal) -> None:
    # 10 portal seconds per real second: the bucket drains 20 requests per real second; two slots of
    # headroom absorb 0.1 s of jitter (the emulator answers on this test's busy event loop)
    portal: Portal = await make_portal(deals=2000, time_scale=10.0)
    settings = ClientSettings(batch_size=4, time_scale=10.0, headroom=2)
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
    portal: Portal = await make_portal(deals=10, time_scale=10.0)
    settings = ClientSettings(time_scale=10.0, headroom=2)  # 0.1 s of jitter absorbed, as above
    async with BitrixAsync(portal.webhook, verbose=False, settings=settings) as bx:
        await asyncio.gather(*(bx.call("profile") for _ in range(100)))
        assert bx.stats.bucket_wait_seconds > 0
    stats = await portal.stats()
    assert stats["http_by_status"] == {"200": 100}


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
    # time_scale 2 and four slots of headroom: requests that reach the emulator up to 1 s late (its answers
    # share this test's event loop on a busy machine) still find the bucket below its limit
    portal: Portal = await make_portal(deals=10, time_scale=2.0)
    own = ClientSettings(time_scale=2.0, shared_throttle="none", headroom=4)  # not shared: only the state
    async with BitrixAsync(portal.webhook, verbose=False, settings=own) as first:
        await asyncio.gather(*(first.call("profile") for _ in range(49)))
        state = first.export_throttle_state()
    async with BitrixAsync(portal.webhook, verbose=False, settings=own) as second:
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
    own = ClientSettings(time_scale=scale, shared_throttle="none")  # the other is not known to it
    async with BitrixAsync(portal.webhook, verbose=False, settings=own) as other:
        await asyncio.gather(*(other.call("profile") for _ in range(49)))
    before = await portal.stats()
    async with BitrixAsync(portal.webhook, verbose=False, settings=own) as bx:
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


async def test_none_keeps_the_throttle_in_the_client(portal: Portal) -> None:
    async with BitrixAsync(portal.webhook, verbose=False, shared_throttle="none") as bx:
        assert not isinstance(bx.throttle, SharedThrottle)
        await bx.call("profile")
