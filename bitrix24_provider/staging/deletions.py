"""Rows the portal no longer lists, reconciled in the publishing transaction of a ``merge``.

A :class:`Reconciliation` carries every key the portal listed for the load (a complete, key-only
export: the engine proves it complete before it builds one), the moment the run began on the
portal's clock and the safety limit. :meth:`Reconciliation.apply` runs inside the transaction that
merges the staged rows and advances the watermark, before the merge:

1. the listed keys go into a keys table next to the target (``_b24key_<hex>``, dropped in the same
   transaction), together with the keys of the staged rows (a record the export read is alive, even
   if it was created after the key scan);
2. rows of the target whose key is in neither are *gone*; more than ``max_deletions`` of them (a
   count, or a fraction of the target's live rows) is a :class:`DeletionLimitError` and the whole
   transaction rolls back: nothing changes;
3. ``soft`` sets ``_bitrix24_deleted_at`` on the gone rows not yet flagged and clears it on flagged
   rows whose key is listed again (restored from the recycle bin); ``hard`` deletes the gone rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import ClassVar, Literal

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .columns import Column, Kind
from .database import Database
from .dialects import run
from .errors import DeletionLimitError
from .identifiers import TableName, quote

DeletionMode = Literal["soft", "hard"]
DELETION_MODES: tuple[str, ...] = ("soft", "hard")
#: the column ``soft`` deletions set: when the run that found the record gone began (portal clock)
DELETED_AT = "_bitrix24_deleted_at"


@dataclass(frozen=True)
class DeletionCounts:
    """What a reconciliation changed in the target."""

    marked_deleted: int = 0
    restored: int = 0
    hard_deleted: int = 0


def deletion_limit(max_deletions: int | float, live: int) -> int:
    """The most rows a run may delete: *max_deletions* itself (an ``int``), or that fraction of the
    *live* rows (a ``float``), rounded down."""
    if isinstance(max_deletions, int):
        return max_deletions
    return int(max_deletions * live)


@dataclass(frozen=True)
class Reconciliation:
    """:param mode: ``soft`` or ``hard``.
    :param key: the target's key column (one row field: ``ID``/``id``).
    :param keys: every key the portal listed, from a complete key-only export.
    :param at: the run's start on the portal's clock (ISO 8601), the ``_bitrix24_deleted_at`` value.
    :param max_deletions: the safety limit (see :func:`deletion_limit`).
    """

    #: a complete comparison: its time is kept as ``reconciled_at`` for ``reconcile_every``
    reconciles: ClassVar[bool] = True

    mode: DeletionMode
    key: str
    keys: frozenset[int]
    at: str
    max_deletions: int | float

    def apply(
        self, conn: Connection, db: Database, target: TableName, staging: TableName | None, key_kind: Kind
    ) -> DeletionCounts:
        """Reconcile *target* (inside the caller's transaction, before the merge of *staging*)."""
        if not db.exists(conn, target):
            return DeletionCounts()
        names = db.column_names(conn, target)
        if self.mode == "soft" and DELETED_AT not in names:
            run(conn, db.dialect.add_column(target, Column(DELETED_AT, "datetime")))
        keys = target.sibling(f"_b24key_{uuid.uuid4().hex[:16]}")
        run(conn, db.dialect.create_table(keys, [Column("k", key_kind)], ("k",)))
        values = sorted(self.keys) if key_kind == "integer" else sorted(str(k) for k in self.keys)
        db.dialect.load(conn, keys, [Column("k", key_kind)], [(v,) for v in values], None, False)
        column = quote(self.key)
        if staging is not None:
            run(
                conn,
                f"INSERT INTO {keys.sql} (k) SELECT DISTINCT s.{column} FROM {staging.sql} s "
                f"WHERE NOT EXISTS (SELECT 1 FROM {keys.sql} k WHERE k.k = s.{column})",
            )
        listed = f"EXISTS (SELECT 1 FROM {keys.sql} k WHERE k.k = {target.sql}.{column})"
        live = "" if self.mode == "hard" else f"{quote(DELETED_AT)} IS NULL AND "
        alive = int(run(conn, f"SELECT COUNT(*) FROM {target.sql} WHERE {live}1 = 1").scalar() or 0)
        gone = int(run(conn, f"SELECT COUNT(*) FROM {target.sql} WHERE {live}NOT {listed}").scalar() or 0)
        limit = deletion_limit(self.max_deletions, alive)
        if gone > limit:
            raise DeletionLimitError(target.label, gone, alive, limit)
        if self.mode == "hard":
            deleted = run(conn, f"DELETE FROM {target.sql} WHERE NOT {listed}").rowcount
            counts = DeletionCounts(hard_deleted=int(deleted))
        else:
            at = f"CAST(:at AS {db.dialect.type_sql('datetime')})"
            marked = conn.execute(
                text(f"UPDATE {target.sql} SET {quote(DELETED_AT)} = {at} WHERE {live}NOT {listed}"),
                {"at": self.at},
            ).rowcount
            flag = quote(DELETED_AT)
            restored = run(
                conn, f"UPDATE {target.sql} SET {flag} = NULL WHERE {flag} IS NOT NULL AND {listed}"
            ).rowcount
            counts = DeletionCounts(marked_deleted=int(marked), restored=int(restored))
        run(conn, db.dialect.drop(keys))
        return counts

    def ensure_column(self, conn: Connection, db: Database, target: TableName) -> None:
        """A target the merge has just created gets the ``soft`` column too."""
        ensure_deleted_at(self.mode, conn, db, target)


@dataclass(frozen=True)
class EventDeletions:
    """Deletions the portal reported as events (offline ``ONCRM*DELETE``): the rows with these keys
    are gone, unless the run's export read them (alive again). Same modes, limit and transaction as
    :class:`Reconciliation`; nothing is restored (an event says nothing about the other rows)."""

    reconciles: ClassVar[bool] = False

    mode: DeletionMode
    key: str
    gone: frozenset[int]
    at: str
    max_deletions: int | float

    def apply(
        self, conn: Connection, db: Database, target: TableName, staging: TableName | None, key_kind: Kind
    ) -> DeletionCounts:
        if not db.exists(conn, target) or not self.gone:
            return DeletionCounts()
        if self.mode == "soft" and DELETED_AT not in db.column_names(conn, target):
            run(conn, db.dialect.add_column(target, Column(DELETED_AT, "datetime")))
        keys = target.sibling(f"_b24key_{uuid.uuid4().hex[:16]}")
        run(conn, db.dialect.create_table(keys, [Column("k", key_kind)], ("k",)))
        values = sorted(self.gone) if key_kind == "integer" else sorted(str(k) for k in self.gone)
        db.dialect.load(conn, keys, [Column("k", key_kind)], [(v,) for v in values], None, False)
        column = quote(self.key)
        if staging is not None:
            run(conn, f"DELETE FROM {keys.sql} WHERE k IN (SELECT s.{column} FROM {staging.sql} s)")
        hit = f"EXISTS (SELECT 1 FROM {keys.sql} k WHERE k.k = {target.sql}.{column})"
        live = "" if self.mode == "hard" else f"{quote(DELETED_AT)} IS NULL AND "
        alive = int(run(conn, f"SELECT COUNT(*) FROM {target.sql} WHERE {live}1 = 1").scalar() or 0)
        gone = int(run(conn, f"SELECT COUNT(*) FROM {target.sql} WHERE {live}{hit}").scalar() or 0)
        limit = deletion_limit(self.max_deletions, alive)
        if gone > limit:
            raise DeletionLimitError(target.label, gone, alive, limit)
        if self.mode == "hard":
            counts = DeletionCounts(
                hard_deleted=int(run(conn, f"DELETE FROM {target.sql} WHERE {hit}").rowcount)
            )
        else:
            at = f"CAST(:at AS {db.dialect.type_sql('datetime')})"
            marked = conn.execute(
                text(f"UPDATE {target.sql} SET {quote(DELETED_AT)} = {at} WHERE {live}{hit}"), {"at": self.at}
            ).rowcount
            counts = DeletionCounts(marked_deleted=int(marked))
        run(conn, db.dialect.drop(keys))
        return counts

    def ensure_column(self, conn: Connection, db: Database, target: TableName) -> None:
        """A target the merge has just created gets the ``soft`` column too."""
        ensure_deleted_at(self.mode, conn, db, target)


def ensure_deleted_at(mode: str, conn: Connection, db: Database, target: TableName) -> None:
    """Add ``_bitrix24_deleted_at`` to an existing *target* that lacks it, for ``soft`` deletions."""
    if mode == "soft" and db.exists(conn, target) and DELETED_AT not in db.column_names(conn, target):
        run(conn, db.dialect.add_column(target, Column(DELETED_AT, "datetime")))


def target_keys(db: Database, target: TableName, key: str) -> set[int]:
    """The keys of *target* (empty when it does not exist), as integers."""
    with db.begin() as conn:
        if not db.exists(conn, target):
            return set()
        rows = run(conn, f"SELECT {quote(key)} FROM {target.sql}")
        return {int(r[0]) for r in rows if r[0] is not None}
