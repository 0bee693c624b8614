"""Rows handed to a callable as typed DataFrame chunks (``df_callable``).

The callable receives one DataFrame per chunk, in export order; what it does with them (and whether
that is atomic) is up to it. ``column_policy`` applies to columns that appear after the first chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .columns import Kind
from .frames import to_frame
from .sink import ColumnPolicy, ColumnSet, Finished, Progress, Row


class FrameSink:
    resumable = False

    def __init__(
        self,
        df_callable: Callable[[Any], Any],
        kinds: Mapping[str, Kind],
        column_policy: ColumnPolicy,
        label: str = "df_callable",
    ) -> None:
        self.df_callable = df_callable
        self.label = label
        self.columns = ColumnSet(kinds, column_policy, label)
        self.rows = 0

    def write(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        self.df_callable(to_frame(rows, self.columns.update(rows)))
        self.rows += len(rows)

    def finish(self, progress: Progress) -> Finished:
        return Finished(
            rows=self.rows,
            target=self.label,
            columns_added=list(self.columns.added),
            columns_ignored=sorted(self.columns.ignored),
            columns=list(self.columns.columns),
        )

    def abort(self, keep: bool = False) -> None:
        return None
