"""Select masks and the wire shape of rows per method family (contract §3.4 select, §3.5)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache, partial
from typing import Any

from .fields import Field, Schema
from .jsonrows import PhpSafe
from .query import Source, resolver
from .render_columns import ColumnRenderer, classic_column
from .seeding import Many
from .store import Table
from .values import as_list, classic_renderer, render_classic, render_item, render_task, render_user


def _names(raw: Any) -> list[str]:
    if raw is None or raw == "":
        return []
    return [str(n).strip() for n in as_list(raw) if isinstance(n, (str, int)) and str(n).strip()]


def _in_schema_order(schema: Schema, chosen: set[str]) -> list[Field]:
    return [f for f in schema.fields if f.code in chosen]


def classic_select(schema: Schema, raw: Any) -> list[Field]:
    """``*`` = standard fields except multi-fields, ``UF_*`` = user fields except multiple ones,
    others only when named; omitted = ``*`` + ``UF_*``. Unknown names are ignored, and so are link
    lists such as a deal's ``CONTACT_IDS``, which list methods cannot select."""
    names = _names(raw) or ["*", "UF_*"]
    chosen: set[str] = set()
    for name in names:
        if name == "*":
            chosen.update(f.code for f in schema.fields if not f.uf and f.in_star)
        elif name.upper() == "UF_*":
            chosen.update(f.code for f in schema.fields if f.uf and not f.multiple)
        else:
            f = schema.by_code.get(name) or schema.by_code.get(name.upper())
            if f is not None and (f.in_star or f.uf or f.kind == "multifield"):
                chosen.add(f.code)
    return _in_schema_order(schema, chosen)


def item_select(schema: Schema, raw: Any) -> tuple[list[Field], bool]:
    """crm.item: ``*`` (also the default) = every field plus ``fm`` and ``entityTypeId``; otherwise
    only the named fields (camelCase, upperName or original UF name)."""
    names = _names(raw)
    if not names or "*" in names:
        return [f for f in schema.fields if f.camel], True
    resolve = resolver(schema, "item")
    chosen = {f.code for n in names if (f := resolve(n)) is not None and f.camel}
    return _in_schema_order(schema, chosen), False


def task_select(schema: Schema, raw: Any) -> list[Field]:
    """tasks.task.list: UPPER (or camelCase) names; omitted or ``*`` = all fields."""
    names = _names(raw)
    if not names or "*" in names:
        return list(schema.fields)
    chosen = {f.code for n in names if (f := schema.by_code.get(n.upper()) or schema.by_camel.get(n))}
    return _in_schema_order(schema, chosen)


def user_select(schema: Schema, raw: Any) -> list[Field]:
    """user.get: ``*`` = standard fields, ``UF_*`` = user fields; omitted = everything."""
    names = _names(raw)
    if not names:
        return list(schema.fields)
    chosen: set[str] = set()
    for name in names:
        if name == "*":
            chosen.update(f.code for f in schema.fields if not f.uf)
        elif name.upper() == "UF_*":
            chosen.update(f.code for f in schema.fields if f.uf)
        elif (f := schema.by_code.get(name.upper())) is not None:
            chosen.add(f.code)
    return _in_schema_order(schema, chosen)


def classic_rows(src: Source, ids: Sequence[int], fields: list[Field], offset: str) -> list[dict[str, Any]]:
    """UPPER keys, string values; multi-fields (PHONE, EMAIL...) only when not empty."""
    value, values = src.value, src.values
    plain = [(f.code, classic_renderer(f)) for f in fields if f.kind != "multifield"]
    codes = [code for code, _ in plain]
    multi = [f for f in fields if f.kind == "multifield"]
    rows = []
    for rid in ids:
        row = {code: render(v, offset) for (code, render), v in zip(plain, values(rid, codes), strict=True)}
        for f in multi:
            if v := value(rid, f.code):
                row[f.code] = render_classic(f, v, offset)
        rows.append(row)
    if multi:  # keep the schema's key order
        order = {f.code: n for n, f in enumerate(fields)}
        rows = [dict(sorted(row.items(), key=lambda kv: order[kv[0]])) for row in rows]
    return rows


