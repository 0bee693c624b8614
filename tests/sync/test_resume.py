"""The typed, versioned resume point: JSON round trip, old versions discarded cleanly, and a killed
load resumed through any orchestrator's state store (here a dict), against the emulator over HTTP."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from bitrix24_provider.client import Bitrix, ClientSettings, RetryPolicy
from bitrix24_provider.client.errors import BitrixError
from bitrix24_provider.staging.columns import Column
from bitrix24_provider.staging.database import Database
from bitrix24_provider.staging.identifiers import TableName
from bitrix24_provider.staging.sink import Progress, StagingPosition
from bitrix24_provider.staging.sync_state import ResumeTable
from bitrix24_provider.sync import ClientPortal, LoadRun, LoadSpec, RunIdentity, SqlDestination, run_load
from bitrix24_provider.sync.incremental import Bounds
from bitrix24_provider.sync.resume import RESUME_VERSION, ResumePoint, StaleResumePoint, TaskStateCheckpoint
from tests.staging._support import SqlTarget, configure, reset_counters, seeded_ids, stats

POINT = ResumePoint(
    fingerprint="f" * 32,
    params={"select": ["*"], "filter": {">=DATE_MODIFY": "2026-01-01T00:00:00+03:00"}},
    progress=Progress(
        rows_read=5000,
        pages=100,
        chunks=2,
        ranges=[(2600, 5000), (7600, None)],
        started_at="2026-01-02T00:00:00+03:00",
    ),
    throttle=None,
    position=StagingPosition(
        "_b24stg_deals_abc", "_b24stg_deals_abc", (Column("ID", "integer"), Column("X", "json"))
    ),
    bounds=Bounds("2026-01-01T00:00:00+03:00", None, "resume"),
)


class DictStore:
    """A state store of another orchestrator: get/set/delete on a dict, values through JSON."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    def set(self, key: str, value: Any) -> None:
        self.values[key] = json.dumps(value)

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


def test_a_resume_point_round_trips_through_json():
    data = json.loads(json.dumps(POINT.to_json()))
    assert data["version"] == RESUME_VERSION
    assert ResumePoint.from_json(data) == POINT


@pytest.mark.parametrize(
    ("record", "staging"),
    [
        ({"fingerprint": "x", "ranges": [[0, None]], "staging": "_b24stg_deals_old"}, "_b24stg_deals_old"),
        ({**POINT.to_json(), "version": 5}, "_b24stg_deals_abc"),
        ({**POINT.to_json(), "progress": {"rows_read": "many"}}, "_b24stg_deals_abc"),
        ({**POINT.to_json(), "position": {"staging": "s", "load_id": "s", "columns": [["A", "money"]]}}, "s"),
        ([1, 2], None),
    ],
    ids=["v3", "newer", "bad-progress", "bad-kind", "not-an-object"],
)
def test_records_it_cannot_continue_are_stale(record, staging):
    with pytest.raises(StaleResumePoint) as stale:
        ResumePoint.from_json(record)
    assert stale.value.staging == staging


def _destination(target: SqlTarget) -> SqlDestination:
    return SqlDestination(Database(sa.create_engine(target.url)), TableName.checked("deals"), target.conn_id)


def _run(try_number: int, store: object | None = None) -> LoadRun:
    identity = RunIdentity("test", "pipeline", "run-1", "deals", try_number=try_number, more_tries=True)
    return LoadRun(identity, state_store=store)


def _killed_once(
    portal: Any,
    store: DictStore,
    spec: LoadSpec,
    settings: ClientSettings,
    target: SqlTarget,
    ready: Callable[[ResumePoint], bool],
) -> ResumePoint:
    """Run a load that fails for good (every request a 500) once its saved checkpoint is ``ready``;
    the checkpoint it left."""

    def break_when_ready() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            point = TaskStateCheckpoint(store).load() if store.values else None
            if point is not None and ready(point):
                break
            time.sleep(0.005)
        configure(portal, {"faults": {"server_error": 1.0}})

    watcher = threading.Thread(target=break_when_ready, daemon=True)
    watcher.start()
    with Bitrix(portal.webhook_url, settings=settings) as client, pytest.raises(BitrixError):
        run_load(spec, ClientPortal(client), _destination(target), _run(1, store))
    watcher.join()
    point = TaskStateCheckpoint(store).load()
    assert point is not None and point.position is not None
    return point


