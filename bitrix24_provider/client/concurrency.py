"""How many keyset chains one export runs at once, from what the portal reports.

A chain has one request in flight at a time: a batch of up to ``batch_size`` chained pages, which the
portal runs one after another. So a batch takes ``batch_size * page + overhead + round trip`` and an
export of ``P`` pages split over ``n`` chains takes about ``P / (n * batch_size)`` such rounds. The
rule picks the fewest chains that finish the export in **one batch round**, ``ceil(P / batch_size)``,
and lowers that to what the portal lets run at once:

* **the request bucket**: the requests it takes now without waiting (its usable size minus what this
  client, or every client of a shared throttle, has already booked), plus what drains while one
  batch runs. More chains than that would only queue for the bucket. After a 503 the bucket counts as
  full and drains at the lowered rate, so an export split then gets few chains;
* **the operating budget**: one round of ``n`` chains bills ``n * batch_size * page`` seconds of
  server time to the method; no more chains than the budget left pays for (the chains then go on in
  further rounds as the budget allows);
* **the user's cap**, ``ClientSettings.max_parallel_chains``.

Every input is in portal seconds (``time.processing`` of the pages, the round trip measured on the
throttle's clock), so the emulator's ``time_scale`` does not change the answer.
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

    @property
    def batch_seconds(self) -> float:
        """One full batch, from its request to its answer."""
        return self.batch_size * self.page_seconds + self.overhead_seconds + self.round_trip


def chain_count(pace: Pace) -> int:
    """The chains an export runs at once (at least one)."""
    pages = math.ceil(max(0.0, pace.rows) / PAGE) + 1
    limits = [math.ceil(pages / pace.batch_size)]  # one batch round
    limits.append(math.floor(max(0.0, pace.bucket_free) + pace.drain_rate * pace.batch_seconds))
    if pace.operating_left is not None and pace.page_seconds > 0:
        limits.append(math.floor(max(0.0, pace.operating_left) / (pace.batch_size * pace.page_seconds)))
    if pace.cap is not None:
        limits.append(pace.cap)
    return max(1, min(limits))
