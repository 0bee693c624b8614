"""The shared throttle's store on this machine: one small JSON file per key, changed under a lock.

Every client of a portal on one machine (Airflow tasks under the LocalExecutor, several processes,
threads) shares the portal's request bucket and the operating pauses of its credential through the
files of one directory, without any server (:class:`~.store.SharedStore`). Each change takes an
exclusive ``flock`` on the key's ``.state`` file, reads the JSON state in it, computes with the same
arithmetic as the local bucket (:class:`~.bucket.Gcra`) and writes the state back with one
``pwrite`` (readers take a shared lock, so none sees half a state); a process killed while it holds
the lock loses it with its file descriptors, so a killed holder never blocks the others. Instants
are real Unix seconds of the machine's clock, as Redis keeps its own.

The directory: ``file://<dir>`` given as ``shared_throttle``, else ``$BITRIX24_THROTTLE_DIR``, else
``$AIRFLOW_HOME/bitrix24_throttle``, else ``<temp dir>/bitrix24-throttle-<uid>`` (created private to
the user; a directory there owned by someone else is refused). File names carry the portal and a
digest, never a credential.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import math
import os
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..errors import SharedThrottleError
from .bucket import BucketLimits, Gcra
from .store import BUCKET_KEEP, BucketReply

__all__ = ["LockFileStore", "default_directory"]

log = logging.getLogger("bitrix24_provider.client")

T = TypeVar("T")

#: real seconds a client waits for another to let go of a lock before it gives up
LOCK_TIMEOUT = 10.0
_POLL = 0.0005
_MAX_STATE = 1 << 20
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def default_directory() -> Path:
    """Where clients of this machine share their throttle when no directory is given."""
    given = os.environ.get("BITRIX24_THROTTLE_DIR")
    if given:
        return Path(given)
    home = os.environ.get("AIRFLOW_HOME")
    if home:
        return Path(home) / "bitrix24_throttle"
    return Path(tempfile.gettempdir()) / f"bitrix24-throttle-{os.getuid()}"


class LockFileStore:
    """A :class:`~.store.SharedStore` in the files of *directory*.

    :param directory: the directory (created if missing).
    :param private: refuse a directory another user owns or may write to (for one under the shared
        temporary directory).
    :param timeout: real seconds to wait for a lock another client holds.
    """

    def __init__(
        self, directory: str | Path, *, private: bool = False, timeout: float = LOCK_TIMEOUT
    ) -> None:
        self.directory = Path(directory)
        self.safe_url = f"file://{self.directory}"
        self._private = private
        self._timeout = timeout
        self._ready = False

    def __repr__(self) -> str:
        return f"<LockFileStore {self.safe_url}>"

    # -- files --------------------------------------------------------------------------------

    def _prepare(self) -> None:
        if self._ready:
            return
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = self.directory.stat()
        except OSError as error:
            raise self._error(f"cannot use the directory: {error.strerror or error}") from None
        if self._private and (info.st_uid != os.getuid() or info.st_mode & 0o022):
            raise self._error("the directory belongs to another user or others may write to it")
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise self._error("the directory is not writable")
        self._ready = True

    def check(self) -> SharedThrottleError | None:
        """Whether the directory can be used (created if missing): ``None``, or why not."""
        try:
            self._prepare()
        except SharedThrottleError as error:
            return error
        return None

    def lock_path(self, key: str) -> Path:
        """The file that holds *key*'s state; its ``flock`` guards it."""
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        return self.directory / f"{_UNSAFE.sub('_', key)[:120]}-{digest}.state"

    def _open(self, key: str) -> int:
        try:
            self._prepare()
            return os.open(self.lock_path(key), os.O_RDWR | os.O_CREAT, 0o600)
        except SharedThrottleError:
            raise
        except OSError as error:
            raise self._error(f"cannot open a state file: {error.strerror or error}") from None

    def _read(self, fd: int) -> tuple[dict[str, Any], int]:
        """The state in *fd* (locked) and its length in bytes."""
        raw = os.pread(fd, _MAX_STATE, 0)
        if not raw.strip():
            return {}, len(raw)
        try:
            data = json.loads(raw)
        except ValueError as error:
            log.warning("Ignoring the unreadable shared throttle state %s: %s", self.directory, error)
            return {}, len(raw)
        return (data if isinstance(data, dict) else {}), len(raw)

    async def _locked(self, key: str, change: Callable[[dict[str, Any], float], T]) -> T:
        """Run *change* on the key's state (in place) under its exclusive lock; write it back in one
        ``pwrite`` (padded to the old length, so nothing of the old state stays behind)."""
        fd = self._open(key)
        try:
            await self._lock(fd, fcntl.LOCK_EX)
            try:
                data, length = self._read(fd)
                result = change(data, time.time())
                text = json.dumps(data, separators=(",", ":")).encode()
                os.pwrite(fd, text.ljust(length), 0)
                return result
            except OSError as error:
                raise self._error(f"cannot write the state: {error.strerror or error}") from None
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    async def _peek(self, key: str) -> dict[str, Any]:
        """The key's state, read under a shared lock."""
        fd = self._open(key)
        try:
            await self._lock(fd, fcntl.LOCK_SH)
            try:
                return self._read(fd)[0]
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError as error:
            raise self._error(f"cannot read the state: {error.strerror or error}") from None
        finally:
            os.close(fd)

    async def _lock(self, fd: int, mode: int) -> None:
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise self._error(
                        f"another process holds a lock for more than {self._timeout:g} s"
                    ) from None
                await asyncio.sleep(_POLL)

    def _error(self, message: str) -> SharedThrottleError:
        return SharedThrottleError(message, url=self.safe_url)

    # -- the bucket ---------------------------------------------------------------------------

    @staticmethod
    def _bucket(data: dict[str, Any], now: float, drain: float) -> Gcra:
        tat = _float(data.get("tat"))
        if tat is None or now - tat > BUCKET_KEEP:  # drained long ago: forgotten, as in Redis
            return Gcra(tat=now, rate=drain)
        return Gcra(
            tat=tat,
            rate=_float(data.get("rate")) or drain,
            generation=int(data.get("gen") or 0),
            successes=int(data.get("ok") or 0),
            penalized_at=_float(data.get("pat")),
        )

    @staticmethod
    def _save(data: dict[str, Any], state: Gcra) -> None:
        data.clear()
        data.update(tat=state.tat, rate=state.rate, gen=state.generation, ok=state.successes)
        if state.penalized_at is not None:
            data["pat"] = state.penalized_at

    async def reserve(
        self, key: str, limit: float, drain: float, step: float, after: int, successes: int
    ) -> BucketReply:
        limits = BucketLimits(limit, drain, 0.0, recovery_step=step, recovery_after=after)

        def change(data: dict[str, Any], now: float) -> BucketReply:
            state = self._bucket(data, now, drain)
            if state.rate > drain:  # clients with a lower nominal rate: the lower one holds
                state.set_rate(drain, now)
            state.on_successes(successes, now, limits)
            at = state.reserve(now, limit)
            self._save(data, state)
            return BucketReply(at - now, state.generation, state.rate, state.tat - now, repr(state.tat))

        return await self._locked(key, change)

    async def generation(self, key: str) -> int:
        try:
            return int((await self._peek(key)).get("gen") or 0)
        except (TypeError, ValueError):
            return 0

    async def penalize(
        self, key: str, generation: int, limit: float, drain: float, min_rate: float, slowdown: float
    ) -> tuple[bool, int, float]:
        limits = BucketLimits(limit, drain, 0.0, min_rate_factor=min(1.0, min_rate / drain))

        def change(data: dict[str, Any], now: float) -> tuple[bool, int, float]:
            state = self._bucket(data, now, drain)
            applied = state.on_query_limit(now, limits, slowdown, None if generation < 0 else generation)
            self._save(data, state)
            return applied, state.generation, state.rate

        return await self._locked(key, change)

    async def release(self, key: str, generation: int, tat: str) -> bool:
        def change(data: dict[str, Any], now: float) -> bool:
            if repr(_float(data.get("tat"))) != tat or int(data.get("gen") or 0) != generation:
                return False
            data["tat"] = float(tat) - 1 / float(data["rate"])
            return True

        return await self._locked(key, change)

    # -- operating pauses ---------------------------------------------------------------------

    async def block(self, key: str, seconds: dict[str, float]) -> None:
        wanted = {m: d for m, d in seconds.items() if math.isfinite(d) and d > 0}
        if not wanted:
            return

        def change(data: dict[str, Any], now: float) -> None:
            for method in [m for m, until in data.items() if (_float(until) or 0.0) <= now]:
                del data[method]  # pauses that ended
            for method, duration in wanted.items():
                data[method] = max(_float(data.get(method)) or 0.0, now + duration)

        await self._locked(key, change)

    async def blocks(self, key: str, methods: Sequence[str]) -> list[float]:
        if not methods:
            return []
        data, now = await self._peek(key), time.time()
        return [max(0.0, (_float(data.get(m)) or now) - now) for m in methods]

    async def close(self) -> None:
        """Nothing stays open between operations."""


def _float(value: Any) -> float | None:
    with contextlib.suppress(TypeError, ValueError):
        number = float(value)
        if math.isfinite(number):
            return number
    return None
