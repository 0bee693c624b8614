"""Progress lines for task logs, which are not terminals (a tqdm bar never draws there).

A long export or call logs a line at a steady interval and at least every tenth of the estimated
total, so that a user watching the log can tell working from hung::

    12,400 of ~50,000 rows (25%), 248 pages, 9 requests, 3,100 rows/s, ETA 15 s

and one last line when it is done. No orchestrator code: the Airflow operators (and any other
adapter) feed it what they already have, the pages of an export (:class:`ExportProgress`, which
estimates the total from the id ranges the client reports) or the items a call has done so far
(:func:`call_with_progress`). Time comes from an injectable clock (the client's, which runs on the
emulator's fast-forwarded time in tests).
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..staging.sink import Progress
from .id_ranges import carried

__all__ = ["DEFAULT_INTERVAL", "ExportProgress", "ProgressLog", "call_with_progress", "clock_of", "count"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], float]

#: seconds between two progress lines
DEFAULT_INTERVAL = 10.0
#: a line at least every this fraction of the (estimated) total
STEP = 0.1


def clock_of(client: Any) -> Clock:
    """The monotonic clock of a client (``Bitrix`` or ``BitrixAsync``): portal seconds, fast-forwarded
    with its ``time_scale``; else the process's."""
    clock = getattr(getattr(client, "aio", client), "clock", None)
    return clock.monotonic if clock is not None else time.monotonic


def count(n: int, unit: str) -> str:
    """``1 row``, ``12,400 rows``."""
    return f"{n:,} {unit if n != 1 else unit.removesuffix('s')}"


def duration(seconds: float) -> str:
    """``0.4 s``, ``15 s``, ``2 min 5 s``, ``1 h 3 min``."""
    if seconds < 0.1:
        return "< 0.1 s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def _rate(per_second: float, unit: str) -> str:
    return f"{per_second:,.0f} {unit}/s" if per_second >= 10 else f"{per_second:.1f} {unit}/s"


class ProgressLog:
    """Decides when a progress line is due and writes it.

    :param unit: what is counted (``rows``, ``items``).
    :param interval: seconds (on *clock*) between two lines; 0 logs at every update. A line is also
        due when a tenth of the (estimated) total has passed since the last one.
    :param clock: monotonic seconds.
    :param done: what earlier tries already did (a resumed export): counted, but not in the rate.
    """

    def __init__(
        self,
        unit: str = "rows",
        *,
        interval: float = DEFAULT_INTERVAL,
        clock: Clock = time.monotonic,
        done: int = 0,
    ) -> None:
        if not interval >= 0:
            raise ValueError(f"the progress interval must be 0 or more seconds, got {interval!r}")
        self.unit, self.interval, self.clock = unit, interval, clock
        self.started = self.last_time = clock()
        self.before = self.last_done = done

    def update(
        self,
        done: int,
        total: int | None = None,
        *,
        exact: bool = False,
        pages: int | None = None,
        requests: int | None = None,
    ) -> None:
        """Log a line if one is due. *total*: the expected count (*exact*, or an estimate)."""
        now = self.clock()
        due = now - self.last_time >= self.interval
        if not due and total:
            due = done - self.last_done >= STEP * total
        if not due:
            return
        parts = [self._done(done, total, exact), *self._counters(pages, requests)]
        rate = self._per_second(done, now)
        if rate:
            parts.append(_rate(rate, self.unit))
            if total and total > done:
                parts.append(f"ETA {duration((total - done) / rate)}")
        elif done == self.before:
            parts.append(f"nothing yet after {duration(now - self.started)}")
        log.info("%s", ", ".join(parts))
        self.last_time, self.last_done = now, done

    def finish(
        self,
        done: int,
        *,
        total: int | None = None,
        pages: int | None = None,
        requests: int | None = None,
        verb: str = "Read",
    ) -> None:
        """The last line: ``Read 50,000 rows in 16 s, 1,000 pages, 25 requests, 3,125 rows/s``."""
        now = self.clock()
        what = f"{done:,} of {count(total, self.unit)}" if total is not None else count(done, self.unit)
        if self.before:
            what += f" ({done - self.before:,} in this try)"
        parts = [f"{verb} {what} in {duration(now - self.started)}", *self._counters(pages, requests)]
        rate = self._per_second(done, now)
        if rate:
            parts.append(_rate(rate, self.unit))
        log.info("%s", ", ".join(parts))

    def _done(self, done: int, total: int | None, exact: bool) -> str:
        if not total:
            return count(done, self.unit)
        shown = max(total, done)
        percent = min(99, int(100 * done / shown)) if done < shown else 100
        return f"{done:,} of {'' if exact else '~'}{count(shown, self.unit)} ({percent}%)"

    @staticmethod
    def _counters(pages: int | None, requests: int | None) -> list[str]:
        return [count(n, unit) for n, unit in ((pages, "pages"), (requests, "requests")) if n is not None]

    def _per_second(self, done: int, now: float) -> float:
        elapsed = now - self.started
        return (done - self.before) / elapsed if elapsed > 0 and done > self.before else 0.0


