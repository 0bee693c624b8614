"""Operators that move Bitrix24 data: whole lists into SQL, files or DataFrames
(:class:`Bitrix24GetAllOperator`) and one method applied to many items (:class:`Bitrix24CallOperator`).

Both are thin: the export, staging, incremental state and resume logic lives in
:mod:`bitrix24_provider.staging`; the HTTP side in :mod:`bitrix24_provider.client`. Only small
summaries go to XCom, never rows and never the webhook.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from bitrix24_provider.client.encoding import batch_command
from bitrix24_provider.client.errors import BatchError
from bitrix24_provider.client.external_keys import ExternalKey
from bitrix24_provider.client.families import family_of
from bitrix24_provider.client.redact import scrub
from bitrix24_provider.client.writes import is_write
from bitrix24_provider.hooks.bitrix24 import Bitrix24Hook
from bitrix24_provider.operators.connections import bitrix24_client, database
from bitrix24_provider.operators.retry import default_retry_policy
from bitrix24_provider.staging.call_results import CallOutcomes, read_items, write_results
from bitrix24_provider.staging.database import Database
from bitrix24_provider.staging.description import COLUMN_TYPES, required_fields_call
from bitrix24_provider.staging.errors import StagingConfigError
from bitrix24_provider.staging.export import DEFAULT_CHUNK_ROWS
from bitrix24_provider.staging.file_sink import file_format
from bitrix24_provider.staging.get_all_job import GetAllJob, GetAllSpec, RunInfo
from bitrix24_provider.staging.identifiers import TableName, check_identifier
from bitrix24_provider.staging.sink import COLUMN_POLICIES
from bitrix24_provider.staging.sql_sink import WRITE_DISPOSITIONS
from bitrix24_provider.staging.sync_state import TaskKey

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["Bitrix24CallError", "Bitrix24CallOperator", "Bitrix24GetAllOperator", "Bitrix24WriteError"]


class _Default:
    """Marks an argument left to its documented default."""

    def __repr__(self) -> str:
        return "<default>"


DEFAULT: Any = _Default()


def _templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _family_key(method: Any) -> tuple[str, ...]:
    if not isinstance(method, str) or _templated(method):
        return ("ID",)
    return (family_of(method).response_id,)


def _as_key(value: Any, argument: str = "primary_key") -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise ValueError(f"{argument} must be a field name or a list of field names, got {value!r}")


def _as_lag(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        lag = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        lag = timedelta(seconds=value)
    else:
        raise ValueError(f"lag must be a timedelta or seconds, got {value!r}")
    if lag < timedelta(0):
        raise ValueError(f"lag must not be negative, got {value!r}")
    return lag


def _decode(value: Any, argument: str, kinds: tuple[type, ...]) -> Any:
    """A rendered template value: as is when of *kinds*, else parsed from JSON or a Python literal
    (templates render to strings unless the DAG renders native objects)."""
    if value is None or isinstance(value, kinds):
        return value
    if isinstance(value, str):
        for parse in (json.loads, ast.literal_eval):
            try:
                parsed = parse(value)
            except (ValueError, SyntaxError, TypeError):
                continue
            if isinstance(parsed, kinds):
                return parsed
    raise StagingConfigError(f"{argument} must be a {' or '.join(k.__name__ for k in kinds)}, got {value!r}")


def _run_info(context: Context, operator: BaseOperator) -> RunInfo:
    ti: Any = context.get("ti") or context.get("task_instance")
    try_number = int(getattr(ti, "try_number", 1) or 1)
    max_tries = getattr(ti, "max_tries", None)
    if not isinstance(max_tries, int):
        max_tries = int(operator.retries or 0)
    map_index = getattr(ti, "map_index", -1)
    task = TaskKey(
        dag_id=str(getattr(ti, "dag_id", None) or operator.dag_id or ""),
        run_id=str(getattr(ti, "run_id", None) or context.get("run_id") or ""),
        task_id=str(getattr(ti, "task_id", None) or operator.task_id),
        map_index=int(map_index) if isinstance(map_index, int) else -1,
    )
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    return RunInfo(
        task=task,
        try_number=try_number,
        more_tries=try_number <= max_tries,
        state_store=context.get("task_state_store"),
        data_interval=(start, end) if start is not None else None,
    )


def _with_retry_policy(kwargs: dict[str, Any], retry_policy: Any) -> dict[str, Any]:
    if retry_policy is DEFAULT:
        retry_policy = default_retry_policy()
        if retry_policy is None:  # Airflow < 3.3: BaseOperator has no retry_policy
            return kwargs
    return {**kwargs, "retry_policy": retry_policy}


class Bitrix24GetAllOperator(BaseOperator):
    """Export every row of a Bitrix24 list method into a SQL table, a Parquet/CSV file or DataFrames.

    Exactly one destination: ``sql_conn_id`` + ``target_table`` (any common-sql connection; tested on
    SQLite and PostgreSQL), ``output_path`` (``.parquet``/``.pq``/``.csv``/``.csv.gz``), or
    ``df_callable`` (called with typed DataFrame chunks of ``chunk_rows`` rows).

    SQL loads go through a staging table and are published in one transaction (``replace`` is an
    atomic swap; ``merge`` an upsert on ``primary_key``), together with the incremental watermark in
    ``_bitrix24_sync_state``. A failed or killed export never changes the target. Keyset-paged
    exports (``crm.deal.list``, ``crm.item.list``, ``tasks.task.list``...) are resumable: a retry of
    the same task continues in the staging table after the last committed id (progress is kept in
    ``task_state_store`` on Airflow 3.3+, else in ``_bitrix24_resume`` in the target database).

    :param method: the list method, e.g. ``crm.deal.list``, ``crm.item.list``, ``tasks.task.list``.
    :param call_params: further parameters of the list method, e.g. ``{"entityTypeId": 1032}`` or an
        ``order`` (templated; named so because ``params`` is reserved by Airflow operators).
    :param select: fields to return, e.g. ``["*", "UF_*"]`` (templated).
    :param filter: filter conditions (templated); the operator adds the cursor bounds itself.
    :param bitrix24_conn_id: the Bitrix24 connection (templated).
    :param sql_conn_id: a common-sql connection of the target database (templated).
    :param target_table: the target table, a simple identifier (templated).
    :param target_schema: its schema (PostgreSQL) or attached database (SQLite) (templated).
    :param output_path: a Parquet or CSV file, format by suffix, replaced atomically (templated).
    :param df_callable: called with each chunk as a :class:`pandas.DataFrame`.
    :param write_disposition: ``replace``, ``append`` or ``merge``; default ``merge`` for a SQL
        target with a ``cursor_field``, else ``replace``. Files and ``df_callable`` only ``replace``.
    :param primary_key: row field(s) identifying a record; default ``ID`` (``id`` for
        ``crm.item.list`` and ``tasks.task.list``); None: no key, no de-duplication.
    :param cursor_field: the incremental cursor (templated): ``DATE_MODIFY`` (classic CRM),
        ``updatedTime`` (``crm.item.list``), ``CHANGED_DATE`` (tasks; rows carry ``changedDate``).
    :param lag: overlap subtracted from the watermark (timedelta or seconds): edits whose transaction
        committed up to this long after their modification time are still read by the next run.
    :param use_data_interval: bound the cursor to the DAG run's data interval
        ``[start - lag, end)`` instead of the stored watermark.
    :param chunk_rows: rows per staging transaction / DataFrame chunk (2500 = one batch of 50 pages).
    :param column_policy: columns the target lacks: ``add``, ``ignore`` or ``fail``.
    :param column_types: ``fields`` (default): one ``crm.<entity>.fields`` call (``crm.item.fields``,
        ``tasks.task.getfields``, ``user.fields``) types the columns, and every name in ``select``,
        ``filter``/``order`` keys (also in ``call_params``), ``cursor_field`` and ``primary_key`` must
        be one of its fields (``UnknownFieldError``, before any list request); if the call fails the
        load fails with its error. ``values``: no ``.fields`` call, columns typed from their values,
        names not checked (methods without a known ``.fields`` method need it).
    :param allow_column_drop: let a ``replace`` leave out columns the target has (a narrower
        ``select``); otherwise that fails with ``ColumnDropError`` and the target stays as it was.
    :param client_kwargs: client arguments, see :class:`~bitrix24_provider.hooks.bitrix24.Bitrix24Hook`.
    :param resumable: checkpoint SQL exports for resuming on retry (per id range of the parallel chains).
    :param retry_policy: default :class:`~bitrix24_provider.operators.retry.Bitrix24RetryPolicy`
        (Airflow 3.3+).

    Returns (XCom) ``{"rows", "rows_read", "pages", "requests", "max_cursor", "target", "mode",
    "resumed", "resumable"}`` plus ``incremental_from``/``incremental_to`` and ``watermark`` (the
    stored high-water mark: the largest cursor loaded, never later than the export's start on the
    portal's clock) for incremental runs,
    ``columns_added``/``columns_ignored`` when columns changed and ``already_committed`` when an
    earlier try had published the load before it died. ``rows`` is what the destination received
    (after removing duplicates), ``rows_read``/``pages`` count all tries of a resumed export,
    ``requests`` the HTTP requests of this try.
    """

    template_fields: Sequence[str] = (
        "bitrix24_conn_id",
        "sql_conn_id",
        "method",
        "call_params",
        "select",
        "filter",
        "target_table",
        "target_schema",
        "output_path",
        "cursor_field",
    )
    template_fields_renderers = {"call_params": "json", "filter": "json", "select": "json"}
    ui_color = "#2fc6f6"

    def __init__(
        self,
        *,
        method: str,
        call_params: dict[str, Any] | str | None = None,
        select: list[str] | str | None = None,
        filter: dict[str, Any] | str | None = None,
        bitrix24_conn_id: str = Bitrix24Hook.default_conn_name,
        sql_conn_id: str | None = None,
        target_table: str | None = None,
        target_schema: str | None = None,
        output_path: str | None = None,
        df_callable: Callable[[Any], Any] | None = None,
        write_disposition: str | None = None,
        primary_key: str | Sequence[str] | None = DEFAULT,
        cursor_field: str | None = None,
        lag: timedelta | float = timedelta(seconds=5),
        use_data_interval: bool = False,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        column_policy: str = "add",
        client_kwargs: dict[str, Any] | None = None,
        resumable: bool = True,
        retry_policy: Any = DEFAULT,
        column_types: str = "fields",
        allow_column_drop: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**_with_retry_policy(kwargs, retry_policy))
        self.method = method
        self.call_params = call_params
        self.select = select
        self.filter = filter
        self.bitrix24_conn_id = bitrix24_conn_id
        self.sql_conn_id = sql_conn_id
        self.target_table = target_table
        self.target_schema = target_schema
        self.output_path = output_path
        self.df_callable = df_callable
        self.cursor_field = cursor_field
        self.lag = _as_lag(lag)
        self.use_data_interval = use_data_interval
        self.chunk_rows = chunk_rows
        self.column_policy = column_policy
        self.client_kwargs = client_kwargs
        self.resumable = resumable
        self.column_types = column_types
        self.allow_column_drop = allow_column_drop
        self._default_key = primary_key is DEFAULT
        self.primary_key = _family_key(method) if self._default_key else _as_key(primary_key)
        to_sql = sql_conn_id is not None or target_table is not None
        self.write_disposition = write_disposition or ("merge" if cursor_field and to_sql else "replace")
        self._validate()

    def _validate(self) -> None:
        """Argument checks that need no templating (DAG parse time); ValueError names the argument."""
        if not isinstance(self.method, str) or not self.method.strip():
            raise ValueError(f"method must be a Bitrix24 list method name, got {self.method!r}")
        to_sql = self.sql_conn_id is not None or self.target_table is not None
        chosen = [
            name
            for name, used in (
                ("sql_conn_id/target_table", to_sql),
                ("output_path", self.output_path is not None),
                ("df_callable", self.df_callable is not None),
            )
            if used
        ]
        if len(chosen) != 1:
            raise ValueError(
                "give exactly one destination: sql_conn_id + target_table, output_path or df_callable; "
                f"got {', '.join(chosen) or 'none'}"
            )
        if to_sql and (not self.sql_conn_id or not self.target_table):
            missing = "target_table" if self.sql_conn_id else "sql_conn_id"
            raise ValueError(
                f"{missing} is required with {'sql_conn_id' if self.sql_conn_id else 'target_table'}"
            )
        if self.target_schema is not None and not to_sql:
            raise ValueError("target_schema needs sql_conn_id + target_table")
        if to_sql and not _templated(self.target_table):
            check_identifier(self.target_table, "target_table")
        if self.target_schema and not _templated(self.target_schema):
            check_identifier(self.target_schema, "target_schema")
        if self.output_path is not None and not _templated(self.output_path):
            file_format(self.output_path)  # a StagingConfigError is a ValueError
        if self.df_callable is not None and not callable(self.df_callable):
            raise ValueError(f"df_callable must be callable, got {self.df_callable!r}")
        if self.write_disposition not in WRITE_DISPOSITIONS:
            raise ValueError(
                f"write_disposition must be one of {', '.join(WRITE_DISPOSITIONS)}, "
                f"got {self.write_disposition!r}"
            )
        if not to_sql and self.write_disposition != "replace":
            raise ValueError(
                f"write_disposition={self.write_disposition!r} needs a SQL target; files and df_callable "
                "are always written whole (replace)"
            )
        if self.write_disposition == "merge" and not self.primary_key:
            raise ValueError("write_disposition='merge' needs a primary_key")
        if self.cursor_field is not None:
            if not isinstance(self.cursor_field, str) or not self.cursor_field.strip():
                raise ValueError(f"cursor_field must be a field name, got {self.cursor_field!r}")
            if to_sql and self.write_disposition == "replace":
                raise ValueError(
                    "cursor_field (an incremental export) needs write_disposition 'merge' or 'append'; "
                    "'replace' would replace the table with the changed rows only"
                )
            if not to_sql and not self.use_data_interval:
                raise ValueError(
                    "cursor_field without a SQL target needs use_data_interval=True (the watermark is "
                    "stored in the target database)"
                )
        elif self.use_data_interval:
            raise ValueError("use_data_interval=True needs a cursor_field to bound")
        if isinstance(self.chunk_rows, bool) or not isinstance(self.chunk_rows, int) or self.chunk_rows < 1:
            raise ValueError(f"chunk_rows must be a positive integer, got {self.chunk_rows!r}")
        if self.column_policy not in COLUMN_POLICIES:
            raise ValueError(
                f"column_policy must be one of {', '.join(COLUMN_POLICIES)}, got {self.column_policy!r}"
            )
        if self.client_kwargs is not None and not isinstance(self.client_kwargs, Mapping):
            raise ValueError(f"client_kwargs must be a dict, got {type(self.client_kwargs).__name__}")
        if self.column_types not in COLUMN_TYPES:
            raise ValueError(
                f"column_types must be one of {', '.join(COLUMN_TYPES)}, got {self.column_types!r}"
            )
        if self.column_types == "fields" and not _templated(self.method):
            required_fields_call(self.method, {})  # a StagingConfigError is a ValueError
        if not isinstance(self.allow_column_drop, bool):
            raise ValueError(f"allow_column_drop must be True or False, got {self.allow_column_drop!r}")
        if self.allow_column_drop and (not to_sql or self.write_disposition != "replace"):
            raise ValueError("allow_column_drop=True needs a SQL target with write_disposition='replace'")

    def _spec(self) -> GetAllSpec:
        """The rendered arguments, checked again (templates may have produced anything)."""
        if not isinstance(self.method, str) or not self.method.strip():
            raise StagingConfigError(f"method must be a Bitrix24 list method name, got {self.method!r}")
        select = _decode(self.select, "select", (list, tuple))
        target = None
        if self.target_table is not None:
            target = TableName.checked(self.target_table, self.target_schema)
        if self.output_path is not None:
            file_format(self.output_path)
        return GetAllSpec(
            method=self.method.strip(),
            request_params=_decode(self.call_params, "call_params", (dict,)),
            select=list(select) if select is not None else None,
            filter=_decode(self.filter, "filter", (dict,)),
            target=target,
            output_path=self.output_path,
            df_callable=self.df_callable,
            write_disposition=self.write_disposition,  # type: ignore[arg-type]
            primary_key=_family_key(self.method.strip()) if self._default_key else self.primary_key,
            cursor_field=self.cursor_field.strip() if self.cursor_field else None,
            lag=self.lag,
            use_data_interval=self.use_data_interval,
            chunk_rows=self.chunk_rows,
            column_policy=self.column_policy,  # type: ignore[arg-type]
            resumable=self.resumable,
            column_types=self.column_types,  # type: ignore[arg-type]
            allow_column_drop=self.allow_column_drop,
        )

    def execute(self, context: Context) -> dict[str, Any]:
        spec = self._spec()
        to_sql = spec.target is not None
        hook = Bitrix24Hook(self.bitrix24_conn_id, client_kwargs=dict(self.client_kwargs or {}))
        db = database(self.sql_conn_id) if to_sql and self.sql_conn_id else None
        run = _run_info(context, self)
        self.log.info(
            "Exporting %s to %s (%s, try %s)",
            spec.method,
            spec.destination,
            spec.write_disposition,
            run.try_number,
        )
        try:
            bitrix24_client(hook)  # the connection and client_kwargs are checked before the job
            summary = GetAllJob(spec, hook, run, db, self.sql_conn_id).execute()
        finally:
            hook.close()
            if db is not None:
                db.dispose()
        self.log.info(
            "Exported %s rows (%s pages, %s requests) to %s; resumed=%s",
            summary["rows"],
            summary["pages"],
            summary["requests"],
            summary["target"],
            summary["resumed"],
        )
        return summary


class Bitrix24CallError(AirflowException):
    """Items of a :class:`Bitrix24CallOperator` failed (``on_error="fail"``) or have an unknown
    outcome, or (``reason``) the task failed after the call.

    :param failures: ``[{"position", "error", "error_description"}, ...]`` in input order.
    :param unknown: positions of the items whose write may or may not have run.
    """

    #: said last in the message
    note: ClassVar[str] = ""

    def __init__(
        self,
        method: str,
        total: int,
        failures: list[dict[str, Any]],
        unknown: Sequence[int] = (),
        reason: str = "",
    ) -> None:
        self.method, self.total, self.failures, self.unknown = method, total, failures, list(unknown)
        self.reason = scrub(reason)
        parts = []
        if failures:
            shown = "; ".join(
                f"#{f['position']} {f['error'] or '(no code)'}: {f['error_description']}"
                for f in failures[:5]
            )
            more = f"; and {len(failures) - 5} more" if len(failures) > 5 else ""
            parts.append(f"{len(failures)} of {total} items failed: {shown}{more}")
        if self.unknown:
            shown = ", ".join(f"#{n}" for n in self.unknown[:20]) + (
                ", ..." if len(self.unknown) > 20 else ""
            )
            parts.append(
                f"{len(self.unknown)} of {total} items have an unknown outcome (may have run): {shown}"
            )
        parts += [text for text in (self.reason, self.note) if text]
        super().__init__(scrub(f"{method}: {'; '.join(parts)}"))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.method, self.total, self.failures, self.unknown, self.reason))


class Bitrix24WriteError(Bitrix24CallError, AirflowFailException):
    """A :class:`Bitrix24CallError` of a task that has written: another try would send every item
    again, so Airflow fails the task without retrying it (with or without a retry policy)."""

    note = "not retried: the task has written, another try would send every item again"


class Bitrix24CallOperator(BaseOperator):
    """Apply one Bitrix24 method to many items (in batches of 50 commands), results in input order.

    Items come from ``items`` (a list of parameter dicts, e.g. rendered from an upstream XCom with
    ``render_template_as_native_obj=True``; a JSON or Python-literal string is parsed too) or from
    ``items_sql``, a query on ``sql_conn_id`` whose rows (as dicts) become the items, optionally
    shaped by ``item_builder``.

    Up to ``xcom_max_items`` results are returned to XCom as ``{"method", "count", "succeeded",
    "failed", "unknown", "unknown_positions", "results": [result or None per item], "errors":
    [{"position", "error", "error_description"}]}``. Larger outputs go to ``results_table`` on
    ``sql_conn_id`` (columns ``position``, ``outcome``, ``item``, ``result``, ``error_code``,
    ``error_description``; replaced atomically) and XCom gets the same summary without
    ``results``/``errors`` but with ``results_table``.

    Writes have a known outcome (see :mod:`bitrix24_provider.client.writes`): an item whose request
    failed after the portal may have run it is not sent again but counted ``unknown``, and unknown
    items fail the task (:class:`Bitrix24CallError` naming their positions, whatever ``on_error``
    says) unless ``retry_unknown`` or ``external_key`` settled them. A task that has written (an item
    of a writing method succeeded or is unknown) is never retried by Airflow, since another try
    would send every item again: it fails with :class:`Bitrix24WriteError`. The XCom summary is
    pushed also when the task fails.

    :param method: the method to call per item, e.g. ``crm.deal.update``.
    :param items: the items (templated).
    :param items_sql: a query whose rows become the items (templated).
    :param item_builder: turns a row of ``items_sql`` (a dict) into the method's parameters.
    :param sql_conn_id: common-sql connection for ``items_sql`` and ``results_table`` (templated).
    :param results_table: where large outputs go (templated); required above ``xcom_max_items``.
    :param results_schema: its schema (templated).
    :param on_error: ``fail`` (raise :class:`Bitrix24CallError` after all items ran, listing the
        failed positions) or ``collect`` (errors are reported in place, the task succeeds).
    :param retry_unknown: the method is safe to repeat (e.g. an ``update`` that sets fixed values):
        items with an unknown outcome are sent again under the client's retry budget.
    :param external_key: for ``crm.item.add`` (``"xmlId"``) and the classic CRM adds
        (``"ORIGIN_ID"``): every item carries a unique ``fields[<external_key>]``; adds with an
        unknown outcome are looked up by it and only the ones not found are added again (templated).
    :param xcom_max_items: the largest number of results returned through XCom.
    :param bitrix24_conn_id: the Bitrix24 connection (templated).
    :param client_kwargs: client arguments, see :class:`~bitrix24_provider.hooks.bitrix24.Bitrix24Hook`.
    """

    template_fields: Sequence[str] = (
        "bitrix24_conn_id",
        "sql_conn_id",
        "method",
        "items",
        "items_sql",
        "results_table",
        "results_schema",
        "external_key",
    )
    template_fields_renderers = {"items": "json", "items_sql": "sql"}
    ui_color = "#2fc6f6"

    def __init__(
        self,
        *,
        method: str,
        items: list[dict[str, Any]] | str | None = None,
        items_sql: str | None = None,
        item_builder: Callable[[dict[str, Any]], Mapping[str, Any]] | None = None,
        sql_conn_id: str | None = None,
        results_table: str | None = None,
        results_schema: str | None = None,
        on_error: str = "fail",
        retry_unknown: bool = False,
        external_key: str | None = None,
        xcom_max_items: int = 1000,
        bitrix24_conn_id: str = Bitrix24Hook.default_conn_name,
        client_kwargs: dict[str, Any] | None = None,
        retry_policy: Any = DEFAULT,
        **kwargs: Any,
    ) -> None:
        super().__init__(**_with_retry_policy(kwargs, retry_policy))
        self.method = method
        self.items = items
        self.items_sql = items_sql
        self.item_builder = item_builder
        self.sql_conn_id = sql_conn_id
        self.results_table = results_table
        self.results_schema = results_schema
        self.on_error = on_error
        self.retry_unknown = retry_unknown
        self.external_key = external_key
        self.xcom_max_items = xcom_max_items
        self.bitrix24_conn_id = bitrix24_conn_id
        self.client_kwargs = client_kwargs
        self._validate()

    def _validate(self) -> None:
        if not isinstance(self.method, str) or not self.method.strip():
            raise ValueError(f"method must be a Bitrix24 method name, got {self.method!r}")
        if (self.items is None) == (self.items_sql is None):
            raise ValueError("give exactly one of items and items_sql")
        if self.items is not None and not isinstance(self.items, (list, tuple, str)):
            raise ValueError(f"items must be a list of parameter dicts, got {type(self.items).__name__}")
        if isinstance(self.items, (list, tuple)):
            _check_items(self.items, ValueError)
        if self.items_sql is not None and not self.sql_conn_id:
            raise ValueError("items_sql needs sql_conn_id")
        if self.results_table is not None:
            if not self.sql_conn_id:
                raise ValueError("results_table needs sql_conn_id")
            if not _templated(self.results_table):
                check_identifier(self.results_table, "results_table")
        if self.results_schema and not _templated(self.results_schema):
            check_identifier(self.results_schema, "results_schema")
        if self.item_builder is not None and not callable(self.item_builder):
            raise ValueError(f"item_builder must be callable, got {self.item_builder!r}")
        if self.on_error not in ("fail", "collect"):
            raise ValueError(f"on_error must be 'fail' or 'collect', got {self.on_error!r}")
        if not isinstance(self.retry_unknown, bool):
            raise ValueError(f"retry_unknown must be True or False, got {self.retry_unknown!r}")
        if (
            self.external_key is not None
            and not _templated(self.external_key)
            and not _templated(self.method)
        ):
            ExternalKey.of(self.method, self.external_key)  # ValueError: not an add it can look up
        if (
            isinstance(self.xcom_max_items, bool)
            or not isinstance(self.xcom_max_items, int)
            or self.xcom_max_items < 0
        ):
            raise ValueError(f"xcom_max_items must be a non-negative integer, got {self.xcom_max_items!r}")

    def _items(self, db: Database | None) -> list[Mapping[str, Any]]:
        if self.items_sql is not None:
            assert db is not None
            rows: list[Any] = read_items(db, self.items_sql)
        else:
            rows = list(_decode(self.items, "items", (list, tuple)))
        if self.item_builder is not None:
            rows = [self.item_builder(dict(row)) for row in rows]
        items = _check_items(rows, StagingConfigError)
        for position, item in enumerate(items):  # all of them before the first write
            try:
                batch_command(self.method, item)
            except (ValueError, TypeError) as error:
                message = f"items[{position}] cannot be sent to {self.method}: {error}"
                raise StagingConfigError(message) from error
        return items

    def _external_key(self) -> str | None:
        """The rendered ``external_key``, checked against the method before anything is sent."""
        if self.external_key is None:
            return None
        try:
            return ExternalKey.of(self.method.strip(), self.external_key).field
        except ValueError as error:
            raise StagingConfigError(str(error)) from None

    def execute(self, context: Context) -> dict[str, Any]:
        if not isinstance(self.method, str) or not self.method.strip():
            raise StagingConfigError(f"method must be a Bitrix24 method name, got {self.method!r}")
        external_key = self._external_key()
        results_target = (
            TableName.checked(self.results_table, self.results_schema) if self.results_table else None
        )
        db = database(self.sql_conn_id) if self.sql_conn_id else None
        hook = Bitrix24Hook(self.bitrix24_conn_id, client_kwargs=self.client_kwargs)
        try:
            items = self._items(db)
            large = len(items) > self.xcom_max_items
            if large and (results_target is None or db is None):
                raise StagingConfigError(
                    f"{len(items)} items exceed xcom_max_items={self.xcom_max_items}: set sql_conn_id and "
                    "results_table to store the results, or raise xcom_max_items"
                )
            self.log.info("Calling %s for %s items", self.method, len(items))
            done = CallOutcomes(self.method, self._call(hook, items, external_key))
            try:
                summary = done.summary()
                if large:
                    assert results_target is not None and db is not None
                    summary["results_table"] = results_target.label
                    summary["rows_written"] = write_results(db, results_target, self.method, done.rows(items))
                else:
                    summary["results"] = done.results()
                    summary["errors"] = done.failures()
            except Exception as error:
                if done.wrote:
                    reason = f"failed after the call: {type(error).__name__}: {error}"
                    raise Bitrix24WriteError(self.method, len(items), [], (), reason) from error
                raise
        finally:
            hook.close()
            if db is not None:
                db.dispose()
        self.log.info(
            "%s: %s succeeded, %s failed, %s unknown",
            self.method,
            summary["succeeded"],
            summary["failed"],
            summary["unknown"],
        )
        failures = done.failures() if self.on_error == "fail" else []
        if failures or done.unknown:
            ti = context.get("ti")
            if ti is not None and hasattr(ti, "xcom_push"):
                ti.xcom_push(key="return_value", value=summary)  # the counts, also for a failed task
            cause = BatchError(
                {f"c{n}": done.outcomes[n] for n in done.failed},
                unknown={f"c{n}": done.outcomes[n] for n in done.unknown},
            )
            error_class = Bitrix24WriteError if done.wrote else Bitrix24CallError
            raise error_class(self.method, len(items), failures, done.unknown) from cause
        return summary

    def _call(
        self, hook: Bitrix24Hook, items: list[Mapping[str, Any]], external_key: str | None
    ) -> list[Any]:
        """Every item's outcome. A failure of the call itself after requests went out ends a writing
        task for good, like failed items do."""
        if not items:
            return []
        client = bitrix24_client(hook)
        sent = client.stats.http_requests
        try:
            outcomes = client.call(
                self.method,
                items,
                return_errors=True,
                retry_unknown=self.retry_unknown,
                external_key=external_key,
            )
        except Exception as error:
            if is_write(self.method) and client.stats.http_requests > sent:
                reason = f"the call failed after sending writes: {type(error).__name__}: {error}"
                raise Bitrix24WriteError(self.method, len(items), [], (), reason) from error
            raise
        return list(outcomes)


def _check_items(items: Sequence[Any], error: type[Exception]) -> list[Mapping[str, Any]]:
    for position, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise error(f"items[{position}] must be a dict of the method's parameters, got {item!r}")
    return list(items)
