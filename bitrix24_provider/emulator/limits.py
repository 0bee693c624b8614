"""The portal's two limits (contract §6): the request-rate leaky bucket and the per-method
operating-time limiter. Both run on the portal clock."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

Now = Callable[[], float]


class LeakyBucket:
    """Each accepted request adds 1; the level drains by ``drain_rate`` per second; a request
    that would lift the level above ``capacity`` is rejected (and not counted)."""

    def __init__(self, capacity: float, drain_rate: float, now: Now) -> None:
        self.capacity = capacity
        self.drain_rate = drain_rate
        self._now = now
        self._levels: dict[str, tuple[float, float]] = {}  # key -> (level, at)
        self.high_water = 0.0

    def level(self, key: str) -> float:
        level, at = self._levels.get(key, (0.0, self._now()))
        return max(0.0, level - (self._now() - at) * self.drain_rate)

    def try_acquire(self, key: str) -> bool:
        level = self.level(key)
        if level + 1 > self.capacity + 1e-9:
            return False
        self._levels[key] = (level + 1, self._now())
        self.high_water = max(self.high_water, level + 1)
        return True

    def reset(self) -> None:
        self._levels.clear()
        self.high_water = 0.0


@dataclass
class _Basket:
    seconds: float = 0.0
    first_at: float = 0.0


@dataclass
class _Usage:
    baskets: dict[int, _Basket] = field(default_factory=dict)


class OperatingLimiter:
    """Per (credential, method): server time summed in ``baskets`` baskets spanning ``window``
    seconds. A call is refused (429) when the sum is above ``limit`` *before* it starts; the call
    that crosses the limit still completes. ``operating_reset_at`` is when the oldest basket
    expires: its first record + ``window``."""

    def __init__(self, limit: float, window: float, baskets: int, min_fix: float, now: Now) -> None:
        self.limit = limit
        self.window = window
        self.basket_seconds = window / baskets
        self.baskets = baskets
        self.min_fix = min_fix
        self._now = now
        self._usage: dict[tuple[str, str], _Usage] = {}

    def _current(self, key: tuple[str, str]) -> list[_Basket]:
        usage = self._usage.get(key)
        if usage is None:
            return []
        now = self._now()
        for index in [i for i, b in usage.baskets.items() if b.first_at + self.window <= now]:
            del usage.baskets[index]
        return [usage.baskets[i] for i in sorted(usage.baskets)]

    def operating(self, credential: str, method: str) -> float:
        return sum(b.seconds for b in self._current((credential, method)))

    def reset_at(self, credential: str, method: str) -> int | None:
        current = self._current((credential, method))
        return math.ceil(current[0].first_at + self.window) if current else None

    def is_blocked(self, credential: str, method: str) -> bool:
        return self.operating(credential, method) > self.limit

    def record(self, credential: str, method: str, seconds: float, at: float | None = None) -> None:
        """Add server time (already past the ``min_fix`` threshold, see :class:`HitMeter`)."""
        at = self._now() if at is None else at
        usage = self._usage.setdefault((credential, method), _Usage())
        basket = usage.baskets.setdefault(int(at // self.basket_seconds), _Basket(first_at=at))
        basket.seconds += seconds

    def snapshot(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for credential, method in list(self._usage):
            used = self.operating(credential, method)
            if used:
                out.setdefault(method, {})[credential] = round(used, 6)
        return out

    def reset(self) -> None:
        self._usage.clear()


class HitMeter:
    """Per HTTP hit, the durations of calls to one method are summed and written only once the sum
    passes ``min_fix`` (0.1 s): 50 cheap list pages in one batch are billed, one cheap call is not."""

    def __init__(self, limiter: OperatingLimiter, credential: str) -> None:
        self._limiter = limiter
        self._credential = credential
        self._sums: dict[str, float] = {}

    def add(self, method: str, seconds: float, at: float) -> None:
        before = self._sums.get(method, 0.0)
        after = before + seconds
        self._sums[method] = after
        if after > self._limiter.min_fix:
            billed = seconds if before > self._limiter.min_fix else after
            self._limiter.record(self._credential, method, billed, at)
