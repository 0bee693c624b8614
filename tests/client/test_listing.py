"""Paging decided by the answer: every family read to its end over HTTP, in few requests."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from typing import Any

import pytest

from bitrix24_provider.client import BitrixAsync, IncompleteResultError
from bitrix24_provider.client.errors import InvalidArgument

from .conftest import MakePortal, Portal

#: (method, params, emulator table, id field of the rows) of every family of list methods
FAMILIES = [
    ("crm.deal.list", {"select": ["ID", "TITLE"]}, "deal", "ID"),
    ("crm.item.list", {"entityTypeId": 1032, "select": ["id", "title"]}, "item", "id"),
    ("tasks.task.list", {"select": ["ID", "TITLE"]}, "task", "id"),
    (
        "catalog.product.list",
        {"select": ["id", "iblockId", "name"], "filter": {"iblockId": 23}},
        "product",
        "id",
    ),
    ("user.get", {}, "user", "ID"),
    ("lists.element.get", {"IBLOCK_TYPE_ID": "lists", "IBLOCK_ID": 47}, "list_element", "ID"),
    ("department.get", {}, "department", "ID"),
    ("disk.folder.getchildren", {"id": 1}, "disk_object", "ID"),
    ("disk.storage.getlist", {}, "storage", "ID"),
]
KEYSET = FAMILIES[:4]
TABLES = (
    "deals",
    "items",
    "tasks",
    "products",
    "users",
    "list_elements",
    "departments",
    "disk_objects",
    "storages",
)


def fast_bitrix24_requests(rows: int) -> int:
    """What fast_bitrix24 pays: the first page, then the other pages in batches of 50."""
    pages = max(1, math.ceil(rows / 50))
    return 1 + math.ceil((pages - 1) / 50)


async def read(portal: Portal, method: str, params: Mapping[str, Any]) -> tuple[Any, int]:
    """``get_all`` on a fresh client (a new Airflow task), and the HTTP requests it cost."""
    await portal.reset()
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        result = await bx.get_all(method, params)
    return result, (await portal.stats())["http_requests"]


@pytest.fixture
async def tables_of_120(make_portal: MakePortal) -> Portal:
    portal: Portal = await make_portal(**dict.fromkeys(TABLES, 120))
    return portal


@pytest.mark.parametrize(("method", "params", "entity", "id_field"), FAMILIES, ids=[f[0] for f in FAMILIES])
async def test_every_family_returns_every_row_of_a_paged_table(
    tables_of_120: Portal, method: str, params: dict[str, Any], entity: str, id_field: str
) -> None:
    rows, requests = await read(tables_of_120, method, params)
    assert sorted(int(r[id_field]) for r in rows) == await tables_of_120.ids(entity)
    # a keyset list of three pages pays one request more: nothing is chained after a page that may
    # be short (tests/client/test_chains.py)
    assert requests <= fast_bitrix24_requests(120) + (
        1 if (method, params, entity, id_field) in KEYSET else 0
    )


@pytest.mark.parametrize(("deals", "most"), [(51, 2), (100, 2), (101, 3), (250, 3)])
async def test_two_pages_cost_two_requests_five_three(make_portal: MakePortal, deals: int, most: int) -> None:
    # the batch after the first page carries the next page and the newest-ids probe; a longer
    # list gets one batch of the pages the probe says follow
    portal: Portal = await make_portal(deals=deals)
    rows, requests = await read(portal, "crm.deal.list", {"select": ["ID"]})
    assert len(rows) == deals and requests <= most


@pytest.mark.parametrize(("method", "params", "entity", "id_field"), KEYSET, ids=[f[0] for f in KEYSET])
async def test_keyset_families_read_a_larger_table_with_few_requests(
    make_portal: MakePortal, method: str, params: dict[str, Any], entity: str, id_field: str
) -> None:
    portal: Portal = await make_portal(**dict.fromkeys(TABLES, 1200))
    rows, requests = await read(portal, method, params)
    ids = await portal.ids(entity)
    assert sorted(int(r[id_field]) for r in rows) == ids
    stats = await portal.stats()
    # the first page, a batch of the next page with the newest ids, one batch for the rest, and
    # one page more when the estimate fell short; commands past the end: the probe and at most one
    assert requests <= fast_bitrix24_requests(1200) + 2 == 4
    assert stats["commands"] - math.ceil(len(ids) / 50) <= 3


@pytest.mark.parametrize(("method", "params", "entity", "id_field"), FAMILIES, ids=[f[0] for f in FAMILIES])
async def test_a_list_that_fits_one_page_costs_one_request(
    make_portal: MakePortal, method: str, params: dict[str, Any], entity: str, id_field: str
) -> None:
    portal: Portal = await make_portal(**dict.fromkeys(TABLES, 37))
    rows, requests = await read(portal, method, params)
    assert sorted(int(r[id_field]) for r in rows) == await portal.ids(entity)
    assert requests == 1


async def test_a_limit_the_first_page_meets_costs_one_request(tables_of_120: Portal) -> None:
    await tables_of_120.reset()
    async with BitrixAsync(tables_of_120.webhook, verbose=False) as bx:
        pages = bx.iter_all("crm.deal.list", {"select": ["ID"]}, limit=30)
        assert len(await anext(pages)) == 30
        await asyncio.sleep(0.2)  # the reader is busy with the page: nothing more is asked for meanwhile
        assert [page async for page in pages] == []
    assert (await tables_of_120.stats())["http_requests"] == 1


async def test_an_empty_list_costs_one_request(tables_of_120: Portal) -> None:
    rows, requests = await read(tables_of_120, "department.get", {"NAME": "no such department"})
    assert (rows, requests) == ([], 1)
    rows, requests = await read(tables_of_120, "crm.deal.list", {"filter": {">ID": 10**9}})
    assert (rows, requests) == ([], 1)


async def test_an_answer_that_does_not_page_is_returned_as_it_is_in_one_request(
    tables_of_120: Portal,
) -> None:
    fields, requests = await read(tables_of_120, "crm.deal.fields", {})
    assert fields["ID"]["type"] == "integer" and requests == 1
    deal = (await tables_of_120.ids("deal"))[3]
    row, requests = await read(tables_of_120, "crm.deal.get", {"ID": deal})
    assert row["ID"] == str(deal) and requests == 1


async def test_iter_all_pages_by_the_answer_too(tables_of_120: Portal) -> None:
    async with BitrixAsync(tables_of_120.webhook, verbose=False) as bx:
        pages = [
            page
            async for page in bx.iter_all("lists.element.get", {"IBLOCK_TYPE_ID": "lists", "IBLOCK_ID": 47})
        ]
        assert [len(page) for page in pages] == [50, 50, 20]
        limited = [page async for page in bx.iter_all("department.get", {}, limit=70)]
        assert sum(len(page) for page in limited) == 70
        with pytest.raises(TypeError, match=r"crm\.deal\.fields answered a dict, not a list"):
            [page async for page in bx.iter_all("crm.deal.fields")]


async def test_an_unknown_method_whose_rows_change_while_it_pages_raises(tables_of_120: Portal) -> None:
    # a department is deleted after the first page: the pages after it no longer add up to the
    # total the first page counted, and the export says so instead of returning fewer rows
    emulated = tables_of_120.emulator.portal
    first = (await tables_of_120.ids("department"))[0]

    def delete_once(method: str, params: Mapping[str, Any]) -> None:
        if (
            method == "department.get"
            and params.get("start")
            and emulated.store.table("department").exists(first)
        ):
            emulated.store.table("department").delete(first)

    emulated.before_command = delete_once
    async with BitrixAsync(tables_of_120.webhook, verbose=False) as bx:
        with pytest.raises(IncompleteResultError, match="expected 120 records, received 119"):
            await bx.get_all("department.get")


@pytest.mark.parametrize("spelling", ["FILTER", "Filter", "arFilter"])
async def test_a_paged_read_keeps_a_filter_spelled_another_way(tables_of_120: Portal, spelling: str) -> None:
    """Classic CRM takes ``FILTER``, ``Filter`` and ``arFilter`` too, but reads ``filter`` first
    (contract §3.6): next to the cursor's own ``filter`` the caller's would be ignored and every row
    returned."""
    ids = await tables_of_120.ids("deal")
    rows, _ = await read(tables_of_120, "crm.deal.list", {spelling: {"<=ID": ids[9]}, "SELECT": ["ID"]})
    assert sorted(int(r["ID"]) for r in rows) == ids[:10]
    async with BitrixAsync(tables_of_120.webhook, verbose=False) as bx:
        with pytest.raises(InvalidArgument, match="spells 'filter' a second time"):
            await bx.get_all("crm.deal.list", {"filter": {">ID": 0}, spelling: {"<=ID": 5}})
