"""One load from start to summary: :func:`run_load`.

Check the spec against the destination, describe the method's fields and check the names it uses,
resume or start, export, publish and summarise. No orchestrator code: the adapter passes in the
spec, a :class:`~.portal.Portal`, a destination and the run's identity.

Nothing is written before the ``.fields`` answer is in and every field name, the target's key columns
and (for a ``replace`` with an explicit select) its columns are checked: a failure there leaves the
target and the database (state, resume and staging tables) untouched, with no list request sent.
"""

from __future__ import annotations

import logging
import time
from dataclasses import fields
from typing import Any

from ..client.sync_client import Bitrix
from ..staging.errors import StagingConfigError
from ..staging.file_sink import FileSink
from ..staging.frame_sink import FrameSink
from ..staging.sink import Finished, Sink
from ..staging.sql_sink import SqlSink
from ..staging.sync_state import ResumeTable, StateKey
from ..staging.watermark import format_time
from .description import FieldsDescription, describe, described_columns, selected_rows
from .destinations import Destination, FileDestination, FrameDestination, SqlDestination
from .export import ExportRequest, ExportResult, can_resume_by_id, portal_time, run_export
from .failures import is_permanent
from .field_names import check_names
from .incremental import Bounds, apply_bounds, interval_wait, resolve_bounds
from .portal import Portal
from .resume import (
    ResumePoint,
    ResumeRecorder,
    ResumeStore,
    StaleResumePoint,
    StateStore,
    TableCheckpoint,
    TaskStateCheckpoint,
    fingerprint,
)
from .run import LoadRun
from .spec import LoadSpec
from .summary import LoadSummary, SummaryColumn

__all__ = ["check_destination", "check_target", "run_load"]

log = logging.getLogger(__name__)

#: spec fields that do not change what a load writes (a retry may change them and still resume)
_NOT_FINGERPRINTED = frozenset(
    {"chunk_rows", "resumable", "allow_column_drop", "progress_interval", "_params"}
)


def check_destination(spec: LoadSpec, destination: Destination) -> None:
    """What *spec* cannot do with *destination*, as a :class:`StagingConfigError` (before any request)."""
    if not isinstance(destination, (SqlDestination, FileDestination, FrameDestination)):
        raise StagingConfigError(
            f"destination must be a SqlDestination, FileDestination or FrameDestination, got "
            f"{type(destination).__name__}"
        )
    check_target(spec, isinstance(destination, SqlDestination))


def check_target(spec: LoadSpec, to_sql: bool) -> None:
    """What *spec* cannot do with a SQL target (*to_sql*) or a file/DataFrame one."""
    if not to_sql and spec.write_disposition != "replace":
        raise StagingConfigError(
            f"write_disposition={spec.write_disposition!r} needs a SQL target; files and df_callable "
            "are always written whole (replace)"
        )
    if spec.cursor_field is not None:
        if to_sql and spec.write_disposition == "replace":
            raise StagingConfigError(
                "cursor_field (an incremental export) needs write_disposition 'merge' or 'append'; "
                "'replace' would replace the table with the changed rows only"
            )
        if not to_sql and not spec.use_data_interval:
            raise StagingConfigError(
                "cursor_field without a SQL target needs use_data_interval=True (the watermark is "
                "stored in the target database)"
            )
    if spec.allow_column_drop and (not to_sql or spec.write_disposition != "replace"):
        raise StagingConfigError("allow_column_drop=True needs a SQL target with write_disposition='replace'")


def run_load(spec: LoadSpec, portal: Portal, destination: Destination, run: LoadRun) -> LoadSummary:
    """Load every row of ``spec.method`` into *destination*; see the module's text."""
    check_destination(spec, destination)
    params = spec.params
    client = portal.client()
    description = describe(client, spec.method, params) if spec.column_types == "fields" else None
    # the moment the export began, on the portal's clock: the time block of its first answer
    started_at = format_time(description.answered_at) if description is not None else portal_time(client)
    if description is not None:
        check_names(
            description,
            call_params=spec.request_params,
            select=spec.select,
            filter=spec.filter,
            cursor_field=spec.cursor_field,
            primary_key=spec.primary_key,
        )
    if isinstance(destination, SqlDestination):
        return _SqlLoad(spec, portal, destination, run, description).run(params, started_at)
    bounds = None
    cursor = spec.cursor
    if cursor is not None:
        bounds = resolve_bounds(None, spec.lag, run.data_interval if spec.use_data_interval else None)
        started_at = _await_interval_end(client, bounds, started_at)
        params = {**params, "filter": apply_bounds(params.get("filter"), cursor, bounds)}
    kinds = description.kinds if description is not None else {}
    sink: Sink
    if isinstance(destination, FileDestination):
        sink = FileSink(destination.path, kinds, spec.column_policy)
    else:
        sink = FrameSink(destination.callback, kinds, spec.column_policy)
    request = _request(spec, params, bounds, started_at)
    try:
        result = run_export(client, request, sink)
    except BaseException:
        sink.abort(keep=False)
        raise
    return _summary(spec, result, client, bounds, False, description)


