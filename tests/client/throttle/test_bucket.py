"""The request bucket on a virtual clock: it holds the portal's rate, slows down after 503s and
recovers, and its state carries over to a new process."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest

from bitrix24_provider.client.throttle import LeakyBucket

from .clock_support import EPS, T0, VirtualClock, assert_window_bound, hammer, make_bucket, portal_rejections


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
