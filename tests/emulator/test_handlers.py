"""Method handlers called directly: paging rules per family, parameters, errors, writes and the
shapes of real captured responses (``shared/reference/real-responses``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bitrix24_provider.emulator.errors import RestError
from bitrix24_provider.emulator.handlers import build_handlers
from bitrix24_provider.emulator.registry import CallInfo, Handler, MethodResult
from bitrix24_provider.emulator.store import Store

REAL = Path(__file__).parents[2].parent / "shared/reference/real-responses"
COUNTS = {"deal": 230, "lead": 120, "contact": 80, "company": 40, "item": 75, "task": 130, "user": 12}
NOW = 1_767_225_600.6  # portal clock: 2026-01-01T03:00:00+03:00 (+0.6 s)
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")


@pytest.fixture
def store() -> Store:
    return Store(42, COUNTS)


@pytest.fixture
def handlers(store: Store) -> dict[str, Handler]:
    return build_handlers(store)


def call(
    handlers: dict[str, Handler], method: str, params: dict[str, Any] | None = None, **info: Any
) -> MethodResult:
    details: dict[str, Any] = {
        "now": NOW,
        "utc_offset": "+03:00",
        "user_id": 1,
        "auth_type": "webhook",
    } | info
    return handlers[method](params or {}, CallInfo(**details))


def fails(handlers: dict[str, Handler], method: str, params: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(RestError) as error:
        call(handlers, method, params)
    assert error.value.status == 400
    return error.value.body()


def real(name: str) -> Any:
    path = REAL / name
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return json.loads(path.read_text(encoding="utf-8"))


def test_method_names_are_lower_case(handlers: dict[str, Handler]) -> None:
    assert all(name == name.lower() for name in handlers)
    for entity in ("deal", "lead", "contact", "company", "item"):
        for action in ("list", "get", "add", "update", "delete", "fields"):
            assert f"crm.{entity}.{action}" in handlers
    assert {
        "tasks.task.list",
        "tasks.task.get",
        "user.get",
        "profile",
        "server.time",
        "crm.status.list",
    } <= set(handlers)


# --- paging per family -----------------------------------------------------------------------


def test_classic_offset_paging(store: Store, handlers: dict[str, Handler]) -> None:
    ids = store.seeded_ids("deal")
    first = call(handlers, "crm.deal.list", {"start": 0, "select": ["ID"]})
    assert [row["ID"] for row in first.result] == [str(i) for i in ids[:50]]
    assert (first.next, first.total, first.family) == (50, 230, "classic")
    assert (first.rows, first.skipped, first.counted) == (50, 0, 230)
    middle = call(handlers, "crm.deal.list", {"start": "75", "select": ["ID"]})  # floored to 50
    assert [row["ID"] for row in middle.result] == [str(i) for i in ids[50:100]]
    assert (middle.next, middle.total, middle.skipped) == (100, 230, 50)
    last = call(handlers, "crm.deal.list", {"start": 200, "select": ["ID"]})
    assert len(last.result) == 30
    assert last.next is None
    assert last.total == 230
    past = call(handlers, "crm.deal.list", {"start": 1000})
    assert past.result == []
    assert past.next is None
    assert past.total == 230


def test_classic_start_minus_one_says_total_zero(store: Store, handlers: dict[str, Handler]) -> None:
    for start in (-1, "-1"):
        page = call(handlers, "crm.deal.list", {"start": start, "order": {"ID": "ASC"}, "select": ["ID"]})
        assert len(page.result) == 50
        assert page.next is None
        assert page.total == 0
        assert page.counted == 0
        assert page.skipped == 0


def test_classic_keyset_walk(store: Store, handlers: dict[str, Handler]) -> None:
    seen: list[int] = []
    last = 0
    while True:
        params = {"order": {"ID": "ASC"}, "filter": {">ID": last}, "select": ["ID"], "start": -1}
        rows = call(handlers, "crm.deal.list", params).result
        seen += [int(row["ID"]) for row in rows]
        if len(rows) < 50:
            break
        last = int(rows[-1]["ID"])
    assert seen == store.seeded_ids("deal")


def test_engine_paging(handlers: dict[str, Handler]) -> None:
    items = call(handlers, "crm.item.list", {"entityTypeId": 1032, "start": -1})
    assert set(items.result) == {"items"}
    assert len(items.result["items"]) == 50
    assert items.next is None
    assert items.total is None
    assert items.family == "item"
    items = call(handlers, "crm.item.list", {"entityTypeId": "1032", "start": "50"})
    assert len(items.result["items"]) == 25
    assert items.next is None
    assert items.total == 75
    tasks = call(handlers, "tasks.task.list", {"start": -1, "order": {"ID": "asc"}})
    assert set(tasks.result) == {"tasks"}
    assert tasks.next is None
    assert tasks.total is None
    tasks = call(handlers, "tasks.task.list", {"start": 0})
    assert tasks.next == 50
    assert tasks.total == 130
    assert tasks.family == "task"


def test_classic_parameter_spellings(handlers: dict[str, Handler]) -> None:
    expected = call(handlers, "crm.lead.list", {"filter": {"STATUS_ID": "NEW"}, "select": ["ID"]}).result
    assert expected
    for name in ("FILTER", "Filter", "arFilter"):
        got = call(handlers, "crm.lead.list", {name: {"STATUS_ID": "NEW"}, "SELECT": ["ID"]}).result
        assert got == expected
    by_id = call(handlers, "crm.lead.get", {"ID": expected[0]["ID"]}).result
    assert by_id == call(handlers, "crm.lead.get", {"id": int(expected[0]["ID"])}).result


# --- errors ----------------------------------------------------------------------------------


def test_classic_errors(store: Store, handlers: dict[str, Handler]) -> None:
    assert fails(handlers, "crm.deal.list", {"filter": "ID"}) == {
        "error": "",
        "error_description": "Parameter 'filter' must be array.",
    }
    assert (
        fails(handlers, "crm.deal.list", {"order": "ID"})["error_description"]
        == "Parameter 'order' must be array."
    )
    invalid = {"error": "", "error_description": "ID is not defined or invalid."}
    for bad in ({}, {"id": "abc"}, {"id": 0}, {"ID": "-4"}, {"id": {"x": 1}}):
        assert fails(handlers, "crm.deal.get", bad) == invalid
    assert fails(handlers, "crm.deal.get", {"id": 999_999}) == {"error": "", "error_description": "Not found"}
    assert (
        fails(handlers, "crm.deal.update", {"id": 999_999, "fields": {}})["error_description"] == "Not found"
    )
    assert fails(handlers, "crm.deal.delete", {"id": "999999"})["error_description"] == "Not found"
    rid = store.seeded_ids("deal")[0]
    assert (
        fails(handlers, "crm.deal.update", {"id": rid})["error_description"]
        == "Parameter 'fields' must be array."
    )
    assert (
        fails(handlers, "crm.deal.add", {"fields": "x"})["error_description"]
        == "Parameter 'fields' must be array."
    )
    bad_params = {"fields": {}, "params": "Y"}
    assert (
        fails(handlers, "crm.deal.add", bad_params)["error_description"]
        == "Parameter 'params' must be array."
    )


def test_item_errors(store: Store, handlers: dict[str, Handler]) -> None:
    assert fails(handlers, "crm.item.list", {"entityTypeId": 31}) == {
        "error": "NOT_FOUND",
        "error_description": "Smart process not found",
    }
    assert fails(handlers, "crm.item.list", {}) == {
        "error": "100",
        "error_description": "Could not find value for parameter {entityTypeId}",
    }
    assert fails(handlers, "crm.item.get", {"entityTypeId": "x", "id": 1})["error"] == "100"
    assert fails(handlers, "crm.item.get", {"entityTypeId": 2, "id": 999_999}) == {
        "error": "NOT_FOUND",
        "error_description": "Item not found",
    }
    assert fails(handlers, "crm.item.list", {"entityTypeId": 2, "filter": {"TITLEX": 1}}) == {
        "error": "INVALID_ARG_VALUE",
        "error_description": "Invalid filter: field 'TITLEX' is not allowed in filter",
    }
    assert fails(handlers, "crm.item.list", {"entityTypeId": 2, "filter": "x"})["error"] == "100"
    assert fails(handlers, "crm.item.delete", {"entityTypeId": 1032, "id": 1})["error"] == "NOT_FOUND"
    assert fails(handlers, "tasks.task.get", {"taskId": 999_999})["error"] == "ERROR_CORE"
    assert fails(handlers, "tasks.task.list", {"order": {"NOPE": "asc"}})["error"] == "0"


WEIRD: list[Any] = [
    None, "", "x", "-1", "1e999", "nan", 3.7, -5, 10**30, True, [], {}, [1, "2"], {"0": "a"},
    {"x": {"y": [1]}}, [{"a": 1}], "2024-13-45", "0001-01-01", "$result[p0][49][ID]",
]  # fmt: skip
KEYS = [
    "id",
    "ID",
    "start",
    "filter",
    "order",
    "select",
    "fields",
    "params",
    "entityTypeId",
    "taskId",
    "FILTER",
]
FILTER_KEYS = [
    ">ID",
    "@ID",
    "%TITLE",
    ">=DATE_MODIFY",
    "OPENED",
    "PHONE",
    "!@STAGE_ID",
    "0",
    "logic",
    "=%title",
]


def test_malformed_parameters_never_raise_python_errors(handlers: dict[str, Handler]) -> None:
    for method, handler in handlers.items():
        base = {"entityTypeId": 2} if method.startswith("crm.item.") else {}
        for key in KEYS:
            for value in WEIRD:
                _survives(handler, base | {key: value})
        for key in FILTER_KEYS:
            for value in WEIRD:
                _survives(
                    handler, base | {"filter": {key: value}, "order": {key: value}, "fields": {key: value}}
                )


def _survives(handler: Handler, params: dict[str, Any]) -> None:
    try:
        result = handler(params, CallInfo(NOW, "+03:00", 1, "webhook"))
    except RestError as error:
        status = error.status
    else:
        json.dumps(result.result)  # always serialisable
        return
    assert status in (400, 403, 404)


# --- writes ----------------------------------------------------------------------------------


def test_classic_add_update_delete(store: Store, handlers: dict[str, Handler]) -> None:
    added = call(handlers, "crm.deal.add", {"fields": {"TITLE": "Big one", "OPPORTUNITY": "1500.5", "ID": 5}})
    rid = added.result
    assert isinstance(rid, int)
    assert rid > store.original_ids("deal")[-1]
    assert added.writes == 1
    row = call(handlers, "crm.deal.get", {"id": str(rid)}).result
    assert row["ID"] == str(rid)
    assert row["TITLE"] == "Big one"
    assert row["OPPORTUNITY"] == "1500.50"
    assert row["DATE_CREATE"] == row["DATE_MODIFY"] == "2026-01-01T03:00:00+03:00"
    old = store.seeded_ids("deal")[3]
    assert (
        call(handlers, "crm.deal.update", {"id": old, "fields": {"TITLE": "Moved"}}, now=NOW + 60).result
        is True
    )
    updated = call(handlers, "crm.deal.get", {"id": old}).result
    assert updated["TITLE"] == "Moved"
    assert updated["DATE_MODIFY"] == "2026-01-01T03:01:00+03:00"
    recent = call(
        handlers,
        "crm.deal.list",
        {"filter": {">=DATE_MODIFY": "2026-01-01T03:00:30+03:00"}, "select": ["ID"]},
    )
    assert recent.result == [{"ID": str(old)}]
    assert recent.total == 1
    assert call(handlers, "crm.deal.delete", {"id": old}).result is True
    assert fails(handlers, "crm.deal.get", {"id": old})["error_description"] == "Not found"
    assert old not in store.seeded_ids("deal")


def test_import_mode_keeps_read_only_fields(handlers: dict[str, Handler]) -> None:
    fields = {"TITLE": "Old", "DATE_CREATE": "2020-02-02T10:00:00+03:00"}
    plain = call(handlers, "crm.lead.add", {"fields": fields}).result
    imported = call(handlers, "crm.lead.add", {"fields": fields, "params": {"IMPORT": "Y"}}).result
    assert call(handlers, "crm.lead.get", {"id": plain}).result["DATE_CREATE"] == "2026-01-01T03:00:00+03:00"
    assert (
        call(handlers, "crm.lead.get", {"id": imported}).result["DATE_CREATE"] == "2020-02-02T10:00:00+03:00"
    )


def test_item_add_update_delete(store: Store, handlers: dict[str, Handler]) -> None:
    created = call(
        handlers, "crm.item.add", {"entityTypeId": 1032, "fields": {"title": "Spa", "opportunity": 19000}}
    )
    item = created.result["item"]
    assert item["title"] == "Spa"
    assert item["opportunity"] == 19000.0
    assert item["entityTypeId"] == 1032
    assert item["createdTime"] == item["updatedTime"] == "2026-01-01T03:00:00+03:00"
    same = call(
        handlers, "crm.item.update", {"entityTypeId": 1032, "id": item["id"], "fields": {"title": "Spa"}}
    )
    assert same.writes == 0
    params = {"entityTypeId": "1032", "id": str(item["id"]), "fields": {"title": "Spa 2"}}
    changed = call(handlers, "crm.item.update", params, now=NOW + 3600).result["item"]
    assert changed["title"] == "Spa 2"
    assert changed["updatedTime"] == "2026-01-01T04:00:00+03:00"
    deal = store.seeded_ids("deal")[0]
    view = call(handlers, "crm.item.update", {"entityTypeId": 2, "id": deal, "fields": {"stageId": "WON"}})
    assert view.result["item"]["stageId"] == "WON"
    assert call(handlers, "crm.deal.get", {"id": deal}).result["STAGE_SEMANTIC_ID"] == "S"
    assert call(handlers, "crm.item.delete", {"entityTypeId": 1032, "id": item["id"]}).result == []
    assert fails(handlers, "crm.item.get", {"entityTypeId": 1032, "id": item["id"]})["error"] == "NOT_FOUND"


def test_task_writes(handlers: dict[str, Handler]) -> None:
    task = call(handlers, "tasks.task.add", {"fields": {"TITLE": "Call back", "RESPONSIBLE_ID": 3}}).result[
        "task"
    ]
    assert task["title"] == "Call back"
    assert task["responsibleId"] == "3"
    assert task["status"] == "2"
    params = {"taskId": task["id"], "fields": {"STATUS": 5}}
    done = call(handlers, "tasks.task.update", params, now=NOW + 10).result["task"]
    assert done["status"] == "5"
    assert done["changedDate"] == done["closedDate"] == "2026-01-01T03:00:10+03:00"
    assert call(handlers, "tasks.task.delete", {"taskId": task["id"]}).result == {"task": True}


# --- other methods ---------------------------------------------------------------------------


def test_user_get(store: Store, handlers: dict[str, Handler]) -> None:
    users = call(handlers, "user.get", {"sort": "ID", "order": "DESC", "start": 0})
    assert [u["ID"] for u in users.result] == [str(i) for i in reversed(store.seeded_ids("user"))]
    assert users.total == 12
    assert users.next is None
    assert users.family == "user"
    first = users.result[-1]
    assert first["ID"] == "1"
    assert first["ACTIVE"] is True
    assert first["UF_DEPARTMENT"] == [1]
    active = call(handlers, "user.get", {"FILTER": {"ACTIVE": True}}).result
    top_level = call(handlers, "user.get", {"ACTIVE": "Y"}).result
    assert active == top_level
    assert all(u["ACTIVE"] is True for u in active)
    assert call(handlers, "user.get", {"ID": 1}).result[0]["NAME"] == "Admin"
    found = call(handlers, "user.get", {"NAME_SEARCH": "admin"}).result
    assert [u["ID"] for u in found] == ["1"]


def test_profile_server_time_status(handlers: dict[str, Handler]) -> None:
    profile = call(handlers, "profile").result
    assert profile["ID"] == "1"
    assert profile["ADMIN"] is True
    assert profile["TIME_ZONE_OFFSET"] == 10800
    assert call(handlers, "server.time", utc_offset="+02:00").result == "2026-01-01T02:00:00+02:00"
    stages = call(
        handlers, "crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE"}, "order": {"SORT": "ASC"}}
    )
    assert [s["STATUS_ID"] for s in stages.result][:2] == ["NEW", "PREPARATION"]
    assert stages.total == 8


def test_fields_methods(handlers: dict[str, Handler]) -> None:
    deal = call(handlers, "crm.deal.fields").result
    assert deal["ID"]["isReadOnly"] is True
    assert deal["STAGE_ID"]["statusType"] == "DEAL_STAGE"
    uf = deal["UF_CRM_1719812400104"]
    assert uf["type"] == "enumeration"
    assert uf["isDynamic"] is True
    assert uf["items"][0] == {"ID": "45", "VALUE": "Low"}
    assert deal["UF_CRM_1719812400106"]["isMultiple"] is True
    item = call(handlers, "crm.item.fields", {"entityTypeId": 2}).result["fields"]
    assert item["updatedTime"]["upperName"] == "UPDATED_TIME"
    assert item["ufCrm_1719812400101"]["type"] == "string"
    original = call(handlers, "crm.item.fields", {"entityTypeId": 1032, "useOriginalUfNames": "Y"}).result[
        "fields"
    ]
    assert "UF_CRM_5_1719812800501" in original
    assert call(handlers, "tasks.task.getfields").result["fields"]["ID"]["primary"] is True


# --- shapes of real responses ----------------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None or value == "":
        return "empty"
    if isinstance(value, str):
        if re.fullmatch(r"-?\d+", value):
            return "int"
        if re.fullmatch(r"-?\d+\.\d\d", value):
            return "money"
        if ISO.fullmatch(value):
            return "datetime"
        return "flag" if value in ("Y", "N") else "text"
    return type(value).__name__


COMPARABLE = (
    "ID", "OPPORTUNITY", "ASSIGNED_BY_ID", "CREATED_BY_ID", "MODIFY_BY_ID", "DATE_CREATE", "DATE_MODIFY",
    "MOVED_TIME", "HAS_PHONE", "HAS_EMAIL", "HAS_IMOL", "OPENED", "IS_RETURN_CUSTOMER",
    "IS_MANUAL_OPPORTUNITY", "CURRENCY_ID", "STATUS_SEMANTIC_ID", "BIRTHDATE", "DATE_CLOSED",
)  # fmt: skip


def test_classic_lead_looks_like_the_real_one(store: Store, handlers: dict[str, Handler]) -> None:
    captured = real("call_single_success.json")["result"]["result"]["order0"]
    leads = [call(handlers, "crm.lead.get", {"id": rid}).result for rid in store.seeded_ids("lead")[:40]]
    for lead in leads:
        assert set(captured) <= set(lead)
        for key in captured:
            assert lead[key] is None or isinstance(lead[key], str), key
    for key in COMPARABLE:
        kinds = {_kind(lead[key]) for lead in leads} - {"empty"}
        assert kinds <= {_kind(captured[key]), "empty"} or _kind(captured[key]) == "empty", key
    assert captured["DATE_CREATE"][-6:] == leads[0]["DATE_CREATE"][-6:] == "+03:00"
    listed = call(handlers, "crm.lead.list", {"select": ["ID", "TITLE"]})
    one_page = real("crm_lead_list_one_page_success.json")
    assert {tuple(sorted(row)) for row in listed.result} == {tuple(sorted(one_page["result"][0]))}


def test_lead_list_paging_looks_like_the_real_one(handlers: dict[str, Handler]) -> None:
    first = real("crm_lead_list_several_pages_success.json")[0]
    page = call(handlers, "crm.lead.list", {"select": ["ID", "TITLE"], "start": 0})
    assert (first["next"], page.next) == (50, 50)
    assert isinstance(page.total, int)
    assert isinstance(first["total"], int)


def test_crm_item_looks_like_the_real_one(store: Store, handlers: dict[str, Handler]) -> None:
    captured = real("crm_item_list.json")
    uf_date = "ufCrm5_1719812800503"
    ids = store.seeded_ids("item")
    with_date = [r for r in ids if store.table("item").value(r, "UF_CRM_5_1719812800503") is not None][:3]
    params = {"entityTypeId": 1032, "select": ["id", "title", uf_date], "filter": {"@id": with_date}}
    page = call(handlers, "crm.item.list", params)
    assert page.total == 3
    assert page.next is None  # like the capture: total, no next
    assert set(captured) - {"time"} == {"result", "total"}
    for mine, theirs in zip(page.result["items"], captured["result"]["items"], strict=True):
        assert [type(v) for v in mine.values()] == [type(v) for v in theirs.values()]
        assert ISO.fullmatch(mine[uf_date])
        assert ISO.fullmatch(next(v for k, v in theirs.items() if k.startswith("uf")))
    added = real("crm_item_add.json")["result"]["result"]["order0000000000"]["item"]
    mine = call(handlers, "crm.item.get", {"entityTypeId": 1032, "id": ids[0]}).result["item"]
    assert set(added) <= set(mine)
    assert {k: type(v) for k, v in added.items()} == {k: type(mine[k]) for k in added}


def test_tasks_look_like_the_real_ones(handlers: dict[str, Handler]) -> None:
    captured = real("get_all_tasks.json")[0]
    params = {"filter": {"status": -1}, "select": ["ID", "STATUS", "STATUS_COMPLETE"], "start": 0}
    page = call(handlers, "tasks.task.list", params)
    theirs = captured["result"]["tasks"][0]
    assert page.result["tasks"], "the seed has overdue tasks"
    for mine in page.result["tasks"]:
        assert list(mine) == list(theirs)  # id, status, group, subStatus
        assert [type(v) for v in mine.values()] == [type(v) for v in theirs.values()]
        assert mine["subStatus"] == "-1"
    assert (captured["next"], captured["total"] > 0) == (50, True)


def test_field_descriptions_look_like_the_real_ones(handlers: dict[str, Handler]) -> None:
    captured = real("crm_lead_fields_success.json")["result"]
    mine = call(handlers, "crm.lead.fields").result
    for code in set(captured) & set(mine):
        if not code.startswith("UF_"):
            assert set(mine[code]) - {"settings"} == set(captured[code]) - {"settings", "isDeprecated"}, code
            assert mine[code]["type"] == captured[code]["type"] or code in ("LINK",), code
    uf_theirs = next(v for k, v in captured.items() if k.startswith("UF_"))
    uf_mine = next(v for k, v in mine.items() if k.startswith("UF_"))
    assert set(uf_theirs) <= set(uf_mine)
    assert uf_mine["title"].startswith("UF_CRM_")


def test_classic_update_keeps_the_pipeline_and_lists_skip_link_lists(
    store: Store, handlers: dict[str, Handler]
) -> None:
    rid = store.seeded_ids("deal")[0]
    category = call(handlers, "crm.deal.get", {"id": rid}).result["CATEGORY_ID"]
    call(handlers, "crm.deal.update", {"id": rid, "fields": {"CATEGORY_ID": 7}})
    assert call(handlers, "crm.deal.get", {"id": rid}).result["CATEGORY_ID"] == category
    rows = call(handlers, "crm.deal.list", {"select": ["ID", "CONTACT_IDS"], "start": -1}).result
    assert {tuple(row) for row in rows} == {("ID",)}
