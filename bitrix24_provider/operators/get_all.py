"""``Bitrix24GetAllOperator``: whole lists into SQL, files or DataFrames.

A thin adapter: it builds a :class:`~bitrix24_provider.sync.LoadSpec` from its rendered arguments
and calls :func:`~bitrix24_provider.sync.run_load`, which owns the export, the incremental state and
resuming (:mod:`bitrix24_provider.sync`); the destinations live in :mod:`bitrix24_provider.staging`,
the HTTP side in :mod:`bitrix24_provider.client`. Only a small
summary goes to XCom, never rows and never the webhook.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from bitrix24_provider.hooks.bitrix24 import Bitrix24Hook
from bitrix24_provider.operators.arguments import (
    DEFAULT,
    as_key,
    as_lag,
    decode,
    family_key,
    templated,
    with_retry_policy,
)
from bitrix24_provider.operators.causes import report_failure
from bitrix24_provider.operators.connections import bitrix24_client, database
from bitrix24_provider.operators.links import Bitrix24ListLink
from bitrix24_provider.staging.database import Database
from bitrix24_provider.staging.errors import StagingConfigError
from bitrix24_provider.staging.file_sink import file_format
from bitrix24_provider.staging.identifiers import TableName, check_identifier
from bitrix24_provider.sync import (
    ClientPortal,
    Destination,
    FileDestination,
    FrameDestination,
    LoadRun,
    LoadSpec,
    RunIdentity,
    SqlDestination,
    run_load,
)
from bitrix24_provider.sync.export import DEFAULT_CHUNK_ROWS
from bitrix24_provider.sync.load import check_target
from bitrix24_provider.sync.progress_log import DEFAULT_INTERVAL, count

if TYPE_CHECKING:
    from airflow.sdk import Context


def _load_run(context: Context, operator: BaseOperator) -> LoadRun:
    ti: Any = context.get("ti") or context.get("task_instance")
    try_number = int(getattr(ti, "try_number", 1) or 1)
    max_tries = getattr(ti, "max_tries", None)
    if not isinstance(max_tries, int):
        max_tries = int(operator.retries or 0)
    map_index = getattr(ti, "map_index", -1)
    identity = RunIdentity(
        orchestrator="airflow",
        pipeline=str(getattr(ti, "dag_id", None) or operator.dag_id or ""),
        run_id=str(getattr(ti, "run_id", None) or context.get("run_id") or ""),
        step=str(getattr(ti, "task_id", None) or operator.task_id),
        map_index=int(map_index) if isinstance(map_index, int) else -1,
        try_number=try_number,
        more_tries=try_number <= max_tries,
    )
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    return LoadRun(
        identity=identity,
        data_interval=(start, end) if start is not None else None,
        state_store=context.get("task_state_store"),
    )


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
    The task's "Bitrix24 list" link (:class:`~bitrix24_provider.operators.links.Bitrix24ListLink`)
    opens the entity's list in the portal.

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
    :param progress_interval: seconds (or a timedelta) between progress lines in the task log, e.g.
        ``12,400 of ~50,000 rows (25%), 248 pages, 9 requests, 3,100 rows/s, ETA 15 s``; a line also
        comes after every tenth of the rows (estimated from the export's id ranges), and a last one
        when all are read.

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
    operator_extra_links = (Bitrix24ListLink(),)
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
        progress_interval: timedelta | float = DEFAULT_INTERVAL,
        **kwargs: Any,
    ) -> None:
        super().__init__(**with_retry_policy(kwargs, retry_policy))
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
        self.lag = as_lag(lag)
        self.use_data_interval = use_data_interval
        self.chunk_rows = chunk_rows
        self.column_policy = column_policy
        self.client_kwargs = client_kwargs
        self.resumable = resumable
        self.column_types = column_types
        self.allow_column_drop = allow_column_drop
        self.progress_interval = as_lag(progress_interval, "progress_interval").total_seconds()
        self._default_key = primary_key is DEFAULT
        self.primary_key = family_key(method) if self._default_key else as_key(primary_key)
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
        if to_sql and not templated(self.target_table):
            check_identifier(self.target_table, "target_table")
        if self.target_schema and not templated(self.target_schema):
            check_identifier(self.target_schema, "target_schema")
        if self.output_path is not None and not templated(self.output_path):
            file_format(self.output_path)  # a StagingConfigError is a ValueError
        if self.df_callable is not None and not callable(self.df_callable):
            raise ValueError(f"df_callable must be callable, got {self.df_callable!r}")
        if self.client_kwargs is not None and not isinstance(self.client_kwargs, Mapping):
            raise ValueError(f"client_kwargs must be a dict, got {type(self.client_kwargs).__name__}")
        if not templated(self.method) and not templated(self.cursor_field):
            # the load's own checks, now rather than at the first run (a StagingConfigError is a
            # ValueError); templated ones run when the task renders them
            spec = LoadSpec(self.method, cursor_field=self.cursor_field, **self._load_arguments())
            check_target(spec, to_sql)

    def _load_arguments(self) -> dict[str, Any]:
        """The :class:`LoadSpec` arguments that are not templated."""
        return {
            "write_disposition": self.write_disposition,
            "primary_key": family_key(self.method.strip()) if self._default_key else self.primary_key,
            "lag": self.lag,
            "use_data_interval": self.use_data_interval,
            "chunk_rows": self.chunk_rows,
            "column_policy": self.column_policy,
            "resumable": self.resumable,
            "column_types": self.column_types,
            "allow_column_drop": self.allow_column_drop,
            "progress_interval": self.progress_interval,
        }

    def _spec(self) -> LoadSpec:
        """The rendered arguments, checked again (templates may have produced anything)."""
        if not isinstance(self.method, str) or not self.method.strip():
            raise StagingConfigError(f"method must be a Bitrix24 list method name, got {self.method!r}")
        select = decode(self.select, "select", (list, tuple))
        return LoadSpec(
            method=self.method,
            request_params=decode(self.call_params, "call_params", (dict,)),
            select=select,
            filter=decode(self.filter, "filter", (dict,)),
            cursor_field=self.cursor_field,
            **self._load_arguments(),
        )

    def _destination(self, db: Database | None) -> Destination:
        """The rendered destination, checked again; *db*: the SQL target's database."""
        if self.target_table is not None:
            if db is None:
                raise StagingConfigError("sql_conn_id is required with target_table")
            target = TableName.checked(self.target_table, self.target_schema)
            return SqlDestination(db, target, self.sql_conn_id)
        if self.output_path is not None:
            return FileDestination(self.output_path)
        assert self.df_callable is not None
        return FrameDestination(self.df_callable)

    def execute(self, context: Context) -> dict[str, Any]:
        spec = self._spec()
        if self.target_table is not None:
            TableName.checked(self.target_table, self.target_schema)  # before opening the connection
        elif self.output_path is not None:
            file_format(self.output_path)
        hook = Bitrix24Hook(self.bitrix24_conn_id, client_kwargs=dict(self.client_kwargs or {}))
        db = database(self.sql_conn_id) if self.target_table is not None and self.sql_conn_id else None
        destination = self._destination(db)
        run = _load_run(context, self)
        self.log.info(
            "Exporting %s to %s (%s, try %s)",
            spec.method,
            destination.label,
            spec.write_disposition,
            run.identity.try_number,
        )
        try:
            client = bitrix24_client(hook)  # the connection and client_kwargs are checked before the load
            summary = run_load(spec, ClientPortal(client), destination, run)
        except Exception as error:
            report_failure(self.log, error, self.bitrix24_conn_id)
            raise
        finally:
            hook.close()
            if db is not None:
                db.dispose()
        how = "the previous try had committed it" if summary.already_committed else spec.write_disposition
        self.log.info(
            "Exported %s to %s (%s%s)",
            count(summary.rows, "rows"),
            summary.target,
            how,
            ", resumed after an earlier try" if summary.resumed else "",
        )
        return summary.as_dict()
