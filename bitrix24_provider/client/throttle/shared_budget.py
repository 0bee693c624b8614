"""Operating pauses shared by every client of one credential.

When a client sees ``OPERATION_TIME_LIMIT`` for a method, or its responses put the method at its
budget, the time until which the method is paused goes to the store (one entry per method under the
credential's key), and every client of that credential waits for it before calling the method. What
stays per client: the observations (each client reads ``operating`` from its own responses).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .budget import BudgetState, OperatingBudget, batch_entries
from .store import Background, SharedStore

__all__ = ["SharedOperatingBudget"]

log = logging.getLogger("bitrix24_provider.client")


class SharedOperatingBudget:
    """A :class:`~.budget.Budget`: this client's :class:`~.budget.OperatingBudget` (``local``) whose
    pauses are shared per (credential, method) through a store.

    A block after ``OPERATION_TIME_LIMIT`` (:meth:`block`) and a pause because a reported
    ``operating`` reached the threshold (:meth:`record`) are written to ``key`` as the time until
    which the method is paused. :meth:`wait_for` reads the methods' shared pauses before every
    request (and again after each sleep), so a client that never saw the limit waits for the reset
    instead of being refused.

    :param store: where the pauses live.
    :param key: the key of this credential's pauses.
    :param local: this client's budget (its clock is the client's, in portal seconds).
    :param time_scale: portal seconds per real second of the budget's clock.
    """

    def __init__(
        self, store: SharedStore, key: str, local: OperatingBudget, *, time_scale: float = 1.0
    ) -> None:
        if not time_scale > 0:
            raise ValueError(f"time_scale must be positive, got {time_scale!r}")
        self.store = store
        self.key = key
        self.local = local
        self.time_scale = float(time_scale)
        self._known: dict[str, float] = {}  # method -> local time until which the store has it paused
        self._unsent: dict[str, float] = {}
        self._background = Background()

    @property
    def threshold(self) -> float:
        return self.local.threshold

    def block(self, method: str, reset_at: float | None = None) -> float:
        """Pause *method* (see :meth:`OperatingBudget.block`) for every client of the credential."""
        until = self.local.block(method, reset_at)
        self._share(method, until)
        return until

    def record(self, method: str, time_block: Mapping[str, Any] | None) -> None:
        """Record a ``time`` block; a method it puts at its budget is paused for every client."""
        self.local.record(method, time_block)
        now = self.local.now()
        ready = self.local.ready_at(method, now)
        if ready > now:
            self._share(method, ready)

    def record_batch(
        self, methods: Mapping[str, str], result_time: Mapping[str, Any] | Sequence[Any] | None
    ) -> None:
        for method, block in batch_entries(methods, result_time):
            self.record(method, block)

    def now(self) -> float:
        return self.local.now()

    def ready_at(self, method: str, now: float | None = None) -> float:
        return self.local.ready_at(method, now)

    def used(self, method: str) -> float | None:
        return self.local.used(method)

    def _share(self, method: str, until: float) -> None:
        name = OperatingBudget.method_key(method)
        if until <= max(self._known.get(name, -math.inf), self._unsent.get(name, -math.inf)):
            return
        self._unsent[name] = until
        self._background.spawn(self._send)

    async def _send(self) -> None:
        unsent, self._unsent = self._unsent, {}
        if not unsent:
            return
        now = self.local.now()
        await self.store.block(self.key, {m: (u - now) / self.time_scale for m, u in unsent.items()})
        for name, until in unsent.items():
            self._known[name] = max(self._known.get(name, -math.inf), until)
        log.info("Shared the operating pause of %s with the other clients", ", ".join(sorted(unsent)))

    async def wait_for(self, *methods: str) -> float:
        """Sleep until every given method may be called, by this client's and the shared pauses."""
        names = sorted({OperatingBudget.method_key(m) for m in methods})
        local = self.local
        waited = 0.0
        while True:
            await self._background.settle()
            remaining = await self.store.blocks(self.key, names)
            now = local.now()
            for name, seconds in zip(names, remaining, strict=True):
                if seconds > 0:
                    until = now + seconds * self.time_scale
                    local.hold(name, until)
                    self._known[name] = max(self._known.get(name, -math.inf), until)
            ready = max((local.ready_at(name, now) for name in names), default=now)
            if ready <= now:
                return waited
            await local.sleep(ready - now)
            waited += ready - now

    def export_state(self) -> BudgetState:
        return self.local.export_state()

    def restore_state(self, state: Mapping[str, Any]) -> None:
        self.local.restore_state(state)

    async def close(self) -> None:
        await self._background.settle()
