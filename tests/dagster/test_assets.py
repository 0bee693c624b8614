"""``build_bitrix24_assets`` materialized with ``dagster.materialize`` against the emulator over HTTP
into real SQLite and PostgreSQL: exact loads, incremental runs, subsets, checks, event log lines."""

from __future__ import annotations

from datetime import datetime

import dagster as dg
import pytest

from bitrix24_provider.client import Bitrix
from bitrix24_provider.dagster import Bitrix24Entity, Bitrix24Translator, build_bitrix24_assets
from tests.dagster.support import checks, event_log, materializations, resources
from tests.staging._support import rest, seeded_ids, stats

DEALS = Bitrix24Entity("crm.deal.list", "deals", cursor_field="DATE_MODIFY", select=["*", "UF_*"], lag=0)
CONTACTS = Bitrix24Entity("crm.contact.list", "contacts")


def _instant(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def test_exact_loads_then_an_incremental_run_reads_only_changed_rows(make_portal, sql_target):
    portal = make_portal(deals=2000, contacts=300)
    assets = build_bitrix24_assets([DEALS, CONTACTS])
    instance = dg.DagsterInstance.ephemeral()
    first = dg.materialize([assets], resources=resources(portal, sql_target), instance=instance)
    assert first.success
    assert sql_target.ids("deals") == seeded_ids(portal)
    assert sql_target.ids("contacts") == seeded_ids(portal, "contact")
    found = materializations(first)
    deals, contacts = found["bitrix24/deals"], found["bitrix24/contacts"]
    assert deals["dagster/row_count"] == deals["bitrix24/rows_loaded"] == 2000
    assert contacts["dagster/row_count"] == contacts["bitrix24/rows_read"] == 300
    assert deals["dagster/table_name"] == (f"{sql_target.schema}.deals" if sql_target.schema else "deals")
    columns = {c.name: c.type for c in deals["dagster/column_schema"].columns}
    assert set(columns) == set(sql_target.column_types("deals"))
    assert any(name.startswith("UF_CRM_") for name in columns)  # user fields, from the .fields answer
    assert deals["bitrix24/mode"] == "merge" and contacts["bitrix24/mode"] == "replace"
    assert deals["bitrix24/watermark"] == deals["bitrix24/max_cursor"] == sql_target.state("deals")[0][2]
    assert deals["bitrix24/requests"] > 0
    assert checks(first) == {
        ("bitrix24/deals", "export_complete"): True,
        ("bitrix24/deals", "primary_key_unique"): True,
        ("bitrix24/contacts", "export_complete"): True,
        ("bitrix24/contacts", "primary_key_unique"): True,
    }
    lines = event_log(instance, first)
    assert any(line.startswith("Read 2,000 rows") for line in lines), lines  # the export's progress line
    assert any("Loaded 300 rows into" in line for line in lines)

    high_water = deals["bitrix24/watermark"]
    table = sql_target.qualified("deals")
    at_watermark = {
        int(r[0])
        for r in sql_target.rows(f'SELECT "ID", "DATE_MODIFY" FROM {table}')
        if _instant(r[1]) >= _instant(high_water)
    }
    changed = seeded_ids(portal)[20:26]
    for deal_id in changed:
        rest(portal, "crm.deal.update", {"id": deal_id, "fields": {"TITLE": f"changed {deal_id}"}})
    new_id = int(rest(portal, "crm.deal.add", {"fields": {"TITLE": "brand new"}}))

    served = stats(portal)["rows_served"]
    second = dg.materialize([assets], resources=resources(portal, sql_target), selection=["bitrix24/deals"])
    found = materializations(second)
    assert set(found) == {"bitrix24/deals"}  # the subset: contacts not loaded again
    expected = set(changed) | {new_id} | at_watermark
    assert found["bitrix24/deals"]["bitrix24/rows_read"] == len(expected)
    assert found["bitrix24/deals"]["bitrix24/incremental_from"] == high_water
    assert stats(portal)["rows_served"] - served == len(expected)
    titles = dict(sql_target.rows(f'SELECT "ID", "TITLE" FROM {table}'))
    assert {d: titles[d] for d in changed} == {d: f"changed {d}" for d in changed}
    assert titles[new_id] == "brand new"
    assert sql_target.ids("deals") == seeded_ids(portal)
    assert found["bitrix24/deals"]["dagster/row_count"] == 2001


def test_a_subset_loads_only_the_selected_asset(make_portal, sqlite_target):
    portal = make_portal(deals=100, contacts=50)
    assets = build_bitrix24_assets([DEALS, CONTACTS])
    result = dg.materialize(
        [assets], resources=resources(portal, sqlite_target), selection=["bitrix24/contacts"]
    )
    assert set(materializations(result)) == {"bitrix24/contacts"}
    assert set(checks(result)) == {
        ("bitrix24/contacts", "export_complete"),
        ("bitrix24/contacts", "primary_key_unique"),
    }
    assert "deals" not in sqlite_target.tables()
    assert sqlite_target.count("contacts") == 50


def test_duplicate_keys_fail_the_primary_key_check(make_portal, sqlite_target):
    portal = make_portal(deals=10, leads=40)
    leads = Bitrix24Entity("crm.lead.list", "leads", write_disposition="append")
    assets = build_bitrix24_assets([leads])
    first = dg.materialize([assets], resources=resources(portal, sqlite_target))
    assert checks(first)[("bitrix24/leads", "primary_key_unique")] is True
    second = dg.materialize([assets], resources=resources(portal, sqlite_target))
    assert second.success  # a failed check warns, the load stands
    assert checks(second)[("bitrix24/leads", "primary_key_unique")] is False
    evaluation = next(e for e in second.get_asset_check_evaluations() if e.check_name == "primary_key_unique")
    assert evaluation.metadata["duplicated_keys"].value == 40
    assert sqlite_target.count("leads") == 80


def test_a_translator_sets_keys_and_groups():
    class Prefixed(Bitrix24Translator):
        def get_asset_key(self, entity: Bitrix24Entity) -> dg.AssetKey:
            return dg.AssetKey(["crm", "raw", entity.table])

        def get_group_name(self, entity: Bitrix24Entity, default: str | None) -> str | None:
            return "crm_raw"

    assets = build_bitrix24_assets([DEALS, CONTACTS], translator=Prefixed(), name="crm")
    assert set(assets.keys) == {dg.AssetKey(["crm", "raw", "deals"]), dg.AssetKey(["crm", "raw", "contacts"])}
    assert set(assets.group_names_by_key.values()) == {"crm_raw"}
    assert assets.can_subset
    spec = assets.specs_by_key[dg.AssetKey(["crm", "raw", "deals"])]
    assert spec.metadata["bitrix24/method"] == "crm.deal.list"
    assert {k.name for k in assets.check_keys} == {"export_complete", "primary_key_unique"}


def test_two_entities_on_one_key_are_refused():
    with pytest.raises(ValueError, match="same asset key"):
        build_bitrix24_assets([CONTACTS, Bitrix24Entity("crm.company.list", "contacts")])


def test_a_daily_partition_bounds_the_cursor_to_its_window(make_portal, sqlite_target):
    portal = make_portal(deals=3000)
    deals = Bitrix24Entity("crm.deal.list", "deals", cursor_field="DATE_MODIFY", lag=0)
    daily = dg.DailyPartitionsDefinition(start_date="2024-01-01")
    assets = build_bitrix24_assets([deals], partitions_def=daily)
    result = dg.materialize([assets], resources=resources(portal, sqlite_target), partition_key="2024-12-30")
    found = materializations(result)["bitrix24/deals"]
    start, end = (
        datetime.fromisoformat("2024-12-30T00:00:00+00:00"),
        datetime.fromisoformat("2024-12-31T00:00:00+00:00"),
    )
    loaded = {int(i): _instant(m) for i, m in sqlite_target.rows('SELECT "ID", "DATE_MODIFY" FROM "deals"')}
    assert loaded and all(start <= moment < end for moment in loaded.values())
    with Bitrix(portal.webhook_url, verbose=False) as bx:
        everything = bx.get_all("crm.deal.list", {"select": ["ID", "DATE_MODIFY"]})
    expected = {int(r["ID"]) for r in everything if start <= _instant(r["DATE_MODIFY"]) < end}
    assert set(loaded) == expected  # exactly the deals modified in the partition's day
    assert found["bitrix24/incremental_from"] is not None and found["bitrix24/incremental_to"] is not None
    assert found["bitrix24/rows_read"] == len(loaded) < 3000
