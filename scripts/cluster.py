"""Run the example DAGs on a real Airflow 3 CeleryExecutor deployment on this machine and check them.

Starts, natively: the bundled portal emulator, Airflow's API server, scheduler, DAG processor and
triggerer, and N Celery workers, with Redis (127.0.0.1:6379) as the Celery broker and the provider's
shared throttle, and PostgreSQL (127.0.0.1:5432) as Airflow's metadata database and the staging
database. Triggers the DAGs, waits for their runs, compares every staging table with the emulator's
IDs, reads the emulator's counters (503s provoked), prints one JSON summary line and stops everything
it started. Its work directory is ``.cluster/run-<pid>/`` (Airflow home, a log per component), kept
when the run fails or with ``--keep``.

The environment it gives the components is :func:`airflow_env`; ``docker/compose.celery.yaml`` sets
the same variables (tests/test_docker.py checks that they agree).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bitrix24_provider.emulator.process import start_process

REPO = Path(__file__).resolve().parents[1]
PG = "postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379"
#: Redis databases: the Celery broker and the shared throttle, apart from what tests use (0)
BROKER_DB, THROTTLE_DB = 11, 12
#: one deployment's own names (databases, Celery queue), so two runs at once never meet
TAG = f"{os.getpid()}"
META_DB, STAGING_DB = f"b24_cluster_airflow_{TAG}", f"b24_cluster_staging_{TAG}"
QUEUE = f"bitrix24_cluster_{TAG}"
#: this deployment's AIRFLOW_HOME and component logs; removed after a complete run unless --keep
WORK = REPO / ".cluster" / f"run-{TAG}"
#: table -> emulator entity, per DAG
DAG_TABLES = {
    "bitrix24_full_load": {
        "b24_deals": "deal",
        "b24_leads": "lead",
        "b24_contacts": "contact",
        "b24_companies": "company",
    },
    "bitrix24_incremental_deals": {"b24_deals": "deal"},
}
#: DAGs scheduled on the asset a DAG's task produces (its outlet), which the scheduler must then run
DOWNSTREAM = {"bitrix24_incremental_deals": "bitrix24_deals_report"}
#: the components every deployment runs (the workers come on top)
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (default 2)")
    parser.add_argument("--deals", type=int, default=20_000)
    parser.add_argument("--leads", type=int, default=5_000)
    parser.add_argument("--contacts", type=int, default=4_000)
    parser.add_argument("--companies", type=int, default=2_000)
    parser.add_argument(
        "--dags",
        default="bitrix24_full_load",
        help="comma-separated DAG ids triggered at once (default bitrix24_full_load; "
        "e.g. bitrix24_full_load,bitrix24_incremental_deals)",
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the runs")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the work directory (Airflow home, logs) after a complete run",
    )
    return parser.parse_args(argv)


def airflow_env(api_port: int, staging_url: str, webhook_fields: dict[str, object]) -> dict[str, str]:
    """The Airflow configuration shared by every component (secrets are generated per deployment)."""
    meta = f"postgresql+psycopg2://{PG}/{META_DB}"
    return {
        "AIRFLOW_HOME": str(WORK / "airflow"),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags_examples"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta,
        "AIRFLOW__CELERY__BROKER_URL": f"{REDIS}/{BROKER_DB}",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": QUEUE,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{meta}",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW_CONN_BITRIX24_DEFAULT": json.dumps(
            {
                "conn_type": "bitrix24",
                **webhook_fields,
                # every task on every worker books its requests in one bucket per portal
                "extra": {"shared_throttle_dsn": f"{REDIS}/{THROTTLE_DB}"},
            }
        ),
        "AIRFLOW_CONN_BITRIX24_STAGING": staging_url,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_services() -> None:
    import psycopg2
    import redis

    try:
        psycopg2.connect(f"postgresql://{PG}/postgres", connect_timeout=5).close()
    except psycopg2.Error as error:
        raise SystemExit(f"PostgreSQL at 127.0.0.1:5432 is not reachable ({error}); start it first") from None
    try:
        redis.Redis.from_url(REDIS, socket_timeout=5).ping()
    except redis.RedisError as error:
        raise SystemExit(f"Redis at 127.0.0.1:6379 is not reachable ({error}); start it first") from None


def databases(create: bool) -> None:
    """Create (or drop) this deployment's metadata and staging databases."""
    import psycopg2

    conn = psycopg2.connect(f"postgresql://{PG}/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        for name in (META_DB, STAGING_DB):
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if create:
                cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


@dataclass
class Deployment:
    """The processes this script started, each in its own process group, with its log file."""

    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None) -> None:
        log = (WORK / "logs" / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            argv,
            env={**self.env, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def airflow(self, *argv: str, timeout: float = 300) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *argv],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(argv)} failed: {done.stderr[-2000:]}")
        return done.stdout

    def dead(self) -> list[str]:
        return [name for name, p in self.processes.items() if p.poll() is not None]

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def start_emulator(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    counts = {entity: getattr(args, entity) for entity in ("deals", "leads", "contacts", "companies")}
    return start_process(counts, new_session=True)


def emulator_get(webhook: str, path: str) -> dict[str, object]:
    parts = urlsplit(webhook)
    with urllib.request.urlopen(f"{parts.scheme}://{parts.netloc}/_emulator/{path}", timeout=60) as resp:
        answer: dict[str, object] = json.load(resp)
        return answer


def wait_for(what: str, check: object, deployment: Deployment, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if dead := deployment.dead():
            raise RuntimeError(f"{', '.join(dead)} exited while waiting for {what}; see {WORK / 'logs'}")
        if check():  # type: ignore[operator]
            return
        time.sleep(2)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def api_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def meta_query(sql: str, *params: object) -> list[tuple[object, ...]]:
    """A read of Airflow's metadata database (cheaper than an ``airflow`` CLI call per poll)."""
    import psycopg2

    conn = psycopg2.connect(f"postgresql://{PG}/{META_DB}")
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())
    except psycopg2.Error:  # e.g. a table the DAG processor has not created rows in yet
        return []
    finally:
        conn.close()


def parsed(dag_ids: list[str]) -> bool:
    rows = meta_query("SELECT dag_id FROM serialized_dag WHERE dag_id = ANY(%s)", dag_ids)
    return {str(r[0]) for r in rows} >= set(dag_ids)


def asset_triggered(dag_id: str) -> str | None:
    """The state of the newest run the scheduler started for *dag_id* after an asset event."""
    rows = meta_query(
        "SELECT state FROM dag_run WHERE dag_id = %s AND run_type = 'asset_triggered' ORDER BY id DESC",
        dag_id,
    )
    return str(rows[0][0]) if rows else None


def run_states(run_ids: dict[str, str]) -> dict[str, str]:
    rows = meta_query("SELECT dag_id, state FROM dag_run WHERE run_id = ANY(%s)", list(run_ids.values()))
    return {str(dag_id): str(state) for dag_id, state in rows}


def tasks_per_worker() -> dict[str, int]:
    """How many Airflow task workloads each Celery worker ran to the end (from its log)."""
    return {
        log.stem: log.read_text(errors="replace").count("succeeded in")
        for log in sorted((WORK / "logs").glob("worker*.log"))
    }


def throttle_keys(webhook: str) -> int:
    """Keys the shared throttle keeps in Redis for this emulator: proof that the tasks booked their
    requests there."""
    import redis

    portal = urlsplit(webhook).netloc
    return len(redis.Redis.from_url(f"{REDIS}/{THROTTLE_DB}").keys(f"*:{portal}:*"))


def table_ids(table: str) -> set[int] | None:
    import psycopg2

    conn = psycopg2.connect(f"postgresql://{PG}/{STAGING_DB}")
    try:
        with conn.cursor() as cur:
            cur.execute(f'SELECT "ID" FROM "{table}"')
            ids = [int(row[0]) for row in cur.fetchall()]
    except psycopg2.Error:
        return None
    finally:
        conn.close()
    return set(ids) if len(ids) == len(set(ids)) else None  # a duplicate is a failure too


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    dag_ids = [d.strip() for d in args.dags.split(",") if d.strip()]
    unknown = [d for d in dag_ids if d not in DAG_TABLES]
    if unknown:
        raise SystemExit(f"--dags: unknown DAG ids {unknown}; known: {sorted(DAG_TABLES)}")
    from bitrix24_provider.hooks.connection import webhook_connection_fields

    check_services()
    (WORK / "logs").mkdir(parents=True)
    databases(create=True)
    emulator, webhook = start_emulator(args)
    api_port = free_port()
    staging = f"postgresql://{PG}/{STAGING_DB}"
    env = {**os.environ, **airflow_env(api_port, staging, webhook_connection_fields(webhook))}
    deployment = Deployment(env)
    started = time.monotonic()
    summary: dict[str, object] = {"executor": "CeleryExecutor", "workers": args.workers, "dags": dag_ids}
    try:
        print("Migrating Airflow's metadata database in PostgreSQL ...", file=sys.stderr, flush=True)
        deployment.airflow("db", "migrate", timeout=600)
        airflow = [sys.executable, "-m", "airflow"]
        for component in COMPONENTS:
            deployment.start(component, [*airflow, component])
        for n in range(1, args.workers + 1):
            deployment.start(
                f"worker{n}",
                [*airflow, "celery", "worker", "--concurrency", "4", "-H", f"worker{n}@%h", "-q", QUEUE],
                {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())},
            )
        print(f"Started {', '.join(deployment.processes)}; waiting for the API server ...", file=sys.stderr)
        wait_for("the API server", lambda: api_up(api_port), deployment, 180)
        downstream = [DOWNSTREAM[d] for d in dag_ids if d in DOWNSTREAM]
        wait_for("the DAGs to be parsed", lambda: parsed(dag_ids + downstream), deployment, 180)
        for dag_id in downstream:  # before the asset events that schedule them
            deployment.airflow("dags", "unpause", dag_id)
        run_ids = {}
        for dag_id in dag_ids:
            deployment.airflow("dags", "unpause", dag_id)
            run_ids[dag_id] = f"cluster__{dag_id}__{int(time.time())}"
            deployment.airflow("dags", "trigger", dag_id, "--run-id", run_ids[dag_id])
        print(f"Triggered {', '.join(run_ids.values())}; waiting for them ...", file=sys.stderr, flush=True)
        states: dict[str, str] = {}

        def finished() -> bool:
            states.update(run_states(run_ids))
            return len(states) == len(run_ids) and all(s in ("success", "failed") for s in states.values())

        wait_for("the DAG runs", finished, deployment, args.timeout)
        for dag_id in downstream:
            wait_for(
                f"{dag_id}, scheduled on the loaded table's asset",
                lambda d=dag_id: asset_triggered(d) in ("success", "failed"),  # type: ignore[misc]
                deployment,
                300,
            )
            states[f"{dag_id} (asset-triggered)"] = str(asset_triggered(dag_id))
        summary["states"] = states
        summary["tasks_per_worker"] = tasks_per_worker()
        summary["shared_throttle_keys"] = throttle_keys(webhook)
        tables: dict[str, dict[str, object]] = {}
        for dag_id in dag_ids:
            for table, entity in DAG_TABLES[dag_id].items():
                expected = set(emulator_get(webhook, f"ids/{entity}")["ids"])  # type: ignore[call-overload]
                got = table_ids(table)
                tables[table] = {
                    "rows": None if got is None else len(got),
                    "expected": len(expected),
                    "exact": got == expected,
                }
        summary["tables"] = tables
        stats = emulator_get(webhook, "stats")
        by_status = stats.get("http_by_status") or {}
        summary["http_requests"] = stats.get("http_requests")
        summary["http_503"] = int(by_status.get("503", 0))  # type: ignore[union-attr]
    except (RuntimeError, TimeoutError, subprocess.TimeoutExpired) as error:
        summary["error"] = str(error)
    finally:
        deployment.stop()
        emulator.terminate()
        emulator.wait(timeout=30)
        databases(create=False)
    summary["seconds"] = round(time.monotonic() - started, 1)
    ok = (
        "error" not in summary
        and all(s == "success" for s in summary.get("states", {}).values())  # type: ignore[attr-defined]
        and all(t["exact"] for t in summary.get("tables", {}).values())  # type: ignore[attr-defined]
        and summary.get("http_503") == 0
        and bool(summary.get("shared_throttle_keys"))
    )
    summary["result"] = "complete" if ok else "FAILED"
    if ok and not args.keep:
        shutil.rmtree(WORK, ignore_errors=True)
    else:
        summary["logs"] = str(WORK / "logs")
    print(json.dumps(summary, sort_keys=True), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
