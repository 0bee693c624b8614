"""Errors raised by the staging layer.

Every class derives from :class:`ValueError` when the cause is the caller's input (a bad table name,
a column policy that forbids the new columns, rows without the primary key) and says so in
``permanent`` (like the client's errors), so a retry policy can fail such runs fast: repeating them
cannot help. ``retry_after`` is the wait before another attempt can succeed, when known.

::

    StagingError                    base of the staging layer's errors
    ├── FieldsAnswerError           the .fields answer lacks what the load needs (its time, any field)
    ├── IntervalNotOverError        the data interval ends after the portal's current time
    ├── DeletionLimitError          reconciliation would delete more rows than max_deletions allows
    └── StagingConfigError          the caller's configuration cannot work (also a ValueError)
        ├── InvalidIdentifierError  a table or schema name is not a simple SQL identifier
        ├── ColumnPolicyError       column_policy='fail' and the data brought new columns
        ├── ColumnDropError         a replace would drop columns of the target
        ├── UnknownFieldError       a field name the method's .fields answer does not know
        ├── MissingKeyError         rows lack the primary key or cursor field
        └── ValueConversionError    a value does not fit its column's described type

:class:`FieldsAnswerError`, :class:`UnknownFieldError` and :class:`ColumnDropError` rebuild from their
arguments when unpickled and pass their texts through :func:`~bitrix24_provider.redaction.scrub`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from ..redaction import scrub


class StagingError(Exception):
    """Base class of the staging layer's errors."""

    #: whether no later attempt (a retried task) can succeed
    permanent: ClassVar[bool] = False
    #: real seconds to wait before another attempt can succeed, when known
    retry_after: float | None = None


class StagingConfigError(StagingError, ValueError):
    """The export was configured in a way that cannot work (never retried)."""

    permanent = True


class InvalidIdentifierError(StagingConfigError):
    """A table or schema name is not a simple SQL identifier."""

    def __init__(self, argument: str, value: object) -> None:
        self.argument = argument
        self.value = value
        super().__init__(
            f"{argument} must be a simple SQL identifier (a letter or underscore, then letters, digits or "
            f"underscores, at most 63 characters); got {value!r}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.argument, self.value))


class ColumnPolicyError(StagingConfigError):
    """``column_policy='fail'`` and the data brought columns the target table lacks."""

    def __init__(self, table: str, columns: Iterable[str]) -> None:
        self.table = table
        self.columns = sorted(columns)
        super().__init__(
            f"column_policy='fail': the data has columns that {table} lacks: {', '.join(self.columns)}; "
            "use column_policy='add' to add them or 'ignore' to drop them"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.table, self.columns))


class MissingKeyError(StagingConfigError):
    """Rows lack the primary key (or the cursor field) the export needs."""


class ValueConversionError(StagingConfigError):
    """A value does not fit the type that the method's ``.fields`` description gives its column."""

    def __init__(self, column: str, kind: str, value: object) -> None:
        self.column = column
        self.kind = kind
        self.value = value
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"column {column!r} is typed {kind} but a row has the value {shown}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.column, self.kind, self.value))


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


class FieldsAnswerError(StagingError):
    """The method's ``.fields`` answer cannot describe the load (no ``time.date_start``, no field)."""

    def __init__(self, fields_method: str, problem: str) -> None:
        self.fields_method = fields_method
        self.problem = problem
        super().__init__(scrub(f"{fields_method}: {problem}"))

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.fields_method, self.problem))


class UnknownFieldError(StagingConfigError):
    """A name in ``select``, ``filter``, ``order``, ``cursor_field`` or ``primary_key`` is not a field
    of the method's ``.fields`` answer (checked before any list request).

    :param argument: where the name was given, e.g. ``filter key`` or ``call_params['order'] key``.
    :param name: the field name (a filter key without its operator prefix).
    :param subject: what was described, e.g. ``crm.deal`` or ``crm.item (entityTypeId 1032)``.
    :param closest: up to three valid names that look alike.
    :param given: the filter key as written, when it carried an operator prefix.
    """

    def __init__(
        self, argument: str, name: str, subject: str, closest: Sequence[str] = (), given: str | None = None
    ) -> None:
        self.argument = argument
        self.name = name
        self.subject = subject
        self.closest = tuple(closest)
        self.given = given
        source = f" (in {given!r})" if given is not None and given != name else ""
        hint = f"closest: {', '.join(repr(c) for c in self.closest)}" if self.closest else "no similar field"
        super().__init__(scrub(f"{argument} {name!r}{source} is not a field of {subject} ({hint})"))

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.argument, self.name, self.subject, self.closest, self.given))


class ColumnDropError(StagingConfigError):
    """``write_disposition='replace'`` would leave out columns the existing target has (a narrower
    ``select``); allowed only with ``allow_column_drop=True`` (``column_policy='ignore'`` keeps them)."""

    def __init__(self, table: str, columns: Iterable[str]) -> None:
        self.table = table
        self.columns = sorted(columns)
        super().__init__(
            scrub(
                f"write_disposition='replace' would drop column(s) {', '.join(self.columns)} of {table}; "
                "select them, pass allow_column_drop=True to drop them, or column_policy='ignore' to keep "
                "the table's columns"
            )
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.table, self.columns))


class DeletionLimitError(StagingError):
    """Reconciliation found more rows gone from the portal than ``max_deletions`` allows; nothing was
    changed (the merge and the watermark are rolled back with it). Permanent: a retry would find the
    same; raise ``max_deletions`` when the deletions are real."""

    permanent = True

    def __init__(self, table: str, gone: int, live: int, limit: int) -> None:
        self.table = table
        self.gone = gone
        self.live = live
        self.limit = limit
        super().__init__(
            f"{table}: {gone} of {live} rows are no longer listed by the portal, more than max_deletions "
            f"allows ({limit}); nothing was changed. Raise max_deletions if these deletions are real"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.table, self.gone, self.live, self.limit))
