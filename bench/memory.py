"""Streaming export at growing table sizes: time should grow linearly with the rows, peak RSS should not.

    .venv/bin/python -m bench.memory --deals 200000 500000 1000000                      # --no-cost emulator
    .venv/bin/python -m bench.memory --deals 200000 500000 1000000 --cost --time-scale 200

Each size gets a fresh emulator subprocess and one client subprocess that streams ``crm.deal.list``
(default select, full rows) with ``BitrixAsync.iter_all`` and keeps only a bitmap of the IDs (for the
completeness check). Without ``--cost`` the emulator answers at once and its limits drain at once
(``time_scale`` 1e6), so the time measures the CPU work of both processes; with ``--cost`` the default
cost model, bucket and operating window apply at the given ``time_scale`` (at 1M rows the export bills
more than the 480 s operating budget, so the client has to wait for the window).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from bitrix24_provider.emulator.config import EmulatorConfig

from .harness import machine
from .lower_bound import portal_bound
from .run import NO_COST_SCALE, OUT, Run, run_once


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n")[0])
    parser.add_argument("--deals", type=int, nargs="+", default=[200_000, 500_000, 1_000_000])
    parser.add_argument("--client", default="ours", help="a bench.clients spec (default: ours, iter_all)")
    parser.add_argument("--cost", action="store_true", help="apply the cost model (default: --no-cost)")
    parser.add_argument("--time-scale", type=float, default=200.0, help="with --cost: portal s per real s")
    parser.add_argument("--billing", default="per_method", choices=["per_method", "batch"])
    parser.add_argument("--timeout", type=float, default=1200.0, help="real seconds per run")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    scale = args.time_scale if args.cost else NO_COST_SCALE
    command = ".venv/bin/python -m bench.memory " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    print(f"# {command}\n# machine: {json.dumps(machine())}", flush=True)

    runs: list[Run] = []
    for deals in args.deals:
        run = run_once(args.client, deals, args.billing, scale, args.cost, args.timeout)
        runs.append(run)
        print(f"  {deals}: {run.seconds:.1f} s, peak RSS {run.rss_peak_mb:.0f} MB, complete={run.complete}, "
              f"{'ok' if run.ok else run.error}", flush=True)  # fmt: skip

    mode = f"cost model, time_scale {args.time_scale:g}" if args.cost else "emulator --no-cost"
    print(f"\n### Streaming export, {args.client} ({mode})\n")
    print(
        "| deals | seconds | s per 100k rows | rows/s | peak RSS MB (baseline) | HTTP | cmds | 503 | 429 "
        "| complete | client CPU s | emulator CPU s | portal bound real s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for run in runs:
        config = EmulatorConfig(deals=run.deals, time_scale=scale, batch_billing=args.billing)  # type: ignore[arg-type]
        portal = portal_bound(run.deals, config).real_seconds if args.cost else 0.0
        complete = "yes" if run.complete else f"**no** ({run.missing} missing, {run.dupes} dupes)"
        if run.error:
            complete += f" {run.error[:200]}"
        print(
            f"| {run.deals} | {run.seconds:.1f} | {run.seconds / run.deals * 100_000:.2f} "
            f"| {run.rows_per_second:,.0f} | {run.rss_peak_mb:.0f} ({run.rss_baseline_mb:.0f}) | {run.http} "
            f"| {run.commands} | {run.s503} | {run.s429} | {complete} | {run.client_cpu:.1f} "
            f"| {run.emulator_cpu:.1f} | {portal:.2f} |"
        )
    out = args.out or OUT / f"memory-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"command": command, "machine": machine(), "mode": mode, "runs": [r.__dict__ for r in runs]},
            indent=1,
            default=str,
        )
    )
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
