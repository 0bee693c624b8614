"""Throttling that holds the portal's limits instead of discovering them through errors.

Bitrix24 enforces two limits (contract §6):

* a **leaky bucket** per portal and source IP: every HTTP request (a whole ``batch`` counts once)
  adds 1, the counter drains by Y per second, and above X the request gets HTTP 503
  ``QUERY_LIMIT_EXCEEDED`` (standard plans X=50, Y=2; Enterprise X=250, Y=5) — :class:`LeakyBucket`;
* an **operating-time budget** per (credential, method): 480 s of handler time in a sliding
  10-minute window, reported in every response's ``time.operating`` / ``time.operating_reset_at``;
  above it the method is blocked with HTTP 429 ``OPERATION_TIME_LIMIT`` — :class:`OperatingBudget`.

:class:`Throttle` combines both and exports/restores their state as JSON, so that the next process
(the next Airflow task try) continues where the last one stopped. Retries of failed requests are
in :mod:`.retry`.

Time is injectable everywhere: the bucket takes a monotonic ``clock``, a ``wall`` clock (Unix
seconds, used only to export/restore state) and an async ``sleep``; the budget takes ``now`` (the
*portal's* Unix time) and ``sleep``. :class:`ScaledClock` runs all three on a fast-forwarded time base
(``time_scale`` portal seconds per real second) for benchmarks against an accelerated emulator.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict

__all__ = [
    "PLAN_LIMITS",
    "SYSTEM_CLOCK",
    "BucketState",
    "BudgetState",
    "Clock",
    "LeakyBucket",
    "MethodBudgetState",
    "OperatingBudget",
    "ScaledClock",
    "SystemClock",
    "Throttle",
    "ThrottleState",
]

Sleep = Callable[[float], Awaitable[Any]]

#: Leaky bucket per plan: (bucket size X, drain per second Y). Contract §6.1.
PLAN_LIMITS: dict[str, tuple[float, float]] = {"standard": (50.0, 2.0), "enterprise": (250.0, 5.0)}

STATE_VERSION = 1


# ---------------------------------------------------------------------------------------------
# Clocks


class Clock(Protocol):
    """A time base: a monotonic reading, Unix time and a matching sleep, all in portal seconds."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Real time: :func:`time.monotonic`, :func:`time.time`, :func:`asyncio.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


SYSTEM_CLOCK = SystemClock()


class ScaledClock:
    """A fast-forwarded time base: ``time_scale`` portal seconds pass per real second.

    Use the same ``time_scale`` and ``epoch`` as the emulator so that ``operating_reset_at`` values
    and bucket drain are measured on the portal's clock.

    :param time_scale: portal seconds per real second (> 0).
    :param epoch: portal Unix time at creation (default: the real Unix time).
    """

    def __init__(self, time_scale: float = 1.0, epoch: float | None = None) -> None:
        if not time_scale > 0:
            raise ValueError(f"time_scale must be positive, got {time_scale!r}")
        self.time_scale = time_scale
        self._epoch = time.time() if epoch is None else epoch
        self._mono0 = time.monotonic()

    def monotonic(self) -> float:
        return (time.monotonic() - self._mono0) * self.time_scale

    def time(self) -> float:
        return self._epoch + self.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.time_scale)


# ---------------------------------------------------------------------------------------------
# Request-rate bucket


class BucketState(TypedDict):
    capacity: float
    drain_rate: float
    rate: float
    level: float
    measured_at: float


