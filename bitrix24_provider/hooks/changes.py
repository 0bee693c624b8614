"""The cheap "did anything change after the watermark?" probe shared by the sensor and the trigger.

Nothing here imports Airflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bitrix24_provider.client.families import family_of
from bitrix24_provider.client.listing import rows_of

__all__ = ["ChangeCheck", "normalize_watermark"]


def _parse_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def normalize_watermark(value: str | datetime) -> str:
    """An ISO 8601 date-time as Bitrix24 filters take it: ``YYYY-MM-DDTHH:MM:SS+HH:MM``.

    Accepts ``datetime`` objects (pendulum included) and ISO strings, also with a ``Z`` or an offset
    (``{{ data_interval_start | ts }}``). Fractions of a second are dropped, which keeps ``>`` exact
    because Bitrix24 stores whole seconds. A value without an offset stays without one (the portal
    then reads it in its own time zone).
    """
    parsed = _parse_datetime(value)
    if parsed is None:
        raise ValueError(f"watermark must be an ISO 8601 date-time, got {value!r}")
    return parsed.replace(microsecond=0).isoformat()


def _squash(name: str) -> str:
    return name.replace("_", "").lower()


@dataclass(frozen=True)
class ChangeCheck:
    """One cheap list call answering "did any record change after the watermark?".

    The call asks for one page without counting (``start=-1``) of the records whose cursor field is
    after the watermark, newest first, selecting only the id and the cursor field; the first row
    then carries the newest change. ``count`` is the number of changed records on that page, so at
    most 50.

    The ``watermark`` a check hands on (for the next check, or a sync's lower bound) is the newest
    change seen, but never later than the portal's time of the check (the answer's ``time`` block)
    minus ``lag``: an edit in the same second as the check, or one whose transaction commits a little
    after its modification time, is then still after it. It is never earlier than the watermark the
    check started from.

    :param method: a list method (``crm.deal.list``, ``crm.item.list``, ``tasks.task.list``...).
    :param cursor_field: ``DATE_MODIFY`` (classic CRM), ``updatedTime`` (``crm.item.list``, with
        ``entityTypeId`` in ``call_params``), ``CHANGED_DATE`` (tasks; the answer names it
        ``changedDate``, which is found automatically).
    :param watermark: changes strictly after this date-time count.
    :param filter: further filter conditions (the cursor condition is added to them).
    :param call_params: further request parameters, e.g. ``{"entityTypeId": 1032}``.
    :param lag: seconds the handed-on watermark stays behind the portal's time of the check.
    """

    method: str
    cursor_field: str
    watermark: str
    filter: Mapping[str, Any] | None = None
    call_params: Mapping[str, Any] | None = None
    lag: float = 5.0

    def params(self) -> dict[str, Any]:
        id_field = family_of(self.method).request_id
        if self.cursor_field[:1].islower():  # camelCase APIs (crm.item.list) name the id "id"
            id_field = "id"
        return {
            **dict(self.call_params or {}),
            "filter": {**dict(self.filter or {}), f">{self.cursor_field}": self.watermark},
            "order": {self.cursor_field: "DESC"},
            "select": [id_field, self.cursor_field],
            "start": -1,
        }

    def _cursor(self, row: Mapping[str, Any]) -> Any:
        if self.cursor_field in row:
            return row[self.cursor_field]
        # tasks filter by CHANGED_DATE but answer changedDate; compare names without case and "_"
        wanted = _squash(self.cursor_field)
        for key, value in row.items():
            if _squash(str(key)) == wanted:
                return value
        raise ValueError(
            f"{self.method} returned rows without the cursor field {self.cursor_field!r}; "
            "check cursor_field (crm.item.list uses updatedTime, tasks.task.list CHANGED_DATE)"
        )

    def evaluate(self, answer: Any) -> dict[str, Any] | None:
        """``{"watermark", "newest", "count"}`` from the whole answer of the list call (the client's
        ``request()``), or ``None`` when nothing changed. ``newest`` is the newest change seen,
        ``watermark`` where the next check may start (see the class docstring).

        Rows whose cursor is not after the watermark are not counted (a portal ignoring an unknown
        filter field would otherwise report every record as changed).
        """
        result = answer.get("result") if isinstance(answer, Mapping) else None
        rows = rows_of(result, family_of(self.method)) if result else []
        bound = _parse_datetime(self.watermark)
        newest: tuple[datetime, str] | None = None
        count = 0
        for row in rows:
            raw = self._cursor(row)
            moment = _parse_datetime(raw)
            if moment is None:
                continue
            if bound is not None and _comparable(moment, bound) and moment <= bound:
                continue
            count += 1
            if newest is None or _later(moment, newest[0]):
                newest = (moment, str(raw))
        if newest is None:
            return None
        return {"watermark": self._resume_point(newest, answer), "newest": newest[1], "count": count}

    def _resume_point(self, newest: tuple[datetime, str], answer: Mapping[str, Any]) -> str:
        block = answer.get("time")
        checked = _parse_datetime(block.get("date_start")) if isinstance(block, Mapping) else None
        cap = (checked if checked is not None else newest[0]) - timedelta(seconds=self.lag)
        point = newest
        if _comparable(cap, newest[0]) and cap < newest[0]:
            point = (cap, normalize_watermark(cap))
        bound = _parse_datetime(self.watermark)
        if bound is not None and _comparable(bound, point[0]) and point[0] < bound:
            return self.watermark
        return point[1]


def _comparable(a: datetime, b: datetime) -> bool:
    return (a.tzinfo is None) == (b.tzinfo is None)


def _later(a: datetime, b: datetime) -> bool:
    return _comparable(a, b) and a > b
