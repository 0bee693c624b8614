"""The paged lists outside CRM and tasks: ``department.get``, ``lists.element.get``,
``disk.storage.getlist``, ``disk.folder.getchildren`` and ``catalog.product.list``.

Each pages like the other list methods (contract §3.1, §3.2): 50 rows from ``start``, ``total`` and
``next`` while more rows follow; ``start=-1`` counts nothing. The classic ones answer a bare list of
string values, ``catalog.product.list`` (an engine method) ``{"products": [...]}`` with typed values.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from .errors import RestError
from .fields import Field, Schema
from .generators_other import LIST_IBLOCK_CODE, LIST_IBLOCK_ID, SHARED_FOLDER_ID
from .handlers_common import (
    classic_array,
    engine_array,
    engine_param,
    paged,
    scalar_sort_query,
    start_of,
)
from .query import Filter, Order, make_cond, parse_filter, parse_order, resolver, run_query, split_key
from .registry import CallInfo, Handler, MethodResult, Params
from .rows import classic_select
from .store import Store, Table
from .values import format_dt, php_float, php_int, render_item

#: where disk objects open in the browser (the emulated portal has no web interface)
_PORTAL = "https://emulator.bitrix24.test"


def list_handlers(store: Store) -> dict[str, Handler]:
    return {
        "department.get": _department_get(store.table("department")),
        "lists.element.get": _element_get(store.table("list_element")),
        "disk.storage.getlist": _storage_list(store.table("storage")),
        "disk.folder.getchildren": _folder_children(store.table("disk_object"), store.table("storage")),
        "catalog.product.list": _product_list(store.table("product")),
    }


def _query(
    table: Table, node: Filter, order: Order, params: Params, render: Callable[[int], dict[str, Any]]
) -> MethodResult:
    """One classic page: a bare list, ``total``/``next`` unless ``start=-1``."""
    page = run_query(table, node, order or [(table.schema.id_field, False)], start_of(params))
    return paged(page, [render(rid) for rid in page.ids], "other", engine=False)


def _text(f: Field, v: Any, offset: str) -> Any:
    """Classic string values: ids and numbers as strings, ISO dates, ``null`` when empty."""
    if v is None:
        return None
    if f.kind == "date":
        return format_dt(v, offset)
    if f.kind == "float":
        return php_float(v)
    return str(v)


# --- department.get -----------------------------------------------------------------------


def _department_get(table: Table) -> Handler:
    resolve = resolver(table.schema, "classic")

    def handler(params: Params, call: CallInfo) -> MethodResult:
        flt, ordering = scalar_sort_query(params, resolve, frozenset())
        node = parse_filter(flt, resolve, call.utc_offset)

        def render(rid: int) -> dict[str, Any]:
            parent, head = table.value(rid, "PARENT"), table.value(rid, "UF_HEAD")
            row: dict[str, Any] = {"ID": str(rid), "NAME": table.value(rid, "NAME")}
            row["SORT"] = table.value(rid, "SORT")  # an integer, unlike the ids
            if parent is not None:
                row["PARENT"] = str(parent)
            if head is not None:
                row["UF_HEAD"] = str(head)
            return row

        return _query(table, node, ordering, params, render)

    return handler


# --- lists.element.get ---------------------------------------------------------------------


def _missing(name: str) -> RestError:
    return RestError("ERROR_REQUIRED_PARAMETERS_MISSING", f'Required parameter "{name}" is missing')


def _iblock_not_found() -> RestError:
    return RestError("ERROR_IBLOCK_NOT_FOUND", "Iblock not found")


def _check_list(params: Params) -> None:
    """``IBLOCK_TYPE_ID`` and ``IBLOCK_ID`` or ``IBLOCK_CODE`` must name the emulated list."""
    kind = engine_param(params, "IBLOCK_TYPE_ID")
    if kind in (None, ""):
        raise _missing("IBLOCK_TYPE_ID")
    iblock, code = engine_param(params, "IBLOCK_ID"), engine_param(params, "IBLOCK_CODE")
    if iblock in (None, "") and code in (None, ""):
        raise _missing("IBLOCK_ID")
    found = php_int(iblock) == LIST_IBLOCK_ID if iblock not in (None, "") else code == LIST_IBLOCK_CODE
    if str(kind) != "lists" or not found:
        raise _iblock_not_found()


def _property(rid: int, code: str, value: Any) -> dict[str, str] | None:
    """A list property: ``{value id: value}`` (one value each here)."""
    if value is None:
        return None
    text = php_float(value) if isinstance(value, float) else str(value)
    return {str(rid * 10 + int(code.rpartition("_")[2]) % 10): text}


def _portal_date(ts: int | None, offset: str) -> str | None:
    """Lists answer dates in the portal's format (``DD.MM.YYYY HH:MM:SS``), not ISO 8601."""
    if ts is None:
        return None
    return datetime.fromisoformat(format_dt(ts, offset)).strftime("%d.%m.%Y %H:%M:%S")


