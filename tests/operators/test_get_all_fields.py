"""Bitrix24GetAllOperator checks field names and the target's columns before anything is written,
and types columns from the portal's ``.fields`` answer or, only when asked, from the values."""

from __future__ import annotations

from typing import Any

import pytest

from bitrix24_provider.client.errors import MethodNotFound, ServerError
from bitrix24_provider.operators.bitrix24 import Bitrix24GetAllOperator
from bitrix24_provider.operators.retry import decide
from bitrix24_provider.staging.errors import ColumnDropError, UnknownFieldError
from tests.staging._support import configure, make_context, reset_counters, seeded_ids, stats

ITEMS = {"method": "crm.item.list", "call_params": {"entityTypeId": 1032}}
TASKS = {"method": "tasks.task.list", "select": ["ID", "TITLE", "CHANGED_DATE"]}
#: three attempts whose backoff sleeps (up to 5 portal seconds) run 1000 times faster
FAST_RETRIES = {"time_scale": 1000, "settings": {"retry": {"max_attempts": 3, "base": 1.0, "cap": 5.0}}}


def get_all(target, table: str, **kwargs: Any) -> Bitrix24GetAllOperator:
    kwargs.setdefault("task_id", "export")
    kwargs.setdefault("method", "crm.deal.list")
    return Bitrix24GetAllOperator(
        sql_conn_id=target.conn_id, target_table=table, target_schema=target.schema, **kwargs
    )


def snapshot(target, table: str) -> tuple[Any, ...]:
    """Everything a load could change: the target's rows and columns, the sync state, the tables."""
    rows = sorted(target.rows(f"SELECT * FROM {target.qualified(table)}"), key=repr)
    state = target.rows(f"SELECT * FROM {target.qualified('_bitrix24_sync_state')}")
    return rows, target.column_types(table), state, target.tables()


def list_requests(portal) -> dict[str, int]:
    """List commands the portal ran (direct or inside a batch), by method."""
    commands = stats(portal)["commands_by_method"] or {}
    return {m: n for m, n in commands.items() if m.endswith((".list", ".getlist")) or m == "user.get"}


DEALS: dict[str, Any] = {}
#: (the load that made the target, the same load with a bad name, the error's message)
BAD_FIELDS = [
    (DEALS, {"select": ["ID", "NO_SUCH_FIELD"]}, "select 'NO_SUCH_FIELD' is not a field of crm.deal"),
    (DEALS, {"filter": {"NO_SUCH_FIELD": "1"}}, "filter key 'NO_SUCH_FIELD' is not a field of crm.deal"),
    (
        DEALS,
        {"filter": {">=DATE_MODIFIED": "2024-01-01"}},
        r"'DATE_MODIFIED' \(in '>=DATE_MODIFIED'\).*DATE_MODIFY",
    ),
    (DEALS, {"filter": {"!=%TITEL": "x"}}, r"filter key 'TITEL' \(in '!=%TITEL'\).*closest: 'TITLE'"),
    (
        DEALS,
        {"call_params": {"filter": {"STAGE": "WON"}}},
        r"call_params\['filter'\] key 'STAGE'.*'STAGE_ID'",
    ),
    (
        DEALS,
        {"call_params": {"order": {"NO_SUCH_FIELD": "ASC"}}},
        r"call_params\['order'\] key 'NO_SUCH_FIELD'",
    ),
    (
        DEALS,
        {"cursor_field": "DATE_MODIFIED", "write_disposition": "merge"},
        "cursor_field 'DATE_MODIFIED' is not a field of crm.deal",
    ),
    (DEALS, {"primary_key": "DEAL_ID"}, "primary_key 'DEAL_ID' is not a field of the rows of crm.deal"),
    (
        ITEMS,
        {"select": ["id", "ufCrm5_999"]},
        r"select 'ufCrm5_999' is not a field of crm.item \(entityTypeId 1032\)",
    ),
    (ITEMS, {"select": ["id", "UF_CRM_5_999"]}, "select 'UF_CRM_5_999' is not a field of crm.item"),
    (ITEMS, {"filter": {">updatedtime": "2024-01-01"}}, "'updatedtime'.*closest: 'updatedTime'"),
    (
        ITEMS,
        {"call_params": {"entityTypeId": 1032, "filter": {"0": {"logic": "OR", "0": {"titel": "a"}}}}},
        r"call_params\['filter'\] key 'titel'.*closest: 'title'",
    ),
    (TASKS, {"select": ["ID", "TITEL"]}, "select 'TITEL' is not a field of tasks.task"),
    (TASKS, {"filter": {"RESPONSIBLE": 1}}, "filter key 'RESPONSIBLE'.*'RESPONSIBLE_ID'"),
    (
        TASKS,
        {"primary_key": "ID"},
        r"primary_key 'ID' is not a field of the rows of tasks.task \(closest: 'id'",
    ),
]


