"""The lock-file store: the default way clients of one machine share a portal's throttle. A killed
holder never blocks the others, a broken state file is a fresh bucket, and no credential reaches a
file name or a file."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bitrix24_provider.client import BitrixAsync, ClientSettings, SharedThrottleError
from bitrix24_provider.client.throttle import LeakyBucket, LockFileStore, SharedThrottle, default_directory

from ..conftest import MakePortal, Portal

KEY = "bitrix24:bucket:acme.bitrix24.com:standard"

HOLDER = textwrap.dedent(
    """
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("locked", flush=True)
    time.sleep(3600)
    """
)


async def test_a_killed_holder_does_not_block_the_others(tmp_path: Path) -> None:
    store = LockFileStore(tmp_path, timeout=0.2)
    await store.reserve(KEY, 9, 0.01, 0.1, 20, 0)  # creates the files; a slot drains in 100 s
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, str(store.lock_path(KEY)), stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        assert (await asyncio.wait_for(holder.stdout.readline(), 60)).strip() == b"locked"
        with pytest.raises(SharedThrottleError, match="holds a lock"):  # a live holder is waited for
            await store.reserve(KEY, 9, 0.01, 0.1, 20, 0)
    finally:
        holder.send_signal(signal.SIGKILL)
        await holder.wait()
    reply = await store.reserve(KEY, 9, 0.01, 0.1, 20, 0)  # its lock died with it
    assert reply.delay == 0.0
    assert 190 < reply.ahead <= 200  # both bookings count: nothing was lost with the holder


def files(directory: Path, pattern: str = "*") -> list[Path]:
    return sorted(directory.glob(pattern))


def cut_off(path: Path) -> None:
    path.write_text('{"tat": 17')  # written by something else, not by a store


async def test_an_unreadable_state_is_a_fresh_bucket(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = LockFileStore(tmp_path)
    for _ in range(5):
        await store.reserve(KEY, 9, 2, 0.1, 20, 0)
    [state] = files(tmp_path, "*.state")
    cut_off(state)
    reply = await store.reserve(KEY, 9, 2, 0.1, 20, 0)
    assert reply.delay == 0.0 and reply.ahead == pytest.approx(0.5, abs=0.05)
    assert "unreadable" in caplog.text
    assert files(tmp_path) == [state]


def test_a_private_directory_others_may_write_to_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    directory.mkdir(mode=0o777)
    directory.chmod(0o777)
    store = LockFileStore(directory, private=True)
    with pytest.raises(SharedThrottleError, match="another user or others may write"):
        asyncio.run(store.reserve(KEY, 9, 2, 0.1, 20, 0))


def test_the_default_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BITRIX24_THROTTLE_DIR", str(tmp_path / "given"))
    assert default_directory() == tmp_path / "given"
    monkeypatch.delenv("BITRIX24_THROTTLE_DIR")
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    assert default_directory() == tmp_path / "airflow" / "bitrix24_throttle"
    monkeypatch.delenv("AIRFLOW_HOME")
    assert default_directory().name == f"bitrix24-throttle-{os.getuid()}"


async def test_clients_share_the_lock_file_by_default_and_none_opts_out(
    make_portal: MakePortal, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BITRIX24_THROTTLE_DIR", str(tmp_path))
    portal: Portal = await make_portal(deals=10, bucket_size=10)  # real time: 2 slots per second
    code = portal.webhook.rstrip("/").rsplit("/", 1)[-1]
    async with (
        BitrixAsync(portal.webhook, verbose=False, request_pool_size=10) as first,
        BitrixAsync(portal.webhook, verbose=False, request_pool_size=10) as second,
        BitrixAsync(portal.webhook, verbose=False, request_pool_size=10, shared_throttle="none") as alone,
    ):
        assert isinstance(first.throttle, SharedThrottle)
        assert not isinstance(alone.throttle, SharedThrottle)
        await asyncio.gather(*(first.call("profile") for _ in range(9)))  # the shared bucket is full
        await second.call("profile")
        assert second.throttle.bucket.level() > 6  # it booked behind the first client's nine
        await alone.call("profile")
        assert isinstance(alone.throttle.bucket, LeakyBucket)  # its own bucket, in the client
    names = [path.name for path in files(tmp_path)]
    assert any(f"127.0.0.1_{portal.emulator.port}" in name for name in names)
    contents = "".join(map(Path.read_text, files(tmp_path, "*.state")))
    assert code not in "".join(names) + contents


@pytest.mark.parametrize("url", ["file://", "file://host/dir", "http://127.0.0.1:6379/0"])
def test_a_bad_shared_throttle_is_refused_at_construction(portal: Portal, url: str) -> None:
    with pytest.raises(ValueError, match=r"file:///|redis://"):
        BitrixAsync(portal.webhook, verbose=False, settings=ClientSettings(shared_throttle=url))


def occupied(tmp_path: Path) -> Path:
    """A directory path that cannot be created: a file is in the way."""
    (tmp_path / "a-file").write_text("")
    return tmp_path / "a-file" / "throttle"


async def test_an_unusable_default_directory_leaves_the_client_on_its_own(
    portal: Portal, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("BITRIX24_THROTTLE_DIR", str(occupied(tmp_path)))
    async with BitrixAsync(portal.webhook, verbose=False) as bx:  # not asked for: no failure
        assert isinstance(bx.throttle.bucket, LeakyBucket)
        await bx.call("profile")
    assert "Throttling this client alone" in caplog.text


async def test_an_unusable_directory_that_was_asked_for_fails_before_any_request(
    portal: Portal, tmp_path: Path
) -> None:
    async with BitrixAsync(
        portal.webhook, verbose=False, shared_throttle=f"file://{occupied(tmp_path)}"
    ) as bx:
        with pytest.raises(SharedThrottleError, match="cannot use the directory"):
            await bx.call("profile")
    assert (await portal.stats())["http_requests"] == 0
