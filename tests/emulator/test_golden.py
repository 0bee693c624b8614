"""Responses stay byte-identical (except ``time`` values): to the digests recorded before the column
path and orjson existed, and to the per-row reference path (``Portal.reference``) of the same portal,
before and after writes."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bitrix24_provider.emulator import Emulator, fastjson, phpjson
from bitrix24_provider.emulator.auth import Principal

from ..emulator_support import start_emulator
from .golden import DIGESTS, READS, SETTINGS, WRITES, Req, digest, record, send


async def test_reads_match_the_recorded_digests() -> None:
    known = json.loads(DIGESTS.read_text())
    assert set(known) == {req.name for req in READS}
    answers = await record()
    changed = [name for name, (status, body) in answers.items() if digest(status, body) != known[name]]
    assert changed == []


async def both_paths(session: aiohttp.ClientSession, emulator: Emulator, req: Req) -> tuple[Any, Any]:
    """The answer of the fast path and of the reference path to the same request."""
    fast = await send(session, emulator, req)
    emulator.portal.reference = True
    try:
        slow = await send(session, emulator, req)
    finally:
        emulator.portal.reference = False
    return fast, slow


async def test_fast_and_reference_paths_agree_before_and_after_writes() -> None:
    emulator = await start_emulator(**SETTINGS)
    try:
        async with aiohttp.ClientSession() as session:
            for req in READS:
                fast, slow = await both_paths(session, emulator, req)
                assert fast == slow, req.name
            for req in WRITES:
                status, body = await send(session, emulator, req)
                assert status == (400 if "surrogate" in req.name else 200), (req.name, body)
            for req in READS:
                fast, slow = await both_paths(session, emulator, req)
                assert fast == slow, req.name
    finally:
        await emulator.stop()


def _keyset(cursor: int | str, select: str = "") -> str:
    return f"crm.deal.list?order[ID]=ASC&start=-1&filter[>ID]={cursor}{select}"


async def test_updated_and_deleted_rows_are_served_fresh_in_lists_and_batches() -> None:
    """Served once, then updated / deleted / added: a direct page and a batch chain over the same
    rows show the new state (the modification time moves, the last activity time stays)."""
    emulator = await start_emulator(**SETTINGS)
    url = emulator.webhook_url
    try:
        async with aiohttp.ClientSession() as session:

            async def call(method: str, body: dict[str, Any]) -> Any:
                async with session.post(url + method, json=body) as resp:
                    assert resp.status == 200, await resp.text()
                    return await resp.json()

            async def direct() -> list[dict[str, Any]]:
                params = {"order": {"ID": "ASC"}, "filter": {">ID": 0}, "start": -1}
                rows: list[dict[str, Any]] = (await call("crm.deal.list", params))["result"]
                return rows

            async def chained() -> list[dict[str, Any]]:
                cmd = {"a": _keyset(0), "b": _keyset("$result[a][49][ID]")}
                result = (await call("batch", {"halt": 0, "cmd": cmd}))["result"]["result"]
                return [*result["a"], *result["b"]]

            before, before_batch = await direct(), await chained()
            assert before == before_batch[:50]
            changed, gone = before[3], before[4]
            await call(
                "crm.deal.update", {"id": changed["ID"], "fields": {"TITLE": "Обновлено", "OPPORTUNITY": 7}}
            )
            await call("crm.deal.delete", {"id": gone["ID"]})
            for rows in (await direct(), (await chained())[:49]):
                by_id = {row["ID"]: row for row in rows}
                assert gone["ID"] not in by_id
                fresh = by_id[changed["ID"]]
                assert (fresh["TITLE"], fresh["OPPORTUNITY"]) == ("Обновлено", "7.00")
                assert fresh["DATE_MODIFY"] != changed["DATE_MODIFY"]
                assert fresh["LAST_ACTIVITY_TIME"] == changed["LAST_ACTIVITY_TIME"]
                unchanged = [row for row in rows if row["ID"] not in (changed["ID"], gone["ID"])]
                assert unchanged == [row for row in before_batch if row["ID"] in {r["ID"] for r in unchanged}]
    finally:
        await emulator.stop()


def test_the_fast_path_takes_well_under_half_the_cpu_of_the_reference() -> None:
    """Batches of 50 chained full-row pages, built and encoded in-process both ways."""
    from bitrix24_provider.emulator import EmulatorConfig
    from bitrix24_provider.emulator.params import merge_request_params
    from bitrix24_provider.emulator.portal import Portal

    portal = Portal(EmulatorConfig(deals=20_000, simulate_cost=False, time_scale=1000.0))
    principal = Principal("webhook", 1, "test")
    cmd = {"halt": 0, "cmd[c0]": _keyset(0)} | {
        f"cmd[c{i}]": _keyset(f"$result[c{i - 1}][49][ID]") for i in range(1, 50)
    }
    params = merge_request_params("", "application/x-www-form-urlencoded", urlencode(cmd).encode(), "POST")

    def cpu(reference: bool) -> float:
        portal.reference = reference
        dumps = phpjson.dumps if reference else fastjson.dumps
        started = time.process_time()
        for _ in range(2):
            dumps(portal.execute(principal, "batch", params).body)
        return time.process_time() - started

    fast = min(cpu(False) for _ in range(3))
    slow = min(cpu(True) for _ in range(3))
    assert fast < slow / 2, (fast, slow)
