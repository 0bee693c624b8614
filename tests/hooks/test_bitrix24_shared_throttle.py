"""The connection's ``shared_throttle_dsn``: hooks of different tasks share one request bucket through
Redis; the URL's password stays out of messages, reprs and logs."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bitrix24_provider.client.throttle import SharedThrottle
from bitrix24_provider.hooks.bitrix24 import Bitrix24Hook, parse_connection
from tests.hooks.support import NO_RETRY, emulator_ids, emulator_stats, running, set_conn

SCALE = 10.0
POOL = 10
PASSWORD = "Redis-pa55word-xyz"


def task(prefix: str) -> tuple[list[int], float]:
    """What one Airflow task does: its own hook, its own client, a whole export."""
    kwargs = {"time_scale": SCALE, "settings": {"batch_size": 2, "shared_throttle_prefix": prefix}}
    with Bitrix24Hook(client_kwargs=kwargs) as hook:
        frame = hook.get_df("crm.deal.list", {"select": ["ID"]})
        return sorted(int(i) for i in frame["ID"]), hook.get_client().stats.bucket_wait_seconds


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "local"])
def test_tasks_using_the_connection_share_one_bucket(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, redis_prefix: str, shared: bool
) -> None:
    with running(deals=600, time_scale=SCALE, bucket_size=POOL) as portal:
        extra: dict[str, Any] = {
            "request_pool_size": POOL,
            "shared_throttle_dsn": redis_url if shared else "none",
        }
        set_conn(monkeypatch, host=portal.webhook_url, extra=extra)
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(task, [redis_prefix] * 4))
        assert all(ids == emulator_ids(portal) for ids, _ in results)
        statuses = emulator_stats(portal)["http_by_status"]
        high_water = emulator_stats(portal)["bucket_high_water"]
    assert statuses.get("200", 0) > 2 * POOL
    if shared:
        assert statuses.get("503", 0) == 0
        assert high_water <= POOL
    else:
        assert statuses.get("503", 0) > 0


def test_async_clients_of_the_hook_share_it_too(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, redis_prefix: str
) -> None:
    import redis

    with running(deals=10) as portal:
        set_conn(monkeypatch, host=portal.webhook_url, extra={"shared_throttle_dsn": redis_url})
        hook = Bitrix24Hook(client_kwargs={"settings": {"shared_throttle_prefix": redis_prefix}})

        async def run() -> str:
            async with await hook.aget_client() as client:
                assert isinstance(client.throttle, SharedThrottle)
                await client.call("profile")
                return client.throttle.bucket.key

        key = asyncio.run(run())
        assert key == f"{redis_prefix}:bucket:127.0.0.1:{portal.port}:standard"
    with redis.Redis.from_url(redis_url) as store:
        assert store.exists(key)


def test_the_dsn_password_never_shows(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    dsn = f"redis://:{PASSWORD}@127.0.0.1:1/0"  # nothing listens on port 1
    with running(deals=10) as portal:
        set_conn(monkeypatch, host=portal.webhook_url, extra={"shared_throttle_dsn": dsn})
        hook = Bitrix24Hook(client_kwargs=NO_RETRY)
        status, message = hook.test_connection()
        assert emulator_stats(portal)["http_requests"] == 0  # nothing went out unthrottled
    assert status is False
    assert "SharedThrottleError" in message
    assert "redis://:***@127.0.0.1:1/0" in message
    assert PASSWORD in hook.config.secrets  # masked in Airflow's logs as well
    assert hook.config.client_arguments()["shared_throttle"] == dsn
    assert PASSWORD not in message + repr(hook.config) + "".join(capfd.readouterr())


def test_a_dsn_that_is_not_redis_is_refused_without_repeating_it() -> None:
    with pytest.raises(ValueError, match="shared_throttle_dsn") as caught:
        parse_connection(
            "c",
            "https://acme.bitrix24.com/rest/1/code/",
            extra={"shared_throttle_dsn": f"http://:{PASSWORD}@x/"},
        )
    assert PASSWORD not in str(caught.value)
    config = parse_connection(
        "c", "https://acme.bitrix24.com/rest/1/code/", extra={"shared_throttle_dsn": ""}
    )
    assert config.shared_throttle_dsn is None
    assert "shared_throttle" not in config.client_arguments()
