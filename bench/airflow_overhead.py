"""What an Airflow task or a Dagster asset adds to the bare client and the engine on the same export.

Each repeat starts a fresh emulator (default cost model, ``--time-scale``) for each variant of
``bench.overhead_child`` and runs it in its own process, in a rotating order:

* ``client``: the bare client streaming every full deal row (rows dropped);
* ``client_sql``: the bare client plus the sync engine (``run_load``) into SQLite, no Airflow;
* ``airflow``: ``Bitrix24GetAllOperator`` in a one-task DAG under ``dag.test()``, into SQLite;
* ``dagster``: ``build_bitrix24_assets`` under ``dagster.materialize``, into SQLite.

``seconds`` is the export itself: from the first line of the export to its end in the bare variants,
the task instance's duration as Airflow records it for ``airflow``, the whole ``materialize()`` call
for ``dagster`` (its ``execute s``: the step from STEP_START to STEP_SUCCESS). The table shows medians and the
ratios ``airflow / client_sql`` (what Airflow adds to the same load) and ``airflow / client``.

``python -m bench.airflow_overhead --deals 100000 --time-scale 1 --repeat 3 --out bench/out/overhead.json``
``python -m bench.airflow_overhead --variants client_sql dagster --out bench/out/dagster_overhead.json``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .harness import PYTHON, REPO, Emulator, _env, code_version, machine, wait_until_quiet
from .overhead_child import VARIANTS


def run_variant(variant: str, deals: int, time_scale: float, workdir: Path, timeout: float) -> dict[str, Any]:
    with Emulator(deals, time_scale=time_scale) as emulator:
        expected = len(emulator.expected_ids())
        out = workdir / f"{variant}.json"
        out.unlink(missing_ok=True)
        args = [PYTHON, "-m", "bench.overhead_child", variant, "--webhook", emulator.webhook]
        args += ["--time-scale", repr(time_scale), "--workdir", str(workdir / variant), "--out", str(out)]
        started = time.perf_counter()
        done = subprocess.run(args, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout)
        wall = time.perf_counter() - started
        result: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {"ok": False}
        if not result.get("ok"):
            result.setdefault("error", done.stderr[-2000:])
        stats = emulator.stats()
        by_status = {str(k): v for k, v in (stats.get("http_by_status") or {}).items()}
        result.update(
            wall_seconds=wall,
            expected=expected,
            complete=result.get("rows") == expected,
            http=stats.get("http_requests"),
            s503=by_status.get("503", 0),
            s429=by_status.get("429", 0),
            emulator_cpu_seconds=emulator.cpu_seconds(),
        )
    return result


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for variant in VARIANTS:
        mine = [r for r in runs if r["variant"] == variant and r.get("ok")]
        if not mine:
            continue

        def median(key: str, rows: list[dict[str, Any]] = mine) -> float:
            return statistics.median(float(r[key]) for r in rows if r.get(key) is not None)

        table[variant] = {
            "runs": len(mine),
            "seconds": median("seconds"),
            "execute_seconds": (
                median("execute_seconds") if variant in ("airflow", "dagster") else median("seconds")
            ),
            "min": min(float(r["seconds"]) for r in mine),
            "max": max(float(r["seconds"]) for r in mine),
            "process_seconds": median("process_seconds"),
            "cpu_seconds": median("cpu_seconds"),
            "emulator_cpu_seconds": median("emulator_cpu_seconds"),
            "peak_rss_mb": median("peak_rss_mb"),
            "http": median("http"),
            "s503": sum(int(r["s503"]) for r in mine),
            "s429": sum(int(r["s429"]) for r in mine),
            "complete": all(r["complete"] for r in mine),
        }
    return table


def render(table: dict[str, dict[str, Any]], deals: int, time_scale: float) -> str:
    base = table.get("client", {}).get("seconds")
    same = table.get("client_sql", {}).get("seconds")
    lines = [
        f"{deals:,} full deal rows, emulator cost model at time_scale {time_scale:g}; medians. "
        "airflow: export s = the task instance's duration, execute s = its execute() alone",
        "",
        "| variant | export s (min-max) | execute s | process s | HTTP | 503 | 429 | complete |"
        " client CPU s | emulator CPU s | peak RSS MB | export / client | export / client_sql |"
        " execute / client_sql |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for variant, row in table.items():
        seconds, execute = row["seconds"], row["execute_seconds"]
        ratios = (
            f"{seconds / base:.2f} | {seconds / same:.2f} | {execute / same:.2f}" if base and same else "| |"
        )
        lines.append(
            f"| {variant} | {seconds:.2f} ({row['min']:.2f}-{row['max']:.2f}) | {execute:.2f}"
            f" | {row['process_seconds']:.1f} | {row['http']:.0f} | {row['s503']} | {row['s429']}"
            f" | {'yes' if row['complete'] else '**no**'} | {row['cpu_seconds']:.1f}"
            f" | {row['emulator_cpu_seconds']:.1f} | {row['peak_rss_mb']:.0f} | {ratios} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--max-busy", type=float, default=0.15, help="wait for a quiet machine (0..1)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        for repeat in range(args.repeat):
            shift = repeat % len(args.variants)
            order = args.variants[shift:] + args.variants[:shift]
            for variant in order:
                busy = wait_until_quiet(args.max_busy, max_wait=120)
                result = run_variant(variant, args.deals, args.time_scale, Path(tmp), args.timeout)
                result.update(repeat=repeat, other_load=busy)
                runs.append(result)
                ok = result.get("ok") and result["complete"]
                status = "ok" if ok else f"FAILED {result.get('error', '')}"
                seconds = result.get("seconds", float("nan"))
                print(f"[{repeat}] {variant}: {seconds:.2f} s {status}", flush=True)
    table = summarize(runs)
    print()
    print(render(table, args.deals, args.time_scale))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "machine": machine(),
            "code": code_version(),
            "deals": args.deals,
            "time_scale": args.time_scale,
            "runs": runs,
            "summary": table,
        }
        args.out.write_text(json.dumps(report, indent=1))
    return 0 if all(r.get("ok") and r["complete"] for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
