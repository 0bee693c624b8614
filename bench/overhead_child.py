"""One run of the Airflow-overhead benchmark, in its own process (see ``bench.airflow_overhead``).

Variants, all exporting every ``crm.deal.list`` row (full rows) from the same emulator:

* ``client``: the bare client, ``Bitrix.iter_all``; rows are counted and dropped.
* ``client_sql``: the bare client plus the sync engine (``run_load``: ``.fields``,
  staging table, chunked commits with checkpoints, the atomic swap) into a SQLite file, no Airflow.
* ``airflow``: the same export as an Airflow task, ``Bitrix24GetAllOperator`` in a one-task DAG run
  by ``dag.test()`` (Airflow 3.3: in-process execution API, ``task_state_store`` checkpoints).
* ``dagster``: the same export as a Dagster asset, ``build_bitrix24_assets`` materialized with
  ``dagster.materialize`` (in-process executor, ephemeral instance; after a warm-up run of an empty
  asset, as a deployment's instance is already up).

``seconds`` is the export alone (after imports and, for ``airflow``, the task instance's own
duration as Airflow records it); ``process_seconds`` is the whole process.

``python -m bench.overhead_child <variant> --webhook URL --time-scale X --workdir DIR --out FILE``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()
TABLE = "b24_deals"
VARIANTS = ("client", "client_sql", "airflow", "dagster")

_DAG = """
import time
from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

from bitrix24_provider.operators.bitrix24 import Bitrix24GetAllOperator

EXECUTE = {{}}


class TimedGetAll(Bitrix24GetAllOperator):
    \"\"\"Records when ``execute`` starts and ends (wall clock), to split the task's duration.\"\"\"

    def execute(self, context):
        EXECUTE["start"] = time.time()
        try:
            return super().execute(context)
        finally:
            EXECUTE["end"] = time.time()


