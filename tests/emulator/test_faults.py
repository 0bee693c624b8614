"""Each fault knob, seeded, over HTTP."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from .conftest import MakePortal, PortalClient


async def _statuses(portal: PortalClient, n: int) -> list[int]:
    return [(await portal.call("crm.deal.list", {"start": -1})).status for _ in range(n)]


@pytest.mark.parametrize(
    ("knob", "status", "error"),
    [("query_limit", 503, "QUERY_LIMIT_EXCEEDED"), ("server_error", 500, "INTERNAL_SERVER_ERROR")],
)
async def test_error_faults(make_portal: MakePortal, knob: str, status: int, error: str) -> None:
    portal: PortalClient = await make_portal(deals=60, bucket_size=1000, faults={knob: 0.3, "seed": 7})
    replies = [await portal.call("crm.deal.list", {"start": -1}) for _ in range(40)]
    failed = [r for r in replies if r.status == status]
    assert 4 <= len(failed) <= 24
    assert all(r.body["error"] == error for r in failed)
    assert all(r.status == 200 for r in replies if r not in failed)
    stats = (await portal.get("/_emulator/stats")).body
    assert stats["faults"][knob] == len(failed)


async def test_faults_are_reproducible_with_a_seed(make_portal: MakePortal) -> None:
    first: PortalClient = await make_portal(
        deals=60, bucket_size=1000, faults={"query_limit": 0.5, "seed": 3}
    )
    second: PortalClient = await make_portal(
        deals=60, bucket_size=1000, faults={"query_limit": 0.5, "seed": 3}
    )
    assert await _statuses(first, 20) == await _statuses(second, 20)


async def test_dropped_connection(make_portal: MakePortal) -> None:
    portal: PortalClient = await make_portal(deals=60, faults={"drop": 1.0})
    with pytest.raises(aiohttp.ClientError):
        await portal.call("crm.deal.list", {"start": -1})


async def test_slow_response(make_portal: MakePortal) -> None:
    portal: PortalClient = await make_portal(deals=60, faults={"slow": 1.0, "slow_seconds": 0.3})
    loop = asyncio.get_running_loop()
    started = loop.time()
    reply = await portal.call("crm.deal.list", {"start": -1})
    assert reply.status == 200
    assert loop.time() - started >= 0.3


async def test_html_error_page_with_status_200(make_portal: MakePortal) -> None:
    portal: PortalClient = await make_portal(deals=60, faults={"html": 1.0})
    reply = await portal.call("crm.deal.list", {"start": -1})
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/html")
    assert reply.text.startswith("<!DOCTYPE html>")


async def test_truncated_json(make_portal: MakePortal) -> None:
    portal: PortalClient = await make_portal(deals=60, faults={"truncated": 1.0})
    reply = await portal.call("crm.deal.list", {"start": -1})
    assert reply.status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.text)


async def test_silent_empty_batch(make_portal: MakePortal) -> None:
    portal: PortalClient = await make_portal(deals=200, faults={"silent_empty": 1.0})
    cmd = {
        "d": "crm.deal.list?start=-1",
        "i": "crm.item.list?entityTypeId=1032&start=-1",
        "g": "profile",
    }
    result = (await portal.call("batch", {"cmd": cmd})).body["result"]
    assert result["result"]["d"] == []
    assert result["result"]["i"] == {"items": []}
    assert result["result"]["g"]  # non-list methods are untouched
    assert result["result_error"] == []


async def test_faults_can_be_switched_at_runtime(portal: PortalClient) -> None:
    changed = await portal.post("/_emulator/config", {"faults": {"server_error": 1.0}})
    assert changed.status == 200
    assert (await portal.call("profile")).status == 500
    await portal.post("/_emulator/config", {"faults": {"server_error": 0.0}})
    assert (await portal.call("profile")).status == 200


async def test_failing_methods_always_answer_500(make_portal: MakePortal) -> None:
    portal: PortalClient = await make_portal(deals=60, failing_methods=["crm.deal.FIELDS"])
    for _ in range(3):
        reply = await portal.call("crm.deal.fields")
        assert reply.status == 500
        assert reply.body == {"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"}
    batch = (
        await portal.call("batch", {"cmd": {"f": "crm.deal.fields", "l": "crm.deal.list?start=-1"}})
    ).body
    assert batch["result"]["result_error"]["f"]["error"] == "INTERNAL_SERVER_ERROR"
    assert len(batch["result"]["result"]["l"]) == 50  # other methods answer
    stats = (await portal.get("/_emulator/stats")).body
    assert stats["commands_by_method"]["crm.deal.fields"] == 4
    await portal.post("/_emulator/config", {"failing_methods": []})
    assert (await portal.call("crm.deal.fields")).status == 200
