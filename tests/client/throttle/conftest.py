"""Where the shared-throttle tests keep their state: lock files in a directory of the test, this
test's keys in the local Redis, or nowhere (``"none"``: the client's own throttle, the control)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class Sharing:
    """A ``shared_throttle`` value and the key prefix of this test."""

    kind: str  #: file, redis or none
    url: str
    prefix: str

    @property
    def shared(self) -> bool:
        return self.kind != "none"


def _sharing(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Sharing:
    if kind == "redis":
        return Sharing(kind, request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix"))
    if kind == "file":
        return Sharing(kind, f"file://{tmp_path / 'throttle'}", "b24test")
    return Sharing(kind, "none", "b24test")


@pytest.fixture(params=["file", "redis", "none"])
def sharing(request: pytest.FixtureRequest, tmp_path: Path) -> Sharing:
    """Each store, and the client's own throttle as the control."""
    return _sharing(request.param, request, tmp_path)


@pytest.fixture(params=["file", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Sharing:
    """Each store."""
    return _sharing(request.param, request, tmp_path)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Any]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()
