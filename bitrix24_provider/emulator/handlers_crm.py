"""Classic ``crm.{deal,lead,contact,company}.*`` and universal ``crm.item.*`` methods (contract §4)."""

from __future__ import annotations

from typing import Any

from .errors import RestError, must_be_array, not_found
from .fields import describe
from .handlers_common import (
    classic_array,
    classic_id,
    classic_param,
    engine_array,
    engine_int,
    engine_param,
    is_yes,
    now_of,
    paged,
    start_of,
    write_values,
)
from .query import parse_filter, parse_order, resolver, run_query, snake_upper
from .registry import CallInfo, Handler, MethodResult, Params
from .rows import classic_page, classic_rows, classic_select, item_rows, item_select
from .store import Store, Table

CLASSIC = ("deal", "lead", "contact", "company")


def classic_handlers(store: Store) -> dict[str, Handler]:
    handlers: dict[str, Handler] = {}
    for entity in CLASSIC:
        table = store.table(entity)
        prefix = f"crm.{entity}."
        handlers[prefix + "list"] = _classic_list(table)
        handlers[prefix + "get"] = _classic_get(table)
        handlers[prefix + "add"] = _classic_add(table)
        handlers[prefix + "update"] = _classic_update(table)
        handlers[prefix + "delete"] = _classic_delete(table)
        handlers[prefix + "fields"] = _classic_fields(table)
    return handlers


def _classic_list(table: Table) -> Handler:
    schema = table.schema
    resolve = resolver(schema, "classic")

    def handler(params: Params, call: CallInfo) -> MethodResult:
        flt = classic_array(params, "filter")
        order = classic_array(params, "order")
        select = classic_array(params, "select")
        start = start_of(params)
        node = parse_filter(flt, resolve, call.utc_offset)
        ordering = parse_order(order, resolve) or [(schema.id_field, False)]
        page = run_query(table, node, ordering, start)
        build = classic_rows if call.reference else classic_page
        rows = build(table, page.ids, classic_select(schema, select), call.utc_offset)
        return paged(page, rows, "classic", engine=False)

    return handler


def _existing(table: Table, params: Params) -> int:
    rid = classic_id(params)
    if not table.exists(rid):
        raise not_found()
    return rid


def _classic_get(table: Table) -> Handler:
    fields = [f for f in table.schema.fields if f.in_star or f.uf or f.kind == "multifield"]

    def handler(params: Params, call: CallInfo) -> MethodResult:
        rid = _existing(table, params)
        row = classic_rows(table, [rid], fields, call.utc_offset)[0]
        return MethodResult(row, family="classic", rows=1)

    return handler


def _classic_fields_param(params: Params) -> dict[str, Any]:
    fields = classic_array(params, "fields", required=True)
    return fields if isinstance(fields, dict) else {str(n): v for n, v in enumerate(fields)}


def _import_mode(params: Params) -> bool:
    extra = classic_param(params, "params")
    if extra is None:
        return False
    if not isinstance(extra, (dict, list)):
        raise must_be_array("params")
    return isinstance(extra, dict) and is_yes(extra.get("IMPORT"))


def _classic_add(table: Table) -> Handler:
    resolve = resolver(table.schema, "classic")

    def handler(params: Params, call: CallInfo) -> MethodResult:
        raw = _classic_fields_param(params)
        values = write_values(table.schema, raw, resolve, call.utc_offset, read_only=_import_mode(params))
        rid = table.add(values, now_of(call), call.user_id)
        return MethodResult(rid, family="classic", writes=1)

    return handler


def _classic_update(table: Table) -> Handler:
    resolve = resolver(table.schema, "classic")

    def handler(params: Params, call: CallInfo) -> MethodResult:
        rid = classic_id(params)
        raw = _classic_fields_param(params)
        _import_mode(params)
        if not table.exists(rid):
            raise not_found()
        values = write_values(table.schema, raw, resolve, call.utc_offset, immutable=False)
        table.update(rid, values, now_of(call), call.user_id)
        return MethodResult(True, family="classic", writes=1)

    return handler


def _classic_delete(table: Table) -> Handler:
    def handler(params: Params, call: CallInfo) -> MethodResult:
        table.delete(_existing(table, params))
        return MethodResult(True, family="classic", writes=1)

    return handler


