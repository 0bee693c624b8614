"""The default client against fixed chain counts, paired, on every portal profile.

    .venv/bin/python -m bench.profiles --profile fast slow far --deals 100000 --pairs 3 --pin

For each profile (:mod:`bench.portal_profiles`) and pair, our client runs with its defaults and with
``max_parallel_chains`` (and as many requests in flight) fixed at 16, 32 and 48, each against a fresh
emulator, in an order that rotates from pair to pair. The ratio is taken within the pair (default
seconds / fixed seconds), so a slow minute of this shared machine hits both sides; the table shows its
median and range per fixed count, and the default against the best fixed count (the one with the
lowest median time). Completeness is checked against the emulator's ids for every run.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

from .harness import machine
from .portal_profiles import PROFILES
from .run import OUT, QUIET, Run, progress, run_once

DEFAULT = "ours"


def fixed(chains: int) -> str:
    return f"ours:max_parallel_chains={chains},max_concurrent_requests={chains}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profiles", description=__doc__.split("\n")[0])
    parser.add_argument("--profile", nargs="+", default=sorted(PROFILES), choices=sorted(PROFILES))
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--billing", default="per_method", choices=["per_method", "batch"])
    parser.add_argument("--time-scale", type=float, default=1.0, help="portal seconds per real second")
    parser.add_argument("--fixed", type=int, nargs="+", default=[16, 32, 48])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--pin", action="store_true", help="emulator on core 0, client on core 1")
    parser.add_argument(
        "--short-page-reference",
        default="no_rows",
        choices=["no_rows", "from_lowest_id"],
        help="the emulator's reading of a $result reference past a short page",
    )
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--quiet", type=float, nargs=2, default=[0.3, 60.0], metavar=("MAX_BUSY", "MAX_WAIT"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    QUIET["max_busy"], QUIET["max_wait"] = args.quiet
    command = ".venv/bin/python -m bench.profiles " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    print(f"# {command}\n# machine: {json.dumps(machine())}", flush=True)
    specs = [DEFAULT, *(fixed(n) for n in args.fixed)]
    runs: list[Run] = []
    tables: list[str] = []
    for name in args.profile:
        profile = PROFILES[name]
        print(f"\n## {profile.describe()}", flush=True)
        pairs: list[dict[str, Run]] = []
        for i in range(args.pairs):
            order = specs[i % len(specs) :] + specs[: i % len(specs)]
            got: dict[str, Run] = {}
            for spec in order:
                got[spec] = run_once(
                    spec,
                    args.deals,
                    args.billing,
                    args.time_scale,
                    True,
                    args.timeout,
                    profile,
                    args.pin,
                    args.short_page_reference,
                )
                print(progress(got[spec]), flush=True)
                runs.append(got[spec])
            pairs.append(got)
        tables.append(table(profile.describe(), specs, pairs))
    print("\n".join(tables))
    out = args.out or OUT / f"profiles-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"command": command, "machine": machine(), "runs": [r.__dict__ for r in runs]}
    out.write_text(json.dumps(report, indent=1, default=str))
    print(f"\nJSON: {out}")
    return 0


def table(title: str, specs: list[str], pairs: list[dict[str, Run]]) -> str:
    def median(spec: str) -> float:
        return statistics.median(p[spec].seconds for p in pairs)

    best = min(specs[1:], key=median)
    loads = [r.load_before for p in pairs for r in p.values()] + [
        r.load_after for p in pairs for r in p.values()
    ]
    lines = [
        f"\n### {title}: {len(pairs)} pairs, load average {min(loads):.1f}-{max(loads):.1f} "
        f"(best fixed: {short(best)})\n",
        "| client | seconds median (min-max) | default / this, median (min-max) | HTTP | cmds | rows served "
        "| 503 | complete |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for spec in specs:
        seconds = [p[spec].seconds for p in pairs]
        ratio = "-"
        if spec != DEFAULT:
            ratios = [p[DEFAULT].seconds / p[spec].seconds for p in pairs if p[spec].seconds > 0]
            ratio = f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
        runs = [p[spec] for p in pairs]
        complete = sum(r.complete for r in runs)
        lines.append(
            f"| {short(spec)} | {statistics.median(seconds):.2f} ({min(seconds):.2f}-{max(seconds):.2f}) "
            f"| {ratio} | {statistics.median(r.http for r in runs):.0f} "
            f"| {statistics.median(r.commands for r in runs):.0f} "
            f"| {statistics.median(r.rows_served for r in runs):.0f} | {max(r.s503 for r in runs)} "
            f"| {'yes' if complete == len(runs) else f'**{complete}/{len(runs)}**'} |"
        )
    return "\n".join(lines)


def short(spec: str) -> str:
    if spec == DEFAULT:
        return "default"
    return "fixed " + spec.split("max_parallel_chains=")[1].split(",")[0]


if __name__ == "__main__":
    raise SystemExit(main())
