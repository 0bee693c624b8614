"""Deterministic pseudo-random building blocks: seeded id arrays and per-(row, field) value generators.

Nothing is materialised: a generator is a closure ``rid -> canonical value`` that hashes
(seed, entity, field, rid) with splitmix64, so any row can be produced on demand in O(1).
"""

from __future__ import annotations

import random
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import accumulate, compress, repeat
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
#: A generator's column form: the values of many ids at once.
Many = Callable[[Sequence[int]], list[Any]]
#: For a generator that draws from a few values: ``fn -> column of fn(value)``, ``fn`` called once
#: per value (a renderer applied to the options instead of to every row).
Mapped = Callable[[Callable[[Any], Any]], Many]
#: Seeded ids of the other tables, for links (entity -> ids).
Refs = dict[str, "array[int]"]
T = TypeVar("T")
G = TypeVar("G", bound=Callable[[int], Any])

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


#: Largest table a ref copies per renderer (:meth:`Kit.mapper`).
_FEW: Final = 4096


def _identity(value: Any) -> Any:
    return value


def _repeat(value: Any) -> Many:
    return lambda rids: [value] * len(rids)


def _hashes(key: int, rids: Iterable[int]) -> Iterator[int]:
    """``hash((key, rid))`` of every id, tuples built and hashed in C."""
    return map(hash, zip(repeat(key), rids))


def _shared(many: Many) -> Many:
    """``many`` that answers the same tuple of ids again from its last result: a list page asks for
    base columns (creation time, stage...) once per field derived from them. Lists returned for a
    tuple are shared, hence read-only."""
    last_rids: Sequence[int] | None = None
    last: list[Any] = []

    def shared(rids: Sequence[int]) -> list[Any]:
        nonlocal last_rids, last
        if rids is last_rids:
            return last
        result = many(rids)
        if type(rids) is tuple:
            last_rids, last = rids, result
        return result

    return shared


