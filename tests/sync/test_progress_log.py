"""Progress lines of exports (``sync.progress_log``), from real exports over HTTP to the emulator.

Time is a clock that moves only when the destination takes a chunk, so the lines are exactly
predictable without sleeping.
"""

from __future__ import annotations

import itertools
import logging
import re
from typing import Any

import pytest

from bitrix24_provider.client import Bitrix
from bitrix24_provider.staging.frame_sink import FrameSink
from bitrix24_provider.sync.export import ExportRequest, ExportResult, run_export
from bitrix24_provider.sync.progress_log import ProgressLog, count, duration

LOGGER = "bitrix24_provider.sync.progress_log"
ESTIMATED = re.compile(
    r"^([\d,]+) of ~([\d,]+) rows \((\d+)%\), (\d+) pages, \d+ requests, [\d,]+ rows/s, ETA "
)


def progress_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def number(text: str) -> int:
    return int(text.replace(",", ""))


class StepClock:
    """Seconds that pass only when the test moves them."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def export(portal: Any, params: dict[str, Any], interval: float, seconds_per_chunk: float) -> ExportResult:
    """crm.deal.list in chunks of 500 rows into a DataFrame destination that takes
    *seconds_per_chunk* of the clock per chunk."""
    clock = StepClock()

    def take(frame: Any) -> None:
        clock.now += seconds_per_chunk

    request = ExportRequest("crm.deal.list", params, ("ID",), chunk_rows=500, progress_interval=interval)
    with Bitrix(portal.webhook_url, verbose=False) as client:
        return run_export(client, request, FrameSink(take, {}, "add"), clock=clock)


def test_a_line_every_interval_when_nothing_estimates_the_total(make_portal, caplog):
    """A custom order pages by offset: no id ranges, no estimate, so only the clock makes lines.
    Page k is read when 4 s have passed per 10 pages before it: lines at 12, 24 and 36 s."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    portal = make_portal(deals=5000)
    result = export(portal, {"order": {"TITLE": "ASC"}}, interval=10, seconds_per_chunk=4)

    assert result.finished.rows == 5000
    lines = progress_lines(caplog)
    assert [line.split(", ")[:2] for line in lines[:-1]] == [
        ["1,550 rows", "31 pages"],
        ["3,050 rows", "61 pages"],
        ["4,550 rows", "91 pages"],
    ]
    assert all(" of " not in line and "ETA" not in line for line in lines)
    assert re.fullmatch(r"Read 5,000 rows in 40 s, 100 pages, \d+ requests, 125 rows/s", lines[-1])


def test_lines_every_tenth_with_the_total_estimated_from_the_id_ranges(make_portal, caplog):
    """Keyset export in parallel id ranges, an interval that never passes: a line per tenth of the
    rows, each with an estimate of the total close to the truth, and an ETA."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    portal = make_portal(deals=10_000)
    result = export(portal, {}, interval=1e9, seconds_per_chunk=1)

    assert result.finished.rows == 10_000
    *lines, last = progress_lines(caplog)
    parsed = [ESTIMATED.match(line) for line in lines]
    assert all(parsed), lines
    rows = [number(m.group(1)) for m in parsed if m]
    estimates = [number(m.group(2)) for m in parsed if m]
    percents = [int(m.group(3)) for m in parsed if m]
    assert 8 <= len(lines) <= 11, lines
    assert rows == sorted(rows) and percents == sorted(set(percents))
    assert all(9_000 <= e <= 11_000 for e in estimates), estimates
    assert all(b - a >= 900 for a, b in itertools.pairwise(rows)), rows  # about a tenth apart, not per page
    assert re.fullmatch(r"Read 10,000 rows in 20 s, 2\d\d pages, \d+ requests, 500 rows/s", last)
    assert "None" not in " ".join([*lines, last])


def test_a_resumed_export_counts_earlier_tries_but_rates_only_this_one(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    clock = StepClock()
    lines = ProgressLog(interval=10, clock=clock, done=4000)
    clock.now = 10
    lines.update(6000, 10_000)
    clock.now = 20
    lines.finish(10_000, pages=200)
    assert progress_lines(caplog) == [
        "6,000 of ~10,000 rows (60%), 200 rows/s, ETA 20 s",
        "Read 10,000 rows (6,000 in this try) in 20 s, 200 pages, 300 rows/s",
    ]


def test_words():
    assert count(1, "rows") == "1 row" and count(12_400, "rows") == "12,400 rows"
    assert [duration(s) for s in (0.05, 0.44, 15.2, 125, 3 * 3600 + 125)] == [
        "< 0.1 s",
        "0.4 s",
        "15 s",
        "2 min 5 s",
        "3 h 2 min",
    ]
    with pytest.raises(ValueError, match="progress interval"):
        ProgressLog(interval=-1)


def test_the_estimate_holds_when_a_range_is_cut_in_two_mid_export() -> None:
    """A chain split while the export runs reports the same id space cut finer: the estimate goes on
    from how far each part has got instead of starting afresh."""
    from bitrix24_provider.staging.sink import Progress
    from bitrix24_provider.sync.progress_log import ExportProgress

    counts = Progress()
    progress = ExportProgress(ProgressLog(interval=0, clock=lambda: 0.0), "ID", counts)
    progress.on_ranges([(0, 1000), (1000, 2000), (2000, None)])  # one row per id: 3,000 rows or so
    for first in (1, 1001, 2001):  # 200 rows read in each range
        page = [{"ID": i} for i in range(first, first + 200)]
        counts.rows_read += len(page)
        progress.page(page)
    before = progress.estimate()
    assert before == 3000
    progress.on_ranges([(0, 1000), (1000, 1600), (1600, 2000), (2000, None)])  # the middle chain cut
    assert progress.positions == [200, 1200, 1600, 2200]
    assert progress.estimate() == before
    progress.on_ranges([(5000, None)])  # a different id space: the estimate starts afresh
    assert progress.estimate() is None
