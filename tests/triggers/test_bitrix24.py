"""Bitrix24ChangeTrigger: serialisation, and runs against the emulator in the test's event loop."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from airflow.sdk.module_loading import import_string
from airflow.triggers.base import TriggerEvent

from bitrix24_provider.emulator import Emulator
from bitrix24_provider.triggers.bitrix24 import Bitrix24ChangeTrigger
from tests.hooks.support import NO_RETRY, make_config, oauth_extra, set_conn, webhook_conn

OLD = "2024-01-01T00:00:00+03:00"
WRONG_CODE = "wrongtriggercode0042"
ALL_ARGS: dict[str, Any] = {
    "method": "crm.item.list",
    "watermark": "2024-05-01T10:00:00+00:00",
    "cursor_field": "updatedTime",
    "filter": {"stageId": "DT1032_12:NEW"},
    "call_params": {"entityTypeId": 1032},
    "bitrix24_conn_id": "b24_other",
    "poke_interval": 5.0,
    "end_time": 1_900_000_000.5,
    "client_kwargs": {"time_scale": 2.0, "settings": {"retry": {"max_attempts": 3}}},
    "lag": 2.5,
}


@pytest.fixture
async def portal() -> AsyncIterator[Emulator]:
    async with Emulator(make_config()) as emulator:
        yield emulator


async def ask(emulator: Emulator, method: str, params: dict[str, Any]) -> Any:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{emulator.webhook_url}{method}.json", json=params) as resp,
    ):
        return await resp.json()


async def newest_deal_change(emulator: Emulator) -> str:
    answer = await ask(
        emulator, "crm.deal.list", {"order": {"DATE_MODIFY": "DESC"}, "select": ["ID"], "start": -1}
    )
    deal = answer["result"][0]["ID"]
    return str((await ask(emulator, "crm.deal.get", {"id": deal}))["result"]["DATE_MODIFY"])


async def first_event(trigger: Bitrix24ChangeTrigger, timeout: float = 30) -> dict[str, Any]:
    events = trigger.run()
    try:
        event = await asyncio.wait_for(anext(events), timeout)
    finally:
        await events.aclose()
    assert isinstance(event, TriggerEvent)
    return dict(event.payload)


class TestSerialization:
    def test_round_trip_rebuilds_an_equal_trigger(self):
        trigger = Bitrix24ChangeTrigger(**ALL_ARGS)
        classpath, kwargs = trigger.serialize()
        assert classpath == "bitrix24_provider.triggers.bitrix24.Bitrix24ChangeTrigger"
        assert kwargs == ALL_ARGS
        rebuilt = import_string(classpath)(**kwargs)
        assert isinstance(rebuilt, Bitrix24ChangeTrigger)
        assert rebuilt.serialize() == (classpath, kwargs)
        assert vars(rebuilt).keys() >= ALL_ARGS.keys()

    def test_serialize_covers_every_init_argument(self):
        parameters = set(inspect.signature(Bitrix24ChangeTrigger.__init__).parameters) - {"self"}
        assert parameters == set(ALL_ARGS)
        assert set(Bitrix24ChangeTrigger(**ALL_ARGS).serialize()[1]) == parameters

    def test_defaults_serialize_too(self):
        classpath, kwargs = Bitrix24ChangeTrigger("crm.deal.list", OLD).serialize()
        assert kwargs["bitrix24_conn_id"] == "bitrix24_default"
        assert kwargs["cursor_field"] == "DATE_MODIFY"
        assert import_string(classpath)(**kwargs).serialize()[1] == kwargs


class TestRun:
    async def test_changed_after_a_real_update_while_polling(self, monkeypatch, portal):
        webhook_conn(monkeypatch, portal)
        watermark = await newest_deal_change(portal)
        deal = (await ask(portal, "crm.deal.list", {"select": ["ID"], "start": -1}))["result"][5]["ID"]
        trigger = Bitrix24ChangeTrigger(
            "crm.deal.list", watermark, poke_interval=0.1, end_time=time.time() + 60
        )
        events = trigger.run()
        pending = asyncio.ensure_future(anext(events))
        try:
            await asyncio.sleep(0.5)
            assert not pending.done()  # several polls, nothing changed yet
            answer = await ask(portal, "crm.deal.update", {"id": deal, "fields": {"TITLE": "moved"}})
            assert answer["result"] is True
            event = await asyncio.wait_for(pending, 10)
        finally:
            await events.aclose()
        moved = str((await ask(portal, "crm.deal.get", {"id": deal}))["result"]["DATE_MODIFY"])
        assert event.payload["status"] == "changed" and event.payload["count"] == 1
        assert event.payload["newest"] == moved and moved > watermark
        # changed a moment ago: the handed-on watermark stays lag (5 s) behind the check
        assert watermark <= event.payload["watermark"] < moved

    @pytest.mark.parametrize(
        ("method", "cursor", "call_params"),
        [("crm.item.list", "updatedTime", {"entityTypeId": 2}), ("tasks.task.list", "CHANGED_DATE", None)],
        ids=["crm-item", "tasks"],
    )
    async def test_changed_for_other_cursor_fields(self, monkeypatch, portal, method, cursor, call_params):
        webhook_conn(monkeypatch, portal)
        trigger = Bitrix24ChangeTrigger(method, OLD, cursor, call_params=call_params, poke_interval=0.1)
        event = await first_event(trigger)
        assert event["status"] == "changed"
        assert event["watermark"] > OLD and 1 <= event["count"] <= 50

    async def test_timeout_when_nothing_changes(self, monkeypatch, portal):
        webhook_conn(monkeypatch, portal)
        watermark = await newest_deal_change(portal)
        started = time.monotonic()
        trigger = Bitrix24ChangeTrigger(
            "crm.deal.list", watermark, poke_interval=0.2, end_time=time.time() + 0.7
        )
        event = await first_event(trigger)
        assert event == {"status": "timeout", "watermark": watermark}
        assert 0.6 <= time.monotonic() - started < 5

    async def test_error_for_a_wrong_webhook_code_is_redacted(self, monkeypatch, portal, capfd):
        set_conn(monkeypatch, host=f"{portal.base_url}/rest/1/{WRONG_CODE}/")
        trigger = Bitrix24ChangeTrigger("crm.deal.list", OLD, poke_interval=0.1, end_time=time.time() + 30)
        event = await first_event(trigger)
        assert event["status"] == "error"
        assert "INVALID_CREDENTIALS" in event["message"]
        assert WRONG_CODE not in event["message"]
        assert WRONG_CODE not in "".join(capfd.readouterr())

    async def test_error_for_a_missing_connection(self, monkeypatch):
        monkeypatch.delenv("AIRFLOW_CONN_B24_MISSING", raising=False)
        event = await first_event(Bitrix24ChangeTrigger("crm.deal.list", OLD, bitrix24_conn_id="b24_missing"))
        assert event["status"] == "error"
        assert "b24_missing" in event["message"]

    async def test_error_for_a_bad_watermark(self, monkeypatch, portal):
        webhook_conn(monkeypatch, portal)
        event = await first_event(Bitrix24ChangeTrigger("crm.deal.list", "not a date"))
        assert event["status"] == "error" and "ISO 8601" in event["message"]

    @pytest.mark.parametrize("fault", ["drop", "server_error"], ids=["transport", "server"])
    async def test_survives_transient_errors_until_they_stop(self, monkeypatch, portal, capfd, fault):
        webhook_conn(monkeypatch, portal)
        portal.portal.reconfigure({"faults": {fault: 1.0}})
        trigger = Bitrix24ChangeTrigger(
            "crm.deal.list", OLD, poke_interval=0.1, end_time=time.time() + 60, client_kwargs=NO_RETRY
        )
        events = trigger.run()
        pending = asyncio.ensure_future(anext(events))
        try:
            await asyncio.sleep(0.6)
            assert not pending.done()  # failing polls do not end the trigger
            portal.portal.reconfigure({"faults": {fault: 0.0}})
            event = await asyncio.wait_for(pending, 10)
        finally:
            await events.aclose()
        assert event.payload["status"] == "changed"
        logged = "".join(capfd.readouterr())
        assert "failed transiently" in logged
        assert portal.config.webhook_code not in logged

    async def test_transient_errors_until_the_deadline_give_a_timeout(self, monkeypatch, portal):
        webhook_conn(monkeypatch, portal)
        portal.portal.reconfigure({"faults": {"server_error": 1.0}})
        trigger = Bitrix24ChangeTrigger(
            "crm.deal.list", OLD, poke_interval=0.1, end_time=time.time() + 0.5, client_kwargs=NO_RETRY
        )
        assert (await first_event(trigger))["status"] == "timeout"

    async def test_oauth_connection_in_the_triggerer(self, monkeypatch, portal):
        set_conn(monkeypatch, host=portal.base_url, extra=oauth_extra(portal))
        event = await first_event(Bitrix24ChangeTrigger("crm.deal.list", OLD, poke_interval=0.1))
        assert event["status"] == "changed"
