"""Export benchmark: our client against fast_bitrix24, b24pysdk's fast list and a naive paginator, on the
bundled emulator with its default cost model, fast-forwarded by ``--time-scale``.

    .venv/bin/python -m bench.run --deals 20000 100000 --billing per_method batch --time-scale 20 \\
        --clients ours fast_bitrix24 b24pysdk naive --repeat 3

Every client run gets a fresh emulator subprocess (``python -m bitrix24_provider.emulator``, so the
bucket, the operating window and the counters start empty, and its CPU time is its own) and runs in a
subprocess of its own (``python -m bench.clients``, so peak RSS is per client). Every client exports
``crm.deal.list`` with the default select (no ``select``: full rows). HTTP requests, commands, 503s and
429s are the emulator's counts; completeness is checked against ``GET /_emulator/ids/deal``.

Per row count, the CPU floor is measured first: ``bench.clients floor`` against an emulator started with
``--no-cost`` (see :mod:`bench.lower_bound`). The ratio column is measured time / lower bound, where the
lower bound is max(portal bound, CPU floor).

Prints markdown tables and writes everything (without ID bitmaps) to ``bench/out/run-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import psutil

from .harness import (
    Emulator,
    busy_cpu_seconds,
    children_cpu_seconds,
    code_version,
    completeness,
    machine,
    run_client,
    wait_until_quiet,
)
from .lower_bound import BILLINGS, CpuFloor, LowerBound, PortalBound, portal_bound
from .portal_profiles import PIN, PROFILES, Profile, profile_config

OUT = Path(__file__).resolve().parent / "out"
NO_COST_SCALE = 1_000_000.0  # limits drain at once on the floor emulator; it has no cost to wait for


@dataclass
class Run:
    """One client run against one fresh emulator."""

    client: str
    deals: int
    billing: str
    time_scale: float
    ok: bool
    error: str | None
    seconds: float
    http: int
    http_by_status: dict[str, int]
    commands: int
    rows_served: int
    unique: int
    missing: int
    unexpected: int
    dupes: int
    complete: bool
    rss_peak_mb: float
    rss_baseline_mb: float
    client_cpu: float
    emulator_cpu: float
    max_in_flight: int | None
    operation_time_limit: int  # command-level OPERATION_TIME_LIMIT the client saw (when it says)
    bucket_high_water: float
    load_before: float
    busy_before: float  # share of the machine other processes used just before the run (0..1)
    background_cores: float  # CPU other processes used during the run, in cores (of 2)
    extra: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    code: str = "?"  # git commit of the repository during the run
    profile: str = "fast"  # the emulator's portal profile (bench/portal_profiles.py)
    pinned: bool = False  # emulator on core 0, client on core 1
    load_after: float = 0.0  # 1-minute load average right after the run
    short_page_reference: str = "no_rows"  # the emulator's reading of a reference past a short page

    @property
    def s503(self) -> int:
        return int(self.http_by_status.get("503", 0))

    @property
    def s429(self) -> int:
        return int(self.http_by_status.get("429", 0))

    @property
    def rows_per_second(self) -> float:
        return self.unique / self.seconds if self.seconds > 0 else 0.0


#: before each run, wait (bounded) until other processes use at most this share of the machine
QUIET = {"max_busy": 0.15, "max_wait": 120.0}


def run_once(
    spec: str,
    deals: int,
    billing: str,
    time_scale: float,
    cost: bool,
    timeout: float,
    profile: Profile = PROFILES["fast"],
    pin: bool = False,
    short_page_reference: str = "no_rows",
) -> Run:
    """One client run against a fresh emulator with ``profile``'s costs; ``pin`` puts the emulator
    on core 0 and the client on core 1 (``taskset``), as if the portal were another machine."""
    load = os.getloadavg()[0]
    version = code_version()
    busy_before = wait_until_quiet(QUIET["max_busy"], QUIET["max_wait"])
    emulator_cpus, client_cpus = PIN if pin else (None, None)
    with Emulator(
        deals,
        billing=billing,
        time_scale=time_scale,
        cost=cost,
        costs=profile.costs,
        round_trip=profile.round_trip,
        cpus=emulator_cpus,
        short_page_reference=short_page_reference,
    ) as emulator:
        cpu0, busy0, kids0 = emulator.cpu_seconds(), busy_cpu_seconds(), children_cpu_seconds()
        child = run_client(spec, emulator.webhook, time_scale, timeout, client_cpus)
        emulator_cpu = emulator.cpu_seconds() - cpu0
        own = emulator_cpu + children_cpu_seconds() - kids0
        background = max(0.0, busy_cpu_seconds() - busy0 - own) / max(child.wall_seconds, 1e-9)
        stats = emulator.stats()
        expected = emulator.expected_ids()
    result = child.result
    check = completeness(result.get("bitmap", ""), expected, int(result.get("dupes", 0)))
    extra = dict(result.get("extra") or {})
    error = result.get("error")
    otl = 0
    client_stats = extra.get("client_stats")
    if isinstance(client_stats, dict):
        otl = int(client_stats.get("retries", {}).get("operation_time_limit", 0))
    else:
        otl = int((result.get("error_codes") or {}).get("OPERATION_TIME_LIMIT", 0))
    if not result.get("ok") and child.stderr_tail and "traceback" not in result:
        extra["stderr_tail"] = child.stderr_tail
    return Run(
        client=spec,
        deals=deals,
        billing=billing,
        time_scale=time_scale,
        ok=bool(result.get("ok")),
        error=error,
        seconds=float(result.get("seconds", child.wall_seconds)),
        http=int(stats.get("http_requests", 0)),
        http_by_status={str(k): int(v) for k, v in stats.get("http_by_status", {}).items()},
        commands=int(stats.get("commands", 0)),
        rows_served=int(stats.get("rows_served", 0)),
        unique=check["unique"] - check["unexpected"],
        missing=check["missing"],
        unexpected=check["unexpected"],
        dupes=check["dupes"],
        complete=bool(result.get("ok")) and check["complete"],
        rss_peak_mb=float(result.get("rss_peak_mb", 0.0)),
        rss_baseline_mb=float(result.get("rss_baseline_mb", 0.0)),
        client_cpu=float(result.get("cpu_seconds", 0.0)),
        emulator_cpu=emulator_cpu,
        max_in_flight=stats.get("max_in_flight"),
        operation_time_limit=otl,
        bucket_high_water=float(stats.get("bucket_high_water", 0.0)),
        load_before=load,
        busy_before=busy_before,
        background_cores=background,
        code=version,
        extra=extra,
        warnings=list(result.get("warnings") or []),
        profile=profile.name,
        pinned=pin,
        load_after=os.getloadavg()[0],
        short_page_reference=short_page_reference,
    )


def median_run(runs: list[Run]) -> Run:
    """The run with the median time (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda r: r.seconds)
    return ordered[(len(ordered) - 1) // 2]


def measure_floor(
    deals: int, concurrencies: list[int], repeat: int, timeout: float, log: list[Run], pin: bool = False
) -> tuple[CpuFloor, dict[int, list[Run]]]:
    cores = psutil.cpu_count(logical=True) or 1
    runs: dict[int, list[Run]] = {c: [] for c in concurrencies}
    for _ in range(repeat):
        for c in concurrencies:
            run = run_once(
                f"floor:concurrency={c}", deals, "per_method", NO_COST_SCALE, False, timeout, pin=pin
            )
            print(f"  floor c={c}: {run.seconds:.2f} s, client CPU {run.client_cpu:.2f} s, "
                  f"emulator CPU {run.emulator_cpu:.2f} s, complete={run.complete}", flush=True)  # fmt: skip
            runs[c].append(run)
            log.append(run)

    def floor_of(run: Run, c: int) -> CpuFloor:
        return CpuFloor(deals, run.seconds, run.client_cpu, run.emulator_cpu, cores, c)

    candidates = []
    for c, rs in runs.items():
        ok = [r for r in rs if r.complete]
        if ok:
            floors = sorted((floor_of(r, c) for r in ok), key=lambda f: f.seconds)
            candidates.append(floors[(len(floors) - 1) // 2])
    if not candidates:
        raise RuntimeError(f"no complete floor run for {deals} deals")
    return min(candidates, key=lambda f: f.seconds), runs


# -- output -----------------------------------------------------------------------------------


def progress(run: Run) -> str:
    status = "ok" if run.ok else f"FAILED: {(run.error or '')[:160]}"
    return (
        f"  {run.client}: {run.seconds:.2f} s, {run.http} HTTP, {run.s503} x 503, {run.s429} x 429, "
        f"complete={run.complete} ({run.missing} missing, {run.dupes} dupes), "
        f"RSS {run.rss_peak_mb:.0f} MB, client CPU {run.client_cpu:.2f} s (JSON {_json_cpu(run)} s), {status}"
    )


def _fmt_complete(runs: list[Run]) -> str:
    worst = max(runs, key=lambda r: (not r.complete, r.missing + r.dupes + r.unexpected))
    text = "yes" if all(r.complete for r in runs) else "**no**"
    if worst.missing or worst.dupes or worst.unexpected:
        text += f" ({worst.missing} missing, {worst.dupes} dupes)"
    if len(runs) > 1:
        text += f" [{sum(r.complete for r in runs)}/{len(runs)}]"
    return text


Groups = dict[tuple[int, str, str], list[Run]]
Bounds = dict[tuple[int, str], LowerBound]


def result_table(groups: Groups, bounds: Bounds) -> str:
    header = (
        "| client | deals | billing | seconds | HTTP | cmds | 503 | 429 (+OTL cmds) | rows/s "
        "| peak RSS MB | complete | client CPU s | of it JSON s | emulator CPU s | other load "
        "| lower bound s | ratio | CPU work / floor |\n"
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [header]
    for (deals, billing, client), runs in groups.items():
        run = median_run(runs)
        bound = bounds.get((deals, billing))
        lb = bound.seconds if bound else float("nan")
        seconds = f"{run.seconds:.2f}"
        if len(runs) > 1:
            seconds += f" ({min(r.seconds for r in runs):.1f}-{max(r.seconds for r in runs):.1f})"
        if not run.ok:
            seconds += " FAILED" if "timeout" not in (run.error or "") else " TIMEOUT"
        otl = f"{run.s429}" + (f" (+{run.operation_time_limit})" if run.operation_time_limit else "")
        ratio = f"{run.seconds / lb:.2f}" if run.ok and lb == lb else "-"
        work = "-"
        if bound is not None and bound.cpu is not None and run.ok:
            floor_work = bound.cpu.client_cpu_seconds + bound.cpu.emulator_cpu_seconds
            work = f"{(run.client_cpu + run.emulator_cpu) / floor_work:.2f}"
        lines.append(
            f"| {client} | {deals} | {billing} | {seconds} | {run.http} | {run.commands} | {run.s503} "
            f"| {otl} | {run.rows_per_second:,.0f} | {run.rss_peak_mb:.0f} | {_fmt_complete(runs)} "
            f"| {run.client_cpu:.2f} | {_json_cpu(run)} | {run.emulator_cpu:.2f} "
            f"| {run.background_cores:.2f} | {lb:.2f} | {ratio} | {work} |"
        )
    return "\n".join(lines)


def _json_cpu(run: Run) -> str:
    """CPU seconds our client spent decoding answers (its ``json_cpu_seconds``), ``-`` for other clients."""
    stats = run.extra.get("client_stats")
    value = stats.get("json_cpu_seconds") if isinstance(stats, dict) else None
    return f"{value:.2f}" if isinstance(value, (int, float)) else "-"


def bound_table(bounds: dict[tuple[int, str], LowerBound]) -> str:
    lines = [
        "| deals | billing | portal bound (portal s → real s, limiting term) | CPU floor s "
        "(floor wall, client CPU + emulator CPU, concurrency) | lower bound s | dominant |",
        "|---:|---|---|---|---:|---|",
    ]
    for (deals, billing), b in bounds.items():
        p, c = b.portal, b.cpu
        cpu = (
            f"{c.seconds:.2f} ({c.wall_seconds:.2f}, {c.client_cpu_seconds:.2f} + "
            f"{c.emulator_cpu_seconds:.2f}, c={c.concurrency})"
            if c
            else "-"
        )
        lines.append(
            f"| {deals} | {billing} | {p.portal_seconds:.2f} → {p.real_seconds:.3f} ({p.limiting}; "
            f"{p.requests} requests, {p.billed_seconds:.0f} s billed) | {cpu} | {b.seconds:.2f} "
            f"| {b.dominant} |"
        )
    return "\n".join(lines)


def errors_section(groups: dict[tuple[int, str, str], list[Run]]) -> str:
    lines = []
    for (deals, billing, client), runs in groups.items():
        for i, run in enumerate(runs):
            if run.error or run.warnings:
                what = run.error or ""
                if run.warnings:
                    what += (" | " if what else "") + "warnings: " + "; ".join(run.warnings[:3])
                lines.append(f"- {client}, {deals} deals, {billing}, run {i + 1}: {what[:700]}")
    return "\n".join(lines) if lines else "(none)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--deals", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--billing", nargs="+", default=list(BILLINGS), choices=BILLINGS)
    parser.add_argument("--time-scale", type=float, default=20.0, help="portal seconds per real second")
    parser.add_argument(
        "--clients",
        nargs="+",
        default=["ours", "fast_bitrix24", "b24pysdk", "naive"],
        help="ours, ours_list, fast_bitrix24, b24pysdk, naive (name:key=value,... passes options); "
        "'floor' is always measured",
    )
    parser.add_argument("--floor-concurrency", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--repeat", type=int, default=1, help="runs per client (the table shows the median)")
    parser.add_argument("--timeout", type=float, default=600.0, help="real seconds per client run")
    parser.add_argument(
        "--quiet",
        type=float,
        nargs=2,
        default=[QUIET["max_busy"], QUIET["max_wait"]],
        metavar=("MAX_BUSY", "MAX_WAIT"),
        help="before each run wait up to MAX_WAIT s until other processes use at most MAX_BUSY (0..1) "
        "of the CPUs",
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="fast", help="portal profile")
    parser.add_argument("--pin", action="store_true", help="emulator on core 0, client on core 1")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default: bench/out/run-*.json)")
    parser.add_argument("--report", type=Path, default=None, help="only print the tables of a saved JSON")
    args = parser.parse_args(argv)
    if args.report is not None:
        print(render(*load_report(args.report)))
        return 0
    clients = [c for c in args.clients if c.split(":")[0] != "floor"]
    QUIET["max_busy"], QUIET["max_wait"] = args.quiet

    started = time.strftime("%Y%m%d-%H%M%S")
    out = args.out or OUT / f"run-{started}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    command = ".venv/bin/python -m bench.run " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    print(f"# {command}\n# machine: {json.dumps(machine())}", flush=True)

    all_runs: list[Run] = []
    bounds: dict[tuple[int, str], LowerBound] = {}
    for deals in args.deals:
        print(f"\n## {deals} deals: CPU floor", flush=True)
        floor, _ = measure_floor(deals, args.floor_concurrency, args.repeat, args.timeout, all_runs, args.pin)
        for billing in args.billing:
            config = profile_config(PROFILES[args.profile], deals, args.time_scale, billing)
            bounds[(deals, billing)] = LowerBound(portal_bound(deals, config), floor)
            print(f"\n## {deals} deals, batch_billing={billing}, time_scale={args.time_scale:g}", flush=True)
            for _ in range(args.repeat):
                for spec in clients:
                    profile = PROFILES[args.profile]
                    run = run_once(
                        spec, deals, billing, args.time_scale, True, args.timeout, profile, args.pin
                    )
                    print(progress(run), flush=True)
                    all_runs.append(run)
            out.write_text(json.dumps(_report(args, command, all_runs, bounds), indent=1, default=str))

    print(render(all_runs, bounds, args.time_scale))
    out.write_text(json.dumps(_report(args, command, all_runs, bounds), indent=1, default=str))
    print(f"\nJSON: {out}")
    return 0


def render(runs: list[Run], bounds: Bounds, time_scale: float) -> str:
    groups = _group(runs)
    floor_groups = {k: v for k, v in groups.items() if k[2].startswith("floor")}
    client_groups = {k: v for k, v in groups.items() if not k[2].startswith("floor")}
    repeats = sorted({len(v) for v in client_groups.values()})
    codes = ", ".join(sorted({r.code for r in runs}))
    return "\n".join(
        [
            "\n### Lower bounds\n",
            bound_table(bounds),
            f"\n### Results (time_scale {time_scale:g}; median of {repeats} run(s), range in brackets; "
            f"code {codes})\n",
            result_table(client_groups, bounds),
            "\n### Floor runs (emulator --no-cost)\n",
            result_table(floor_groups, {}),
            "\n### Errors and warnings\n",
            errors_section(client_groups),
        ]
    )


def load_report(path: Path) -> tuple[list[Run], Bounds, float]:
    """Runs and bounds back from a JSON file written by :func:`main`."""
    data = json.loads(path.read_text())
    names = {f.name for f in fields(Run)}
    runs = [Run(**{k: v for k, v in r.items() if k in names}) for r in data["runs"]]
    bounds: Bounds = {}
    for key, value in data["lower_bounds"].items():
        deals, billing = key.split("/")
        cpu = value.get("cpu")
        floor = CpuFloor(**{k: v for k, v in cpu.items() if k != "seconds"}) if cpu else None
        bounds[(int(deals), billing)] = LowerBound(PortalBound(**value["portal"]), floor)
    return runs, bounds, float(data["time_scale"])


def _report(
    args: argparse.Namespace, command: str, runs: list[Run], bounds: dict[tuple[int, str], LowerBound]
) -> dict[str, Any]:
    return {
        "command": command,
        "machine": machine(),
        "time_scale": args.time_scale,
        "select": "default (no select: full rows)",
        "lower_bounds": {f"{d}/{b}": lb.as_dict() for (d, b), lb in bounds.items()},
        "runs": [{**r.__dict__, "rows_per_second": r.rows_per_second} for r in runs],
        "medians": {f"{d}/{b}/{c}": median_run(rs).seconds for (d, b, c), rs in _group(runs).items()},
    }


def _group(runs: list[Run]) -> dict[tuple[int, str, str], list[Run]]:
    groups: dict[tuple[int, str, str], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.deals, r.billing, r.client), []).append(r)
    return groups


if __name__ == "__main__":
    raise SystemExit(main())
