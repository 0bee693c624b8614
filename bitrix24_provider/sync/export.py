"""The export loop: pages from the client, grouped into chunks, into a destination, with progress
checkpoints that let a retry continue where the last try stopped.

Resuming (SQL destinations, keyset-paged methods): the client reports the id ranges its parallel
chains export (``on_ranges``); every chain delivers its range in ascending id order, so the rows of a
range committed so far are exactly those up to the largest committed id in it. After each committed
chunk the checkpoint records, per range, that id and the range's end; a retry with the same
parameters continues in the same staging table by passing those ranges back to the client. With
Airflow's ``task_state_store`` the checkpoint is written right after the commit, so at most one chunk
is read again; the staging table's primary key absorbs the repeat.

Progress: every page also goes to an :class:`~.progress_log.ExportProgress`, which logs a line every
``progress_interval`` seconds and every tenth of the rows it estimates from the id ranges.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..client.errors import IncompleteResultError
from ..client.families import family_of
from ..client.listing import keyset_plan
from ..client.sync_client import Bitrix
from ..staging.errors import MissingKeyError
from ..staging.sink import Finished, Progress, Row, Sink
from ..staging.watermark import format_time, parse_time
from .id_ranges import carried
from .incremental import Bounds, CursorField
from .progress_log import DEFAULT_INTERVAL, Clock, ExportProgress, ProgressLog, clock_of
from .resume import ResumePoint, ResumeRecorder

log = logging.getLogger(__name__)

#: 50 pages of 50 rows: one chained ``batch`` request of the keyset exporter
DEFAULT_CHUNK_ROWS = 2500


@dataclass(frozen=True)
class ExportRequest:
    """:param params: the list method's parameters, resolved (``select``, ``filter`` with the cursor
        bounds, ``order``...).
    :param key: primary key fields of the rows (empty: no de-duplication).
    :param bounds: the cursor bounds in ``params`` (incremental exports), kept with a resume point.
    :param resumable: whether progress is checkpointed by id ranges (keyset paging).
    :param fingerprint: hash of the run's defining parameters; a checkpoint with another one is stale.
    :param started_at: the portal's time when this export began (see :func:`portal_time`); a resumed
        export keeps the one of its first try.
    :param progress_interval: seconds between progress lines in the log (on the client's clock).
    """

    method: str
    params: dict[str, Any]
    key: tuple[str, ...] = ()
    cursor: CursorField | None = None
    bounds: Bounds | None = None
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    resumable: bool = False
    fingerprint: str = ""
    started_at: str | None = None
    progress_interval: float = DEFAULT_INTERVAL


@dataclass
class ExportResult:
    finished: Finished
    progress: Progress
    resumed: bool = False
    #: the previous try had already committed this load; nothing was exported again
    already_committed: bool = False


def can_resume_by_id(method: str, params: Mapping[str, Any]) -> bool:
    """Whether the client's plan for this export pages by id (keyset), the precondition of resuming
    by id: the client's own paging decision, not a copy of it."""
    return keyset_plan(method, params) is not None


def portal_time(client: Bitrix) -> str:
    """The portal's current time (ISO 8601 with its offset, whole seconds), from its own clock: the
    ``time`` block of a ``server.time`` answer, else its result."""
    answer = client.request("server.time")
    block = answer.get("time") if isinstance(answer, Mapping) else None
    moment = parse_time(block.get("date_start")) if isinstance(block, Mapping) else None
    if moment is None:
        moment = parse_time(answer.get("result") if isinstance(answer, Mapping) else None)
    if moment is None:
        raise IncompleteResultError("server.time", detail=f"no portal time in the answer: {answer!r:.200}")
    return format_time(moment)


class RangeTracker:
    """The id ranges of a keyset export still to commit: ``(after, upto)`` per range, ``after``
    raised to the largest id committed in the range."""

    def __init__(self, ranges: list[tuple[int, int | None]] | None = None) -> None:
        self.ranges = None if ranges is None else list(ranges)
        self.starts = None if ranges is None else [after for after, _ in ranges]

    def on_ranges(self, ranges: list[tuple[int, int | None]] | None) -> None:
        """The client's ``on_ranges`` callback: the export now runs on these ranges (None: it pages by
        offset, so progress cannot be kept by id). A range reported again, or cut in two while the
        export runs (a chain split), keeps what was committed of it: every id of a range from its
        start up to its committed position has been stored."""
        if ranges is None:
            self.ranges = self.starts = None
            return
        reached = [
            (start, position, upto)
            for start, (position, upto) in zip(self.starts or [], self.ranges or [], strict=True)
        ]
        positions = carried(reached, ranges)
        self.ranges = [(position, upto) for position, (_, upto) in zip(positions, ranges, strict=True)]
        self.starts = [after for after, _ in ranges]

    def commit(self, ids: Iterable[int]) -> None:
        ranges = self.ranges
        if not ranges:
            return
        starts = [after for after, _ in ranges]
        for value in ids:
            i = bisect.bisect_left(starts, value) - 1  # the range whose start is below the id
            if i < 0:
                continue  # the first page, before the split: below every range
            after, upto = ranges[i]
            if (upto is None or value <= upto) and value > after:
                ranges[i] = (value, upto)


class _Chunker:
    def __init__(self, request: ExportRequest, sink: Sink, progress: Progress):
        self.request = request
        self.sink = sink
        self.progress = progress
        self.id_field = family_of(request.method).response_id
        self.checkpointing = request.resumable and sink.resumable
        self.tracker = RangeTracker(progress.ranges)
        self.seen: set[tuple[Any, ...]] | None = None if sink.resumable or not request.key else set()
        self.cursor_checked = False

    def flush(self, rows: list[Row]) -> None:
        if not rows:
            return
        request, progress = self.request, self.progress
        if request.cursor is not None:
            self._check_cursor(rows)
            progress.max_cursor = _max_time(
                progress.max_cursor, (r.get(request.cursor.response) for r in rows)
            )
        if self.seen is not None:  # destinations that cannot replace a written row keep the first copy
            rows = self._first_copies(rows)
        if self.checkpointing:
            self.tracker.commit(int(r[self.id_field]) for r in rows if r.get(self.id_field) is not None)
            progress.ranges = None if self.tracker.ranges is None else list(self.tracker.ranges)
        progress.chunks += 1
        self.sink.write(rows)  # a resumable destination records the progress with the rows

    def _check_cursor(self, rows: Sequence[Row]) -> None:
        if self.cursor_checked or self.request.cursor is None:
            return
        name = self.request.cursor.response
        if not any(name in row for row in rows):
            raise MissingKeyError(
                f"cursor_field {self.request.cursor.request!r}: the rows carry no {name!r} (add it to select)"
            )
        self.cursor_checked = True

    def _first_copies(self, rows: list[Row]) -> list[Row]:
        assert self.seen is not None
        kept = []
        for row in rows:
            key = tuple(str(row.get(k)) for k in self.request.key)
            if key not in self.seen:
                self.seen.add(key)
                kept.append(row)
        return kept


def _max_time(current: str | None, values: Iterable[Any]) -> str | None:
    best, best_time = current, parse_time(current)
    for value in values:
        moment = parse_time(value)
        if moment is not None and (best_time is None or moment > best_time):
            best, best_time = str(value), moment
    return best


def run_export(
    client: Bitrix,
    request: ExportRequest,
    sink: Sink,
    *,
    resume: ResumePoint | None = None,
    recorder: ResumeRecorder | None = None,
    clock: Clock | None = None,
) -> ExportResult:
    """Export *request* into *sink*; *resume* is the resume point of an earlier try to continue from;
    *recorder* (the sink's checkpointer) is told the progress it records; *clock* times the progress
    lines (default: the client's).

    Nothing is published unless every page arrived: on any error the sink is left unpublished and the
    exception propagates (the caller decides whether to keep the staging data for a retry).
    """
    progress = replace(resume.progress) if resume is not None else Progress()
    if progress.started_at is None:
        progress.started_at = request.started_at
    resumed = resume is not None and request.resumable and progress.ranges is not None
    ranges = progress.ranges if resumed else None
    if ranges is not None:
        log.info(
            "Resuming %s in %s id ranges (%s rows in %s chunks already staged)",
            request.method,
            len(ranges),
            progress.rows_read,
            progress.chunks,
        )
    if recorder is not None:
        recorder.track(request.params, request.bounds, progress)
    chunker = _Chunker(request, sink, progress)
    lines = ProgressLog(
        interval=request.progress_interval, clock=clock or clock_of(client), done=progress.rows_read
    )
    stats = client.stats
    reporter = ExportProgress(lines, chunker.id_field, progress, requests=lambda: int(stats.http_requests))

    def on_ranges(ranges: list[tuple[int, int | None]] | None) -> None:
        reporter.on_ranges(ranges)
        if chunker.checkpointing:
            chunker.tracker.on_ranges(ranges)

    buffer: list[Row] = []
    pages = client.iter_all(request.method, dict(request.params), ranges=ranges, on_ranges=on_ranges)
    try:
        for page in pages:
            progress.pages += 1
            progress.rows_read += len(page)
            reporter.page(page)
            buffer.extend(page)
            if len(buffer) >= request.chunk_rows:
                chunker.flush(buffer)
                buffer = []
        chunker.flush(buffer)
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()
    reporter.finish()
    finished = sink.finish(progress)
    return ExportResult(finished=finished, progress=progress, resumed=resumed)