@pytest.mark.parametrize(
    ("base", "bad", "message"), BAD_FIELDS, ids=[m.split(" is")[0] for *_, m in BAD_FIELDS]
)
def test_an_unknown_field_fails_before_any_list_request_and_writes_nothing(
    make_portal, sql_target, base, bad, message
):
    portal = make_portal(deals=60, items=60, tasks=60)
    get_all(sql_target, "t", **base).execute(make_context())  # the target as an earlier run left it
    before = snapshot(sql_target, "t")
    reset_counters(portal)

    with pytest.raises(UnknownFieldError, match=message) as failure:
        get_all(sql_target, "t", **{**base, **bad}).execute(make_context())

    assert decide(failure.value)[0] == "fail"
    assert list_requests(portal) == {}
    assert snapshot(sql_target, "t") == before


def test_an_unknown_field_leaves_a_new_database_empty(make_portal, sql_target):
    portal = make_portal(deals=60)
    with pytest.raises(UnknownFieldError):
        get_all(sql_target, "deals", select=["ID", "NO_SUCH_FIELD"]).execute(make_context())
    assert list_requests(portal) == {}
    assert sql_target.tables() == set()  # no target, no state or resume table


def test_every_spelling_of_a_crm_item_field_is_the_same_column(make_portal, sql_target):
    portal = make_portal(items=80)
    uf = "ufCrm5_1719812800501"
    get_all(sql_target, "items", **ITEMS, select=["id", "updatedTime", uf]).execute(make_context())
    columns = sql_target.column_types("items")
    assert set(columns) == {"id", "updatedTime", uf}
    upper = ["ID", "UPDATED_TIME", "UF_CRM_5_1719812800501"]  # their upperName spellings
    assert get_all(sql_target, "items", **ITEMS, select=upper).execute(make_context())["rows"] == 80
    assert sql_target.column_types("items") == columns
    reset_counters(portal)
    with pytest.raises(ColumnDropError, match=f"drop column\\(s\\) {uf} of"):
        get_all(sql_target, "items", **ITEMS, select=upper[:2]).execute(make_context())
    assert list_requests(portal) == {}


def test_a_failing_fields_call_fails_the_load_after_its_retries(make_portal, sql_target):
    portal = make_portal(deals=60)
    get_all(sql_target, "deals").execute(make_context())
    before = snapshot(sql_target, "deals")
    assert sql_target.column_types("deals")["ID"] in ("BIGINT", "INTEGER")
    configure(portal, {"failing_methods": ["crm.deal.fields"]})
    reset_counters(portal)

    with pytest.raises(ServerError, match=r"crm\.deal\.fields"):
        get_all(sql_target, "deals", client_kwargs=FAST_RETRIES).execute(make_context())

    assert stats(portal)["commands_by_method"]["crm.deal.fields"] == 3  # the client's 3 attempts
    assert list_requests(portal) == {}
    assert snapshot(sql_target, "deals") == before  # ID is not retyped as text


