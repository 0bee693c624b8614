"""One run of ``Bitrix24GetAllOperator``: resolve the request, describe the method's fields and check
the names it uses, pick the destination, resume or start, export, publish and summarise. No Airflow
imports: the operator passes in what the task context holds.

Nothing is written before the ``.fields`` answer is in and every field name, the target's key columns
and (for a ``replace`` with an explicit select) its columns are checked: a failure there leaves the
target and the database (state, resume and staging tables) untouched, with no list request sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..client.encoding import encode_params
from ..client.errors import BitrixError
from ..client.families import family_of
from .checkpoint import Checkpoint, TableCheckpoint, TaskStateCheckpoint, fingerprint
from .columns import request_name
from .database import Database
from .description import (
    ColumnTypes,
    FieldsDescription,
    describe,
    described_columns,
    required_fields_call,
    selected_rows,
)
from .errors import StagingConfigError
from .export import (
    DEFAULT_CHUNK_ROWS,
    ExportRequest,
    ExportResult,
    can_resume_by_id,
    portal_time,
    run_export,
)
from .failures import is_operating_block, is_permanent
from .field_names import check_names
from .file_sink import FileSink
from .frame_sink import FrameSink
from .identifiers import TableName
from .incremental import Bounds, CursorField, apply_bounds, format_time, interval_wait, resolve_bounds
from .progress_log import DEFAULT_INTERVAL
from .sink import ColumnPolicy, Finished, Progress, Sink
from .sql_sink import SqlSink, WriteDisposition
from .sync_state import ResumeTable, StateKey, TaskKey

log = logging.getLogger(__name__)


@dataclass
class GetAllSpec:
    """The operator's arguments after templating (see ``Bitrix24GetAllOperator``)."""

    method: str
    request_params: Mapping[str, Any] | None = None
    select: Sequence[str] | None = None
    filter: Mapping[str, Any] | None = None
    target: TableName | None = None
    output_path: str | None = None
    df_callable: Callable[[Any], Any] | None = None
    write_disposition: WriteDisposition = "replace"
    primary_key: tuple[str, ...] = ()
    cursor_field: str | None = None
    lag: timedelta = timedelta(0)
    use_data_interval: bool = False
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    column_policy: ColumnPolicy = "add"
    resumable: bool = True
    #: ``fields``: types from the method's ``.fields`` call (which must succeed) and names checked
    #: against it; ``values``: no ``.fields`` call, types from the values, names not checked
    column_types: ColumnTypes = "fields"
    allow_column_drop: bool = False
    #: seconds between progress lines (and at least every tenth of the estimated rows)
    progress_interval: float = DEFAULT_INTERVAL

    @property
    def cursor(self) -> CursorField | None:
        return CursorField.for_method(self.method, self.cursor_field) if self.cursor_field else None

    @property
    def destination(self) -> str:
        if self.target is not None:
            return self.target.label
        return self.output_path or "df_callable"


