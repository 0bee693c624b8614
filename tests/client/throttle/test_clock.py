"""The scaled clock runs the throttle in portal time."""

from __future__ import annotations

import asyncio
import time

import pytest

from bitrix24_provider.client.throttle import ScaledClock, Throttle

from .clock_support import T0


async def test_scaled_clock_runs_the_bucket_in_portal_time() -> None:
    clock = ScaledClock(time_scale=1000.0, epoch=T0)
    throttle = Throttle.for_plan("standard", clock=clock)
    portal_start = clock.monotonic()
    await asyncio.gather(*(throttle.admit(["crm.deal.list"]) for _ in range(59)))
    portal_elapsed = clock.monotonic() - portal_start
    assert portal_elapsed >= 10 * 0.5 - 0.01  # 49 at once, then 10 at 2/s of portal time
    real_before, portal, real_after = time.monotonic(), clock.monotonic(), time.monotonic()
    start = clock._mono0
    assert (real_before - start) * 1000 <= portal <= (real_after - start) * 1000  # 1000 portal s per s
    before, wall, after = clock.monotonic(), clock.time(), clock.monotonic()
    assert T0 + before <= wall <= T0 + after
    with pytest.raises(ValueError, match="time_scale"):
        ScaledClock(time_scale=0)
