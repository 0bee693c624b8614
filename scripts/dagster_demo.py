"""Materialize the example Dagster assets (deals, leads, contacts, companies) with the ``dagster`` CLI.

Without ``BITRIX24_WEBHOOK_URL`` it starts the bundled emulator on 127.0.0.1; the data goes into
``.demo/dagster/b24.db`` (SQLite), Dagster's instance into ``.demo/dagster/home``. Run it through
``bash scripts/dagster_demo.sh``.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from bitrix24_provider.emulator.process import start_process

REPO = Path(__file__).resolve().parents[1]
DEFINITIONS = REPO / "dags_examples" / "dagster" / "definitions.py"
TABLES = {"b24_deals": "deal", "b24_leads": "lead", "b24_contacts": "contact", "b24_companies": "company"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=30_000)
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--contacts", type=int, default=8_000)
    parser.add_argument("--companies", type=int, default=3_000)
    parser.add_argument("--out", type=Path, default=REPO / ".demo" / "dagster")
    return parser.parse_args()


def start_emulator(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    print(
        f"Starting the bundled Bitrix24 emulator ({args.deals:,} deals, {args.leads:,} leads, "
        f"{args.contacts:,} contacts, {args.companies:,} companies) ...",
        flush=True,
    )
    return start_process(
        {entity: getattr(args, entity) for entity in ("deals", "leads", "contacts", "companies")}
    )


def portal_counts(webhook: str) -> dict[str, int]:
    parts = urlsplit(webhook)
    counts = {}
    for table, entity in TABLES.items():
        url = f"{parts.scheme}://{parts.netloc}/_emulator/ids/{entity}"
        with urllib.request.urlopen(url, timeout=30) as response:
            counts[table] = len(json.load(response)["ids"])
    return counts


def main() -> int:
    args = parse_args()
    home = args.out / "home"
    home.mkdir(parents=True, exist_ok=True)
    database = args.out / "b24.db"
    database.unlink(missing_ok=True)
    emulator = None
    webhook = os.environ.get("BITRIX24_WEBHOOK_URL")
    if not webhook:
        emulator, webhook = start_emulator(args)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "BITRIX24_WEBHOOK_URL": webhook,
        "BITRIX24_DESTINATION_URL": f"sqlite:///{database}",
    }
    log = args.out / "materialize.log"
    command = [
        sys.executable,
        "-m",
        "dagster",
        "asset",
        "materialize",
        "-f",
        str(DEFINITIONS),
        "--select",
        "*",
    ]
    print(
        "Running: dagster asset materialize -f dags_examples/dagster/definitions.py --select '*'", flush=True
    )
    started = time.monotonic()
    try:
        with log.open("w") as sink:
            process = subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            assert process.stdout is not None
            for line in process.stdout:
                sink.write(line)
                if " - INFO - " in line or " - ERROR - " in line or " - WARNING - " in line:
                    print("  " + line.rstrip().split(" - ")[-1], flush=True)
            code = process.wait()
        seconds = time.monotonic() - started
        expected = portal_counts(webhook) if emulator is not None else None
    finally:
        if emulator is not None:
            emulator.terminate()
            emulator.wait(timeout=30)
    print(f"\nDagster run {'succeeded' if code == 0 else 'FAILED'} in {seconds:.1f} s (log: {log})")
    if database.exists():
        with sqlite3.connect(database) as conn:
            for table in TABLES:
                try:
                    rows = conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
                except sqlite3.OperationalError:
                    rows = "missing"
                portal = f" (the portal holds {expected[table]:,})" if expected else ""
                print(
                    f"  {table:<14} {rows:>8,} rows{portal}"
                    if isinstance(rows, int)
                    else f"  {table}: {rows}"
                )
    print(f"Data: {database}")
    print(
        f"UI:   DAGSTER_HOME={home} BITRIX24_WEBHOOK_URL=<webhook> "
        f"BITRIX24_DESTINATION_URL=sqlite:///{database} \\\n"
        "      python3 -m uv run dagster dev -f dags_examples/dagster/definitions.py"
    )
    return code


if __name__ == "__main__":
    raise SystemExit(main())
