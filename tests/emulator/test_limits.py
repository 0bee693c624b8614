"""The leaky bucket and the per-method operating limit, over HTTP (contract §6)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from .conftest import MakePortal, PortalClient


async def _accepted_before_first_503(portal: PortalClient, limit: int) -> tuple[int, float, Any]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    for accepted in range(limit):
        reply = await portal.call("profile")
        if reply.status != 200:
            return accepted, loop.time() - started, reply
    raise AssertionError("the bucket never filled")


async def test_bucket_rejects_the_51st_request_of_a_burst(make_portal: MakePortal) -> None:
    portal: PortalClient = await make_portal(deals=10)
    accepted, elapsed, rejected = await _accepted_before_first_503(portal, 200)
    # 50 slots, plus what drained at 2/s while the burst was being sent
    assert 50 <= accepted <= 50 + int(elapsed * 2) + 1
    assert rejected.status == 503
    assert rejected.body == {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
    stats = await portal.get("/_emulator/stats")
    assert stats.body["bucket_high_water"] == pytest.approx(50, abs=0.5)
    assert stats.body["http_by_status"] == {"200": accepted, "503": 1}


async def test_bucket_drains_at_the_plan_rate(make_portal: MakePortal) -> None:
    # 2 requests per portal second; 100 portal seconds pass per real second
    portal: PortalClient = await make_portal(deals=10, time_scale=100.0)
    await _accepted_before_first_503(portal, 10_000)
    await asyncio.sleep(0.05)  # 5 portal seconds -> 10 slots free
    loop = asyncio.get_running_loop()
    started = loop.time()
    accepted, _, _ = await _accepted_before_first_503(portal, 10_000)
    elapsed_portal = (loop.time() - started) * 100.0
    assert 10 <= accepted <= 10 + int(elapsed_portal * 2) + 2


async def test_enterprise_plan_has_a_bigger_bucket(make_portal: MakePortal) -> None:
    portal: PortalClient = await make_portal(deals=10, plan="enterprise")
    accepted, elapsed, _ = await _accepted_before_first_503(portal, 1000)
    assert 250 <= accepted <= 250 + int(elapsed * 5) + 1


async def test_batch_is_one_request_for_the_bucket(make_portal: MakePortal) -> None:
    portal: PortalClient = await make_portal(deals=10)
    cmd = {f"c{i}": "profile" for i in range(50)}
    loop = asyncio.get_running_loop()
    started = loop.time()
    accepted = 0
    while (await portal.call("batch", {"cmd": cmd})).status == 200:
        accepted += 1
        assert accepted < 200
    # 50 batches of 50 commands pass: each batch is one unit, not fifty
    assert 50 <= accepted <= 50 + int((loop.time() - started) * 2) + 1


async def test_operating_limit_blocks_a_method_and_releases_it_at_reset(make_portal: MakePortal) -> None:
    # each crm.deal.list page costs ~0.5 portal s with these costs; the limit is 2 s per 60 s window
    portal: PortalClient = await make_portal(
        deals=500,
        operating_limit=2.0,
        operating_window=60.0,
        time_scale=100.0,
        bucket_size=10_000,
        costs={"base": 0.5, "per_row": 0.0},
    )
    blocked = None
    last_ok = None
    for _ in range(10):
        reply = await portal.call("crm.deal.list", {"start": -1})
        if reply.status == 429:
            blocked = reply
            break
        last_ok = reply
    assert blocked is not None and last_ok is not None
    assert blocked.body == {
        "error": "OPERATION_TIME_LIMIT",
        "error_description": "Method is blocked due to operation time limit.",
    }
    assert last_ok.body["time"]["operating"] > 2.0  # the call that crossed the limit still completed
    reset_at = last_ok.body["time"]["operating_reset_at"]
    # other methods are not blocked
    assert (await portal.call("crm.lead.list", {"start": -1})).status == 200
    # wait on the portal clock until operating_reset_at
    while (await portal.get("/_emulator/stats")).body["portal_time"] < reset_at + 0.5:
        await asyncio.sleep(0.02)
    assert (await portal.call("crm.deal.list", {"start": -1})).status == 200


async def test_operating_counts_batch_subcommands_to_their_own_method(make_portal: MakePortal) -> None:
    portal: PortalClient = await make_portal(
        deals=3000,
        operating_limit=3.0,
        bucket_size=10_000,
        costs={"base": 0.05, "per_row": 0.0, "per_counted_row": 0.0, "per_skipped_row": 0.0},
    )
    cmd = {f"p{i}": f"crm.deal.list?start={i * 50}" for i in range(50)}
    first = await portal.call("batch", {"cmd": cmd})
    result = first.body["result"]
    assert result["result_error"] == []
    assert result["result_time"]["p0"]["operating"] == 0  # 0.05 s is under the 0.1 s threshold
    assert result["result_time"]["p2"]["operating"] > 0
    assert result["result_time"]["p49"]["operating"] == pytest.approx(
        2.5
    )  # 50 x 0.05 s billed to crm.deal.list
    second = await portal.call("batch", {"cmd": cmd})
    errors = second.body["result"]["result_error"]
    assert second.status == 200
    assert errors, "sub-commands past the limit are reported per command"
    assert all(e["error"] == "OPERATION_TIME_LIMIT" for e in errors.values())
    stats = (await portal.get("/_emulator/stats")).body
    assert "crm.deal.list" in stats["operating_by_method"]
    assert "batch" not in stats["operating_by_method"]
    direct = await portal.call("crm.deal.list", {"start": -1})
    assert direct.status == 429


async def test_cheap_single_calls_are_not_billed(make_portal: MakePortal) -> None:
    portal: PortalClient = await make_portal(deals=100, costs={"base": 0.01, "per_row": 0.0})
    for _ in range(5):
        reply = await portal.call("crm.deal.list", {"start": -1})
    assert reply.body["time"]["operating"] == 0
    assert reply.body["time"]["operating_reset_at"] >= reply.body["time"]["start"] + 599


async def test_batch_billing_mode_bills_the_pseudo_method(make_portal: MakePortal) -> None:
    portal: PortalClient = await make_portal(
        deals=3000, batch_billing="batch", costs={"base": 0.05, "per_row": 0.0}
    )
    cmd = {f"p{i}": f"crm.deal.list?start={i * 50}" for i in range(10)}
    await portal.call("batch", {"cmd": cmd})
    stats = (await portal.get("/_emulator/stats")).body
    assert list(stats["operating_by_method"]) == ["batch"]


async def test_server_cost_makes_responses_take_time(make_portal: MakePortal) -> None:
    portal: PortalClient = await make_portal(
        deals=100, simulate_cost=True, costs={"base": 0.3, "per_row": 0.0}, time_scale=1.0
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    reply = await portal.call("crm.deal.list", {"start": -1})
    assert loop.time() - started >= 0.29
    assert reply.body["time"]["processing"] >= 0.3
    assert reply.headers["X-Bitrix-Rest-Time"]


async def test_a_request_costs_its_own_server_time_and_waits_the_round_trip(make_portal: MakePortal) -> None:
    """``costs.per_request`` is server time of every request (reported); ``round_trip`` delays the
    answer on the portal's clock without being reported (the benchmark's slow and far profiles)."""
    portal: PortalClient = await make_portal(
        deals=100,
        simulate_cost=True,
        costs={"base": 0.03, "per_row": 0.0, "batch_overhead": 0.0, "per_request": 0.1},
        round_trip=0.15,
        time_scale=50.0,
    )
    clock = portal.emulator.portal.clock
    before = clock.now()
    direct = (await portal.call("crm.deal.list", {"start": -1})).body
    assert direct["time"]["processing"] == pytest.approx(0.13)
    assert clock.now() - before >= 0.28  # 0.13 of server time and the 0.15 round trip
    batch = (await portal.call("batch", {"cmd": {"a": "profile", "b": "profile"}})).body
    assert batch["time"]["processing"] == pytest.approx(0.1 + 2 * 0.03)


async def test_request_timeout_cuts_a_long_batch(make_portal: MakePortal) -> None:
    portal: PortalClient = await make_portal(
        deals=100,
        simulate_cost=True,
        time_scale=1000.0,
        request_timeout=60.0,
        costs={"base": 2.0, "per_row": 0.0},
        bucket_size=1000,
    )
    cmd = {f"p{i}": "crm.deal.list?start=-1" for i in range(40)}  # 80 portal s > 60 s cap
    reply = await portal.call("batch", {"cmd": cmd})
    assert reply.status == 504
    assert reply.body is None
    stats = (await portal.get("/_emulator/stats")).body
    assert stats["commands_by_method"]["crm.deal.list"] == 30
