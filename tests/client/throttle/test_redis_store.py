"""The Redis store: an unreachable or refusing Redis fails the first request with the password masked."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from bitrix24_provider.client import BitrixAsync, ClientSettings, SharedThrottleError

from ..conftest import Portal

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
