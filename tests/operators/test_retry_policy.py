"""The operators' default retry policy (Airflow 3.3 ``retry_policy``)."""

from __future__ import annotations

import importlib.util
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from airflow.sdk import DAG

try:
    from airflow.sdk import RetryDecision, RetryPolicy
    from airflow.sdk.definitions.retry_policy import RetryAction
except ImportError:  # pragma: no cover - Airflow < 3.3
    pytest.skip("retry_policy arrived in Airflow 3.3", allow_module_level=True)

from bitrix24_provider.client.errors import (
    AccessDenied,
    BatchError,
    IncompleteResultError,
    InvalidCredentials,
    InvalidItem,
    InvalidParams,
    MethodNotFound,
    OperationTimeLimit,
    OutcomeUnknown,
    QueryLimitExceeded,
    ServerError,
    TransportError,
)
from bitrix24_provider.operators.bitrix24 import (
    Bitrix24CallOperator,
    Bitrix24GetAllOperator,
    Bitrix24WriteError,
)
from bitrix24_provider.operators.retry import Bitrix24RetryPolicy, decide
from bitrix24_provider.staging.errors import ColumnPolicyError, InvalidIdentifierError, StagingConfigError
from tests.staging._support import make_context, stats


def policy() -> RetryPolicy:
    assert Bitrix24RetryPolicy is not None
    return Bitrix24RetryPolicy()


@pytest.mark.parametrize(
    "error",
    [
        InvalidCredentials("INVALID_CREDENTIALS", "Invalid request credentials", "crm.deal.list", 401),
        InvalidParams("INVALID_ARG_VALUE", "bad filter", "crm.deal.list", 400),
        MethodNotFound("ERROR_METHOD_NOT_FOUND", "Method not found!", "crm.nope.list", 404),
        AccessDenied("ACCESS_DENIED", "Access denied.", "crm.deal.list", 403),
        ColumnPolicyError("deals", ["UF_NEW"]),
        InvalidIdentifierError("target_table", "a b"),
        BatchError({"c0": InvalidParams("", "ID is not defined or invalid.", "crm.deal.update")}),
        OutcomeUnknown("crm.deal.add", "TimeoutError", index=3),  # another try may write twice
        BatchError({}, {"c0": 1}, unknown={"c1": OutcomeUnknown("crm.deal.add", "reset", index=1)}),
        InvalidItem(2, "fields[ORIGIN_ID] is empty"),
        Bitrix24WriteError("crm.deal.update", 5, [], [3]),
    ],
)
def test_permanent_errors_fail_fast(error):
    decision = policy().evaluate(error, try_number=1, max_tries=5)
    assert decision.action == RetryAction.FAIL and decision.reason


def test_a_permanent_cause_fails_fast_too():
    def wrap() -> None:
        try:
            raise AccessDenied("ACCESS_DENIED", "Access denied.", "crm.deal.list", 403)
        except AccessDenied as inner:
            raise RuntimeError("wrapped") from inner

    with pytest.raises(RuntimeError) as outer:
        wrap()
    assert decide(outer.value)[0] == "fail"


@pytest.mark.parametrize(
    "error",
    [
        ServerError("INTERNAL_SERVER_ERROR", "boom", "crm.deal.list", 500),
        QueryLimitExceeded("QUERY_LIMIT_EXCEEDED", "Too many requests", "crm.deal.list", 503),
        TransportError("connection reset", method="crm.deal.list"),
        IncompleteResultError("crm.deal.list", detail="no progress"),
        RuntimeError("anything else"),
        ValueError("not raised by our argument checks"),
    ],
)
def test_transient_errors_keep_the_tasks_retries(error):
    assert policy().evaluate(error, try_number=1, max_tries=5) == RetryDecision.default()


#: a connection type whose provider is not installed here
SNOWFLAKE = {"conn_type": "snowflake", "host": "acme", "login": "loader", "password": "Snowfl4ke-pa55"}


