"""What every destination of an export has in common: the protocol, the export's progress and the
set of columns a destination has seen so far."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from .columns import Column, Kind, columns_for
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
        the stored watermark never passes it (see :mod:`.incremental`).
    """

    rows_read: int = 0
    pages: int = 0
    chunks: int = 0
    ranges: list[tuple[int, int | None]] | None = None
    max_cursor: str | None = None
    started_at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON values only (Airflow's task state store refuses tuples)."""
        data = asdict(self)
        if self.ranges is not None:
            data["ranges"] = [[after, upto] for after, upto in self.ranges]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Progress:
        names = ("rows_read", "pages", "chunks", "max_cursor", "started_at")
        progress = cls(**{k: data[k] for k in names if k in data})
        ranges = data.get("ranges")
        if ranges is not None:
            progress.ranges = [(int(after), None if upto is None else int(upto)) for after, upto in ranges]
        return progress


@dataclass
class Finished:
    """What a destination reports when the export is complete."""

    rows: int
    target: str
    #: the watermark stored with the load (SQL destinations of incremental exports)
    high_water: str | None = None
    columns_added: list[str] = field(default_factory=list)
    columns_ignored: list[str] = field(default_factory=list)


class Sink(Protocol):
    """A destination for exported rows.

    ``write`` receives chunks of rows (duplicates by primary key already removed) and must make
    them durable before returning when the sink is resumable; ``checkpoint`` is the progress record
    to store with them. ``finish`` publishes everything at once; ``abort`` discards it (``keep``:
    keep what a retry can resume from)."""

    label: str
    resumable: bool

    def write(self, rows: Sequence[Row], checkpoint: dict[str, Any] | None) -> None: ...

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
