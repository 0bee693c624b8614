"""The sync ``Bitrix`` returns results, also inside a running event loop (never a Task)."""

from __future__ import annotations

import asyncio

from bitrix24_provider.client import Bitrix
from bitrix24_provider.emulator import Emulator, EmulatorConfig


def test_sync_client_in_plain_code() -> None:
    with (
        Emulator(EmulatorConfig(deals=700, simulate_cost=False)).in_thread() as portal,
        Bitrix(portal.webhook_url, verbose=False) as bx,
    ):
        rows = bx.get_all("crm.deal.list", {"select": ["ID"]})
        pages = list(bx.iter_all("crm.deal.list", {"select": ["ID"]}))
        one = bx.call("crm.deal.get", {"id": rows[0]["ID"]})
    assert isinstance(rows, list) and len(rows) == 700
    assert sum(len(p) for p in pages) == 700
    assert one["ID"] == rows[0]["ID"]


async def test_sync_client_inside_a_running_loop() -> None:
    assert asyncio.get_running_loop()
    with Emulator(EmulatorConfig(deals=120, simulate_cost=False)).in_thread() as portal:
        bx = Bitrix(portal.webhook_url, verbose=False)
        try:
            rows = bx.get_all("crm.deal.list", {"select": ["ID"]})
            by_id = bx.get_by_ID("crm.deal.get", [rows[0]["ID"]])
        finally:
            bx.close()
    assert isinstance(rows, list)
    assert len(rows) == 120
    assert list(by_id) == [rows[0]["ID"]]


def test_breaking_out_of_a_sync_stream_closes_it() -> None:
    with (
        Emulator(EmulatorConfig(deals=3000, simulate_cost=False)).in_thread() as portal,
        Bitrix(portal.webhook_url, verbose=False) as bx,
    ):
        for page in bx.iter_all("crm.deal.list", {"select": ["ID"]}):
            assert page
            break
        assert len(bx.get_all("crm.deal.list", {"select": ["ID"]})) == 3000
