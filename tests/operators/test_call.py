"""Bitrix24CallOperator over real HTTP: order, errors, XCom-templated items, SQL in and out."""

from __future__ import annotations

import json
import logging
import re
from types import SimpleNamespace
from typing import Any

import pytest

from bitrix24_provider.emulator import Faults
from bitrix24_provider.operators.bitrix24 import Bitrix24CallError, Bitrix24CallOperator, Bitrix24WriteError
from bitrix24_provider.operators.call import AirflowFailException
from bitrix24_provider.operators.retry import decide
from bitrix24_provider.staging.errors import StagingConfigError
from tests.dag_runs import load_dag, returned, use_test_dags
from tests.staging._support import configure, make_context, rest, seeded_ids, stats


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
    # item 1 was written: another try would write it again, Airflow must not retry
    assert isinstance(failure.value, Bitrix24WriteError) and isinstance(failure.value, AirflowFailException)
    assert decide(failure.value)[0] == "fail"

    with pytest.raises(Bitrix24CallError) as missing:
        call_op(method="crm.deal.get", items=[{"id": 999999}]).execute(make_context())
    assert not isinstance(missing.value, Bitrix24WriteError)  # a read
    assert decide(missing.value)[0] == "default"  # NOT_FOUND: the task's own retries decide

    with pytest.raises(Bitrix24CallError) as invalid:
        call_op(method="crm.deal.update", items=[{"id": "bad"}]).execute(make_context())
    assert not isinstance(invalid.value, Bitrix24WriteError)  # nothing was written
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


def test_single_key_answers_are_unwrapped_in_xcom_and_the_results_table(make_portal, sql_target):
    """The client returns ``crm.item.add``'s item, not ``{"item": {...}}`` (fast_bitrix24's shape):
    so do the XCom results and the results table, one per item."""
    make_portal(deals=3, items=3)
    items = [{"entityTypeId": 1032, "fields": {"title": f"op {n}"}} for n in range(3)]
    small = call_op(method="crm.item.add", items=items[:2]).execute(make_context())
    assert [r["title"] for r in small["results"]] == ["op 0", "op 1"]
    call_op(
        method="crm.item.add",
        items=items,
        sql_conn_id=sql_target.conn_id,
        results_table="item_results",
        results_schema=sql_target.schema,
        xcom_max_items=2,
    ).execute(make_context())
    rows = sql_target.rows(f'SELECT "result" FROM {sql_target.qualified("item_results")} ORDER BY "position"')
    results = [r[0] if isinstance(r[0], dict) else json.loads(r[0]) for r in rows]
    assert [r["title"] for r in results] == ["op 0", "op 1", "op 2"]


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


# -- writes with a known outcome -------------------------------------------------------------------

#: a client that gives up quickly and waits out the portal's request cap on a 1000x clock
FAST = {
    "time_scale": 1000.0,
    "settings": {
        "batch_size": 10,
        "request_timeout": 5.0,
        "retry": {"max_attempts": 8, "base": 0.001, "cap": 0.002},
    },
}


def adds(marker: str, n: int = 100, key: bool = False) -> list[dict[str, Any]]:
    return [
        {"fields": {"TITLE": f"{marker} #{i}", **({"ORIGIN_ID": f"{marker}-{i}"} if key else {})}}
        for i in range(n)
    ]


def made(portal: Any, marker: str) -> dict[str, list[int]]:
    configure(portal, {"faults": {"server_error_after": 0.0, "drop_after": 0.0, "server_error": 0.0}})
    ids: dict[str, list[int]] = {}
    for start in range(0, 10_000, 50):
        page = rest(
            portal, "crm.deal.list", {"filter": {"%TITLE": marker}, "select": ["ID", "TITLE"], "start": start}
        )
        for row in page:
            ids.setdefault(row["TITLE"], []).append(int(row["ID"]))
        if len(page) < 50:
            return ids
    raise AssertionError("too many deals")


def pushing_context() -> tuple[dict[str, Any], dict[str, Any]]:
    context, pushed = make_context(), {}
    context["ti"].xcom_push = lambda key, value: pushed.update({key: value})
    return context, pushed


