"""What every destination of an export has in common: the protocol, the export's progress, where a
SQL destination stages a load (what a resume point records) and the set of columns a destination has
seen so far."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from sqlalchemy.engine import Connection

from .columns import Column, Kind, columns_for
from .deletions import DeletionCounts
from .errors import ColumnPolicyError

ColumnPolicy = Literal["add", "ignore", "fail"]
COLUMN_POLICIES: tuple[str, ...] = ("add", "ignore", "fail")
Row = dict[str, Any]


@dataclass
class Progress:
    """How far an export got; what a checkpoint records after each committed chunk.

    :param ranges: resumable keyset exports: the id ranges still to export, ``[after, upto]`` each
        (``after`` the largest id committed in that range, ``upto`` None for the open last range);
        None when the export cannot be resumed by id.
    :param max_cursor: the largest cursor value read.
    :param started_at: the portal's time when the export began (its first try, for a resumed one);
        the stored watermark never passes it (see :mod:`.watermark`).
    """

    rows_read: int = 0
    pages: int = 0
    chunks: int = 0
    ranges: list[tuple[int, int | None]] | None = None
    max_cursor: str | None = None
    started_at: str | None = None


@dataclass
class Finished:
    """What a destination reports when the export is complete."""

    rows: int
    target: str
    #: the watermark stored with the load (SQL destinations of incremental exports)
    high_water: str | None = None
    columns_added: list[str] = field(default_factory=list)
    columns_ignored: list[str] = field(default_factory=list)
    #: the columns of the load, in order (a SQL ``append``/``merge`` target may have more)
    columns: list[Column] = field(default_factory=list)
    #: what reconciling deletions changed (a load with ``deletions`` that reconciled)
    deletions: DeletionCounts | None = None


@dataclass(frozen=True)
class StagingPosition:
    """Where a SQL destination keeps an unpublished load: the staging table (next to the target),
    the load's id and the staging columns with their kinds. A resume point records it so that a
    retry continues in the same table."""

    staging: str
    load_id: str
    columns: tuple[Column, ...] = ()


class Checkpointer(Protocol):
    """Records how far an export got, with the destination's :class:`StagingPosition`, after each
    chunk (the engine's resume point). ``transactional``: ``save``/``clear`` run inside the
    destination's transaction (*conn*), so the position and the rows commit together."""

    @property
    def transactional(self) -> bool: ...

    def save(self, position: StagingPosition, conn: Connection | None) -> None: ...

    def clear(self, conn: Connection | None) -> None: ...


class Sink(Protocol):
    """A destination for exported rows.

    ``write`` receives chunks of rows (duplicates by primary key already removed) and must make
    them durable before returning when the sink is resumable (a resumable SQL destination records
    the export's progress with them through its :class:`Checkpointer`). ``finish`` publishes
    everything at once; ``abort`` discards it (``keep``: keep what a retry can resume from)."""

    label: str
    resumable: bool

    def write(self, rows: Sequence[Row]) -> None: ...

    def finish(self, progress: Progress) -> Finished: ...

    def abort(self, keep: bool) -> None: ...


class ColumnSet:
    """The columns a file or DataFrame destination has seen; the first chunk fixes the initial set
    and *policy* decides about columns appearing later."""

    def __init__(self, kinds: Mapping[str, Kind], policy: ColumnPolicy, label: str) -> None:
        self.kinds = dict(kinds)
        self.policy = policy
        self.label = label
        self.columns: list[Column] = []
        self.ignored: set[str] = set()
        self.added: list[str] = []

    def update(self, rows: Sequence[Mapping[str, Any]]) -> list[Column]:
        """Take in the keys of *rows*; returns the columns to write them with."""
        new = columns_for(rows, self.kinds, known=[c.name for c in self.columns] + sorted(self.ignored))
        if not self.columns:
            self.columns = new
        elif new:
            if self.policy == "fail":
                raise ColumnPolicyError(self.label, [c.name for c in new])
            if self.policy == "ignore":
                self.ignored.update(c.name for c in new)
            else:
                self.columns.extend(new)
                self.added.extend(c.name for c in new)
        return list(self.columns)

    def names(self) -> Iterable[str]:
        return (c.name for c in self.columns)