def _element_get(table: Table) -> Handler:
    schema = table.schema
    resolve = resolver(schema, "classic")

    def handler(params: Params, call: CallInfo) -> MethodResult:
        _check_list(params)
        node = parse_filter(engine_array(params, "FILTER"), resolve, call.utc_offset)
        for name in ("ELEMENT_ID", "ELEMENT_CODE"):  # one element, still answered as a list
            value = engine_param(params, name)
            if value not in (None, ""):
                f = schema.by_code["ID" if name == "ELEMENT_ID" else "CODE"]
                node.conds.append(make_cond(f, "eq", value, f.code, call.utc_offset, False))
        ordering = parse_order(engine_array(params, "ELEMENT_ORDER"), resolve)
        fields = classic_select(schema, engine_array(params, "SELECT") or None)
        if schema.id_field not in fields:
            fields.insert(0, schema.id_field)

        def render(rid: int) -> dict[str, Any]:
            row: dict[str, Any] = {}
            for f in fields:
                value = table.value(rid, f.code)
                if f.code.startswith("PROPERTY_"):
                    row[f.code] = _property(rid, f.code, value)
                elif f.kind == "date":
                    row[f.code] = _portal_date(value, call.utc_offset)
                else:
                    row[f.code] = _text(f, value, call.utc_offset)
            return row

        return _query(table, node, ordering or [(schema.by_code["SORT"], False)], params, render)

    return handler


# --- disk ---------------------------------------------------------------------------------


def _classic_list(
    table: Table, params: Params, call: CallInfo, render: Callable[[int], dict[str, Any]]
) -> MethodResult:
    resolve = resolver(table.schema, "classic")
    node = parse_filter(classic_array(params, "filter"), resolve, call.utc_offset)
    ordering = parse_order(classic_array(params, "order"), resolve)
    return _query(table, node, ordering, params, render)


def _storage_list(table: Table) -> Handler:
    def handler(params: Params, call: CallInfo) -> MethodResult:
        def render(rid: int) -> dict[str, Any]:
            return {f.code: _text(f, table.value(rid, f.code), call.utc_offset) for f in table.schema.fields}

        return _classic_list(table, params, call, render)

    return handler


def _folder_children(table: Table, storages: Table) -> Handler:
    schema = table.schema
    file_only = ("GLOBAL_CONTENT_VERSION", "FILE_ID", "SIZE")

    def handler(params: Params, call: CallInfo) -> MethodResult:
        raw = engine_param(params, "id")
        folder = php_int(raw) if not isinstance(raw, (dict, list)) else None
        if not folder:
            raise RestError("ERROR_ARGUMENT", "Invalid value of parameter {Parameter #1}")
        if folder != SHARED_FOLDER_ID:
            empty = table.exists(folder) and table.value(folder, "TYPE") == "folder"
            empty = empty or folder in storages.column("ROOT_OBJECT_ID")
            if not empty:
                raise RestError("ERROR_NOT_FOUND", f"Could not find entity with id '{raw}'")
            return MethodResult([], None, 0, family="other")

        def render(rid: int) -> dict[str, Any]:
            row: dict[str, Any] = {}
            is_file = table.value(rid, "TYPE") == "file"
            for f in schema.fields:
                if f.code in file_only and not is_file:
                    continue
                row[f.code] = _text(f, table.value(rid, f.code), call.utc_offset)
                if f.code == "TYPE" and not is_file:
                    row["REAL_OBJECT_ID"] = str(rid)
            row["DETAIL_URL"] = f"{_PORTAL}/docs/{'file' if is_file else 'path'}/{row['NAME']}"
            return row

        return _classic_list(table, params, call, render)

    return handler


# --- catalog.product.list -------------------------------------------------------------------


def _product_error(what: str) -> RestError:
    return RestError("0", f"Required {what}")


def _product_list(table: Table) -> Handler:
    schema: Schema = table.schema
    resolve = resolver(schema, "item")
    iblock = schema.by_code["IBLOCK_ID"]

    def handler(params: Params, call: CallInfo) -> MethodResult:
        select = engine_array(params, "select")
        names = {str(n) for n in (select.values() if isinstance(select, dict) else select)}
        if not {"id", "iblockId"} <= names:
            raise _product_error("select fields: id, iblockId")
        flt = engine_array(params, "filter")
        keys = flt if isinstance(flt, dict) else {}
        if not any(resolve(split_key(str(k))[1]) is iblock for k in keys):
            raise _product_error("filter fields: iblockId")
        node = parse_filter(flt, resolve, call.utc_offset, strict=True)
        ordering = parse_order(engine_array(params, "order"), resolve, strict=True)
        star = "*" in names
        fields = [f for f in schema.fields if star or f.camel in names]
        page = run_query(table, node, ordering or [(schema.id_field, False)], start_of(params))
        rows = [
            {str(f.camel): render_item(f, table.value(rid, f.code), call.utc_offset) for f in fields}
            for rid in page.ids
        ]
        return paged(page, rows, "other", engine=True, wrap=lambda products: {"products": products})

    return handler