class Kit:
    """Factories of value generators for one table.

    Per-row hashes use CPython's tuple hash of ints (``hash((key, rid))``): ints are not subject
    to hash randomisation, the algorithm is fixed since Python 3.8 and it is ~6x faster than a
    pure-Python splitmix64, so the same seed gives the same portal in every process.

    Every factory also registers the generator's column form (:meth:`many`): the values of many ids
    in one list comprehension, equal to mapping the generator over them, which is what list pages
    and column scans need.
    """

    def __init__(self, seed: int, entity: str, ids: array[int]) -> None:
        self.base = salt(seed, entity)
        self.first = first = ids[0] if ids else 1
        self._many: dict[Gen, Many] = {}
        self._picks: dict[Gen, tuple[int, list[Any]]] = {}  # pick generator -> (key, table)
        self._mapped: dict[Gen, Mapped] = {}
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

        def created_many(rids: Sequence[int]) -> list[Any]:
            pairs = zip(rids, _hashes(kc, rids), strict=True)
            return [start + (rid - first) * span // width + r % slot for rid, r in pairs]

        self.created = self._column(created, created_many)
        created_col = self.many(created)

        def modified_many(rids: Sequence[int]) -> list[Any]:
            pairs = zip(created_col(rids), _hashes(km, rids), strict=True)
            return [c if r % 100 < 30 else c + (r >> 8) % max(1, BASE_EPOCH - c) for c, r in pairs]

        self.modified = self._column(modified, modified_many)

    def _column(self, gen: G, many: Many) -> G:
        self._many[gen] = _shared(many)
        return gen

    def _finite(self, gen: G, mapped: Mapped) -> G:
        """Register a generator that draws from a few values; its column form is ``mapped(identity)``."""
        self._mapped[gen] = mapped
        return self._column(gen, mapped(_identity))

    def mapper(self, gen: Gen) -> Mapped | None:
        """``fn -> (rids -> [fn(gen(rid)) for rid in rids])`` with ``fn`` called once per value, for
        generators that draw from a few values (pick, maybe of those, chance, const, a ref into a
        table of at most 4,096 ids); None for the others."""
        return self._mapped.get(gen)

    def many(self, gen: Gen) -> Many:
        """The column form of ``gen``: ``many(rids) == [gen(rid) for rid in rids]``. Generators that
        no factory made (composed lambdas) are mapped over the ids."""
        found = self._many.get(gen)
        if found is not None:
            return found
        return lambda rids: list(map(gen, rids))

    def key(self, name: str) -> int:
        return mix64(self.base ^ salt(name))

    def hasher(self, name: str) -> Callable[[int], int]:
        """``rid -> int`` (may be negative; ``%`` and ``>>`` of it are still uniform)."""
        k = self.key(name)
        return self._column(lambda rid: hash((k, rid)), lambda rids: list(_hashes(k, rids)))

    def moment(self, name: str) -> Gen:
        """A moment between creation and modification."""
        k, created, modified = self.key(name), self.created, self.modified

        def gen(rid: int) -> int:
            c = created(rid)
            return c + hash((k, rid)) % (modified(rid) - c + 1)

        def many(rids: Sequence[int]) -> list[Any]:
            triples = zip(_hashes(k, rids), created_many(rids), modified_many(rids), strict=True)
            return [c + r % (m - c + 1) for r, c, m in triples]

        created_many, modified_many = self.many(created), self.many(modified)
        return self._column(gen, many)

    def combine(self, fn: Callable[..., T], *gens: Gen) -> Callable[[int], T]:
        """``rid -> fn(gens[0](rid), gens[1](rid), ...)``."""
        columns = [self.many(gen) for gen in gens]
        one: Callable[[int], T]
        if len(gens) == 1:
            (gen,) = gens
            one = lambda rid: fn(gen(rid))  # noqa: E731
        elif len(gens) == 2:
            first, second = gens
            one = lambda rid: fn(first(rid), second(rid))  # noqa: E731
        else:
            one = lambda rid: fn(*[gen(rid) for gen in gens])  # noqa: E731
        return self._column(one, lambda rids: list(map(fn, *[column(rids) for column in columns])))

    def ident(self) -> Gen:
        """The row's own id."""
        return self._column(lambda rid: rid, list)

    # --- generic factories
    def pick(
        self, name: str, options: Sequence[T], weights: Sequence[int] | None = None
    ) -> Callable[[int], T]:
        table = (
            list(options)
            if weights is None
            else [o for o, w in zip(options, weights, strict=True) for _ in range(w)]
        )
        k, n = self.key(name), len(table)

        def mapped(fn: Callable[[Any], Any]) -> Many:
            out = [fn(option) for option in table]
            return lambda rids: [out[r % n] for r in _hashes(k, rids)]

        gen = self._finite(lambda rid: table[hash((k, rid)) % n], mapped)
        self._picks[gen] = (k, table)
        return gen

    def maybe(self, name: str, percent: int, gen: Gen) -> Gen:
        """``gen(rid)`` in ``percent`` % of rows, None otherwise."""
        k = self.key(name + "?")
        one: Gen = lambda rid: gen(rid) if hash((k, rid)) % 100 < percent else None  # noqa: E731

        def masked(inner: Many, none: Any) -> Many:
            def many(rids: Sequence[int]) -> list[Any]:
                mask = [r % 100 < percent for r in _hashes(k, rids)]
                values = iter(inner(list(compress(rids, mask))))
                return [next(values) if m else none for m in mask]

            return many

        inner_mapped = self._mapped.get(gen)
        if inner_mapped is None:
            return self._column(one, masked(self.many(gen), None))
        if gen not in self._picks:
            return self._finite(one, lambda fn: masked(inner_mapped(fn), fn(None)))
        kp, table = self._picks[gen]
        n = len(table)

        def mapped(fn: Callable[[Any], Any]) -> Many:  # one pass: both hashes of a row at once
            out, none = [fn(option) for option in table], fn(None)

            def many(rids: Sequence[int]) -> list[Any]:
                pairs = zip(_hashes(k, rids), _hashes(kp, rids), strict=True)
                return [out[p % n] if r % 100 < percent else none for r, p in pairs]

            return many

        return self._finite(one, mapped)

    def chance(self, name: str, percent: int) -> Callable[[int], bool]:
        k = self.key(name)

        def mapped(fn: Callable[[Any], Any]) -> Many:
            yes, no = fn(True), fn(False)
            return lambda rids: [yes if r % 100 < percent else no for r in _hashes(k, rids)]

        return self._finite(lambda rid: hash((k, rid)) % 100 < percent, mapped)

    def number(self, name: str, lo: int, hi: int) -> Callable[[int], int]:
        k, n = self.key(name), hi - lo + 1
        return self._column(
            lambda rid: lo + hash((k, rid)) % n, lambda rids: [lo + r % n for r in _hashes(k, rids)]
        )

    def money(self, name: str, lo: int, hi: int) -> Callable[[int], float]:
        """Amounts with cents; round thousands in half of the rows, as people type them."""
        k, n = self.key(name), hi - lo + 1

        def amount(r: int) -> float:
            whole = lo + r % n
            if r & 1:
                return float(whole - whole % 1000)
            return round(whole + (r >> 40) % 100 / 100, 2)

        return self._column(
            lambda rid: amount(hash((k, rid))), lambda rids: list(map(amount, _hashes(k, rids)))
        )

    def ref(self, name: str, ids: array[int], percent: int = 100) -> Gen:
        """An id taken from another table's seeded ids (None in 100-percent % of rows)."""
        if not ids:
            return self.const(None)
        k, n = self.key(name), len(ids)

        def gen(rid: int) -> int | None:
            r = hash((k, rid))
            return ids[r % n] if (r >> 32) % 100 < percent else None

        def of(out: Sequence[Any], none: Any) -> Many:
            if percent >= 100:
                return lambda rids: [out[r % n] for r in _hashes(k, rids)]
            return lambda rids: [out[r % n] if (r >> 32) % 100 < percent else none for r in _hashes(k, rids)]

        if n > _FEW:  # no copy of a big table per renderer
            return self._column(gen, of(ids, None))
        return self._finite(gen, lambda fn: of([fn(x) for x in ids], fn(None)))

    def const(self, value: Any) -> Gen:
        return self._finite(lambda rid: value, lambda fn: _repeat(fn(value)))
