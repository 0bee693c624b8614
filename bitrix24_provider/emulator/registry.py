"""The contract between the HTTP layer and the method handlers.

A handler gets the parsed parameters of one call and returns a :class:`MethodResult`, or raises
:class:`~.errors.RestError`. It does no I/O and never sleeps: it reports how much work it did
(rows returned, rows skipped by an offset, rows counted for ``total``, writes) and the server turns
that into server time with the cost model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Params = dict[str, Any]


@dataclass
class CallInfo:
    """What a handler may know about the call besides its parameters."""

    now: float  # portal Unix time
    utc_offset: str  # "+03:00"; dates are rendered in the portal's zone
    user_id: int  # the user behind the webhook or token
    auth_type: str  # "webhook" or "oauth"
    #: Build rows on the per-row reference path instead of the column path (tests compare both).
    reference: bool = False


@dataclass
class MethodResult:
    result: Any
    #: Lifted to the top level (and into result_next / result_total inside a batch) when not None.
    next: int | None = None
    total: int | None = None
    # work done, priced by CostModel
    family: str = "other"  # "classic", "item", "task", "user", "other"
    rows: int = 0
    skipped: int = 0
    counted: int = 0
    writes: int = 0


Handler = Callable[[Params, CallInfo], MethodResult]
