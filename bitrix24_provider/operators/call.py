"""``Bitrix24CallOperator``: one method applied to many items, each with a known outcome.

A thin adapter over the client's ``call()``; the results table lives in
:mod:`bitrix24_provider.sync.call_results`. Only counts and small results go to XCom.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

try:
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # Airflow < 3.2
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef]

from bitrix24_provider.client.encoding import batch_command
from bitrix24_provider.client.errors import BatchError
from bitrix24_provider.client.external_keys import ExternalKey
from bitrix24_provider.client.redact import scrub
from bitrix24_provider.client.writes import is_write
from bitrix24_provider.hooks.bitrix24 import Bitrix24Hook
from bitrix24_provider.operators.arguments import DEFAULT, as_lag, decode, templated, with_retry_policy
from bitrix24_provider.operators.causes import report_failure
from bitrix24_provider.operators.connections import bitrix24_client, database
from bitrix24_provider.operators.links import Bitrix24ListLink
from bitrix24_provider.staging.database import Database
from bitrix24_provider.staging.errors import StagingConfigError
from bitrix24_provider.staging.identifiers import TableName, check_identifier
from bitrix24_provider.sync.call_results import CallOutcomes, read_items, write_results
from bitrix24_provider.sync.progress_log import DEFAULT_INTERVAL, ProgressLog, call_with_progress, count

if TYPE_CHECKING:
    from airflow.sdk import Context


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
    The task's "Bitrix24 list" link (:class:`~bitrix24_provider.operators.links.Bitrix24ListLink`)
    opens the list of the entity it wrote in the portal.

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
    :param progress_interval: seconds (or a timedelta) between progress lines in the task log while
        the items are sent (``1,200 of 5,000 items (24%), 24 requests, 300 items/s, ETA 13 s``); a
        line also after every tenth of the items, and a last one.
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
    operator_extra_links = (Bitrix24ListLink(),)
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
        progress_interval: timedelta | float = DEFAULT_INTERVAL,
        **kwargs: Any,
    ) -> None:
        super().__init__(**with_retry_policy(kwargs, retry_policy))
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
        self.progress_interval = as_lag(progress_interval, "progress_interval").total_seconds()
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
            if not templated(self.results_table):
                check_identifier(self.results_table, "results_table")
        if self.results_schema and not templated(self.results_schema):
            check_identifier(self.results_schema, "results_schema")
        if self.item_builder is not None and not callable(self.item_builder):
            raise ValueError(f"item_builder must be callable, got {self.item_builder!r}")
        if self.on_error not in ("fail", "collect"):
            raise ValueError(f"on_error must be 'fail' or 'collect', got {self.on_error!r}")
        if not isinstance(self.retry_unknown, bool):
            raise ValueError(f"retry_unknown must be True or False, got {self.retry_unknown!r}")
        if self.external_key is not None and not templated(self.external_key) and not templated(self.method):
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
            rows = list(decode(self.items, "items", (list, tuple)))
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
            self.log.info("Calling %s for %s", self.method, count(len(items), "items"))
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
        except Exception as error:
            report_failure(self.log, error, self.bitrix24_conn_id)
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
            failed = error_class(self.method, len(items), failures, done.unknown)
            first = done.outcomes[(done.failed if failures else done.unknown)[0]]
            report_failure(self.log, failed, self.bitrix24_conn_id, cause=first)
            raise failed from cause
        return summary

    def _call(
        self, hook: Bitrix24Hook, items: list[Mapping[str, Any]], external_key: str | None
    ) -> list[Any]:
        """Every item's outcome. A failure of the call itself after requests went out ends a writing
        task for good, like failed items do."""
        if not items:
            return []
        client = bitrix24_client(hook)
        stats = client.stats
        sent, answered = stats.http_requests, stats.commands
        clock = client.aio.clock
        try:
            outcomes = call_with_progress(
                lambda: client.call(
                    self.method,
                    items,
                    return_errors=True,
                    retry_unknown=self.retry_unknown,
                    external_key=external_key,
                ),
                ProgressLog("items", interval=self.progress_interval, clock=clock.monotonic),
                len(items),
                done=lambda: stats.commands - answered,
                requests=lambda: stats.http_requests - sent,
                time_scale=clock.time_scale,
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
