"""Deterministic pseudo-random building blocks: seeded id arrays and per-(row, field) value generators.

Nothing is materialised: a generator is a closure ``rid -> canonical value`` that hashes
(seed, entity, field, rid) with splitmix64, so any row can be produced on demand in O(1).
"""

from __future__ import annotations

import random
import zlib
from array import array
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import Any, Final, TypeVar

from .values import BASE_EPOCH

M64: Final = (1 << 64) - 1
GOLDEN: Final = 0x9E3779B97F4A7C15
_C1: Final = 0xBF58476D1CE4E5B9
_C2: Final = 0x94D049BB133111EB
DAY: Final = 86400

#: Seeded rows are created within this many seconds before BASE_EPOCH.
HISTORY: Final = 3 * 365 * DAY

Gen = Callable[[int], Any]
#: Seeded ids of the other tables, for links (entity -> ids).
Refs = dict[str, "array[int]"]
T = TypeVar("T")

#: Id steps 1 (70%), 2 (20%) or 3 (10%): realistic gaps left by deleted rows.
_STEP_TABLE: Final = bytes(1 if b < 179 else 2 if b < 230 else 3 for b in range(256))


def day_of(ts: int) -> int:
    """UTC midnight of the day (how ``date`` fields are stored)."""
    return ts - ts % DAY


def mix64(x: int) -> int:
    """splitmix64 finaliser."""
    x = (x + GOLDEN) & M64
    x = ((x ^ (x >> 30)) * _C1) & M64
    x = ((x ^ (x >> 27)) * _C2) & M64
    return x ^ (x >> 31)


def salt(*parts: object) -> int:
    """A stable 64-bit salt from names and numbers (independent of PYTHONHASHSEED)."""
    x = 0
    for part in parts:
        x = mix64(x ^ zlib.crc32(str(part).encode()))
    return x


def seed_ids(seed: int, entity: str, count: int, first: int) -> array[int]:
    """``count`` increasing ids starting at ``first`` with deterministic gaps of 1-3."""
    if count <= 0:
        return array("q")
    rng = random.Random(salt(seed, entity, "ids"))
    steps = rng.randbytes(count).translate(_STEP_TABLE)
    return array("q", accumulate(steps[1:], initial=first))


def step_after(seed: int, entity: str, last: int) -> int:
    """The id the next added row gets after ``last`` (auto-increment with a gap)."""
    return last + 1 + mix64(salt(seed, entity, "add") ^ last) % 3


class Kit:
    """Factories of value generators for one table.

    Per-row hashes use CPython's tuple hash of ints (``hash((key, rid))``): ints are not subject
    to hash randomisation, the algorithm is fixed since Python 3.8 and it is ~6x faster than a
    pure-Python splitmix64, so the same seed gives the same portal in every process.
    """

    def __init__(self, seed: int, entity: str, ids: array[int]) -> None:
        self.base = salt(seed, entity)
        self.first = first = ids[0] if ids else 1
        width = (ids[-1] - first + 1) if ids else 1
        span = HISTORY - DAY
        slot = max(1, span // width)
        start = BASE_EPOCH - HISTORY
        kc, km = self.key("~created"), self.key("~modified")

        def created(rid: int) -> int:
            """Creation time grows with the id (plus jitter within the id's slot)."""
            return start + (rid - first) * span // width + hash((kc, rid)) % slot

        def modified(rid: int) -> int:
            """30% of rows never modified; the others at a random moment before BASE_EPOCH."""
            c = created(rid)
            r = hash((km, rid))
            return c if r % 100 < 30 else c + (r >> 8) % max(1, BASE_EPOCH - c)

        self.created = created
        self.modified = modified

    def key(self, name: str) -> int:
        return mix64(self.base ^ salt(name))

    def hasher(self, name: str) -> Callable[[int], int]:
        """``rid -> int`` (may be negative; ``%`` and ``>>`` of it are still uniform)."""
        k = self.key(name)
        return lambda rid: hash((k, rid))

    def between(self, name: str, rid: int) -> int:
        """A moment between creation and modification."""
        created, modified = self.created(rid), self.modified(rid)
        return created + self.hasher(name)(rid) % (modified - created + 1)

    # --- generic factories
    def pick(
        self, name: str, options: Sequence[T], weights: Sequence[int] | None = None
    ) -> Callable[[int], T]:
        table = (
            list(options)
            if weights is None
            else [o for o, w in zip(options, weights, strict=True) for _ in range(w)]
        )
        h, n = self.hasher(name), len(table)
        return lambda rid: table[h(rid) % n]

    def maybe(self, name: str, percent: int, gen: Gen) -> Gen:
        """``gen(rid)`` in ``percent`` % of rows, None otherwise."""
        h = self.hasher(name + "?")
        return lambda rid: gen(rid) if h(rid) % 100 < percent else None

    def chance(self, name: str, percent: int) -> Callable[[int], bool]:
        h = self.hasher(name)
        return lambda rid: h(rid) % 100 < percent

    def number(self, name: str, lo: int, hi: int) -> Callable[[int], int]:
        h, n = self.hasher(name), hi - lo + 1
        return lambda rid: lo + h(rid) % n

    def money(self, name: str, lo: int, hi: int) -> Callable[[int], float]:
        """Amounts with cents; round thousands in half of the rows, as people type them."""
        h, n = self.hasher(name), hi - lo + 1

        def gen(rid: int) -> float:
            r = h(rid)
            whole = lo + r % n
            if r & 1:
                return float(whole - whole % 1000)
            return round(whole + (r >> 40) % 100 / 100, 2)

        return gen

    def ref(self, name: str, ids: array[int], percent: int = 100) -> Gen:
        """An id taken from another table's seeded ids (None in 100-percent % of rows)."""
        if not ids:
            return lambda rid: None
        h, n = self.hasher(name), len(ids)

        def gen(rid: int) -> int | None:
            r = h(rid)
            return ids[r % n] if (r >> 32) % 100 < percent else None

        return gen

    def const(self, value: Any) -> Gen:
        return lambda rid: value
