"""How many keyset chains one export runs at once, from what the portal reports.

A chain has one request in flight at a time: a batch of up to ``batch_size`` chained pages, which the
portal runs one after another. A round of ``n`` chains over ``P`` pages therefore takes about
``P / n * page + overhead + round trip``: more chains, shorter rounds, but each chain costs a request
of the portal's bucket, and a chain's last page is a guess (:mod:`.chains`). The rule:

* **pages per chain**: at least half a batch, and at least enough that the pages' server time
  outweighs the request's own (``(overhead + round trip) / page``): fewer pages and the request, not
  the pages, is what a chain waits for;
* **the request bucket**: no more chains than it takes now without waiting (its usable size minus
  what this client, or every client of a shared throttle, has booked); when it is full (after a
  503 it counts as full and drains at a lowered rate), what drains while one round runs;
* **the operating budget**: one round bills each chain's pages to the method; no more chains than
  the budget left pays for;
* **memory**: an export of more rows than ``ClientSettings.max_rows_in_flight`` runs no more chains
  than hold that many rows with two batches each (one in flight, one being handed over); a smaller
  export cannot hold more rows than it has;
* **the user's cap**, ``ClientSettings.max_parallel_chains``.

So a large export runs in as few rounds as the bucket allows, in one where it fits (100k rows: 2,000
pages, 47 chains of ~43 pages on a fresh standard-plan bucket), and a small one in few chains (2,000
rows: 2 chains). Every input is in portal seconds (``time.processing`` of the pages, the round trip
measured on the throttle's clock), so the emulator's ``time_scale`` does not change the answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .pages import PAGE


@dataclass(frozen=True)
class Pace:
    """What the client knows when it splits an export.

    :param rows: estimated rows left to export.
    :param page_seconds: server time of one full page, as the portal reported it (``processing``).
    :param overhead_seconds: server time of a batch request beyond its commands.
    :param round_trip: seconds an answer took beyond the server time it reported (network, queues).
    :param bucket_free: requests the bucket lets through now without waiting.
    :param drain_rate: requests per second the bucket lets through after those.
    :param operating_left: seconds of operating budget the method may still spend (None: unknown,
        taken as enough).
    :param batch_size: pages per batch.
    :param cap: the user's ``max_parallel_chains`` (None: no cap).
    :param rows_in_flight: the user's ``max_rows_in_flight`` (None: no bound).
    """

    rows: float
    page_seconds: float
    overhead_seconds: float
    round_trip: float
    bucket_free: float
    drain_rate: float
    operating_left: float | None = None
    batch_size: int = 50
    cap: int | None = None
    rows_in_flight: int | None = None


def pages_per_chain(pace: Pace) -> int:
    """The fewest pages worth a chain of their own: half a batch, or more when the request's own
    time (overhead and round trip) outweighs that many pages' server time."""
    request = pace.overhead_seconds + pace.round_trip
    if request >= pace.batch_size * pace.page_seconds:  # (also no page time reported)
        return pace.batch_size
    return min(pace.batch_size, max(math.ceil(pace.batch_size / 2), math.ceil(request / pace.page_seconds)))


def chain_count(pace: Pace) -> int:
    """The chains an export runs at once (at least one)."""
    pages = math.ceil(max(0.0, pace.rows) / PAGE) + 1
    per_chain = pages_per_chain(pace)
    wanted = math.ceil(pages / per_chain)
    round_seconds = min(pace.batch_size, math.ceil(pages / wanted)) * pace.page_seconds
    round_seconds += pace.overhead_seconds + pace.round_trip
    limits = [wanted]
    limits.append(max(math.floor(max(0.0, pace.bucket_free)), math.floor(pace.drain_rate * round_seconds)))
    if pace.operating_left is not None:
        billed = min(pace.batch_size, math.ceil(pages / wanted)) * pace.page_seconds  # a chain's round
        left = max(0.0, pace.operating_left)
        if left < billed * wanted:  # else it pays for every chain wanted
            limits.append(math.floor(left / billed))
    if pace.rows_in_flight is not None and pace.rows > pace.rows_in_flight:
        limits.append(pace.rows_in_flight // (2 * pace.batch_size * PAGE))
    if pace.cap is not None:
        limits.append(pace.cap)
    return max(1, min(limits))
