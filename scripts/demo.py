"""Run the ``bitrix24_full_load`` example DAG end to end and report what it loaded.

Without ``BITRIX24_WEBHOOK_URL`` it starts the bundled emulator with seeded data on 127.0.0.1; with
it, the same DAG reads your portal. Airflow runs locally (SQLite metadata database under
``.demo/airflow``, no scheduler: ``airflow dags test``); the staging database is ``.demo/staging.db``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from bitrix24_provider.hooks.connection import webhook_connection_fields

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / ".demo"
TABLES = {"b24_deals": "deal", "b24_leads": "lead", "b24_contacts": "contact", "b24_companies": "company"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=30_000)
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--contacts", type=int, default=8_000)
    parser.add_argument("--companies", type=int, default=3_000)
    return parser.parse_args()


def start_emulator(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    command = [
        sys.executable,
        "-m",
        "bitrix24_provider.emulator",
        "--port",
        "0",
        "--deals",
        str(args.deals),
        "--leads",
        str(args.leads),
        "--contacts",
        str(args.contacts),
        "--companies",
        str(args.companies),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("READY "):
        process.kill()
        raise SystemExit(f"the emulator did not start: {line!r}")
    return process, line.split(" ", 1)[1]


def airflow(env: dict[str, str], log: Path, *argv: str) -> int:
    with log.open("a") as out:
        out.write(f"\n$ airflow {' '.join(argv)}\n")
        out.flush()
        return subprocess.call([sys.executable, "-m", "airflow", *argv], env=env, stdout=out, stderr=out)


def expected_counts(webhook: str) -> dict[str, int] | None:
    """The emulator knows its own row counts; a real portal does not tell us."""
    parts = urlsplit(webhook)
    base = f"{parts.scheme}://{parts.netloc}"
    counts = {}
    for table, entity in TABLES.items():
        with urllib.request.urlopen(f"{base}/_emulator/ids/{entity}", timeout=30) as resp:
            counts[table] = len(json.load(resp)["ids"])
    return counts


def main() -> int:
    args = parse_args()
    WORK.mkdir(exist_ok=True)
    staging = WORK / "staging.db"
    staging.unlink(missing_ok=True)
    log = WORK / "airflow.log"
    log.write_text("")

    webhook = os.environ.get("BITRIX24_WEBHOOK_URL")
    emulator = None
    if webhook is None:
        emulator, webhook = start_emulator(args)
        source = f"the bundled emulator on {urlsplit(webhook).netloc} ({args.deals:,} deals)"
    else:
        source = f"the portal {urlsplit(webhook).hostname}"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(WORK / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags_examples"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_BITRIX24_DEFAULT": json.dumps(
            {"conn_type": "bitrix24", **webhook_connection_fields(webhook)}
        ),
        "AIRFLOW_CONN_BITRIX24_STAGING": json.dumps({"conn_type": "sqlite", "host": str(staging)}),
    }
    try:
        print(f"Loading from {source} into {staging} ...", flush=True)
        if airflow(env, log, "db", "migrate") != 0:
            print(f"airflow db migrate failed; see {log}")
            return 1
        started = time.monotonic()
        status = airflow(env, log, "dags", "test", "bitrix24_full_load")
        elapsed = time.monotonic() - started
        expected = expected_counts(webhook) if emulator is not None else None
    finally:
        if emulator is not None:
            emulator.terminate()
            emulator.wait(timeout=30)
    return report(staging, elapsed, status, expected, log)


def _run_duration(log: Path) -> float:
    match = re.search(r"run_duration=([0-9.]+)", log.read_text())
    return float(match.group(1)) if match else float("nan")


def report(staging: Path, elapsed: float, status: int, expected: dict[str, int] | None, log: Path) -> int:
    counts: dict[str, int | None] = {}
    with sqlite3.connect(staging) as db:
        present = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in TABLES:
            counts[table] = (
                db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] if table in present else None
            )
    total = sum(c or 0 for c in counts.values())
    print(f"\n{'table':<16}{'rows':>10}{'expected':>10}")
    ok = status == 0
    for table, count in counts.items():
        want = expected[table] if expected else None
        ok = ok and count is not None and (want is None or count == want)
        shown = "missing" if count is None else f"{count:,}"
        print(f"{table:<16}{shown:>10}{'' if want is None else f'{want:,}':>10}")
    run = _run_duration(log)
    print(f"\n{total:,} rows; `airflow dags test` took {elapsed:.1f} s, the DAG run itself {run:.1f} s")
    print(f"throughput:       {total / run:,.0f} rows/s over the DAG run (task start-up included)")
    print(f"staging database: {staging}")
    print(f"Airflow log:      {log}")
    print("result:           " + ("complete" if ok else "INCOMPLETE - see the log"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
