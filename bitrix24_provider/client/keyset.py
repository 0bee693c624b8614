"""Keyset paging (contract §3.3), for the families that support the id cursor: ``order`` by id,
``filter >ID`` from the last row seen, ``start=-1`` (no COUNT on the server), pages chained inside
batches by :mod:`.chains`.

**Requests.** The first page is a plain call: a list that fits it costs one request. When it is
full, one batch carries a few chained pages and, riding along, the newest-ids probe (the ids at the
top of the range): a list of a few pages is done in two requests. Only a longer list is split, by
the probe and the density of the ids read, into disjoint id ranges exported by parallel chains.

**Resuming**: the id ranges of an export are reported to ``on_ranges`` as soon as they are known
(first the whole id space, then the split after the first page). A caller that records, per range,
the largest id it has durably stored can later pass the remaining ranges back as ``ranges``: the
export then continues every range from there (splitting large ones again for parallelism) and reads
no row at or below those positions.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .batch import BatchOutcome
from .chains import (
    PROBE,
    ChainEnd,
    Chains,
    Newest,
    Queue,
    Span,
    Step,
    check,
    density,
    read_density,
    valid_newest,
)
from .concurrency import Pace, chain_count, pages_per_chain
from .keyset_plan import KeysetPlan, keyset_plan
from .pages import PAGE, IdRange, OnRanges, Page, is_page, report, rows_of
from .settings import ClientSettings
from .transport import Transport

__all__ = ["KeysetPager", "KeysetPlan", "Timing", "checked_ranges", "keyset_plan"]

#: server time of a page and of a batch's own work before the portal has reported any (contract §8:
#: a CRM list page takes 10-50 ms, a batch adds 20-120 ms)
DEFAULT_PAGE_SECONDS = 0.03


class KeysetPager:
    """Runs keyset exports over one transport."""

    def __init__(self, transport: Transport, settings: ClientSettings) -> None:
        self.settings = settings
        self.chains = Chains(transport, settings)

    async def pages(
        self,
        plan: KeysetPlan,
        limit: int | None = None,
        ranges: list[IdRange] | None = None,
        on_ranges: OnRanges | None = None,
    ) -> AsyncIterator[Page]:
        rid = plan.family.response_id
        timing = Timing()  # a resumed export splits before it has seen a batch
        sample: Page = []
        newest: Page | None = None
        delivered: list[Page] = []  # pages of the opening batch, handed over once the chains run
        opened = 0  # where the first page ended
        if ranges is None:  # a new export: the first page, then a few more with the probe
            report(on_ranges, [(plan.lo, plan.hi)])
            first = await self.chains.direct(plan, plan.params(plan.lo, plan.hi))
            check(plan, first, plan.lo, plan.hi)
            if len(first) < PAGE or (limit is not None and len(first) >= limit):
                if first:
                    yield first
                return
            cursor = int(first[-1][rid])
            opening = self._opening(plan, cursor, None if limit is None else limit - len(first))
            try:
                yield first
                step, newest, timing = await opening
            finally:
                opening.cancel()
                await asyncio.gather(opening, return_exceptions=True)
            top = int(newest[0][rid]) if newest else None
            if step.done or (top is not None and step.cursor >= top):  # nothing after the newest id
                for page in step.pages:
                    yield page
                return
            sample, delivered = [row for page in (first, *step.pages) for row in page], step.pages
            ranges = [(step.cursor, plan.hi)]
            opened = cursor
        ranges = [r for r in ranges if r[1] is None or r[1] > r[0]]
        floor = min((after for after, _ in ranges), default=0)
        if ranges and not newest:  # no probe rode along (a resumed export, a failed command)
            newest = await self.chains.direct(plan, plan.newest_first(floor, plan.hi), count=False)
        if not ranges or not newest:  # nothing left after the lowest position
            for page in delivered:
                yield page
            report(on_ranges, [])
            return
        known = Newest.of([int(row[rid]) for row in newest], floor)
        # rows per id from both ends of the id space (the first pages and the newest ids)
        rate = (density(sample, rid) + density(newest, rid)) / 2 if sample else density(newest, rid)
        pace = self._pace(plan.method, 0.0, timing)
        cap = None if limit is None else limit - len(sample)
        spans = [Span(lo, hi, est) for lo, hi, est in self._split(ranges, known, rate, cap, pace)]
        head = spans[0]

        def ranges_now() -> list[IdRange]:
            # the opening pages are the start of the first range, after the first page
            return [
                (opened if s is head and delivered else s.lo, s.hi) for s in sorted(spans, key=lambda s: s.lo)
            ]

        report(on_ranges, ranges_now())
        queue: Queue = asyncio.Queue(maxsize=2 * len(spans))  # a split adds chains, not buffer
        # one request in flight per chain
        widened = self.chains.transport.gate.widen(len(spans))
        widen_to = await widened.__aenter__()
        tasks = [asyncio.create_task(self.chains.run(plan, span, queue, known)) for span in spans]
        running = len(tasks)
        try:
            for page in delivered:  # the chains already work while the reader takes these
                yield page
            while running:
                item = await queue.get()
                if isinstance(item, ChainEnd):
                    running -= 1
                    if item.error is not None:
                        raise item.error
                else:
                    yield item
                if limit is not None:
                    continue  # a capped export keeps its first split
                added = self._grow(plan.method, spans, known, rate, timing)
                if added:
                    await widen_to(len(tasks) + len(added))
                    tasks += [asyncio.create_task(self.chains.run(plan, s, queue, known)) for s in added]
                    running += len(added)
                    report(on_ranges, ranges_now())
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await widened.__aexit__(None, None, None)

    def _grow(self, method: str, spans: list[Span], known: Newest, rate: float, timing: Timing) -> list[Span]:
        """Chains to add as answers arrive: while the rule (:mod:`.concurrency`) takes more chains for
        the rows left than run now, the running chain with the most rows beyond the batch it has in
        flight hands the upper half of them to a new chain. A chain's own ids say how dense its range
        is, so a split that guessed too few rows (sparse ends, a dense middle) is corrected here."""
        added: list[Span] = []
        live = [s for s in spans if not s.done]
        while live:
            cuts = [(cut, s) for s in live if (cut := _cut(s, known, rate)) is not None]
            if not cuts:
                break
            rows = sum(cut.rows for cut, _ in cuts) + PAGE * sum(s.in_flight for s in live)
            pace = self._pace(method, rows, timing)
            if chain_count(pace) <= len(live):
                break
            cut, span = max(cuts, key=lambda c: c[0].rows)
            if cut.rows < 2 * PAGE * pages_per_chain(pace):
                break  # halves too small to be worth a chain each
            new = Span(cut.at, span.hi, cut.rows / 2, density=cut.density)
            span.hi = cut.at
            span.est_rows = span.seen + PAGE * span.in_flight + cut.rows / 2
            spans.append(new)
            added.append(new)
            live.append(new)
            self.chains.transport.stats.chain_splits += 1
        return added

    def _opening(
        self, plan: KeysetPlan, cursor: int, limit: int | None
    ) -> asyncio.Task[tuple[Step, Page | None, Timing]]:
        """The batch after a full first page: the next page and the newest-ids probe, both from a
        known cursor. Nothing is chained yet: nothing says whether that page will be full. Its
        ``time`` blocks and its round trip give the export's pace (:mod:`.concurrency`)."""
        probe = self.settings.batch_size > 1  # the probe takes one of the batch's commands
        transport = self.chains.transport

        async def run() -> tuple[Step, Page | None, Timing]:
            stats = transport.stats
            waited = stats.bucket_wait_seconds + stats.operating_wait_seconds
            started = transport.clock.monotonic()
            outcome = await self.chains.send(plan, cursor, plan.hi, 1, probe=probe)
            elapsed = transport.clock.monotonic() - started
            elapsed -= stats.bucket_wait_seconds + stats.operating_wait_seconds - waited
            answer = outcome.results.get(PROBE)
            newest = rows_of(answer, plan.family) if is_page(answer, plan.family) else None
            if newest is not None and not valid_newest(plan, newest, cursor):
                newest = None
            top = int(newest[0][plan.family.response_id]) if newest else None
            step = await self.chains.take(plan, outcome, 1, cursor, plan.hi, top)
            return step, newest, Timing.of(outcome, elapsed)

        return asyncio.create_task(run())

    def _pace(self, method: str, rows: float, timing: Timing) -> Pace:
        room = self.chains.transport.throttle.headroom(method)
        return Pace(
            rows=rows,
            page_seconds=timing.page_seconds,
            overhead_seconds=timing.overhead_seconds,
            round_trip=timing.round_trip,
            bucket_free=room.bucket_free,
            drain_rate=room.drain_rate,
            operating_left=room.operating_left,
            batch_size=self.settings.batch_size,
            cap=self.settings.max_parallel_chains,
            rows_in_flight=self.settings.max_rows_in_flight,
        )

    def _split(
        self, ranges: list[IdRange], newest: Newest, density: float, limit: int | None, pace: Pace
    ) -> list[tuple[int, int | None, float]]:
        """``(after, upto, estimated rows)`` per chain: each range cut into as many equal id spans
        as its share of the estimated rows earns it, ``chain_count`` chains in all."""
        top = newest.top
        rows = [newest.rows(after, hi, density) for after, hi in ranges]
        if limit is not None:  # no more pages than the caller wants
            rows = [min(n, float(limit)) for n in rows]
        wanted = chain_count(replace(pace, rows=sum(rows)))
        shares = [1] * len(ranges)
        for _ in range(wanted - len(ranges)):
            i = max(range(len(ranges)), key=lambda n: rows[n] / shares[n])
            shares[i] += 1
        chains: list[tuple[int, int | None, float]] = []
        for (after, hi), share in zip(ranges, shares, strict=True):
            end = min(top, hi) if hi is not None else top
            share = max(1, min(share, end - after))
            edges = [after + (end - after) * i // share for i in range(share)]
            for i, lo in enumerate(edges):
                upto = edges[i + 1] if i + 1 < share else hi
                est = newest.rows(lo, upto, density)
                chains.append((lo, upto, est if limit is None else min(est, float(limit))))
        return chains


@dataclass(frozen=True)
class Cut:
    """Where a running chain's range may be cut: ``at`` halves the ids beyond the batch it has in
    flight, which hold an estimated ``rows``."""

    at: int
    rows: float
    density: float  # rows per id the chain has found in its range


def _cut(span: Span, known: Newest, rate: float) -> Cut | None:
    """The cut of a running ``span`` (None: nothing beyond the batch in flight, or too narrow to halve)."""
    own = max(read_density(span.lo, span.cursor, span.seen) or span.density or rate, 1e-9)
    reach = span.cursor + math.ceil(span.in_flight * PAGE / own)  # what the pending batch covers
    end = span.hi if span.hi is not None else known.top
    if end - reach < 2:
        return None
    rows = known.rows(reach, span.hi, own)
    return Cut(reach + (end - reach) // 2, rows, own) if rows > 0 else None


@dataclass(frozen=True)
class Timing:
    """The pace one batch showed, in portal seconds: a full page's server time, the batch's own
    server time beyond its commands, and the round trip beyond what the portal reported."""

    page_seconds: float = DEFAULT_PAGE_SECONDS
    overhead_seconds: float = DEFAULT_PAGE_SECONDS
    round_trip: float = 0.0

    @classmethod
    def of(cls, outcome: BatchOutcome, elapsed: float) -> Timing:
        commands = [_seconds(block, "processing") for block in outcome.times.values()]
        page = _seconds(outcome.times.get("c0"), "processing")
        processing = _seconds(outcome.time, "processing")
        duration = _seconds(outcome.time, "duration") or processing
        if page is None or processing is None or duration is None:
            return cls()
        overhead = processing - sum(c for c in commands if c is not None)
        return cls(page, max(0.0, overhead), max(0.0, elapsed - duration))


def _seconds(block: Any, key: str) -> float | None:
    value = block.get(key) if isinstance(block, Mapping) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def checked_ranges(ranges: Sequence[IdRange]) -> list[IdRange]:
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