@pytest.mark.parametrize("on_error", ["fail", "collect"])
def test_unknown_items_fail_the_task_and_are_counted_truthfully(make_portal, on_error):
    portal = make_portal(deals=5, time_scale=1000.0, faults=Faults(server_error_after=0.3, seed=4))
    context, pushed = pushing_context()
    op = call_op(method="crm.deal.add", items=adds("zq-op"), on_error=on_error, client_kwargs=FAST)
    with pytest.raises(
        Bitrix24WriteError, match=r"items have an unknown outcome \(may have run\): #"
    ) as raised:
        op.execute(context)
    summary = pushed["return_value"]
    unknown = summary["unknown_positions"]
    assert raised.value.unknown == unknown and summary["unknown"] == len(unknown) > 0
    assert (summary["succeeded"], summary["failed"]) == (100 - len(unknown), 0)
    assert "not retried: the task has written" in str(raised.value)
    assert decide(raised.value)[0] == "fail"
    assert all(summary["results"][n] is None for n in unknown)
    titles = made(portal, "zq-op")
    assert all(len(ids) == 1 for ids in titles.values())  # the portal ran every add once
    assert all(titles[f"zq-op #{n}"] == [r] for n, r in enumerate(summary["results"]) if r is not None)
    assert stats(portal)["commands_by_method"]["crm.deal.add"] == len(titles) == 100


def test_an_external_key_settles_unknown_adds(make_portal):
    portal = make_portal(deals=5, time_scale=1000.0, faults=Faults(drop_after=0.3, server_error=0.3, seed=5))
    summary = call_op(
        method="crm.deal.add", items=adds("zq-key", key=True), external_key="ORIGIN_ID", client_kwargs=FAST
    ).execute(make_context())
    assert (summary["succeeded"], summary["failed"], summary["unknown"]) == (100, 0, 0)
    assert stats(portal)["faults"]  # some adds were looked up
    titles = made(portal, "zq-key")
    assert [titles[f"zq-key #{n}"] for n in range(100)] == [[r] for r in summary["results"]]


def test_retry_unknown_repeats_idempotent_updates(make_portal):
    portal = make_portal(deals=30, time_scale=1000.0, faults=Faults(server_error_after=0.3, seed=6))
    ids = seeded_ids(portal)
    items = [{"id": i, "fields": {"COMMENTS": "fixed value"}} for i in ids]
    summary = call_op(method="crm.deal.update", items=items, retry_unknown=True, client_kwargs=FAST).execute(
        make_context()
    )
    assert (summary["succeeded"], summary["unknown"]) == (30, 0)
    assert stats(portal)["commands_by_method"]["crm.deal.update"] > 30  # sent again after a 500


def test_the_results_table_tells_each_outcome(make_portal, sql_target):
    make_portal(deals=5, time_scale=1000.0, faults=Faults(drop_after=0.3, seed=4))
    context, pushed = pushing_context()
    with pytest.raises(Bitrix24WriteError):
        call_op(
            method="crm.deal.add",
            items=adds("zq-table", n=40),
            sql_conn_id=sql_target.conn_id,
            results_table="call_results",
            results_schema=sql_target.schema,
            xcom_max_items=10,
            client_kwargs=FAST,
        ).execute(context)
    rows = sql_target.rows(
        f'SELECT "position", "outcome", "result", "error_description" '
        f'FROM {sql_target.qualified("call_results")} ORDER BY "position"'
    )
    unknown = [r[0] for r in rows if r[1] == "unknown"]
    assert unknown == pushed["return_value"]["unknown_positions"] and unknown
    assert all(r[2] is None and r[3].startswith("outcome unknown: ") for r in rows if r[1] == "unknown")
    assert {r[1] for r in rows} == {"succeeded", "unknown"}