def _classic_fields(table: Table) -> Handler:
    result = {f.code: describe(f) for f in table.schema.fields}

    def handler(params: Params, call: CallInfo) -> MethodResult:
        return MethodResult(result)

    return handler


# --- crm.item.* ------------------------------------------------------------------------------


def _item_table(store: Store, params: Params) -> tuple[Table, int]:
    type_id = engine_int(params, "entityTypeId")
    table = store.item_table(type_id)
    if table is None:
        raise RestError("NOT_FOUND", "Smart process not found")
    return table, type_id


def _item_not_found() -> RestError:
    return RestError("NOT_FOUND", "Item not found")


def _one_item(table: Table, rid: int, type_id: int, call: CallInfo, original_uf: bool) -> dict[str, Any]:
    fields, _ = item_select(table.schema, None)
    rows = item_rows(
        table, [rid], fields, call.utc_offset, entity_type_id=type_id, star=True, original_uf=original_uf
    )
    return rows[0]


def item_handlers(store: Store) -> dict[str, Handler]:
    def item_list(params: Params, call: CallInfo) -> MethodResult:
        table, type_id = _item_table(store, params)
        resolve = resolver(table.schema, "item")
        node = parse_filter(
            engine_array(params, "filter"), resolve, call.utc_offset, strict=True, nested=True
        )
        ordering = parse_order(engine_array(params, "order"), resolve, strict=True)
        page = run_query(table, node, ordering or [(table.schema.id_field, False)], start_of(params))
        fields, star = item_select(table.schema, engine_param(params, "select"))
        original_uf = is_yes(engine_param(params, "useOriginalUfNames"))
        rows = item_rows(
            table,
            page.ids,
            fields,
            call.utc_offset,
            entity_type_id=type_id,
            star=star,
            original_uf=original_uf,
        )
        return paged(page, rows, "item", engine=True, wrap=lambda items: {"items": items})

    def item_get(params: Params, call: CallInfo) -> MethodResult:
        table, type_id = _item_table(store, params)
        rid = engine_int(params, "id")
        if not table.exists(rid):
            raise _item_not_found()
        item = _one_item(table, rid, type_id, call, is_yes(engine_param(params, "useOriginalUfNames")))
        return MethodResult({"item": item}, family="item", rows=1)

    def item_add(params: Params, call: CallInfo) -> MethodResult:
        table, type_id = _item_table(store, params)
        raw = engine_array(params, "fields", required=True)
        values = write_values(table.schema, raw, resolver(table.schema, "item"), call.utc_offset)
        rid = table.add(values, now_of(call), call.user_id)
        item = _one_item(table, rid, type_id, call, is_yes(engine_param(params, "useOriginalUfNames")))
        return MethodResult({"item": item}, family="item", rows=1, writes=1)

    def item_update(params: Params, call: CallInfo) -> MethodResult:
        table, type_id = _item_table(store, params)
        rid = engine_int(params, "id")
        raw = engine_array(params, "fields", required=True)
        if not table.exists(rid):
            raise _item_not_found()
        values = write_values(table.schema, raw, resolver(table.schema, "item"), call.utc_offset)
        wrote = table.update(rid, values, now_of(call), call.user_id, touch=False)
        item = _one_item(table, rid, type_id, call, is_yes(engine_param(params, "useOriginalUfNames")))
        return MethodResult({"item": item}, family="item", rows=1, writes=int(wrote))

    def item_delete(params: Params, call: CallInfo) -> MethodResult:
        table, _ = _item_table(store, params)
        rid = engine_int(params, "id")
        if not table.exists(rid):
            raise _item_not_found()
        table.delete(rid)
        return MethodResult([], family="item", writes=1)

    def item_fields(params: Params, call: CallInfo) -> MethodResult:
        table, _ = _item_table(store, params)
        original_uf = is_yes(engine_param(params, "useOriginalUfNames"))
        fields = {}
        for f in table.schema.fields:
            if not f.camel:
                continue
            described = describe(f, item_style=True)
            described["upperName"] = f.code if f.uf else snake_upper(f.camel)
            fields[f.code if f.uf and original_uf else f.camel] = described
        return MethodResult({"fields": fields})

    return {
        "crm.item.list": item_list,
        "crm.item.get": item_get,
        "crm.item.add": item_add,
        "crm.item.update": item_update,
        "crm.item.delete": item_delete,
        "crm.item.fields": item_fields,
    }
