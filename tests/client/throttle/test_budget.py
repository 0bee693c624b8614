"""The operating budget on a virtual clock: it waits for resets, reads batch answers and keeps
its blocks."""

from __future__ import annotations

from typing import Any

import pytest

from bitrix24_provider.client.throttle import OperatingBudget

from .clock_support import T0, VirtualClock, make_budget, time_block


async def test_budget_below_threshold_does_not_wait() -> None:
    clock = VirtualClock()
    budget = make_budget(clock)
    budget.record("crm.deal.list", time_block(clock, operating=100.0, operating_reset_at=T0 + 300))
    assert budget.used("crm.deal.list") == 100.0
    assert await clock.run(budget.wait_for("crm.deal.list")) == [0.0]
    assert clock.sleeps == []


async def test_budget_near_the_limit_waits_until_reset() -> None:
    clock = VirtualClock()
    budget = make_budget(clock, limit=480, safety=48, reset_margin=1)
    budget.record("CRM.Deal.List", time_block(clock, operating=440.5, operating_reset_at=T0 + 100))
    [waited] = await clock.run(budget.wait_for("crm.deal.list", "user.get"))
    assert waited == pytest.approx(101)
    assert clock.t == pytest.approx(T0 + 101)
    assert await clock.run(budget.wait_for("crm.deal.list")) == [0.0]  # reset passed: go again


async def test_budget_without_reset_time_probes_once_per_interval() -> None:
    clock = VirtualClock()
    budget = make_budget(clock, retry_interval=60)
    budget.record("tasks.task.list", time_block(clock, operating=470))  # no operating_reset_at
    [waited] = await clock.run(budget.wait_for("tasks.task.list"))
    assert waited == pytest.approx(60)


async def test_block_after_operation_time_limit() -> None:
    clock = VirtualClock()
    budget = make_budget(clock, reset_margin=1, retry_interval=60)
    budget.record("crm.deal.list", time_block(clock, operating=300, operating_reset_at=T0 + 30))
    assert budget.block("crm.deal.list") == pytest.approx(T0 + 31)  # the recorded reset time
    assert budget.block("user.get") == pytest.approx(T0 + 60)  # nothing known
    assert budget.block("crm.item.list", reset_at=T0 + 200) == pytest.approx(T0 + 201)
    assert budget.block("crm.lead.list", reset_at=T0 - 5) == pytest.approx(T0 + 60)  # stale reset
    [waited] = await clock.run(budget.wait_for("crm.deal.list", "user.get", "crm.item.list"))
    assert waited == pytest.approx(201)
    # the reset passed, but the method is still over the limit: the next block waits an interval
    assert budget.block("crm.deal.list") == pytest.approx(clock.t + 60)


def test_budget_reads_batch_result_time_and_ignores_overtaken_responses() -> None:
    clock = VirtualClock()
    budget = make_budget(clock)
    methods = {"p0": "crm.deal.list", "p1": "crm.deal.list", "u": "user.get"}
    budget.record_batch(
        methods,
        {
            "p0": time_block(clock, operating=10.0, operating_reset_at=T0 + 500),
            "p1": time_block(clock, operating=12.5, operating_reset_at=T0 + 500),
            "u": {"finish": T0},  # no operating keys: nothing to learn
            "zz": time_block(clock, operating=400.0),  # a key we did not send
        },
    )
    assert budget.used("crm.deal.list") == 12.5
    assert budget.used("user.get") is None
    # a response finished earlier arrives late: ignored
    budget.record("crm.deal.list", {"finish": T0 - 10, "operating": 1.0, "operating_reset_at": T0 + 400})
    assert budget.used("crm.deal.list") == 12.5
    # PHP turned keys 0..n-1 into a list
    budget.record_batch({"0": "crm.item.list"}, [time_block(clock, operating="7.25")])
    assert budget.used("crm.item.list") == 7.25
    budget.record("x", None)
    budget.record_batch(methods, None)
    clock.t += 600
    assert budget.used("crm.deal.list") is None  # all counted minutes have expired


async def test_budget_converts_server_time_with_the_observed_skew() -> None:
    clock = VirtualClock()
    budget = make_budget(clock, reset_margin=1)
    server_now = T0 + 30  # the portal's clock runs 30 s ahead of ours
    budget.record(
        "crm.deal.list", {"finish": server_now, "operating": 479, "operating_reset_at": server_now + 100}
    )
    [waited] = await clock.run(budget.wait_for("crm.deal.list"))
    assert waited == pytest.approx(101)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"limit": 0}, "positive"),
        ({"window": 0}, "positive"),
        ({"safety": 480}, "safety"),
        ({"safety": -1}, "safety"),
    ],
)
def test_budget_validates_its_configuration(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        OperatingBudget(**kwargs)


def test_default_safety_is_a_tenth_of_the_limit() -> None:
    assert OperatingBudget(limit=200).threshold == 180


async def test_expired_budget_entries_are_not_exported() -> None:
    clock = VirtualClock()
    budget = make_budget(clock)
    budget.record("crm.deal.list", time_block(clock, operating=3))
    clock.t += 601
    assert budget.export_state()["methods"] == {}
