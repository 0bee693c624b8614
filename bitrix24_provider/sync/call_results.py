"""``Bitrix24CallOperator``'s side of the items: what the call did to each, items from a query,
results into a table.

Every item ends ``succeeded`` (its result), ``failed`` (an error: the portal refused it, or its
request provably did not run) or ``unknown`` (a write whose request failed after the portal may
have run it). The results table has one row per item, in input order: ``position`` (0-based),
``outcome``, ``item`` and ``result`` (JSON), ``error_code`` and ``error_description`` (for an unknown
item: what went wrong). It is replaced atomically like any ``replace`` export (staging table, then
drop + rename in one transaction).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..client.errors import BitrixAPIError, BitrixError, OutcomeUnknown
from ..client.writes import is_write
from ..staging.columns import Column, Kind
from ..staging.database import Database
from ..staging.dialects import run
from ..staging.identifiers import TableName
from ..staging.sink import Progress
from ..staging.sql_sink import SqlSink
from ..staging.sync_state import StateKey

RESULT_COLUMNS: tuple[Column, ...] = (
    Column("position", "integer"),
    Column("outcome", "text"),
    Column("item", "json"),
    Column("result", "json"),
    Column("error_code", "text"),
    Column("error_description", "text"),
)
_KINDS: dict[str, Kind] = {c.name: c.kind for c in RESULT_COLUMNS}
CHUNK_ROWS = 2500


@dataclass(frozen=True)
class CallOutcomes:
    """The outcome of every item of one call of ``method``, in input order: a result, a
    :class:`BitrixError` or an :class:`OutcomeUnknown`."""

    method: str
    outcomes: Sequence[Any]

    @property
    def failed(self) -> list[int]:
        return [n for n, o in enumerate(self.outcomes) if _kind(o) == "failed"]

    @property
    def unknown(self) -> list[int]:
        return [n for n, o in enumerate(self.outcomes) if _kind(o) == "unknown"]

    @property
    def wrote(self) -> bool:
        """Whether the call may have changed data: its method writes and an item ran or may have."""
        return is_write(self.method) and len(self.failed) < len(self.outcomes)

    def summary(self) -> dict[str, Any]:
        """The counts for XCom: ``count``, ``succeeded``, ``failed``, ``unknown``, ``unknown_positions``."""
        failed, unknown = len(self.failed), self.unknown
        return {
            "method": self.method,
            "count": len(self.outcomes),
            "succeeded": len(self.outcomes) - failed - len(unknown),
            "failed": failed,
            "unknown": len(unknown),
            "unknown_positions": unknown,
        }

    def results(self) -> list[Any]:
        """Each item's result, ``None`` where it failed or is unknown."""
        return [None if isinstance(o, BitrixError) else o for o in self.outcomes]

    def failures(self) -> list[dict[str, Any]]:
        """``[{"position", "error", "error_description"}]`` of the failed items."""
        return [{"position": n, **_error(self.outcomes[n])} for n in self.failed]

    def rows(self, items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """One row of the results table per item."""
        rows = []
        for n, (item, outcome) in enumerate(zip(items, self.outcomes, strict=True)):
            error = _error(outcome) if isinstance(outcome, BitrixError) else {}
            rows.append(
                {
                    "position": n,
                    "outcome": _kind(outcome),
                    "item": dict(item),
                    "result": None if error else outcome,
                    "error_code": error.get("error"),
                    "error_description": error.get("error_description"),
                }
            )
        return rows


def _kind(outcome: Any) -> str:
    if isinstance(outcome, OutcomeUnknown):
        return "unknown"
    return "failed" if isinstance(outcome, BitrixError) else "succeeded"


def _error(error: BitrixError) -> dict[str, Any]:
    """Bitrix's code and text; for an error of the client (no code): its class and message."""
    if isinstance(error, BitrixAPIError):
        return {"error": error.code, "error_description": error.description}
    if isinstance(error, OutcomeUnknown):
        return {"error": None, "error_description": f"outcome unknown: {error.cause}"}
    return {"error": type(error).__name__, "error_description": str(error)}


def read_items(db: Database, sql: str) -> list[dict[str, Any]]:
    """The rows of *sql* as dicts (column name → value)."""
    with db.begin() as conn:
        result = run(conn, sql)
        names = [str(k) for k in result.keys()]  # noqa: SIM118 - a Result, not a dict
        return [dict(zip(names, row, strict=True)) for row in result]


def write_results(
    db: Database, table: TableName, method: str, rows: Sequence[dict[str, Any]], chunk_rows: int = CHUNK_ROWS
) -> int:
    """Replace *table* with *rows* (:meth:`CallOutcomes.rows`); returns the count."""
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
            sink.write(rows[start : start + chunk_rows])
        return sink.finish(Progress(rows_read=len(rows))).rows
    except BaseException:
        sink.abort(keep=False)
        raise
