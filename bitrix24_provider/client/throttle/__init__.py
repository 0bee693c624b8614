"""Throttling that holds the portal's limits instead of discovering them through errors.

Bitrix24 enforces two limits (contract §6): a **leaky bucket** of requests per portal and source IP
(:mod:`.bucket`) and an **operating-time budget** per credential and method (:mod:`.budget`).
:class:`Throttle` (:mod:`.facade`) combines both behind the few calls the client makes; its state is
kept in the process, or shared with the other clients of the portal through a store
(:mod:`.store`): lock files on this machine (:mod:`.file_store`, the default) or Redis
(:mod:`.redis_store`). Time comes from a :class:`Clock` (:mod:`.clock`). Retries of failed requests
are in :mod:`bitrix24_provider.client.retry`.
"""

from .bucket import PLAN_LIMITS, Bucket, BucketLimits, BucketState, Gcra, LeakyBucket
from .budget import Budget, BudgetState, MethodBudgetState, OperatingBudget
from .clock import SYSTEM_CLOCK, Clock, ScaledClock, Sleep, SystemClock
from .facade import LOCAL, STATE_VERSION, Admission, SharedThrottle, Throttle, ThrottleState, open_throttle
from .file_store import LockFileStore, default_directory
from .redis_store import RedisStore
from .shared_bucket import SharedBucket, SharedLeakyBucket
from .shared_budget import SharedOperatingBudget
from .store import BucketReply, SharedStore, credential_digest, portal_id

__all__ = [
    "LOCAL",
    "PLAN_LIMITS",
    "STATE_VERSION",
    "SYSTEM_CLOCK",
    "Admission",
    "Bucket",
    "BucketLimits",
    "BucketReply",
    "BucketState",
    "Budget",
    "BudgetState",
    "Clock",
    "Gcra",
    "LeakyBucket",
    "LockFileStore",
    "MethodBudgetState",
    "OperatingBudget",
    "RedisStore",
    "ScaledClock",
    "SharedBucket",
    "SharedLeakyBucket",
    "SharedOperatingBudget",
    "SharedStore",
    "SharedThrottle",
    "Sleep",
    "SystemClock",
    "Throttle",
    "ThrottleState",
    "credential_digest",
    "default_directory",
    "open_throttle",
    "portal_id",
]
