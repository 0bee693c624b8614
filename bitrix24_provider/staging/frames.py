"""Rows as typed pandas DataFrames (for ``df_callable`` and file outputs).

Kinds become nullable pandas dtypes: ``integer`` → ``Int64``, ``double`` → ``Float64``, ``boolean``
→ ``boolean``, ``datetime`` → ``datetime64[us, UTC]``, ``date`` → Python ``date`` objects,
``text`` and ``json`` (JSON text) → ``string``. pandas is imported only when a frame is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from .columns import Column, Kind, convert

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

_DTYPES: dict[Kind, str] = {
    "integer": "Int64",
    "double": "Float64",
    "boolean": "boolean",
    "text": "string",
    "json": "string",
}


def to_frame(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> pd.DataFrame:
    import pandas as pd

    data: dict[str, Any] = {}
    for column in columns:
        values = [convert(row.get(column.name), column.kind, column.name) for row in rows]
        data[column.name] = series(values, column.kind)
    return pd.DataFrame(data, index=pd.RangeIndex(len(rows)))


def empty_frame(columns: Sequence[Column]) -> pd.DataFrame:
    return to_frame([], columns)


def series(values: Sequence[Any], kind: Kind) -> pd.Series:
    """A Series of canonical values (see :func:`~.columns.convert`) with the dtype of *kind*."""
    import pandas as pd

    values = list(values)
    if kind == "datetime":
        return pd.Series(pd.to_datetime(values, utc=True, format="ISO8601"), dtype="datetime64[us, UTC]")
    if kind == "date":
        return pd.Series([None if v is None else date.fromisoformat(v) for v in values], dtype=object)
    return pd.Series(pd.array(values, dtype=_DTYPES[kind]))


def arrow_schema(columns: Sequence[Column]) -> pa.Schema:
    import pyarrow as pa

    types: dict[Kind, pa.DataType] = {
        "integer": pa.int64(),
        "double": pa.float64(),
        "boolean": pa.bool_(),
        "datetime": pa.timestamp("us", tz="UTC"),
        "date": pa.date32(),
        "text": pa.string(),
        "json": pa.string(),
    }
    return pa.schema([pa.field(c.name, types[c.kind]) for c in columns])
