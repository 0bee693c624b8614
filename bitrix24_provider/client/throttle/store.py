"""What a shared throttle keeps outside the process, and the keys it keeps it under.

A :class:`SharedStore` holds the state every client of a portal must agree on: the request bucket
(a GCRA reservation, the effective rate, the penalty generation, the success count) and the
operating pauses of a credential. Two stores implement it: :class:`~.file_store.LockFileStore`
(a lock file per key, for the clients of one machine; the default) and
:class:`~.redis_store.RedisStore` (for clients on many machines).

Every instant a store keeps is on the store's own clock in real Unix seconds; callers send and
receive only durations and rates in real seconds, which they convert with their ``time_scale``
(portal seconds per real second). Every failure is a
:class:`~bitrix24_provider.client.errors.SharedThrottleError`.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

__all__ = ["BUCKET_KEEP", "Background", "BucketReply", "SharedStore", "credential_digest", "portal_id"]

#: Seconds a bucket's state is kept after it drained (so a slow-down outlives short pauses).
BUCKET_KEEP = 3600.0

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class BucketReply:
    """What a reservation returns; every duration and rate in real seconds."""

    delay: float  #: until the booked slot may be used
    generation: int  #: the bucket's penalty generation at booking
    rate: float  #: the shared effective drain rate
    ahead: float  #: ``tat - now``: the level divided by the rate
    tat: str  #: the booked theoretical empty time, as stored (for :meth:`SharedStore.release`)


class SharedStore(Protocol):
    """The operations of a shared throttle's store (arguments in real seconds and requests)."""

    #: where the store is, safe to log (a password masked)
    safe_url: str

    async def reserve(
        self, key: str, limit: float, drain: float, step: float, after: int, successes: int
    ) -> BucketReply:
        """Count *successes* towards the recovery of a lowered rate, then book the next slot."""
        ...

    async def generation(self, key: str) -> int:
        """The bucket's penalty generation."""
        ...

    async def penalize(
        self, key: str, generation: int, limit: float, drain: float, min_rate: float, slowdown: float
    ) -> tuple[bool, int, float]:
        """A 503 (see :meth:`.bucket.Gcra.on_query_limit`; *generation* -1 always applies):
        ``(applied, generation, rate)``."""
        ...

    async def release(self, key: str, generation: int, tat: str) -> bool:
        """Give a cancelled booking back when nothing was booked after it."""
        ...

    async def block(self, key: str, seconds: dict[str, float]) -> None:
        """Pause methods for some seconds from now (a longer pause already kept stays)."""
        ...

    async def blocks(self, key: str, methods: Sequence[str]) -> list[float]:
        """Seconds each method stays paused from now (0 when it is not)."""
        ...

    async def close(self) -> None: ...


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


class Background:
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
