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
        "p": "department.get",  # a list page by its shape, whatever the method is called
        "g": "profile",
        "f": "crm.deal.fields",
    }
    result = (await portal.call("batch", {"cmd": cmd})).body["result"]
    assert result["result"]["d"] == []
    assert result["result"]["i"] == {"items": []}
    assert result["result"]["p"] == []
    assert result["result"]["g"] and result["result"]["f"]  # non-list methods are untouched
    assert result["result_error"] == []


async def test_faults_can_be_switched_at_runtime(portal: PortalClient) -> None:
    changed = await portal.post("/_emulator/config", {"faults": {"server_error": 1.0}})
    assert changed.status == 200
    assert (await portal.call("profile")).status == 500
    await portal.post("/_emulator/config", {"faults": {"server_error": 0.0}})
    assert (await portal.call("profile")).status == 200


async def _deals_titled(portal: PortalClient, title: str) -> int:
    reply = await portal.call("crm.deal.list", {"filter": {"TITLE": title}, "select": ["ID"]})
    return len(reply.body["result"])


@pytest.mark.parametrize(
    ("knob", "ran"),
    [
        ("server_error", False),
        ("drop", False),
        ("html", False),
        ("server_error_after", True),
        ("drop_after", True),
        ("truncated", True),
    ],
)
async def test_faults_strike_before_or_after_the_call_runs(
    make_portal: MakePortal, knob: str, ran: bool
) -> None:
    portal: PortalClient = await make_portal(deals=10, faults={knob: 1.0})
    try:
        reply = await portal.call("crm.deal.add", {"fields": {"TITLE": f"marker {knob}"}})
        assert reply.status != 200 or reply.body is None
    except aiohttp.ClientError:
        assert knob.startswith("drop")
    await portal.post("/_emulator/config", {"faults": {knob: 0.0}})
    assert await _deals_titled(portal, f"marker {knob}") == int(ran)
    stats = (await portal.get("/_emulator/stats")).body
    assert stats["commands_by_method"].get("crm.deal.add", 0) == int(ran)
    assert stats["faults"] == {knob: 1}


async def test_server_error_after_the_call_ran(make_portal: MakePortal) -> None:
    portal: PortalClient = await make_portal(deals=10, faults={"server_error_after": 1.0})
    reply = await portal.call("crm.deal.add", {"fields": {"TITLE": "ran"}})
    assert (reply.status, reply.body["error"]) == (500, "INTERNAL_SERVER_ERROR")


async def test_slow_after_answers_late_but_the_write_is_done_at_once(make_portal: MakePortal) -> None:
    portal: PortalClient = await make_portal(deals=10, faults={"slow_after": 1.0, "slow_seconds": 5.0})
    timeout = aiohttp.ClientTimeout(total=0.3)
    async with aiohttp.ClientSession(timeout=timeout) as impatient:
        with pytest.raises(asyncio.TimeoutError):
            await impatient.post(
                portal.emulator.webhook_url + "crm.deal.add", json={"fields": {"TITLE": "late"}}
            )
    await portal.post("/_emulator/config", {"faults": {"slow_after": 0.0}})
    assert await _deals_titled(portal, "late") == 1


async def test_after_faults_are_seeded_and_leave_the_other_draws_alone(make_portal: MakePortal) -> None:
    before = {"query_limit": 0.3, "seed": 5}
    plain: PortalClient = await make_portal(deals=60, bucket_size=1000, faults=before)
    both: PortalClient = await make_portal(
        deals=60, bucket_size=1000, faults={**before, "server_error_after": 0.3}
    )
    again: PortalClient = await make_portal(
        deals=60, bucket_size=1000, faults={**before, "server_error_after": 0.3}
    )
    first, second, third = [await _statuses(p, 40) for p in (plain, both, again)]
    assert second == third
    assert [s == 503 for s in first] == [s == 503 for s in second]  # the same requests hit the limit
    assert 500 in second and all(s in (200, 500) for a, s in zip(first, second, strict=True) if a == 200)


def test_cli_flags_of_the_after_faults() -> None:
    from bitrix24_provider.emulator.__main__ import config_from_args, parse_args

    args = ["--fault-500-after", "0.1", "--fault-drop-after", "0.2", "--fault-slow-after", "0.3"]
    faults = config_from_args(parse_args(args)).faults
    assert (faults.server_error_after, faults.drop_after, faults.slow_after) == (0.1, 0.2, 0.3)


async def test_faults_may_strike_only_some_methods(make_portal: MakePortal) -> None:
    portal: PortalClient = await make_portal(
        deals=10, faults={"server_error": 1.0, "methods": ["crm.deal.add"]}
    )
    assert (await portal.call("crm.deal.add", {"fields": {"TITLE": "x"}})).status == 500
    assert (await portal.call("crm.deal.list", {"start": -1})).status == 200
    assert (await portal.call("batch", {"cmd": {"a": "crm.deal.add?fields[TITLE]=y"}})).status == 200
    assert (await portal.get("/_emulator/stats")).body["faults"] == {"server_error": 1}


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
