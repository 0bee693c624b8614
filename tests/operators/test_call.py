"""Bitrix24CallOperator over real HTTP: order, errors, XCom-templated items, SQL in and out."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from bitrix24_provider.operators.bitrix24 import Bitrix24CallError, Bitrix24CallOperator
from bitrix24_provider.operators.retry import decide
from bitrix24_provider.staging.errors import StagingConfigError
from tests.staging._support import make_context, rest, seeded_ids, stats


def call_op(**kwargs: Any) -> Bitrix24CallOperator:
    kwargs.setdefault("task_id", "call")
    return Bitrix24CallOperator(**kwargs)


def test_collect_keeps_input_order_and_reports_errors_in_place(make_portal):
    portal = make_portal(deals=30)
    ids = seeded_ids(portal)
    items = [
        {"id": ids[0], "fields": {"TITLE": "first"}},
        {"id": 999999, "fields": {"TITLE": "missing"}},
        {"id": ids[1], "fields": {"TITLE": "second"}},
        {"id": "not a number"},
    ]
    summary = call_op(method="crm.deal.update", items=items, on_error="collect").execute(make_context())
    assert summary["results"] == [True, None, True, None]
    assert [(e["position"], e["error_description"]) for e in summary["errors"]] == [
        (1, "Not found"),
        (3, "ID is not defined or invalid."),
    ]
    assert (summary["count"], summary["succeeded"], summary["failed"]) == (4, 2, 2)
    assert rest(portal, "crm.deal.get", {"id": ids[1]})["TITLE"] == "second"
    assert portal.config.webhook_code not in json.dumps(summary)


def test_fail_raises_after_running_every_item(make_portal):
    portal = make_portal(deals=30)
    ids = seeded_ids(portal)
    items = [{"id": 999999, "fields": {"TITLE": "x"}}, {"id": ids[2], "fields": {"TITLE": "still done"}}]
    with pytest.raises(Bitrix24CallError, match=r"1 of 2 items failed: #0 \(no code\): Not found") as failure:
        call_op(method="crm.deal.update", items=items).execute(make_context())
    assert failure.value.failures == [{"position": 0, "error": "", "error_description": "Not found"}]
    assert rest(portal, "crm.deal.get", {"id": ids[2]})["TITLE"] == "still done"
    assert decide(failure.value)[0] == "default"  # NOT_FOUND: the task's own retries decide

    with pytest.raises(Bitrix24CallError) as invalid:
        call_op(method="crm.deal.update", items=[{"id": "bad"}]).execute(make_context())
    assert decide(invalid.value)[0] == "fail"  # rejected parameters never get better


def test_results_follow_input_order_across_batches(make_portal):
    portal = make_portal(deals=10)
    items = [{"fields": {"TITLE": f"new #{n}"}} for n in range(130)]
    summary = call_op(method="crm.deal.add", items=items).execute(make_context())
    new_ids = summary["results"]
    assert len(new_ids) == 130 and summary["failed"] == 0
    for position in (0, 49, 50, 99, 129):
        assert rest(portal, "crm.deal.get", {"id": new_ids[position]})["TITLE"] == f"new #{position}"


@pytest.mark.parametrize("native", [True, False])
def test_items_from_an_upstream_xcom(make_portal, native):
    from airflow.sdk import DAG

    portal = make_portal(deals=10)
    ids = seeded_ids(portal)
    upstream = [{"id": i, "fields": {"COMMENTS": "from xcom"}} for i in ids[:3]]
    with DAG(f"b24_call_{native}", schedule=None, render_template_as_native_obj=native):
        op = call_op(method="crm.deal.update", items="{{ ti.xcom_pull(task_ids='pick') }}")
    context = make_context()
    context["ti"] = context["task_instance"] = SimpleNamespace(
        **vars(context["ti"]), xcom_pull=lambda task_ids=None, **_: upstream if task_ids == "pick" else None
    )
    op.render_template_fields(context)
    summary = op.execute(context)
    assert summary["results"] == [True, True, True]
    assert {rest(portal, "crm.deal.get", {"id": i})["COMMENTS"] for i in ids[:3]} == {"from xcom"}


def test_items_from_sql_with_an_item_builder(make_portal, sql_target):
    portal = make_portal(deals=20)
    ids = seeded_ids(portal)[:5]
    table = sql_target.qualified("todo")
    sql_target.execute(f'CREATE TABLE {table} ("DEAL_ID" BIGINT, "NEW_TITLE" TEXT)')
    for deal_id in ids:
        sql_target.execute(f"INSERT INTO {table} VALUES (:i, :t)", i=deal_id, t=f"from sql {deal_id}")
    summary = call_op(
        method="crm.deal.update",
        items_sql=f'SELECT "DEAL_ID", "NEW_TITLE" FROM {table} '
        "WHERE \"NEW_TITLE\" LIKE 'from%' AND ':x' <> 'y' ORDER BY \"DEAL_ID\"",
        item_builder=lambda row: {"id": row["DEAL_ID"], "fields": {"TITLE": row["NEW_TITLE"]}},
        sql_conn_id=sql_target.conn_id,
    ).execute(make_context())
    assert summary["results"] == [True] * 5
    assert [rest(portal, "crm.deal.get", {"id": i})["TITLE"] for i in ids] == [f"from sql {i}" for i in ids]


def test_large_outputs_go_to_a_results_table(make_portal, sql_target):
    portal = make_portal(deals=10)
    ids = seeded_ids(portal)
    items = [
        {"id": ids[n % len(ids)] if n % 500 else 999999, "fields": {"COMMENTS": str(n)}} for n in range(1200)
    ]
    summary = call_op(
        method="crm.deal.update",
        items=items,
        on_error="collect",
        sql_conn_id=sql_target.conn_id,
        results_table="call_results",
        results_schema=sql_target.schema,
        xcom_max_items=1000,
    ).execute(make_context())
    assert "results" not in summary and "errors" not in summary
    assert summary["rows_written"] == 1200 and summary["failed"] == 3
    assert summary["results_table"].endswith("call_results")
    assert len(json.dumps(summary)) < 300
    rows = sql_target.rows(
        f'SELECT "position", "item", "result", "error_code", "error_description" '
        f'FROM {sql_target.qualified("call_results")} ORDER BY "position"'
    )
    assert [r[0] for r in rows] == list(range(1200))
    item = rows[7][1] if isinstance(rows[7][1], dict) else json.loads(rows[7][1])
    assert item == items[7]
    assert [r[0] for r in rows if r[4] == "Not found"] == [0, 500, 1000]
    ok = rows[1][2] if not isinstance(rows[1][2], str) else json.loads(rows[1][2])
    assert ok is True


def test_too_many_items_without_a_results_table_fail_before_calling(make_portal):
    portal = make_portal(deals=5)
    with pytest.raises(StagingConfigError, match="exceed xcom_max_items=10"):
        call_op(method="crm.deal.update", items=[{"id": 1}] * 11, xcom_max_items=10).execute(make_context())
    assert "crm.deal.update" not in stats(portal)["commands_by_method"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of items and items_sql"),
        ({"items": [], "items_sql": "select 1", "sql_conn_id": "x"}, "exactly one of items and items_sql"),
        ({"items": [{"id": 1}, "nope"]}, r"items\[1\] must be a dict"),
        ({"items_sql": "select 1"}, "items_sql needs sql_conn_id"),
        ({"items": [], "results_table": "r"}, "results_table needs sql_conn_id"),
        ({"items": [], "sql_conn_id": "x", "results_table": "bad name"}, "results_table must be a simple"),
        ({"items": [], "on_error": "ignore"}, "on_error must be 'fail' or 'collect'"),
        ({"items": [], "xcom_max_items": -1}, "xcom_max_items must be a non-negative integer"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        call_op(method="crm.deal.update", **kwargs)


def test_no_items_is_fine(make_portal):
    make_portal(deals=5)
    assert call_op(method="crm.deal.update", items=[]).execute(make_context())["count"] == 0
