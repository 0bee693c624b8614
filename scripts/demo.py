"""Run the ``bitrix24_full_load`` example DAG end to end and report what it loaded.

Without ``BITRIX24_WEBHOOK_URL`` it starts the bundled emulator with seeded data on 127.0.0.1; with
it, the same DAG reads your portal. Airflow runs locally (SQLite metadata database under
``.demo/airflow``, no scheduler: ``airflow dags test``); the staging database is ``.demo/staging.db``.
Airflow's whole output goes to ``.demo/airflow.log``; the console shows each task's own lines (its
progress, what it exported, why it failed) as they come.
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
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bitrix24_provider.emulator.process import start_process
from bitrix24_provider.hooks.connection import webhook_connection_fields

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / ".demo"
ENTITIES = ("deals", "leads", "contacts", "companies")
TABLES = {"b24_deals": "deal", "b24_leads": "lead", "b24_contacts": "contact", "b24_companies": "company"}
#: a line of Airflow's console log: ``<time> [info     ] <message> [<logger>] key=value...``
LOG_LINE = re.compile(r"^\S+ \[(\w+) *\] (.*?) +\[([\w.]+)\](?: |$)")
TASK_START = re.compile(r"\[DAG TEST\] starting task_id=(\S+)")
#: the last line of a traceback: ``bitrix24_provider.client.errors.InvalidCredentials: <message>``
EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*): (.+)$")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=30_000)
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--contacts", type=int, default=8_000)
    parser.add_argument("--companies", type=int, default=3_000)
    return parser.parse_args()


def start_emulator(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    print(
        f"Starting the bundled Bitrix24 emulator ({args.deals:,} deals, {args.leads:,} leads, "
        f"{args.contacts:,} contacts, {args.companies:,} companies) ...",
        flush=True,
    )
    return start_process({entity: getattr(args, entity) for entity in ENTITIES})


@dataclass
class Console:
    """Echoes our code's lines from Airflow's output, prefixed with the running task, and keeps why a
    task failed: its ``Failed:`` line, else the exception line that ended its traceback."""

    task: str = ""
    failed: dict[str, str] = field(default_factory=dict)
    raised: dict[str, str] = field(default_factory=dict)
    in_traceback: bool = False

    def line(self, text: str) -> None:
        match = LOG_LINE.match(text)
        if match is None:
            raised = EXCEPTION_LINE.match(text) if self.in_traceback else None
            if raised:  # chained tracebacks end with the exception the task failed with
                self.raised[self.task] = f"{raised.group(1).rsplit('.', 1)[-1]}: {raised.group(2)}"
            return
        self.in_traceback = False
        message, logger = match.group(2), match.group(3)
        started = TASK_START.search(message)
        if started:
            self.task = started.group(1)
            print(f"  {self.task}: started", flush=True)
        elif "bitrix24_provider" in logger:
            print(f"  {self.task}: {message}", flush=True)
            if message.startswith("Failed: "):
                self.failed[self.task] = message.removeprefix("Failed: ")
        elif message == "Task failed with exception":
            self.in_traceback = True
        elif message.startswith("DagRun Finished"):
            state = re.search(r"state=(\w+)", message)
            print(f"  DAG run finished: {state.group(1) if state else 'see the log'}", flush=True)

    def causes(self) -> dict[str, str]:
        """Why each failed task failed."""
        return {**self.raised, **self.failed}


def airflow(env: dict[str, str], log: Path, *argv: str, console: Console | None = None) -> tuple[int, str]:
    """Run the Airflow CLI; everything goes to *log*, our lines also to the console. Returns the exit
    status and the last lines of the output."""
    tail: list[str] = []
    with log.open("a") as out:
        out.write(f"\n$ airflow {' '.join(argv)}\n")
        out.flush()
        command = [sys.executable, "-m", "airflow", *argv]
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        for text in process.stdout:
            out.write(text)
            tail = [*tail[-19:], text.rstrip()]
            if console is not None:
                console.line(text.rstrip("\n"))
        return process.wait(), "\n".join(tail)


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
    console = Console()
    try:
        print(f"Loading from {source} into {staging}", flush=True)
        print(
            "Preparing Airflow's metadata database (airflow db migrate, ~10 s the first time) ...", flush=True
        )
        status, tail = airflow(env, log, "db", "migrate")
        if status != 0:
            print(
                f"airflow db migrate failed (exit status {status}); its last lines:\n{tail}\nThe log: {log}"
            )
            return 1
        print(
            "Running the DAG bitrix24_full_load with `airflow dags test` (Airflow starts in ~5 s) ...",
            flush=True,
        )
        started = time.monotonic()
        status, tail = airflow(env, log, "dags", "test", "bitrix24_full_load", console=console)
        elapsed = time.monotonic() - started
        expected = expected_counts(webhook) if emulator is not None else None
    finally:
        if emulator is not None:
            emulator.terminate()
            emulator.wait(timeout=30)
    return report(staging, elapsed, status, expected, log, console.causes(), tail)


def _run_duration(log: Path) -> float:
    match = re.search(r"run_duration=([0-9.]+)", log.read_text())
    return float(match.group(1)) if match else float("nan")


def report(
    staging: Path,
    elapsed: float,
    status: int,
    expected: dict[str, int] | None,
    log: Path,
    causes: dict[str, str],
    tail: str,
) -> int:
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
    if run > 0:
        print(f"throughput:       {total / run:,.0f} rows/s over the DAG run (task start-up included)")
    print(f"staging database: {staging}")
    print(f"Airflow log:      {log}")
    if ok:
        print("result:           complete")
        return 0
    print("result:           INCOMPLETE")
    for task, cause in causes.items():
        print(f"  {task} failed: {cause}")
    if not causes and status != 0:
        print(f"  `airflow dags test` exited with status {status}; its last lines:\n{tail}")
    elif not causes:
        print("  the staging tables lack rows the portal holds (see the table above)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
