"""The watermark rule (staging/incremental.py): an incremental sync never misses an edit made while an
export runs, on SQLite and PostgreSQL, over real HTTP to the emulator.

The race: run 1 exports in id order; while it runs, row A (already read) is edited, and 8 s later
row B (not yet read) is edited, so run 1 reads B's newer cursor value. Run 2 must still read A's
edit. The edits are made from the portal's side at a chosen point of the export: before the first
command that continues past the first page (``Portal.before_command``), A is the lowest id (read with
the first page) and B the highest (read last, by the chain of the top ids).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from bitrix24_provider.client.errors import BitrixError
from bitrix24_provider.emulator import Emulator
from bitrix24_provider.operators.bitrix24 import Bitrix24GetAllOperator
from bitrix24_provider.operators.retry import decide
from bitrix24_provider.staging.errors import IntervalNotOverError
from bitrix24_provider.staging.watermark import format_time, next_high_water, parse_time
from bitrix24_provider.sync.incremental import (
    Bounds,
    CursorField,
    apply_bounds,
    interval_wait,
    resolve_bounds,
)
from tests.staging._support import SqlTarget, configure, make_context, seeded_ids

ROWS = 3000
ONE_CHAIN = {"settings": {"max_parallel_chains": 1}}


@dataclass(frozen=True)
class Family:
    method: str
    entity: str
    cursor: str  # cursor_field as the operator takes it
    column: str  # the cursor's column in the target
    key: str  # the primary key column
    title: str  # the column a user edits
    params: Mapping[str, Any] | None = None

    def update(self, rid: int, title: str) -> tuple[str, dict[str, Any]]:
        if self.entity == "task":
            return "tasks.task.update", {"taskId": rid, "fields": {"TITLE": title}}
        if self.entity == "item":
            return "crm.item.update", {"entityTypeId": 1032, "id": rid, "fields": {"title": title}}
        return f"crm.{self.entity}.update", {"id": rid, "fields": {"TITLE": title}}


FAMILIES = [
    Family("crm.deal.list", "deal", "DATE_MODIFY", "DATE_MODIFY", "ID", "TITLE"),
    Family("crm.item.list", "item", "updatedTime", "updatedTime", "id", "title", {"entityTypeId": 1032}),
    Family("tasks.task.list", "task", "CHANGED_DATE", "changedDate", "id", "title"),
]


def sync(target: SqlTarget, family: Family, **kwargs: Any) -> Bitrix24GetAllOperator:
    return Bitrix24GetAllOperator(
        task_id="sync",
        method=family.method,
        call_params=dict(family.params) if family.params else None,
        sql_conn_id=target.conn_id,
        target_table="synced",
        target_schema=target.schema,
        primary_key=family.key,
        cursor_field=family.cursor,
        lag=5,
        **kwargs,
    )


def _continues_past_first_page(method: str, family: Family, params: Mapping[str, Any]) -> bool:
    """A list command of the export after its first page: an id cursor above 0, ascending."""
    if method != family.method:
        return False
    values = {str(k).lower(): v for k, v in params.items()}
    order = values.get("order")
    if isinstance(order, Mapping) and any(str(v).upper() == "DESC" for v in order.values()):
        return False  # the newest-ids probe that sizes the chains
    flt = values.get("filter")
    cursor = [v for k, v in flt.items() if str(k).lower() == ">id"] if isinstance(flt, Mapping) else []
    return bool(cursor) and str(cursor[0]).lstrip("-").isdigit() and int(cursor[0]) > 0


class Race:
    """Edits A and, 8 portal seconds later, B, once, at the first command past the first page."""

    def __init__(self, emulator: Emulator, family: Family) -> None:
        self.portal = emulator.portal
        self.family = family
        ids = seeded_ids(emulator, family.entity)
        self.a, self.b = ids[0], ids[-1]
        self.fired_at: float | None = None

    def __call__(self, method: str, params: Mapping[str, Any]) -> None:
        if self.fired_at is not None or not _continues_past_first_page(method, self.family, params):
            return
        self.fired_at = self.portal.clock.now()
        self.portal.apply(*self.family.update(self.a, "edited A"))
        self.portal.clock.advance(8)
        self.portal.apply(*self.family.update(self.b, "edited B"))

    def __enter__(self) -> Race:
        self.portal.before_command = self
        return self

    def __exit__(self, *exc: object) -> None:
        self.portal.before_command = None


def titles(target: SqlTarget, family: Family, *ids: int) -> list[str]:
    table = target.qualified("synced")
    return [
        target.rows(f'SELECT "{family.title}" FROM {table} WHERE "{family.key}" = :i', i=i)[0][0] for i in ids
    ]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.entity)
@pytest.mark.parametrize("client_kwargs", [ONE_CHAIN, None], ids=["one-chain", "default-chains"])
def test_an_edit_made_during_the_export_reaches_the_next_run(make_portal, sql_target, family, client_kwargs):
    emulator = make_portal(deals=ROWS, items=ROWS, tasks=ROWS)
    with Race(emulator, family) as race:
        first = sync(sql_target, family, client_kwargs=client_kwargs).execute(make_context())
    assert race.fired_at is not None, "the export never continued past its first page"
    assert first["rows"] == ROWS
    assert titles(sql_target, family, race.a, race.b) != ["edited A", "edited B"]  # A was read before
    assert titles(sql_target, family, race.b) == ["edited B"]
    # run 1 saw B's cursor 8 s after A's edit, but its watermark stays at its own start
    watermark = parse_time(first["watermark"])
    assert watermark is not None and watermark.timestamp() <= race.fired_at
    assert parse_time(first["max_cursor"]) > watermark  # type: ignore[operator]

    sync(sql_target, family, client_kwargs=client_kwargs).execute(make_context(run_id="run2"))
    assert titles(sql_target, family, race.a, race.b) == ["edited A", "edited B"]
    assert sql_target.ids("synced", family.key) == seeded_ids(emulator, family.entity)


def test_without_a_fields_call_the_start_comes_from_server_time(make_portal, sqlite_target):
    """``column_types="values"`` makes no ``.fields`` call: the export's first answer is then
    ``server.time``'s, and the watermark is capped at it all the same."""
    family = FAMILIES[0]
    emulator = make_portal(deals=ROWS)
    with Race(emulator, family) as race:
        first = sync(sqlite_target, family, column_types="values").execute(make_context())
    watermark = parse_time(first["watermark"])
    assert race.fired_at is not None and watermark is not None and watermark.timestamp() <= race.fired_at
    sync(sqlite_target, family, column_types="values").execute(make_context(run_id="run2"))
    assert titles(sqlite_target, family, race.a, race.b) == ["edited A", "edited B"]


