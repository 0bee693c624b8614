"""Bookkeeping tables in the target database.

``_bitrix24_sync_state`` has one row per (target table, method, cursor field):

* ``high_water``: the largest cursor value loaded so far (ISO 8601 with offset), the start of the
  next incremental run's filter (minus the lag);
* ``last_load_id``: the id of the last load that committed, so that a retry of a task that died
  right after its commit does not load again;
* ``loaded_rows``, ``updated_at``;
* ``reconciled_at``: when the last reconciliation of deletions began (portal clock), so that
  ``reconcile_every`` can skip the key scan (added to tables of earlier versions when first needed).

It is written in the same transaction as the rows it describes, so the watermark can never run ahead
of the data (or lag behind it).

``_bitrix24_resume`` holds resume checkpoints when Airflow has no ``task_state_store`` (before 3.3),
one row per task instance (dag_id, run_id, task_id, map_index), also written in the transaction of
the staging chunk it describes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .database import Database
from .dialects import run
from .identifiers import TableName

STATE_TABLE = "_bitrix24_sync_state"
RESUME_TABLE = "_bitrix24_resume"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class StateKey:
    target: str  # qualified label of the target table
    method: str
    cursor_field: str  # "" for a full (non-incremental) load


@dataclass(frozen=True)
class StateRow:
    high_water: str | None
    last_load_id: str | None
    rows: int | None
    updated_at: str | None
    reconciled_at: str | None = None


class SyncState:
    """The ``_bitrix24_sync_state`` table, next to the target table (same schema)."""

    def __init__(self, db: Database, schema: str | None) -> None:
        self.db = db
        self.table = TableName(STATE_TABLE, schema)

    def ensure(self, conn: Connection) -> None:
        run(
            conn,
            f"CREATE TABLE IF NOT EXISTS {self.table.sql} ("
            "target_table TEXT NOT NULL, method TEXT NOT NULL, cursor_field TEXT NOT NULL, "
            "high_water TEXT, last_load_id TEXT, loaded_rows BIGINT, updated_at TEXT, "
            "PRIMARY KEY (target_table, method, cursor_field))",
        )
        names = self.db.column_names(conn, self.table)
        for column in ("reconciled_at", "pending_events"):
            if column not in names:
                run(conn, f"ALTER TABLE {self.table.sql} ADD COLUMN {column} TEXT")

    def pending_events(self, conn: Connection, key: StateKey) -> list[str]:
        """The ``process_id`` of offline events read by a run that may not have confirmed them."""
        self.ensure(conn)
        value = conn.execute(
            text(
                f"SELECT pending_events FROM {self.table.sql} "
                "WHERE target_table = :t AND method = :m AND cursor_field = :c"
            ),
            {"t": key.target, "m": key.method, "c": key.cursor_field},
        ).scalar()
        loaded = json.loads(value) if value else []
        return [str(v) for v in loaded] if isinstance(loaded, list) else []

    def set_pending_events(self, conn: Connection, key: StateKey, process_ids: list[str]) -> None:
        self.ensure(conn)
        params = {"t": key.target, "m": key.method, "c": key.cursor_field, "p": json.dumps(process_ids)}
        updated = conn.execute(
            text(
                f"UPDATE {self.table.sql} SET pending_events = :p "
                "WHERE target_table = :t AND method = :m AND cursor_field = :c"
            ),
            params,
        )
        if updated.rowcount == 0:
            conn.execute(
                text(
                    f"INSERT INTO {self.table.sql} (target_table, method, cursor_field, pending_events) "
                    "VALUES (:t, :m, :c, :p)"
                ),
                params,
            )

    def read(self, conn: Connection, key: StateKey) -> StateRow | None:
        if not self.db.exists(conn, self.table):
            return None
        names = self.db.column_names(conn, self.table)
        reconciled = "reconciled_at" if "reconciled_at" in names else "NULL"
        row = conn.execute(
            text(
                f"SELECT high_water, last_load_id, loaded_rows, updated_at, {reconciled} "
                f"FROM {self.table.sql} "
                "WHERE target_table = :t AND method = :m AND cursor_field = :c"
            ),
            {"t": key.target, "m": key.method, "c": key.cursor_field},
        ).first()
        if row is None:
            return None
        return StateRow(row[0], row[1], None if row[2] is None else int(row[2]), row[3], row[4])

    def advance(
        self,
        conn: Connection,
        key: StateKey,
        high_water: str | None,
        load_id: str,
        rows: int,
        reconciled_at: str | None = None,
    ) -> None:
        """Record a committed load inside the caller's transaction (*reconciled_at*: this load
        reconciled deletions; None keeps the time of the last one)."""
        self.ensure(conn)
        params = {
            "t": key.target,
            "m": key.method,
            "c": key.cursor_field,
            "h": high_water,
            "l": load_id,
            "r": rows,
            "u": _now(),
            "x": reconciled_at,
        }
        updated = conn.execute(
            text(
                f"UPDATE {self.table.sql} SET high_water = :h, last_load_id = :l, loaded_rows = :r, "
                "updated_at = :u, reconciled_at = COALESCE(:x, reconciled_at) "
                "WHERE target_table = :t AND method = :m AND cursor_field = :c"
            ),
            params,
        )
        if updated.rowcount == 0:
            conn.execute(
                text(
                    f"INSERT INTO {self.table.sql} "
                    "(target_table, method, cursor_field, high_water, last_load_id, loaded_rows, updated_at, "
                    "reconciled_at) VALUES (:t, :m, :c, :h, :l, :r, :u, :x)"
                ),
                params,
            )


@dataclass(frozen=True)
class TaskKey:
    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1


class ResumeTable:
    """Resume checkpoints for Airflow versions without ``task_state_store``."""

    def __init__(self, db: Database, schema: str | None) -> None:
        self.db = db
        self.table = TableName(RESUME_TABLE, schema)

    def ensure(self, conn: Connection) -> None:
        run(
            conn,
            f"CREATE TABLE IF NOT EXISTS {self.table.sql} ("
            "dag_id TEXT NOT NULL, run_id TEXT NOT NULL, task_id TEXT NOT NULL, map_index INTEGER NOT NULL, "
            "checkpoint TEXT NOT NULL, updated_at TEXT, PRIMARY KEY (dag_id, run_id, task_id, map_index))",
        )

    def _where(self, key: TaskKey) -> tuple[str, dict[str, Any]]:
        return (
            "dag_id = :d AND run_id = :r AND task_id = :t AND map_index = :i",
            {"d": key.dag_id, "r": key.run_id, "t": key.task_id, "i": key.map_index},
        )

    def get(self, key: TaskKey) -> dict[str, Any] | None:
        with self.db.begin() as conn:
            if not self.db.exists(conn, self.table):
                return None
            where, params = self._where(key)
            row = conn.execute(text(f"SELECT checkpoint FROM {self.table.sql} WHERE {where}"), params).first()
        if row is None:
            return None
        value = json.loads(row[0])
        return value if isinstance(value, dict) else None

    def put(self, conn: Connection, key: TaskKey, value: dict[str, Any]) -> None:
        self.ensure(conn)
        where, params = self._where(key)
        params = {**params, "c": json.dumps(value, separators=(",", ":")), "u": _now()}
        updated = conn.execute(
            text(f"UPDATE {self.table.sql} SET checkpoint = :c, updated_at = :u WHERE {where}"), params
        )
        if updated.rowcount == 0:
            conn.execute(
                text(
                    f"INSERT INTO {self.table.sql} "
                    "(dag_id, run_id, task_id, map_index, checkpoint, updated_at) "
                    "VALUES (:d, :r, :t, :i, :c, :u)"
                ),
                params,
            )

    def delete(self, conn: Connection, key: TaskKey) -> None:
        if not self.db.exists(conn, self.table):
            return
        where, params = self._where(key)
        conn.execute(text(f"DELETE FROM {self.table.sql} WHERE {where}"), params)
