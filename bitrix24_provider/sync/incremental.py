"""Incremental exports: the cursor field, its filter bounds and the watermark (contract §7.1).

Watermarks are ISO 8601 strings with an offset at 1-second resolution, as the portal sends them.
The next run filters ``>=<cursor> high_water - lag`` (a closed start: rows at the watermark itself
are read again, and the overlap is removed by primary key), optionally below ``<<cursor> end``.

**A watermark never passes the moment its export began.** An export reads the rows in id order while
users keep editing: a row already read can change again while the export goes on, and a row read
later can carry a newer cursor than that edit. So the stored watermark is the largest cursor value
loaded, but never later than ``started_at``, the portal's own time (the ``time`` block of the export's
first answer) when the export began: every edit after that moment is at or above the watermark and
the next run reads it. ``lag`` widens the next run's window below the watermark for edits whose
transaction committed a little after their modification time. A data interval ``[start, end)`` is
only exported once the portal's clock has reached ``end``, for the same reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..client.families import family_of
from ..staging.errors import IntervalNotOverError, StagingConfigError
from ..staging.watermark import format_time, parse_time
from .spelling import request_name, response_name

#: the longest wait, in portal seconds, for the portal's clock to reach the end of a data interval
#: inside the task (clocks of Airflow and the portal differ by seconds); beyond it the run is retried
INTERVAL_WAIT = 60.0


@dataclass(frozen=True)
class CursorField:
    """:param request: the name in ``filter``/``order``/``select`` (``DATE_MODIFY``, ``updatedTime``,
        ``CHANGED_DATE``).
    :param response: the key in returned rows (``changedDate`` for ``CHANGED_DATE`` of tasks)."""

    request: str
    response: str

    @classmethod
    def for_method(cls, method: str, name: str) -> CursorField:
        family = family_of(method)
        return cls(request_name(family, name), response_name(family, name))


@dataclass(frozen=True)
class Bounds:
    lower: str | None  # inclusive
    upper: str | None  # exclusive
    source: str  # "state", "data_interval", "full" or "resume"

    def describe(self, cursor: str) -> str:
        """What the run reads, for the log (never a bare None): ``rows with DATE_MODIFY >=
        2026-01-01T00:00:00+03:00 (the stored watermark minus lag)``."""
        why = {
            "state": "the stored watermark minus lag",
            "data_interval": "the data interval",
            "resume": "continuing the earlier try",
        }.get(self.source, "no watermark stored yet")
        if self.lower is not None and self.upper is not None:
            rows = f"rows with {self.lower} <= {cursor} < {self.upper}"
        elif self.lower is not None:
            rows = f"rows with {cursor} >= {self.lower}"
        elif self.upper is not None:
            rows = f"rows with {cursor} < {self.upper}"
        else:
            rows = "every row"
        return f"{rows} ({why})"


def resolve_bounds(
    high_water: str | None,
    lag: timedelta,
    interval: tuple[datetime | None, datetime | None] | None,
) -> Bounds:
    """The cursor range of this run.

    With a data interval (``use_data_interval=True`` and the run has one) the range is
    ``[start - lag, end)`` whatever the state says, like dlt's external-scheduler mode; otherwise it
    starts at the stored watermark minus *lag*, or covers everything on the first run.
    """
    if interval is not None and (start := interval[0]) is not None:
        end = interval[1]
        return Bounds(format_time(start - lag), None if end is None else format_time(end), "data_interval")
    moment = parse_time(high_water)
    if moment is None:
        return Bounds(None, None, "full")
    return Bounds(format_time(moment - lag), None, "state")


def apply_bounds(filter_: Mapping[str, Any] | None, cursor: CursorField, bounds: Bounds) -> dict[str, Any]:
    """*filter_* with ``>=cursor`` / ``<cursor`` set from *bounds* (a user bound on the same field is an
    error: the operator owns it)."""
    result = dict(filter_ or {})
    for op in (">=", ">", "<", "<="):
        if f"{op}{cursor.request}" in result:
            raise StagingConfigError(
                f"filter already bounds the cursor field with {op}{cursor.request!r}; remove it, the "
                "operator sets the cursor bounds from the sync state or the data interval"
            )
    if bounds.lower is not None:
        result[f">={cursor.request}"] = bounds.lower
    if bounds.upper is not None:
        result[f"<{cursor.request}"] = bounds.upper
    return result


def interval_wait(bounds: Bounds, started_at: str) -> float:
    """Portal seconds until *started_at* reaches the end of a data interval (0 when it has); raises
    :class:`IntervalNotOverError` when that is more than :data:`INTERVAL_WAIT` away."""
    end, now = parse_time(bounds.upper), parse_time(started_at)
    if bounds.source != "data_interval" or end is None or now is None or now >= end:
        return 0.0
    seconds = (end - now).total_seconds()
    if seconds > INTERVAL_WAIT:
        raise IntervalNotOverError(str(bounds.upper), started_at, seconds)
    return seconds
