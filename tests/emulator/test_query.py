"""Filter prefixes, typed comparisons, ordering, select masks and paging (contract §3.1-§3.4)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from bitrix24_provider.emulator.errors import RestError
from bitrix24_provider.emulator.query import (
    Filter,
    Order,
    parse_filter,
    parse_order,
    resolver,
    run_query,
    split_key,
)
from bitrix24_provider.emulator.rows import classic_select, item_select, task_select, user_select
from bitrix24_provider.emulator.store import Store, Table

OFFSET = "+03:00"
MSK = timezone(timedelta(hours=3))
UF_STRING, UF_DOUBLE, UF_ENUM, UF_BOOL, UF_TAGS = (f"UF_CRM_171981240010{n}" for n in (1, 2, 4, 5, 6))


class Spy:
    """A table wrapper that counts how many values a query reads."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.reads = 0
        self.columns = 0

    @property
    def ids(self) -> Sequence[int]:
        return self.table.ids

    def value(self, rid: int, code: str) -> Any:
        self.reads += 1
        return self.table.value(rid, code)

    def values(self, rid: int, codes: Sequence[str]) -> list[Any]:
        self.reads += len(codes)
        return self.table.values(rid, codes)

    def column(self, code: str) -> list[Any]:
        self.columns += 1
        return self.table.column(code)

    def cached(self, code: str) -> bool:
        return self.table.cached(code)


@pytest.fixture(scope="module")
def deals() -> Table:
    return Store(11, {"deal": 3000, "contact": 200, "company": 80, "lead": 100, "user": 15}).table("deal")


def classic_filter(raw: Any, table: Table, *, strict: bool = False) -> Filter:
    return parse_filter(raw, resolver(table.schema, "classic"), OFFSET, strict=strict)


def by_id(table: Table, descending: bool = False) -> Order:
    return [(table.schema.id_field, descending)]


def everything(table: Table, flt: Filter, order: Order | None = None) -> list[int]:
    page = run_query(table, flt, order or by_id(table), 0, limit=10**9)
    assert page.total == len(page.ids)
    return page.ids


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("ID", ("eq", "ID")), ("=ID", ("eq", "ID")), ("!ID", ("!eq", "ID")), ("!=ID", ("!eq", "ID")),
        (">ID", ("gt", "ID")), (">=ID", ("ge", "ID")), ("<ID", ("lt", "ID")), ("<=ID", ("le", "ID")),
        ("@ID", ("in", "ID")), ("!@ID", ("!in", "ID")), ("%TITLE", ("like", "TITLE")),
        ("=%TITLE", ("like=", "TITLE")), ("%=TITLE", ("like=", "TITLE")), ("!%TITLE", ("!like", "TITLE")),
        ("!=%TITLE", ("!like=", "TITLE")), ("!%=TITLE", ("!like=", "TITLE")),
    ],
)  # fmt: skip
def test_split_key(key: str, expected: tuple[str, str]) -> None:
    assert split_key(key) == expected


def test_keyset_paging_reads_no_values_and_visits_every_id_once() -> None:
    table = Store(5, {"deal": 100_000}).table("deal")
    spy = Spy(table)
    seen: list[int] = []
    last = 0
    while True:
        page = run_query(spy, classic_filter({">ID": str(last)}, table), by_id(table), -1)
        assert page.total is None
        assert page.counted == 0
        assert page.skipped == 0
        seen.extend(page.ids)
        if len(page.ids) < 50:
            break
        last = page.ids[-1]
    assert seen == list(table.ids)
    assert spy.reads == 0
    assert spy.columns == 0


def test_keyset_descending(deals: Table) -> None:
    ids = list(deals.ids)
    page = run_query(deals, classic_filter({"<ID": ids[-10]}, deals), by_id(deals, True), -1)
    assert page.ids == ids[-11::-1][:50]


def test_keyset_with_another_condition_matches_a_full_scan(deals: Table) -> None:
    wanted = [r for r in deals.ids if deals.value(r, "STAGE_ID") == "WON"]
    seen, last = [], 0
    while True:
        page = run_query(deals, classic_filter({">ID": last, "STAGE_ID": "WON"}, deals), by_id(deals), -1)
        seen += page.ids
        if len(page.ids) < 50:
            break
        last = page.ids[-1]
    assert seen == wanted


