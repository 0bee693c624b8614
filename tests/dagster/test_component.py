"""``Bitrix24LoadCollectionComponent`` from YAML, registered through the entry point, materialized
against the emulator."""

from __future__ import annotations

import dagster as dg
from dagster.components.core.package_entry import discover_entry_point_package_objects
from dagster.components.testing.utils import component_defs

from bitrix24_provider.dagster.component import Bitrix24LoadCollectionComponent
from bitrix24_provider.dagster.resources import Bitrix24Resource
from tests.dagster.support import materializations
from tests.staging._support import seeded_ids

YAML = """
bitrix24:
  webhook_url: {env: B24_COMPONENT_WEBHOOK}
  client_settings: {batch_size: 10}
destination:
  url: {env: B24_COMPONENT_URL}
entities:
  - {method: crm.deal.list, table: deals, cursor_field: DATE_MODIFY, select: ["*", "UF_*"]}
  - method: crm.company.list
    table: companies
    primary_key: [ID]
sensor: 30
"""


def test_the_entry_point_registers_the_component():
    found = {key.to_typename(): value for key, value in discover_entry_point_package_objects().items()}
    assert found["bitrix24_provider.dagster.component.Bitrix24LoadCollectionComponent"] is (
        Bitrix24LoadCollectionComponent
    )


def test_a_yaml_component_materializes_its_entities(make_portal, sqlite_target, monkeypatch):
    portal = make_portal(deals=250, companies=40)
    monkeypatch.setenv("B24_COMPONENT_WEBHOOK", portal.webhook_url)
    monkeypatch.setenv("B24_COMPONENT_URL", sqlite_target.url)
    component = Bitrix24LoadCollectionComponent.resolve_from_yaml(YAML)
    defs = component_defs(component=component)
    resource = defs.resources["bitrix24"]
    assert isinstance(resource, Bitrix24Resource)
    assert portal.config.webhook_code not in repr(resource)  # only the variable's name
    sensor = defs.resolve_sensor_def("bitrix24_assets_changes")
    assert sensor.minimum_interval_seconds == 30
    assets = defs.resolve_assets_def(dg.AssetKey(["bitrix24", "deals"]))
    result = dg.materialize([assets])  # the component binds its resources
    found = materializations(result)
    assert found["bitrix24/deals"]["dagster/row_count"] == 250
    assert found["bitrix24/companies"]["dagster/row_count"] == 40
    assert sqlite_target.ids("deals") == seeded_ids(portal)
    assert sqlite_target.ids("companies") == seeded_ids(portal, "company")
