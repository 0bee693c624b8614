"""The column path of list pages gives what the per-row reference path gives, value for value.

Reference: ``Table.value`` / ``Table.values`` (one generator call per value), ``render_classic`` and
``rows.classic_rows``; fast: ``Kit.many`` / ``Table.columns``, ``render_columns`` and
``rows.classic_page``.
"""

from __future__ import annotations

import random
from array import array

import pytest

from bitrix24_provider.emulator import fastjson, phpjson
from bitrix24_provider.emulator.fields import SCHEMAS, Field
from bitrix24_provider.emulator.jsonrows import written
from bitrix24_provider.emulator.render_columns import classic_column, iso_column
from bitrix24_provider.emulator.rows import classic_page, classic_rows, classic_select
from bitrix24_provider.emulator.seeding import Kit
from bitrix24_provider.emulator.store import ENTITIES, Store
from bitrix24_provider.emulator.values import format_dt, render_classic

COUNTS = {"deal": 3000, "lead": 400, "contact": 300, "company": 100, "item": 150, "task": 120, "user": 20}
COUNTS |= {"department": 60, "list_element": 80, "storage": 60, "disk_object": 70, "product": 90}
CLASSIC = ("deal", "lead", "contact", "company")
NOW = 1_767_225_600
OFFSETS = ("+03:00", "-05:30", "+00:00", "+14:00")


@pytest.fixture
def store() -> Store:
    return Store(11, COUNTS)


def pages(ids: list[int]) -> list[list[int]]:
    """Consecutive pages, pages with gaps, unknown ids beyond the table and an empty page."""
    picked = random.Random(3).sample(ids, min(60, len(ids)))
    return [ids[:50], ids[50:53], ids[-7:], picked, [ids[-1] + 1, ids[-1] + 5], []]


@pytest.mark.parametrize("entity", ENTITIES)
def test_columns_equal_values_row_by_row(store: Store, entity: str) -> None:
    table = store.table(entity)
    codes = [f.code for f in table.schema.fields]
    for rids in pages(table.ids.tolist()):
        cols = table.columns(rids, codes)
        assert [list(row) for row in zip(*cols, strict=True)] == [table.values(rid, codes) for rid in rids]
        assert all(len(col) == len(rids) for col in cols)


@pytest.mark.parametrize("entity", ENTITIES)
def test_whole_table_columns_equal_values(store: Store, entity: str) -> None:
    table = store.table(entity)
    for f in table.schema.fields:
        assert table.column(f.code) == [table.value(rid, f.code) for rid in table.ids]


def test_columns_after_writes(store: Store) -> None:
    """Added, updated and deleted rows inside a page; fields that share a generator (DATE_MODIFY and
    LAST_ACTIVITY_TIME both come from the modification time) keep their own values."""
    table = store.table("deal")
    ids = table.ids.tolist()
    before = table.value(ids[3], "LAST_ACTIVITY_TIME")
    table.update(ids[3], {"TITLE": "changed", "OPPORTUNITY": 5.5, "STAGE_ID": "WON"}, NOW, 1)
    table.delete(ids[4])
    added = table.add({"TITLE": "added"}, NOW, 1)
    codes = [f.code for f in table.schema.fields]
    for rids in ([*ids[:10], added], table.ids.tolist()[:50], table.ids.tolist()[-3:]):
        cols = table.columns(rids, codes)
        assert [list(row) for row in zip(*cols, strict=True)] == [table.values(rid, codes) for rid in rids]
    page = dict(zip(codes, table.columns(ids[:4], codes), strict=True))
    assert page["DATE_MODIFY"][3] == NOW
    assert page["LAST_ACTIVITY_TIME"][3] == before != NOW
    assert table.columns([ids[3]], ["DATE_MODIFY", "LAST_ACTIVITY_TIME"]) == [[NOW], [before]]


def test_a_repeated_page_is_not_served_from_a_stale_column(store: Store) -> None:
    table = store.table("deal")
    rids = table.ids.tolist()[:50]
    first = table.columns(rids, ["TITLE", "DATE_MODIFY"])
    table.update(rids[0], {"TITLE": "new title"}, NOW, 1)
    again = table.columns(rids, ["TITLE", "DATE_MODIFY"])
    assert again[0][0] == "new title" != first[0][0]
    assert again[1][0] == NOW


