"""One step of the Bitrix24 assets: load every selected entity in turn, each into its table, and
report a ``MaterializeResult`` with its checks (export complete, primary key unique).

Resume: a step's checkpoints are keyed by the job, the ROOT run id and the asset key, so a
re-execution of a failed run (``Re-execute from failure``) continues each export after its last
committed chunk; a new run starts afresh (and drops what an earlier one staged for the same key).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import dagster as dg
import sqlalchemy as sa

from bitrix24_provider.client.redact import scrub
from bitrix24_provider.staging.database import Database
from bitrix24_provider.staging.identifiers import TableName, quote
from bitrix24_provider.sync import LoadSummary, RunIdentity
from bitrix24_provider.sync.progress_log import count

from .entity import Bitrix24Entity
from .load import run_entity_load, target_of
from .translator import ENTITY_METADATA

if TYPE_CHECKING:
    from .resources import Bitrix24Destination, Bitrix24Resource

__all__ = ["CHECK_COMPLETE", "CHECK_UNIQUE", "check_specs", "load_selected"]

CHECK_COMPLETE = "export_complete"
CHECK_UNIQUE = "primary_key_unique"

#: the package's loggers whose lines (progress, resume, incremental bounds) go to the event log
_LOGGER = "bitrix24_provider"


def check_specs(entity: Bitrix24Entity, key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    specs = [
        dg.AssetCheckSpec(
            CHECK_COMPLETE, asset=key, description="Every row the portal listed reached the table"
        )
    ]
    if entity.key:
        specs.append(
            dg.AssetCheckSpec(
                CHECK_UNIQUE, asset=key, description=f"No two rows share {', '.join(entity.key)}"
            )
        )
    return specs


class _EventLogHandler(logging.Handler):
    """Forwards the package's log records to ``context.log`` (scrubbed of secret-shaped text)."""

    def __init__(self, context: dg.AssetExecutionContext) -> None:
        super().__init__(logging.INFO)
        self.context = context
        self.lock_ = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = scrub(record.getMessage())
            with self.lock_:
                self.context.log.log(record.levelno, message)
        except Exception:
            self.handleError(record)


@contextmanager
def forward_logs(context: dg.AssetExecutionContext) -> Iterator[None]:
    logger = logging.getLogger(_LOGGER)
    handler = _EventLogHandler(context)
    level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def entity_of(context: dg.AssetExecutionContext, key: dg.AssetKey) -> Bitrix24Entity:
    spec = context.assets_def.specs_by_key[key]
    return Bitrix24Entity.from_json(str(spec.metadata[ENTITY_METADATA]))


def identity_of(context: dg.AssetExecutionContext, key: dg.AssetKey) -> RunIdentity:
    """The root run id, so that a re-execution continues the checkpoints of the run it re-executes;
    a failed step always keeps what it staged (a run can be re-executed at any time)."""
    run = context.run
    reexecution = run.parent_run_id is not None
    return RunIdentity(
        orchestrator="dagster",
        pipeline=context.job_name,
        run_id=run.root_run_id or run.run_id,
        step=key.to_user_string(),
        try_number=context.retry_number + (2 if reexecution else 1),
        more_tries=True,
    )


def _data_interval(context: dg.AssetExecutionContext) -> tuple[datetime, datetime] | None:
    if not context.has_partition_key:
        return None
    try:
        window = context.partition_time_window
    except Exception:  # not a time-window partition
        return None
    return (window.start, window.end)


def _scalar(db: Database, sql: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar() or 0)


