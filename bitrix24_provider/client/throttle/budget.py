"""The operating-time budget: server time per credential and method.

Bitrix24 allows each (credential, method) 480 s of handler time in a sliding 10-minute window,
reported in every response's ``time.operating`` / ``time.operating_reset_at``; above it the method is
blocked with HTTP 429 ``OPERATION_TIME_LIMIT`` (contract §6.2). :class:`OperatingBudget` keeps the
client below it; :class:`~.shared_budget.SharedOperatingBudget` shares its pauses with every client of
the credential. Both are a :class:`Budget`.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict

from .clock import Sleep

__all__ = ["Budget", "BudgetState", "MethodBudgetState", "OperatingBudget", "batch_entries"]


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
        self.now = now
        self.sleep = sleep
        self._offset = 0.0  # server time - local time, from the latest ``finish``
        self._methods: dict[str, _Method] = {}

    @property
    def threshold(self) -> float:
        """Reported ``operating`` at which a method is paused until its reset."""
        return self.limit - self.safety

    @staticmethod
    def method_key(method: str) -> str:
        """The name the portal counts *method* under (lower case)."""
        return method.strip().lower()

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
        now = self.now()
        if finish is not None:
            self._offset = finish - now
        if operating is None and reset_at is None:
            return
        state = self._methods.setdefault(self.method_key(method), _Method())
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
        """Record each command's ``result_time`` entry under its method (:func:`batch_entries`)."""
        for method, block in batch_entries(methods, result_time):
            self.record(method, block)

    def block(self, method: str, reset_at: float | None = None) -> float:
        """The portal answered ``OPERATION_TIME_LIMIT`` for *method*: pause it.

        :param reset_at: the portal's reset time if known (server Unix time); otherwise the last
            recorded ``operating_reset_at`` is used, or ``retry_interval`` when that has passed.
        :returns: the local time until which the method is blocked.
        """
        now = self.now()
        state = self._methods.setdefault(self.method_key(method), _Method())
        local = state.reset_at if reset_at is None else reset_at - self._offset
        until = local + self.reset_margin if local is not None and local > now else now + self.retry_interval
        return self.hold(method, until)

    def hold(self, method: str, until: float) -> float:
        """Keep *method* blocked until the local time *until* (e.g. a block another client saw).

        :returns: the local time until which the method is blocked (a longer block is kept).
        """
        state = self._methods.setdefault(self.method_key(method), _Method())
        state.blocked_until = max(state.blocked_until, until)
        return state.blocked_until

    def ready_at(self, method: str, now: float | None = None) -> float:
        """The local time from which *method* may be called (``<= now`` means: now).

        :param now: the current time if the caller already read it (default: ``now()``).
        """
        now = self.now() if now is None else now
        state = self._methods.get(self.method_key(method))
        if state is None:
            return now
        ready = max(now, state.blocked_until)
        if state.used >= self.threshold and now - state.observed_at < self.window:
            if state.reset_at is not None:
                ready = max(ready, state.reset_at + self.reset_margin)
            else:  # no reset time reported: probe again after one bucket width
                ready = max(ready, state.observed_at + self.retry_interval)
        return ready

    def used(self, method: str) -> float | None:
        """The last reported ``operating`` of *method*, or ``None`` if unknown or expired."""
        state = self._methods.get(self.method_key(method))
        if state is None or self.now() - state.observed_at >= self.window:
            return None
        return state.used

    async def wait_for(self, *methods: str) -> float:
        """Sleep until every given method may be called. Returns the seconds waited."""
        waited = 0.0
        while True:
            now = self.now()
            ready = max((self.ready_at(m, now) for m in methods), default=now)
            if ready <= now:
                return waited
            await self.sleep(ready - now)
            waited += ready - now

    def export_state(self) -> BudgetState:
        """JSON-serialisable state (times in the local portal-time base); expired entries dropped."""
        now = self.now()
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

    async def close(self) -> None:
        """Nothing to release."""


def batch_entries(
    methods: Mapping[str, str], result_time: Mapping[str, Any] | Sequence[Any] | None
) -> Iterator[tuple[str, Any]]:
    """``(method, time block)`` of each command of a batch answer.

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
            yield method, block


class Budget(Protocol):
    """What the throttle asks of an operating budget, wherever its pauses are kept."""

    def now(self) -> float: ...

    @property
    def threshold(self) -> float: ...

    def record(self, method: str, time_block: Mapping[str, Any] | None) -> None: ...

    def record_batch(
        self, methods: Mapping[str, str], result_time: Mapping[str, Any] | Sequence[Any] | None
    ) -> None: ...

    def block(self, method: str, reset_at: float | None = None) -> float: ...

    def ready_at(self, method: str, now: float | None = None) -> float: ...

    def used(self, method: str) -> float | None: ...

    async def wait_for(self, *methods: str) -> float: ...

    def export_state(self) -> BudgetState: ...

    def restore_state(self, state: Mapping[str, Any]) -> None: ...

    async def close(self) -> None: ...
