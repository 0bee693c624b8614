"""Parallel tasks on one portal: N exports at once in separate processes (like Airflow tasks under the
LocalExecutor), with each task's own throttle (``none``), the default lock-file throttle (``file``) and
the Redis throttle (``redis``). Reports the 503s the portal answered and the seconds until the last
export finished; every export is checked complete against the emulator's IDs.

    python -m bench.parallel_tasks --deals 50000 --tasks 4 --modes none file redis --repeats 2

Each task exports ``crm.deal.list`` with the default select (full rows) through ``iter_all`` and keeps
only the IDs, as ``bench.clients`` does. One emulator serves every run; its counters and limits are
reset between runs. The modes take turns, so that load on the machine falls on all of them alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from .harness import PYTHON, REPO, Emulator, _env

METHOD = "crm.deal.list"
REDIS = "redis://127.0.0.1:6379/0"


def child(webhook: str, shared: str, prefix: str, time_scale: float) -> int:
    """One task: wait for ``go`` on stdin, export, print a JSON report."""
    from bitrix24_provider.client import BitrixAsync, ClientSettings

    settings = ClientSettings(time_scale=time_scale, shared_throttle=shared, shared_throttle_prefix=prefix)

    async def export() -> dict[str, Any]:
        ids: list[int] = []
        async with BitrixAsync(webhook, verbose=False, settings=settings) as bx:
            print("ready", flush=True)
            await asyncio.to_thread(sys.stdin.readline)
            started = time.perf_counter()
            async for page in bx.iter_all(METHOD):
                ids.extend(int(row["ID"]) for row in page)
            seconds = time.perf_counter() - started
            return {"ids": ids, "seconds": seconds, "stats": bx.stats.as_dict()}

    print(json.dumps(asyncio.run(export())), flush=True)
    return 0


def run_once(
    emulator: Emulator, mode: str, tasks: int, time_scale: float, expected: list[int]
) -> dict[str, Any]:
    emulator.post("/_emulator/reset")
    directory = tempfile.mkdtemp(prefix="bench-throttle-")
    shared = {"none": "none", "file": f"file://{directory}", "redis": REDIS}[mode]
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    args = [
        PYTHON,
        "-m",
        "bench.parallel_tasks",
        "--child",
        emulator.webhook,
        shared,
        prefix,
        repr(time_scale),
    ]
    processes = [
        subprocess.Popen(args, cwd=REPO, env=_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(tasks)
    ]
    for process in processes:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"a task did not start: {line!r}")
    before = emulator.stats()  # every task started and ready
    started = time.perf_counter()
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    reports = []
    for process in processes:
        out, _ = process.communicate(timeout=3600)
        reports.append(json.loads(out.strip().splitlines()[-1]))
    seconds = time.perf_counter() - started
    after = emulator.stats()
    statuses = after["http_by_status"]
    truth = sorted(expected)
    complete = all(sorted(r["ids"]) == truth for r in reports)
    return {
        "mode": mode,
        "seconds": round(seconds, 2),
        "portal_seconds": round(after["portal_time"] - before["portal_time"], 1),
        "task_seconds": [round(r["seconds"], 2) for r in reports],
        "http": after["http_requests"],
        "503": int(statuses.get("503", 0)),
        "429": int(statuses.get("429", 0)),
        "bucket_high_water": round(after["bucket_high_water"], 2),
        "complete": complete,
        "bucket_wait_seconds": round(sum(r["stats"]["bucket_wait_seconds"] for r in reports), 1),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        webhook, shared, prefix, scale = argv[1:5]
        return child(webhook, shared, prefix, float(scale))
    parser = argparse.ArgumentParser(
        prog="python -m bench.parallel_tasks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--deals", type=int, default=50_000)
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument(
        "--modes", nargs="+", default=["none", "file", "redis"], choices=["none", "file", "redis"]
    )
    parser.add_argument("--time-scale", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    options = parser.parse_args(argv)
    results: list[dict[str, Any]] = []
    with Emulator(options.deals, time_scale=options.time_scale) as emulator:
        expected = emulator.expected_ids()
        for repeat in range(options.repeats):
            order = (
                options.modes[repeat % len(options.modes) :] + options.modes[: repeat % len(options.modes)]
            )
            for mode in order:
                result = run_once(emulator, mode, options.tasks, options.time_scale, expected)
                print(json.dumps(result), flush=True)
                results.append(result)
    print(f"\n{options.tasks} tasks x {options.deals} deals, time_scale {options.time_scale:g}")
    print("| throttle | runs | seconds median (min-max) | portal s | 503 per run | 429 | HTTP | complete |")
    print("|---|---|---|---|---|---|---|---|")
    for mode in options.modes:
        runs = [r for r in results if r["mode"] == mode]
        seconds = [r["seconds"] for r in runs]
        cells = [
            mode,
            str(len(runs)),
            f"{statistics.median(seconds):.1f} ({min(seconds):.1f}-{max(seconds):.1f})",
            f"{statistics.median(r['portal_seconds'] for r in runs):.0f}",
            ", ".join(str(r["503"]) for r in runs),
            ", ".join(str(r["429"]) for r in runs),
            f"{statistics.median(r['http'] for r in runs):.0f}",
            str(all(r["complete"] for r in runs)),
        ]
        print("| " + " | ".join(cells) + " |")
    if options.out is not None:
        options.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
