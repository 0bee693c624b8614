"""The seeded data store: determinism, id gaps, build speed, timelines and writes."""

from __future__ import annotations

import time
from itertools import pairwise

import pytest

from bitrix24_provider.emulator.config import EmulatorConfig
from bitrix24_provider.emulator.fields import SCHEMAS
from bitrix24_provider.emulator.generators import AUDIT
from bitrix24_provider.emulator.store import ENTITIES, Store
from bitrix24_provider.emulator.values import BASE_EPOCH
from bitrix24_provider.emulator.vocab import deal_semantic

COUNTS = {"deal": 2000, "lead": 300, "contact": 300, "company": 100, "item": 150, "task": 120, "user": 20}
COUNTS |= {"department": 30, "list_element": 60, "storage": 20, "disk_object": 70, "product": 90}
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z, later than every seeded moment


@pytest.fixture
def store() -> Store:
    return Store(7, COUNTS)


def test_same_seed_gives_the_same_portal() -> None:
    a, b = Store(7, COUNTS), Store(7, COUNTS)
    for entity in ENTITIES:
        assert a.seeded_ids(entity) == b.seeded_ids(entity)
        sample = a.seeded_ids(entity)[::17]
        assert [a.table(entity).row(rid) for rid in sample] == [b.table(entity).row(rid) for rid in sample]


def test_another_seed_gives_another_portal() -> None:
    a, b = Store(7, COUNTS), Store(8, COUNTS)
    assert a.seeded_ids("deal") != b.seeded_ids("deal")
    rid = sorted(set(a.seeded_ids("deal")) & set(b.seeded_ids("deal")))[10]
    assert a.table("deal").row(rid) != b.table("deal").row(rid)


def test_ids_are_sorted_with_small_realistic_gaps(store: Store) -> None:
    for entity, count in COUNTS.items():
        ids = store.seeded_ids(entity)
        assert len(ids) == count
        steps = {b - a for a, b in pairwise(ids)}
        assert steps <= {1, 2, 3}
        assert 1 in steps
        assert 2 in steps or 3 in steps
    assert store.seeded_ids("user")[0] == 1  # the webhook's user exists


def test_store_follows_the_config_counts_and_seed() -> None:
    config = EmulatorConfig(
        seed=3, deals=120, leads=40, contacts=30, companies=20, items=10, tasks=15, users=5
    )
    store = Store.seeded(config)
    assert store.counts() == {
        "user": 5, "company": 20, "contact": 30, "lead": 40, "deal": 120, "item": 10, "task": 15,
        "department": 7, "list_element": 60, "storage": 3, "disk_object": 40, "product": 60,
    }  # fmt: skip
    assert store.seeded_ids("deal") == Store(3, {"deal": 120}).seeded_ids("deal")


@pytest.mark.parametrize("rows", [100_000, 1_000_000])
def test_big_tables_build_quickly(rows: int) -> None:
    started = time.perf_counter()
    store = Store(42, {"deal": rows})
    elapsed = time.perf_counter() - started
    assert len(store.table("deal")) == rows
    assert elapsed < 5.0
    last = store.table("deal").ids[-1]
    assert store.table("deal").value(last, "ID") == last


def test_timelines_are_in_the_past_and_consistent(store: Store) -> None:
    for entity, (created, modified, _, _) in AUDIT.items():  # departments and storages have no times
        table = store.table(entity)
        previous = None
        for rid in table.ids:
            c, m = table.value(rid, created), table.value(rid, modified)
            assert c <= m < BASE_EPOCH
            if entity != "user":  # users register on whole days
                assert previous is None or c > previous  # creation time grows with the id
            previous = c


def test_links_point_to_seeded_rows(store: Store) -> None:
    companies, contacts = set(store.seeded_ids("company")), set(store.seeded_ids("contact"))
    users = set(store.seeded_ids("user"))
    deals = store.table("deal")
    for rid in deals.ids[:300]:
        row = deals.row(rid, ["COMPANY_ID", "CONTACT_ID", "CONTACT_IDS", "ASSIGNED_BY_ID", "STAGE_ID"])
        assert row["COMPANY_ID"] is None or row["COMPANY_ID"] in companies
        assert row["CONTACT_ID"] is None or row["CONTACT_ID"] in contacts
        assert row["CONTACT_IDS"] == ([] if row["CONTACT_ID"] is None else [row["CONTACT_ID"]])
        assert row["ASSIGNED_BY_ID"] in users
        semantic = deals.value(rid, "STAGE_SEMANTIC_ID")
        assert semantic == deal_semantic(row["STAGE_ID"])
        assert deals.value(rid, "CLOSED") == (semantic != "P")


def test_phone_flags_agree_with_multifields(store: Store) -> None:
    contacts = store.table("contact")
    for rid in contacts.ids[:200]:
        assert contacts.value(rid, "HAS_PHONE") == bool(contacts.value(rid, "PHONE"))
        assert contacts.value(rid, "HAS_EMAIL") == bool(contacts.value(rid, "EMAIL"))


def test_add_assigns_the_next_id_with_a_gap(store: Store) -> None:
    deals = store.table("deal")
    last = deals.ids[-1]
    rid = deals.add({"TITLE": "Fresh", "OPPORTUNITY": 10.5}, NOW, 5)
    assert 1 <= rid - last <= 3
    assert deals.ids[-1] == rid
    assert deals.exists(rid)
    row = deals.row(rid)
    assert row["TITLE"] == "Fresh"
    assert row["OPPORTUNITY"] == 10.5
    assert row["DATE_CREATE"] == row["DATE_MODIFY"] == NOW
    assert row["CREATED_BY_ID"] == row["MODIFY_BY_ID"] == row["ASSIGNED_BY_ID"] == 5
    assert row["STAGE_ID"] == "NEW"
    assert row["STAGE_SEMANTIC_ID"] == "P"
    assert row["CLOSED"] is False
    assert row["CONTACT_IDS"] == []
    assert row["UF_CRM_1719812400105"] is False
    assert store.seeded_ids("deal")[-1] == rid
    assert rid not in store.original_ids("deal")
    second = deals.add({}, NOW, 1)
    assert second > rid
    assert deals.value(second, "TITLE") == f"Deal #{second}"