def classic_page(table: Table, ids: Sequence[int], fields: list[Field], offset: str) -> list[dict[str, Any]]:
    """:func:`classic_rows` of a list page, built column by column. The rows are
    :class:`~.jsonrows.PhpSafe`: keys are field codes, values strings, None or lists of strings.
    Selections with multi-fields (left out when empty) or without fields take the per-row path."""
    plan = _classic_plan(tuple(fields))
    if plan is None:
        return classic_rows(table, ids, fields, offset)
    codes, renderers, template = plan
    rids = tuple(ids)
    rendered: list[list[Any]] = []
    if table.touched(rids):  # canonical values with the writes applied, then rendered
        done: dict[tuple[int, ColumnRenderer], list[Any]] = {}  # a column two fields share: once
        for render, col in zip(renderers, table.columns(rids, codes), strict=True):
            out = done.get((id(col), render))
            if out is None:
                out = done[id(col), render] = render(col, offset)
            rendered.append(out)
    else:
        for column in _classic_columns(table, tuple(fields), offset):
            rendered.append(column(rids))
    rows = PhpSafe()
    for values in zip(*rendered, strict=True):
        row = template.copy()  # presized: no resizing while the values go in
        row.update(zip(codes, values, strict=True))
        rows.append(row)
    return rows


@lru_cache(maxsize=256)
def _classic_plan(fields: tuple[Field, ...]) -> tuple[list[str], list[ColumnRenderer], dict[str, Any]] | None:
    """(codes, column renderers, a row with every key) of a selection; None when it has multi-fields
    (they are left out when empty) or no field at all."""
    if not fields or any(f.kind == "multifield" for f in fields):
        return None
    codes = [f.code for f in fields]
    return codes, [classic_column(f) for f in fields], dict.fromkeys(codes)


def _classic_columns(table: Table, fields: tuple[Field, ...], offset: str) -> list[Many]:
    """Per field, ``rids -> rendered values`` of generated rows: fields drawn from a few values are
    rendered once per value (:meth:`.store.Table.generated_as`), the others column by column, a column
    two fields share (modification and last activity time) once. Kept on the table per selection."""
    key = ("classic", fields, offset)
    found: list[Many] | None = table.derived.get(key)
    if found is not None:
        return found
    columns: list[Many] = []
    seen: dict[tuple[Many, ColumnRenderer], Many] = {}
    for f in fields:
        fused = table.generated_as(f.code, partial(_render_one, f, offset))
        if fused is None:
            many, render = table.generated(f.code), classic_column(f)
            fused = seen.get((many, render)) or _rendered(many, render, offset)
            seen[many, render] = fused
        columns.append(fused)
    if len(table.derived) >= 64:
        table.derived.clear()
    table.derived[key] = columns
    return columns


def _render_one(f: Field, offset: str, value: Any) -> Any:
    return render_classic(f, value, offset)


def _rendered(many: Many, render: ColumnRenderer, offset: str) -> Many:
    """``many`` then ``render``; the same ids asked again (a shared column) get the same list."""
    last: list[Any] = [None, None]

    def column(rids: Sequence[int]) -> list[Any]:
        if last[0] is not rids:
            last[0], last[1] = rids, render(many(rids), offset)
        out: list[Any] = last[1]
        return out

    return column


def item_rows(
    src: Source,
    ids: Sequence[int],
    fields: list[Field],
    offset: str,
    *,
    entity_type_id: int,
    star: bool,
    original_uf: bool = False,
) -> list[dict[str, Any]]:
    """camelCase typed values; with ``*`` also ``fm`` (multi-fields) and ``entityTypeId``."""
    value = src.value
    keys = [(f, f.code if f.uf and original_uf else f.camel or f.code) for f in fields]
    multi = [f for f in src_schema(src).fields if f.kind == "multifield"] if star else []
    rows = []
    for rid in ids:
        row = {key: render_item(f, value(rid, f.code), offset) for f, key in keys}
        if multi:
            row["fm"] = [entry for f in multi for entry in render_item(f, value(rid, f.code), offset)]
        if star:
            row["entityTypeId"] = entity_type_id
        rows.append(row)
    return rows


def src_schema(src: Source) -> Schema:
    schema = getattr(src, "schema", None)
    if not isinstance(schema, Schema):
        raise TypeError("the source has no schema")
    return schema


def task_rows(src: Source, ids: Sequence[int], fields: list[Field], offset: str) -> list[dict[str, Any]]:
    """camelCase keys with string values; ``group`` and ``subStatus`` always come back."""
    value, rows = src.value, []
    sub_status = next((f for f in src_schema(src).fields if f.code == "SUB_STATUS"), None)
    for rid in ids:
        row = {f.camel or f.code: render_task(f, value(rid, f.code), offset) for f in fields}
        row.setdefault("group", [])
        if sub_status is not None and "subStatus" not in row:
            row["subStatus"] = render_task(sub_status, value(rid, "SUB_STATUS"), offset)
        rows.append(row)
    return rows


def user_rows(src: Source, ids: Sequence[int], fields: list[Field], offset: str) -> list[dict[str, Any]]:
    value = src.value
    return [{f.code: render_user(f, value(rid, f.code), offset) for f in fields} for rid in ids]
