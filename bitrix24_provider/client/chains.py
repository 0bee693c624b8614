"""Keyset chains: one id range exported by batches of up to 50 pages chained through
``$result[...]`` references (contract §5.5).

A chain stops at its first short page and ignores the commands after it; it sends its next batch
before it hands the pages of the last one to the reader, and sizes its batches from the density of
the ids it has read, so that few commands are asked for past its end (a real portal may serve rows
for them). Every page is checked: ids strictly ascending, inside the chain's range, after the cursor.
An empty page inside a batch is confirmed by a direct call before a chain is declared done (unless it
follows the newest id the probe found), so a batch that silently came back empty cannot truncate
the export.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any

from .batch import BatchOutcome, Command, send_batch
from .errors import IncompleteResultError, OperationTimeLimit
from .keyset_plan import KeysetPlan
from .pages import PAGE, Page, rows_of
from .settings import ClientSettings
from .transport import Transport

#: pages asked for when nothing says how many follow (the batch after a full first page, a chain
#: whose estimate ran out): a list of this many more pages still costs two requests, and the
#: commands past a short page are wasted server work
TAIL_PAGES = 3
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

    async def run(
        self, plan: KeysetPlan, lo: int, hi: int | None, est_pages: int, queue: Queue, top: int | None = None
    ) -> None:
        """Export the id range (lo, hi] with batches of chained pages; the chain's end (or its error)
        is the last item it queues. A cancelled chain queues nothing: its reader is gone. ``top`` is
        the newest id the probe found, if known."""
        error: Exception | None = None
        try:
            await self._run_chain(plan, lo, hi, est_pages, queue, top)
        except Exception as exc:
            error = exc
        await queue.put(ChainEnd(error))

    async def _run_chain(
        self, plan: KeysetPlan, lo: int, hi: int | None, est_pages: int, queue: Queue, top: int | None
    ) -> None:
        cursor, stalled, blocked = lo, 0, 0
        if est_pages <= 2:  # probably one short page or none, e.g. a finished range of a resumed export
            rows = await self.direct(plan, plan.params(cursor, hi))
            check(plan, rows, cursor, hi)
            if rows:
                await queue.put(rows)
                cursor = int(rows[-1][plan.family.response_id])
            if len(rows) < PAGE:
                return
            est_pages = TAIL_PAGES
        size = self._chain_batch_size(est_pages)
        pending = asyncio.create_task(self.send(plan, cursor, hi, size))
        seen = 0  # rows this chain delivered from its batches
        try:
            while True:
                outcome = await pending
                step = await self.take(plan, outcome, size, cursor, hi, top)
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
                    pending = asyncio.create_task(self.send(plan, cursor, hi, size))
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

    def _chain_batch_size(self, est_pages: int) -> int:
        return min(self.settings.batch_size, max(2, est_pages + 1))

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
                self.transport.throttle.budget.block(plan.method)
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


def _remaining_pages(step: Step, est_pages: int, lo: int, hi: int | None, seen: int) -> int:
    """Pages a chain still expects after ``step``. Within a closed range, from the density of the
    ids it has read so far (the split's estimate, from both ends of the whole table, can be off by
    several pages for one range, and every page asked for past the short one is wasted server work);
    in the open last range, what is left of the estimate."""
    if hi is not None and seen and step.cursor > lo:
        return math.ceil((hi - step.cursor) * min(1.0, seen / (step.cursor - lo)) / PAGE) + 1
    left = est_pages - len(step.pages)
    return left if left >= 1 else TAIL_PAGES  # the estimate ran out but pages were full: a few more


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
