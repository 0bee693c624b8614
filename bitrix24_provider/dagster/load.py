"""The one place the Dagster assets call the load: an entity, a portal session and a database in,
a typed :class:`LoadOutcome` out. No Dagster here, so the switch to the orchestrator-neutral engine
(``bitrix24_provider.sync``) changes this module alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bitrix24_provider.staging.database import Database
from bitrix24_provider.staging.get_all_job import GetAllJob, GetAllSpec, RunInfo
from bitrix24_provider.staging.identifiers import TableName
from bitrix24_provider.staging.sync_state import TaskKey

from .entity import Bitrix24Entity
from .session import PortalSession

__all__ = ["LoadColumn", "LoadIdentity", "LoadOutcome", "run_entity_load"]


@dataclass(frozen=True)
class LoadIdentity:
    """Who runs the load: resume checkpoints are kept per (pipeline, run, step).

    :param run_id: the root run id, so that a re-execution finds the checkpoints of the run it
        re-executes.
    :param try_number: 1 for a first attempt; above 1 for a step retry or a re-execution (only those
        resume).
    """

    orchestrator: str
    pipeline: str
    run_id: str
    step: str
    try_number: int = 1


@dataclass(frozen=True)
class LoadColumn:
    name: str
    type: str
    title: str | None = None


@dataclass(frozen=True)
class LoadOutcome:
    rows: int
    rows_read: int
    pages: int
    requests: int
    max_cursor: str | None
    target: str
    mode: str
    resumed: bool
    watermark: str | None
    incremental_from: str | None
    incremental_to: str | None
    already_committed: bool
    columns: tuple[LoadColumn, ...]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def target_of(entity: Bitrix24Entity, schema: str | None) -> TableName:
    return TableName.checked(entity.table, schema)


def run_entity_load(
    entity: Bitrix24Entity,
    session: PortalSession,
    db: Database,
    schema: str | None,
    identity: LoadIdentity,
    data_interval: tuple[datetime, datetime] | None = None,
    progress_interval: float | None = None,
) -> LoadOutcome:
    """Load *entity* into ``schema.table`` of *db*; raises the load's typed error (the target is then
    as before)."""
    target = target_of(entity, schema)
    spec = GetAllSpec(
        method=entity.method,
        request_params=entity.request_params,
        select=list(entity.select) if entity.select is not None else None,
        filter=entity.filter,
        target=target,
        write_disposition=entity.write_disposition,  # type: ignore[arg-type]
        primary_key=entity.key,
        cursor_field=entity.cursor_field,
        lag=timedelta(seconds=entity.lag),
        use_data_interval=data_interval is not None and entity.cursor_field is not None,
        chunk_rows=entity.chunk_rows,
        column_policy=entity.column_policy,  # type: ignore[arg-type]
    )
    if progress_interval is not None:
        spec.progress_interval = progress_interval
    run = RunInfo(
        task=TaskKey(f"{identity.orchestrator}:{identity.pipeline}", identity.run_id, identity.step),
        try_number=identity.try_number,
        more_tries=True,  # a failed run can always be re-executed: keep what it staged
        data_interval=data_interval,
    )
    summary = GetAllJob(spec, session, run, db).execute()
    return LoadOutcome(
        rows=int(summary["rows"]),
        rows_read=int(summary.get("rows_read") or 0),
        pages=int(summary.get("pages") or 0),
        requests=int(summary.get("requests") or 0),
        max_cursor=_text(summary.get("max_cursor")),
        target=str(summary["target"]),
        mode=str(summary["mode"]),
        resumed=bool(summary.get("resumed")),
        watermark=_text(summary.get("watermark")),
        incremental_from=_text(summary.get("incremental_from")),
        incremental_to=_text(summary.get("incremental_to")),
        already_committed=bool(summary.get("already_committed")),
        columns=table_columns(db, target),
    )


def table_columns(db: Database, target: TableName) -> tuple[LoadColumn, ...]:
    """The target's columns as the load typed them from the ``.fields`` answer."""
    with db.engine.connect() as conn:
        if not db.exists(conn, target):
            return ()
        columns = sa.inspect(conn).get_columns(target.name, schema=target.schema)
        dialect = conn.dialect
    return tuple(LoadColumn(str(c["name"]), str(c["type"].compile(dialect=dialect))) for c in columns)
