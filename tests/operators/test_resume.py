"""Resume on retry: an export killed in the middle continues in its staging table on try 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bitrix24_provider.client.errors import AuthError, BitrixError
from bitrix24_provider.operators.bitrix24 import Bitrix24GetAllOperator
from bitrix24_provider.operators.retry import decide
from bitrix24_provider.sync.resume import ResumePoint, TaskStateCheckpoint
from tests.conftest import REPO
from tests.staging._support import SqlTarget, configure, make_context, reset_counters, seeded_ids, stats

CHUNK_ROWS = 500  # rows per committed staging chunk in these tests
PROBE_ROWS = 50  # a resumed export asks for the newest ids once (one page of IDs) to size its chains
# four parallel chains of batches of 10 pages: a 7,000-row export takes several rounds of requests,
# so a fault can hit it in the middle
SMALL_BATCHES = {
    "settings": {
        "batch_size": 10,
        "max_parallel_chains": 4,
        "retry": {"max_attempts": 2, "base": 0.01, "cap": 0.02},
    }
}


def export_op(target: SqlTarget, **kwargs: Any) -> Bitrix24GetAllOperator:
    kwargs.setdefault("client_kwargs", SMALL_BATCHES)
    kwargs.setdefault("chunk_rows", CHUNK_ROWS)
    return Bitrix24GetAllOperator(
        task_id="export",
        method="crm.deal.list",
        sql_conn_id=target.conn_id,
        target_table="deals",
        target_schema=target.schema,
        retries=3,
        **kwargs,
    )


def table_checkpoint(target: SqlTarget) -> ResumePoint | None:
    """The fallback checkpoint row (Airflow without task_state_store)."""
    engine = sa.create_engine(target.url, connect_args={"timeout": 30} if target.kind == "sqlite" else {})
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("_bitrix24_resume", schema=target.schema):
                return None
            row = conn.exec_driver_sql(
                f"SELECT checkpoint FROM {target.qualified('_bitrix24_resume')}"
            ).first()
    finally:
        engine.dispose()
    return None if row is None else ResumePoint.from_json(json.loads(row[0]))


def break_portal_when(
    portal: Any, condition: Callable[[], bool], changes: dict[str, Any]
) -> threading.Thread:
    """Reconfigure the portal (faults, revoked webhook...) as soon as *condition* holds."""

    def watch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if condition():
                configure(portal, changes)
                return
            time.sleep(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def staging_of(checkpoint: ResumePoint) -> str:
    assert checkpoint.position is not None
    return checkpoint.position.staging


def staging_tables(target: SqlTarget) -> list[str]:
    return [t for t in target.tables() if t.startswith("_b24stg_")]


def assert_resumed(target: SqlTarget, portal: Any, checkpoint: ResumePoint, summary: dict[str, Any]) -> None:
    """Try 2 read only the rows of the checkpoint's ranges (plus the newest-ids probe), and the
    target holds the exact ID set."""
    ids = seeded_ids(portal)
    committed = outside(ids, parallel_ranges(checkpoint))
    assert summary["resumed"] is True
    assert target.ids("deals") == ids  # exact ID set, no duplicates
    served = stats(portal)["rows_served"]
    assert served <= len(ids) - len(committed) + PROBE_ROWS, (served, len(committed))
    assert not staging_tables(target)


def outside(ids: list[int], ranges: list[tuple[int, int | None]]) -> list[int]:
    """The ids in none of the ``(after, upto]`` ranges (``upto`` None: no upper end)."""
    return [i for i in ids if not any(a < i and (u is None or i <= u) for a, u in ranges)]


def parallel_ranges(checkpoint: ResumePoint) -> list[tuple[int, int | None]]:
    """The checkpoint's id ranges; the export ran as several parallel chains."""
    ranges = checkpoint.progress.ranges
    assert ranges is not None
    assert len(ranges) >= 2, ranges
    assert ranges[-1][1] is None  # the last range stays open to new rows
    return ranges