@pytest.fixture
def broken_connections(make_portal: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A portal (``bitrix24_default``) plus connections no retry can fix; none of them in the env."""
    if importlib.util.find_spec("airflow.providers.snowflake") is not None:
        pytest.skip("the Snowflake provider is installed here")
    portal = make_portal(deals=10)
    for conn_id in ("B24_NOWHERE", "STAGE_NOWHERE"):
        monkeypatch.delenv(f"AIRFLOW_CONN_{conn_id}", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_STAGE_SNOW", json.dumps(SNOWFLAKE))
    platinum = {"conn_type": "bitrix24", "host": portal.webhook_url, "extra": {"plan": "platinum"}}
    monkeypatch.setenv("AIRFLOW_CONN_B24_PLATINUM", json.dumps(platinum))
    return portal


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"bitrix24_conn_id": "b24_nowhere"}, "bitrix24_conn_id 'b24_nowhere': there is no such connection"),
        ({"sql_conn_id": "stage_nowhere"}, "sql_conn_id 'stage_nowhere': there is no such connection"),
        (
            {"sql_conn_id": "stage_snow"},
            "sql_conn_id 'stage_snow' has the connection type 'snowflake', whose provider is not installed "
            '(Unknown hook type "snowflake"); install it, e.g. apache-airflow-providers-snowflake',
        ),
        ({"sql_conn_id": "bitrix24_default"}, "sql_conn_id 'bitrix24_default' is not a SQL connection"),
        ({"bitrix24_conn_id": "b24_platinum"}, "'b24_platinum': plan must be standard or enterprise"),
        ({"client_kwargs": {"settings": {"batch_size": 99}}}, "batch_size must be between 1 and 50, got 99"),
        ({"client_kwargs": {"bogus": 1}}, "unexpected keyword argument 'bogus'"),
        (
            {"filter": {">ID": float("nan")}},
            "crm.deal.list: the parameters cannot be sent: cannot send a non-finite",
        ),
    ],
    ids=[
        "no portal",
        "no database",
        "uninstalled type",
        "not SQL",
        "bad field",
        "bad setting",
        "bad kwarg",
        "nan",
    ],
)
def test_get_all_fails_at_once_where_no_retry_helps(broken_connections, sqlite_target, arguments, message):
    arguments = {"sql_conn_id": sqlite_target.conn_id, "target_table": "deals", **arguments}
    op = Bitrix24GetAllOperator(task_id="export", method="crm.deal.list", **arguments)
    with pytest.raises(StagingConfigError, match=re.escape(message)) as raised:
        op.execute(make_context())
    assert decide(raised.value)[0] == "fail"
    assert stats(broken_connections)["http_requests"] == 0
    assert "Snowfl4ke-pa55" not in str(raised.value)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"bitrix24_conn_id": "b24_nowhere"}, "bitrix24_conn_id 'b24_nowhere': there is no such connection"),
        ({"items_sql": "SELECT 1", "sql_conn_id": "stage_snow"}, "whose provider is not installed"),
        ({"items_sql": "SELECT 1", "sql_conn_id": "bitrix24_default"}, "is not a SQL connection"),
        ({"client_kwargs": {"settings": {"plan": "gold"}}}, "plan must be one of ['enterprise', 'standard']"),
        (
            {"items": [{"id": n, "fields": {"TITLE": {"a", "b"} if n == 55 else "ok"}} for n in range(60)]},
            "items[55] cannot be sent to crm.deal.update: ",
        ),
    ],
    ids=["no portal", "uninstalled type", "not SQL", "bad setting", "unsendable item"],
)
def test_call_fails_at_once_where_no_retry_helps(broken_connections, arguments, message):
    arguments = {"items": [{"id": 1, "fields": {"TITLE": "x"}}], **arguments}
    if "items_sql" in arguments:
        del arguments["items"]
    op = Bitrix24CallOperator(task_id="call", method="crm.deal.update", **arguments)
    with pytest.raises(StagingConfigError, match=re.escape(message)) as raised:
        op.execute(make_context())
    assert decide(raised.value)[0] == "fail"
    assert stats(broken_connections)["http_requests"] == 0  # nothing written, not even the first batch


def test_operating_time_limit_retries_after_the_reset():
    error = OperationTimeLimit("OPERATION_TIME_LIMIT", "Method is blocked", "crm.deal.list", 429)
    decision = policy().evaluate(error, try_number=1, max_tries=5)
    assert decision.action == RetryAction.RETRY and decision.retry_delay == timedelta(minutes=10)
    error.retry_after = 42.0  # what the client measured from its throttle state
    decision = policy().evaluate(error, try_number=1, max_tries=5)
    assert decision.retry_delay == timedelta(seconds=43)


def test_serialize_round_trip():
    assert Bitrix24RetryPolicy is not None
    original = Bitrix24RetryPolicy(timedelta(minutes=3))
    assert Bitrix24RetryPolicy.deserialize(original.serialize()) == original


def test_operators_default_to_the_policy_but_take_overrides():
    op = Bitrix24GetAllOperator(task_id="a", method="crm.deal.list", output_path="/tmp/x.csv")
    assert isinstance(op.retry_policy, Bitrix24RetryPolicy)
    call = Bitrix24CallOperator(task_id="b", method="crm.deal.update", items=[])
    assert isinstance(call.retry_policy, Bitrix24RetryPolicy)
    assert Bitrix24CallOperator(task_id="c", method="x", items=[], retry_policy=None).retry_policy is None
    custom = Bitrix24RetryPolicy(timedelta(seconds=1))
    with DAG("b24_retry_defaults", schedule=None, default_args={"retry_policy": custom}):
        from_defaults = Bitrix24GetAllOperator(task_id="d", method="crm.deal.list", output_path="/tmp/x.csv")
    assert from_defaults.retry_policy == custom


def test_dags_with_the_operators_serialize():
    from airflow.serialization.serialized_objects import DagSerialization

    with DAG("b24_serialize", schedule=None) as dag:
        Bitrix24GetAllOperator(
            task_id="to_sql",
            method="crm.item.list",
            call_params={"entityTypeId": 1032},
            select=["*"],
            filter={">id": 1},
            sql_conn_id="stage",
            target_table="items",
            cursor_field="updatedTime",
            lag=timedelta(seconds=30),
        )
        Bitrix24GetAllOperator(task_id="to_df", method="crm.deal.list", df_callable=print)
        Bitrix24CallOperator(task_id="call", method="crm.deal.update", items="{{ ti.xcom_pull('to_sql') }}")
    data = DagSerialization.to_dict(dag)
    tasks = {t["__var"]["task_id"]: t["__var"] for t in data["dag"]["tasks"]}
    assert tasks["to_sql"]["call_params"] == {"entityTypeId": 1032}
    assert tasks["to_sql"]["has_retry_policy"] is True
    assert "webhook" not in str(data)
    DagSerialization.from_dict(data)


def test_an_operating_block_during_an_export_retries_after_the_measured_reset(make_portal, sqlite_target):
    from tests.staging._support import make_context

    # a portal whose method budget runs out almost at once, on a clock 1200x faster than real time
    make_portal(deals=3000, simulate_cost=True, operating_limit=0.3, time_scale=1200)
    op = Bitrix24GetAllOperator(
        task_id="export",
        method="crm.deal.list",
        sql_conn_id=sqlite_target.conn_id,
        target_table="deals",
        retries=2,
        chunk_rows=50,  # the first page commits before the budget runs out
        client_kwargs={
            "time_scale": 1200,
            "settings": {"operating_retries": 0, "retry": {"max_attempts": 2, "base": 0.01, "cap": 0.02}},
        },
    )
    with pytest.raises(OperationTimeLimit) as failure:
        op.execute(make_context())
    decision = policy().evaluate(failure.value, try_number=1, max_tries=2)
    assert decision.action == RetryAction.RETRY
    # the window is 600 portal seconds = 0.5 real seconds here (plus the policy's 1 s margin)
    assert timedelta(seconds=1) <= decision.retry_delay <= timedelta(seconds=2)
    assert "deals" not in sqlite_target.tables()
    assert [t for t in sqlite_target.tables() if t.startswith("_b24stg_")]  # kept for the retry
