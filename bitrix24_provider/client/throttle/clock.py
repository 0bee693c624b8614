"""Time bases of the throttle: a monotonic reading, Unix time and a matching sleep, in portal seconds.

:class:`SystemClock` is real time; :class:`ScaledClock` runs on a fast-forwarded time base
(``time_scale`` portal seconds per real second) for tests and benchmarks against an accelerated
emulator. Every part of the throttle takes its time from one of these (or from plain callables in
tests, which drive a virtual clock).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "ScaledClock", "Sleep", "SystemClock"]

Sleep = Callable[[float], Awaitable[Any]]


class Clock(Protocol):
    """A time base: a monotonic reading, Unix time and a matching sleep, all in portal seconds."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Real time: :func:`time.monotonic`, :func:`time.time`, :func:`asyncio.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


SYSTEM_CLOCK = SystemClock()


class ScaledClock:
    """A fast-forwarded time base: ``time_scale`` portal seconds pass per real second.

    Use the same ``time_scale`` and ``epoch`` as the emulator so that ``operating_reset_at`` values
    and bucket drain are measured on the portal's clock.

    :param time_scale: portal seconds per real second (> 0).
    :param epoch: portal Unix time at creation (default: the real Unix time).
    """

    def __init__(self, time_scale: float = 1.0, epoch: float | None = None) -> None:
        if not time_scale > 0:
            raise ValueError(f"time_scale must be positive, got {time_scale!r}")
        self.time_scale = time_scale
        self._epoch = time.time() if epoch is None else epoch
        self._mono0 = time.monotonic()

    def monotonic(self) -> float:
        return (time.monotonic() - self._mono0) * self.time_scale

    def time(self) -> float:
        return self._epoch + self.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.time_scale)
