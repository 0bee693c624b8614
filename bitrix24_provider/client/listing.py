"""Whole lists, page by page, with proof of completeness.

**Keyset mode** (the default for list methods that support it, contract §3.3): ``order`` by ID,
``filter >ID`` from the last row seen, ``start=-1`` (no COUNT on the server), and up to 50 pages
chained inside one ``batch`` through ``$result[...]`` references. A chain stops at its first short
page and ignores the commands after it. A large table is split into disjoint ID ranges exported by
parallel chains; a chain sends its next batch before it hands the pages of the last one to the
reader, and sizes its last batch from the density of the ids it has read. Every page is checked:
IDs strictly ascending, inside the chain's range, after the cursor. An empty page inside a batch
is confirmed by a direct call before a chain is declared done, so a batch that silently came back
empty cannot truncate the export.

**Resuming**: the id ranges of a keyset export are reported to ``on_ranges`` as soon as they are
known (first the whole id space, then the split after the first page). A caller that records, per
range, the largest id it has durably stored can later pass the remaining ranges back as ``ranges``:
the export then continues every range from there (splitting large ones again for parallelism) and
reads no row at or below those positions.

**Offset mode** (methods that cannot be ordered by ID, or a custom ``order``): ``start=0, 50, ...``
planned from ``total``, fetched in batches; every page before the last must be full, and the rows
received must match ``total`` (after removing IDs seen twice) or :class:`IncompleteResultError`
is raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .batch import BatchOutcome, Command, send_batch
from .errors import IncompleteResultError, InvalidParams, OperationTimeLimit
from .families import ListFamily, family_of
from .settings import ClientSettings
from .transport import Transport

PAGE = 50
Row = dict[str, Any]
Page = list[Row]
#: ids in ``(after, upto]``; ``upto=None``: no upper end (rows added during the export are included)
IdRange = tuple[int, int | None]
#: receives the id ranges an export runs on; ``None`` when it fell back to offset paging
OnRanges = Callable[[list[IdRange] | None], None]

_BOUNDS = (">", ">=", "<", "<=")
#: pages asked for when a chain's estimate ran out; each chain's last batch is sized by its estimate
#: plus one page, and commands after a short page are wasted server work
_TAIL_PAGES = 3


@dataclass(frozen=True)
class _ChainEnd:
    """Queued by a keyset chain when it has delivered its range (``error`` None) or failed."""

    error: Exception | None = None


Queue = asyncio.Queue[Page | _ChainEnd]


@dataclass
class _Step:
    """What one batch of a keyset chain gave: its trusted pages, the new cursor, whether the chain's
    range is done, and the operating block that stopped it early."""

    pages: list[Page]
    cursor: int
    done: bool
    block: OperationTimeLimit | None = None

    @property
    def rows(self) -> int:
        return sum(len(page) for page in self.pages)


def rows_of(result: Any, family: ListFamily) -> Page:
    """The rows of one list page: a bare list, or the list under the family's wrapper key."""
    if isinstance(result, list):
        return result
    if isinstance(result, Mapping):
        if family.wrapper is not None and isinstance(result.get(family.wrapper), list):
            return list(result[family.wrapper])
        lists = [v for v in result.values() if isinstance(v, list)]
        if len(result) == 1 and lists:  # an engine method's {"<key>": [...]}
            return list(lists[0])
    raise TypeError(f"not a list page: {type(result).__name__}")


