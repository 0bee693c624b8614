"""A sensor that waits until Bitrix24 records change after a watermark."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowException

try:
    from airflow.sdk import conf
    from airflow.sdk.exceptions import AirflowSensorTimeout
except ImportError:  # Airflow < 3.2
    from airflow.configuration import conf  # type: ignore[assignment]
    from airflow.exceptions import AirflowSensorTimeout  # type: ignore[no-redef]

from bitrix24_provider.client import BitrixError
from bitrix24_provider.hooks.bitrix24 import Bitrix24Hook
from bitrix24_provider.hooks.changes import normalize_watermark
from bitrix24_provider.triggers.bitrix24 import Bitrix24ChangeTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Extra seconds the deferral may take beyond the trigger's own deadline, so that the trigger's
#: timeout event (with a clear message) normally wins over Airflow's deferral timeout.
_DEFER_MARGIN = 60.0


class Bitrix24ChangeSensor(BaseSensorOperator):
    """Wait until a record of a Bitrix24 list method changed after ``watermark``.

    Each poke is one cheap list call (``start=-1``, filter ``>cursor_field``, newest first, only the
    id and the cursor selected). The XCom value is ``{"watermark", "newest", "count"}``: ``newest``
    is the newest cursor value seen, ``count`` the changed records seen (at most 50), and
    ``watermark`` where the next wait should start: ``newest``, but never later than the portal's time
    of the check minus ``lag``, so that an edit in the same second or one committed a little late is
    not skipped (feed it to the next run's ``watermark``). No rows pass through XCom or the triggerer.

    In deferrable mode the sensor pokes once, then defers to
    :class:`~bitrix24_provider.triggers.bitrix24.Bitrix24ChangeTrigger` until ``timeout``.

    :param method: the list method, e.g. ``crm.deal.list``, ``crm.item.list``, ``tasks.task.list``.
    :param watermark: changes strictly after this date-time count: a ``datetime`` or an ISO 8601
        string, also templated (``"{{ data_interval_start | ts }}"``).
    :param cursor_field: ``DATE_MODIFY`` (classic CRM), ``updatedTime`` (crm.item), ``CHANGED_DATE``
        (tasks).
    :param filter: further filter conditions of the list call (templated).
    :param call_params: further parameters of the list call, e.g. ``{"entityTypeId": 1032}``
        (templated; named so because ``params`` is reserved by Airflow operators).
    :param bitrix24_conn_id: the Airflow connection id (templated).
    :param lag: seconds the returned ``watermark`` stays behind the portal's time of the check
        (timedelta or seconds).
    :param client_kwargs: JSON-serialisable client arguments, see
        :class:`~bitrix24_provider.hooks.bitrix24.Bitrix24Hook`.
    :param deferrable: wait in the triggerer instead of a worker slot.
    """

    template_fields = ("bitrix24_conn_id", "method", "filter", "call_params", "watermark", "cursor_field")
    template_fields_renderers = {"filter": "json", "call_params": "json"}
    ui_color = "#2fc6f6"

    def __init__(
        self,
        *,
        method: str,
        watermark: str | datetime,
        cursor_field: str = "DATE_MODIFY",
        filter: dict[str, Any] | None = None,
        call_params: dict[str, Any] | None = None,
        bitrix24_conn_id: str = Bitrix24Hook.default_conn_name,
        lag: timedelta | float = timedelta(seconds=5),
        client_kwargs: dict[str, Any] | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        seconds = lag.total_seconds() if isinstance(lag, timedelta) else lag
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise ValueError(f"lag must be a non-negative timedelta or number of seconds, got {lag!r}")
        self.lag = float(seconds)
        self.method = method
        self.watermark = watermark
        self.cursor_field = cursor_field
        self.filter = filter
        self.call_params = call_params
        self.bitrix24_conn_id = bitrix24_conn_id
        self.client_kwargs = client_kwargs
        self.deferrable = deferrable

    @cached_property
    def hook(self) -> Bitrix24Hook:
        return Bitrix24Hook(self.bitrix24_conn_id, client_kwargs=self.client_kwargs)

    def _watermark(self) -> str:
        if self.watermark is None or self.watermark == "":
            raise AirflowException(f"{self.task_id}: watermark is empty; give a date-time or a template")
        try:
            return normalize_watermark(self.watermark)
        except ValueError as error:
            raise AirflowException(f"{self.task_id}: {error}") from None

    def _check(self) -> dict[str, Any] | None:
        watermark = self._watermark()
        try:
            return self.hook.check_changes(
                self.method, watermark, self.cursor_field, self.filter, self.call_params, self.lag
            )
        finally:
            self.hook.close()

    def poke(self, context: Context) -> bool | PokeReturnValue:
        self.log.info(
            "Checking %s for records with %s after %s", self.method, self.cursor_field, self.watermark
        )
        summary = self._check()
        if summary is None:
            return False
        self.log.info(
            "%s record(s) changed, newest at %s; next watermark %s",
            summary["count"],
            summary["newest"],
            summary["watermark"],
        )
        return PokeReturnValue(is_done=True, xcom_value=summary)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        try:
            first = self.poke(context)
        except BitrixError as error:
            if not error.retryable:
                raise
            # the trigger retries transient failures itself, until the sensor's timeout
            self.log.warning(
                "First check of %s failed transiently, deferring anyway: %s",
                self.method,
                self.hook.redact(str(error)),
            )
        else:
            if isinstance(first, PokeReturnValue) and first.is_done:
                return first.xcom_value
        self.defer(
            trigger=Bitrix24ChangeTrigger(
                method=self.method,
                watermark=self._watermark(),
                cursor_field=self.cursor_field,
                filter=self.filter,
                call_params=self.call_params,
                bitrix24_conn_id=self.bitrix24_conn_id,
                poke_interval=self.poke_interval,
                end_time=time.time() + self.timeout,
                client_kwargs=self.client_kwargs,
                lag=self.lag,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + _DEFER_MARGIN),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Map the trigger's event: the change summary, or an exception."""
        if not event:
            raise AirflowException(f"{self.task_id}: resumed without a trigger event")
        status = event.get("status")
        if status == "changed":
            summary = {"watermark": event["watermark"], "newest": event["newest"], "count": event["count"]}
            self.log.info(
                "%s record(s) changed, newest at %s; next watermark %s",
                summary["count"],
                summary["newest"],
                summary["watermark"],
            )
            return summary
        if status == "timeout":
            raise AirflowSensorTimeout(
                f"{self.task_id}: no {self.method} record changed after {event.get('watermark')} "
                f"within {self.timeout} seconds"
            )
        if status == "error":
            raise AirflowException(
                f"{self.task_id}: checking {self.method} for changes failed: {event.get('message')}"
            )
        raise AirflowException(f"{self.task_id}: unexpected trigger event status {status!r}")
