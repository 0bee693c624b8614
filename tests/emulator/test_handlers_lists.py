"""The paged lists outside CRM and tasks, over HTTP: the shapes their documentation shows
(apidocs.bitrix24.com: department.get, lists.element.get, disk.storage.getList,
disk.folder.getChildren, catalog.product.list), paging, parameters and errors."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import MakePortal, PortalClient

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")
PORTAL_DATE = re.compile(r"\d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d")
LIST = {"IBLOCK_TYPE_ID": "lists", "IBLOCK_ID": 47}
CATALOG = {
    "select": ["id", "iblockId", "name", "active", "purchasingPrice", "dateCreate"],
    "filter": {"iblockId": 23},
}


@pytest.fixture
async def portal(make_portal: MakePortal) -> PortalClient:
    sizes = dict(departments=70, list_elements=70, storages=70, disk_objects=70, products=70, users=30)
    client: PortalClient = await make_portal(**sizes)
    return client


async def ok(portal: PortalClient, method: str, params: dict[str, Any]) -> dict[str, Any]:
    reply = await portal.call(method, params)
    assert reply.status == 200, reply.text
    body: dict[str, Any] = reply.body
    return body


async def error(portal: PortalClient, method: str, params: dict[str, Any]) -> dict[str, Any]:
    reply = await portal.call(method, params)
    assert reply.status == 400, reply.text
    body: dict[str, Any] = reply.body
    return body


async def ids(portal: PortalClient, entity: str) -> list[int]:
    return list((await portal.get(f"/_emulator/ids/{entity}")).body["ids"])


@pytest.mark.parametrize(
    ("method", "params", "entity"),
    [
        ("department.get", {}, "department"),
        ("lists.element.get", LIST, "list_element"),
        ("disk.storage.getlist", {}, "storage"),
        ("disk.folder.getchildren", {"id": 1}, "disk_object"),
    ],
)
async def test_classic_lists_page_by_50_with_next_and_total(
    portal: PortalClient, method: str, params: dict[str, Any], entity: str
) -> None:
    first = await ok(portal, method, params)
    second = await ok(portal, method, {**params, "start": 50})
    assert isinstance(first["result"], list) and len(first["result"]) == 50
    assert (first["next"], first["total"]) == (50, 70)
    assert len(second["result"]) == 20 and "next" not in second and second["total"] == 70
    got = [int(row["ID"]) for row in first["result"] + second["result"]]
    assert got == await ids(portal, entity)
    uncounted = await ok(portal, method, {**params, "start": -1})  # no count: no next, total 0
    assert len(uncounted["result"]) == 50 and "next" not in uncounted and uncounted["total"] == 0


async def test_department_get_shape_sort_and_top_level_filter(portal: PortalClient) -> None:
    rows = (await ok(portal, "department.get", {}))["result"]
    root, child = rows[0], rows[1]
    assert (root["ID"], root["NAME"]) == ("1", "Company") and "PARENT" not in root  # the company
    assert isinstance(root["SORT"], int) and isinstance(child["PARENT"], str) and child["ID"].isdigit()
    assert set(child) <= {"ID", "NAME", "SORT", "PARENT", "UF_HEAD"}
    under_root = (await ok(portal, "department.get", {"PARENT": 1}))["result"]
    assert under_root and {row["PARENT"] for row in under_root} == {"1"}
    newest = (await ok(portal, "department.get", {"sort": "ID", "order": "DESC"}))["result"]
    assert int(newest[0]["ID"]) == (await ids(portal, "department"))[-1]


async def test_lists_element_get_shape_element_and_errors(portal: PortalClient) -> None:
    row = (await ok(portal, "lists.element.get", LIST))["result"][0]
    assert row["ID"].isdigit() and row["IBLOCK_ID"] == "47" and row["IBLOCK_SECTION_ID"] is None
    assert PORTAL_DATE.fullmatch(row["DATE_CREATE"])
    (value_id, number), *_ = row["PROPERTY_101"].items()
    assert value_id.isdigit() and number == f"C-{int(row['ID']):06d}"
    one = await ok(portal, "lists.element.get", {**LIST, "ELEMENT_ID": row["ID"]})
    assert [r["ID"] for r in one["result"]] == [row["ID"]] and one["total"] == 1
    picked = await ok(portal, "lists.element.get", {**LIST, "SELECT": ["NAME"], "FILTER": {">ID": row["ID"]}})
    assert set(picked["result"][0]) == {"ID", "NAME"} and int(picked["result"][0]["ID"]) > int(row["ID"])
    by_code = await ok(portal, "lists.element.get", {"IBLOCK_TYPE_ID": "lists", "IBLOCK_CODE": "contracts"})
    assert by_code["total"] == 70
    assert (await error(portal, "lists.element.get", {"IBLOCK_ID": 47}))[
        "error"
    ] == "ERROR_REQUIRED_PARAMETERS_MISSING"
    assert (await error(portal, "lists.element.get", {**LIST, "IBLOCK_ID": 5}))[
        "error"
    ] == "ERROR_IBLOCK_NOT_FOUND"


async def test_disk_shapes_and_errors(portal: PortalClient) -> None:
    storages = (await ok(portal, "disk.storage.getlist", {}))["result"]
    assert storages[0] | {"ID": "x"} == {
        "ID": "x", "NAME": "Shared documents", "CODE": "SHARED_FILES", "MODULE_ID": "disk",
        "ENTITY_TYPE": "common", "ENTITY_ID": "shared_files_s1", "ROOT_OBJECT_ID": "1",
    }  # fmt: skip
    assert {s["ENTITY_TYPE"] for s in storages[1:]} == {"user"}
    children = (await ok(portal, "disk.folder.getchildren", {"id": 1}))["result"]
    files = [c for c in children if c["TYPE"] == "file"]
    folders = [c for c in children if c["TYPE"] == "folder"]
    assert files and folders
    assert {"FILE_ID", "SIZE", "GLOBAL_CONTENT_VERSION"} <= set(files[0]) and "REAL_OBJECT_ID" not in files[0]
    assert folders[0]["REAL_OBJECT_ID"] == folders[0]["ID"] and "FILE_ID" not in folders[0]
    assert {c["PARENT_ID"] for c in children} == {"1"} and {c["STORAGE_ID"] for c in children} == {
        storages[0]["ID"]
    }
    assert ISO.fullmatch(files[0]["CREATE_TIME"]) and files[0]["DELETE_TIME"] is None
    empty = await ok(portal, "disk.folder.getchildren", {"id": folders[0]["ID"]})
    assert (empty["result"], empty["total"]) == ([], 0)
    assert (await error(portal, "disk.folder.getchildren", {}))["error"] == "ERROR_ARGUMENT"
    assert (await error(portal, "disk.folder.getchildren", {"id": 999_999}))["error"] == "ERROR_NOT_FOUND"


async def test_catalog_product_list_shape_paging_and_errors(portal: PortalClient) -> None:
    first = await ok(portal, "catalog.product.list", CATALOG)
    products = first["result"]["products"]
    assert set(first["result"]) == {"products"} and (first["next"], first["total"]) == (50, 70)
    product = products[0]
    assert set(product) == {"id", "iblockId", "name", "active", "purchasingPrice", "dateCreate"}
    assert isinstance(product["id"], int) and product["iblockId"] == 23 and product["active"] in ("Y", "N")
    assert ISO.fullmatch(product["dateCreate"])
    cursor = {
        **CATALOG,
        "order": {"id": "asc"},
        "filter": {"iblockId": 23, ">id": product["id"]},
        "start": -1,
    }
    engine = await ok(portal, "catalog.product.list", cursor)
    assert "next" not in engine and "total" not in engine  # an engine method counts nothing
    assert engine["result"]["products"][0]["id"] > product["id"]
    newest = await ok(portal, "catalog.product.list", {**CATALOG, "order": {"id": "desc"}})
    assert newest["result"]["products"][0]["id"] == (await ids(portal, "product"))[-1]
    no_ids = await error(portal, "catalog.product.list", {"select": ["name"], "filter": {"iblockId": 23}})
    assert no_ids["error"] == "0" and "id, iblockId" in no_ids["error_description"]
    no_iblock = await error(portal, "catalog.product.list", {"select": ["id", "iblockId"]})
    assert "iblockId" in no_iblock["error_description"]
