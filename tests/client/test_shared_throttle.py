"""The shared throttle, measured: several clients (threads with their own event loops, processes)
against one emulator and the local Redis. Each feature test has a control with the in-process
throttle under the same set-up, so it fails if sharing does nothing."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bitrix24_provider.client import (
    Bitrix,
    BitrixAsync,
    ClientSettings,
    OAuthCredentials,
    OperationTimeLimit,
    QueryLimitExceeded,
    RetryPolicy,
    SharedThrottleError,
)
from bitrix24_provider.client.redact import SecretRegistry
from bitrix24_provider.client.redis_store import RedisStore
from bitrix24_provider.client.shared_throttle import SharedThrottle, credential_digest, portal_id
from bitrix24_provider.client.throttle import LeakyBucket

from .conftest import MakePortal, Portal

REPO = Path(__file__).resolve().parents[2]
SCALE = 10.0  # portal seconds per real second: the bucket drains 20 requests per real second
POOL = 10  # a small bucket, so that a few clients overrun it at once
CLIENTS = 4


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Any]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


def settings(redis_url: str | None, prefix: str, **more: Any) -> ClientSettings:
    return ClientSettings(
        time_scale=SCALE,
        request_pool_size=POOL,
        batch_size=2,
        shared_throttle=redis_url,
        shared_throttle_prefix=prefix,
        **more,
    )


def export(webhook: str, config: ClientSettings) -> tuple[list[int], dict[str, Any]]:
    """One client on its own event loop thread (like one Airflow task): a whole keyset export."""
    with Bitrix(webhook, verbose=False, settings=config) as bx:
        rows = bx.get_all("crm.deal.list", {"select": ["ID"]})
        return sorted(int(r["ID"]) for r in rows), bx.stats.as_dict()


# ---------------------------------------------------------------------------------------------
# The scripts do what LeakyBucket does


async def test_the_scripts_book_penalize_and_recover_like_the_local_bucket(
    redis_url: str, redis_prefix: str
) -> None:
    # a slow drain (0.5/s), so the few milliseconds Redis time moves between calls do not matter
    local = LeakyBucket(5, 0.5, clock=lambda: 0.0)  # a frozen clock: _reserve returns the delay
    store = RedisStore(redis_url, SecretRegistry())
    key = f"{redis_prefix}:bucket:script"

    async def reserve(successes: int = 0) -> float:
        reply = await store.reserve(key, local.limit, 0.5, local.recovery_step, 20, successes)
        assert reply.rate == pytest.approx(local.rate)
        return reply.delay

    try:
        delays = [await reserve() for _ in range(8)]
        assert delays == pytest.approx([local._reserve() for _ in range(8)], abs=0.01)
        assert delays[:4] == [0.0] * 4 and delays[4] == pytest.approx(2.0, abs=0.01)  # limit 4, 1/rate 2 s
        local.on_query_limit()  # the first 503: full, the rate stays
        assert await store.penalize(key, 0, local.limit, 0.5, local.min_rate, 0.5) == (True, 1, 0.5)
        assert await store.penalize(key, 0, local.limit, 0.5, local.min_rate, 0.5) == (False, 1, 0.5)
        assert await reserve() == pytest.approx(local._reserve(), abs=0.01)  # full: 2 s at 0.5/s
        local.on_query_limit()  # again, before a full bucket drained: half the rate
        assert await store.penalize(key, 1, local.limit, 0.5, local.min_rate, 0.5) == (True, 2, 0.25)
        assert await reserve() == pytest.approx(local._reserve(), abs=0.01)  # full: 4 s at 0.25/s
        for _ in range(20):
            local.on_success()
        assert await reserve(successes=20) == pytest.approx(local._reserve(), abs=0.01)  # 0.3/s
        reply = await store.reserve(key, local.limit, 0.5, local.recovery_step, 20, 0)
        assert await store.release(key, reply.generation, reply.tat)  # the last booking comes back
        assert not await store.release(key, reply.generation, reply.tat)
    finally:
        await store.close()


# ---------------------------------------------------------------------------------------------
# One bucket for many clients


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "local"])
async def test_concurrent_clients_share_one_bucket(
    make_portal: MakePortal, redis_url: str, redis_prefix: str, shared: bool
) -> None:
    portal: Portal = await make_portal(deals=600, time_scale=SCALE, bucket_size=POOL)
    config = settings(redis_url if shared else None, redis_prefix)
    results = await asyncio.gather(
        *(asyncio.to_thread(export, portal.webhook, config) for _ in range(CLIENTS))
    )
    truth = await portal.ids()
    assert all(ids == truth for ids, _ in results)  # 503s or not, every export is complete
    stats = await portal.stats()
    rejected = stats["http_by_status"].get("503", 0)
    print(f"shared={shared}: {stats['http_by_status']}, high water {stats['bucket_high_water']:.2f}")
    assert stats["http_by_status"].get("200", 0) > 2 * POOL
    if shared:
        assert rejected == 0
        assert stats["bucket_high_water"] <= POOL
        assert sum(s["bucket_wait_seconds"] for _, s in results) > 0
    else:  # the control: separate buckets overrun the portal's
        assert rejected > 0


WORKER = textwrap.dedent(
    """
    import json, sys
    from bitrix24_provider.client import Bitrix, ClientSettings

    webhook, redis_url, prefix, pool, scale = sys.argv[1:6]
    config = ClientSettings(
        time_scale=float(scale), request_pool_size=float(pool), batch_size=2,
        shared_throttle=redis_url, shared_throttle_prefix=prefix,
    )
    with Bitrix(webhook, verbose=False, settings=config) as bx:
        print("ready", flush=True)
        sys.stdin.readline()
        rows = bx.get_all("crm.deal.list", {"select": ["ID"]})
        print(json.dumps({"rows": len(rows), "stats": bx.stats.as_dict()}), flush=True)
    """
)


async def test_client_processes_share_one_bucket(
    make_portal: MakePortal, redis_url: str, redis_prefix: str
) -> None:
    portal: Portal = await make_portal(deals=600, time_scale=SCALE, bucket_size=POOL)
    args = [portal.webhook, redis_url, redis_prefix, str(POOL), str(SCALE)]
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", WORKER, *args,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO,
        )
        for _ in range(3)
    ]  # fmt: skip
    for process in processes:  # all imported and connected: start them together
        assert process.stdout is not None
        assert (await asyncio.wait_for(process.stdout.readline(), 60)).strip() == b"ready"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        await process.stdin.drain()
    outputs = [await asyncio.wait_for(p.communicate(), 60) for p in processes]
    assert all(p.returncode == 0 for p in processes)
    reports = [json.loads(out.splitlines()[-1]) for out, _ in outputs]
    assert all(r["rows"] == 600 for r in reports)
    stats = await portal.stats()
    assert stats["http_by_status"].get("200", 0) > 2 * POOL
    assert stats["http_by_status"].get("503", 0) == 0
    assert stats["bucket_high_water"] <= POOL


# ---------------------------------------------------------------------------------------------
# One client's 503 slows all


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "local"])
async def test_a_503_seen_by_one_client_makes_the_others_wait(
    make_portal: MakePortal, redis_url: str, redis_prefix: str, shared: bool
) -> None:
    portal: Portal = await make_portal(deals=10, time_scale=SCALE, faults={"query_limit": 1.0})
    url = redis_url if shared else None
    config = ClientSettings(time_scale=SCALE, shared_throttle=url, shared_throttle_prefix=redis_prefix)
    once = ClientSettings(**{**config.__dict__, "retry": RetryPolicy(max_attempts=1)})
    async with BitrixAsync(portal.webhook, verbose=False, settings=once) as first:
        with pytest.raises(QueryLimitExceeded):
            await first.call("profile")
    await portal.configure(faults={"query_limit": 0.0})
    async with BitrixAsync(portal.webhook, verbose=False, settings=config) as second:
        await second.call("profile")  # has seen no 503 itself
        if shared:
            assert second.throttle.bucket.rate == pytest.approx(2.0)  # a first 503: no slow-down
            assert second.stats.bucket_wait_seconds > 0.25  # the bucket was marked full: ~0.5 s
        else:
            assert second.throttle.bucket.rate == 2.0
            assert second.stats.bucket_wait_seconds < 0.1


async def test_a_volley_of_503s_slows_down_once_and_successes_of_all_recover(
    make_portal: MakePortal, redis_url: str, redis_prefix: str
) -> None:
    portal: Portal = await make_portal(deals=10, time_scale=50.0)
    config = ClientSettings(time_scale=50.0, shared_throttle=redis_url, shared_throttle_prefix=redis_prefix)
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
# Operating blocks


def oauth(portal: Portal) -> OAuthCredentials:
    config = portal.emulator.config
    return OAuthCredentials(
        endpoint=portal.emulator.oauth_url,
        client_id=config.client_id,
        client_secret=config.client_secret,
        refresh_token=config.refresh_token,
        oauth_server=portal.emulator.token_url,
    )


async def _until(condition: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "local"])
async def test_an_operating_block_seen_by_one_client_makes_the_others_wait(
    make_portal: MakePortal, redis_url: str, redis_prefix: str, redis_client: Any, shared: bool
) -> None:
    # a crm.deal.list call costs 1.5 portal s of the method's 2 s per 20 s, all in one basket, so
    # that the reset frees the whole budget (two calls' worth); 10x clock
    portal: Portal = await make_portal(
        deals=20,
        simulate_cost=True,
        time_scale=SCALE,
        operating_limit=2.0,
        operating_window=20.0,
        operating_baskets=1,
        costs={"base": 1.5, "per_row": 0.0},
    )
    url = redis_url if shared else None
    config = ClientSettings(
        time_scale=SCALE,
        operating_time_limit=2.0,
        operating_window=20.0,
        shared_throttle=url,
        shared_throttle_prefix=redis_prefix,
    )
    never_refused = ClientSettings(**{**config.__dict__, "operating_retries": 0})
    params = {"select": ["ID"], "start": -1}
    async with (
        BitrixAsync(portal.webhook, verbose=False, settings=config) as first,
        BitrixAsync(portal.webhook, verbose=False, settings=never_refused) as second,
        BitrixAsync(verbose=False, oauth=oauth(portal), settings=never_refused) as other_credential,
    ):
        await first.call("crm.deal.list", params)  # 1.5 s used: below the limit, no pause
        async with portal.session.post(f"{portal.webhook}crm.deal.list", json=params) as resp:
            assert resp.status == 200  # someone else spends the rest: 3 s > 2 s, blocked
        blocked = asyncio.create_task(first.call("crm.deal.list", params))
        await _until(lambda: _retried(first))  # first was refused and waits for the reset
        if shared:
            key = first.throttle.budget.key  # type: ignore[attr-defined]
            await _until(lambda: redis_client.hexists(key, "crm.deal.list"))
        # another credential has its own budget on the portal, and its own shared pauses
        await other_credential.call("crm.deal.list", params)
        assert other_credential.stats.operating_wait_seconds < 0.1
        if shared:
            await second.call("crm.deal.list", params)  # waits for the reset instead of a 429
            assert second.stats.retries["operation_time_limit"] == 0
            assert second.stats.operating_wait_seconds > 5.0  # portal seconds
        else:
            with pytest.raises(OperationTimeLimit):
                await second.call("crm.deal.list", params)
        await blocked
        assert blocked.done() and first.stats.operating_wait_seconds > 5.0
    statuses = (await portal.stats())["http_by_status"]
    assert statuses["429"] == (1 if shared else 2)


async def _retried(client: BitrixAsync) -> bool:
    return client.stats.retries["operation_time_limit"] > 0


# ---------------------------------------------------------------------------------------------
# Keys


async def test_portals_have_separate_buckets(
    make_portal: MakePortal, redis_url: str, redis_prefix: str, redis_client: Any
) -> None:
    # real time: the bucket drains one request per 0.5 s, far slower than these calls
    one: Portal = await make_portal(deals=10, bucket_size=POOL)
    two: Portal = await make_portal(deals=10, bucket_size=POOL)
    config = ClientSettings(
        request_pool_size=POOL, shared_throttle=redis_url, shared_throttle_prefix=redis_prefix
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
        assert other_portal.stats.bucket_wait_seconds < 0.05
        keys = {a.throttle.bucket.key, other_portal.throttle.bucket.key}
    assert keys == {
        f"{redis_prefix}:bucket:127.0.0.1:{one.emulator.port}:standard",
        f"{redis_prefix}:bucket:127.0.0.1:{two.emulator.port}:standard",
    }
    assert set(await redis_client.keys(f"{redis_prefix}:*")) == keys


def test_key_parts() -> None:
    assert portal_id("https://Acme.bitrix24.com/rest/1/code/") == "acme.bitrix24.com"
    assert portal_id("https://acme.bitrix24.com:443/rest/") == "acme.bitrix24.com"
    assert portal_id("http://127.0.0.1:8765/rest/1/code/") == "127.0.0.1:8765"
    assert portal_id("https://host.example/bitrix/rest/") == "host.example/bitrix"
    digest = credential_digest("acme.bitrix24.com", "https://acme.bitrix24.com/rest/1/code/")
    assert len(digest) == 16 and "code" not in digest
    assert digest != credential_digest("acme.bitrix24.com", "oauth:local.app")


# ---------------------------------------------------------------------------------------------
# Failures and secrets

PASSWORD = "Sup3r-s3cret-pw"


async def test_unreachable_redis_fails_the_first_request_without_the_password(
    portal: Portal, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"redis://:{PASSWORD}@127.0.0.1:1/0"  # nothing listens on port 1
    async with BitrixAsync(portal.webhook, verbose=False, shared_throttle=url) as bx:
        assert PASSWORD not in repr(bx.settings)
        started = time.monotonic()
        with pytest.raises(SharedThrottleError) as caught:
            await bx.call("profile")
        assert time.monotonic() - started < 5  # at once, not after the retry budget
    message = str(caught.value)
    assert "redis://:***@127.0.0.1:1/0" in message
    assert caught.value.url == "redis://:***@127.0.0.1:1/0"
    assert PASSWORD not in message + caplog.text
    assert "***@127.0.0.1:1/0" in caplog.text
    assert (await portal.stats())["http_requests"] == 0  # no request went out unthrottled


def test_a_bad_url_is_refused_at_construction_without_the_password(portal: Portal) -> None:
    with pytest.raises(ValueError, match="redis://") as caught:
        BitrixAsync(portal.webhook, verbose=False, shared_throttle=f"http://:{PASSWORD}@127.0.0.1:6379/0")
    assert PASSWORD not in str(caught.value)


async def test_a_password_protected_redis_works_and_the_password_stays_hidden(
    portal: Portal, redis_url: str, redis_prefix: str, redis_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user = f"{redis_prefix}-user"
    try:
        await redis_client.execute_command(
            "ACL", "SETUSER", user, "on", f">{PASSWORD}", f"~{redis_prefix}:*", "+@all"
        )
    except Exception as error:  # ACLs disabled or not allowed on this Redis
        pytest.skip(f"cannot create a Redis ACL user: {error}")
    try:
        url = f"redis://{user}:{PASSWORD}@127.0.0.1:6379/0"
        config = ClientSettings(shared_throttle=url, shared_throttle_prefix=redis_prefix)
        async with BitrixAsync(portal.webhook, verbose=False, settings=config) as bx:
            await bx.call("profile")
            assert await redis_client.exists(bx.throttle.bucket.key)
        wrong = url.replace(PASSWORD, PASSWORD + "x")
        async with BitrixAsync(portal.webhook, verbose=False, shared_throttle=wrong) as bad:
            with pytest.raises(SharedThrottleError) as caught:
                await bad.call("profile")
        assert f"redis://{user}:***@127.0.0.1:6379/0" in str(caught.value)
        assert PASSWORD not in str(caught.value) + caplog.text + repr(config)
        assert f"{user}:***@" in caplog.text
    finally:
        await redis_client.execute_command("ACL", "DELUSER", user)


async def test_default_is_the_local_throttle(portal: Portal) -> None:
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        assert not isinstance(bx.throttle, SharedThrottle)
        await bx.call("profile")
