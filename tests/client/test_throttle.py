"""Throttling on a virtual clock: the bucket holds the portal's rate, the budget waits for resets.

Time-dependent tests run on :class:`VirtualClock`: ``sleep`` parks the coroutine until the driver
advances virtual time to its wake-up, so hundreds of seconds of portal time take milliseconds and
every release time is exact.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import random
import time
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import pytest

from bitrix24_provider.client.throttle import (
    LeakyBucket,
    OperatingBudget,
    ScaledClock,
    Throttle,
)

T = TypeVar("T")
EPS = 1e-9
T0 = 1_780_000_000.0  # portal Unix time at the start of each test


class VirtualClock:
    """Virtual time for monotonic, wall and sleep; :meth:`run` drives the sleepers."""

    def __init__(self, start: float = T0) -> None:
        self.t = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.t + seconds, next(self._seq), future))
        await future

    async def _settle(self) -> None:
        for _ in range(10):
            await asyncio.sleep(0)

    async def run(self, *aws: Awaitable[T]) -> list[T]:
        """Run the awaitables to completion, advancing time whenever all of them sleep."""
        tasks = [asyncio.ensure_future(aw) for aw in aws]
        while True:
            await self._settle()
            if all(task.done() for task in tasks):
                return [task.result() for task in tasks]
            if not self._sleepers:
                raise RuntimeError("tasks are blocked but nobody sleeps")
            wake, _, future = heapq.heappop(self._sleepers)
            self.t = max(self.t, wake)
            if not future.done():
                future.set_result(None)


def make_bucket(clock: VirtualClock, capacity: float = 50, rate: float = 2, **kw: Any) -> LeakyBucket:
    return LeakyBucket(capacity, rate, clock=clock.now, sleep=clock.sleep, wall=clock.now, **kw)


def assert_window_bound(times: Sequence[float], limit: float, rate: float) -> None:
    """In every window [t_i, t_j], at most ``limit + rate * (t_j - t_i)`` requests were released."""
    ordered = sorted(times)
    for i in range(len(ordered)):
        for j in range(i, len(ordered)):
            count = j - i + 1
            assert count <= limit + rate * (ordered[j] - ordered[i]) + EPS, (
                f"{count} requests in [{ordered[i] - T0:.3f}, {ordered[j] - T0:.3f}]"
            )


def portal_rejections(arrivals: Sequence[float], capacity: float, rate: float) -> int:
    """The portal's bucket (contract §6.1): +1 per request, drains ``rate``/s, rejects above X."""
    level, last, rejected = 0.0, None, 0
    for t in sorted(arrivals):
        if last is not None:
            level = max(0.0, level - rate * (t - last))
        last = t
        if level + 1 > capacity + EPS:
            rejected += 1
        else:
            level += 1
    return rejected


async def hammer(bucket: LeakyBucket, clock: VirtualClock, workers: int, per_worker: int) -> list[float]:
    granted: list[float] = []

    async def worker() -> None:
        for _ in range(per_worker):
            await bucket.acquire()
            granted.append(clock.now())

    await clock.run(*(worker() for _ in range(workers)))
    return granted


# ------------------------------------------------------------------------------------------ bucket


