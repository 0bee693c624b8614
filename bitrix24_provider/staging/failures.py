"""Which failures a retry can fix.

*Permanent*: authentication, permissions, an unknown method, rejected parameters, arguments or items and the
export's own configuration errors (:class:`StagingConfigError`, also for connections the operators
cannot use); trying again cannot help. Writes whose outcome is unknown are permanent too: trying
again may write twice. *Operating block*: the method used up its server-time budget
(``OPERATION_TIME_LIMIT``); trying again helps once the budget resets. Everything else (network,
5xx, throttling, incomplete pages, database hiccups) is transient.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..client.errors import (
    AccessDenied,
    AuthError,
    BatchError,
    InvalidArgument,
    InvalidParams,
    MethodNotFound,
    OperationTimeLimit,
    OutcomeUnknown,
)
from .errors import StagingConfigError

PERMANENT: tuple[type[BaseException], ...] = (
    AuthError,
    InvalidParams,
    InvalidArgument,
    MethodNotFound,
    AccessDenied,
    StagingConfigError,
    OutcomeUnknown,
)


def causes(error: BaseException) -> Iterator[BaseException]:
    """*error*, the errors it was raised from, and the commands' errors inside a batch error."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BatchError):
            pending.extend(current.errors.values())
            pending.extend(current.unknown.values())
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)


def is_permanent(error: BaseException) -> bool:
    return any(isinstance(cause, PERMANENT) for cause in causes(error))


def is_operating_block(error: BaseException) -> bool:
    return any(isinstance(cause, OperationTimeLimit) for cause in causes(error))


def retry_after(error: BaseException) -> float | None:
    """Seconds until the blocked method's budget resets, when the export recorded it."""
    for cause in causes(error):
        seconds = getattr(cause, "retry_after", None)
        if isinstance(seconds, (int, float)) and seconds >= 0:
            return float(seconds)
    return None
