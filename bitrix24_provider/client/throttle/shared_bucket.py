"""The request bucket of a portal, shared by every client that uses the same store and key.

:class:`SharedBucket` is a :class:`~.bucket.Bucket` whose state lives in a
:class:`~.store.SharedStore` (a lock file on this machine, or Redis): the GCRA reservation, the
effective rate, the penalty generation and the success count. So one client's 503 slows every client
down (once per overrun: a 503 for a request released before the last penalty is ignored, whoever
released it), and recovery counts the successes of all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from ..errors import SharedThrottleError
from .bucket import BucketLimits, BucketState, Limited
from .clock import SYSTEM_CLOCK, Clock
from .store import Background, BucketReply, SharedStore

__all__ = ["SharedBucket", "SharedLeakyBucket"]

log = logging.getLogger("bitrix24_provider.client")


class SharedBucket(Limited):
    """One bucket for every client using ``key`` in ``store``; the same behaviour as
    :class:`~.bucket.LeakyBucket`.

    :meth:`acquire` books a slot with one store call (and, if it had to wait, checks the penalty
    generation once more, so that bookings made before a 503 are booked again at the slower rate).
    :meth:`on_query_limit` and :meth:`penalize` write to the store in the background; the next
    :meth:`acquire` of this client waits for that write. :meth:`on_success` is counted locally
    while the shared rate is below the nominal one and sent with the next booking.
    :attr:`rate` and :meth:`level` are what the last answer from the store said.

    :param store: where the state lives.
    :param key: the bucket's key (one per portal and plan).
    :param limits: the bucket and its slow-down and recovery.
    :param time_scale: portal seconds per real second of ``clock`` (stores keep real seconds).
    :param clock: the client's clock (monotonic time, Unix time and sleep, in portal seconds).
    """

    def __init__(
        self,
        store: SharedStore,
        key: str,
        limits: BucketLimits,
        *,
        time_scale: float = 1.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not time_scale > 0:
            raise ValueError(f"time_scale must be positive, got {time_scale!r}")
        self.store = store
        self.key = key
        self.limits = limits
        self.time_scale = float(time_scale)
        self._clock = clock
        self._generation = 0
        self._successes = 0  # accepted requests not yet reported to the store
        self._seen_rate = limits.drain_rate  # portal units, from the last answer
        self._seen_ahead = 0.0  # portal seconds until the bucket is empty, at _seen_at
        self._seen_at = clock.monotonic()
        self._background = Background()

    @property
    def rate(self) -> float:
        """The shared effective drain rate as of the last answer from the store (requests per second)."""
        return self._seen_rate

    @property
    def generation(self) -> int:
        """The penalty generation when this client's last booking was made."""
        return self._generation

    def level(self) -> float:
        """The shared level as of the last answer from the store, drained since."""
        ahead = self._seen_ahead - (self._clock.monotonic() - self._seen_at)
        return max(0.0, self._seen_rate * ahead)

    def _seen(self, rate: float, ahead: float | None = None) -> None:
        self._seen_rate = rate / self.time_scale
        if ahead is not None:
            self._seen_ahead = ahead * self.time_scale
            self._seen_at = self._clock.monotonic()

    async def acquire(self) -> float:
        """Wait for a slot of the shared bucket and take it. Returns the (portal) seconds waited."""
        await self._background.settle()
        scale, limits = self.time_scale, self.limits
        start = self._clock.monotonic()
        while True:
            successes, self._successes = self._successes, 0
            reply = await self.store.reserve(
                self.key,
                limits.limit,
                limits.drain_rate * scale,
                limits.recovery_step,
                limits.recovery_after,
                successes,
            )
            self._seen(reply.rate, reply.ahead)
            if reply.delay > 0:
                try:
                    await self._clock.sleep(reply.delay * scale)
                except asyncio.CancelledError:
                    await self._give_back(reply)
                    raise
                if await self.store.generation(self.key) != reply.generation:
                    continue  # penalized while waiting: book again at the new rate
            self._generation = reply.generation
            return self._clock.monotonic() - start

    async def _give_back(self, reply: BucketReply) -> None:
        with contextlib.suppress(SharedThrottleError):
            await self.store.release(self.key, reply.generation, reply.tat)

    def on_query_limit(self, generation: int | None = None) -> None:
        """The portal answered 503: mark the bucket full, and slow every client of it down when the
        last 503 came less than the time a full bucket takes to drain ago.

        :param generation: :attr:`generation` right after the rejected request's :meth:`acquire`;
            a 503 for a request released before the last penalty (by any client) is ignored.
        """
        self._successes = 0
        wanted = -1 if generation is None else generation
        self._background.spawn(lambda: self._penalize(wanted, self.limits.slowdown))

    def penalize(self) -> None:
        """Mark the shared bucket full now and void every client's pending bookings."""
        self._background.spawn(lambda: self._penalize(-1, 1.0))

    async def _penalize(self, generation: int, slowdown: float) -> None:
        scale, limits = self.time_scale, self.limits
        applied, _, rate = await self.store.penalize(
            self.key, generation, limits.limit, limits.drain_rate * scale, limits.min_rate * scale, slowdown
        )
        self._seen(rate, limits.limit / rate if applied else None)
        if applied:
            log.info("Shared request bucket %s is full; its rate is now %.3g/s", self.key, rate / scale)

    def on_success(self) -> None:
        """A request was accepted; counted towards the shared recovery while the rate is lowered."""
        if self._seen_rate < self.limits.drain_rate * (1 - 1e-9):
            self._successes += 1

    def export_state(self) -> BucketState:
        """The shared state as last seen (the state itself stays in the store)."""
        return {
            "capacity": self.limits.capacity,
            "drain_rate": self.limits.drain_rate,
            "rate": self._seen_rate,
            "level": self.level(),
            "measured_at": self._clock.time(),
        }

    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Nothing to restore: the shared state in the store already outlives every process."""

    async def close(self) -> None:
        await self._background.settle()

    def __repr__(self) -> str:
        return f"<SharedBucket {self.key} limit={self.limit:g}/{self.limits.capacity:g} rate={self.rate:g}>"


#: The name of :class:`SharedBucket` before the throttle became a package.
SharedLeakyBucket = SharedBucket