def _request(
    spec: LoadSpec,
    params: dict[str, Any],
    bounds: Bounds | None,
    started_at: str,
    resumable: bool = False,
    fp: str = "",
) -> ExportRequest:
    return ExportRequest(
        spec.method,
        params,
        spec.primary_key,
        spec.cursor,
        bounds,
        spec.chunk_rows,
        resumable=resumable,
        fingerprint=fp,
        started_at=started_at,
        progress_interval=spec.progress_interval,
    )


def _fingerprint(spec: LoadSpec, destination: SqlDestination, run: LoadRun) -> str:
    parts: dict[str, Any] = {
        f.name: getattr(spec, f.name) for f in fields(spec) if f.name not in _NOT_FINGERPRINTED
    }
    parts["lag"] = spec.lag.total_seconds()
    parts["params"] = spec.params
    parts["destination"] = destination.label
    parts["sql_conn_id"] = destination.connection_id
    parts["data_interval"] = [str(v) for v in run.data_interval] if run.data_interval else None
    return fingerprint(parts)


def _summary(
    spec: LoadSpec,
    result: ExportResult,
    client: Bitrix,
    bounds: Bounds | None,
    resumable: bool,
    description: FieldsDescription | None,
) -> LoadSummary:
    finished = result.finished
    incremental = bounds is not None and spec.cursor_field is not None
    return LoadSummary(
        rows=finished.rows,
        rows_read=result.progress.rows_read,
        pages=result.progress.pages,
        requests=int(client.stats.http_requests),
        max_cursor=result.progress.max_cursor,
        target=finished.target,
        mode=spec.write_disposition,
        resumed=result.resumed,
        resumable=resumable,
        incremental_from=bounds.lower if incremental and bounds is not None else None,
        incremental_to=bounds.upper if incremental and bounds is not None else None,
        watermark=finished.high_water if incremental else None,
        columns_added=tuple(finished.columns_added),
        columns_ignored=tuple(finished.columns_ignored),
        already_committed=result.already_committed,
        columns=_columns(description, finished),
        incremental=incremental,
    )


def _columns(description: FieldsDescription | None, finished: Finished) -> tuple[SummaryColumn, ...]:
    if description is None:
        return ()
    return tuple(
        SummaryColumn(c.name, description.types.get(c.name) or c.kind, description.titles.get(c.name, c.name))
        for c in finished.columns
    )


def _await_interval_end(client: Bitrix, bounds: Bounds, started_at: str) -> str:
    """Wait (on the client's clock) until the portal's time reaches the end of the data interval, so
    no edit before its end can appear after the export began; returns the new start time."""
    seconds = interval_wait(bounds, started_at)
    if seconds <= 0:
        return started_at
    log.info(
        "Waiting %.0f s for the portal's clock to reach the end of the interval %s", seconds, bounds.upper
    )
    time.sleep(seconds / float(client.aio.clock.time_scale))
    assert bounds.upper is not None
    return bounds.upper


