"""The shared bucket, measured: several clients (threads with their own event loops, processes)
against one emulator share it through each store (lock files, Redis). Each feature test has a
control with the client's own throttle (``"none"``) under the same set-up, so it fails if sharing
does nothing."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from bitrix24_provider.client import Bitrix, BitrixAsync, ClientSettings, QueryLimitExceeded, RetryPolicy

from ..conftest import MakePortal, Portal
from .conftest import Sharing

REPO = Path(__file__).resolve().parents[3]
SCALE = 10.0  # portal seconds per real second: the bucket drains 20 requests per real second
POOL = 10  # a small bucket, so that a few clients overrun it at once
CLIENTS = 4


def settings(sharing: Sharing, **more: Any) -> ClientSettings:
    return ClientSettings(
        time_scale=SCALE,
        request_pool_size=POOL,
        batch_size=2,
        shared_throttle=sharing.url,
        shared_throttle_prefix=sharing.prefix,
        **more,
    )


def export(webhook: str, config: ClientSettings) -> tuple[list[int], dict[str, Any]]:
    """One client on its own event loop thread (like one Airflow task): a whole keyset export."""
    with Bitrix(webhook, verbose=False, settings=config) as bx:
        rows = bx.get_all("crm.deal.list", {"select": ["ID"]})
        return sorted(int(r["ID"]) for r in rows), bx.stats.as_dict()


# ---------------------------------------------------------------------------------------------
# One bucket for many clients


async def test_concurrent_clients_share_one_bucket(make_portal: MakePortal, sharing: Sharing) -> None:
    portal: Portal = await make_portal(deals=600, time_scale=SCALE, bucket_size=POOL)
    config = settings(sharing)
    results = await asyncio.gather(
        *(asyncio.to_thread(export, portal.webhook, config) for _ in range(CLIENTS))
    )
    truth = await portal.ids()
    assert all(ids == truth for ids, _ in results)  # 503s or not, every export is complete
    stats = await portal.stats()
    rejected = stats["http_by_status"].get("503", 0)
    print(f"{sharing.kind}: {stats['http_by_status']}, high water {stats['bucket_high_water']:.2f}")
    assert stats["http_by_status"].get("200", 0) > 2 * POOL
    if sharing.shared:
        assert rejected == 0
        assert stats["bucket_high_water"] <= POOL
        assert sum(s["bucket_wait_seconds"] for _, s in results) > 0
    else:  # the control: separate buckets overrun the portal's
        assert rejected > 0


WORKER = textwrap.dedent(
    """
    import json, sys
    from bitrix24_provider.client import Bitrix, ClientSettings

    webhook, shared, prefix, pool, scale = sys.argv[1:6]
    config = ClientSettings(
        time_scale=float(scale), request_pool_size=float(pool), batch_size=2,
        shared_throttle=shared, shared_throttle_prefix=prefix,
    )
    with Bitrix(webhook, verbose=False, settings=config) as bx:
        print("ready", flush=True)
        sys.stdin.readline()
        rows = bx.get_all("crm.deal.list", {"select": ["ID"]})
        print(json.dumps({"rows": len(rows), "stats": bx.stats.as_dict()}), flush=True)
    """
)


async def test_client_processes_share_one_bucket(make_portal: MakePortal, sharing: Sharing) -> None:
    portal: Portal = await make_portal(deals=600, time_scale=SCALE, bucket_size=POOL)
    args = [portal.webhook, sharing.url, sharing.prefix, str(POOL), str(SCALE)]
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", WORKER, *args,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO,
        )
        for _ in range(CLIENTS)
    ]  # fmt: skip
    for process in processes:  # all imported and connected: start them together
        assert process.stdout is not None
        assert (await asyncio.wait_for(process.stdout.readline(), 60)).strip() == b"ready"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        await process.stdin.drain()
    outputs = [await asyncio.wait_for(p.communicate(), 120) for p in processes]
    assert all(p.returncode == 0 for p in processes)
    reports = [json.loads(out.splitlines()[-1]) for out, _ in outputs]
    assert all(r["rows"] == 600 for r in reports)
    stats = await portal.stats()
    assert stats["http_by_status"].get("200", 0) > 2 * POOL
    if sharing.shared:
        assert stats["http_by_status"].get("503", 0) == 0
        assert stats["bucket_high_water"] <= POOL
    else:  # the control: processes with their own buckets overrun the portal's
        assert stats["http_by_status"].get("503", 0) > 0


# ---------------------------------------------------------------------------------------------
# One client's 503 slows all


async def test_a_503_seen_by_one_client_makes_the_others_wait(
    make_portal: MakePortal, sharing: Sharing
) -> None:
    portal: Portal = await make_portal(deals=10, time_scale=SCALE, faults={"query_limit": 1.0})
    config = ClientSettings(
        time_scale=SCALE, shared_throttle=sharing.url, shared_throttle_prefix=sharing.prefix
    )
    once = ClientSettings(**{**config.__dict__, "retry": RetryPolicy(max_attempts=1)})
    async with BitrixAsync(portal.webhook, verbose=False, settings=once) as first:
        with pytest.raises(QueryLimitExceeded):
            await first.call("profile")
    await portal.configure(faults={"query_limit": 0.0})
    async with BitrixAsync(portal.webhook, verbose=False, settings=config) as second:
        await second.call("profile")  # has seen no 503 itself
        # the first client's 503 marked the shared bucket full (49 slots; it drains 20 per real
        # second): the second books behind them; its own bucket would hold its one request
        level = second.throttle.bucket.level()
        assert second.throttle.bucket.rate == pytest.approx(2.0)  # a first 503: no slow-down
        if sharing.shared:
            assert level > 30
        else:
            assert level <= 1


async def test_a_volley_of_503s_slows_down_once_and_successes_of_all_recover(
    make_portal: MakePortal, store: Sharing
) -> None:
    portal: Portal = await make_portal(deals=10, time_scale=50.0)
    config = ClientSettings(time_scale=50.0, shared_throttle=store.url, shared_throttle_prefix=store.prefix)
    async with (
        BitrixAsync(portal.webhook, verbose=False, settings=config) as a,
        BitrixAsync(portal.webhook, verbose=False, settings=config) as b,
    ):
        for expected in (2.0, 1.0):  # a first 503 marks the bucket full; a second one slows down
            await asyncio.gather(a.call("profile"), b.call("profile"))
            released = a.throttle.bucket.generation
            assert b.throttle.bucket.generation == released
            # both clients' requests were rejected in the same overrun: it counts once, not twice
            a.throttle.bucket.on_query_limit(released)
            b.throttle.bucket.on_query_limit(released)
            await a.call("profile")
            await b.call("profile")
            assert a.throttle.bucket.rate == pytest.approx(expected)
        assert a.throttle.bucket.rate == pytest.approx(1.0)
        assert b.throttle.bucket.rate == pytest.approx(1.0)
        # recovery counts the successes of every client (each reports its own with its next
        # booking): 10 of each step the shared rate up, 20 of one client alone would be needed
        for _ in range(10):
            await a.call("profile")
            await b.call("profile")
        assert b.throttle.bucket.rate == pytest.approx(1.2)
        await a.call("profile")
        assert a.throttle.bucket.rate == pytest.approx(1.2)


# ---------------------------------------------------------------------------------------------
# Keys


async def test_portals_have_separate_buckets(make_portal: MakePortal, store: Sharing) -> None:
    # real time: the bucket drains one request per 0.5 s, far slower than these calls
    one: Portal = await make_portal(deals=10, bucket_size=POOL)
    two: Portal = await make_portal(deals=10, bucket_size=POOL)
    config = ClientSettings(
        request_pool_size=POOL, shared_throttle=store.url, shared_throttle_prefix=store.prefix
    )
    async with (
        BitrixAsync(one.webhook, verbose=False, settings=config) as a,
        BitrixAsync(one.webhook, verbose=False, settings=config) as same_portal,
        BitrixAsync(two.webhook, verbose=False, settings=config) as other_portal,
    ):
        await asyncio.gather(*(a.call("profile") for _ in range(POOL - 1)))  # fills the bucket
        await same_portal.call("profile")
        assert same_portal.stats.bucket_wait_seconds > 0.2
        await asyncio.gather(*(other_portal.call("profile") for _ in range(POOL - 1)))
        assert other_portal.stats.bucket_wait_seconds < 0.5  # nine slots of a full bucket: 22.5 s
        keys = {a.throttle.bucket.key, other_portal.throttle.bucket.key}
    assert keys == {
        f"{store.prefix}:bucket:127.0.0.1:{one.emulator.port}:standard",
        f"{store.prefix}:bucket:127.0.0.1:{two.emulator.port}:standard",
    }
