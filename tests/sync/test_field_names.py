"""Field names checked against the emulator's real ``.fields`` answers (read over HTTP)."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from bitrix24_provider.client import Bitrix
from bitrix24_provider.emulator import Emulator, EmulatorConfig
from bitrix24_provider.staging.errors import UnknownFieldError
from bitrix24_provider.sync.description import FieldsDescription, describe
from bitrix24_provider.sync.field_names import FILTER_PREFIXES, check_names, split_filter_key
from tests.staging._support import rest

FAMILIES = [
    ("crm.deal.list", {}),
    ("crm.lead.list", {}),
    ("crm.item.list", {"entityTypeId": 1032}),
    ("crm.item.list", {"entityTypeId": 2}),
    ("tasks.task.list", {}),
    ("user.get", {}),
]


@pytest.fixture(scope="module")
def portal_and_client():
    with (
        Emulator(
            EmulatorConfig(deals=5, leads=5, items=5, tasks=5, users=3, simulate_cost=False)
        ).in_thread() as portal,
        Bitrix(portal.webhook_url) as bx,
    ):
        yield portal, bx


@pytest.fixture(scope="module")
def descriptions(portal_and_client) -> dict[str, FieldsDescription]:
    _, bx = portal_and_client
    return {f"{m} {p}": describe(bx, m, p) for m, p in FAMILIES}


def spellings(portal, method: str, params: dict[str, Any]) -> list[str]:
    """Every name the portal's own ``.fields`` answer gives a field: its key, its ``upperName``
    (crm.item) and the camelCase row name (tasks)."""
    fields_method = {"crm.item.list": "crm.item.fields", "tasks.task.list": "tasks.task.getfields"}.get(
        method, method.replace(".list", ".fields").replace("user.get", "user.fields")
    )
    result = rest(portal, fields_method, params)
    fields = result.get("fields", result)
    names = list(fields)
    names += [spec["upperName"] for spec in fields.values() if isinstance(spec, dict) and "upperName" in spec]
    if method == "tasks.task.list":
        names += [n.split("_")[0].lower() + "".join(p.capitalize() for p in n.split("_")[1:]) for n in fields]
    return names


def reject(description: FieldsDescription, **kwargs: Any) -> UnknownFieldError:
    with pytest.raises(UnknownFieldError) as failure:
        check_names(description, **kwargs)
    return failure.value


@pytest.mark.parametrize(("method", "params"), FAMILIES, ids=[f"{m} {p}" for m, p in FAMILIES])
def test_every_described_spelling_passes_and_a_misspelling_does_not(
    portal_and_client, descriptions, method, params
):
    portal, _ = portal_and_client
    description = descriptions[f"{method} {params}"]
    names = spellings(portal, method, params)
    assert len(names) >= 25
    check_names(
        description,
        call_params={**params, "order": {n: "ASC" for n in names}, "filter": {f">={n}": 1 for n in names}},
        select=["*", *names],
        filter={f"{prefix}{n}": 1 for n in names for prefix in ("", *FILTER_PREFIXES)},
    )
    row_names = sorted(set(description.rows.values()))
    check_names(description, primary_key=row_names)
    for name in names:
        wrong = name + "_X"
        assert reject(description, select=[wrong]).name == wrong
        assert reject(description, filter={f"!={wrong}": 1}).name == wrong
        assert reject(description, call_params={"order": {wrong: "DESC"}}).name == wrong


def test_the_message_names_argument_field_and_closest(descriptions):
    deal = descriptions["crm.deal.list {}"]
    error = reject(deal, filter={">=DATE_MODIFIED": "2024-01-01"})
    assert str(error) == (
        "filter key 'DATE_MODIFIED' (in '>=DATE_MODIFIED') is not a field of crm.deal "
        "(closest: 'DATE_MODIFY')"
    )
    assert (error.argument, error.name, error.given) == ("filter key", "DATE_MODIFIED", ">=DATE_MODIFIED")
    assert str(reject(deal, select=["ID", "NO_SUCH_FIELD"])).startswith(
        "select 'NO_SUCH_FIELD' is not a field of crm.deal ("
    )
    assert str(reject(deal, select=["ID", "QQQQ"])).endswith("(no similar field)")
    error = reject(deal, call_params={"ORDER": {"TITEL": "ASC"}})
    assert error.argument == "call_params['ORDER'] key" and error.closest[0] == "TITLE"
    assert pickle.loads(pickle.dumps(error)).args == error.args


@pytest.mark.parametrize("prefix", FILTER_PREFIXES)
def test_every_filter_prefix_is_stripped(descriptions, prefix):
    deal = descriptions["crm.deal.list {}"]
    check_names(deal, filter={f"{prefix}TITLE": "x"})
    error = reject(deal, filter={f"{prefix}NO_SUCH_FIELD": "x"})
    assert (error.name, error.given) == ("NO_SUCH_FIELD", f"{prefix}NO_SUCH_FIELD")
    assert split_filter_key(f"{prefix}TITLE") == (prefix, "TITLE")


def test_select_masks_per_family(descriptions):
    deal, item = descriptions["crm.deal.list {}"], descriptions["crm.item.list {'entityTypeId': 1032}"]
    task, user = descriptions["tasks.task.list {}"], descriptions["user.get {}"]
    for description in (deal, user):
        check_names(description, select=["*", "UF_*", "uf_*"])
        assert reject(description, select=["UF_CRM_*"]).name == "UF_CRM_*"
    for description in (item, task):
        check_names(description, select=["*"])
        assert reject(description, select=["UF_*"]).name == "UF_*"
    assert reject(item, select=["uf_*"]).name == "uf_*"  # not a mask of crm.item (contract §3.4)


def test_crm_item_nested_filters(descriptions):
    item = descriptions["crm.item.list {'entityTypeId': 1032}"]
    good = {"0": {"logic": "OR", "0": {"=title": "a"}, "1": {">opportunity": 5}}, "LOGIC": "AND", "id": 1}
    check_names(item, call_params={"filter": good})
    bad = {"0": {"logic": "OR", "0": {"=title": "a"}, "1": {"%NO_SUCH": "x"}}}
    error = reject(item, call_params={"filter": bad})
    assert (error.name, error.argument) == ("NO_SUCH", "call_params['filter'] key")
    assert reject(item, filter={"updatedtime": 1}).closest[0] == "updatedTime"  # crm.item: exact case
    # classic CRM has no sub-filters: a numbered key is not a field there
    assert reject(descriptions["crm.deal.list {}"], filter={"0": {"TITLE": "a"}}).name == "0"


def test_case_follows_the_family(descriptions):
    check_names(descriptions["crm.deal.list {}"], select=["title"], filter={">date_modify": 1})
    check_names(
        descriptions["tasks.task.list {}"], filter={"responsible_id": 1, "REAL_STATUS": 2, "tag": "x"}
    )
    check_names(descriptions["user.get {}"], call_params={"FILTER": {"active": True}, "sort": "last_name"})
    assert (
        reject(descriptions["user.get {}"], call_params={"sort": "SURNAME", "order": "ASC"}).name == "SURNAME"
    )


def test_cursor_field_must_be_a_request_and_a_row_name(descriptions):
    deal, item = descriptions["crm.deal.list {}"], descriptions["crm.item.list {'entityTypeId': 1032}"]
    task = descriptions["tasks.task.list {}"]
    check_names(deal, cursor_field="DATE_MODIFY")
    check_names(item, cursor_field="updatedTime")
    check_names(task, cursor_field="CHANGED_DATE")
    check_names(task, cursor_field="changedDate")
    # names the portal takes in a filter, but the rows carry under another key
    assert reject(deal, cursor_field="date_modify").closest[0] == "DATE_MODIFY"
    assert reject(item, cursor_field="UPDATED_TIME").closest[0] == "updatedTime"
    assert reject(task, cursor_field="changed_date").argument == "cursor_field"


def test_primary_key_names_a_row_field(descriptions):
    task, deal = descriptions["tasks.task.list {}"], descriptions["crm.deal.list {}"]
    check_names(task, primary_key=["id"])
    error = reject(task, primary_key=["ID"])
    assert str(error) == "primary_key 'ID' is not a field of the rows of tasks.task (closest: 'id', 'guid')"
    assert reject(deal, primary_key=["ID", "DEAL_ID"]).name == "DEAL_ID"
