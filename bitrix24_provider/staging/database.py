"""A target database behind a SQLAlchemy engine, with real transactions on every dialect.

Python's ``sqlite3`` module opens transactions only before data changes, so ``DROP TABLE`` or
``ALTER TABLE ... RENAME`` would run outside the transaction and the atomic swap would not be
atomic. On SQLite the engine is switched to the documented SQLAlchemy recipe: the driver's own
transaction handling is turned off and every ``begin()`` emits ``BEGIN IMMEDIATE``, so DDL and data
commit (or roll back) together.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.engine import Connection, Engine

from .dialects import Dialect, dialect_for
from .identifiers import TableName


class Database:
    """:param engine: an engine this object may configure and dispose (e.g. a fresh
    ``DbApiHook.get_sqlalchemy_engine()``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect: Dialect = dialect_for(engine.dialect.name)
        if engine.dialect.name == "sqlite":
            _transactional_sqlite(engine)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        with self.engine.begin() as conn:
            yield conn

    def exists(self, conn: Connection, table: TableName) -> bool:
        return bool(inspect(conn).has_table(table.name, schema=table.schema))

    def column_names(self, conn: Connection, table: TableName) -> list[str]:
        return [str(c["name"]) for c in inspect(conn).get_columns(table.name, schema=table.schema)]

    def column_types(self, conn: Connection, table: TableName) -> dict[str, Any]:
        return {str(c["name"]): c["type"] for c in inspect(conn).get_columns(table.name, schema=table.schema)}

    def unique_on(self, conn: Connection, table: TableName, key: Sequence[str]) -> bool:
        """Whether *table* has a primary key, unique constraint or unique index on exactly *key*."""
        wanted = set(key)
        inspector = inspect(conn)
        pk = inspector.get_pk_constraint(table.name, schema=table.schema) or {}
        if set(pk.get("constrained_columns") or ()) == wanted:
            return True
        for unique in inspector.get_unique_constraints(table.name, schema=table.schema):
            if set(unique.get("column_names") or ()) == wanted:
                return True
        for index in inspector.get_indexes(table.name, schema=table.schema):
            if index.get("unique") and set(index.get("column_names") or ()) == wanted:
                return True
        return False

    def dispose(self) -> None:
        self.engine.dispose()


def _transactional_sqlite(engine: Engine) -> None:
    if getattr(engine, "_b24_transactional", False):
        return

    @event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    engine._b24_transactional = True  # type: ignore[attr-defined]
