"""The throttle as the rest of the client sees it: admit a request, hear how it went.

:class:`Throttle` combines a request-rate :class:`~.bucket.Bucket` and an operating
:class:`~.budget.Budget` of one portal credential. The transport, batches and listings use only its
methods (:meth:`~Throttle.admit`, :meth:`~Throttle.rejected`, :meth:`~Throttle.answered`,
:meth:`~Throttle.answered_batch`, :meth:`~Throttle.blocked`); its state exports to JSON and restores,
so that the next process (the next Airflow task try) continues where the last one stopped.

Where the state lives is chosen by :func:`open_throttle`: shared through a lock file by the clients
of one machine (the default), through Redis by clients anywhere, or kept in the process (``"none"``).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import urlsplit

from ..errors import SharedThrottleError
from ..redact import SECRETS, SecretRegistry
from .bucket import PLAN_LIMITS, Bucket, BucketLimits, BucketState, LeakyBucket
from .budget import Budget, BudgetState, OperatingBudget
from .clock import SYSTEM_CLOCK, Clock
from .file_store import LockFileStore, default_directory
from .redis_store import RedisStore
from .shared_bucket import SharedBucket
from .shared_budget import SharedOperatingBudget
from .store import SharedStore, credential_digest, portal_id

__all__ = [
    "LOCAL",
    "STATE_VERSION",
    "Admission",
    "SharedThrottle",
    "Throttle",
    "ThrottleState",
    "open_throttle",
]

log = logging.getLogger("bitrix24_provider.client")

STATE_VERSION = 1

#: ``shared_throttle`` value that keeps the throttle in the process, shared with no other client
LOCAL = "none"


class ThrottleState(TypedDict):
    version: int
    bucket: BucketState
    budget: BudgetState


@dataclass(frozen=True)
class Headroom:
    """What the throttle's limits leave a method now.

    :param bucket_free: requests the bucket takes before it is full.
    :param drain_rate: requests per second it drains.
    :param operating_left: the method's operating seconds left in its window (None: unknown).
    """

    bucket_free: float
    drain_rate: float
    operating_left: float | None


@dataclass(frozen=True)
class Admission:
    """A request let through: what it waited for, and the bucket generation it was released under
    (hand it back to :meth:`Throttle.rejected`)."""

    operating_wait: float  #: portal seconds waited for the methods' operating budgets
    bucket_wait: float  #: portal seconds waited for a request slot
    generation: int


class Throttle:
    """The request-rate bucket and the operating budget of one portal credential."""

    def __init__(self, bucket: Bucket, budget: Budget | None = None) -> None:
        self.bucket = bucket
        self.budget: Budget = budget if budget is not None else OperatingBudget()

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
        """A throttle in this process with the plan's bucket (``standard`` or ``enterprise``) on *clock*."""
        capacity, rate = PLAN_LIMITS[plan]
        bucket = LeakyBucket(
            capacity, rate, clock=clock.monotonic, sleep=clock.sleep, wall=clock.time, **bucket_options
        )
        budget = OperatingBudget(operating_limit, operating_window, now=clock.time, sleep=clock.sleep)
        return cls(bucket, budget)

    # -- the interface of the client's requests ---------------------------------------------------

    async def admit(self, methods: Sequence[str], *, budget: bool = True) -> Admission:
        """Wait until the methods' budgets allow a call (unless ``budget=False``), then take a
        request slot. Pass every method of a batch."""
        operating = await self.budget.wait_for(*methods) if budget else 0.0
        waited = await self.bucket.acquire()
        return Admission(operating, waited, self.bucket.generation)

    def rejected(self, admission: Admission) -> None:
        """The portal answered 503 ``QUERY_LIMIT_EXCEEDED`` to an admitted request."""
        self.bucket.on_query_limit(admission.generation)

    def answered(self, method: str, time_block: Mapping[str, Any] | None) -> None:
        """The portal accepted a request; *time_block* is its answer's ``time``."""
        self.bucket.on_success()
        self.budget.record(method, time_block)

    def answered_batch(
        self, methods: Mapping[str, str], result_time: Mapping[str, Any] | Sequence[Any] | None
    ) -> None:
        """The ``result_time`` of a batch answer (command key → method in *methods*)."""
        self.budget.record_batch(methods, result_time)

    def blocked(self, *methods: str) -> None:
        """The portal refused the methods with ``OPERATION_TIME_LIMIT``: pause them until their reset."""
        for method in methods:
            self.budget.block(method)

    def headroom(self, method: str) -> Headroom:
        """What the limits leave *method* now (the export's concurrency rule reads it)."""
        used = self.budget.used(method)
        return Headroom(
            bucket_free=self.bucket.limit - self.bucket.level(),
            drain_rate=self.bucket.rate,
            operating_left=None if used is None else self.budget.threshold - used,
        )

    def wait_seconds(self, *methods: str) -> float:
        """Seconds on the throttle's clock until every one of *methods* may be called (0: now)."""
        now = self.budget.now()
        return max((self.budget.ready_at(m, now) for m in methods), default=now) - now

    # -- state ------------------------------------------------------------------------------------

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
        """Send what is still pending to a shared store (nothing for the in-process throttle)."""
        await self.budget.close()
        await self.bucket.close()