def test_killed_export_resumes_from_the_state_table(make_portal, sql_target):
    portal = make_portal(deals=7000, simulate_cost=True)
    op = export_op(sql_target, select=["*", "UF_*"])
    watcher = break_portal_when(
        portal, lambda: table_checkpoint(sql_target) is not None, {"faults": {"server_error": 1.0}}
    )
    with pytest.raises(BitrixError) as failure:
        op.execute(make_context(try_number=1))
    watcher.join()
    assert decide(failure.value)[0] == "default"  # transient: Airflow retries

    checkpoint = table_checkpoint(sql_target)
    assert checkpoint is not None
    ranges = parallel_ranges(checkpoint)
    assert "deals" not in sql_target.tables()  # nothing published
    assert staging_tables(sql_target) == [staging_of(checkpoint)]
    staged_ids = sql_target.ids(staging_of(checkpoint))
    assert 0 < len(staged_ids) < 7000
    # the checkpoint says exactly what is staged: every id outside the ranges still to export
    assert staged_ids == outside(seeded_ids(portal), ranges)

    configure(portal, {"faults": {"server_error": 0.0}})
    reset_counters(portal)
    summary = op.execute(make_context(try_number=2))
    assert_resumed(sql_target, portal, checkpoint, summary)
    assert summary["rows"] == 7000
    assert table_checkpoint(sql_target) is None


def test_killed_export_resumes_from_airflows_task_state_store(make_portal, sql_target, task_state_store):
    portal = make_portal(deals=7000, simulate_cost=True)
    op = export_op(sql_target)
    supervisor = task_state_store.supervisor
    watcher = break_portal_when(portal, lambda: bool(supervisor.values), {"faults": {"server_error": 1.0}})
    with pytest.raises(BitrixError):
        op.execute(make_context(try_number=1, state_store=task_state_store))
    watcher.join()

    checkpoint = TaskStateCheckpoint(task_state_store).load()
    assert checkpoint is not None
    ranges = parallel_ranges(checkpoint)
    assert checkpoint.throttle is not None and checkpoint.throttle["version"] >= 1  # it travels along
    assert table_checkpoint(sql_target) is None  # the store was used, not the fallback table
    assert "deals" not in sql_target.tables()
    # the store is written after the chunk's commit: the staging table may hold one chunk more
    committed = outside(seeded_ids(portal), ranges)
    staged = sql_target.ids(staging_of(checkpoint))
    assert set(committed) <= set(staged) and len(staged) - len(committed) <= CHUNK_ROWS

    configure(portal, {"faults": {"server_error": 0.0}})
    reset_counters(portal)
    summary = op.execute(make_context(try_number=2, state_store=task_state_store))
    assert_resumed(sql_target, portal, checkpoint, summary)
    assert TaskStateCheckpoint(task_state_store).load() is None


_CHILD = """
import sys
from types import SimpleNamespace
from bitrix24_provider.operators.bitrix24 import Bitrix24GetAllOperator

op = Bitrix24GetAllOperator(task_id="export", method="crm.deal.list", sql_conn_id="stage_sqlite",
                            target_table="deals", retries=3)
ti = SimpleNamespace(try_number=1, max_tries=3, dag_id="b24_test", run_id=sys.argv[1], task_id="export",
                     map_index=-1)
op.execute({"ti": ti, "run_id": sys.argv[1]})
print("FINISHED")
"""


