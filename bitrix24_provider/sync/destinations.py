"""Where a load's rows go: a SQL table (through a staging table, published in one transaction), a
Parquet/CSV file (replaced atomically) or a callable taking DataFrame chunks. The engine builds the
matching :mod:`bitrix24_provider.staging` sink from one of these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..staging.database import Database
from ..staging.errors import StagingConfigError
from ..staging.file_sink import file_format
from ..staging.identifiers import TableName

if TYPE_CHECKING:
    from pandas import DataFrame

__all__ = ["Destination", "FileDestination", "FrameDestination", "SqlDestination"]


@dataclass(frozen=True)
class SqlDestination:
    """A table in a SQL database (SQLite and PostgreSQL are tested; COPY on PostgreSQL).

    :param database: the target database.
    :param table: the target table (its schema: PostgreSQL schema or attached SQLite database).
    :param connection_id: the orchestrator's name of the database's connection; part of the resume
        fingerprint (a retry against another connection starts over), never used to connect.
    """

    database: Database
    table: TableName
    connection_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.database, Database):
            raise StagingConfigError(f"database must be a Database, got {type(self.database).__name__}")
        if not isinstance(self.table, TableName):
            raise StagingConfigError(f"table must be a TableName, got {type(self.table).__name__}")

    @property
    def label(self) -> str:
        return self.table.label


@dataclass(frozen=True)
class FileDestination:
    """A Parquet (``.parquet``/``.pq``) or CSV (``.csv``/``.csv.gz``) file, format by suffix."""

    path: str

    def __post_init__(self) -> None:
        file_format(self.path)  # a StagingConfigError naming output_path

    @property
    def label(self) -> str:
        return self.path


@dataclass(frozen=True)
class FrameDestination:
    """A callable that receives the rows as typed :class:`pandas.DataFrame` chunks."""

    callback: Callable[[DataFrame], object]

    def __post_init__(self) -> None:
        if not callable(self.callback):
            raise StagingConfigError(f"df_callable must be callable, got {self.callback!r}")

    @property
    def label(self) -> str:
        return "df_callable"


Destination = SqlDestination | FileDestination | FrameDestination
