"""Rows into a SQL table through a staging table, published in one transaction.

1. Chunks of rows go into a staging table ``_b24stg_<target>_<hash>`` next to the target, each chunk in
   its own committed transaction (PostgreSQL: ``COPY`` through psycopg 3; SQLite: ``executemany``).
   The staging table has the primary key, so a row read twice (a resumed export re-reads at most one
   chunk) replaces its first copy; inside a chunk the row with the highest cursor (else the last one)
   wins. Columns that appear in later chunks are added to the staging table as they come.
2. When the export is complete, **one** transaction publishes it, records the load in
   ``_bitrix24_sync_state`` (advancing the incremental watermark) and drops the staging table:

   * ``replace``: ``DROP TABLE target`` + ``ALTER TABLE staging RENAME TO target``; readers see the
     old table or the new one, never a half-filled one;
   * ``append``: ``INSERT INTO target SELECT ... FROM staging``;
   * ``merge``: ``INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE`` (delete-then-insert when the
     target has no unique key on the primary key columns, or the database has no upsert).

   New columns meet ``column_policy``: ``add`` (``ALTER TABLE target ADD COLUMN``; for ``replace`` the
   new table simply has them), ``ignore`` (left out), ``fail`` (:class:`ColumnPolicyError`, nothing
   changes). A ``replace`` that would lose columns of the target fails with :class:`ColumnDropError`
   (nothing changes) unless ``allow_column_drop``; with ``ignore`` the new table keeps them.

Until that transaction commits the target is untouched: a failure or a killed worker leaves at most a
staging table, which a retry resumes from or which is dropped when the export gives up.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

from sqlalchemy.engine import Connection

from .columns import Column, Kind, columns_for, convert_rows
from .database import Database
from .deletions import EventDeletions, Reconciliation
from .dialects import run
from .errors import ColumnDropError, ColumnPolicyError, MissingKeyError, StagingConfigError
from .identifiers import TableName, quote, staging_name
from .sink import Checkpointer, ColumnPolicy, Finished, Progress, Row, StagingPosition
from .sync_state import StateKey, StateRow, SyncState
from .watermark import next_high_water, parse_time

log = logging.getLogger(__name__)

WriteDisposition = Literal["replace", "append", "merge"]
WRITE_DISPOSITIONS: tuple[str, ...] = ("replace", "append", "merge")


class SqlSink:
    """:param kinds: row field → kind from the method's ``.fields`` description.
    :param key: primary key columns (row field names); None: no key, no de-duplication.
    :param cursor_column: the cursor's row field, to keep the newest of duplicate rows.
    :param fallback_columns: the columns to create the target with when the export has no rows.
    :param checkpoint: records the export's progress with each chunk (in the chunk's transaction when
        it is transactional); None: not resumable.
    :param allow_column_drop: ``replace`` may leave out columns the target has.
    :param reconciliation: rows the portal no longer lists are flagged or deleted in the publishing
        transaction (``merge``; see :mod:`.deletions`).
    """

    resumable = True

    def __init__(
        self,
        db: Database,
        target: TableName,
        *,
        disposition: WriteDisposition,
        key: Sequence[str] | None,
        column_policy: ColumnPolicy,
        kinds: Mapping[str, Kind],
        state_key: StateKey,
        cursor_column: str | None = None,
        fallback_columns: Sequence[Column] = (),
        checkpoint: Checkpointer | None = None,
        allow_column_drop: bool = False,
        reconciliation: Reconciliation | EventDeletions | None = None,
    ) -> None:
        self.db = db
        self.target = target
        self.label = target.label
        self.disposition = disposition
        self.key = tuple(key) if key else ()
        self.column_policy = column_policy
        self.kinds = dict(kinds)
        self.cursor_column = cursor_column
        self.fallback_columns = list(fallback_columns)
        self.checkpoint = checkpoint
        self.allow_column_drop = allow_column_drop
        self.reconciliation = reconciliation
        self.state = SyncState(db, target.schema)
        self.state_key = state_key
        self.selected: list[str] | None = None  # the row fields of an explicit select
        self.staging: TableName | None = None
        self.load_id = ""
        self.columns: list[Column] = []
        self.created = False
        self._max_key: int | None = None
        self._resumed = False

    # -- start ------------------------------------------------------------------------------

    def check_target(self, columns: Collection[str] | None = None) -> None:
        """Fail before exporting, and before creating the state table, when the target cannot take
        this load: missing key columns, or a ``replace`` whose *columns* (those of an explicit select;
        None: known only from the rows) lack some of the target's."""
        self.selected = None if columns is None else list(columns)
        with self.db.begin() as conn:
            if self.db.exists(conn, self.target):
                names = self.db.column_names(conn, self.target)
                missing = [k for k in self.key if k not in names]
                if self.disposition == "merge" and missing:
                    raise MissingKeyError(
                        f"write_disposition='merge': {self.label} has no column(s) {', '.join(missing)} of "
                        f"primary_key {list(self.key)}"
                    )
                if columns is not None:
                    self._check_drop(names, columns)
            self.state.ensure(conn)

    def _check_drop(self, target_names: Sequence[str], columns: Collection[str]) -> None:
        if self.disposition != "replace" or self.column_policy == "ignore" or self.allow_column_drop:
            return
        dropped = [name for name in target_names if name not in columns]
        if dropped:
            raise ColumnDropError(self.label, dropped)

    def read_high_water(self) -> str | None:
        with self.db.begin() as conn:
            row = self.state.read(conn, self.state_key)
        return None if row is None else row.high_water

    def committed_load(self, load_id: str) -> StateRow | None:
        """The state row of load *load_id* if it committed (its task died before it could report
        success), else None."""
        with self.db.begin() as conn:
            state = self.state.read(conn, self.state_key)
        return state if state is not None and state.last_load_id == load_id else None

    def start(self, position: StagingPosition | None = None) -> bool:
        """Pick the staging table: *position*'s (a resume point's) when it still exists (returns
        True), else a new one."""
        if position is not None:
            staging = self.target.sibling(position.staging)
            with self.db.begin() as conn:
                if self.db.exists(conn, staging):
                    self.staging, self.load_id = staging, position.load_id or staging.name
                    recorded = {c.name: c.kind for c in position.columns}
                    self.columns = [
                        Column(name, recorded.get(name) or self.kinds.get(name) or "text")
                        for name in self.db.column_names(conn, staging)
                    ]
                    self.created = True
                    self._resumed = True
                    self._max_key = self._committed_max_key(conn)
                    log.info("Resuming into staging table %s (%s columns)", staging.label, len(self.columns))
                    return True
            log.info("Staging table %s of the checkpoint is gone; starting over", staging.label)
        name = staging_name(self.target.name, uuid.uuid4().hex)
        self.staging, self.load_id = self.target.sibling(name), name
        with self.db.begin() as conn:
            run(conn, self.db.dialect.drop(self.staging))
        return False

    def drop_stale(self, staging_table: str) -> None:
        """Drop the staging table *staging_table* of a resume point that this run does not resume."""
        try:
            stale = self.target.sibling(staging_table)
        except StagingConfigError:
            return
        with self.db.begin() as conn:
            run(conn, self.db.dialect.drop(stale))

    # -- chunks -----------------------------------------------------------------------------

    def write(self, rows: Sequence[Row]) -> None:
        assert self.staging is not None, "start() first"
        dialect = self.db.dialect
        columns = list(self.columns)
        new = columns_for(rows, self.kinds, known=[c.name for c in columns]) if rows else []
        if not self.created:
            missing = [k for k in self.key if k not in {c.name for c in new}]
            if missing and rows:
                raise MissingKeyError(
                    f"primary_key {list(self.key)}: rows have no {', '.join(missing)}; select it or set "
                    "primary_key to fields the rows carry"
                )
        values = self._dedupe(convert_rows(rows, columns + new), columns + new)
        replace_existing = bool(self.key) and not self._monotonic(values, columns + new)
        record = self._position(columns + new)
        with self.db.begin() as conn:
            if rows and not self.created:
                run(conn, dialect.create_table(self.staging, new, self.key or None))
            else:
                for column in new:
                    run(conn, dialect.add_column(self.staging, column))
            dialect.load(conn, self.staging, columns + new, values, self.key or None, replace_existing)
            if record is not None and self.checkpoint is not None and self.checkpoint.transactional:
                self.checkpoint.save(record, conn)
        if rows:
            self.created = True
        self.columns = columns + new
        self._note_keys(values)
        if record is not None and self.checkpoint is not None and not self.checkpoint.transactional:
            self.checkpoint.save(record, None)

    def _position(self, columns: Sequence[Column]) -> StagingPosition | None:
        if self.checkpoint is None or self.staging is None:
            return None
        return StagingPosition(self.staging.name, self.load_id, tuple(columns))

    def _key_positions(self, columns: Sequence[Column]) -> list[int]:
        names = [c.name for c in columns]
        return [names.index(k) for k in self.key]

    def _dedupe(self, values: list[tuple[Any, ...]], columns: Sequence[Column]) -> list[tuple[Any, ...]]:
        if not self.key or not values:
            return values
        positions = self._key_positions(columns)
        names = [c.name for c in columns]
        cursor = names.index(self.cursor_column) if self.cursor_column in names else None
        kept: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for row in values:
            key = tuple(row[p] for p in positions)
            if any(part is None for part in key):
                raise MissingKeyError(f"a row has no value for primary_key {list(self.key)}: {key!r}")
            old = kept.get(key)
            if old is not None and cursor is not None:
                new_time, old_time = parse_time(row[cursor]), parse_time(old[cursor])
                if new_time is not None and old_time is not None and new_time < old_time:
                    continue
            kept[key] = row
        return list(kept.values())

    def _single_int_key(self, columns: Sequence[Column]) -> int | None:
        if len(self.key) != 1:
            return None
        for index, column in enumerate(columns):
            if column.name == self.key[0] and column.kind == "integer":
                return index
        return None

    def _monotonic(self, values: Sequence[tuple[Any, ...]], columns: Sequence[Column]) -> bool:
        """Whether every key of this chunk is above every committed one (plain insert, no upsert)."""
        index = self._single_int_key(columns)
        if index is None:
            return not self.created
        if self._max_key is None:
            return not self._resumed or not self.created
        return all(row[index] > self._max_key for row in values)

    def _note_keys(self, values: Sequence[tuple[Any, ...]]) -> None:
        index = self._single_int_key(self.columns)
        if index is None or not values:
            return
        top = max(row[index] for row in values)
        self._max_key = top if self._max_key is None else max(self._max_key, top)

    def _committed_max_key(self, conn: Connection) -> int | None:
        if self.staging is None or self._single_int_key(self.columns) is None:
            return None
        value = run(conn, f"SELECT MAX({quote(self.key[0])}) FROM {self.staging.sql}").scalar()
        return None if value is None else int(value)

    # -- publish ----------------------------------------------------------------------------

    def finish(self, progress: Progress) -> Finished:
        assert self.staging is not None, "start() first"
        finished = Finished(rows=0, target=self.label)
        with self.db.begin() as conn:
            if not self.created and self.fallback_columns:
                key = self.key if all(k in {c.name for c in self.fallback_columns} for k in self.key) else ()
                run(conn, self.db.dialect.create_table(self.staging, self.fallback_columns, key or None))
                self.columns, self.created = list(self.fallback_columns), True
            deletions = self.reconciliation
            if deletions is not None:
                kind: Kind = next((c.kind for c in self.columns if c.name == deletions.key), "integer")
                staged = self.staging if self.created else None
                finished.deletions = deletions.apply(conn, self.db, self.target, staged, kind)
            if self.created:
                finished.rows = int(run(conn, f"SELECT COUNT(*) FROM {self.staging.sql}").scalar() or 0)
                self._publish(conn, finished)
                if deletions is not None:
                    deletions.ensure_column(conn, self.db, self.target)
                finished.columns = list(self.columns)
            else:
                log.warning("No rows and no column description: %s was not created", self.label)
            previous = self.state.read(conn, self.state_key)
            if self.cursor_column is not None:  # an incremental load: its watermark (see .incremental)
                finished.high_water = next_high_water(
                    previous.high_water if previous else None, progress.max_cursor, progress.started_at
                )
            reconciled_at = deletions.at if deletions is not None and deletions.reconciles else None
            self.state.advance(
                conn, self.state_key, finished.high_water, self.load_id, finished.rows, reconciled_at
            )
            if self.checkpoint is not None and self.checkpoint.transactional:
                self.checkpoint.clear(conn)
        self.created = False
        if self.checkpoint is not None and not self.checkpoint.transactional:
            self.checkpoint.clear(None)
        return finished

    def _publish(self, conn: Connection, finished: Finished) -> None:
        assert self.staging is not None
        db, dialect, staging, target = self.db, self.db.dialect, self.staging, self.target
        exists = db.exists(conn, target)
        target_names = db.column_names(conn, target) if exists else []
        new = [c for c in self.columns if exists and c.name not in target_names]
        if new and self.column_policy == "fail":
            raise ColumnPolicyError(self.label, [c.name for c in new])
        if self.column_policy == "ignore":
            finished.columns_ignored = [c.name for c in new]
        elif new:
            finished.columns_added = [c.name for c in new]

        if self.disposition == "replace":
            if exists:
                self._add_selected(conn, target_names)
                self._check_drop(target_names, {c.name for c in self.columns})
            if exists and self.column_policy == "ignore":
                self._match_target_shape(conn, target_names, new)
            if exists:
                run(conn, dialect.drop(target))
            run(conn, dialect.rename(staging, target.name))
            return

        if not exists:
            key = self.key if self.disposition == "merge" else None
            run(conn, dialect.create_table(target, self.columns, key))
            target_names = [c.name for c in self.columns]
        elif self.column_policy == "add":
            for column in new:
                run(conn, dialect.add_column(target, column))
            target_names += [c.name for c in new]
        names = [c.name for c in self.columns if c.name in target_names]
        if self.disposition == "merge":
            missing = [k for k in self.key if k not in names]
            if missing:
                raise MissingKeyError(
                    f"write_disposition='merge' needs primary_key {list(self.key)} in both tables; "
                    f"missing: {', '.join(missing)}"
                )
            dialect.merge(conn, target, staging, names, self.key, db.unique_on(conn, target, self.key))
        else:
            run(conn, dialect.insert_select(target, staging, names))
        run(conn, dialect.drop(staging))

    def _add_selected(self, conn: Connection, target_names: Sequence[str]) -> None:
        """Explicitly selected columns of the target that no row carried (Bitrix24 leaves out empty
        multi-fields such as ``PHONE``) stay in the new table, empty: they were asked for, not dropped."""
        assert self.staging is not None
        have = {c.name for c in self.columns}
        for name in self.selected or ():
            if name in target_names and name not in have:
                column = Column(name, self.kinds.get(name, "text"))
                run(conn, self.db.dialect.add_column(self.staging, column))
                self.columns.append(column)

    def _match_target_shape(self, conn: Connection, target_names: list[str], new: list[Column]) -> None:
        """``replace`` + ``ignore``: the new table keeps the old one's columns."""
        assert self.staging is not None
        dialect = self.db.dialect
        if any(c.name in self.key for c in new):
            raise ColumnPolicyError(self.label, [c.name for c in new if c.name in self.key])
        for column in new:
            run(conn, dialect.drop_column(self.staging, column.name))
        have = {c.name for c in self.columns}
        types = self.db.column_types(conn, self.target)
        for name in target_names:
            if name not in have:
                sql_type = types[name].compile(dialect=conn.dialect)
                run(conn, f"ALTER TABLE {self.staging.sql} ADD COLUMN {quote(name)} {sql_type}")
        self.columns = [c for c in self.columns if c not in new]

    # -- give up ----------------------------------------------------------------------------

    def abort(self, keep: bool) -> None:
        """*keep*: leave the staging table and checkpoint for a retry; else drop and forget both."""
        if keep or self.staging is None:
            return
        with self.db.begin() as conn:
            run(conn, self.db.dialect.drop(self.staging))
            if self.checkpoint is not None and self.checkpoint.transactional:
                self.checkpoint.clear(conn)
        if self.checkpoint is not None and not self.checkpoint.transactional:
            self.checkpoint.clear(None)
        self.created = False