def _checks(
    db: Database, target: TableName, entity: Bitrix24Entity, key: dg.AssetKey, summary: LoadSummary
) -> tuple[int, list[dg.AssetCheckResult]]:
    table_rows = _scalar(db, f"SELECT COUNT(*) FROM {target.sql}")
    whole = summary.mode == "replace"
    complete = summary.rows_read >= summary.rows and (not whole or table_rows == summary.rows)
    results = [
        dg.AssetCheckResult(
            asset_key=key,
            check_name=CHECK_COMPLETE,
            passed=complete,
            metadata={"rows_read": summary.rows_read, "rows_loaded": summary.rows, "table_rows": table_rows},
        )
    ]
    if entity.key:
        columns = ", ".join(quote(c) for c in entity.key)
        duplicates = _scalar(
            db,
            f"SELECT COUNT(*) FROM (SELECT {columns} FROM {target.sql} GROUP BY {columns} "
            "HAVING COUNT(*) > 1) AS d",
        )
        results.append(
            dg.AssetCheckResult(
                asset_key=key,
                check_name=CHECK_UNIQUE,
                passed=duplicates == 0,
                metadata={"duplicated_keys": duplicates},
            )
        )
    return table_rows, results


def _check_key(key: dg.AssetKey, result: dg.AssetCheckResult) -> dg.AssetCheckKey:
    return dg.AssetCheckKey(key, str(result.check_name))


def _metadata(summary: LoadSummary, table_rows: int) -> dict[str, Any]:
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn(c.name, c.type, description=c.title if c.title != c.name else None)
            for c in summary.columns
        ]
    )
    metadata: dict[str, Any] = {
        # the keys of Dagster's TableMetadataSet (not exported by every version)
        "dagster/row_count": dg.MetadataValue.int(table_rows),
        "dagster/table_name": dg.MetadataValue.text(summary.target),
        "dagster/column_schema": dg.MetadataValue.table_schema(schema),
        "bitrix24/rows_loaded": summary.rows,
        "bitrix24/rows_read": summary.rows_read,
        "bitrix24/pages": summary.pages,
        "bitrix24/requests": summary.requests,
        "bitrix24/mode": summary.mode,
        "bitrix24/resumed": summary.resumed,
    }
    optional = {
        "bitrix24/max_cursor": summary.max_cursor,
        "bitrix24/watermark": summary.watermark,
        "bitrix24/incremental_from": summary.incremental_from,
        "bitrix24/incremental_to": summary.incremental_to,
    }
    metadata.update({k: v for k, v in optional.items() if v is not None})
    if summary.already_committed:
        metadata["bitrix24/already_committed"] = True
    if summary.deletions is not None:
        metadata["bitrix24/reconciled"] = summary.reconciled
        metadata["bitrix24/rows_marked_deleted"] = summary.rows_marked_deleted
        metadata["bitrix24/rows_restored"] = summary.rows_restored
        metadata["bitrix24/rows_hard_deleted"] = summary.rows_hard_deleted
    return metadata


def load_selected(
    context: dg.AssetExecutionContext, bitrix24: Bitrix24Resource, destination: Bitrix24Destination
) -> Iterator[dg.MaterializeResult[Any]]:
    """Load every selected asset of the step, one after another, through one client."""
    keys = [k for k in context.assets_def.keys if k in context.selected_asset_keys]
    entities = {key: entity_of(context, key) for key in keys}
    bitrix24.connection_config()  # a bad configuration fails before the database is opened
    db = destination.database()
    session = bitrix24.session(destination, db)
    wanted_checks = context.selected_asset_check_keys
    try:
        with forward_logs(context):
            for key in keys:
                entity = entities[key]
                target = target_of(entity, destination.schema)
                context.log.info("Loading %s (%s) into %s", key.to_user_string(), entity.method, target.label)
                summary = run_entity_load(
                    entity,
                    session,
                    db,
                    destination.schema,
                    identity_of(context, key),
                    _data_interval(context),
                )
                table_rows, checks = _checks(db, target, entity, key, summary)
                context.log.info(
                    "Loaded %s into %s (%s, %s read, %s requests%s)",
                    count(summary.rows, "rows"),
                    summary.target,
                    summary.mode,
                    count(summary.rows_read, "rows"),
                    summary.requests,
                    ", resumed" if summary.resumed else "",
                )
                yield dg.MaterializeResult(
                    asset_key=key,
                    metadata=_metadata(summary, table_rows),
                    check_results=[c for c in checks if _check_key(key, c) in wanted_checks],
                )
    finally:
        session.close()
        db.dispose()
