"""A virtual clock for the throttle's tests, and what they measure with it.

:class:`VirtualClock`: ``sleep`` parks the coroutine until the driver advances virtual time to its
wake-up, so hundreds of seconds of portal time take milliseconds and every release time is exact.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from bitrix24_provider.client.throttle import LeakyBucket, OperatingBudget

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


def make_budget(clock: VirtualClock, **kw: Any) -> OperatingBudget:
    return OperatingBudget(now=clock.now, sleep=clock.sleep, **kw)


def time_block(clock: VirtualClock, **kw: Any) -> dict[str, Any]:
    return {"start": clock.t - 0.5, "finish": clock.t, "duration": 0.5, "processing": 0.4, **kw}