def test_a_v3_checkpoint_is_discarded_with_its_staging_table(make_portal, sqlite_target, caplog):
    portal = make_portal(deals=120)
    sqlite_target.execute('CREATE TABLE "_b24stg_deals_0123456789" ("ID" INTEGER)')
    destination = _destination(sqlite_target)
    table = ResumeTable(destination.database, None)
    old = {"fingerprint": "old", "ranges": [[0, None]], "staging": "_b24stg_deals_0123456789"}
    with destination.database.begin() as conn:
        table.put(conn, _run(2).identity.key, old)
    caplog.set_level(logging.INFO, logger="bitrix24_provider.sync.load")
    with Bitrix(portal.webhook_url) as client:
        spec = LoadSpec("crm.deal.list", primary_key=("ID",))
        summary = run_load(spec, ClientPortal(client), destination, _run(2))
    destination.database.dispose()
    assert summary.rows == 120 and not summary.resumed
    assert sqlite_target.ids("deals") == seeded_ids(portal)
    assert not [t for t in sqlite_target.tables() if t.startswith("_b24stg_")]
    assert sqlite_target.rows('SELECT COUNT(*) FROM "_bitrix24_resume"') == [(0,)]
    assert "Discarding an unusable checkpoint" in caplog.text and "version None" in caplog.text


def test_a_killed_load_resumes_from_another_orchestrators_state_store(make_portal, sqlite_target):
    portal = make_portal(deals=6000, simulate_cost=True)
    store = DictStore()
    settings = ClientSettings(
        batch_size=10, max_parallel_chains=4, retry=RetryPolicy(max_attempts=2, base=0.01, cap=0.02)
    )
    spec = LoadSpec("crm.deal.list", primary_key=("ID",), chunk_rows=500)

    point = _killed_once(portal, store, spec, settings, sqlite_target, lambda point: True)
    assert point.progress.ranges is not None
    assert point.throttle is not None  # the client's throttle state travels with it
    assert "deals" not in sqlite_target.tables()
    staged = len(sqlite_target.ids(point.position.staging))
    assert 0 < staged < 6000

    configure(portal, {"faults": {"server_error": 0.0}})
    reset_counters(portal)
    with Bitrix(portal.webhook_url, settings=settings) as client:
        summary = run_load(spec, ClientPortal(client), _destination(sqlite_target), _run(2, store))
    assert summary.resumed and summary.rows == 6000
    assert sqlite_target.ids("deals") == seeded_ids(portal)
    assert stats(portal)["rows_served"] < 6000 - staged + 600  # committed rows are not read again
    assert not store.values  # cleared with the publish


def test_a_load_killed_after_its_chains_split_resumes_without_loss(make_portal, sqlite_target):
    portal = make_portal(deals=12000, simulate_cost=True)
    table = portal.portal.store.table("deal")
    ids = seeded_ids(portal)
    for n, rid in enumerate(ids):  # both ends mostly deleted: the first split sees a few hundred rows
        if (n < 3000 or n >= len(ids) - 3000) and n % 30:
            table.delete(rid)
    total = len(seeded_ids(portal))
    store = DictStore()
    settings = ClientSettings(batch_size=10, retry=RetryPolicy(max_attempts=2, base=0.01, cap=0.02))
    spec = LoadSpec("crm.deal.list", primary_key=("ID",), chunk_rows=500)

    # killed once the chains were cut finer than the first split and a chunk was committed
    point = _killed_once(
        portal, store, spec, settings, sqlite_target, lambda point: len(point.progress.ranges or []) >= 3
    )
    assert len(point.progress.ranges or []) >= 3
    staged = len(sqlite_target.ids(point.position.staging))
    assert 0 < staged < total

    configure(portal, {"faults": {"server_error": 0.0}})
    reset_counters(portal)
    with Bitrix(portal.webhook_url, settings=settings) as client:
        summary = run_load(spec, ClientPortal(client), _destination(sqlite_target), _run(2, store))
    assert summary.resumed and summary.rows == total
    assert sqlite_target.ids("deals") == seeded_ids(portal)  # every row once (ID is the primary key)
    # what was committed before the split is not read again: the cut ranges kept their positions
    assert stats(portal)["rows_served"] < total - staged + 600
