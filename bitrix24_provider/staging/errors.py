"""Errors raised by the staging layer.

Every class derives from :class:`ValueError` when the cause is the caller's input (a bad table name,
a column policy that forbids the new columns, rows without the primary key), so a retry policy can
fail such runs fast: repeating them cannot help.
"""

from __future__ import annotations

from collections.abc import Iterable


class StagingError(Exception):
    """Base class of the staging layer's errors."""


class StagingConfigError(StagingError, ValueError):
    """The export was configured in a way that cannot work (never retried)."""


class InvalidIdentifierError(StagingConfigError):
    """A table or schema name is not a simple SQL identifier."""

    def __init__(self, argument: str, value: object) -> None:
        self.argument = argument
        self.value = value
        super().__init__(
            f"{argument} must be a simple SQL identifier (a letter or underscore, then letters, digits or "
            f"underscores, at most 63 characters); got {value!r}"
        )


class ColumnPolicyError(StagingConfigError):
    """``column_policy='fail'`` and the data brought columns the target table lacks."""

    def __init__(self, table: str, columns: Iterable[str]) -> None:
        self.table = table
        self.columns = sorted(columns)
        super().__init__(
            f"column_policy='fail': the data has columns that {table} lacks: {', '.join(self.columns)}; "
            "use column_policy='add' to add them or 'ignore' to drop them"
        )


class MissingKeyError(StagingConfigError):
    """Rows lack the primary key (or the cursor field) the export needs."""


class ValueConversionError(StagingConfigError):
    """A value does not fit the type that the method's ``.fields`` description gives its column."""

    def __init__(self, column: str, kind: str, value: object) -> None:
        self.column = column
        self.kind = kind
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"column {column!r} is typed {kind} but a row has the value {shown}")


class IntervalNotOverError(StagingError):
    """The run's data interval ends after the portal's current time: rows edited before its end may
    not exist yet, and the next interval starts there. Transient: retry after ``retry_after`` seconds."""

    def __init__(self, end: str, portal_time: str, retry_after: float) -> None:
        self.end = end
        self.portal_time = portal_time
        self.retry_after = retry_after
        super().__init__(
            f"the data interval ends at {end} but the portal's clock says {portal_time}; an interval is "
            f"exported once it is over (retry in {retry_after:.0f} s)"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.end, self.portal_time, self.retry_after))