def test_a_failing_fields_call_leaves_a_new_database_empty(make_portal, sql_target):
    portal = make_portal(deals=60, failing_methods=["crm.deal.fields"])
    with pytest.raises(ServerError):
        get_all(sql_target, "deals", client_kwargs=FAST_RETRIES).execute(make_context())
    assert list_requests(portal) == {}
    assert sql_target.tables() == set()


def test_column_types_values_types_from_values_without_a_fields_call(make_portal, sql_target):
    portal = make_portal(deals=60, items=60)
    get_all(sql_target, "deals", select=["ID", "TITLE"], column_types="values").execute(make_context())
    get_all(sql_target, "items", **ITEMS, select=["id", "opportunity"], column_types="values").execute(
        make_context()
    )
    assert not [m for m in stats(portal)["commands_by_method"] if m.endswith("fields")]
    assert sql_target.ids("deals") == seeded_ids(portal)
    # classic CRM sends every value as a string, crm.item typed JSON
    assert sql_target.column_types("deals")["ID"] == "TEXT"
    assert sql_target.column_types("items")["id"] in ("BIGINT", "INTEGER")


def test_a_method_without_its_fields_method_needs_column_types_values(make_portal, sqlite_target):
    portal = make_portal(deals=10)
    with pytest.raises(MethodNotFound, match=r"crm\.status\.fields"):  # the portal has no crm.status.fields
        get_all(sqlite_target, "statuses", method="crm.status.list").execute(make_context())
    assert sqlite_target.tables() == set()
    summary = get_all(sqlite_target, "statuses", method="crm.status.list", column_types="values").execute(
        make_context()
    )
    assert summary["rows"] > 0 and "statuses" in sqlite_target.tables()
    assert stats(portal)["http_by_status"]["404"] == 1  # crm.status.fields, not retried
    with pytest.raises(ValueError, match=r"lists.element.get.*column_types='values'"):
        get_all(sqlite_target, "elements", method="lists.element.get")


def test_a_narrower_replace_fails_unless_asked(make_portal, sql_target):
    portal = make_portal(deals=60)
    wide = ["ID", "TITLE", "STAGE_ID", "OPPORTUNITY"]
    get_all(sql_target, "deals", select=wide).execute(make_context())
    before = snapshot(sql_target, "deals")
    reset_counters(portal)

    with pytest.raises(ColumnDropError, match="would drop column\\(s\\) OPPORTUNITY, STAGE_ID of") as failure:
        get_all(sql_target, "deals", select=["ID", "TITLE"]).execute(make_context())
    assert decide(failure.value)[0] == "fail"
    assert list_requests(portal) == {}  # checked before exporting
    assert snapshot(sql_target, "deals") == before

    kept = get_all(sql_target, "deals", select=["ID", "TITLE"], column_policy="ignore").execute(
        make_context()
    )
    assert kept["rows"] == 60 and set(sql_target.column_types("deals")) == set(wide)

    get_all(sql_target, "deals", select=["ID", "TITLE"], allow_column_drop=True).execute(make_context())
    assert set(sql_target.column_types("deals")) == {"ID", "TITLE"}
    assert sql_target.ids("deals") == seeded_ids(portal)


def test_a_replace_that_would_drop_columns_is_stopped_at_publish_too(make_portal, sql_target):
    portal = make_portal(deals=60)
    get_all(sql_target, "deals", select=["*"]).execute(make_context())
    sql_target.execute(f'ALTER TABLE {sql_target.qualified("deals")} ADD COLUMN "LEGACY" TEXT')
    before = snapshot(sql_target, "deals")

    with pytest.raises(ColumnDropError, match="LEGACY"):  # a wildcard: known only from the rows
        get_all(sql_target, "deals", select=["*"]).execute(make_context())
    assert list_requests(portal)  # the export ran; its result was not published
    assert snapshot(sql_target, "deals") == before
    assert not [t for t in sql_target.tables() if t.startswith("_b24stg_")]

    get_all(sql_target, "deals", select=["*"], allow_column_drop=True).execute(make_context())
    assert "LEGACY" not in sql_target.column_types("deals")
