"""Which failures another attempt can fix, and when: read from the typed errors themselves.

Each error class says whether it is ``permanent`` (the client's :class:`~bitrix24_provider.client.
errors.BitrixError` subclasses: authentication, permissions, unknown methods, rejected parameters and
arguments, writes whose outcome is unknown; the destinations' :class:`~bitrix24_provider.staging.
errors.StagingConfigError`), and carries ``retry_after`` when it knows the wait before another
attempt can succeed (an operating-time block the client gave up on; a data interval that is not over
on the portal's clock). Nothing here decides per class: this module only walks an error's causes
(``raise ... from``, the commands inside a batch error).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..client.errors import BatchError, BitrixError, OperationTimeLimit
from ..staging.errors import StagingError


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
    """Whether *error* or one of its causes says no later attempt can succeed."""
    return any(isinstance(c, (BitrixError, StagingError)) and c.permanent for c in causes(error))


def is_operating_block(error: BaseException) -> bool:
    """Whether a method's operating-time budget was used up (another attempt helps once it resets)."""
    return any(isinstance(cause, OperationTimeLimit) for cause in causes(error))


def retry_after(error: BaseException) -> float | None:
    """Real seconds to wait before another attempt, from the first cause that knows them."""
    for cause in causes(error):
        if isinstance(cause, (BitrixError, StagingError)) and cause.retry_after is not None:
            return max(0.0, float(cause.retry_after))
    return None