class _SqlLoad:
    """A load into a SQL table: staging table, resume point, atomic publish with the watermark."""

    def __init__(
        self,
        spec: LoadSpec,
        portal: Portal,
        destination: SqlDestination,
        run: LoadRun,
        description: FieldsDescription | None,
    ) -> None:
        self.spec = spec
        self.portal = portal
        self.client = portal.client()
        self.destination = destination
        self.run_info = run
        self.description = description

    def _store(self) -> ResumeStore:
        store = self.run_info.state_store
        if store is None:
            table = ResumeTable(self.destination.database, self.destination.table.schema)
            return TableCheckpoint(table, self.run_info.identity.key)
        if not isinstance(store, StateStore):
            raise StagingConfigError(
                f"state_store must have get, set and delete (a task state store), got {type(store).__name__}"
            )
        return TaskStateCheckpoint(store)

    def run(self, params: dict[str, Any], started_at: str) -> LoadSummary:
        spec, run, dest, description = self.spec, self.run_info, self.destination, self.description
        resumable = spec.resumable and can_resume_by_id(spec.method, params)
        store = self._store() if resumable else None
        fp = _fingerprint(spec, dest, run)
        recorder = ResumeRecorder(store, fp, self.portal.throttle_state) if store is not None else None
        cursor = spec.cursor
        select = params.get("select")
        sink = SqlSink(
            dest.database,
            dest.table,
            disposition=spec.write_disposition,
            key=spec.primary_key,
            column_policy=spec.column_policy,
            kinds=description.kinds if description is not None else {},
            state_key=StateKey(dest.label, spec.method, cursor.request if cursor else ""),
            cursor_column=cursor.response if cursor else None,
            fallback_columns=described_columns(description, select, spec.method),
            checkpoint=recorder,
            allow_column_drop=spec.allow_column_drop,
        )
        sink.check_target(selected_rows(description, select, spec.method))
        resume: ResumePoint | None = None
        if store is not None:
            found = self._previous(store, sink, fp)
            if isinstance(found, LoadSummary):
                return found
            resume = found
        if resume is None:
            sink.start(None)
            bounds = Bounds(None, None, "full")
            if cursor is not None:
                interval = run.data_interval if spec.use_data_interval else None
                bounds = resolve_bounds(sink.read_high_water(), spec.lag, interval)
                started_at = _await_interval_end(self.client, bounds, started_at)
                params = {**params, "filter": apply_bounds(params.get("filter"), cursor, bounds)}
                log.info("Incremental %s: %s", spec.method, bounds.describe(cursor.request))
        else:
            params = dict(resume.params)
            if resume.throttle is not None:
                try:
                    self.portal.restore_throttle_state(resume.throttle)
                except (ValueError, KeyError, TypeError) as error:
                    log.warning("Ignoring an unusable throttle state from the previous try: %s", error)
            bounds = resume.bounds or Bounds(None, None, "resume")
        request = _request(spec, params, bounds if cursor is not None else None, started_at, resumable, fp)
        try:
            result = run_export(self.client, request, sink, resume=resume, recorder=recorder)
        except BaseException as error:
            keep = resumable and run.identity.more_tries and not is_permanent(error)
            try:
                sink.abort(keep=keep)
            except Exception:
                log.exception("Could not drop the staging table of the failed export")
            if keep:
                log.warning(
                    "Export failed; the staging table and checkpoint are kept for the next try (%s)",
                    type(error).__name__,
                )
            raise
        return _summary(spec, result, self.client, bounds, resumable, description)

    def _previous(self, store: ResumeStore, sink: SqlSink, fp: str) -> ResumePoint | LoadSummary | None:
        """The resume point to continue from (its staging table picked), a summary when the earlier
        try had already committed this load, or None (stale points discarded, their tables dropped)."""
        try:
            previous = store.load()
        except StaleResumePoint as stale:
            log.info("Discarding an unusable checkpoint of an earlier try: %s", stale)
            if stale.staging:
                sink.drop_stale(stale.staging)
            store.clear(None)
            return None
        if previous is None:
            return None
        position = previous.position
        if previous.fingerprint == fp and position is not None:
            committed = sink.committed_load(position.load_id) if position.load_id else None
            if committed is not None:
                log.info("The previous try already committed load %s; nothing to do", position.load_id)
                store.clear(None)
                return self._committed(previous, committed.rows)
            # a resume point without id ranges (the method fell back to offset paging) cannot resume
            if (
                self.run_info.identity.try_number > 1
                and previous.progress.ranges is not None
                and sink.start(position)
            ):
                return previous
        log.info(
            "Discarding the checkpoint of an earlier try (staging %s)",
            position.staging if position is not None else "none",
        )
        if position is not None:
            sink.drop_stale(position.staging)
        store.clear(None)
        return None

    def _committed(self, point: ResumePoint, rows: int | None) -> LoadSummary:
        progress = point.progress
        finished = Finished(
            rows=rows if rows is not None else progress.rows_read, target=self.destination.label
        )
        result = ExportResult(finished, progress, already_committed=True)
        return _summary(self.spec, result, self.client, None, True, None)
