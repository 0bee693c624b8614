"""Offline events over HTTP: application auth and admin only, one queued row per record, the
``process_id`` reservation of ``clear=0`` and ``feature.get``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from bitrix24_provider.emulator import Emulator, EmulatorConfig


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    running = Emulator(EmulatorConfig(deals=50, items=20, simulate_cost=False))
    with running.in_thread() as started:
        yield started


def post(emulator: Emulator, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = Request(
        emulator.base_url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except HTTPError as error:
        return error.code, json.load(error)


def app(emulator: Emulator, method: str, params: dict[str, Any] | None = None) -> tuple[int, Any]:
    token = post(emulator, "/_emulator/oauth/issue", {})[1]["access_token"]
    return post(emulator, f"/rest/{method}.json", {**(params or {}), "auth": token})


def hook(emulator: Emulator, method: str, params: dict[str, Any] | None = None) -> tuple[int, Any]:
    return post(
        emulator,
        f"/rest/{emulator.config.user_id}/{emulator.config.webhook_code}/{method}.json",
        params or {},
    )


def test_webhooks_and_non_admins_cannot_use_offline_events(emulator):
    status, body = hook(emulator, "event.bind", {"event": "ONCRMDEALDELETE", "event_type": "offline"})
    assert (status, body["error"]) == (403, "WRONG_AUTH_TYPE")
    assert hook(emulator, "event.offline.get")[1]["error"] == "WRONG_AUTH_TYPE"
    emulator.portal.reconfigure({"app_admin": False})
    status, body = app(emulator, "event.bind", {"event": "ONCRMDEALDELETE", "event_type": "offline"})
    assert (status, body["error"]) == (403, "ACCESS_DENIED")


def test_deletes_are_queued_once_per_record_for_bound_events_only(emulator):
    ids = emulator.portal.store.ids("deal")
    hook(emulator, "crm.deal.delete", {"id": ids[0]})  # before the binding: not queued
    assert (
        app(emulator, "event.bind", {"event": "onCrmDealDelete", "event_type": "offline"})[1]["result"]
        is True
    )
    for rid in ids[1:4]:
        hook(emulator, "crm.deal.delete", {"id": rid})
    emulator.portal.restore("deal", ids[1])
    emulator.portal.clock.advance(10)
    hook(emulator, "crm.deal.delete", {"id": ids[1]})  # deleted again: the same row, newer
    hook(emulator, "crm.lead.delete", {"id": emulator.portal.store.ids("lead")[0]})  # not bound
    listed = app(emulator, "event.offline.list")[1]
    assert listed["total"] == 3
    got = app(emulator, "event.offline.get")[1]["result"]  # clear=1: read and deleted
    assert got["process_id"] is None
    assert [e["EVENT_DATA"]["FIELDS"]["ID"] for e in got["events"]] == [ids[2], ids[3], ids[1]]
    assert {e["EVENT_NAME"] for e in got["events"]} == {"ONCRMDEALDELETE"}
    assert app(emulator, "event.offline.list")[1]["total"] == 0


def test_confirm_mode_reserves_until_cleared(emulator):
    assert app(emulator, "feature.get", {"CODE": "rest_offline_extended"})[1]["result"] == {"value": "Y"}
    app(emulator, "event.bind", {"event": "ONCRMDYNAMICITEMDELETE", "event_type": "offline"})
    for rid in emulator.portal.store.ids("item")[:3]:
        hook(emulator, "crm.item.delete", {"entityTypeId": 1032, "id": rid})
    first = app(emulator, "event.offline.get", {"clear": 0, "limit": 2})[1]["result"]
    assert len(first["events"]) == 2 and len(first["process_id"]) == 32
    assert first["events"][0]["EVENT_DATA"]["FIELDS"]["ENTITY_TYPE_ID"] == 1032
    other = app(emulator, "event.offline.get", {"clear": 0})[1]["result"]  # another reader: the rest
    assert len(other["events"]) == 1 and other["process_id"] != first["process_id"]
    again = app(emulator, "event.offline.get", {"clear": 0, "process_id": first["process_id"]})[1]["result"]
    assert again["events"] == first["events"]  # a crashed reader reads its batch again
    app(emulator, "event.offline.clear", {"process_id": first["process_id"]})
    assert app(emulator, "event.offline.list")[1]["total"] == 1
    emulator.portal.reconfigure({"offline_extended": False})
    assert app(emulator, "feature.get", {"CODE": "rest_offline_extended"})[1]["result"] == {"value": "N"}
    status, body = app(emulator, "event.offline.get", {"clear": 0})
    assert status == 403 and body["error"] == "ACCESS_DENIED"