def _int(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise IncompleteResultError("?", detail=f"{what} is not an integer id: {value!r}") from None


@dataclass
class KeysetPlan:
    method: str
    family: ListFamily
    base: dict[str, Any]  # params without the id bounds
    filter: dict[str, Any]
    lo: int  # exclusive
    hi: int | None  # inclusive

    def params(self, cursor: int | str, hi: int | None) -> dict[str, Any]:
        key = self.family.request_id
        bounds: dict[str, Any] = {f">{key}": cursor}
        if hi is not None:
            bounds[f"<={key}"] = hi
        return {**self.base, "filter": {**self.filter, **bounds}}

    def newest_first(self, cursor: int, hi: int | None) -> dict[str, Any]:
        params = self.params(cursor, hi)
        params["order"] = {self.family.request_id: "DESC"}
        params["select"] = [self.family.request_id]
        return params


def keyset_plan(method: str, params: Mapping[str, Any]) -> KeysetPlan | None:
    """A keyset plan for these parameters, or None when only offset paging fits (custom order,
    a family without a known id cursor)."""
    family = family_of(method)
    if not family.keyset:
        return None
    key = family.request_id
    order = params.get("order")
    if order and {str(k): str(v).upper() for k, v in dict(order).items()} != {key: "ASC"}:
        return None
    filter_ = dict(params.get("filter") or {})
    lo, hi = 0, None
    for op in _BOUNDS:
        if f"{op}{key}" in filter_:
            value = _int(filter_.pop(f"{op}{key}"), f"filter {op}{key}")
            if op == ">":
                lo = max(lo, value)
            elif op == ">=":
                lo = max(lo, value - 1)
            elif op == "<":
                hi = value - 1 if hi is None else min(hi, value - 1)
            else:
                hi = value if hi is None else min(hi, value)
    base = {k: v for k, v in params.items() if k not in ("filter", "order", "start")}
    select = base.get("select")
    if select:
        names = [str(s) for s in select]
        if key not in names and response_id_missing(names, family):
            base["select"] = [*names, key]
    base["order"] = {key: "ASC"}
    base["start"] = -1
    return KeysetPlan(method, family, base, filter_, lo, hi)


def response_id_missing(select: list[str], family: ListFamily) -> bool:
    return "*" not in select and family.response_id not in select


class Exporter:
    """Runs keyset and offset exports over one transport."""

    def __init__(self, transport: Transport, settings: ClientSettings) -> None:
        self.transport = transport
        self.settings = settings

    async def pages(
        self,
        method: str,
        params: Mapping[str, Any],
        limit: int | None = None,
        *,
        ranges: Sequence[IdRange] | None = None,
        on_ranges: OnRanges | None = None,
    ) -> AsyncIterator[Page]:
        if "start" in params:
            raise ValueError("do not pass 'start': get_all and iter_all page by themselves")
        plan = keyset_plan(method, params)
        if ranges is not None:
            if plan is None:
                raise ValueError(f"ranges resume a keyset export; {method} with these params pages by offset")
            source = self._keyset(plan, limit, _checked_ranges(ranges), on_ranges)
        elif plan is None:
            _report(on_ranges, None)
            source = self._offset(method, params)
        else:
            source = self._keyset_or_offset(plan, params, limit, on_ranges)
        sent = 0
        try:
            async for page in source:
                if limit is not None and sent + len(page) >= limit:
                    yield page[: limit - sent]
                    return
                sent += len(page)
                yield page
        finally:
            await _close(source)

    async def _keyset_or_offset(
        self, plan: KeysetPlan, params: Mapping[str, Any], limit: int | None, on_ranges: OnRanges | None
    ) -> AsyncIterator[Page]:
        """Keyset paging; when the method refuses the id cursor before any page came, offset paging."""
        source = self._keyset(plan, limit, None, on_ranges)
        started = False
        try:
            async for page in source:
                started = True
                yield page
            return
        except InvalidParams:
            if started:
                raise
        finally:
            await _close(source)
        self.transport.stats.retries["keyset_fallback"] += 1
        _report(on_ranges, None)
        fallback = self._offset(plan.method, params)
        try:
            async for page in fallback:
                yield page
        finally:
            await _close(fallback)

    # -- keyset -----------------------------------------------------------------------------

    async def _direct(self, plan: KeysetPlan, params: dict[str, Any], count: bool = True) -> Page:
        body = await self.transport.request(plan.method, params)
        rows = rows_of(body["result"], plan.family)
        if count:
            self.transport.stats.rows += len(rows)
        return rows

    async def _keyset(
        self,
        plan: KeysetPlan,
        limit: int | None = None,
        ranges: list[IdRange] | None = None,
        on_ranges: OnRanges | None = None,
    ) -> AsyncIterator[Page]:
        rid = plan.family.response_id
        sample: Page = []
        if ranges is None:  # a new export: the first page, then the rest of the id space
            _report(on_ranges, [(plan.lo, plan.hi)])
            first = await self._direct(plan, plan.params(plan.lo, plan.hi))
            _check(plan, first, plan.lo, plan.hi)
            if first:
                yield first
            if len(first) < PAGE:
                return
            sample = first
            ranges = [(int(first[-1][rid]), plan.hi)]
        ranges = [r for r in ranges if r[1] is None or r[1] > r[0]]
        if not ranges:
            _report(on_ranges, [])
            return
        floor = min(after for after, _ in ranges)
        newest = await self._direct(plan, plan.newest_first(floor, plan.hi), count=False)
        if not newest:  # nothing left after the lowest position
            _report(on_ranges, [])
            return
        top = int(newest[0][rid])
        # rows per id from both ends of the id space (the first page and the newest ids)
        density = (_density(sample, rid) + _density(newest, rid)) / 2 if sample else _density(newest, rid)
        chains = self._split(ranges, top, density, None if limit is None else limit - len(sample))
        _report(on_ranges, [(lo, hi) for lo, hi, _ in chains])
        queue: Queue = asyncio.Queue(maxsize=2 * len(chains))
        tasks = [asyncio.create_task(self._chain(plan, lo, hi, est, queue)) for lo, hi, est in chains]
        running = len(tasks)
        try:
            while running:
                item = await queue.get()
                if isinstance(item, _ChainEnd):
                    running -= 1
                    if item.error is not None:
                        raise item.error
                    continue
                yield item
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _split(
        self, ranges: list[IdRange], top: int, density: float, limit: int | None
    ) -> list[tuple[int, int | None, int]]:
        """``(after, upto, estimated pages)`` per chain: each range cut into as many equal id spans
        as its share of the estimated rows earns it, within ``max_parallel_chains``."""
        rows = [max(0.0, (min(top, hi if hi is not None else top) - after) * density) for after, hi in ranges]
        if limit is not None:  # no more pages than the caller wants
            rows = [min(n, float(limit)) for n in rows]
        pages = math.ceil(sum(rows) / PAGE) + 1
        wanted = min(self.settings.max_parallel_chains, math.ceil(pages / self.settings.batch_size))
        shares = [1] * len(ranges)
        for _ in range(wanted - len(ranges)):
            i = max(range(len(ranges)), key=lambda n: rows[n] / shares[n])
            shares[i] += 1
        chains: list[tuple[int, int | None, int]] = []
        for (after, hi), share, n in zip(ranges, shares, rows, strict=True):
            end = min(top, hi) if hi is not None else top
            share = max(1, min(share, end - after))
            edges = [after + (end - after) * i // share for i in range(share)]
            est = math.ceil(n / share / PAGE) + 1  # the last page of a chain is short (maybe empty)
            chains.extend((lo, edges[i + 1] if i + 1 < share else hi, est) for i, lo in enumerate(edges))
        return chains

    async def _chain(self, plan: KeysetPlan, lo: int, hi: int | None, est_pages: int, queue: Queue) -> None:
        """Export the id range (lo, hi] with batches of chained pages; the chain's end (or its error)
        is the last item it queues. A cancelled chain queues nothing: its reader is gone."""
        error: Exception | None = None
        try:
            await self._run_chain(plan, lo, hi, est_pages, queue)
        except Exception as exc:
            error = exc
        await queue.put(_ChainEnd(error))

    async def _run_chain(
        self, plan: KeysetPlan, lo: int, hi: int | None, est_pages: int, queue: Queue
    ) -> None:
        cursor, stalled, blocked = lo, 0, 0
        if est_pages <= 2:  # probably one short page or none, e.g. a finished range of a resumed export
            rows = await self._direct(plan, plan.params(cursor, hi))
            _check(plan, rows, cursor, hi)
            if rows:
                await queue.put(rows)
                cursor = int(rows[-1][plan.family.response_id])
            if len(rows) < PAGE:
                return
            est_pages = _TAIL_PAGES
        size = self._chain_batch_size(est_pages)
        pending = self._send_chain_batch(plan, cursor, hi, size)
        seen = 0  # rows this chain delivered from its batches
        try:
            while True:
                outcome = await pending
                step = await self._take(plan, outcome, size, cursor, hi)
                cursor, progressed = step.cursor, len(step.pages)
                seen += step.rows
                est_pages = _remaining_pages(step, est_pages, lo, hi, seen)
                blocked = blocked + 1 if step.block is not None and not progressed else 0
                stalled = 0 if progressed or step.block is not None else stalled + 1
                failure = None if step.done else self._chain_failure(plan, step, blocked, stalled, hi)
                if not step.done and failure is None:
                    # the next batch goes out before these pages wait for the reader: the portal
                    # works on it while this client hands them over
                    size = self._chain_batch_size(est_pages)
                    pending = self._send_chain_batch(plan, cursor, hi, size)
                for rows in step.pages:
                    await queue.put(rows)
                if failure is not None:
                    raise failure
                if step.done:
                    return
        finally:
            # a batch sent ahead may still run, or may have failed unseen while the chain waited
            # for the reader: stop it, and take its outcome so no error is left unretrieved
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)

    def _chain_failure(
        self, plan: KeysetPlan, step: _Step, blocked: int, stalled: int, hi: int | None
    ) -> Exception | None:
        """The error that ends an unfinished chain, if any. An operating block resumes the chain after
        the reset, ``operating_retries`` times in a row; then its typed error says when to come back.
        Batches that bring nothing, ``retry.max_attempts`` times in a row, mean rows are missing."""
        if step.block is not None and blocked > self.settings.operating_retries:
            return step.block
        if stalled > self.settings.retry.max_attempts:
            return IncompleteResultError(
                plan.method,
                missing_ids=(step.cursor + 1, hi) if hi is not None else None,
                detail=f"the export made no progress after id {step.cursor}",
            )
        return None

    def _chain_batch_size(self, est_pages: int) -> int:
        return min(self.settings.batch_size, max(2, est_pages + 1))

    def _send_chain_batch(
        self, plan: KeysetPlan, cursor: int, hi: int | None, size: int
    ) -> asyncio.Task[BatchOutcome]:
        """``size`` pages after ``cursor``, each command's cursor the last id of the page before."""
        commands = {"c0": Command(plan.method, plan.params(cursor, hi))}
        for i in range(1, size):
            commands[f"c{i}"] = Command(plan.method, plan.params(plan.family.reference(f"c{i - 1}"), hi))
        return asyncio.create_task(send_batch(self.transport, commands))

    async def _take(
        self, plan: KeysetPlan, outcome: BatchOutcome, size: int, cursor: int, hi: int | None
    ) -> _Step:
        """The pages of one chained batch up to its first short page, an operating block, or a
        command whose page cannot be trusted (missing, out of order); the chain goes on from there."""
        stats = self.transport.stats
        pages: list[Page] = []
        for i in range(size):
            key = f"c{i}"
            error = outcome.errors.get(key)
            if isinstance(error, OperationTimeLimit):
                self.transport.throttle.budget.block(plan.method)
                stats.retries["operation_time_limit"] += 1
                return _Step(pages, cursor, False, error)
            if error is not None:
                raise error
            if key not in outcome.results:
                stats.retries["missing_command"] += 1
                break
            rows = rows_of(outcome.results[key], plan.family)
            if not _valid(plan, rows, cursor, hi):
                stats.retries["corrupt_page"] += 1
                break
            confirmed = not rows
            if confirmed:  # an empty page in a batch may be a silently emptied one: confirm
                rows = await self._direct(plan, plan.params(cursor, hi))
                _check(plan, rows, cursor, hi)
                if rows:
                    stats.retries["silent_empty"] += 1
            else:
                stats.rows += len(rows)
            if rows:
                pages.append(rows)
                cursor = int(rows[-1][plan.family.response_id])
            if len(rows) < PAGE:
                return _Step(pages, cursor, True)
            if confirmed:
                break  # the rest of this batch was emptied too: go on from the new cursor
        return _Step(pages, cursor, False)

    # -- offset -----------------------------------------------------------------------------

    async def _offset(self, method: str, params: Mapping[str, Any]) -> AsyncIterator[Page]:
        family = family_of(method)
        first = await self.transport.request(method, {**params, "start": 0})
        rows = rows_of(first["result"], family)
        self.transport.stats.rows += len(rows)
        total = first.get("total")
        seen = _Seen(family.response_id)
        seen.add(rows)
        yield rows
        if first.get("next") is None or not isinstance(total, int):
            return
        offsets = list(range(PAGE, total, PAGE))
        size = self.settings.batch_size
        chunks = [offsets[i : i + size] for i in range(0, len(offsets), size)]
        window = max(1, self.settings.max_concurrent_requests)
        pending: list[asyncio.Task[list[Page]]] = []
        try:
            for index in range(len(chunks)):
                while len(pending) < window and index + len(pending) < len(chunks):
                    chunk = chunks[index + len(pending)]
                    pending.append(
                        asyncio.create_task(self._offset_chunk(method, params, family, chunk, total))
                    )
                pages = await pending.pop(0)
                for page in pages:
                    seen.add(page)
                    yield page
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if seen.count != total:
            raise IncompleteResultError(
                method,
                expected=total,
                received=seen.count,
                detail="offset paging received another number of rows than the total (data changed?)",
            )

    async def _offset_chunk(
        self, method: str, params: Mapping[str, Any], family: ListFamily, offsets: list[int], total: int
    ) -> list[Page]:
        commands = {f"o{start}": Command(method, {**params, "start": start}) for start in offsets}
        outcome = await send_batch(self.transport, commands)
        pages = []
        for start in offsets:
            key = f"o{start}"
            expected = min(PAGE, total - start)
            rows = rows_of(outcome.results[key], family) if key in outcome.results else []
            if key in outcome.errors and not isinstance(outcome.errors[key], OperationTimeLimit):
                raise outcome.errors[key]
            if len(rows) < expected:  # emptied, blocked or lost: fetch this page on its own
                self.transport.stats.retries["short_page"] += 1
                body = await self.transport.request(method, {**params, "start": start})
                rows = rows_of(body["result"], family)
            self.transport.stats.rows += len(rows)
            pages.append(rows)
        return pages


class _Seen:
    """Counts rows once per id (offset paging can show a row twice when rows move)."""

    def __init__(self, id_field: str) -> None:
        self.id_field = id_field
        self.ids: set[Any] = set()
        self.anonymous = 0

    def add(self, rows: Page) -> None:
        for row in rows:
            value = row.get(self.id_field) if isinstance(row, Mapping) else None
            if value is None:
                self.anonymous += 1
            else:
                self.ids.add(str(value))

    @property
    def count(self) -> int:
        return len(self.ids) + self.anonymous


def _report(on_ranges: OnRanges | None, ranges: list[IdRange] | None) -> None:
    if on_ranges is not None:
        on_ranges(ranges)


def _checked_ranges(ranges: Sequence[IdRange]) -> list[IdRange]:
    """Resume ranges as ``(after, upto)`` integer pairs, sorted, not overlapping, only the last open."""
    checked: list[IdRange] = []
    for item in ranges:
        try:
            after, upto = item
            pair: IdRange = (int(after), None if upto is None else int(upto))
        except (TypeError, ValueError):
            raise ValueError(f"a resume range must be (after, upto) with integer ids, got {item!r}") from None
        checked.append(pair)
    checked.sort(key=lambda r: r[0])
    for (_, upto), (after, _) in itertools.pairwise(checked):
        if upto is None or upto > after:
            raise ValueError(f"resume ranges overlap: {checked!r}")
    return checked


def _remaining_pages(step: _Step, est_pages: int, lo: int, hi: int | None, seen: int) -> int:
    """Pages a chain still expects after ``step``. Within a closed range, from the density of the
    ids it has read so far (the split's estimate, from both ends of the whole table, can be off by
    several pages for one range, and every page asked for past the short one is wasted server work);
    in the open last range, what is left of the estimate."""
    if hi is not None and seen and step.cursor > lo:
        return math.ceil((hi - step.cursor) * min(1.0, seen / (step.cursor - lo)) / PAGE) + 1
    left = est_pages - len(step.pages)
    return left if left >= 1 else _TAIL_PAGES  # the estimate ran out but pages were full: a few more


def _density(rows: Page, rid: str) -> float:
    """Rows per unit of id among ``rows`` (ascending or descending), at most 1."""
    if len(rows) < 2:
        return 1.0
    span = abs(int(rows[-1][rid]) - int(rows[0][rid]))
    return min(1.0, (len(rows) - 1) / span) if span else 1.0


def _valid(plan: KeysetPlan, rows: Page, cursor: int, hi: int | None) -> bool:
    rid = plan.family.response_id
    last = cursor
    for row in rows:
        try:
            value = int(row[rid])
        except (KeyError, TypeError, ValueError):
            return False
        if value <= last or (hi is not None and value > hi):
            return False
        last = value
    return len(rows) <= PAGE


def _check(plan: KeysetPlan, rows: Page, cursor: int, hi: int | None) -> None:
    if not _valid(plan, rows, cursor, hi):
        raise IncompleteResultError(
            plan.method, detail=f"a page after id {cursor} is not in ascending id order or out of range"
        )


async def _close(source: AsyncIterator[Page]) -> None:
    closer = getattr(source, "aclose", None)
    if closer is not None:
        with contextlib.suppress(Exception):
            await closer()