def test_start_is_floored_to_a_page_and_counts(deals: Table) -> None:
    spy = Spy(deals)
    page = run_query(spy, Filter(), by_id(deals), 75)
    assert page.ids == list(deals.ids[50:100])
    assert (page.total, page.skipped, page.counted) == (3000, 50, 3000)
    assert spy.reads == 0
    assert spy.columns == 0  # ID-only filters are counted without reading rows
    cut = deals.ids[1000]
    page = run_query(spy, classic_filter({">ID": cut}, deals), by_id(deals), 0)
    assert page.total == 1999
    assert page.ids == list(deals.ids[1001:1051])
    beyond = run_query(deals, Filter(), by_id(deals), 5000)
    assert beyond.ids == []
    assert beyond.total == 3000


def _moment(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def _like(v: Any, needle: str) -> bool:
    return v is not None and needle in v.casefold()


CASES: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ({"STAGE_ID": "WON"}, lambda r: r["STAGE_ID"] == "WON"),
    ({"=STAGE_ID": "won"}, lambda r: r["STAGE_ID"] == "WON"),  # MySQL collations ignore case
    ({"!STAGE_ID": "WON"}, lambda r: r["STAGE_ID"] != "WON"),
    ({"!=STAGE_ID": "WON"}, lambda r: r["STAGE_ID"] != "WON"),
    ({">OPPORTUNITY": "100000"}, lambda r: r["OPPORTUNITY"] > 100000),
    ({">=OPPORTUNITY": 100000}, lambda r: r["OPPORTUNITY"] >= 100000),
    ({"<OPPORTUNITY": 5000.5}, lambda r: r["OPPORTUNITY"] < 5000.5),
    ({"<=PROBABILITY": "30"}, lambda r: r["PROBABILITY"] is not None and r["PROBABILITY"] <= 30),
    ({"!PROBABILITY": 30}, lambda r: r["PROBABILITY"] != 30),  # NULLs pass a negation
    ({"@STAGE_ID": ["WON", "LOSE"]}, lambda r: r["STAGE_ID"] in ("WON", "LOSE")),
    ({"@STAGE_ID": {"0": "WON", "1": "LOSE"}}, lambda r: r["STAGE_ID"] in ("WON", "LOSE")),
    ({"STAGE_ID": ["WON", "LOSE"]}, lambda r: r["STAGE_ID"] in ("WON", "LOSE")),
    ({"!@STAGE_ID": ["WON", "LOSE"]}, lambda r: r["STAGE_ID"] not in ("WON", "LOSE")),
    ({"%TITLE": "LAPTOP"}, lambda r: _like(r["TITLE"], "laptop")),
    ({"=%TITLE": "laptops%"}, lambda r: r["TITLE"].casefold().startswith("laptops")),
    ({"%=TITLE": "%for nord"}, lambda r: r["TITLE"].casefold().endswith("for nord")),
    ({"!%TITLE": "laptop"}, lambda r: not _like(r["TITLE"], "laptop")),
    ({"!=%TITLE": "deal #%"}, lambda r: not r["TITLE"].startswith("Deal #")),
    ({"!%=TITLE": "%sigma"}, lambda r: not r["TITLE"].casefold().endswith("sigma")),
    ({"=%TITLE": "deal #1_"}, lambda r: len(r["TITLE"]) == 8 and r["TITLE"].startswith("Deal #1")),
    (
        {">=DATE_MODIFY": "2024-06-01T00:00:00+03:00"},
        lambda r: r["DATE_MODIFY"] >= _moment("2024-06-01T00:00:00+03:00"),
    ),
    (
        {">=DATE_MODIFY": "2024-06-01T00:00:00Z"},
        lambda r: r["DATE_MODIFY"] >= _moment("2024-06-01T00:00:00+00:00"),
    ),
    ({"<DATE_CREATE": "2023-01-01"}, lambda r: r["DATE_CREATE"] < _moment("2023-01-01T00:00:00+03:00")),
    (
        {">DATE_MODIFY": "01.06.2024 12:00:00"},
        lambda r: r["DATE_MODIFY"] > _moment("2024-06-01T12:00:00+03:00"),
    ),
    ({"<BEGINDATE": "2023-01-01"}, lambda r: r["BEGINDATE"] < _moment("2023-01-01T00:00:00+00:00")),
    ({"COMPANY_ID": ""}, lambda r: r["COMPANY_ID"] is None),
    ({"!COMPANY_ID": ""}, lambda r: r["COMPANY_ID"] is not None),
    ({"COMPANY_ID": None}, lambda r: r["COMPANY_ID"] is None),
    ({"OPENED": "Y"}, lambda r: r["OPENED"] is True),
    ({"OPENED": "N"}, lambda r: r["OPENED"] is False),
    ({"OPENED": False}, lambda r: r["OPENED"] is False),
    ({UF_TAGS: "vip"}, lambda r: "vip" in r[UF_TAGS]),
    ({UF_ENUM: "47"}, lambda r: r[UF_ENUM] == 47),
    ({UF_BOOL: 1}, lambda r: r[UF_BOOL] is True),
    ({">" + UF_DOUBLE: "50.5"}, lambda r: r[UF_DOUBLE] is not None and r[UF_DOUBLE] > 50.5),
    ({"%" + UF_STRING: "al"}, lambda r: _like(r[UF_STRING], "al")),
    (
        {"STAGE_ID": "WON", ">OPPORTUNITY": 500000},
        lambda r: r["STAGE_ID"] == "WON" and r["OPPORTUNITY"] > 500000,
    ),
    ({"NO_SUCH_FIELD": 1, "CURRENCY_ID": "USD"}, lambda r: r["CURRENCY_ID"] == "USD"),  # classic ignores it
    ({">ID": "abc"}, lambda r: True),  # PHP (int)"abc" is 0
]