def test_a_resumed_export_keeps_the_start_of_its_first_try(make_portal, sqlite_target):
    """Try 1 starts, A and B are edited, try 1 fails; try 2 resumes later. The watermark is capped at
    try 1's start, not try 2's (which is after A's edit)."""
    family = FAMILIES[0]
    emulator = make_portal(deals=7000)
    options = {
        "settings": {
            "batch_size": 10,
            "max_parallel_chains": 4,
            "retry": {"max_attempts": 2, "base": 0.01, "cap": 0.02},
        }
    }
    op = sync(sqlite_target, family, client_kwargs=options, chunk_rows=500, retries=3)
    race = Race(emulator, family)
    pages = []

    def edit_then_fail(method: str, params: Mapping[str, Any]) -> None:
        race(method, params)
        if race.fired_at is not None and method == family.method:
            pages.append(method)
            if len(pages) == 40:  # a few chunks are staged and checkpointed by now: break the portal
                emulator.portal.config.faults.server_error = 1.0

    emulator.portal.before_command = edit_then_fail
    try:
        with pytest.raises(BitrixError):
            op.execute(make_context(try_number=1))
    finally:
        emulator.portal.before_command = None
    assert race.fired_at is not None and len(pages) >= 40
    configure(emulator, {"faults": {"server_error": 0.0}})
    emulator.portal.clock.advance(60)  # try 2 starts a minute later
    resumed = op.execute(make_context(try_number=2))
    assert resumed["resumed"] is True
    watermark = parse_time(resumed["watermark"])
    assert watermark is not None and watermark.timestamp() <= race.fired_at

    op.execute(make_context(run_id="run2"))
    assert titles(sqlite_target, family, race.a, race.b) == ["edited A", "edited B"]


