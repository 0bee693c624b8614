"""Bitrix24GetAllOperator into SQLite and PostgreSQL, over real HTTP to the emulator."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from bitrix24_provider.client.errors import MethodNotFound
from bitrix24_provider.operators.bitrix24 import Bitrix24GetAllOperator
from bitrix24_provider.operators.retry import decide
from bitrix24_provider.staging.errors import ColumnPolicyError, InvalidIdentifierError, StagingConfigError
from tests.staging._support import configure, make_context, rest, seeded_ids, stats

SUMMARY_KEYS = {
    "rows",
    "rows_read",
    "pages",
    "requests",
    "max_cursor",
    "target",
    "mode",
    "resumed",
    "resumable",
}


def get_all(target, table: str = "deals", **kwargs: Any) -> Bitrix24GetAllOperator:
    kwargs.setdefault("task_id", "export")
    kwargs.setdefault("method", "crm.deal.list")
    return Bitrix24GetAllOperator(
        sql_conn_id=target.conn_id, target_table=table, target_schema=target.schema, **kwargs
    )


def test_full_replace_loads_the_exact_ids_with_typed_uf_columns(make_portal, sql_target):
    portal = make_portal(deals=3000)
    summary = get_all(sql_target, select=["*", "UF_*"]).execute(make_context())

    assert sql_target.ids("deals") == seeded_ids(portal)
    assert summary["rows"] == summary["rows_read"] == 3000
    assert summary["mode"] == "replace" and summary["resumed"] is False
    assert set(summary) == SUMMARY_KEYS
    assert summary["target"] == (f"{sql_target.schema}.deals" if sql_target.schema else "deals")
    # only a small summary, never the webhook
    text = json.dumps(summary)
    assert portal.config.webhook_code not in text and "/rest/" not in text
    assert len(text) < 500

    types = sql_target.column_types("deals")
    uf = {name: kind for name, kind in types.items() if name.startswith("UF_")}
    assert len(uf) >= 5
    if sql_target.kind == "postgres":
        assert types["ID"] == "BIGINT"
        assert types["DATE_MODIFY"] == "TIMESTAMP WITH TIME ZONE"
        assert types["BEGINDATE"] == "DATE"
        assert types["OPENED"] == "BOOLEAN"
        assert uf["UF_CRM_1719812400102"] == "DOUBLE PRECISION"
        assert uf["UF_CRM_1719812400103"] == "TIMESTAMP WITH TIME ZONE"
        assert uf["UF_CRM_1719812400105"] == "BOOLEAN"
        assert uf["UF_CRM_1719812400101"] == "TEXT"
    else:
        assert types["ID"] == "INTEGER" and types["OPPORTUNITY"] == "REAL"
        assert uf["UF_CRM_1719812400102"] == "REAL"
    assert sql_target.state("deals") == [("crm.deal.list", "", None, 3000)]
    assert not [t for t in sql_target.tables() if t.startswith("_b24stg_")]


def test_replace_again_reflects_deletions(make_portal, sql_target):
    portal = make_portal(deals=300)
    get_all(sql_target).execute(make_context())
    gone = seeded_ids(portal)[5]
    rest(portal, "crm.deal.delete", {"id": gone})
    get_all(sql_target).execute(make_context())
    assert gone not in sql_target.ids("deals")
    assert sql_target.ids("deals") == seeded_ids(portal)


def test_append_adds_a_second_copy(make_portal, sql_target):
    portal = make_portal(deals=120)
    get_all(sql_target, write_disposition="append").execute(make_context())
    get_all(sql_target, write_disposition="append").execute(make_context())
    assert sql_target.ids("deals") == sorted(seeded_ids(portal) * 2)


def test_incremental_merge_reads_only_the_changed_deals(make_portal, sql_target):
    portal = make_portal(deals=2000)
    op = get_all(sql_target, cursor_field="DATE_MODIFY", lag=timedelta(0))
    first = op.execute(make_context())
    assert first["mode"] == "merge" and first["incremental_from"] is None
    assert sql_target.ids("deals") == seeded_ids(portal)
    table = sql_target.qualified("deals")
    high_water = sql_target.state("deals")[0][2]
    assert high_water == first["max_cursor"]
    at_watermark = {
        int(r[0])
        for r in sql_target.rows(f'SELECT "ID", "DATE_MODIFY" FROM {table}')
        if _instant(r[1]) >= _instant(high_water)
    }

    changed = seeded_ids(portal)[10:15]
    for deal_id in changed:
        rest(portal, "crm.deal.update", {"id": deal_id, "fields": {"TITLE": f"changed {deal_id}"}})
    new_id = int(rest(portal, "crm.deal.add", {"fields": {"TITLE": "brand new"}}))

    second = op.execute(make_context())
    expected = set(changed) | {new_id} | at_watermark
    assert second["incremental_from"] == high_water
    assert second["rows"] == second["rows_read"] == len(expected)
    titles = dict(sql_target.rows(f'SELECT "ID", "TITLE" FROM {table}'))
    assert {deal_id: titles[deal_id] for deal_id in changed} == {d: f"changed {d}" for d in changed}
    assert titles[new_id] == "brand new"
    assert sql_target.ids("deals") == seeded_ids(portal)
    state = sql_target.state("deals")
    assert state == [("crm.deal.list", "DATE_MODIFY", second["max_cursor"], len(expected))]
    assert _instant(second["max_cursor"]) > _instant(high_water)

    third = op.execute(make_context())  # nothing changed: only the rows at the watermark again
    assert third["rows"] <= 6 and sql_target.ids("deals") == seeded_ids(portal)


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def test_incremental_smart_process_items(make_portal, sqlite_target):
    portal = make_portal(deals=10, items=300)
    op = get_all(
        sqlite_target,
        "items",
        method="crm.item.list",
        call_params={"entityTypeId": 1032},
        cursor_field="updatedTime",
        lag=0,
    )
    first = op.execute(make_context())
    assert first["rows"] == 300
    assert sqlite_target.ids("items", "id") == seeded_ids(portal, "item")
    assert sqlite_target.column_types("items")["updatedTime"] == "TEXT"
    item_id = seeded_ids(portal, "item")[3]
    rest(portal, "crm.item.update", {"entityTypeId": 1032, "id": item_id, "fields": {"title": "renamed"}})
    second = op.execute(make_context())
    assert 1 <= second["rows"] <= 3
    assert dict(sqlite_target.rows('SELECT "id", "title" FROM "items"'))[item_id] == "renamed"
    assert sqlite_target.count("items") == 300


def test_incremental_tasks_use_changed_date(make_portal, sqlite_target):
    portal = make_portal(deals=10, tasks=200)
    op = get_all(
        sqlite_target,
        "tasks",
        method="tasks.task.list",
        select=["ID", "TITLE"],
        cursor_field="CHANGED_DATE",
        lag=0,
    )
    first = op.execute(make_context())
    assert first["rows"] == 200
    assert sqlite_target.ids("tasks", "id") == seeded_ids(portal, "task")
    assert {"id", "title", "changedDate"} <= set(sqlite_target.column_types("tasks"))
    task_id = seeded_ids(portal, "task")[7]
    rest(portal, "tasks.task.update", {"taskId": task_id, "fields": {"TITLE": "renamed task"}})
    second = op.execute(make_context())
    assert 1 <= second["rows"] <= 3
    assert dict(sqlite_target.rows('SELECT "id", "title" FROM "tasks"'))[task_id] == "renamed task"
    assert sqlite_target.state("tasks")[0][:2] == ("tasks.task.list", "CHANGED_DATE")


def test_data_interval_bounds_the_cursor(make_portal, sqlite_target):
    make_portal(deals=500)
    start = datetime(2023, 1, 1, tzinfo=timezone.utc)
    end = datetime(2023, 7, 1, tzinfo=timezone.utc)
    summary = get_all(sqlite_target, cursor_field="DATE_MODIFY", use_data_interval=True, lag=0).execute(
        make_context(data_interval=(start, end))
    )
    assert (summary["incremental_from"], summary["incremental_to"]) == (
        "2023-01-01T00:00:00+00:00",
        "2023-07-01T00:00:00+00:00",
    )
    moments = [_instant(r[0]) for r in sqlite_target.rows('SELECT "DATE_MODIFY" FROM "deals"')]
    assert moments and all(start <= m < end for m in moments)


def test_faults_still_give_the_exact_ids_without_duplicates(make_portal, sql_target):
    portal = make_portal(deals=4000)
    configure(portal, {"faults": {"server_error": 0.05, "silent_empty": 0.05, "seed": 3}})
    summary = get_all(
        sql_target,
        select=["ID", "TITLE", "DATE_MODIFY"],
        client_kwargs={"settings": {"retry": {"max_attempts": 8, "base": 0.01, "cap": 0.05}}},
    ).execute(make_context())
    faults = stats(portal)["faults"]
    assert faults.get("server_error", 0) + faults.get("silent_empty", 0) > 0
    ids = sql_target.ids("deals")
    assert ids == seeded_ids(portal) and len(ids) == len(set(ids)) == summary["rows"]


def test_new_columns_follow_the_policy(make_portal, sqlite_target):
    make_portal(deals=100)
    get_all(sqlite_target, cursor_field="DATE_MODIFY", select=["ID", "TITLE"]).execute(make_context())
    wider = {"cursor_field": "DATE_MODIFY", "select": ["ID", "TITLE", "UF_CRM_1719812400101"]}

    with pytest.raises(ColumnPolicyError, match="UF_CRM_1719812400101") as failure:
        get_all(sqlite_target, column_policy="fail", **wider).execute(make_context())
    assert decide(failure.value)[0] == "fail"
    assert "UF_CRM_1719812400101" not in sqlite_target.column_types("deals")

    ignored = get_all(sqlite_target, column_policy="ignore", **wider).execute(make_context())
    assert ignored["columns_ignored"] == ["UF_CRM_1719812400101"]
    assert "UF_CRM_1719812400101" not in sqlite_target.column_types("deals")

    added = get_all(sqlite_target, column_policy="add", **wider).execute(make_context())
    assert added["columns_added"] == ["UF_CRM_1719812400101"]
    assert sqlite_target.column_types("deals")["UF_CRM_1719812400101"] == "TEXT"
    assert not [t for t in sqlite_target.tables() if t.startswith("_b24stg_")]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target_table": "deals; DROP TABLE x"}, "target_table must be a simple SQL identifier"),
        ({"target_schema": "bad schema"}, "target_schema must be a simple SQL identifier"),
        ({"write_disposition": "upsert"}, "write_disposition must be one of"),
        ({"column_policy": "evolve"}, "column_policy must be one of"),
        ({"chunk_rows": 0}, "chunk_rows must be a positive integer"),
        ({"cursor_field": "DATE_MODIFY", "write_disposition": "replace"}, "needs write_disposition 'merge'"),
        ({"use_data_interval": True}, "use_data_interval=True needs a cursor_field"),
        ({"write_disposition": "merge", "primary_key": None}, "needs a primary_key"),
        ({"lag": "soon"}, "lag must be a timedelta"),
        ({"output_path": "/tmp/x.parquet"}, "exactly one destination"),
        ({"sql_conn_id": None}, "sql_conn_id is required"),
        ({"column_types": "guess"}, "column_types must be one of fields, values"),
        ({"method": "lists.element.get"}, "needs the .fields method of lists.element.get"),
        ({"allow_column_drop": "yes"}, "allow_column_drop must be True or False"),
        ({"allow_column_drop": True, "write_disposition": "append"}, "allow_column_drop=True needs"),
    ],
)
def test_bad_arguments_fail_at_construction(sqlite_target, kwargs, message):
    arguments = {
        "task_id": "export",
        "method": "crm.deal.list",
        "sql_conn_id": "stage_sqlite",
        "target_table": "deals",
    }
    arguments.update(kwargs)
    if arguments.get("sql_conn_id") is None:
        arguments.pop("sql_conn_id")
    with pytest.raises(ValueError, match=message):
        Bitrix24GetAllOperator(**arguments)


def test_arguments_next_to_a_templated_method_are_checked_once_it_renders(make_portal, sqlite_target):
    portal = make_portal(deals=5)
    op = Bitrix24GetAllOperator(
        task_id="export",
        method="{{ params.method }}",
        sql_conn_id="stage_sqlite",
        target_table="deals",
        chunk_rows=0,
    )
    op.method = "crm.deal.list"  # as rendered
    with pytest.raises(StagingConfigError, match="chunk_rows must be a positive integer"):
        op.execute(make_context())
    assert stats(portal)["http_requests"] == 0 and not sqlite_target.tables()


def test_output_path_needs_a_known_suffix():
    with pytest.raises(ValueError, match="output_path must end with one of"):
        Bitrix24GetAllOperator(task_id="x", method="crm.deal.list", output_path="/tmp/deals.xlsx")
    with pytest.raises(ValueError, match="exactly one destination"):
        Bitrix24GetAllOperator(task_id="x", method="crm.deal.list")


def test_bad_runtime_input_fails_fast_and_writes_nothing(make_portal, sqlite_target):
    make_portal(deals=50)
    with pytest.raises(MethodNotFound) as failure:
        get_all(sqlite_target, method="crm.nothing.list").execute(make_context())
    assert decide(failure.value)[0] == "fail"
    assert "deals" not in sqlite_target.tables()

    # a template that rendered into an unsafe table name
    op = get_all(sqlite_target, "{{ params.table }}")
    op.target_table = "deals; DROP TABLE x"
    with pytest.raises(InvalidIdentifierError, match="target_table"):
        op.execute(make_context())

    op = get_all(sqlite_target, filter="{{ params.filter }}")
    op.filter = "not a filter"
    with pytest.raises(StagingConfigError, match="filter must be a dict"):
        op.execute(make_context())

    with pytest.raises(StagingConfigError, match="already bounds the cursor field"):
        get_all(sqlite_target, cursor_field="DATE_MODIFY", filter={">DATE_MODIFY": "2024-01-01"}).execute(
            make_context()
        )
    assert not [t for t in sqlite_target.tables() if t in ("deals",) or t.startswith("_b24stg_")]


def test_template_fields_cover_the_arguments():
    fields = set(Bitrix24GetAllOperator.template_fields)
    assert {
        "bitrix24_conn_id",
        "sql_conn_id",
        "method",
        "call_params",
        "select",
        "filter",
        "target_table",
        "output_path",
        "cursor_field",
    } <= fields


def test_templates_render(make_portal, sqlite_target):
    from airflow.sdk import DAG

    portal = make_portal(deals=80)
    with DAG("b24_templates", schedule=None, render_template_as_native_obj=True):
        op = get_all(
            sqlite_target,
            "{{ params.table }}",
            select="{{ params.select }}",
            filter={"STAGE_ID": "{{ params.stage }}"},
            params={"table": "won", "select": ["ID", "STAGE_ID"], "stage": "WON"},
        )
    context = make_context()
    context["params"] = {"table": "won", "select": ["ID", "STAGE_ID"], "stage": "WON"}
    op.render_template_fields(context)
    summary = op.execute(context)
    assert summary["target"] == "won"
    stages = {r[0] for r in sqlite_target.rows('SELECT DISTINCT "STAGE_ID" FROM "won"')}
    assert stages == {"WON"}
    assert set(sqlite_target.column_types("won")) == {"ID", "STAGE_ID"}
    assert summary["rows"] < len(seeded_ids(portal))


PROGRESS = "bitrix24_provider.sync.progress_log"


def our_lines(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> list[str]:
    """The messages of our modules (standard logging) and of the operator (``self.log``, which
    Airflow's structlog prints: ``<time> [info     ] <message> [airflow.task.operators...]``)."""
    task = re.compile(r"\[\w+ *\] (.*?) +\[airflow\.task\.operators\.bitrix24_provider[^\]]*\]")
    printed = [m.group(1) for m in map(task.search, capfd.readouterr().out.splitlines()) if m]
    return [r.getMessage() for r in caplog.records if "bitrix24_provider" in r.name] + printed


def test_progress_lines_in_the_task_log(make_portal, sqlite_target, caplog, capfd):
    """With the interval at 0 every page makes a line; rows only grow; a last line, no None."""
    caplog.set_level(logging.INFO)
    make_portal(deals=3000)
    summary = get_all(sqlite_target, progress_interval=0).execute(make_context())

    *lines, last = [r.getMessage() for r in caplog.records if r.name == PROGRESS]
    assert len(lines) == summary["pages"]
    rows = [int(line.split(" ")[0].replace(",", "")) for line in lines]
    assert rows == sorted(set(rows)) and rows[-1] == 3000
    assert all(re.search(r" rows?( \(\d+%\))?, \d+ pages?, \d+ requests?, ", line) for line in lines), lines
    assert re.fullmatch(
        rf"Read 3,000 rows in [\d.]+ s, {summary['pages']} pages, \d+ requests, .* rows/s", last
    )
    lines = our_lines(caplog, capfd)
    assert lines[-1] == "Exported 3,000 rows to deals (replace)"
    assert not [line for line in lines if "None" in line]


def test_log_sentences_say_what_is_read_without_none(make_portal, sqlite_target, caplog, capfd):
    caplog.set_level(logging.INFO)
    portal = make_portal(deals=1)
    op = get_all(sqlite_target, cursor_field="DATE_MODIFY", lag=timedelta(seconds=5))
    op.execute(make_context())
    op.execute(make_context())

    lines = our_lines(caplog, capfd)
    assert "Incremental crm.deal.list: every row (no watermark stored yet)" in lines
    (watermark,) = {row[2] for row in sqlite_target.state("deals")}
    since = (_instant(watermark) - timedelta(seconds=5)).isoformat(timespec="seconds")
    assert (
        f"Incremental crm.deal.list: rows with DATE_MODIFY >= {since} (the stored watermark minus lag)"
        in lines
    )
    assert lines.count("Exported 1 row to deals (merge)") == 2
    assert not [line for line in lines if "None" in line or " 1 rows" in line]
    assert portal.config.webhook_code not in caplog.text