def test_update_moves_the_modification_time(store: Store) -> None:
    deals = store.table("deal")
    rid = deals.ids[100]
    before = deals.row(rid)
    assert deals.update(rid, {"TITLE": "Renamed", "STAGE_ID": "WON"}, NOW, 9)
    after = deals.row(rid)
    assert after["TITLE"] == "Renamed"
    assert after["DATE_MODIFY"] == NOW
    assert after["MODIFY_BY_ID"] == 9
    assert after["STAGE_SEMANTIC_ID"] == "S"
    assert after["CLOSED"] is True
    assert after["DATE_CREATE"] == before["DATE_CREATE"]
    assert after["OPPORTUNITY"] == before["OPPORTUNITY"]


def test_update_without_changes(store: Store) -> None:
    items = store.table("item")
    rid = items.ids[3]
    title, updated = items.value(rid, "TITLE"), items.value(rid, "UPDATED_TIME")
    assert not items.update(rid, {"TITLE": title}, NOW, 1, touch=False)
    assert items.value(rid, "UPDATED_TIME") == updated
    assert items.update(rid, {"TITLE": title}, NOW, 1)  # classic methods always touch the row
    assert items.value(rid, "UPDATED_TIME") == NOW


def test_task_status_changes_derive_dates(store: Store) -> None:
    tasks = store.table("task")
    rid = next(r for r in tasks.ids if tasks.value(r, "STATUS") == 2)
    tasks.update(rid, {"STATUS": 5}, NOW, 3)
    row = tasks.row(rid, ["STATUS", "SUB_STATUS", "CLOSED_DATE", "CLOSED_BY", "CHANGED_DATE"])
    assert row == {"STATUS": 5, "SUB_STATUS": 5, "CLOSED_DATE": NOW, "CLOSED_BY": 3, "CHANGED_DATE": NOW}


def test_delete_removes_the_row(store: Store) -> None:
    deals = store.table("deal")
    rid = deals.ids[5]
    deals.delete(rid)
    assert not deals.exists(rid)
    assert rid not in store.seeded_ids("deal")
    assert rid in store.original_ids("deal")
    assert deals.deleted == frozenset({rid})
    with pytest.raises(KeyError):
        deals.delete(rid)
    added = deals.add({}, NOW, 1)
    deals.delete(added)
    assert deals.deleted == frozenset({rid})


def test_cached_columns_follow_writes(store: Store) -> None:
    deals = store.table("deal")
    column = deals.column("DATE_MODIFY")
    assert column == [deals.value(r, "DATE_MODIFY") for r in deals.ids]
    deals.update(deals.ids[7], {"TITLE": "x"}, NOW, 1)
    deals.delete(deals.ids[0])
    deals.add({}, NOW + 5, 1)
    assert deals.column("DATE_MODIFY") == [deals.value(r, "DATE_MODIFY") for r in deals.ids]
    assert deals.column("TITLE") == [deals.value(r, "TITLE") for r in deals.ids]


def test_entity_names_and_aliases(store: Store) -> None:
    assert store.table("crm.deal") is store.table("deal") is store.table("deals")
    assert store.table("companies") is store.table("company")
    assert store.table("tasks.task") is store.table("task")
    assert store.item_table(2) is store.table("deal")
    assert store.item_table(1032) is store.table("item")
    assert store.item_table(31) is None
    with pytest.raises(KeyError):
        store.table("invoice")
    with pytest.raises(KeyError):
        store.seeded_ids("nosuch")


def test_every_field_has_a_value_of_its_kind(store: Store) -> None:
    kinds = {"int": int, "float": float, "bool": bool, "date": int, "str": str, "multifield": dict}
    for entity in ENTITIES:
        table = store.table(entity)
        for rid in table.ids[:40]:
            for f in SCHEMAS[entity].fields:
                value = table.value(rid, f.code)
                values = value if f.multiple else [value]
                assert isinstance(values, list), (entity, f.code)
                for v in values:
                    assert v is None or isinstance(v, kinds[f.kind]), (entity, f.code, v)


def test_a_deleted_row_comes_back_from_the_recycle_bin_with_its_id_and_values() -> None:
    store = Store(seed=5, counts={"deal": 50})
    table = store.table("deal")
    seeded, edited = table.ids[10], table.ids[20]
    table.update(edited, {"TITLE": "edited"}, now=BASE_EPOCH + 100, user=1)
    added = table.add({"TITLE": "added"}, now=BASE_EPOCH + 200, user=1)
    before = {rid: table.row(rid) for rid in (seeded, edited, added)}
    table.column("TITLE")  # a cached column must follow the restore
    for rid in before:
        table.delete(rid)
    assert len(table) == 49 - 1 and not any(table.exists(rid) for rid in before)
    for rid in before:
        table.restore(rid)
    assert list(table.ids) == sorted(table.ids) and len(table) == 51
    assert {rid: table.row(rid) for rid in before} == before  # DATE_MODIFY included
    assert table.column("TITLE")[table.ids.index(edited)] == "edited"
    assert seeded not in table.deleted
    with pytest.raises(KeyError):
        table.restore(seeded)  # not deleted (any more)
