"""``tasks.task.*``, ``user.*``, ``profile``, ``server.time`` and ``crm.status.list``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import RestError
from .fields import Field, Schema, spec
from .handlers_common import (
    classic_array,
    engine_array,
    engine_int,
    engine_param,
    now_of,
    paged,
    scalar_sort_query,
    start_of,
    write_values,
)
from .query import Filter, make_cond, parse_filter, parse_order, resolver, run_query, split_key
from .registry import CallInfo, Handler, MethodResult, Params
from .rows import classic_rows, classic_select, task_rows, task_select, user_rows, user_select
from .store import Store, Table
from .values import format_dt, offset_seconds
from .vocab import STATUS_ROWS


def _task_not_found() -> RestError:
    return RestError("ERROR_CORE", "Task not found or not accessible")


def _task_filter(raw: Any) -> Any:
    """``STATUS = -1`` is the "overdue" meta-status (``subStatus`` -1); ``REAL_STATUS`` is ``STATUS``."""
    if not isinstance(raw, dict):
        return raw
    out: dict[str, Any] = {}
    for key, value in raw.items():
        _, name = split_key(str(key))
        prefix = str(key)[: len(str(key)) - len(name)]
        if name.upper() == "STATUS" and str(value) == "-1":
            key = prefix + "SUB_STATUS"
        elif name.upper() == "REAL_STATUS":
            key = prefix + "STATUS"
        out[str(key)] = value
    return out


def task_handlers(store: Store) -> dict[str, Handler]:
    table = store.table("task")
    schema = table.schema
    resolve = resolver(schema, "task")

    def bad_sort(name: str) -> RestError:
        return RestError("0", "Invalid sorting key (internal error)")

    def one(rid: int, select: Any, call: CallInfo) -> dict[str, Any]:
        return task_rows(table, [rid], task_select(schema, select), call.utc_offset)[0]

    def existing(params: Params) -> int:
        rid = engine_int(params, "taskId")
        if not table.exists(rid):
            raise _task_not_found()
        return rid

    def task_list(params: Params, call: CallInfo) -> MethodResult:
        node = parse_filter(_task_filter(engine_array(params, "filter")), resolve, call.utc_offset)
        ordering = parse_order(engine_array(params, "order"), resolve, on_unknown=bad_sort)
        page = run_query(table, node, ordering or [(schema.id_field, True)], start_of(params))
        rows = task_rows(
            table, page.ids, task_select(schema, engine_param(params, "select")), call.utc_offset
        )
        return paged(page, rows, "task", engine=True, wrap=lambda tasks: {"tasks": tasks})

    def task_get(params: Params, call: CallInfo) -> MethodResult:
        rid = existing(params)
        return MethodResult({"task": one(rid, engine_param(params, "select"), call)}, family="task", rows=1)

    def task_add(params: Params, call: CallInfo) -> MethodResult:
        raw = engine_array(params, "fields", required=True)
        rid = table.add(write_values(schema, raw, resolve, call.utc_offset), now_of(call), call.user_id)
        return MethodResult({"task": one(rid, None, call)}, family="task", rows=1, writes=1)

    def task_update(params: Params, call: CallInfo) -> MethodResult:
        rid = existing(params)
        raw = engine_array(params, "fields", required=True)
        table.update(rid, write_values(schema, raw, resolve, call.utc_offset), now_of(call), call.user_id)
        return MethodResult({"task": one(rid, None, call)}, family="task", rows=1, writes=1)

    def task_delete(params: Params, call: CallInfo) -> MethodResult:
        table.delete(existing(params))
        return MethodResult({"task": True}, family="task", writes=1)

    def task_fields(params: Params, call: CallInfo) -> MethodResult:
        return MethodResult({"fields": {f.code: _task_field(f) for f in schema.fields}})

    return {
        "tasks.task.list": task_list,
        "tasks.task.get": task_get,
        "tasks.task.add": task_add,
        "tasks.task.update": task_update,
        "tasks.task.delete": task_delete,
        "tasks.task.getfields": task_fields,
    }


def _task_field(f: Field) -> dict[str, Any]:
    kind = (
        "array"
        if f.multiple
        else {"int": "integer", "date": "datetime", "bool": "enum"}.get(f.kind, "string")
    )
    out: dict[str, Any] = {"title": f.title, "type": kind}
    if f.code == "ID":
        out["primary"] = True
    if f.kind == "bool":
        out["values"] = {"Y": "Yes", "N": "No"}
    return out


_USER_RESERVED = frozenset({"admin_mode", "select", "name_search"})


def user_handlers(store: Store) -> dict[str, Handler]:
    table = store.table("user")
    schema = table.schema
    resolve = resolver(schema, "user")

    def user_get(params: Params, call: CallInfo) -> MethodResult:
        flt, ordering = scalar_sort_query(params, resolve, _USER_RESERVED)
        node = parse_filter(flt, resolve, call.utc_offset)
        search = engine_param(params, "name_search")
        if search not in (None, ""):
            names = ("NAME", "LAST_NAME", "EMAIL", "WORK_POSITION")
            conds = [make_cond(schema.by_code[n], "like", search, n, call.utc_offset, False) for n in names]
            node.children.append(Filter(conds=conds, any_of=True))
        page = run_query(table, node, ordering or [(schema.id_field, False)], start_of(params))
        rows = user_rows(
            table, page.ids, user_select(schema, engine_param(params, "select")), call.utc_offset
        )
        return paged(page, rows, "user", engine=False)

    def user_current(params: Params, call: CallInfo) -> MethodResult:
        return MethodResult(_user_row(table, call), family="user", rows=1)

    def user_fields(params: Params, call: CallInfo) -> MethodResult:
        return MethodResult({f.code: f.label or f.title for f in schema.fields})

    def profile(params: Params, call: CallInfo) -> MethodResult:
        row = _user_row(table, call)
        return MethodResult(
            {
                "ID": row.get("ID", str(call.user_id)),
                "ADMIN": call.user_id == 1,
                "NAME": row.get("NAME", ""),
                "LAST_NAME": row.get("LAST_NAME", ""),
                "PERSONAL_GENDER": row.get("PERSONAL_GENDER", ""),
                "PERSONAL_PHOTO": "",
                "TIME_ZONE": "",
                "TIME_ZONE_OFFSET": offset_seconds(call.utc_offset),
            }
        )

    def server_time(params: Params, call: CallInfo) -> MethodResult:
        return MethodResult(format_dt(now_of(call), call.utc_offset))

    return {
        "user.get": user_get,
        "user.current": user_current,
        "user.fields": user_fields,
        "profile": profile,
        "server.time": server_time,
    }


def _user_row(table: Table, call: CallInfo) -> dict[str, Any]:
    if not table.exists(call.user_id):
        return {}
    return user_rows(table, [call.user_id], list(table.schema.fields), call.utc_offset)[0]


# --- crm.status.list -------------------------------------------------------------------------

STATUS_SCHEMA = Schema(
    "status",
    (
        spec("ID", "integer", "ID", "O"),
        spec("ENTITY_ID", "string", "Entity"),
        spec("STATUS_ID", "string", "Status"),
        spec("NAME", "string", "Name"),
        spec("NAME_INIT", "string", "Initial name", "O"),
        spec("SORT", "integer", "Sort"),
        spec("SYSTEM", "char", "System", "O"),
        spec("COLOR", "string", "Color"),
        spec("SEMANTICS", "string", "Semantics", "O"),
        spec("CATEGORY_ID", "integer", "Pipeline", "O"),
    ),
)


class StaticSource:
    """A fixed list of rows that queries can read like a store table."""

    def __init__(self, schema: Schema, rows: list[dict[str, Any]]) -> None:
        self.schema = schema
        self._rows = {row["ID"]: row for row in rows}
        self.ids = sorted(self._rows)

    def value(self, rid: int, code: str) -> Any:
        return self._rows[rid].get(code)

    def values(self, rid: int, codes: Sequence[str]) -> list[Any]:
        row = self._rows[rid]
        return [row.get(code) for code in codes]

    def column(self, code: str) -> list[Any]:
        return [self._rows[rid].get(code) for rid in self.ids]

    def cached(self, code: str) -> bool:
        return True


def _status_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    sort: dict[str, int] = {}
    for n, (entity, status, name, semantic) in enumerate(STATUS_ROWS, start=1):
        sort[entity] = sort.get(entity, 0) + 10
        category = int(entity.rpartition("_")[2]) if entity.startswith("DEAL_STAGE_") else None
        rows.append(
            {
                "ID": n,
                "ENTITY_ID": entity,
                "STATUS_ID": status,
                "NAME": name,
                "NAME_INIT": name,
                "SORT": sort[entity],
                "SYSTEM": status.rpartition(":")[2] in ("NEW", "WON", "LOSE", "CONVERTED", "JUNK"),
                "COLOR": "#39A8EF"
                if semantic in (None, "P")
                else "#7BD500"
                if semantic == "S"
                else "#FF5752",
                "SEMANTICS": None if semantic in (None, "P") else semantic,
                "CATEGORY_ID": category,
            }
        )
    return rows


def status_handlers() -> dict[str, Handler]:
    source = StaticSource(STATUS_SCHEMA, _status_rows())
    resolve = resolver(STATUS_SCHEMA, "classic")
    by = STATUS_SCHEMA.by_code

    def status_list(params: Params, call: CallInfo) -> MethodResult:
        node = parse_filter(classic_array(params, "filter"), resolve, call.utc_offset)
        ordering = parse_order(classic_array(params, "order"), resolve) or [
            (by["ENTITY_ID"], False),
            (by["SORT"], False),
        ]
        page = run_query(source, node, ordering, start_of(params))
        fields = classic_select(STATUS_SCHEMA, classic_array(params, "select"))
        rows = classic_rows(source, page.ids, fields, call.utc_offset)
        return paged(page, rows, "classic", engine=False)

    return {"crm.status.list": status_list}