with DAG(dag_id="bench_warmup", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as warmup:
    EmptyOperator(task_id="nothing")

with DAG(dag_id="bench_overhead", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    TimedGetAll(
        task_id="load_deals",
        method="crm.deal.list",
        sql_conn_id="bitrix24_staging",
        target_table="{table}",
        write_disposition="replace",
        client_kwargs={{"time_scale": {time_scale!r}, "verbose": False}},
        retries=0,
    )
"""


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def table_rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(f'SELECT COUNT(DISTINCT "ID") FROM "{TABLE}"').fetchone()[0])


def run_client(webhook: str, time_scale: float) -> dict[str, Any]:
    from bitrix24_provider.client import Bitrix

    started = time.perf_counter()
    rows = 0
    with Bitrix(webhook, verbose=False, time_scale=time_scale) as bx:
        for page in bx.iter_all("crm.deal.list"):
            rows += len(page)
        requests = bx.stats.http_requests
    return {"seconds": time.perf_counter() - started, "rows": rows, "requests": requests}


def run_client_sql(webhook: str, time_scale: float, workdir: Path) -> dict[str, Any]:
    import sqlalchemy as sa

    from bitrix24_provider.client import Bitrix
    from bitrix24_provider.staging.database import Database
    from bitrix24_provider.staging.identifiers import TableName
    from bitrix24_provider.sync import ClientPortal, LoadRun, LoadSpec, RunIdentity, SqlDestination, run_load

    path = workdir / "client_sql.db"
    path.unlink(missing_ok=True)
    started = time.perf_counter()
    client = Bitrix(webhook, verbose=False, time_scale=time_scale)
    db = Database(sa.create_engine(f"sqlite:///{path}"))
    destination = SqlDestination(db, TableName.checked(TABLE), "bitrix24_staging")
    spec = LoadSpec("crm.deal.list", write_disposition="replace", primary_key=("ID",))
    run = LoadRun(RunIdentity("bench", "bench_overhead", "bench", "load_deals"))
    try:
        summary = run_load(spec, ClientPortal(client), destination, run)
    finally:
        client.close()
        db.engine.dispose()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": table_rows(path), "requests": summary.requests}


def run_airflow(webhook: str, time_scale: float, workdir: Path) -> dict[str, Any]:
    home = workdir / "airflow"
    dags = workdir / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    (dags / "bench_overhead.py").write_text(_DAG.format(table=TABLE, time_scale=time_scale))
    staging = workdir / "airflow_staging.db"
    staging.unlink(missing_ok=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW_CONN_BITRIX24_DEFAULT": json.dumps({"conn_type": "bitrix24", "host": webhook}),
            "AIRFLOW_CONN_BITRIX24_STAGING": json.dumps({"conn_type": "sqlite", "host": str(staging)}),
        }
    )
    from airflow.utils import db as airflow_db

    airflow_db.initdb()  # before the clock: a deployment migrates once
    sys.path.insert(0, str(dags))
    import bench_overhead  # type: ignore[import-not-found]

    # the first task of a process starts dag.test's in-process execution API (seconds); a deployment's
    # API server is already running, so warm it up with an empty task first
    warmup_started = time.perf_counter()
    bench_overhead.warmup.test()
    warmup_seconds = time.perf_counter() - warmup_started
    started = time.perf_counter()
    run = bench_overhead.dag.test()
    dag_test_seconds = time.perf_counter() - started
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(TaskInstance).where(
            TaskInstance.dag_id == "bench_overhead", TaskInstance.run_id == run.run_id
        )
        ti = session.scalars(query).one()
        state, duration = str(ti.state), float(ti.duration or 0.0)
        started_at, ended_at = ti.start_date.timestamp(), ti.end_date.timestamp()
    if state != "success":
        raise RuntimeError(f"the task ended {state}")
    timing = bench_overhead.EXECUTE
    return {
        "seconds": duration,
        "execute_seconds": timing["end"] - timing["start"],
        "before_execute_seconds": timing["start"] - started_at,
        "after_execute_seconds": ended_at - timing["end"],
        "dag_test_seconds": dag_test_seconds,
        "warmup_seconds": warmup_seconds,
        "rows": table_rows(staging),
        "requests": None,
    }


def run_dagster(webhook: str, time_scale: float, workdir: Path) -> dict[str, Any]:
    import dagster as dg

    from bitrix24_provider.dagster import (
        Bitrix24Destination,
        Bitrix24Entity,
        Bitrix24Resource,
        build_bitrix24_assets,
    )

    path = workdir / "dagster.db"
    path.unlink(missing_ok=True)
    instance = dg.DagsterInstance.ephemeral()

    @dg.asset
    def nothing() -> None:
        return None

    warmup_started = time.perf_counter()
    dg.materialize([nothing], instance=instance)
    warmup_seconds = time.perf_counter() - warmup_started
    assets = build_bitrix24_assets([Bitrix24Entity("crm.deal.list", TABLE, write_disposition="replace")])
    resources = {
        "bitrix24": Bitrix24Resource(webhook_url=webhook, client_settings={"time_scale": time_scale}),
        "destination": Bitrix24Destination(url=f"sqlite:///{path}"),
    }
    started = time.perf_counter()
    result = dg.materialize([assets], resources=resources, instance=instance)
    seconds = time.perf_counter() - started
    moments = {
        record.dagster_event.event_type_value: float(record.timestamp)
        for record in instance.all_logs(result.run_id)
        if record.dagster_event is not None
    }
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    return {
        "seconds": seconds,
        "execute_seconds": moments["STEP_SUCCESS"] - moments["STEP_START"],
        "warmup_seconds": warmup_seconds,
        "rows": table_rows(path),
        "requests": metadata["bitrix24/requests"].value,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("--webhook", required=True)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"variant": args.variant, "ok": True}
    try:
        if args.variant == "client":
            result.update(run_client(args.webhook, args.time_scale))
        elif args.variant == "client_sql":
            result.update(run_client_sql(args.webhook, args.time_scale, args.workdir))
        elif args.variant == "dagster":
            result.update(run_dagster(args.webhook, args.time_scale, args.workdir))
        else:
            result.update(run_airflow(args.webhook, args.time_scale, args.workdir))
    except Exception as error:  # reported, not raised: the parent prints it
        result.update(ok=False, error=f"{type(error).__name__}: {error}")
    result["process_seconds"] = time.perf_counter() - STARTED
    result["cpu_seconds"] = cpu_seconds()
    result["peak_rss_mb"] = peak_rss_mb()
    args.out.write_text(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