def test_every_kit_factory_has_an_equal_column_form() -> None:
    ids = array("q", range(5, 5000, 3))
    k = Kit(5, "deal", ids)
    users = array("q", [1, 2, 3, 5, 8])
    pick = k.pick("p", ["a", "b", "c"], [1, 2, 3])
    gens = {
        "created": k.created,
        "modified": k.modified,
        "moment": k.moment("m"),
        "hasher": k.hasher("h"),
        "ident": k.ident(),
        "pick": pick,
        "maybe(pick)": k.maybe("mp", 40, pick),
        "maybe(number)": k.maybe("mn", 70, k.number("n", -5, 5)),
        "maybe(maybe)": k.maybe("mm", 50, k.maybe("m2", 50, k.const("x"))),
        "chance": k.chance("c", 30),
        "number": k.number("n", 10, 99),
        "money": k.money("o", 0, 2_000_000),
        "ref": k.ref("r", users, 60),
        "ref 100": k.ref("r1", users),
        "ref none": k.ref("r0", array("q")),
        "ref big": k.ref("rb", array("q", range(10_000)), 50),
        "const": k.const([]),
        "combine": k.combine(lambda a, b, c: f"{a}-{b}-{c}", k.ident(), pick, k.created),
        "combine 1": k.combine(lambda a: a * 2, k.number("n", 0, 9)),
        "lambda": lambda rid: rid % 7,
    }
    rids = ids.tolist()
    finite = set()
    for name, gen in gens.items():
        expected = [gen(rid) for rid in rids]
        many = k.many(gen)
        assert many(rids) == expected, name
        assert many(tuple(rids)) == expected, name
        assert many(tuple(rids[:3])) == expected[:3], name  # another tuple: no stale answer
        assert many(ids) == expected, name
        assert many([]) == [], name
        mapper = k.mapper(gen)
        if mapper is not None:  # drawn from a few values: fn once per value
            finite.add(name)
            calls: list[object] = []

            def render(value: object, calls: list[object] = calls) -> str:
                calls.append(value)
                return f"<{value}>"

            assert mapper(render)(rids) == [f"<{v}>" for v in expected], name
            assert len(calls) <= 100, name
    assert finite == {"pick", "maybe(pick)", "maybe(maybe)", "chance", "ref", "ref 100", "ref none", "const"}


def classic_fields() -> list[Field]:
    return [f for e in CLASSIC for f in SCHEMAS[e].fields]


EDGE_VALUES = [None, 0, 1, -1, 7, 12.0, 0.5, 1e-7, 1e20, 123.456, True, False, 1735689600, -1, 86399, 86400]


@pytest.mark.parametrize("offset", OFFSETS)
def test_column_renderers_equal_render_classic(store: Store, offset: str) -> None:
    for entity in CLASSIC:
        table = store.table(entity)
        for f in table.schema.fields:
            values = table.column(f.code)[:300]
            if not f.multiple and f.kind != "multifield":
                values += [v for v in EDGE_VALUES if _fits(f, v)]
            assert classic_column(f)(list(values), offset) == [
                render_classic(f, v, offset) for v in values
            ], f.code


def _fits(f: Field, v: object) -> bool:
    kinds = {"int": int, "float": float, "bool": bool, "date": int, "str": str}
    return v is None or (type(v) is kinds.get(f.kind) and not (f.kind == "date" and v == 12.0))


def test_dates_across_days_years_and_offsets() -> None:
    moments = [-2208988800, -1, 0, 1, 951782399, 951782400, 1735689599, 1735689600, 4102444800, 221845392000]
    moments += [m + s for m in (1700000000,) for s in range(0, 2 * 86400, 997)]
    moments += [1700000000.7, -0.5, 1e9, True]  # never stored, still written like format_dt
    for offset in OFFSETS:
        assert iso_column([*moments, None], offset, "") == [*(format_dt(m, offset) for m in moments), ""]


@pytest.mark.parametrize("entity", CLASSIC)
def test_classic_page_equals_classic_rows(store: Store, entity: str) -> None:
    table = store.table(entity)
    schema = table.schema
    text = "NAME" if "NAME" in schema.by_code else "TITLE"
    changes = {text: "Новое", "COMMENTS": "a\ud800", "OPENED": False}
    if "PHONE" in schema.by_code:
        changes["PHONE"] = [{"ID": 7, "VALUE_TYPE": "WORK", "VALUE": "+1", "TYPE_ID": "PHONE"}]
    table.update(table.ids[5], changes, NOW, 1)
    table.add({text: 'quote " and \\'}, NOW, 1)
    selects = [None, ["*"], ["UF_*"], ["*", "UF_*"], ["ID", "TITLE", "PHONE", "EMAIL"], ["NOPE"], ["PHONE"]]
    selects += [[f.code for f in schema.fields if f.uf]]  # multiple user fields too
    for raw in selects:
        fields = classic_select(schema, raw)
        for rids in pages(table.ids.tolist()):
            for offset in OFFSETS[:2]:
                fast = classic_page(table, rids, fields, offset)
                slow = classic_rows(table, rids, fields, offset)
                assert fast == slow
                assert fastjson.dumps({"result": fast}) == phpjson.dumps({"result": slow})
                page = written(fast)  # as a batch keeps it
                assert [page[i] for i in range(len(page))] == slow  # what batch references read
                assert fastjson.dumps({"result": page}) == phpjson.dumps({"result": slow})