@dataclass
class RunInfo:
    """What the task context says about this try.

    :param more_tries: whether Airflow will retry this task if the try fails.
    :param state_store: ``context["task_state_store"]`` (Airflow 3.3+), else None.
    """

    task: TaskKey
    try_number: int = 1
    more_tries: bool = False
    state_store: Any = None
    data_interval: tuple[datetime | None, datetime | None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def build_params(spec: GetAllSpec) -> dict[str, Any]:
    """The list method's parameters from ``request_params``, ``select`` and ``filter``; an explicit
    select also gets the cursor field and the primary key. Parameters the client cannot encode are a
    :class:`StagingConfigError`."""
    params = dict(spec.request_params or {})
    if "start" in params:
        raise StagingConfigError("request_params must not contain 'start': the export pages by itself")
    if spec.select is not None:
        if isinstance(spec.select, (str, bytes)) or not all(isinstance(s, str) for s in spec.select):
            raise StagingConfigError(f"select must be a list of field names, got {spec.select!r}")
        params["select"] = list(spec.select)
    if spec.filter is not None:
        if not isinstance(spec.filter, Mapping):
            raise StagingConfigError(f"filter must be a mapping, got {type(spec.filter).__name__}")
        params["filter"] = {**dict(params.get("filter") or {}), **dict(spec.filter)}
    select = params.get("select")
    if select and not any("*" in str(s) for s in select):
        family = family_of(spec.method)
        wanted = [request_name(family, k) for k in spec.primary_key]
        if spec.cursor is not None:
            wanted.append(spec.cursor.request)
        params["select"] = [*select, *(w for w in wanted if w not in select)]
    try:
        encode_params(params)  # what the client would refuse at the first request, refused here
    except (TypeError, ValueError) as error:
        raise StagingConfigError(f"{spec.method}: the parameters cannot be sent: {error}") from error
    return params


def _fingerprint(spec: GetAllSpec, params: Mapping[str, Any], run: RunInfo, sql_conn_id: str | None) -> str:
    return fingerprint(
        {
            "method": spec.method,
            "params": params,
            "destination": spec.destination,
            "sql_conn_id": sql_conn_id,
            "write_disposition": spec.write_disposition,
            "primary_key": list(spec.primary_key),
            "cursor_field": spec.cursor_field,
            "lag": spec.lag.total_seconds(),
            "use_data_interval": spec.use_data_interval,
            "data_interval": [str(v) for v in run.data_interval] if run.data_interval else None,
            "column_policy": spec.column_policy,
            "column_types": spec.column_types,
        }
    )


def _summary(
    spec: GetAllSpec, result: ExportResult, client: Any, bounds: Bounds | None, resumable: bool
) -> dict[str, Any]:
    stats = getattr(client, "stats", None)
    summary: dict[str, Any] = {
        "rows": result.finished.rows,
        "rows_read": result.progress.rows_read,
        "pages": result.progress.pages,
        "requests": int(getattr(stats, "http_requests", 0) or 0),
        "max_cursor": result.progress.max_cursor,
        "target": result.finished.target,
        "mode": spec.write_disposition,
        "resumed": result.resumed,
        "resumable": resumable,
    }
    if bounds is not None and spec.cursor_field:
        summary["incremental_from"] = bounds.lower
        summary["incremental_to"] = bounds.upper
        if result.finished.high_water is not None:
            summary["watermark"] = result.finished.high_water
    if result.finished.columns_added:
        summary["columns_added"] = result.finished.columns_added
    if result.finished.columns_ignored:
        summary["columns_ignored"] = result.finished.columns_ignored
    if result.already_committed:
        summary["already_committed"] = True
    return summary


def _await_interval_end(client: Any, bounds: Bounds, started_at: str) -> str:
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


def _retry_after(hook: Any, client: Any) -> float | None:
    """Seconds until every blocked method of the client may run again (None when unknown)."""
    try:
        state = hook.export_throttle_state()
        now = float(client.aio.clock.time())
        scale = float(client.aio.settings.time_scale) or 1.0
    except Exception:
        return None
    until = 0.0
    for data in (state.get("budget", {}).get("methods") or {}).values():
        for key in ("blocked_until", "reset_at"):
            value = data.get(key)
            if isinstance(value, (int, float)):
                until = max(until, float(value))
    return max(0.0, (until - now) / scale) if until else None


class GetAllJob:
    """:param hook: a ``Bitrix24Hook`` (``get_client``, ``export_throttle_state``,
        ``restore_throttle_state``).
    :param db: the target database (SQL destinations).
    """

    def __init__(
        self,
        spec: GetAllSpec,
        hook: Any,
        run: RunInfo,
        db: Database | None = None,
        sql_conn_id: str | None = None,
    ) -> None:
        self.spec = spec
        self.hook = hook
        self.run = run
        self.db = db
        self.sql_conn_id = sql_conn_id

    def execute(self) -> dict[str, Any]:
        spec, run = self.spec, self.run
        params = build_params(spec)
        described = spec.column_types == "fields"
        if described:
            required_fields_call(spec.method, params)  # before the client sends anything
        client = self.hook.get_client()
        description = describe(client, spec.method, params) if described else None
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
        kinds = description.kinds if description is not None else {}
        if spec.target is not None:
            return self._to_sql(client, params, description, started_at)
        bounds = None
        if spec.cursor is not None:
            bounds = resolve_bounds(None, spec.lag, run.data_interval if spec.use_data_interval else None)
            started_at = _await_interval_end(client, bounds, started_at)
            params = {**params, "filter": apply_bounds(params.get("filter"), spec.cursor, bounds)}
        sink: Sink
        if spec.output_path is not None:
            sink = FileSink(spec.output_path, kinds, spec.column_policy)
        else:
            assert spec.df_callable is not None
            sink = FrameSink(spec.df_callable, kinds, spec.column_policy)
        request = ExportRequest(
            spec.method,
            params,
            spec.primary_key,
            spec.cursor,
            spec.chunk_rows,
            started_at=started_at,
            progress_interval=spec.progress_interval,
        )
        try:
            result = run_export(client, request, sink)
        except BaseException:
            sink.abort(keep=False)
            raise
        return _summary(spec, result, client, bounds, resumable=False)

    # -- SQL --------------------------------------------------------------------------------

    def _checkpoint(self, db: Database, target: TableName) -> Checkpoint:
        if self.run.state_store is not None:
            return TaskStateCheckpoint(self.run.state_store)
        return TableCheckpoint(ResumeTable(db, target.schema), self.run.task)

    def _to_sql(
        self,
        client: Any,
        params: dict[str, Any],
        description: FieldsDescription | None,
        started_at: str,
    ) -> dict[str, Any]:
        spec, run, db = self.spec, self.run, self.db
        assert db is not None and spec.target is not None
        resumable = spec.resumable and can_resume_by_id(spec.method, params)
        checkpoint = self._checkpoint(db, spec.target) if resumable else None
        cursor = spec.cursor
        sink = SqlSink(
            db,
            spec.target,
            disposition=spec.write_disposition,
            key=spec.primary_key,
            column_policy=spec.column_policy,
            kinds=description.kinds if description is not None else {},
            state_key=StateKey(spec.target.label, spec.method, cursor.request if cursor else ""),
            cursor_column=cursor.response if cursor else None,
            fallback_columns=described_columns(description, params.get("select"), spec.method),
            checkpoint=checkpoint,
            allow_column_drop=spec.allow_column_drop,
        )
        sink.check_target(selected_rows(description, params.get("select"), spec.method))
        fp = _fingerprint(spec, params, run, self.sql_conn_id)
        previous = checkpoint.load() if checkpoint is not None else None
        resume: dict[str, Any] | None = None
        if previous is not None:
            assert checkpoint is not None
            if previous.get("fingerprint") == fp:
                load_id = previous.get("load_id")
                committed = sink.committed_load(str(load_id)) if load_id else None
                if committed is not None:
                    log.info("The previous try already committed load %s; nothing to do", load_id)
                    checkpoint.clear(None)
                    return self._committed_summary(previous, committed.rows, client)
                # a checkpoint without id ranges (the method fell back to offset paging) cannot resume
                if run.try_number > 1 and previous.get("ranges") is not None and sink.start(previous):
                    resume = previous
            if resume is None:
                staging = previous.get("staging") or "none"
                log.info("Discarding the checkpoint of an earlier try (staging %s)", staging)
                sink.drop_stale(previous)
                checkpoint.clear(None)
        if resume is None:
            sink.start(None)
        if resume is not None:
            params = dict(resume.get("params") or params)
            throttle = resume.get("throttle")
            if isinstance(throttle, Mapping):
                try:
                    self.hook.restore_throttle_state(throttle)
                except (ValueError, KeyError, TypeError) as error:
                    log.warning("Ignoring an unusable throttle state from the previous try: %s", error)
            bounds = Bounds(None, None, "resume")
            if cursor is not None:
                flt = params.get("filter") or {}
                bounds = Bounds(flt.get(f">={cursor.request}"), flt.get(f"<{cursor.request}"), "resume")
        else:
            bounds = Bounds(None, None, "full")
            if cursor is not None:
                interval = run.data_interval if spec.use_data_interval else None
                bounds = resolve_bounds(sink.read_high_water(), spec.lag, interval)
                started_at = _await_interval_end(client, bounds, started_at)
                params = {**params, "filter": apply_bounds(params.get("filter"), cursor, bounds)}
                log.info("Incremental %s: %s", spec.method, bounds.describe(cursor.request))
        request = ExportRequest(
            spec.method,
            params,
            spec.primary_key,
            cursor,
            spec.chunk_rows,
            resumable=resumable,
            fingerprint=fp,
            started_at=started_at,
            progress_interval=spec.progress_interval,
        )
        try:
            result = run_export(
                client,
                request,
                sink,
                resume=resume,
                throttle_state=self._throttle_state if resumable else None,
            )
        except BaseException as error:
            keep = resumable and run.more_tries and not is_permanent(error)
            if is_operating_block(error):
                seconds = _retry_after(self.hook, client)
                if seconds is not None:  # the retry policy reads it
                    error.retry_after = seconds  # type: ignore[attr-defined]
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
        return _summary(spec, result, client, bounds, resumable)

    def _throttle_state(self) -> Any:
        for _ in range(3):
            try:
                return self.hook.export_throttle_state()
            except RuntimeError:  # a dict changed size while the client's thread updated it
                continue
            except BitrixError:
                return None
        return None

    def _committed_summary(
        self, checkpoint: Mapping[str, Any], rows: int | None, client: Any
    ) -> dict[str, Any]:
        progress = Progress.from_dict(checkpoint)
        result = ExportResult(
            Finished(rows=rows if rows is not None else progress.rows_read, target=self.spec.destination),
            progress,
            already_committed=True,
        )
        return _summary(self.spec, result, client, None, True)
