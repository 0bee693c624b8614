"""The transport's order of work when answers come together: requests first, parsing after; the
event loop it runs on."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from bitrix24_provider.client import BitrixAsync, ClientSettings
from bitrix24_provider.client.decoding import DECODERS
from bitrix24_provider.emulator import Emulator, EmulatorConfig


@pytest.fixture
def emulator_process() -> Iterator[str]:
    """An emulator in its own process (its answers arrive while this loop is busy): the webhook."""
    command = [sys.executable, "-m", "bitrix24_provider.emulator", "--port", "0", "--deals", "12000"]
    process = subprocess.Popen([*command, "--time-scale", "50"], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("READY "), line
        yield line.split()[1]
    finally:
        process.terminate()
        process.wait(timeout=10)


def _is_batch_answer(payload: Any) -> bool:
    result = payload.get("result") if isinstance(payload, dict) else None
    return isinstance(result, dict) and "result_error" in result


async def test_a_request_an_answer_lets_go_is_sent_before_the_next_answer_is_parsed(
    emulator_process: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # four chains send their first batches together; this client is busy with something else
    # until all four answers are here
    events: list[str] = []

    def recording(raw: bytes) -> tuple[Any, str]:
        payload = json.loads(raw)
        if _is_batch_answer(payload):
            events.append("parsed")
        return payload, "json"

    async def on_sent(_s: Any, _c: Any, params: aiohttp.TraceRequestHeadersSentParams) -> None:
        if params.url.path.endswith("/batch"):
            events.append("sent")
            if events == ["sent"] * 4:
                asyncio.get_running_loop().call_soon(time.sleep, 0.5)

    monkeypatch.setitem(DECODERS, "recording", recording)
    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(on_sent)
    settings = ClientSettings(max_parallel_chains=4, time_scale=50.0, json_decoder="recording")  # type: ignore[arg-type]
    async with (
        aiohttp.ClientSession(trace_configs=[trace]) as session,
        BitrixAsync(emulator_process, verbose=False, settings=settings, client=session) as bx,
    ):
        rows = await bx.get_all("crm.deal.list", {"select": ["ID"]})
    assert len({int(r["ID"]) for r in rows}) == len(rows) == 12_000

    # each chain's second batch goes out as soon as its first answer is parsed, before the other
    # chains' answers (already here) are parsed; parsing them all first leaves the portal idle
    assert events[:8] == ["sent"] * 4 + ["parsed", "sent", "parsed", "sent"]


def test_a_client_goes_on_on_the_next_event_loop_once_its_loop_is_closed() -> None:
    """``asyncio.run`` again with the same client (fast_bitrix24 opens a session per call; its own
    suite reuses one client across tests' loops): the session, the concurrency gate and the locks of
    the closed loop are left behind. ``slow(1)`` makes requests wait on the gate in every loop."""
    with Emulator(EmulatorConfig(deals=120, simulate_cost=False)).in_thread() as portal:
        bx = BitrixAsync(portal.webhook_url, verbose=False)

        async def run() -> tuple[int, int]:
            with bx.slow(1):
                rows, deals = await asyncio.gather(
                    bx.get_all("crm.deal.list", {"select": ["ID"]}),
                    bx.call("crm.deal.get", [{"id": 0}, {"id": 0}], return_errors=True),
                )
            return len(rows), len(deals)

        assert [asyncio.run(run()) for _ in range(3)] == [(120, 2)] * 3
        asyncio.run(bx.close())