@pytest.mark.parametrize(("raw", "predicate"), CASES, ids=[str(c[0]) for c in CASES])
def test_filter_matches_a_brute_force_scan(
    deals: Table, raw: dict[str, Any], predicate: Callable[[dict[str, Any]], bool]
) -> None:
    expected = [rid for rid in deals.ids if predicate(deals.row(rid))]
    assert everything(deals, classic_filter(raw, deals)) == expected
    assert expected  # every case selects something (and, being a filter, not always everything)


def test_id_conditions_combine(deals: Table) -> None:
    ids = list(deals.ids)
    flt = classic_filter(
        {">=ID": ids[10], "<ID": ids[20], "@ID": [ids[5], ids[12], "x", ids[15], 10**12]}, deals
    )
    assert everything(deals, flt) == [ids[12], ids[15]]
    assert everything(deals, classic_filter({"@ID": []}, deals)) == []
    assert everything(deals, classic_filter({"ID": str(ids[3])}, deals)) == [ids[3]]
    assert everything(deals, classic_filter({"!ID": ids[3], "<=ID": ids[4]}, deals)) == [*ids[:3], ids[4]]


def test_strict_filters_reject_unknown_fields_and_bad_values(deals: Table) -> None:
    item = resolver(deals.schema, "item")
    with pytest.raises(RestError) as error:
        parse_filter({">=NOPE": 1}, item, OFFSET, strict=True)
    assert error.value.body() == {
        "error": "INVALID_ARG_VALUE",
        "error_description": "Invalid filter: field 'NOPE' is not allowed in filter",
    }
    with pytest.raises(RestError) as error:
        parse_filter({">updatedTime": "yesterday"}, item, OFFSET, strict=True)
    assert error.value.description == "Invalid filter: field 'updatedTime' has invalid value"
    lenient = classic_filter({">DATE_MODIFY": "yesterday"}, deals)
    assert everything(deals, lenient) == []


def test_item_names_and_nested_or(deals: Table) -> None:
    item = resolver(deals.schema, "item")
    for name in ("id", "ID"):
        assert item(name) is deals.schema.id_field
    for name in ("updatedTime", "UPDATED_TIME", "DATE_MODIFY"):
        assert item(name) is deals.schema.by_code["DATE_MODIFY"]
    assert item("ufCrm_1719812400101") is item("UF_CRM_1719812400101") is deals.schema.by_code[UF_STRING]
    raw = {
        "0": {"logic": "OR", "0": {"stageId": "WON"}, "1": {">opportunity": 1_500_000}},
        "currencyId": "RUB",
    }
    flt = parse_filter(raw, item, OFFSET, strict=True, nested=True)
    expected = [
        r
        for r in deals.ids
        if (deals.value(r, "STAGE_ID") == "WON" or deals.value(r, "OPPORTUNITY") > 1_500_000)
        and deals.value(r, "CURRENCY_ID") == "RUB"
    ]
    assert everything(deals, flt) == expected
    assert expected