def test_call_arguments_for_outcomes_are_checked():
    with pytest.raises(ValueError, match="retry_unknown must be True or False"):
        call_op(method="crm.deal.add", items=[], retry_unknown="yes")
    with pytest.raises(ValueError, match=r"external_key works with crm\.item\.add"):
        call_op(method="crm.deal.update", items=[], external_key="ORIGIN_ID")
    templated = call_op(method="crm.deal.update", items=[], external_key="{{ params.key }}")
    templated.external_key = "ORIGIN_ID"  # rendered
    with pytest.raises(StagingConfigError, match=r"external_key works with crm\.item\.add"):
        templated.execute(make_context())


@pytest.mark.slow
def test_airflow_does_not_retry_a_task_that_has_written(make_portal, airflow_db, monkeypatch):
    # every batch of adds runs on the portal and then answers 500: every item's outcome is unknown
    portal = make_portal(deals=5, time_scale=1000.0, faults=Faults(server_error_after=1.0, methods=["batch"]))
    use_test_dags(monkeypatch)
    dag_run = load_dag("bitrix24_call_writes").test()
    tries = {ti.task_id: (str(ti.state), ti.try_number) for ti in dag_run.get_task_instances()}
    assert tries == {
        "add_with_policy": ("failed", 1),  # Bitrix24WriteError: failed at once
        "add_without_policy": ("failed", 1),  # an AirflowFailException needs no retry policy
        "get_missing": ("failed", 3),  # a read: Airflow's own retries ran
    }
    summary = returned(dag_run, "add_with_policy")  # pushed although the task failed
    assert (summary["succeeded"], summary["failed"], summary["unknown"]) == (0, 0, 20)
    assert summary["unknown_positions"] == list(range(20))
    counts = stats(portal)["commands_by_method"]
    assert counts["crm.deal.add"] == 40  # each add sent once
    assert counts["crm.deal.get"] == 3 * 2  # three tries of the read, two client attempts each
    for marker in ("zq-policy", "zq-plain"):
        assert sorted(made(portal, marker)) == sorted(f"{marker} #{n}" for n in range(20))  # once each


def test_call_errors_survive_pickling_and_scrub_secrets():
    import pickle

    failure = {"position": 0, "error": "", "error_description": "Not found"}
    secret = "https://portal.example/rest/1/s3cr3tc0de/crm.deal.add"
    for error in (
        Bitrix24CallError("crm.deal.get", 3, [failure]),
        Bitrix24WriteError("crm.deal.add", 3, [failure], [1, 2], f"failed after the call: {secret}"),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert (type(copy), str(copy), copy.unknown, copy.failures) == (
            type(error),
            str(error),
            error.unknown,
            error.failures,
        )
        assert "s3cr3tc0de" not in str(copy)


def test_progress_lines_while_items_are_sent(make_portal, caplog):
    """Ten batches of 50 adds at ~4.6 portal seconds each, sent one at a time, take ~46 s on the
    emulator's fast-forwarded clock (time_scale 50, the client's too): a 5-second interval gives
    lines in between, items done only grow, and the last line says all are done."""
    caplog.set_level(logging.INFO, logger="bitrix24_provider")
    make_portal(deals=10, simulate_cost=True, time_scale=50)
    items = [{"fields": {"TITLE": f"new #{n}"}} for n in range(500)]
    kwargs = {"time_scale": 50, "settings": {"max_concurrent_requests": 1}}
    summary = call_op(method="crm.deal.add", items=items, progress_interval=5, client_kwargs=kwargs).execute(
        make_context()
    )

    assert summary["succeeded"] == 500
    *lines, last = [r.getMessage() for r in caplog.records if r.name == "bitrix24_provider.sync.progress_log"]
    assert len(lines) >= 4, lines
    assert all(re.match(r"[\d,]+ of 500 items \(\d+%\), \d+ requests?, ", line) for line in lines), lines
    done = [int(line.split(" of ")[0].replace(",", "")) for line in lines]
    assert done == sorted(done) and 0 < done[-1] <= 500
    # the duration reads "2.4 s" or, on a loaded machine, "1 min 6 s"
    assert re.fullmatch(r"Finished 500 of 500 items in [^,]+ s, 10 requests, [\d,.]+ items/s", last)
    assert not [r for r in caplog.records if "None" in r.getMessage()]
