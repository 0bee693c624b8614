"""The portal's clock, optionally fast-forwarded.

``time_scale`` = portal seconds per real second. Every time quantity of the portal (server cost,
bucket drain, operating window, token lifetime, timestamps in ``time`` blocks) is measured on this
clock, so speeding it up keeps all of them consistent.
"""

from __future__ import annotations

import asyncio
import time


class PortalClock:
    def __init__(self, time_scale: float = 1.0, epoch: float | None = None) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {time_scale!r}")
        self.time_scale = time_scale
        self._epoch = time.time() if epoch is None else epoch
        self._mono0 = time.monotonic()

    def now(self) -> float:
        """Portal Unix time in seconds."""
        return self._epoch + (time.monotonic() - self._mono0) * self.time_scale

    def advance(self, portal_seconds: float) -> None:
        """Jump the clock by ``portal_seconds`` (negative: back). Tests use it to place writes at
        chosen moments: "8 s later", or a write that commits late with an earlier modification time."""
        self._epoch += portal_seconds

    def real_seconds(self, portal_seconds: float) -> float:
        return portal_seconds / self.time_scale

    async def sleep(self, portal_seconds: float) -> None:
        if portal_seconds > 0:
            await asyncio.sleep(portal_seconds / self.time_scale)
