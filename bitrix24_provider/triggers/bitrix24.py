"""Deferrable waiting: a trigger that polls Bitrix24 until records change after a watermark."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from bitrix24_provider.client import BitrixAsync, BitrixError
from bitrix24_provider.hooks.bitrix24 import Bitrix24Hook
from bitrix24_provider.hooks.changes import ChangeCheck, normalize_watermark


def _event(payload: dict[str, Any]) -> TriggerEvent:
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]


class Bitrix24ChangeTrigger(BaseTrigger):
    """Wait until a record of a list method changed after ``watermark``.

    Every ``poke_interval`` seconds one cheap list call (``start=-1``, filter ``>cursor_field``,
    newest first, only the id and the cursor selected; see
    :class:`~bitrix24_provider.hooks.changes.ChangeCheck`) asks whether anything changed. Transient
    failures (network, 5xx, rate limits) that the client's own retries could not absorb are logged
    and polled again until ``end_time``. Exactly one event is yielded, carrying no rows:

    * ``{"status": "changed", "watermark": <where the next wait should start>, "newest": <newest
      cursor value seen>, "count": <changed rows seen, at most 50>}`` (see
      :class:`~bitrix24_provider.hooks.changes.ChangeCheck` for why ``watermark`` may lag ``newest``);
    * ``{"status": "timeout", "watermark": <the watermark>}`` when ``end_time`` passed first;
    * ``{"status": "error", "message": <redacted text>}`` on a non-retryable error (authentication,
      permissions, a bad method or filter, a missing connection).

    The hook is rebuilt in the triggerer from these arguments only, with async connection access.

    :param method: the list method, e.g. ``crm.deal.list``, ``crm.item.list``, ``tasks.task.list``.
    :param watermark: ISO 8601 date-time; changes strictly after it count.
    :param cursor_field: ``DATE_MODIFY`` (classic CRM), ``updatedTime`` (crm.item), ``CHANGED_DATE``
        (tasks).
    :param filter: further filter conditions of the list call.
    :param call_params: further parameters of the list call (e.g. ``{"entityTypeId": 1032}``).
    :param bitrix24_conn_id: the Airflow connection id.
    :param poke_interval: seconds between two polls.
    :param end_time: Unix time after which the trigger gives up (``None``: never).
    :param client_kwargs: JSON-serialisable client arguments, as for
        :class:`~bitrix24_provider.hooks.bitrix24.Bitrix24Hook`.
    :param lag: seconds the handed-on watermark stays behind the portal's time of the check.
    """

    def __init__(
        self,
        method: str,
        watermark: str,
        cursor_field: str = "DATE_MODIFY",
        filter: dict[str, Any] | None = None,
        call_params: dict[str, Any] | None = None,
        bitrix24_conn_id: str = Bitrix24Hook.default_conn_name,
        poke_interval: float = 60.0,
        end_time: float | None = None,
        client_kwargs: dict[str, Any] | None = None,
        lag: float = 5.0,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.method = method
        self.watermark = watermark
        self.cursor_field = cursor_field
        self.filter = filter
        self.call_params = call_params
        self.bitrix24_conn_id = bitrix24_conn_id
        self.poke_interval = float(poke_interval)
        self.end_time = end_time
        self.client_kwargs = client_kwargs
        self.lag = float(lag)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "method": self.method,
                "watermark": self.watermark,
                "cursor_field": self.cursor_field,
                "filter": self.filter,
                "call_params": self.call_params,
                "bitrix24_conn_id": self.bitrix24_conn_id,
                "poke_interval": self.poke_interval,
                "end_time": self.end_time,
                "client_kwargs": self.client_kwargs,
                "lag": self.lag,
            },
        )

    def _error(self, hook: Bitrix24Hook, error: BaseException) -> TriggerEvent:
        message = hook.redact(f"{self.method}: {type(error).__name__}: {error}")
        self.log.error("Bitrix24 change check failed: %s", message)
        return _event({"status": "error", "message": message})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = Bitrix24Hook(self.bitrix24_conn_id, client_kwargs=self.client_kwargs)
        try:
            check = ChangeCheck(
                self.method,
                self.cursor_field,
                normalize_watermark(self.watermark),
                self.filter,
                self.call_params,
                self.lag,
            )
            client = await hook.aget_client()
        except Exception as error:
            yield self._error(hook, error)
            return
        async with client:  # closed before the event leaves the trigger
            event = await self._poll(hook, client, check)
        yield event

    async def _poll(self, hook: Bitrix24Hook, client: BitrixAsync, check: ChangeCheck) -> TriggerEvent:
        polls = 0
        while True:
            polls += 1
            try:
                summary = await hook.acheck_changes(client, check)
            except BitrixError as error:
                if not error.retryable:
                    return self._error(hook, error)
                self.log.warning(
                    "Bitrix24 change check of %s failed transiently (poll %s), polling again: %s",
                    self.method,
                    polls,
                    hook.redact(str(error)),
                )
            except Exception as error:
                return self._error(hook, error)
            else:
                if summary is not None:
                    self.log.info(
                        "%s: %s record(s) changed after %s, newest at %s",
                        self.method,
                        summary["count"],
                        check.watermark,
                        summary["newest"],
                    )
                    return _event({"status": "changed", **summary})
                self.log.info("%s: no change after %s (poll %s)", self.method, check.watermark, polls)
            remaining = None if self.end_time is None else self.end_time - time.time()
            if remaining is not None and remaining <= 0:
                self.log.info("%s: no change after %s before the deadline", self.method, check.watermark)
                return _event({"status": "timeout", "watermark": check.watermark})
            pause = self.poke_interval if remaining is None else min(self.poke_interval, remaining)
            await asyncio.sleep(pause)
