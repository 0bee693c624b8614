"""``Bitrix24CallOperator``'s SQL side: items from a query, results into a table.

The results table has one row per item, in input order: ``position`` (0-based), ``item`` and
``result`` (JSON), ``error_code`` and ``error_description``. It is replaced atomically like any
``replace`` export (staging table, then drop + rename in one transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .columns import Column, Kind
from .database import Database
from .dialects import run
from .identifiers import TableName
from .sink import Progress
from .sql_sink import SqlSink
from .sync_state import StateKey

RESULT_COLUMNS: tuple[Column, ...] = (
    Column("position", "integer"),
    Column("item", "json"),
    Column("result", "json"),
    Column("error_code", "text"),
    Column("error_description", "text"),
)
_KINDS: dict[str, Kind] = {c.name: c.kind for c in RESULT_COLUMNS}
CHUNK_ROWS = 2500


def read_items(db: Database, sql: str) -> list[dict[str, Any]]:
    """The rows of *sql* as dicts (column name → value)."""
    with db.begin() as conn:
        result = run(conn, sql)
        names = [str(k) for k in result.keys()]  # noqa: SIM118 - a Result, not a dict
        return [dict(zip(names, row, strict=True)) for row in result]


def write_results(
    db: Database, table: TableName, method: str, rows: Sequence[dict[str, Any]], chunk_rows: int = CHUNK_ROWS
) -> int:
    """Replace *table* with *rows* (dicts with the keys of :data:`RESULT_COLUMNS`); returns the count."""
    sink = SqlSink(
        db,
        table,
        disposition="replace",
        key=("position",),
        column_policy="add",
        kinds=_KINDS,
        state_key=StateKey(table.label, method, ""),
        fallback_columns=RESULT_COLUMNS,
    )
    sink.start(None)
    try:
        for start in range(0, len(rows), chunk_rows):
            sink.write(rows[start : start + chunk_rows], None)
        return sink.finish(Progress(rows_read=len(rows))).rows
    except BaseException:
        sink.abort(keep=False)
        raise