def test_order_directions_and_ties(deals: Table) -> None:
    resolve = resolver(deals.schema, "classic")
    order = parse_order({"CURRENCY_ID": "asc", "OPPORTUNITY": "Desc", "NOPE": "ASC"}, resolve)
    assert [(f.code, d) for f, d in order] == [("CURRENCY_ID", False), ("OPPORTUNITY", True)]
    got = everything(deals, Filter(), order)
    expected = sorted(
        deals.ids, key=lambda r: (deals.value(r, "CURRENCY_ID"), -deals.value(r, "OPPORTUNITY"), r)
    )
    assert got == expected
    nulls_first = everything(deals, Filter(), parse_order({"PROBABILITY": "ASC"}, resolve))
    assert deals.value(nulls_first[0], "PROBABILITY") is None
    assert parse_order({"ID": "sideways"}, resolve)[0][1] is False  # classic falls back to ASC
    assert everything(deals, Filter(), parse_order(["TITLE"], resolve))[0] == min(
        deals.ids, key=lambda r: (deals.value(r, "TITLE").casefold(), r)
    )


def test_order_by_another_field_pages_consistently(deals: Table) -> None:
    order = parse_order({"DATE_MODIFY": "DESC", "ID": "ASC"}, resolver(deals.schema, "classic"))
    flt = classic_filter({">=DATE_MODIFY": "2024-01-01"}, deals)
    full = everything(deals, flt, order)
    pages = [run_query(deals, flt, order, start) for start in range(0, len(full) + 50, 50)]
    assert [rid for page in pages for rid in page.ids] == full
    assert {page.total for page in pages} == {len(full)}
    first = run_query(deals, flt, order, -1)
    assert first.ids == full[:50]
    assert first.total is None


def test_strict_order_errors(deals: Table) -> None:
    item = resolver(deals.schema, "item")
    with pytest.raises(RestError) as error:
        parse_order({"nope": "ASC"}, item, strict=True)
    assert error.value.description == "Invalid order: field 'nope' is not allowed in order"
    with pytest.raises(RestError) as error:
        parse_order({"id": "UP"}, item, strict=True)
    assert error.value.description == (
        "Invalid order: allowed sort directions are ASC, DESC. But got 'UP' for field 'id'"
    )


def test_classic_select_masks() -> None:
    schema = Store(1, {"lead": 3}).table("lead").schema
    default = {f.code for f in classic_select(schema, None)}
    assert default == {f.code for f in classic_select(schema, ["*", "UF_*"])}
    assert "TITLE" in default
    assert "UF_CRM_1719812500201" in default
    assert "PHONE" not in default
    assert "UF_CRM_1719812500206" not in default  # multi-fields only when named
    assert {f.code for f in classic_select(schema, ["*"])} == {c for c in default if not c.startswith("UF_")}
    assert [f.code for f in classic_select(schema, {"0": "phone", "1": "ID", "2": "NOPE"})] == ["ID", "PHONE"]
    assert [f.code for f in classic_select(schema, ["UF_*"])] == sorted(
        c for c in default if c.startswith("UF_")
    )


def test_other_select_masks() -> None:
    store = Store(1, {"item": 3, "task": 3, "user": 3})
    fields, star = item_select(store.table("item").schema, None)
    assert star
    assert "ufCrm5_1719812800506" in {f.camel for f in fields}
    fields, star = item_select(store.table("item").schema, ["id", "TITLE", "ufCrm5_1719812800501", "x"])
    assert not star
    assert [f.camel for f in fields] == ["id", "title", "ufCrm5_1719812800501"]
    assert [f.code for f in task_select(store.table("task").schema, ["ID", "changedDate"])] == [
        "ID",
        "CHANGED_DATE",
    ]
    users = store.table("user").schema
    assert {f.code for f in user_select(users, ["UF_*"])} == {
        "UF_DEPARTMENT",
        "UF_EMPLOYMENT_DATE",
        "UF_PHONE_INNER",
    }
    assert "UF_DEPARTMENT" not in {f.code for f in user_select(users, ["*"])}
