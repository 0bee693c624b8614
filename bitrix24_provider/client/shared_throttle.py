"""A throttle shared by every client of one portal, wherever they run: its state lives in Redis.

Bitrix24 counts requests per portal and client IP, and server time per credential and method, not
per client. Airflow runs many tasks against one portal at once, each with its own client; with an
in-process :class:`~bitrix24_provider.client.throttle.LeakyBucket` each they overrun the portal
together. :class:`SharedThrottle` keeps what they must agree on in Redis (:mod:`.redis_store`):

* **the leaky bucket** (:class:`SharedLeakyBucket`): the GCRA reservation of
  ``LeakyBucket._reserve`` done atomically by a Lua script on the hash
  ``<prefix>:bucket:<portal>:<plan>``, so every client anywhere that uses that key books its slots
  in one bucket;
* **the adaptive slow-down**: the effective rate, the penalty generation and the success count live
  in the same hash, so one client's 503 slows every client down (once per overrun: a 503 for a
  request released before the last penalty is ignored, whoever released it), and recovery counts
  the successes of all of them;
* **operating blocks** (:class:`SharedOperatingBudget`): when a client sees ``OPERATION_TIME_LIMIT``
  for a method, or its responses put the method at its budget, the time until which the method is
  paused goes to ``<prefix>:operating:<portal>:<credential digest>`` (one field per method), and
  every client of that credential waits for it before calling the method.

What stays local: the operating budget's observations (each client reads ``operating`` from its own
responses), retries, the concurrency gate, OAuth tokens.

**Clock.** Every shared instant is on the Redis server's clock (``TIME`` inside the scripts), in
real Unix seconds; clients only send and receive durations and rates, which they convert with their
own ``time_scale`` (portal seconds per real second). So clients on one machine or on many agree
without synchronized clocks, keys expire on real time, and clients on a fast-forwarded clock (tests,
benchmarks against the emulator) share a bucket as long as they use the same ``time_scale``.

**Failure.** If Redis cannot be reached or answers with an error, the request fails with
:class:`~bitrix24_provider.client.errors.SharedThrottleError` naming the URL with its password
masked. There is no fallback to a local bucket: that would bring back the overrun the shared
throttle was configured to prevent, silently; the task fails and is retried by Airflow.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from .errors import SharedThrottleError
from .redact import SECRETS, SecretRegistry
from .redis_store import BucketReply, RedisStore
from .throttle import (
    PLAN_LIMITS,
    SYSTEM_CLOCK,
    BucketState,
    Clock,
    LeakyBucket,
    OperatingBudget,
    Sleep,
    Throttle,
)

__all__ = [
    "SharedLeakyBucket",
    "SharedOperatingBudget",
    "SharedThrottle",
    "credential_digest",
    "portal_id",
]

log = logging.getLogger("bitrix24_provider.client")

_DEFAULT_PORTS = {"http": 80, "https": 443}


def portal_id(endpoint: str) -> str:
    """The portal of a REST endpoint or webhook URL: ``host[:port][/path before /rest]``, lower case."""
    parts = urlsplit(endpoint.strip())
    host = (parts.hostname or "").lower()
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    prefix = parts.path.split("/rest/", 1)[0].rstrip("/") if "/rest/" in parts.path + "/" else ""
    return host + prefix


def credential_digest(portal: str, identity: str) -> str:
    """A short digest of a credential (webhook URL, OAuth ``client_id``): the store never sees it."""
    return hashlib.sha256(f"{portal}\n{identity}".encode()).hexdigest()[:16]


class _Background:
    """Writes to the store started from synchronous code (a 503, a block); the next admission waits
    for them, and their errors surface there."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._deferred: list[Callable[[], Awaitable[None]]] = []

    def spawn(self, work: Callable[[], Awaitable[None]]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside the client's loop: run it at the next admission
            self._deferred.append(work)
            return

        async def run() -> None:
            await work()

        task = loop.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait for the writes started so far; raise the first error among them."""
        deferred, self._deferred = self._deferred, []
        for work in deferred:
            await work()
        if not self._tasks:
            return
        results = await asyncio.gather(*list(self._tasks), return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                raise result


class SharedLeakyBucket(LeakyBucket):
    """:class:`LeakyBucket` with its state in Redis: same parameters, same behaviour, one bucket for
    every client using ``key``.

    :meth:`acquire` books a slot with one script call (and, if it had to wait, checks the penalty
    generation once more, so that bookings made before a 503 are booked again at the slower rate).
    :meth:`on_query_limit` and :meth:`penalize` write to Redis in the background; the next
    :meth:`acquire` of this client waits for that write. :meth:`on_success` is counted locally
    while the shared rate is below the nominal one and sent with the next booking.
    :attr:`rate` and :meth:`level` are what the last answer from Redis said.

    :param store: the Redis connection.
    :param key: the bucket's hash key (one per portal and plan).
    :param time_scale: portal seconds per real second of ``clock`` (Redis keeps real seconds).
    :param clock: the client's clock (monotonic time, Unix time and sleep, in portal seconds).
    """

    def __init__(
        self,
        store: RedisStore,
        key: str,
        capacity: float,
        drain_rate: float,
        *,
        time_scale: float = 1.0,
        headroom: float = 1.0,
        clock: Clock = SYSTEM_CLOCK,
        slowdown: float = 0.5,
        min_rate_factor: float = 0.1,
        recovery_step: float = 0.1,
        recovery_after: int = 20,
    ) -> None:
        super().__init__(
            capacity,
            drain_rate,
            headroom=headroom,
            clock=clock.monotonic,
            sleep=clock.sleep,
            wall=clock.time,
            slowdown=slowdown,
            min_rate_factor=min_rate_factor,
            recovery_step=recovery_step,
            recovery_after=recovery_after,
        )
        if not time_scale > 0:
            raise ValueError(f"time_scale must be positive, got {time_scale!r}")
        self.store = store
        self.key = key
        self.time_scale = float(time_scale)
        self._seen_rate = self.drain_rate  # portal units, from the last answer
        self._seen_ahead = 0.0  # portal seconds until the bucket is empty, at _seen_at
        self._seen_at = self._clock()
        self._background = _Background()

    @property
    def rate(self) -> float:
        """The shared effective drain rate as of the last answer from Redis (requests per second)."""
        return self._seen_rate

    def level(self) -> float:
        """The shared level as of the last answer from Redis, drained since."""
        ahead = self._seen_ahead - (self._clock() - self._seen_at)
        return max(0.0, self._seen_rate * ahead)

    def _seen(self, rate: float, ahead: float | None = None) -> None:
        self._seen_rate = rate / self.time_scale
        if ahead is not None:
            self._seen_ahead = ahead * self.time_scale
            self._seen_at = self._clock()

    async def acquire(self) -> float:
        """Wait for a slot of the shared bucket and take it. Returns the (portal) seconds waited."""
        await self._background.settle()
        scale = self.time_scale
        start = self._clock()
        while True:
            successes, self._successes = self._successes, 0
            reply = await self.store.reserve(
                self.key,
                self.limit,
                self.drain_rate * scale,
                self.recovery_step,
                self.recovery_after,
                successes,
            )
            self._seen(reply.rate, reply.ahead)
            if reply.delay > 0:
                try:
                    await self._sleep(reply.delay * scale)
                except asyncio.CancelledError:
                    await self._give_back(reply)
                    raise
                if await self.store.generation(self.key) != reply.generation:
                    continue  # penalized while waiting: book again at the new rate
            self._generation = reply.generation
            return self._clock() - start

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
        self._background.spawn(lambda: self._penalize(wanted, self.slowdown))

    def penalize(self) -> None:
        """Mark the shared bucket full now and void every client's pending bookings."""
        self._background.spawn(lambda: self._penalize(-1, 1.0))

    async def _penalize(self, generation: int, slowdown: float) -> None:
        scale = self.time_scale
        applied, _, rate = await self.store.penalize(
            self.key, generation, self.limit, self.drain_rate * scale, self.min_rate * scale, slowdown
        )
        self._seen(rate, self.limit / rate if applied else None)
        if applied:
            log.info("Shared request bucket %s is full; its rate is now %.3g/s", self.key, rate / scale)

    def on_success(self) -> None:
        """A request was accepted; counted towards the shared recovery while the rate is lowered."""
        if self._seen_rate < self.drain_rate * (1 - 1e-9):
            self._successes += 1

    def export_state(self) -> BucketState:
        """The shared state as last seen (the state itself stays in Redis)."""
        return {
            "capacity": self.capacity,
            "drain_rate": self.drain_rate,
            "rate": self._seen_rate,
            "level": self.level(),
            "measured_at": self._wall(),
        }

    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Nothing to restore: the shared state in Redis already outlives every process."""

    async def close(self) -> None:
        await self._background.settle()

    def __repr__(self) -> str:
        return f"<SharedLeakyBucket {self.key} limit={self.limit:g}/{self.capacity:g} rate={self.rate:g}>"


class SharedOperatingBudget(OperatingBudget):
    """:class:`OperatingBudget` whose pauses are shared per (credential, method) through Redis.

    A block after ``OPERATION_TIME_LIMIT`` (:meth:`block`) and a pause because a reported
    ``operating`` reached the threshold (:meth:`record`) are written to the hash ``key`` as the
    real time until which the method is paused. :meth:`wait_for` reads the methods' shared pauses
    before every request (and again after each sleep), so a client that never saw the limit waits
    for the reset instead of being refused.

    :param store: the Redis connection.
    :param key: the hash key of this credential's pauses.
    :param time_scale: portal seconds per real second of ``now`` and ``sleep``.
    Other parameters as in :class:`OperatingBudget`.
    """

    def __init__(
        self,
        store: RedisStore,
        key: str,
        limit: float = 480.0,
        window: float = 600.0,
        *,
        time_scale: float = 1.0,
        safety: float | None = None,
        reset_margin: float = 1.0,
        retry_interval: float = 60.0,
        now: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(
            limit,
            window,
            safety=safety,
            reset_margin=reset_margin,
            retry_interval=retry_interval,
            now=now,
            sleep=sleep,
        )
        if not time_scale > 0:
            raise ValueError(f"time_scale must be positive, got {time_scale!r}")
        self.store = store
        self.key = key
        self.time_scale = float(time_scale)
        self._known: dict[str, float] = {}  # method -> local time until which the store has it paused
        self._unsent: dict[str, float] = {}
        self._background = _Background()

    def block(self, method: str, reset_at: float | None = None) -> float:
        """Pause *method* (see :meth:`OperatingBudget.block`) for every client of the credential."""
        until = super().block(method, reset_at)
        self._share(method, until)
        return until

    def record(self, method: str, time_block: Mapping[str, Any] | None) -> None:
        """Record a ``time`` block; a method it puts at its budget is paused for every client."""
        super().record(method, time_block)
        now = self._now()
        ready = self.ready_at(method, now)
        if ready > now:
            self._share(method, ready)

    def _share(self, method: str, until: float) -> None:
        name = self._key(method)
        if until <= max(self._known.get(name, -math.inf), self._unsent.get(name, -math.inf)):
            return
        self._unsent[name] = until
        self._background.spawn(self._send)

    async def _send(self) -> None:
        unsent, self._unsent = self._unsent, {}
        if not unsent:
            return
        now = self._now()
        await self.store.block(self.key, {m: (u - now) / self.time_scale for m, u in unsent.items()})
        for name, until in unsent.items():
            self._known[name] = max(self._known.get(name, -math.inf), until)
        log.info("Shared the operating pause of %s with the other clients", ", ".join(sorted(unsent)))

    async def wait_for(self, *methods: str) -> float:
        """Sleep until every given method may be called, by this client's and the shared pauses."""
        names = sorted({self._key(m) for m in methods})
        waited = 0.0
        while True:
            await self._background.settle()
            remaining = await self.store.blocks(self.key, names)
            now = self._now()
            for name, seconds in zip(names, remaining, strict=True):
                if seconds > 0:
                    until = now + seconds * self.time_scale
                    self.hold(name, until)
                    self._known[name] = max(self._known.get(name, -math.inf), until)
            ready = max((self.ready_at(name, now) for name in names), default=now)
            if ready <= now:
                return waited
            await self._sleep(ready - now)
            waited += ready - now

    async def close(self) -> None:
        await self._background.settle()


class SharedThrottle(Throttle):
    """The shared bucket of a portal and the shared operating pauses of a credential.

    Build it with :meth:`connect`; it opens no connection before the first request.
    """

    bucket: SharedLeakyBucket
    budget: SharedOperatingBudget

    def __init__(self, store: RedisStore, bucket: SharedLeakyBucket, budget: SharedOperatingBudget) -> None:
        super().__init__(bucket, budget)
        self.store = store

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        endpoint: str,
        credential: str,
        plan: str = "standard",
        capacity: float | None = None,
        drain_rate: float | None = None,
        prefix: str = "bitrix24",
        headroom: float = 1.0,
        clock: Clock = SYSTEM_CLOCK,
        time_scale: float = 1.0,
        operating_limit: float = 480.0,
        operating_window: float = 600.0,
        secrets: SecretRegistry = SECRETS,
    ) -> SharedThrottle:
        """A shared throttle on the Redis at *url* for the portal of *endpoint*.

        :param url: ``redis://[[user]:password@]host[:port][/db]`` (``rediss://``, ``unix://``).
        :param endpoint: the client's REST endpoint or webhook URL (gives the portal).
        :param credential: what identifies the credential (the webhook URL, ``oauth:<client_id>``);
            only a digest of it reaches Redis.
        :param plan: ``standard`` or ``enterprise``; part of the bucket key.
        :param capacity, drain_rate: the bucket (default: the plan's).
        :param prefix: first part of every key, to separate deployments sharing one Redis.
        """
        if not prefix:
            raise ValueError("the shared throttle's key prefix must not be empty")
        size, rate = PLAN_LIMITS[plan]
        store = RedisStore(url, secrets)
        portal = portal_id(endpoint)
        bucket = SharedLeakyBucket(
            store,
            f"{prefix}:bucket:{portal}:{plan}",
            capacity or size,
            drain_rate or rate,
            time_scale=time_scale,
            headroom=headroom,
            clock=clock,
        )
        budget = SharedOperatingBudget(
            store,
            f"{prefix}:operating:{portal}:{credential_digest(portal, credential)}",
            operating_limit,
            operating_window,
            time_scale=time_scale,
            now=clock.time,
            sleep=clock.sleep,
        )
        log.info(
            "Shared throttle on %s: bucket %s, operating pauses %s", store.safe_url, bucket.key, budget.key
        )
        return cls(store, bucket, budget)

    async def close(self) -> None:
        """Send what is still pending (a block others should know about), then disconnect."""
        try:
            await self.budget.close()
            await self.bucket.close()
        except SharedThrottleError as error:
            log.warning("Could not share the last throttle updates: %s", error)
        finally:
            await self.store.close()
