"""Rows into one Parquet or CSV file, published atomically.

Chunks are spooled as typed DataFrames into a hidden directory next to the output; ``finish`` writes
them, aligned to the final set of columns, into a temporary file in the same directory and moves it
over the output with :func:`os.replace`. An interrupted export leaves the previous file as it was.
Memory stays bounded by one chunk. The format follows the suffix: ``.parquet``/``.pq`` (needs
pyarrow), ``.csv`` or ``.csv.gz``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from .columns import Kind
from .errors import StagingConfigError
from .frames import arrow_schema, series, to_frame
from .sink import ColumnPolicy, ColumnSet, Finished, Progress, Row

FileFormat = Literal["parquet", "csv"]
_SUFFIXES: dict[str, FileFormat] = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".csv.gz": "csv"}


def file_format(path: str | os.PathLike[str]) -> FileFormat:
    """The output format for *path*, or :class:`StagingConfigError` naming ``output_path``."""
    name = Path(path).name.lower()
    for suffix, fmt in sorted(_SUFFIXES.items(), key=lambda item: -len(item[0])):
        if name.endswith(suffix):
            return fmt
    raise StagingConfigError(
        f"output_path must end with one of {', '.join(sorted(_SUFFIXES))} (the format follows the suffix); "
        f"got {str(path)!r}"
    )


class FileSink:
    resumable = False

    def __init__(
        self, path: str | os.PathLike[str], kinds: Mapping[str, Kind], column_policy: ColumnPolicy
    ) -> None:
        self.path = Path(path)
        self.format = file_format(self.path)
        self.label = str(self.path)
        self.columns = ColumnSet(kinds, column_policy, self.label)
        self._spool: Path | None = None
        self._parts: list[Path] = []

    def _spool_dir(self) -> Path:
        if self._spool is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._spool = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        return self._spool

    def write(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        frame = to_frame(rows, self.columns.update(rows))
        part = self._spool_dir() / f"part-{len(self._parts):06d}.pkl"
        frame.to_pickle(part)
        self._parts.append(part)

    def finish(self, progress: Progress) -> Finished:
        import pandas as pd

        columns = self.columns.columns
        spool = self._spool_dir()
        partial = spool / f"output-{uuid.uuid4().hex}{''.join(self.path.suffixes)}"
        rows = 0
        try:
            if self.format == "parquet":
                import pyarrow as pa
                import pyarrow.parquet as pq

                schema = arrow_schema(columns)
                with pq.ParquetWriter(partial, schema) as writer:
                    for frame in self._frames(pd):
                        rows += len(frame)
                        writer.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False))
                    if not self._parts:
                        writer.write_table(schema.empty_table())
            else:
                compression = "gzip" if self.path.name.lower().endswith(".gz") else None
                first = True
                for frame in self._frames(pd):
                    rows += len(frame)
                    frame.to_csv(
                        partial,
                        mode="w" if first else "a",
                        header=first,
                        index=False,
                        compression=compression,
                    )
                    first = False
                if first:
                    pd.DataFrame(columns=[c.name for c in columns]).to_csv(
                        partial, index=False, compression=compression
                    )
            os.replace(partial, self.path)
        finally:
            self.abort(keep=False)
        return Finished(
            rows=rows,
            target=self.label,
            columns_added=list(self.columns.added),
            columns_ignored=sorted(self.columns.ignored),
            columns=list(self.columns.columns),
        )

    def _frames(self, pd: Any) -> Any:
        columns = self.columns.columns
        for part in self._parts:
            frame = pd.read_pickle(part)
            for column in columns:
                if column.name not in frame.columns:
                    frame[column.name] = series([None] * len(frame), column.kind).set_axis(frame.index)
            yield frame[[c.name for c in columns]]

    def abort(self, keep: bool = False) -> None:
        if self._spool is not None:
            shutil.rmtree(self._spool, ignore_errors=True)
            self._spool = None
            self._parts = []