@pytest.mark.slow
def test_sigkilled_worker_resumes(make_portal, sqlite_target, tmp_path: Path):
    portal = make_portal(deals=9000, simulate_cost=True)
    run_id = make_context()["run_id"]
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, str(script), run_id], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 120
        while table_checkpoint(sqlite_target) is None:
            assert child.poll() is None, child.stdout.read().decode()[-2000:] if child.stdout else ""
            assert time.monotonic() < deadline, "the child never committed a chunk"
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL

    checkpoint = table_checkpoint(sqlite_target)
    assert checkpoint is not None
    assert "deals" not in sqlite_target.tables()
    assert staging_tables(sqlite_target) == [staging_of(checkpoint)]
    # the default client split the export into parallel chains; the staged rows are exactly the
    # committed ones (the checkpoint row commits with its chunk)
    ranges = parallel_ranges(checkpoint)
    assert sqlite_target.ids(staging_of(checkpoint)) == outside(seeded_ids(portal), ranges)

    reset_counters(portal)
    retry = export_op(sqlite_target, client_kwargs=None, chunk_rows=2500)  # the child's settings
    summary = retry.execute(make_context(try_number=2))
    assert_resumed(sqlite_target, portal, checkpoint, summary)


def test_a_retry_with_other_parameters_starts_over(make_portal, sqlite_target):
    portal = make_portal(deals=6000, simulate_cost=True)
    watcher = break_portal_when(
        portal, lambda: table_checkpoint(sqlite_target) is not None, {"faults": {"server_error": 1.0}}
    )
    with pytest.raises(BitrixError):
        export_op(sqlite_target).execute(make_context(try_number=1))
    watcher.join()
    stale = table_checkpoint(sqlite_target)
    assert stale is not None
    configure(portal, {"faults": {"server_error": 0.0}})
    summary = export_op(sqlite_target, select=["ID", "TITLE"]).execute(make_context(try_number=2))
    assert summary["resumed"] is False
    assert sqlite_target.ids("deals") == seeded_ids(portal)
    assert set(sqlite_target.column_types("deals")) == {"ID", "TITLE"}
    assert not staging_tables(sqlite_target)


def test_the_last_try_cleans_up(make_portal, sql_target):
    portal = make_portal(deals=6000, simulate_cost=True)
    watcher = break_portal_when(
        portal, lambda: table_checkpoint(sql_target) is not None, {"faults": {"server_error": 1.0}}
    )
    with pytest.raises(BitrixError):
        export_op(sql_target).execute(make_context(try_number=4, max_tries=3))
    watcher.join()
    assert not staging_tables(sql_target)
    assert table_checkpoint(sql_target) is None
    assert "deals" not in sql_target.tables()


def test_a_permanent_error_cleans_up_and_fails_fast(make_portal, sqlite_target):
    portal = make_portal(deals=6000, simulate_cost=True)
    watcher = break_portal_when(
        portal, lambda: table_checkpoint(sqlite_target) is not None, {"webhook_code": "revoked0000000"}
    )
    with pytest.raises(AuthError) as failure:
        export_op(sqlite_target).execute(make_context(try_number=1))
    watcher.join()
    assert decide(failure.value)[0] == "fail"
    assert portal.config.webhook_code != "emulatorwebhook0"
    assert "emulatorwebhook0" not in str(failure.value)
    assert not staging_tables(sqlite_target)
    assert "deals" not in sqlite_target.tables()


def test_a_try_that_died_after_its_commit_is_not_loaded_again(make_portal, sqlite_target, task_state_store):
    portal = make_portal(deals=1500)
    supervisor = task_state_store.supervisor
    send = supervisor.send

    def crash_on_delete(msg: Any) -> Any:  # the worker dies right after the publishing commit
        if type(msg).__name__ == "DeleteTaskStateStore":
            raise RuntimeError("worker lost")
        return send(msg)

    supervisor.send = crash_on_delete
    op = export_op(sqlite_target, write_disposition="append")
    with pytest.raises(RuntimeError, match="worker lost"):
        op.execute(make_context(try_number=1, state_store=task_state_store))
    assert sqlite_target.ids("deals") == seeded_ids(portal)  # committed

    supervisor.send = send
    reset_counters(portal)
    summary = op.execute(make_context(try_number=2, state_store=task_state_store))
    assert summary["already_committed"] is True and summary["rows"] == 1500
    assert stats(portal)["rows_served"] == 0
    assert sqlite_target.ids("deals") == seeded_ids(portal)  # appended once, not twice
    assert TaskStateCheckpoint(task_state_store).load() is None