class LeakyBucket:
    """A client-side copy of the portal's request-rate bucket, with reservations.

    The bucket is modelled by its *theoretical empty time* ``tat`` (GCRA): its level at time ``t`` is
    ``rate * (tat - t)``. :meth:`acquire` books the earliest time at which one more request keeps the
    level within ``limit = capacity - headroom`` and moves ``tat`` by ``1/rate`` in the same
    synchronous step, so concurrent waiters each get their own future slot and can never overrun:
    in any interval of length ``t`` at most ``limit + rate * t`` requests are released.

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

    :param capacity: the portal's bucket size X (requests).
    :param drain_rate: the portal's drain Y (requests per second).
    :param headroom: slots of ``capacity`` never used (default 1).
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
        if not drain_rate > 0:
            raise ValueError(f"drain_rate must be positive, got {drain_rate!r}")
        if headroom < 0 or capacity - headroom < 1:
            raise ValueError(
                f"capacity - headroom must leave at least one slot ({capacity!r} - {headroom!r})"
            )
        if not 0 < slowdown < 1 or not 0 < min_rate_factor <= 1:
            raise ValueError("slowdown must be in (0, 1) and min_rate_factor in (0, 1]")
        if not recovery_step > 0 or recovery_after < 1:
            raise ValueError("recovery_step must be positive and recovery_after at least 1")
        self.capacity = float(capacity)
        self.drain_rate = float(drain_rate)
        self.headroom = float(headroom)
        self.slowdown = slowdown
        self.min_rate = drain_rate * min_rate_factor
        self.recovery_step = recovery_step
        self.recovery_after = recovery_after
        self._clock = clock
        self._sleep = sleep
        self._wall = wall
        self._rate = self.drain_rate
        self._tat = clock()
        self._generation = 0  # bumped when bookings become void (penalize, restore)
        self._successes = 0
        self._penalized_at: float | None = None  # the last 503 that marked the bucket full

    @property
    def limit(self) -> float:
        """Usable slots: ``capacity - headroom``."""
        return self.capacity - self.headroom

    @property
    def rate(self) -> float:
        """The current effective drain rate (requests per second)."""
        return self._rate

    def level(self) -> float:
        """Requests currently counted in the bucket, including slots booked for the future."""
        return max(0.0, self._rate * (self._tat - self._clock()))

    def _reserve(self) -> float:
        """Book the next slot; return the time (clock base) at which it may be used."""
        now = self._clock()
        tat = max(self._tat, now)
        at = max(now, tat - (self.limit - 1) / self._rate)
        self._tat = tat + 1 / self._rate
        return at

    async def acquire(self) -> float:
        """Wait for a slot and take it. Returns the seconds waited.

        If the bucket is penalized while this call sleeps, its booking is void and it books again.
        A cancelled waiter returns its slot when no later slot was booked after it.
        """
        start = self._clock()
        while True:
            generation = self._generation
            at = self._reserve()
            booked_tat = self._tat
            delay = at - self._clock()
            if delay > 0:
                try:
                    await self._sleep(delay)
                except asyncio.CancelledError:
                    if generation == self._generation and self._tat == booked_tat:
                        self._tat -= 1 / self._rate
                    raise
            if generation == self._generation:
                return self._clock() - start

    def _set_rate(self, rate: float) -> None:
        now = self._clock()
        if self._tat > now:  # keep the level, re-express it at the new rate
            self._tat = now + (self._tat - now) * self._rate / rate
        self._rate = rate

    def penalize(self) -> None:
        """Mark the bucket full now (the portal says it is) and void all pending bookings."""
        self._tat = self._clock() + self.limit / self._rate
        self._generation += 1

    @property
    def generation(self) -> int:
        """Changes whenever the bucket is penalized or restored; read it right after :meth:`acquire`
        and pass it to :meth:`on_query_limit`."""
        return self._generation

    def on_query_limit(self, generation: int | None = None) -> None:
        """The portal answered 503 ``QUERY_LIMIT_EXCEEDED``: mark the bucket full, and slow down
        when it said so before, less than the time a full bucket takes to drain ago.

        :param generation: :attr:`generation` when the rejected request was released. A 503 for a
            request released before the last penalty is ignored, so that a volley of rejections
            from one overrun counts once instead of compounding.
        """
        if generation is not None and generation != self._generation:
            return
        self._successes = 0
        now = self._clock()
        if self._penalized_at is not None and now - self._penalized_at < self.limit / self.drain_rate:
            self._set_rate(max(self.min_rate, self._rate * self.slowdown))
        self._penalized_at = now
        self.penalize()

    def on_success(self) -> None:
        """A request was accepted; after ``recovery_after`` of them the rate steps back up."""
        if self._rate >= self.drain_rate:
            return
        self._successes += 1
        if self._successes >= self.recovery_after:
            self._successes = 0
            self._set_rate(min(self.drain_rate, self._rate + self.recovery_step * self.drain_rate))

    def export_state(self) -> BucketState:
        """JSON-serialisable state: effective rate and the level at a wall-clock instant."""
        return {
            "capacity": self.capacity,
            "drain_rate": self.drain_rate,
            "rate": self._rate,
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
        self._set_rate(rate)
        self._tat = max(self._tat, self._clock() + level / rate)
        self._successes = 0
        self._generation += 1

    def __repr__(self) -> str:
        return (
            f"<LeakyBucket limit={self.limit:g}/{self.capacity:g} rate={self._rate:g}/{self.drain_rate:g} "
            f"level={self.level():.2f}>"
        )


# ---------------------------------------------------------------------------------------------
# Operating-time budget


class MethodBudgetState(TypedDict):
    used: float
    reset_at: float | None
    observed_at: float
    finish: float | None
    blocked_until: float


class BudgetState(TypedDict):
    limit: float
    window: float
    offset: float
    methods: dict[str, MethodBudgetState]


@dataclass
class _Method:
    used: float = 0.0  #: last reported ``operating`` (seconds used in the window)
    reset_at: float | None = None  #: local portal-time when the oldest counted minute expires
    observed_at: float = -math.inf  #: local time of the observation
    finish: float | None = None  #: server ``time.finish`` of the observation (orders responses)
    blocked_until: float = -math.inf  #: set after OPERATION_TIME_LIMIT


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            parsed = float(value)
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    return None


class OperatingBudget:
    """Per-method operating-time budget fed from the portal's ``time`` blocks.

    :meth:`record` reads ``operating`` and ``operating_reset_at`` (both optional) from a response's
    ``time`` block, or from each ``result_time`` entry of a batch (:meth:`record_batch`). When a
    method's reported ``operating`` reaches ``limit - safety``, :meth:`wait_for` sleeps until its
    ``operating_reset_at`` + ``reset_margin``. After an ``OPERATION_TIME_LIMIT`` error,
    :meth:`block` stops the method until the known reset time, or for ``retry_interval`` when that is
    unknown or already past (the oldest minute expiring need not bring the method under the limit).

    Server timestamps are converted to the local time base with the offset between the server's
    ``time.finish`` and ``now()`` at the moment the block was recorded, so clock skew between client
    and portal does not shorten the wait.

    :param limit: the portal's budget per method and window (seconds; 480 in the cloud).
    :param window: the sliding window (seconds; 600). Observations older than this are forgotten.
    :param safety: seconds of budget kept free (default 10 % of ``limit``): calls in flight still add
        operating time after the last report.
    :param reset_margin: seconds added to ``operating_reset_at`` before calling again.
    :param retry_interval: wait after a block with no usable reset time (the portal's minute buckets).
    :param now: the portal's Unix time.
    :param sleep: async sleep in portal seconds.
    """

    def __init__(
        self,
        limit: float = 480.0,
        window: float = 600.0,
        *,
        safety: float | None = None,
        reset_margin: float = 1.0,
        retry_interval: float = 60.0,
        now: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not limit > 0 or not window > 0:
            raise ValueError("limit and window must be positive")
        self.limit = float(limit)
        self.window = float(window)
        self.safety = 0.1 * self.limit if safety is None else float(safety)
        if not 0 <= self.safety < self.limit:
            raise ValueError(f"safety must be in [0, limit), got {self.safety!r}")
        self.reset_margin = float(reset_margin)
        self.retry_interval = float(retry_interval)
        self._now = now
        self._sleep = sleep
        self._offset = 0.0  # server time - local time, from the latest ``finish``
        self._methods: dict[str, _Method] = {}

    @property
    def threshold(self) -> float:
        """Reported ``operating`` at which a method is paused until its reset."""
        return self.limit - self.safety

    @staticmethod
    def _key(method: str) -> str:
        return method.strip().lower()  # the portal lower-cases method names

    def record(self, method: str, time_block: Mapping[str, Any] | None) -> None:
        """Take ``operating`` / ``operating_reset_at`` for *method* from a response's ``time`` block.

        Missing keys are fine; a block whose ``finish`` is older than the one already recorded for the
        method (responses overtaking each other) is ignored.
        """
        if not isinstance(time_block, Mapping):
            return
        operating = _number(time_block.get("operating"))
        reset_at = _number(time_block.get("operating_reset_at"))
        finish = _number(time_block.get("finish"))
        now = self._now()
        if finish is not None:
            self._offset = finish - now
        if operating is None and reset_at is None:
            return
        state = self._methods.setdefault(self._key(method), _Method())
        if finish is not None and state.finish is not None and finish < state.finish:
            return
        local_reset = None if reset_at is None else reset_at - self._offset
        if operating is not None:
            state.used = operating
            state.reset_at = local_reset
        elif local_reset is not None:
            state.reset_at = local_reset
        state.observed_at = now
        state.finish = finish

    def record_batch(
        self, methods: Mapping[str, str], result_time: Mapping[str, Any] | Sequence[Any] | None
    ) -> None:
        """Record each command's ``result_time`` entry under its method.

        :param methods: command key → method name.
        :param result_time: the batch's ``result.result_time`` (a list when PHP turned ``0..n-1``
            keys into an array).
        """
        if isinstance(result_time, Mapping):
            entries: Iterable[tuple[str, Any]] = result_time.items()
        elif isinstance(result_time, Sequence) and not isinstance(result_time, str):
            entries = ((str(i), block) for i, block in enumerate(result_time))
        else:
            return
        for key, block in entries:
            method = methods.get(key)
            if method is not None:
                self.record(method, block)

    def block(self, method: str, reset_at: float | None = None) -> float:
        """The portal answered ``OPERATION_TIME_LIMIT`` for *method*: pause it.

        :param reset_at: the portal's reset time if known (server Unix time); otherwise the last
            recorded ``operating_reset_at`` is used, or ``retry_interval`` when that has passed.
        :returns: the local time until which the method is blocked.
        """
        now = self._now()
        state = self._methods.setdefault(self._key(method), _Method())
        local = state.reset_at if reset_at is None else reset_at - self._offset
        until = local + self.reset_margin if local is not None and local > now else now + self.retry_interval
        return self.hold(method, until)

    def hold(self, method: str, until: float) -> float:
        """Keep *method* blocked until the local time *until* (e.g. a block another client saw).

        :returns: the local time until which the method is blocked (a longer block is kept).
        """
        state = self._methods.setdefault(self._key(method), _Method())
        state.blocked_until = max(state.blocked_until, until)
        return state.blocked_until

    def ready_at(self, method: str, now: float | None = None) -> float:
        """The local time from which *method* may be called (``<= now`` means: now).

        :param now: the current time if the caller already read it (default: ``now()``).
        """
        now = self._now() if now is None else now
        state = self._methods.get(self._key(method))
        if state is None:
            return now
        ready = max(now, state.blocked_until)
        if state.used >= self.threshold and now - state.observed_at < self.window:
            if state.reset_at is not None:
                ready = max(ready, state.reset_at + self.reset_margin)
            else:  # no reset time reported: probe again after one bucket width
                ready = max(ready, state.observed_at + self.retry_interval)
        return ready

    def wait_seconds(self, *methods: str) -> float:
        """Seconds on this budget's clock until every given method may be called (0: now)."""
        now = self._now()
        return max((self.ready_at(m, now) for m in methods), default=now) - now

    def used(self, method: str) -> float | None:
        """The last reported ``operating`` of *method*, or ``None`` if unknown or expired."""
        state = self._methods.get(self._key(method))
        if state is None or self._now() - state.observed_at >= self.window:
            return None
        return state.used

    async def wait_for(self, *methods: str) -> float:
        """Sleep until every given method may be called. Returns the seconds waited."""
        waited = 0.0
        while True:
            now = self._now()
            ready = max((self.ready_at(m, now) for m in methods), default=now)
            if ready <= now:
                return waited
            await self._sleep(ready - now)
            waited += ready - now

    def export_state(self) -> BudgetState:
        """JSON-serialisable state (times in the local portal-time base); expired entries dropped."""
        now = self._now()
        methods: dict[str, MethodBudgetState] = {}
        for name, st in self._methods.items():
            if now - st.observed_at >= self.window and st.blocked_until <= now:
                continue
            methods[name] = {
                "used": st.used,
                "reset_at": st.reset_at,
                "observed_at": st.observed_at if math.isfinite(st.observed_at) else now - self.window,
                "finish": st.finish,
                "blocked_until": st.blocked_until if math.isfinite(st.blocked_until) else 0.0,
            }
        return {"limit": self.limit, "window": self.window, "offset": self._offset, "methods": methods}

    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Merge an exported state: per method the newer observation wins, blocks are kept."""
        self._offset = float(state.get("offset", self._offset))
        for name, data in dict(state.get("methods", {})).items():
            current = self._methods.setdefault(name, _Method())
            observed_at = float(data["observed_at"])
            if observed_at > current.observed_at:
                current.used = float(data["used"])
                current.reset_at = None if data.get("reset_at") is None else float(data["reset_at"])
                current.observed_at = observed_at
                current.finish = None if data.get("finish") is None else float(data["finish"])
            current.blocked_until = max(current.blocked_until, float(data.get("blocked_until", 0.0)))


# ---------------------------------------------------------------------------------------------
# Both together


class ThrottleState(TypedDict):
    version: int
    bucket: BucketState
    budget: BudgetState


class Throttle:
    """The request-rate bucket and the operating budget of one portal credential."""

    def __init__(self, bucket: LeakyBucket, budget: OperatingBudget | None = None) -> None:
        self.bucket = bucket
        self.budget = budget if budget is not None else OperatingBudget()

    @classmethod
    def for_plan(
        cls,
        plan: str = "standard",
        *,
        clock: Clock = SYSTEM_CLOCK,
        operating_limit: float = 480.0,
        operating_window: float = 600.0,
        **bucket_options: Any,
    ) -> Throttle:
        """A throttle with the plan's bucket (``standard`` or ``enterprise``) on *clock*."""
        capacity, rate = PLAN_LIMITS[plan]
        bucket = LeakyBucket(
            capacity, rate, clock=clock.monotonic, sleep=clock.sleep, wall=clock.time, **bucket_options
        )
        budget = OperatingBudget(operating_limit, operating_window, now=clock.time, sleep=clock.sleep)
        return cls(bucket, budget)

    async def acquire(self, *methods: str) -> float:
        """Wait until the methods' budgets allow a call, then take a request slot.

        Returns the seconds waited. Pass every method of a batch.
        """
        waited = await self.budget.wait_for(*methods)
        return waited + await self.bucket.acquire()

    def export_state(self) -> ThrottleState:
        """JSON-serialisable state of both limiters."""
        return {
            "version": STATE_VERSION,
            "bucket": self.bucket.export_state(),
            "budget": self.budget.export_state(),
        }

    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`export_state` output of an earlier process."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported throttle state version {state.get('version')!r}")
        self.bucket.restore_state(state["bucket"])
        self.budget.restore_state(state["budget"])

    async def close(self) -> None:
        """Release what the throttle holds (nothing for the in-process one)."""
