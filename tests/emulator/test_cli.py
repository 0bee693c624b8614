"""``python -m bitrix24_provider.emulator`` prints READY and serves a complete keyset export."""

from __future__ import annotations

import asyncio
import sys

import aiohttp


async def test_cli_serves_until_stopped() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bitrix24_provider.emulator",
        "--port",
        "0",
        "--deals",
        "5000",
        "--disk-objects",
        "60",
        "--no-cost",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert line.startswith("READY http://127.0.0.1:")
        webhook = line.split(" ", 1)[1]
        assert webhook.endswith("/")
        base = "crm.deal.list?order[ID]=ASC&select[]=ID&start=-1&filter[>ID]="
        seen: list[int] = []
        last = 0
        async with aiohttp.ClientSession() as session:
            while True:
                cmd = {"p0": base + str(last)}
                for i in range(1, 50):
                    cmd[f"p{i}"] = base + f"$result[p{i - 1}][49][ID]"
                async with session.post(webhook + "batch", json={"cmd": cmd}) as resp:
                    body = await resp.json()
                done = False
                for i in range(50):
                    page = body["result"]["result"][f"p{i}"]
                    seen.extend(int(r["ID"]) for r in page)
                    if len(page) < 50:
                        done = True
                        break
                if done:
                    break
                last = seen[-1]
            async with session.post(webhook + "disk.folder.getchildren", json={"id": 1}) as resp:
                children = await resp.json()
        assert len(seen) == 5000 == len(set(seen))
        assert seen == sorted(seen)
        assert children["total"] == 60  # the list tables have flags of their own
    finally:
        proc.terminate()
        await proc.wait()


def test_cli_picks_the_reading_of_a_reference_past_a_short_page() -> None:
    from bitrix24_provider.emulator.__main__ import config_from_args, parse_args

    assert config_from_args(parse_args([])).short_page_reference == "no_rows"
    chosen = config_from_args(parse_args(["--short-page-reference", "from_lowest_id"]))
    assert chosen.short_page_reference == "from_lowest_id"
