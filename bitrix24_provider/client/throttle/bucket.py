"""The portal's request-rate bucket, held on the client side.

Bitrix24 keeps a **leaky bucket** per portal and source IP (contract §6.1): every HTTP request (a
whole ``batch`` counts once) adds 1, the counter drains by Y per second, and above X the request gets
HTTP 503 ``QUERY_LIMIT_EXCEEDED`` (standard plans X=50, Y=2; Enterprise X=250, Y=5).

:class:`Bucket` is what the throttle needs of a bucket; :class:`LeakyBucket` keeps it in the process,
:class:`~.shared_bucket.SharedBucket` in a store every client of the portal uses (a lock file or
Redis). Both take their limits from one :class:`BucketLimits` and book slots with the same
arithmetic, :class:`Gcra` (the Redis scripts repeat it in Lua).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict

from .clock import Sleep

__all__ = ["PLAN_LIMITS", "Bucket", "BucketLimits", "BucketState", "Gcra", "LeakyBucket"]

#: Leaky bucket per plan: (bucket size X, drain per second Y). Contract §6.1.
PLAN_LIMITS: dict[str, tuple[float, float]] = {"standard": (50.0, 2.0), "enterprise": (250.0, 5.0)}


class BucketState(TypedDict):
    capacity: float
    drain_rate: float
    rate: float
    level: float
    measured_at: float


@dataclass(frozen=True)
class BucketLimits:
    """The portal's bucket and how the client slows down and recovers in it.

    :param capacity: the portal's bucket size X (requests).
    :param drain_rate: the portal's drain Y (requests per second).
    :param headroom: slots of ``capacity`` never used (default 1).
    :param slowdown: factor applied to the rate after a 503 that follows another one closely.
    :param min_rate_factor: the rate never drops below ``min_rate_factor * drain_rate``.
    :param recovery_step: the rate goes up by ``recovery_step * drain_rate`` ...
    :param recovery_after: ... after this many accepted requests.
    """

    capacity: float
    drain_rate: float
    headroom: float = 1.0
    slowdown: float = 0.5
    min_rate_factor: float = 0.1
    recovery_step: float = 0.1
    recovery_after: int = 20

    def __post_init__(self) -> None:
        if not self.drain_rate > 0:
            raise ValueError(f"drain_rate must be positive, got {self.drain_rate!r}")
        if self.headroom < 0 or self.capacity - self.headroom < 1:
            raise ValueError(
                f"capacity - headroom must leave at least one slot ({self.capacity!r} - {self.headroom!r})"
            )
        if not 0 < self.slowdown < 1 or not 0 < self.min_rate_factor <= 1:
            raise ValueError("slowdown must be in (0, 1) and min_rate_factor in (0, 1]")
        if not self.recovery_step > 0 or self.recovery_after < 1:
            raise ValueError("recovery_step must be positive and recovery_after at least 1")

    @property
    def limit(self) -> float:
        """Usable slots: ``capacity - headroom``."""
        return self.capacity - self.headroom

    @property
    def min_rate(self) -> float:
        return self.drain_rate * self.min_rate_factor

    @property
    def full_drain(self) -> float:
        """Seconds a full bucket takes to drain at the nominal rate: a 503 within this of the last
        one means other clients keep using the bucket."""
        return self.limit / self.drain_rate


@dataclass
class Gcra:
    """A bucket's state as its *theoretical empty time* ``tat`` (GCRA): the level at time ``t`` is
    ``rate * (tat - t)``. Times and rates are in whatever base the caller uses, consistently."""

    tat: float
    rate: float
    generation: int = 0  #: bumped when bookings become void (a 503, a restore)
    successes: int = 0  #: accepted requests counted towards the next recovery step
    penalized_at: float | None = None  #: the last 503 that marked the bucket full

    def set_rate(self, rate: float, now: float) -> None:
        """Change the rate, keeping the level."""
        if self.tat > now:
            self.tat = now + (self.tat - now) * self.rate / rate
        self.rate = rate

    def reserve(self, now: float, limit: float) -> float:
        """Book the next slot; return the time at which it may be used."""
        tat = max(self.tat, now)
        at = max(now, tat - (limit - 1) / self.rate)
        self.tat = tat + 1 / self.rate
        return at

    def mark_full(self, now: float, limit: float) -> None:
        """The bucket is full now; every booking made so far is void."""
        self.tat = now + limit / self.rate
        self.generation += 1

    def on_query_limit(
        self, now: float, limits: BucketLimits, slowdown: float, generation: int | None
    ) -> bool:
        """A 503: mark the bucket full, and multiply the rate by *slowdown* when the last 503 came
        less than a full drain ago. A 503 for a request booked under an older *generation* is
        ignored (``False``)."""
        if generation is not None and generation != self.generation:
            return False
        self.successes = 0
        if self.penalized_at is not None and now - self.penalized_at < limits.full_drain:
            self.set_rate(max(limits.min_rate, min(self.rate, limits.drain_rate) * slowdown), now)
        self.penalized_at = now
        self.mark_full(now, limits.limit)
        return True

    def on_successes(self, count: int, now: float, limits: BucketLimits) -> None:
        """*count* requests were accepted: every ``recovery_after`` of them step a lowered rate up."""
        if self.rate >= limits.drain_rate:
            self.successes = 0
            return
        self.successes += count
        while self.successes >= limits.recovery_after and self.rate < limits.drain_rate:
            self.successes -= limits.recovery_after
            self.set_rate(min(limits.drain_rate, self.rate + limits.recovery_step * limits.drain_rate), now)
        if self.rate >= limits.drain_rate:
            self.successes = 0


class Bucket(Protocol):
    """What the throttle asks of a request-rate bucket, wherever its state lives."""

    @property
    def limit(self) -> float: ...

    @property
    def rate(self) -> float: ...

    @property
    def generation(self) -> int: ...

    def level(self) -> float: ...

    async def acquire(self) -> float: ...

    def on_query_limit(self, generation: int | None = None) -> None: ...

    def on_success(self) -> None: ...

    def penalize(self) -> None: ...

    def export_state(self) -> BucketState: ...

    def restore_state(self, state: Mapping[str, Any]) -> None: ...

    async def close(self) -> None: ...


class Limited:
    """The sizes a bucket reads from its :class:`BucketLimits` (``limits``), whatever keeps its level."""

    limits: BucketLimits

    @property
    def limit(self) -> float:
        """Usable slots: ``capacity - headroom``."""
        return self.limits.limit

    @property
    def capacity(self) -> float:
        return self.limits.capacity

    @property
    def drain_rate(self) -> float:
        return self.limits.drain_rate


class LeakyBucket(Limited):
    """A client-side copy of the portal's request-rate bucket, with reservations, in this process.

    :meth:`acquire` books the earliest time at which one more request keeps the level within
    ``limit = capacity - headroom`` and moves ``tat`` by ``1/rate`` in the same synchronous step, so
    concurrent waiters each get their own future slot and can never overrun: in any interval of
    length ``t`` at most ``limit + rate * t`` requests are released.

    ``headroom`` slots stay unused because the portal's counter and ours are not in sync: network
    latency moves arrivals relative to our release times, and other clients may share the portal's
    bucket. With jitter up to ``d`` seconds, ``headroom >= drain_rate * d`` keeps the portal's
    counter within ``capacity``.

    When the portal still answers 503, :meth:`on_query_limit` marks the bucket full and makes
    already-booked waiters book again (rejections of requests released before that moment are
    recognised by :attr:`generation` and do not compound). The first 503 only says how full the
    portal's bucket is (a fresh client cannot know what other clients left in it): the client goes on
    at the drain rate. A 503 again before a full bucket could have drained means others keep using
    it: then the effective rate is multiplied by ``slowdown`` (not below ``min_rate_factor *
    drain_rate``), and every ``recovery_after`` successes (:meth:`on_success`) add ``recovery_step *
    drain_rate`` back, up to the nominal rate.

    Parameters as in :class:`BucketLimits`, and:

    :param clock: monotonic time source, in seconds of the portal's time base.
    :param sleep: async sleep in the same time base.
    :param wall: Unix time in the same time base; only used by :meth:`export_state` /
        :meth:`restore_state`.
    """

    def __init__(
        self,
        capacity: float,
        drain_rate: float,
        *,
        headroom: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        wall: Callable[[], float] = time.time,
        slowdown: float = 0.5,
        min_rate_factor: float = 0.1,
        recovery_step: float = 0.1,
        recovery_after: int = 20,
    ) -> None:
        self.limits = BucketLimits(
            float(capacity),
            float(drain_rate),
            float(headroom),
            slowdown,
            min_rate_factor,
            recovery_step,
            recovery_after,
        )
        self._clock = clock
        self._sleep = sleep
        self._wall = wall
        self._state = Gcra(tat=clock(), rate=self.limits.drain_rate)

    @property
    def min_rate(self) -> float:
        return self.limits.min_rate

    @property
    def recovery_step(self) -> float:
        return self.limits.recovery_step

    @property
    def rate(self) -> float:
        """The current effective drain rate (requests per second)."""
        return self._state.rate

    @property
    def generation(self) -> int:
        """Changes whenever the bucket is penalized or restored; read it right after :meth:`acquire`
        and pass it to :meth:`on_query_limit`."""
        return self._state.generation

    def level(self) -> float:
        """Requests currently counted in the bucket, including slots booked for the future."""
        return max(0.0, self._state.rate * (self._state.tat - self._clock()))

    def _reserve(self) -> float:
        """Book the next slot; return the time (clock base) at which it may be used."""
        return self._state.reserve(self._clock(), self.limit)

    async def acquire(self) -> float:
        """Wait for a slot and take it. Returns the seconds waited.

        If the bucket is penalized while this call sleeps, its booking is void and it books again.
        A cancelled waiter returns its slot when no later slot was booked after it.
        """
        state = self._state
        start = self._clock()
        while True:
            generation = state.generation
            at = self._reserve()
            booked_tat = state.tat
            delay = at - self._clock()
            if delay > 0:
                try:
                    await self._sleep(delay)
                except asyncio.CancelledError:
                    if generation == state.generation and state.tat == booked_tat:
                        state.tat -= 1 / state.rate
                    raise
            if generation == state.generation:
                return self._clock() - start

    def penalize(self) -> None:
        """Mark the bucket full now (the portal says it is) and void all pending bookings."""
        self._state.mark_full(self._clock(), self.limit)

    def on_query_limit(self, generation: int | None = None) -> None:
        """The portal answered 503 ``QUERY_LIMIT_EXCEEDED``: mark the bucket full, and slow down
        when it said so before, less than the time a full bucket takes to drain ago.

        :param generation: :attr:`generation` when the rejected request was released. A 503 for a
            request released before the last penalty is ignored, so that a volley of rejections
            from one overrun counts once instead of compounding.
        """
        self._state.on_query_limit(self._clock(), self.limits, self.limits.slowdown, generation)

    def on_success(self) -> None:
        """A request was accepted; after ``recovery_after`` of them the rate steps back up."""
        self._state.on_successes(1, self._clock(), self.limits)

    def export_state(self) -> BucketState:
        """JSON-serialisable state: effective rate and the level at a wall-clock instant."""
        return {
            "capacity": self.limits.capacity,
            "drain_rate": self.limits.drain_rate,
            "rate": self.rate,
            "level": self.level(),
            "measured_at": self._wall(),
        }

    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Continue from an exported state: the level drains for the wall time that passed since.

        The restored rate is clamped to this bucket's ``[min_rate, drain_rate]``; the level never
        lowers what this bucket already counts.
        """
        rate = min(self.drain_rate, max(self.min_rate, float(state["rate"])))
        elapsed = max(0.0, self._wall() - float(state["measured_at"]))
        level = max(0.0, float(state["level"]) - rate * elapsed)
        now = self._clock()
        self._state.set_rate(rate, now)
        self._state.tat = max(self._state.tat, now + level / rate)
        self._state.successes = 0
        self._state.generation += 1

    async def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return (
            f"<LeakyBucket limit={self.limit:g}/{self.limits.capacity:g} "
            f"rate={self.rate:g}/{self.drain_rate:g} level={self.level():.2f}>"
        )