@pytest.mark.parametrize("workers", [10, 37, 100])
async def test_concurrent_acquirers_never_exceed_the_portal_bucket(workers: int) -> None:
    clock = VirtualClock()
    bucket = make_bucket(clock, 50, 2, headroom=1)
    granted = await hammer(bucket, clock, workers, per_worker=300 // workers + 1)

    assert len(granted) == workers * (300 // workers + 1)
    # in any interval [0, t] at most X + Y*t, and in fact in any window at most (X - headroom) + Y*t
    assert_window_bound(granted, limit=49, rate=2)
    assert sum(t <= T0 for t in granted) == 49  # the burst: capacity minus headroom
    assert portal_rejections(granted, 50, 2) == 0

    # steady state: after the burst, exactly Y per second
    after_burst = sorted(granted)[49:]
    measured = (len(after_burst) - 1) / (after_burst[-1] - after_burst[0])
    assert measured == pytest.approx(2.0, rel=1e-9)


@pytest.mark.parametrize("seed", range(5))
async def test_random_arrivals_with_latency_jitter_stay_within_the_portal_limit(seed: int) -> None:
    rng = random.Random(seed)
    clock = VirtualClock()
    bucket = make_bucket(clock, 50, 2, headroom=1)
    arrivals: list[float] = []
    granted: list[float] = []

    async def worker() -> None:
        for _ in range(rng.randint(1, 12)):
            await clock.sleep(rng.choice([0.0, rng.uniform(0, 40)]))  # idle spells let the bucket drain
            await bucket.acquire()
            granted.append(clock.now())
            # network latency below headroom / rate moves the arrival at the portal
            arrivals.append(clock.now() + rng.uniform(0, 0.49))

    await clock.run(*(worker() for _ in range(rng.randint(10, 100))))
    assert_window_bound(granted, limit=49, rate=2)
    assert portal_rejections(arrivals, 50, 2) == 0


async def test_a_drained_bucket_allows_a_new_burst() -> None:
    clock = VirtualClock()
    bucket = make_bucket(clock, 10, 2, headroom=1)
    first = await hammer(bucket, clock, 5, 2)
    assert all(t == T0 for t in first[:9])
    assert first[9] == pytest.approx(T0 + 0.5)
    clock.t += 60  # idle: the bucket drains completely
    start = clock.now()
    again = await hammer(bucket, clock, 9, 1)
    assert again == [start] * 9
    assert bucket.level() == pytest.approx(9)


async def test_query_limit_slows_down_and_recovers_gradually() -> None:
    clock = VirtualClock()
    bucket = make_bucket(clock, 10, 2, headroom=1, recovery_after=5, recovery_step=0.1)
    await hammer(bucket, clock, 9, 1)
    bucket.on_query_limit()  # the first 503 says how full the portal's bucket is
    assert bucket.rate == pytest.approx(2.0)
    assert bucket.level() == pytest.approx(9)  # marked full (limit = capacity - headroom)
    penalized_at = clock.now()
    granted = await hammer(bucket, clock, 3, 2)
    assert [t - penalized_at for t in granted] == pytest.approx([0.5, 1, 1.5, 2, 2.5, 3])  # the drain rate

    bucket.on_query_limit()  # again before a full bucket drained (4.5 s): others use it too
    assert bucket.rate == pytest.approx(1.0)
    penalized_at = clock.now()
    granted = await hammer(bucket, clock, 3, 2)
    assert [t - penalized_at for t in granted] == pytest.approx([1, 2, 3, 4, 5, 6])

    for _ in range(10):
        bucket.on_query_limit()
    assert bucket.rate == pytest.approx(0.2)  # floor: min_rate_factor * drain_rate

    rates = []
    for _ in range(60):
        bucket.on_success()
        rates.append(bucket.rate)
    # +10 % of the nominal rate per 5 successes, never above the nominal rate
    assert rates[4] == pytest.approx(0.4)
    assert rates[8] == pytest.approx(0.4)
    assert rates[9] == pytest.approx(0.6)
    assert rates[44] == pytest.approx(2.0)
    assert max(rates) == pytest.approx(2.0)


async def test_a_volley_of_rejections_from_one_overrun_slows_down_once() -> None:
    clock = VirtualClock()
    bucket = make_bucket(clock, 10, 2)
    await bucket.acquire()
    released_under = bucket.generation
    for _ in range(5):  # five in-flight requests of the same moment all come back 503
        bucket.on_query_limit(released_under)
    assert bucket.rate == pytest.approx(2.0)  # marked full once, on at the drain rate
    for expected in (1.0, 0.5):  # requests released after the last penalty: a volley slows down once
        await clock.run(bucket.acquire())
        released_under = bucket.generation
        for _ in range(5):
            bucket.on_query_limit(released_under)
        assert bucket.rate == pytest.approx(expected)


async def test_a_503_long_after_the_last_marks_the_bucket_full_without_slowing_down() -> None:
    clock = VirtualClock()
    bucket = make_bucket(clock, 10, 2)
    bucket.on_query_limit()
    clock.t += 4.6  # a full bucket (9 slots) drains in 4.5 s: this 503 is about another fill
    bucket.on_query_limit()
    assert bucket.rate == pytest.approx(2.0)
    assert bucket.level() == pytest.approx(9)
    clock.t += 4.4
    bucket.on_query_limit()
    assert bucket.rate == pytest.approx(1.0)


async def test_penalize_voids_bookings_made_at_the_old_rate() -> None:
    clock = VirtualClock()
    bucket = make_bucket(clock, 5, 1, headroom=0)
    granted: list[float] = []

    async def worker() -> None:
        await bucket.acquire()
        granted.append(clock.now())

    async def portal_says_503() -> None:
        await clock.sleep(3.5)
        bucket.on_query_limit()  # full; and again: others keep using it, half the rate
        bucket.on_query_limit()

    await clock.run(portal_says_503(), *(worker() for _ in range(20)))
    penalty = T0 + 3.5
    before = [t for t in granted if t <= penalty]
    after = sorted(t for t in granted if t > penalty)
    assert len(before) == 5 + 3  # burst plus one per second
    # from the moment the portal said "full", at most the new rate (0.5/s) drains through
    for n, t in enumerate(after, start=1):
        assert n <= 0.5 * (t - penalty) + EPS
    assert after[0] == pytest.approx(penalty + 2.0)
    assert len(after) == 12


async def test_a_cancelled_waiter_returns_its_slot() -> None:
    clock = VirtualClock()
    bucket = make_bucket(clock, 2, 1, headroom=1)
    await bucket.acquire()  # immediate: limit is one slot
    level = bucket.level()

    async def cancel_soon(task: asyncio.Task[float]) -> None:
        await clock.sleep(0.25)
        task.cancel()

    waiter = asyncio.ensure_future(bucket.acquire())
    await clock.run(cancel_soon(waiter))
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert bucket.level() == pytest.approx(level - 0.25)
    granted = await hammer(bucket, clock, 1, 1)
    assert granted == [pytest.approx(T0 + 1.0)]  # not T0 + 2: the cancelled slot was given back


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"capacity": 1, "drain_rate": 1, "headroom": 1}, "at least one slot"),
        ({"capacity": 10, "drain_rate": 0}, "drain_rate must be positive"),
        ({"capacity": 10, "drain_rate": 1, "headroom": -1}, "at least one slot"),
        ({"capacity": 10, "drain_rate": 1, "slowdown": 1.0}, "slowdown"),
        ({"capacity": 10, "drain_rate": 1, "min_rate_factor": 0}, "min_rate_factor"),
        ({"capacity": 10, "drain_rate": 1, "recovery_after": 0}, "recovery_after"),
    ],
)
def test_bucket_validates_its_configuration(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LeakyBucket(**kwargs)


async def test_bucket_state_round_trip_continues_where_it_left_off() -> None:
    clock = VirtualClock()
    first = make_bucket(clock, 50, 2)
    await hammer(first, clock, 30, 1)
    first.on_query_limit()  # bucket full (49)
    first.on_query_limit()  # and again: rate 1.0
    state = json.loads(json.dumps(first.export_state()))
    assert state["rate"] == pytest.approx(1.0)
    assert state["level"] == pytest.approx(49)
    assert state["measured_at"] == T0

    later = VirtualClock(start=T0 + 20)  # a new process 20 s later
    second = make_bucket(later, 50, 2)
    second.restore_state(state)
    assert second.rate == pytest.approx(1.0)
    assert second.level() == pytest.approx(49 - 20 * 1.0)
    granted = await hammer(second, later, 25, 1)
    assert sum(t == T0 + 20 for t in granted) == 20  # 49 - 29 slots still counted
    assert sorted(granted)[20] == pytest.approx(T0 + 20 + 1.0)

    # a restored rate is clamped into this bucket's range
    third = make_bucket(VirtualClock(), 50, 2)
    third.restore_state({**state, "rate": 99.0, "level": 0.0})
    assert third.rate == 2.0


# ------------------------------------------------------------------------------------------ budget


def make_budget(clock: VirtualClock, **kw: Any) -> OperatingBudget:
    return OperatingBudget(now=clock.now, sleep=clock.sleep, **kw)


def time_block(clock: VirtualClock, **kw: Any) -> dict[str, Any]:
    return {"start": clock.t - 0.5, "finish": clock.t, "duration": 0.5, "processing": 0.4, **kw}


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


# ---------------------------------------------------------------------------- throttle and state


async def test_throttle_state_round_trip() -> None:
    clock = VirtualClock()
    throttle = Throttle(make_bucket(clock, 50, 2), make_budget(clock))
    await clock.run(*(throttle.acquire("crm.deal.list") for _ in range(20)))
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
    [waited] = await later.run(restored.acquire("crm.deal.list", "tasks.task.list"))
    assert waited == pytest.approx(291)
    assert restored.export_state()["budget"]["methods"]["crm.deal.list"]["used"] == 450

    with pytest.raises(ValueError, match="version"):
        restored.restore_state({**state, "version": 99})


async def test_expired_budget_entries_are_not_exported() -> None:
    clock = VirtualClock()
    budget = make_budget(clock)
    budget.record("crm.deal.list", time_block(clock, operating=3))
    clock.t += 601
    assert budget.export_state()["methods"] == {}


async def test_scaled_clock_runs_the_bucket_in_portal_time() -> None:
    clock = ScaledClock(time_scale=1000.0, epoch=T0)
    throttle = Throttle.for_plan("standard", clock=clock)
    real_start = time.monotonic()
    portal_start = clock.monotonic()
    await asyncio.gather(*(throttle.acquire("crm.deal.list") for _ in range(59)))
    portal_elapsed = clock.monotonic() - portal_start
    assert portal_elapsed >= 10 * 0.5 - 0.01  # 49 at once, then 10 at 2/s of portal time
    assert time.monotonic() - real_start < 2.0
    before, wall, after = clock.monotonic(), clock.time(), clock.monotonic()
    assert T0 + before <= wall <= T0 + after
    with pytest.raises(ValueError, match="time_scale"):
        ScaledClock(time_scale=0)
