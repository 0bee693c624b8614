"""The stores of a shared throttle (lock files, Redis) do what the local bucket does; the keys they
keep it under."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from bitrix24_provider.client.redact import SecretRegistry
from bitrix24_provider.client.throttle import (
    LeakyBucket,
    LockFileStore,
    RedisStore,
    SharedStore,
    credential_digest,
    portal_id,
)

from .conftest import Sharing


def make_store(sharing: Sharing) -> SharedStore:
    if sharing.kind == "file":
        return LockFileStore(urlsplit(sharing.url).path)
    return RedisStore(sharing.url, SecretRegistry())


def test_key_parts() -> None:
    assert portal_id("https://Acme.bitrix24.com/rest/1/code/") == "acme.bitrix24.com"
    assert portal_id("https://acme.bitrix24.com:443/rest/") == "acme.bitrix24.com"
    assert portal_id("http://127.0.0.1:8765/rest/1/code/") == "127.0.0.1:8765"
    assert portal_id("https://host.example/bitrix/rest/") == "host.example/bitrix"
    digest = credential_digest("acme.bitrix24.com", "https://acme.bitrix24.com/rest/1/code/")
    assert len(digest) == 16 and "code" not in digest
    assert digest != credential_digest("acme.bitrix24.com", "oauth:local.app")


async def test_the_stores_book_penalize_and_recover_like_the_local_bucket(store: Sharing) -> None:
    # a slow drain (0.5/s, a slot per 2 s): the milliseconds the store's clock moves between calls
    # do not matter
    local = LeakyBucket(5, 0.5, clock=lambda: 0.0)  # a frozen clock: _reserve returns the delay
    shared = make_store(store)
    key = f"{store.prefix}:bucket:script"

    async def reserve(successes: int = 0) -> float:
        reply = await shared.reserve(key, local.limit, 0.5, local.recovery_step, 20, successes)
        assert reply.rate == pytest.approx(local.rate)
        return reply.delay

    try:
        delays = [await reserve() for _ in range(8)]
        assert delays == pytest.approx([local._reserve() for _ in range(8)], abs=0.1)
        assert delays[:4] == [0.0] * 4 and delays[4] == pytest.approx(2.0, abs=0.1)  # limit 4, 1/rate 2 s
        local.on_query_limit()  # the first 503: full, the rate stays
        assert await shared.penalize(key, 0, local.limit, 0.5, local.min_rate, 0.5) == (True, 1, 0.5)
        assert await shared.penalize(key, 0, local.limit, 0.5, local.min_rate, 0.5) == (False, 1, 0.5)
        assert await reserve() == pytest.approx(local._reserve(), abs=0.1)  # full: 2 s at 0.5/s
        local.on_query_limit()  # again, before a full bucket drained: half the rate
        assert await shared.penalize(key, 1, local.limit, 0.5, local.min_rate, 0.5) == (True, 2, 0.25)
        assert await reserve() == pytest.approx(local._reserve(), abs=0.1)  # full: 4 s at 0.25/s
        for _ in range(20):
            local.on_success()
        assert await reserve(successes=20) == pytest.approx(local._reserve(), abs=0.1)  # 0.3/s
        reply = await shared.reserve(key, local.limit, 0.5, local.recovery_step, 20, 0)
        assert await shared.release(key, reply.generation, reply.tat)  # the last booking comes back
        assert not await shared.release(key, reply.generation, reply.tat)
    finally:
        await shared.close()
