"""What differs between databases: column types, upserts and the fastest way to load rows.

PostgreSQL and SQLite are first-class (tested); any other SQLAlchemy dialect gets portable SQL
(``executemany`` inserts, delete-then-insert instead of an upsert).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.engine import Connection, CursorResult

from .columns import Column, Kind
from .identifiers import TableName, quote


def run(conn: Connection, sql: str) -> CursorResult[Any]:
    """Execute SQL text that has no parameters, taking ``%`` literally on every driver (psycopg
    reads ``%`` as a placeholder even when no parameters are passed)."""
    if conn.dialect.paramstyle in ("format", "pyformat"):
        sql = sql.replace("%", "%%")
    return conn.exec_driver_sql(sql)


def _cols(names: Iterable[str]) -> str:
    return ", ".join(quote(n) for n in names)


class DriverParams:
    """Placeholders in the driver's own style, for ``executemany`` straight on the driver (SQLAlchemy's
    per-row parameter processing costs more than the insert itself for wide rows)."""

    def __init__(self, conn: Connection) -> None:
        self.style = conn.dialect.paramstyle

    def sql(self, text: str) -> str:
        """Literal SQL between placeholders (``%`` is a placeholder character in format styles)."""
        return text.replace("%", "%%") if self.style in ("format", "pyformat") else text

    def marks(self, count: int) -> list[str]:
        if self.style == "qmark":
            return ["?"] * count
        if self.style == "format":
            return ["%s"] * count
        if self.style == "numeric":
            return [f":{i + 1}" for i in range(count)]
        if self.style == "pyformat":
            return [f"%(p{i})s" for i in range(count)]
        return [f":p{i}" for i in range(count)]  # named

    def rows(self, rows: Sequence[Sequence[Any]]) -> Sequence[Any]:
        if self.style in ("named", "pyformat"):
            return [{f"p{i}": v for i, v in enumerate(row)} for row in rows]
        return rows


class Dialect:
    """Portable SQL; subclasses override what their database does better."""

    name = "generic"
    types: dict[Kind, str] = {
        "integer": "BIGINT",
        "double": "DOUBLE PRECISION",
        "boolean": "BOOLEAN",
        "datetime": "TIMESTAMP WITH TIME ZONE",
        "date": "DATE",
        "text": "TEXT",
        "json": "TEXT",
    }
    #: whether ``INSERT ... ON CONFLICT (key) DO UPDATE`` exists
    upserts = False

    def type_sql(self, kind: Kind) -> str:
        return self.types[kind]

    # -- DDL --------------------------------------------------------------------------------

    def create_table(self, table: TableName, columns: Sequence[Column], key: Sequence[str] | None) -> str:
        parts = [f"{quote(c.name)} {self.type_sql(c.kind)}" for c in columns]
        if key:
            parts.append(f"PRIMARY KEY ({_cols(key)})")
        return f"CREATE TABLE {table.sql} ({', '.join(parts)})"

    def add_column(self, table: TableName, column: Column) -> str:
        return f"ALTER TABLE {table.sql} ADD COLUMN {quote(column.name)} {self.type_sql(column.kind)}"

    def drop_column(self, table: TableName, name: str) -> str:
        return f"ALTER TABLE {table.sql} DROP COLUMN {quote(name)}"

    def rename(self, table: TableName, new_name: str) -> str:
        return f"ALTER TABLE {table.sql} RENAME TO {quote(new_name)}"

    def drop(self, table: TableName) -> str:
        return f"DROP TABLE IF EXISTS {table.sql}"

    # -- DML --------------------------------------------------------------------------------

    def insert_select(self, target: TableName, source: TableName, names: Sequence[str]) -> str:
        return f"INSERT INTO {target.sql} ({_cols(names)}) SELECT {_cols(names)} FROM {source.sql}"

    def merge(
        self,
        conn: Connection,
        target: TableName,
        source: TableName,
        names: Sequence[str],
        key: Sequence[str],
        unique: bool,
    ) -> None:
        """Upsert every row of *source* into *target* on *key*: ``INSERT ... ON CONFLICT DO UPDATE``
        when the database has it and *unique* (the target has a unique key on exactly these columns),
        else delete the matching rows and insert."""
        if self.upserts and unique:
            run(conn, self.upsert_select(target, source, names, key))
            return
        match = " AND ".join(f"{target.sql}.{quote(k)} = s.{quote(k)}" for k in key)
        run(conn, f"DELETE FROM {target.sql} WHERE EXISTS (SELECT 1 FROM {source.sql} s WHERE {match})")
        run(conn, self.insert_select(target, source, names))

    def upsert_select(
        self, target: TableName, source: TableName, names: Sequence[str], key: Sequence[str]
    ) -> str:
        updates = [n for n in names if n not in key]
        action = (
            "DO UPDATE SET " + ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n in updates)
            if updates
            else "DO NOTHING"
        )
        # "WHERE true" keeps SQLite from reading ON CONFLICT as part of the SELECT's join
        return f"{self.insert_select(target, source, names)} WHERE true ON CONFLICT ({_cols(key)}) {action}"

    def upsert_values(
        self, table: TableName, names: Sequence[str], key: Sequence[str], params: DriverParams
    ) -> str:
        binds = ", ".join(params.marks(len(names)))
        updates = [n for n in names if n not in key]
        action = (
            "DO UPDATE SET " + ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n in updates)
            if updates
            else "DO NOTHING"
        )
        return (
            f"{params.sql(f'INSERT INTO {table.sql} ({_cols(names)}) VALUES (')}{binds}"
            f"{params.sql(f') ON CONFLICT ({_cols(key)}) {action}')}"
        )

    def load(
        self,
        conn: Connection,
        table: TableName,
        columns: Sequence[Column],
        rows: Sequence[Sequence[Any]],
        key: Sequence[str] | None,
        replace_existing: bool,
    ) -> None:
        """Insert converted *rows* into *table*; rows whose key is already there replace them when
        *replace_existing* (the caller has removed duplicates inside *rows*)."""
        if not rows:
            return
        names = [c.name for c in columns]
        params = DriverParams(conn)
        if key and replace_existing:
            positions = [names.index(k) for k in key]
            marks = params.marks(len(key))
            match = " AND ".join(f"{params.sql(quote(k))} = {m}" for k, m in zip(key, marks, strict=True))
            keys = [tuple(row[p] for p in positions) for row in rows]
            conn.exec_driver_sql(f"DELETE FROM {params.sql(table.sql)} WHERE {match}", params.rows(keys))
        conn.exec_driver_sql(self._insert(table, names, params), params.rows(rows))

    @staticmethod
    def _insert(table: TableName, names: Sequence[str], params: DriverParams) -> str:
        binds = ", ".join(params.marks(len(names)))
        return f"{params.sql(f'INSERT INTO {table.sql} ({_cols(names)}) VALUES (')}{binds})"


class SQLiteDialect(Dialect):
    name = "sqlite"
    types: dict[Kind, str] = {
        "integer": "INTEGER",
        "double": "REAL",
        "boolean": "INTEGER",
        "datetime": "TEXT",
        "date": "TEXT",
        "text": "TEXT",
        "json": "TEXT",
    }
    upserts = True

    def load(
        self,
        conn: Connection,
        table: TableName,
        columns: Sequence[Column],
        rows: Sequence[Sequence[Any]],
        key: Sequence[str] | None,
        replace_existing: bool,
    ) -> None:
        if not rows:
            return
        names = [c.name for c in columns]
        params = DriverParams(conn)  # sqlite3 stores True/False as 1/0 itself
        if key and replace_existing:
            sql = self.upsert_values(table, names, key, params)
        else:
            sql = self._insert(table, names, params)
        conn.exec_driver_sql(sql, params.rows(rows))


class PostgresDialect(Dialect):
    name = "postgresql"
    types: dict[Kind, str] = {
        "integer": "BIGINT",
        "double": "DOUBLE PRECISION",
        "boolean": "BOOLEAN",
        "datetime": "TIMESTAMPTZ",
        "date": "DATE",
        "text": "TEXT",
        "json": "JSONB",
    }
    upserts = True

    def load(
        self,
        conn: Connection,
        table: TableName,
        columns: Sequence[Column],
        rows: Sequence[Sequence[Any]],
        key: Sequence[str] | None,
        replace_existing: bool,
    ) -> None:
        if not rows:
            return
        driver = conn.connection.driver_connection
        if not _is_psycopg3(driver):
            super().load(conn, table, columns, rows, key, replace_existing)
            return
        names = [c.name for c in columns]
        if not (key and replace_existing):
            _copy(driver, table.sql, names, rows)
            return
        # rows may replace committed ones (a resumed export re-reads a batch): COPY into a
        # transaction-scoped scratch table, then upsert from it
        scratch = TableName("_b24_chunk")
        run(
            conn, f"CREATE TEMPORARY TABLE {scratch.sql} (LIKE {table.sql} INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        _copy(driver, scratch.sql, names, rows)
        run(conn, self.upsert_select(table, scratch, names, key))
        run(conn, f"DROP TABLE {scratch.sql}")


def _is_psycopg3(driver: Any) -> bool:
    return type(driver).__module__.split(".")[0] == "psycopg" and hasattr(driver, "cursor")


def _copy(driver: Any, table_sql: str, names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    with driver.cursor() as cursor, cursor.copy(f"COPY {table_sql} ({_cols(names)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def dialect_for(name: str) -> Dialect:
    if name == "sqlite":
        return SQLiteDialect()
    if name == "postgresql":
        return PostgresDialect()
    return Dialect()
