"""The lower bound on the time of a full export, against which every client is measured.

Two floors, and the bound is the larger one:

**Portal bound** (from the emulator's own :class:`EmulatorConfig`: cost model, plan bucket, operating
limit): the best any client can do is one cheap probe (page 1, a direct call), then keyset pages of 50
full rows chained 50 to a ``batch`` over parallel ID ranges, with unlimited server parallelism. With
``P = rows // 50 + 1`` pages (the last one short, possibly empty, ends the export),
``B = ceil((P - 1) / 50)`` batches and ``R = 1 + B`` requests:

* latency: the probe, then one batch round: ``probe + batch`` (commands of a batch run one after
  another; ranges run in parallel; each answer adds the cost model's ``per_request`` and the
  emulator's ``round_trip``);
* bucket (X requests, drained at Y/s): request ``R`` cannot be accepted before ``(R - X) / Y``, and
  then still takes a batch: ``max(probe, (R - X) / Y) + batch``;
* operating time: every command's server time is billed (to ``crm.deal.list`` or, with
  ``batch_billing=batch``, to ``batch``) once a hit's sum passes ``operating_min_fix``; a command is
  refused while the window's sum is above ``limit``, so any stretch of ``W' = window - window/baskets``
  (a record stays counted at least that long: baskets expire whole) holds at most ``limit + c``
  seconds, ``c`` = one page + ``min_fix``. ``S`` billed seconds therefore need
  ``k = ceil(S / (limit + c)) - 1`` such stretches: ``k * W' + page``.

Portal seconds become real seconds by dividing by ``time_scale`` (emulator and clients alike).

**CPU floor** (measured, see ``bench.run``): the emulator must build and serialise those rows and the
client must parse them, on a machine with ``cores`` CPUs. A *floor client* (``bench.clients floor``)
fetches the same keyset pages in the same batches from an emulator started with ``--no-cost`` and only
downloads and ``json.loads`` them. Its floor is ``max(its wall time, (emulator CPU + client CPU) /
cores)``, the best over the concurrencies tried.

``python -m bench.lower_bound --deals 20000 100000 1000000 --time-scale 20`` prints the portal part.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass
from typing import Any

from bitrix24_provider.emulator.config import EmulatorConfig

PAGE = 50
BATCH = 50
BILLINGS = ("per_method", "batch")


@dataclass(frozen=True)
class PortalBound:
    rows: int
    billing: str
    time_scale: float
    pages: int
    batches: int
    requests: int
    page_seconds: float  # one keyset page of 50 full rows (portal s)
    probe_seconds: float
    batch_seconds: float  # a full batch: overhead + 50 pages
    billed_seconds: float  # operating time billed for the whole export
    latency_seconds: float
    bucket_seconds: float
    operating_seconds: float
    portal_seconds: float
    real_seconds: float
    limiting: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def portal_bound(rows: int, config: EmulatorConfig) -> PortalBound:
    costs = config.costs

    def page_cost(n: int) -> float:
        return costs.base + costs.per_row * n

    full_pages, last_rows = divmod(rows, PAGE)
    pages = full_pages + 1
    sizes = [PAGE] * full_pages + [last_rows]  # rows per page, in order
    # every answer also takes the request's own server time and the network round trip
    hop = costs.per_request + config.round_trip
    probe = page_cost(sizes[0]) + hop
    rest = sizes[1:]
    batches = [rest[i : i + BATCH] for i in range(0, len(rest), BATCH)]
    batch_costs = [sum(page_cost(n) for n in b) for b in batches]
    longest = costs.batch_overhead + hop + max(batch_costs, default=0.0) if batches else 0.0

    def billed(hit: float) -> float:
        return hit if hit > config.operating_min_fix else 0.0

    billed_total = billed(probe) + sum(billed(c) for c in batch_costs)
    requests = 1 + len(batches)

    latency = probe + longest
    capacity, drain = config.bucket()
    bucket = max(probe, (requests - capacity) / drain) + longest if requests > capacity else latency
    overshoot = page_cost(PAGE) + config.operating_min_fix
    stretch = config.operating_window - config.operating_window / config.operating_baskets
    windows = max(0, math.ceil(billed_total / (config.operating_limit + overshoot)) - 1)
    operating = windows * stretch + page_cost(PAGE) if windows else 0.0

    terms = {"latency": latency, "bucket": bucket, "operating": operating}
    limiting = max(terms, key=lambda k: terms[k])
    portal = terms[limiting]
    return PortalBound(
        rows=rows,
        billing=config.batch_billing,
        time_scale=config.time_scale,
        pages=pages,
        batches=len(batches),
        requests=requests,
        page_seconds=page_cost(PAGE),
        probe_seconds=probe,
        batch_seconds=longest,
        billed_seconds=billed_total,
        latency_seconds=latency,
        bucket_seconds=bucket,
        operating_seconds=operating,
        portal_seconds=portal,
        real_seconds=portal / config.time_scale,
        limiting=limiting,
    )


@dataclass(frozen=True)
class CpuFloor:
    rows: int
    wall_seconds: float  # the floor client's export
    client_cpu_seconds: float
    emulator_cpu_seconds: float
    cores: int
    concurrency: int

    @property
    def seconds(self) -> float:
        return max(self.wall_seconds, (self.client_cpu_seconds + self.emulator_cpu_seconds) / self.cores)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": self.seconds}


@dataclass(frozen=True)
class LowerBound:
    portal: PortalBound
    cpu: CpuFloor | None

    @property
    def seconds(self) -> float:
        return max(self.portal.real_seconds, self.cpu.seconds if self.cpu else 0.0)

    @property
    def dominant(self) -> str:
        if self.cpu is not None and self.cpu.seconds >= self.portal.real_seconds:
            return "cpu"
        return f"portal ({self.portal.limiting})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "dominant": self.dominant,
            "portal": self.portal.as_dict(),
            "cpu": self.cpu.as_dict() if self.cpu else None,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lower_bound", description="the portal bound")
    parser.add_argument("--deals", type=int, nargs="+", default=[20_000, 100_000, 1_000_000])
    parser.add_argument("--billing", nargs="+", default=list(BILLINGS), choices=BILLINGS)
    parser.add_argument("--time-scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    header = (
        f"{'rows':>9} {'billing':>10} {'pages':>6} {'reqs':>5} {'billed s':>9} {'latency':>8} "
        f"{'bucket':>8} {'operating':>9} {'portal s':>9} {'real s':>8}  limiting"
    )
    print(header)
    for rows in args.deals:
        for billing in args.billing:
            config = EmulatorConfig(deals=rows, time_scale=args.time_scale, batch_billing=billing)
            b = portal_bound(rows, config)
            print(
                f"{b.rows:>9} {b.billing:>10} {b.pages:>6} {b.requests:>5} {b.billed_seconds:>9.1f} "
                f"{b.latency_seconds:>8.2f} {b.bucket_seconds:>8.2f} {b.operating_seconds:>9.1f} "
                f"{b.portal_seconds:>9.2f} {b.real_seconds:>8.3f}  {b.limiting}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