# -- data intervals ------------------------------------------------------------------------------


def test_an_interval_is_exported_once_the_portals_clock_has_passed_its_end(make_portal, sqlite_target):
    """A run whose interval ends 30 portal seconds from now waits for it (on the client's clock)."""
    family = FAMILIES[0]
    emulator = make_portal(deals=300, time_scale=50)
    now = datetime.fromtimestamp(emulator.portal.clock.now(), timezone.utc)
    start, end = now - timedelta(hours=1), now + timedelta(seconds=30)
    seen: list[float] = []

    def first_list_call(method: str, params: Mapping[str, Any]) -> None:
        if method == family.method and not seen:
            seen.append(emulator.portal.clock.now())

    emulator.portal.before_command = first_list_call
    op = sync(sqlite_target, family, use_data_interval=True, client_kwargs={"time_scale": 50})
    summary = op.execute(make_context(data_interval=(start, end)))
    emulator.portal.before_command = None
    assert seen and seen[0] >= end.replace(microsecond=0).timestamp()
    assert summary["incremental_to"] == format_time(end)


def test_an_interval_far_in_the_future_is_retried_later(make_portal, sqlite_target):
    family = FAMILIES[0]
    emulator = make_portal(deals=300)
    now = datetime.fromtimestamp(emulator.portal.clock.now(), timezone.utc)
    op = sync(sqlite_target, family, use_data_interval=True)
    with pytest.raises(IntervalNotOverError) as failure:
        op.execute(make_context(data_interval=(now, now + timedelta(hours=1))))
    assert 3500 < failure.value.retry_after <= 3600
    action, delay, _ = decide(failure.value)
    assert action == "retry" and delay is not None and delay.total_seconds() >= 3500
    assert "synced" not in sqlite_target.tables()


# -- the rule itself -------------------------------------------------------------------------------


def test_the_watermark_is_the_largest_cursor_loaded_capped_at_the_start():
    start = "2026-05-01T12:00:00+03:00"
    assert next_high_water(None, "2026-05-01T08:00:00+00:00", start) == "2026-05-01T08:00:00+00:00"
    assert next_high_water(None, "2026-05-01T09:00:08+00:00", start) == start  # edited during the export
    assert next_high_water("2026-05-01T08:30:00+00:00", "2026-05-01T08:00:00+00:00", start) == (
        "2026-05-01T08:30:00+00:00"
    )
    assert next_high_water(None, None, start) == start  # nothing changed: everything before it was read


def test_interval_wait():
    bounds = Bounds("2026-05-01T11:00:00+00:00", "2026-05-01T12:00:00+00:00", "data_interval")
    assert interval_wait(bounds, "2026-05-01T12:00:05+00:00") == 0
    assert interval_wait(bounds, "2026-05-01T11:59:30+00:00") == 30
    with pytest.raises(IntervalNotOverError):
        interval_wait(bounds, "2026-05-01T11:58:00+00:00")
    assert interval_wait(Bounds("x", None, "state"), "2026-05-01T11:58:00+00:00") == 0


def test_bounds_from_state_and_data_interval():
    from datetime import datetime, timedelta, timezone

    bounds = resolve_bounds("2024-08-30T14:29:05+02:00", timedelta(seconds=5), None)
    assert bounds.lower == "2024-08-30T14:29:00+02:00" and bounds.upper is None
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    bounds = resolve_bounds("2024-08-30T14:29:05+02:00", timedelta(0), (start, start + timedelta(days=1)))
    assert (bounds.lower, bounds.upper) == ("2024-01-01T00:00:00+00:00", "2024-01-02T00:00:00+00:00")
    assert resolve_bounds(None, timedelta(0), None).lower is None
    cursor = CursorField("DATE_MODIFY", "DATE_MODIFY")
    assert apply_bounds({"STAGE_ID": "WON"}, cursor, bounds) == {
        "STAGE_ID": "WON",
        ">=DATE_MODIFY": "2024-01-01T00:00:00+00:00",
        "<DATE_MODIFY": "2024-01-02T00:00:00+00:00",
    }
    with pytest.raises(ValueError, match="already bounds the cursor field"):
        apply_bounds({">DATE_MODIFY": "x"}, cursor, bounds)