class SharedThrottle(Throttle):
    """The shared bucket of a portal and the shared operating pauses of a credential, in a store.

    Build it with :meth:`connect`; it opens nothing before the first request.
    """

    bucket: SharedBucket
    budget: SharedOperatingBudget

    def __init__(self, store: SharedStore, bucket: SharedBucket, budget: SharedOperatingBudget) -> None:
        super().__init__(bucket, budget)
        self.store = store

    @classmethod
    def connect(cls, url: str, *, secrets: SecretRegistry = SECRETS, **options: Any) -> SharedThrottle:
        """A shared throttle in the store at *url*: ``file://<directory>`` (clients of this machine)
        or ``redis://[[user]:password@]host[:port][/db]`` (``rediss://``, ``unix://``); *options*
        as in :meth:`in_store`."""
        return cls.in_store(_store(url, secrets), **options)

    @classmethod
    def in_store(
        cls,
        store: SharedStore,
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
    ) -> SharedThrottle:
        """A shared throttle in *store* for the portal of *endpoint*.

        :param endpoint: the client's REST endpoint or webhook URL (gives the portal).
        :param credential: what identifies the credential (the webhook URL, ``oauth:<client_id>``);
            only a digest of it reaches the store.
        :param plan: ``standard`` or ``enterprise``; part of the bucket key.
        :param capacity, drain_rate: the bucket (default: the plan's).
        :param prefix: first part of every key, to separate deployments sharing one store.
        """
        if not prefix:
            raise ValueError("the shared throttle's key prefix must not be empty")
        size, rate = PLAN_LIMITS[plan]
        portal = portal_id(endpoint)
        limits = BucketLimits(capacity or size, drain_rate or rate, headroom)
        bucket = SharedBucket(
            store, f"{prefix}:bucket:{portal}:{plan}", limits, time_scale=time_scale, clock=clock
        )
        local = OperatingBudget(operating_limit, operating_window, now=clock.time, sleep=clock.sleep)
        budget = SharedOperatingBudget(
            store,
            f"{prefix}:operating:{portal}:{credential_digest(portal, credential)}",
            local,
            time_scale=time_scale,
        )
        log.info(
            "Shared throttle on %s: bucket %s, operating pauses %s", store.safe_url, bucket.key, budget.key
        )
        return cls(store, bucket, budget)

    async def close(self) -> None:
        """Send what is still pending (a block others should know about), then disconnect."""
        try:
            await super().close()
        except SharedThrottleError as error:
            log.warning("Could not share the last throttle updates: %s", error)
        finally:
            await self.store.close()


def _store(url: str, secrets: SecretRegistry) -> SharedStore:
    parts = urlsplit(url.strip())
    if parts.scheme == "file":
        if not parts.path or parts.netloc not in ("", "localhost"):
            raise ValueError("a lock-file shared throttle is file:///<directory> (a local path)")
        return LockFileStore(parts.path)
    return RedisStore(url, secrets)


def open_throttle(
    shared: str | None,
    *,
    secrets: SecretRegistry = SECRETS,
    capacity: float,
    drain_rate: float,
    headroom: float,
    clock: Clock,
    operating_limit: float,
    operating_window: float,
    **options: Any,
) -> Throttle:
    """The throttle a client's settings ask for.

    :param shared: ``None``: shared with the clients of this machine through lock files in
        :func:`~.file_store.default_directory` (when that directory cannot be used, the client's own,
        with a warning); ``"none"``: this client's own; ``file://<dir>``:
        lock files in that directory; a Redis URL: shared through Redis with clients anywhere.
    :param options: the rest of :meth:`SharedThrottle.in_store`'s (endpoint, credential, plan,
        prefix, time_scale).
    """
    store: SharedStore | None = None
    if shared is None:
        directory = default_directory()
        default = LockFileStore(directory, private=directory.parent == Path(tempfile.gettempdir()))
        problem = default.check()
        if problem is None:
            store = default
        else:  # not asked for: a task is not failed for it, it goes on alone
            log.warning(
                "Throttling this client alone, not shared with the others on this machine: %s", problem
            )
    elif shared.strip().lower() != LOCAL:
        store = _store(shared, secrets)
    if store is None:
        bucket = LeakyBucket(
            capacity, drain_rate, headroom=headroom, clock=clock.monotonic, sleep=clock.sleep, wall=clock.time
        )
        budget = OperatingBudget(operating_limit, operating_window, now=clock.time, sleep=clock.sleep)
        return Throttle(bucket, budget)
    return SharedThrottle.in_store(
        store,
        capacity=capacity,
        drain_rate=drain_rate,
        headroom=headroom,
        clock=clock,
        operating_limit=operating_limit,
        operating_window=operating_window,
        **options,
    )
