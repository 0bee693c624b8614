"""``build_bitrix24_change_sensor`` against the emulator: one run request for the changed entities,
the watermarks in the sensor's cursor."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from bitrix24_provider.dagster import (
    Bitrix24Destination,
    Bitrix24Entity,
    Bitrix24Resource,
    build_bitrix24_assets,
)
from bitrix24_provider.dagster.sensor import build_bitrix24_change_sensor
from tests.staging._support import rest, seeded_ids, stats

DEALS = Bitrix24Entity("crm.deal.list", "deals", cursor_field="DATE_MODIFY")
LEADS = Bitrix24Entity("crm.lead.list", "leads", cursor_field="DATE_MODIFY")
CONTACTS = Bitrix24Entity("crm.contact.list", "contacts")  # not incremental: not watched
ASSETS = build_bitrix24_assets([DEALS, LEADS, CONTACTS])


def tick(sensor: dg.SensorDefinition, portal, cursor: str | None, bitrix24: Bitrix24Resource | None = None):
    resources = {
        "bitrix24": bitrix24 or Bitrix24Resource(webhook_url=portal.webhook_url),
        "destination": Bitrix24Destination(url="sqlite://"),  # opened only for OAuth
    }
    return sensor(dg.build_sensor_context(cursor=cursor, resources=resources))


def test_the_sensor_requests_the_changed_assets_only(make_portal):
    portal = make_portal(deals=200, leads=100)
    sensor = build_bitrix24_change_sensor(ASSETS)
    first = tick(sensor, portal, None)
    assert isinstance(first, dg.SensorResult)
    assert [set(r.asset_selection) for r in first.run_requests] == [
        {dg.AssetKey(["bitrix24", "deals"]), dg.AssetKey(["bitrix24", "leads"])}
    ]
    marks = json.loads(first.cursor)
    assert set(marks) == {"bitrix24/deals", "bitrix24/leads"}

    requests = stats(portal)["http_requests"]
    quiet = tick(sensor, portal, first.cursor)
    assert isinstance(quiet, dg.SkipReason)
    assert stats(portal)["http_requests"] - requests == 2  # one cheap call per watched entity

    deal_id = seeded_ids(portal)[5]
    rest(portal, "crm.deal.update", {"id": deal_id, "fields": {"TITLE": "changed"}})
    third = tick(sensor, portal, first.cursor)
    assert isinstance(third, dg.SensorResult)
    assert [set(r.asset_selection) for r in third.run_requests] == [{dg.AssetKey(["bitrix24", "deals"])}]
    moved = json.loads(third.cursor)
    assert moved["bitrix24/leads"] == marks["bitrix24/leads"]
    assert moved["bitrix24/deals"] > marks["bitrix24/deals"]
    assert third.run_requests[0].run_key != first.run_requests[0].run_key


def test_a_start_watermark_after_every_record_requests_nothing(make_portal):
    portal = make_portal(deals=20, leads=20)
    sensor = build_bitrix24_change_sensor(ASSETS, start="2100-01-01T00:00:00+00:00")
    assert isinstance(tick(sensor, portal, None), dg.SkipReason)


def test_only_incremental_assets_can_be_watched():
    with pytest.raises(ValueError, match="bitrix24/contacts"):
        build_bitrix24_change_sensor(ASSETS, asset_keys=[dg.AssetKey(["bitrix24", "contacts"])])


def test_an_oauth_sensor_stores_the_rotated_token_for_the_assets(make_portal, sqlite_target):
    portal = make_portal(deals=20, leads=20)
    config = portal.config
    oauth = Bitrix24Resource(
        portal=portal.base_url,
        client_id=config.client_id,
        client_secret=config.client_secret,
        refresh_token=config.refresh_token,
        oauth_server=portal.token_url,
    )
    sensor = build_bitrix24_change_sensor(ASSETS)
    resources = {"bitrix24": oauth, "destination": Bitrix24Destination(url=sqlite_target.url)}
    assert isinstance(sensor(dg.build_sensor_context(resources=resources)), dg.SensorResult)
    [(generation, tokens)] = sqlite_target.rows('SELECT generation, tokens FROM "_bitrix24_oauth_tokens"')
    assert generation == 1 and config.refresh_token not in tokens
    # the assets' run starts from the token the sensor stored (the configured one is spent)
    result = dg.materialize([ASSETS], resources=resources, selection=["bitrix24/deals"])
    assert result.success and sqlite_target.count("deals") == 20