class ExportProgress:
    """Progress of one export, fed with its pages; the total is estimated from the id ranges.

    The client reports the id ranges its parallel chains export (``on_ranges``), each delivered in
    ascending id order, so how far a range has got is the largest id read in it. Rows read since
    the ranges were reported, divided by the share of the ranges' id span covered so far, estimate
    the rows still to come (ids are spread evenly enough over a table). The open last range (no
    upper end) is taken to be as wide as the one before it: the client cuts the id space into equal
    spans. Offset paging and a single open range give no estimate: the lines then count rows only.

    :param id_field: the rows' id key (``ID``, ``id``).
    :param counts: the export's rows and pages (of all its tries), which the export loop keeps.
    :param requests: the client's HTTP request count so far.
    """

    def __init__(
        self,
        log: ProgressLog,
        id_field: str,
        counts: Progress,
        *,
        requests: Callable[[], int] | None = None,
    ) -> None:
        self.log = log
        self.id_field = id_field
        self.counts = counts
        self.requests = requests
        self.ranges: list[tuple[int, int | None]] = []
        self.starts: list[int] = []  # each range's lower end, for bisect
        self.positions: list[int] = []  # the largest id read in each range
        self.rows_at_ranges = 0
        self.end: int | None = None  # where the open last range is taken to end

    def on_ranges(self, ranges: list[tuple[int, int | None]] | None) -> None:
        """The client's ``on_ranges`` callback (ascending, disjoint ``(after, upto)`` ranges). Ranges
        that cut the same id space finer (a chain split while the export runs) keep how far each part
        has got; other ranges start the estimate afresh."""
        new = list(ranges or [])
        split = bool(new and self.ranges) and (new[0][0], new[-1][1]) == (
            self.ranges[0][0],
            self.ranges[-1][1],
        )
        reached = [
            (start, position, upto)
            for start, position, (_, upto) in zip(self.starts, self.positions, self.ranges, strict=True)
        ]
        self.ranges = new
        self.starts = [after for after, _ in new]
        self.positions = carried(reached if split else [], new)
        if not split:
            self.rows_at_ranges = self.counts.rows_read
            self.end = _open_end(new)  # a later cut of the last ranges keeps it

    def page(self, page: Sequence[dict[str, Any]]) -> None:
        """*page* was read (and counted in ``counts``): log a line if one is due."""
        if page and self.ranges:
            last = page[-1].get(self.id_field)
            if isinstance(last, (int, str)) and str(last).isdigit():
                self._advance(int(last))
        self.log.update(
            self.counts.rows_read, self.estimate(), pages=self.counts.pages, requests=self._requests()
        )

    def finish(self) -> None:
        self.log.finish(self.counts.rows_read, pages=self.counts.pages, requests=self._requests())

    def _advance(self, last_id: int) -> None:
        """A page of a range ends at *last_id*: the range got that far."""
        i = bisect.bisect_left(self.starts, last_id) - 1
        if i >= 0:
            upto = self.ranges[i][1]
            if upto is None or last_id <= upto:
                self.positions[i] = max(self.positions[i], last_id)

    def estimate(self) -> int | None:
        """The export's estimated total rows, None while nothing tells."""
        ranges = self.ranges
        if not ranges:
            return None
        span = covered = 0
        for (lo, hi), position in zip(ranges, self.positions, strict=True):
            if hi is None:  # the open last range, up to where the first report put its end
                if self.end is None:
                    return None
                width = max(0, self.end - lo)
                span, covered = span + width, covered + min(position - lo, width)
            else:
                span, covered = span + (hi - lo), covered + (position - lo)
        if covered <= 0 or span <= 0:
            return None
        rows = self.counts.rows_read
        return max(rows, round(self.rows_at_ranges + (rows - self.rows_at_ranges) * span / covered))

    def _requests(self) -> int | None:
        return self.requests() if self.requests is not None else None


def _open_end(ranges: Sequence[tuple[int, int | None]]) -> int | None:
    """Where the open last range is taken to end: as wide as the one before it (the client cuts the
    id space into equal spans); None without a closed range before an open last one."""
    if len(ranges) < 2:
        return None
    (last, upto), (before, before_upto) = ranges[-1], ranges[-2]
    if upto is not None or before_upto is None:
        return None
    return last + before_upto - before


def call_with_progress(
    call: Callable[[], T],
    log: ProgressLog,
    total: int,
    done: Callable[[], int],
    *,
    requests: Callable[[], int] | None = None,
    time_scale: float = 1.0,
) -> T:
    """Run *call* (a blocking client call) in a daemon thread; meanwhile log what *done* reports
    whenever a line is due, then the last line. Its result or exception passes through.

    *done* is sampled a few times per interval (at most every second of real time; *time_scale*:
    clock seconds per real second). A daemon thread, so a killed task does not wait for the call.
    """
    outcome: dict[str, Any] = {}
    finished = threading.Event()

    def work() -> None:
        try:
            outcome["result"] = call()
        except BaseException as error:
            outcome["error"] = error
        finally:
            finished.set()

    def sent() -> int | None:
        return requests() if requests is not None else None

    tick = max(0.02, min(1.0, log.interval / time_scale / 4))
    threading.Thread(target=work, name="bitrix24-call", daemon=True).start()
    while not finished.wait(tick):
        log.update(min(done(), total), total, exact=True, requests=sent())
    if "error" in outcome:
        raise outcome["error"]
    log.finish(total, total=total, requests=sent(), verb="Finished")
    return outcome["result"]  # type: ignore[no-any-return]
