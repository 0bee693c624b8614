"""Keyset chains: one id range exported by batches of up to 50 pages chained through
``$result[...]`` references (contract §5.5).

A chain stops at its first short page and ignores the commands after it; it sends its next batch
before it hands the pages of the last one to the reader. **It chains a page only after one its
estimate says will be full**: a batch holds the pages the estimated rows left fill, plus the one after
them (:func:`batch_pages`). A reference past a short page (``$result[c0][49][ID]`` when ``c0`` has
fewer than 50 rows) resolves to the whole page (contract §5.5), and what the portal's filter then does
is unconfirmed: no row may match, or the condition may be dropped and the command read 50 rows from
the lowest id on, billed and then thrown away. The estimate comes from the split (both ends of the
table) and, once the chain has read some of its range, from the density of its own ids. A batch of
one page is a direct call. Every page is checked: ids strictly ascending, inside the chain's range,
after the cursor.
An empty page inside a batch is confirmed by a direct call before a chain is declared done (unless it
follows the newest id the probe found), so a batch that silently came back empty cannot truncate
the export.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import Any

from .batch import BatchOutcome, Command, send_batch
from .errors import IncompleteResultError, OperationTimeLimit
from .keyset_plan import KeysetPlan
from .pages import PAGE, Page, rows_of
from .settings import ClientSettings
from .transport import Transport

#: the key of the newest-ids probe in a chain's batch
PROBE = "top"


@dataclass(frozen=True)
class ChainEnd:
    """Queued by a keyset chain when it has delivered its range (``error`` None) or failed."""

    error: Exception | None = None


Queue = asyncio.Queue[Page | ChainEnd]


@dataclass
class Step:
    """What one batch of a keyset chain gave: its trusted pages, the new cursor, whether the chain's
    range is done, and the operating block that stopped it early."""

    pages: list[Page]
    cursor: int
    done: bool
    block: OperationTimeLimit | None = None

    @property
    def rows(self) -> int:
        return sum(len(page) for page in self.pages)


@dataclass
class Span:
    """The id range (lo, hi] one chain exports, and how far it has got. ``hi`` may be lowered while
    the chain runs (a split hands the rest to a new chain, :mod:`.keyset`): the chain reads it before
    every batch and drops what a batch sent earlier brought from above it. ``in_flight`` is the
    pages of the batch the chain has sent and not yet taken; ``density`` the rows per id expected
    before the chain has read any (None: the split's estimate for the whole table)."""

    lo: int
    hi: int | None
    est_rows: float
    density: float | None = None
    cursor: int = field(init=False)
    seen: int = 0
    in_flight: int = 0
    done: bool = False

    def __post_init__(self) -> None:
        self.cursor = self.lo


@dataclass(frozen=True)
class Newest:
    """The newest-ids probe's answer: ``ids`` ascending; every id above ``known_from`` is among them
    (the probe's cursor when it came back short, else just below its lowest id)."""

    ids: tuple[int, ...]
    known_from: int

    @classmethod
    def of(cls, ids: list[int], after: int) -> Newest:
        ids = sorted(ids)
        return cls(tuple(ids), after if len(ids) < PAGE else ids[0] - 1)

    @property
    def top(self) -> int:
        return self.ids[-1]

    def rows(self, cursor: int, hi: int | None, density: float) -> float:
        """Rows expected in (cursor, hi] (hi None: up to the newest id): those the probe saw, and
        ``density`` rows per id below them."""
        seen = sum(1 for i in self.ids if i > cursor and (hi is None or i <= hi))
        gap = min(self.top if hi is None else hi, self.known_from) - cursor
        return seen + max(0, gap) * density


class Chains:
    """Runs keyset chains over one transport."""

    def __init__(self, transport: Transport, settings: ClientSettings) -> None:
        self.transport = transport
        self.settings = settings

    async def direct(self, plan: KeysetPlan, params: dict[str, Any], count: bool = True) -> Page:
        body = await self.transport.request(plan.method, params)
        rows = rows_of(body["result"], plan.family)
        if count:
            self.transport.stats.rows += len(rows)
        return rows

    async def run(self, plan: KeysetPlan, span: Span, queue: Queue, newest: Newest | None = None) -> None:
        """Export ``span`` with batches of chained pages; the chain's end (or its error) is the last
        item it queues. A cancelled chain queues nothing: its reader is gone. ``newest`` is what the
        probe found."""
        error: Exception | None = None
        self.transport.stats.chains += 1
        try:
            await self._run_chain(plan, span, queue, newest)
        except Exception as exc:
            error = exc
        span.done = True
        await queue.put(ChainEnd(error))

    async def _run_chain(self, plan: KeysetPlan, span: Span, queue: Queue, newest: Newest | None) -> None:
        top = newest.top if newest else None
        stalled, blocked = 0, 0
        span.in_flight = size = batch_pages(span.est_rows, self.settings.batch_size)
        pending = asyncio.create_task(self._step(plan, span.cursor, span.hi, size, top))
        try:
            while True:
                step = self._clip(plan, await pending, span.hi)
                span.cursor, span.in_flight, progressed = step.cursor, 0, len(step.pages)
                span.seen += step.rows
                left = rows_left(span.est_rows, span.lo, span.hi, newest, span.cursor, span.seen)
                blocked = blocked + 1 if step.block is not None and not progressed else 0
                stalled = 0 if progressed or step.block is not None else stalled + 1
                failure = None if step.done else self._chain_failure(plan, step, blocked, stalled, span.hi)
                if not step.done and failure is None:
                    # the next batch goes out before these pages wait for the reader: the portal
                    # works on it while this client hands them over
                    span.in_flight = size = batch_pages(left, self.settings.batch_size)
                    pending = asyncio.create_task(self._step(plan, span.cursor, span.hi, size, top))
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

    def _clip(self, plan: KeysetPlan, step: Step, hi: int | None) -> Step:
        """``step`` without the rows above ``hi``: a split lowered the chain's end after the batch was
        sent. A page past ``hi`` means every row up to it has been read: the chain is done."""
        if hi is None or step.cursor < hi:
            return step
        rid = plan.family.response_id
        pages = [kept for page in step.pages if (kept := [r for r in page if int(r[rid]) <= hi])]
        dropped = step.rows - sum(len(page) for page in pages)
        if dropped:  # read twice: by this chain's earlier batch and by the chain the split made
            self.transport.stats.rows -= dropped
            self.transport.stats.retries["split_overlap"] += 1
        cursor = int(pages[-1][-1][rid]) if pages else hi
        return Step(pages, cursor, True)

    async def _step(self, plan: KeysetPlan, cursor: int, hi: int | None, size: int, top: int | None) -> Step:
        """The next ``size`` pages after ``cursor``: one direct call, or a batch of chained pages."""
        if size == 1:  # a direct answer is trusted as it is (no silently emptied batch command)
            rows = await self.direct(plan, plan.params(cursor, hi))
            check(plan, rows, cursor, hi)
            end = int(rows[-1][plan.family.response_id]) if rows else cursor
            return Step([rows] if rows else [], end, len(rows) < PAGE)
        outcome = await self.send(plan, cursor, hi, size)
        return await self.take(plan, outcome, size, cursor, hi, top)

    def _chain_failure(
        self, plan: KeysetPlan, step: Step, blocked: int, stalled: int, hi: int | None
    ) -> Exception | None:
        """The error that ends an unfinished chain, if any. An operating block resumes the chain after
        the reset, ``operating_retries`` times in a row; then its typed error says when to come back.
        Batches that bring nothing, ``retry.max_attempts`` times in a row, mean rows are missing."""
        if step.block is not None and blocked > self.settings.operating_retries:
            return self.transport.blocked(step.block, (plan.method,))
        if stalled > self.settings.retry.max_attempts:
            return IncompleteResultError(
                plan.method,
                missing_ids=(step.cursor + 1, hi) if hi is not None else None,
                detail=f"the export made no progress after id {step.cursor}",
            )
        return None

    async def send(
        self, plan: KeysetPlan, cursor: int, hi: int | None, size: int, *, probe: bool = False
    ) -> BatchOutcome:
        """``size`` pages after ``cursor``, each command's cursor the last id of the page before;
        with ``probe``, first the newest ids of the range."""
        commands = {PROBE: Command(plan.method, plan.newest_first(cursor, hi))} if probe else {}
        commands["c0"] = Command(plan.method, plan.params(cursor, hi))
        for i in range(1, size):
            commands[f"c{i}"] = Command(plan.method, plan.params(plan.family.reference(f"c{i - 1}"), hi))
        return await send_batch(self.transport, commands)

    async def take(
        self, plan: KeysetPlan, outcome: BatchOutcome, size: int, cursor: int, hi: int | None, top: int | None
    ) -> Step:
        """The pages of one chained batch up to its first short page, an operating block, or a
        command whose page cannot be trusted (missing, out of order); the chain goes on from there.
        An empty page is confirmed by a direct call unless the probe's newest id ``top`` says that
        no row follows its cursor."""
        stats = self.transport.stats
        pages: list[Page] = []
        for i in range(size):
            key = f"c{i}"
            error = outcome.errors.get(key)
            if isinstance(error, OperationTimeLimit):
                self.transport.throttle.blocked(plan.method)
                stats.retries["operation_time_limit"] += 1
                return Step(pages, cursor, False, error)
            if error is not None:
                raise error
            if key not in outcome.results:
                stats.retries["missing_command"] += 1
                break
            rows = rows_of(outcome.results[key], plan.family)
            if not _valid(plan, rows, cursor, hi):
                stats.retries["corrupt_page"] += 1
                break
            confirmed = not rows and (top is None or cursor < top)
            if confirmed:  # an empty page in a batch may be a silently emptied one: confirm
                rows = await self.direct(plan, plan.params(cursor, hi))
                check(plan, rows, cursor, hi)
                if rows:
                    stats.retries["silent_empty"] += 1
            else:
                stats.rows += len(rows)
            if rows:
                pages.append(rows)
                cursor = int(rows[-1][plan.family.response_id])
            if len(rows) < PAGE:
                return Step(pages, cursor, True)
            if confirmed:
                break  # the rest of this batch was emptied too: go on from the new cursor
        return Step(pages, cursor, False)


def batch_pages(rows_left: float, batch_size: int) -> int:
    """Pages in a chain's next batch: those the estimated rows left fill, each of which the next
    command may chain after, plus the one after them (short if the estimate holds, else the next
    batch starts from it); at least one, at most ``batch_size``."""
    return max(1, min(batch_size, math.floor(max(0.0, rows_left) / PAGE) + 1))


def rows_left(
    est_rows: float, lo: int, hi: int | None, newest: Newest | None, cursor: int, seen: int
) -> float:
    """Rows a chain still expects after ``cursor``: from the density of the ids it has read (the
    split's estimate, from both ends of the whole table, can be off by pages for one range) and the
    ids the probe saw; rows added since the probe are found by the page after the newest id.
    Without either, what is left of the split's estimate."""
    rate = read_density(lo, cursor, seen)
    if rate is not None:
        if newest is not None:
            return newest.rows(cursor, hi, rate)
        if hi is not None:
            return max(0, hi - cursor) * rate
    return max(0.0, est_rows - seen)


def read_density(lo: int, cursor: int, seen: int) -> float | None:
    """Rows per id a chain has found from ``lo`` up to ``cursor`` (``seen`` rows; at most 1), None
    before it has read any."""
    return min(1.0, seen / (cursor - lo)) if seen and cursor > lo else None


def density(rows: Page, rid: str) -> float:
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


def valid_newest(plan: KeysetPlan, rows: Page, cursor: int) -> bool:
    """Whether a probe's ids are usable: descending, above ``cursor``, inside the plan's range."""
    return _valid(plan, rows[::-1], cursor, plan.hi)


def check(plan: KeysetPlan, rows: Page, cursor: int, hi: int | None) -> None:
    if not _valid(plan, rows, cursor, hi):
        raise IncompleteResultError(
            plan.method, detail=f"a page after id {cursor} is not in ascending id order or out of range"
        )
