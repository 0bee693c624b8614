"""Ratio to the lower bound from paired runs: each client run is paired with a floor run next to it.

    .venv/bin/python -m bench.paired --deals 20000 100000 --billing batch per_method --pairs 6

On this shared 2-core VM the same work takes ±25 % CPU time from one minute to the next (other engineers'
test runs, the hypervisor), so the median of a few runs per side is not enough to tell 1.1 from 1.3.
Here every pair is one floor run (``bench.clients floor``, emulator ``--no-cost``) and one client run
(cost model on, ``--time-scale``), back to back in alternating order (floor first in even pairs, client
first in odd ones), and the ratio is taken within the pair: client seconds / max(portal bound, that
pair's CPU floor). The table shows the median pair ratio and its range, and the same for the CPU work
(client + emulator CPU seconds) relative to the floor's.

A second ratio divides by the portal bound *plus* the floor. The emulator runs a request's commands
(CPU), then waits the cost model's server time, then encodes the answer (CPU), on one core: when a
batch round's requests arrive together, as an export's chains send them, their CPU work queues up and
the waits follow it, so on this machine an export cannot overlap the two the way ``max`` assumes (a
real portal's servers run requests in parallel, elsewhere). The sum is the bound for that shape; the
``max`` stays the bound for any shape.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from .harness import machine
from .lower_bound import BILLINGS, CpuFloor, portal_bound
from .portal_profiles import PROFILES, profile_config
from .run import NO_COST_SCALE, OUT, QUIET, Run, progress, run_once


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.paired", description=__doc__.split("\n")[0])
    parser.add_argument("--deals", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--billing", nargs="+", default=list(BILLINGS), choices=BILLINGS)
    parser.add_argument("--clients", nargs="+", default=["ours"])
    parser.add_argument("--time-scale", type=float, default=20.0)
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--floor-concurrency", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument(
        "--quiet", type=float, nargs=2, default=[0.15, 300.0], metavar=("MAX_BUSY", "MAX_WAIT")
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="fast", help="portal profile")
    parser.add_argument("--pin", action="store_true", help="emulator on core 0, client on core 1")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    QUIET["max_busy"], QUIET["max_wait"] = args.quiet
    cores = psutil.cpu_count(logical=True) or 1
    command = ".venv/bin/python -m bench.paired " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    print(f"# {command}\n# machine: {json.dumps(machine())}", flush=True)

    rows: list[dict[str, Any]] = []
    runs: list[Run] = []
    for deals in args.deals:
        for billing in args.billing:
            config = profile_config(PROFILES[args.profile], deals, args.time_scale, billing)
            portal = portal_bound(deals, config)
            for spec in args.clients:
                ratios: list[float] = []
                sums: list[float] = []
                works: list[float] = []
                pair_runs: list[tuple[Run, Run]] = []
                for i in range(args.pairs):
                    order = ["floor", "client"] if i % 2 == 0 else ["client", "floor"]
                    got: dict[str, Run] = {}
                    for side in order:
                        if side == "floor":
                            c = args.floor_concurrency
                            got[side] = run_once(
                                f"floor:concurrency={c}",
                                deals,
                                billing,
                                NO_COST_SCALE,
                                False,
                                args.timeout,
                                pin=args.pin,
                            )
                        else:
                            got[side] = run_once(
                                spec,
                                deals,
                                billing,
                                args.time_scale,
                                True,
                                args.timeout,
                                PROFILES[args.profile],
                                args.pin,
                            )
                        print(progress(got[side]), flush=True)
                    floor_run, client_run = got["floor"], got["client"]
                    runs += [floor_run, client_run]
                    pair_runs.append((floor_run, client_run))
                    floor = CpuFloor(
                        deals,
                        floor_run.seconds,
                        floor_run.client_cpu,
                        floor_run.emulator_cpu,
                        cores,
                        args.floor_concurrency,
                    )
                    bound = max(portal.real_seconds, floor.seconds)
                    if client_run.ok and floor_run.complete:
                        ratios.append(client_run.seconds / bound)
                        sums.append(client_run.seconds / (portal.real_seconds + floor.seconds))
                        works.append(
                            (client_run.client_cpu + client_run.emulator_cpu)
                            / (floor_run.client_cpu + floor_run.emulator_cpu)
                        )
                rows.append(
                    {
                        "client": spec,
                        "deals": deals,
                        "billing": billing,
                        "pairs": len(pair_runs),
                        "ok_pairs": len(ratios),
                        "complete": all(c.complete for _, c in pair_runs),
                        "client_seconds_median": statistics.median(c.seconds for _, c in pair_runs),
                        "floor_seconds_median": statistics.median(f.seconds for f, _ in pair_runs),
                        "portal_real_seconds": portal.real_seconds,
                        "ratio_median": statistics.median(ratios) if ratios else None,
                        "ratio_min": min(ratios, default=None),
                        "ratio_max": max(ratios, default=None),
                        "ratios": ratios,
                        "sum_ratio_median": statistics.median(sums) if sums else None,
                        "sum_ratios": sums,
                        "work_median": statistics.median(works) if works else None,
                        "max_503": max(c.s503 for _, c in pair_runs),
                        "max_429": max(c.s429 for _, c in pair_runs),
                        "commands": statistics.median(c.commands for _, c in pair_runs),
                    }
                )

    print(
        f"\n### Paired ratios (time_scale {args.time_scale:g}, floor concurrency {args.floor_concurrency}, "
        f"{args.pairs} pairs)\n"
    )
    print(
        "| client | deals | billing | client s (median) | portal bound s | floor s (median) "
        "| ratio to max, median (min-max) | ratio to sum, median (min-max) "
        "| CPU work / floor (median) | cmds | 503 | 429 | complete |"
    )
    print("|---|---:|---|---:|---:|---:|---|---|---:|---:|---:|---:|---|")
    for r in rows:
        ratio = (
            f"{r['ratio_median']:.2f} ({r['ratio_min']:.2f}-{r['ratio_max']:.2f})"
            if r["ratio_median"] is not None
            else "-"
        )
        summed = (
            f"{r['sum_ratio_median']:.2f} ({min(r['sum_ratios']):.2f}-{max(r['sum_ratios']):.2f})"
            if r["sum_ratio_median"] is not None
            else "-"
        )
        work = f"{r['work_median']:.2f}" if r["work_median"] is not None else "-"
        print(
            f"| {r['client']} | {r['deals']} | {r['billing']} | {r['client_seconds_median']:.2f} "
            f"| {r['portal_real_seconds']:.2f} | {r['floor_seconds_median']:.2f} | {ratio} | {summed} "
            f"| {work} | {r['commands']:.0f} | {r['max_503']} "
            f"| {r['max_429']} | {'yes' if r['complete'] else '**no**'} |"
        )
    out = args.out or OUT / f"paired-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"command": command, "machine": machine(), "rows": rows, "runs": [r.__dict__ for r in runs]}
    out.write_text(json.dumps(report, indent=1, default=str))
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
