"""Deleted records (issue #13): ID reconciliation over the emulator's HTTP, into real SQLite and
PostgreSQL targets. After deletions, edits, additions and restores in the portal, an incremental
run leaves the target equal to the portal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from bitrix24_provider.client import Bitrix
from bitrix24_provider.client.retry import RetryPolicy
from bitrix24_provider.client.settings import ClientSettings
from bitrix24_provider.emulator import Emulator
from bitrix24_provider.staging.database import Database
from bitrix24_provider.staging.deletions import DELETED_AT
from bitrix24_provider.staging.errors import DeletionLimitError, StagingConfigError
from bitrix24_provider.staging.identifiers import TableName
from bitrix24_provider.staging.watermark import parse_time
from bitrix24_provider.sync import ClientPortal, LoadRun, LoadSpec, RunIdentity, SqlDestination, run_load
from bitrix24_provider.sync.failures import is_permanent
from tests.staging._support import SqlTarget, configure, portal_post, seeded_ids, stats

SELECT = ["ID", "TITLE", "DATE_MODIFY"]


def spec(mode: str | None, **overrides: Any) -> LoadSpec:
    options: dict[str, Any] = {
        "select": SELECT,
        "write_disposition": "merge",
        "primary_key": ("ID",),
        "cursor_field": "DATE_MODIFY",
        "deletions": mode,
        "max_deletions": 0.5,
    }
    return LoadSpec("crm.deal.list", **{**options, **overrides})


def load(emulator: Emulator, target: SqlTarget, load_spec: LoadSpec, client: Bitrix | None = None) -> Any:
    destination = SqlDestination(
        Database(sa.create_engine(target.url)), TableName.checked("deals", target.schema), target.conn_id
    )
    identity = RunIdentity("test", "pipeline", "run-1", "deals")
    own = client is None
    bx = client or Bitrix(emulator.webhook_url)
    try:
        return run_load(load_spec, ClientPortal(bx), destination, LoadRun(identity))
    finally:
        destination.database.dispose()
        if own:
            bx.close()


def write(emulator: Emulator, method: str, params: dict[str, Any]) -> Any:
    """The test's own change of the portal's data, through the in-process Portal API (no bucket)."""
    return emulator.portal.apply(method, params)


def restore(emulator: Emulator, rid: int) -> None:
    portal_post(emulator, f"/_emulator/restore/deal/{rid}", {})


def flagged(target: SqlTarget) -> list[int]:
    rows = target.rows(f'SELECT "ID" FROM {target.qualified("deals")} WHERE "{DELETED_AT}" IS NOT NULL')
    return sorted(int(r[0]) for r in rows)


def unflagged(target: SqlTarget) -> list[int]:
    rows = target.rows(f'SELECT "ID" FROM {target.qualified("deals")} WHERE "{DELETED_AT}" IS NULL')
    return sorted(int(r[0]) for r in rows)


def titles(target: SqlTarget) -> dict[int, str]:
    return {int(i): t for i, t in target.rows(f'SELECT "ID", "TITLE" FROM {target.qualified("deals")}')}


def portal_titles(emulator: Emulator) -> dict[int, str]:
    table = emulator.portal.store.table("deal")
    return {rid: table.value(rid, "TITLE") for rid in table.ids}


@pytest.mark.parametrize("mode", ["soft", "hard"])
def test_after_deletes_edits_adds_and_restores_the_target_equals_the_portal(make_portal, sql_target, mode):
    emulator = make_portal(deals=300)
    first = load(emulator, sql_target, spec(mode))
    assert first.rows == 300 and first.as_dict()["rows_marked_deleted"] == 0
    ids = seeded_ids(emulator)
    earlier = ids[:35]  # deleted, found gone by run 2, 5 of them restored before run 3
    for rid in earlier:
        write(emulator, "crm.deal.delete", {"id": rid})
    second = load(emulator, sql_target, spec(mode))
    assert second.reconciled
    if mode == "soft":
        assert second.rows_marked_deleted == 35 and flagged(sql_target) == earlier
    else:
        assert second.rows_hard_deleted == 35 and sql_target.ids("deals") == seeded_ids(emulator)

    deleted, updated = ids[100:130], ids[200:220]
    for rid in deleted:
        write(emulator, "crm.deal.delete", {"id": rid})
    for rid in updated:
        write(emulator, "crm.deal.update", {"id": rid, "fields": {"TITLE": f"edited {rid}"}})
    added = [write(emulator, "crm.deal.add", {"fields": {"TITLE": f"new {n}"}}) for n in range(10)]
    restored = earlier[:5]
    for rid in restored:  # back from the recycle bin with its old DATE_MODIFY
        restore(emulator, rid)
    emulator.portal.clock.advance(5)
    third = load(emulator, sql_target, spec(mode))

    portal_ids = seeded_ids(emulator)
    assert len(portal_ids) == 300 - 35 - 30 + 10 + 5
    assert titles(sql_target).items() >= portal_titles(emulator).items()
    assert third.rows_restored == 5
    if mode == "soft":
        assert unflagged(sql_target) == portal_ids
        assert flagged(sql_target) == sorted(earlier[5:] + deleted)
        assert third.rows_marked_deleted == 30
    else:
        assert sql_target.ids("deals") == portal_ids
        assert third.rows_hard_deleted == 30
    assert {int(a) for a in added} <= set(portal_ids)
    xcom = third.as_dict()
    assert xcom["deletions"] == mode and xcom["reconciled"] is True
    assert xcom["rows_restored"] == 5


def test_soft_deletion_time_is_the_runs_start_on_the_portal_clock(make_portal, sqlite_target):
    emulator = make_portal(deals=100)
    load(emulator, sqlite_target, spec("soft"))
    write(emulator, "crm.deal.delete", {"id": seeded_ids(emulator)[0]})
    emulator.portal.clock.advance(7200)
    before = emulator.portal.clock.now()
    load(emulator, sqlite_target, spec("soft"))
    after = emulator.portal.clock.now()
    marks = sqlite_target.rows(f'SELECT "{DELETED_AT}" FROM "deals" WHERE "{DELETED_AT}" IS NOT NULL')
    assert len(marks) == 1
    moment = parse_time(marks[0][0])
    assert moment is not None and int(before) <= moment.timestamp() <= after
    (state,) = sqlite_target.rows('SELECT reconciled_at FROM "_bitrix24_sync_state"')
    assert state[0] == marks[0][0]


def test_over_the_safety_limit_nothing_changes(make_portal, sql_target):
    emulator = make_portal(deals=200)
    load(emulator, sql_target, spec("hard", max_deletions=0.10))
    before = sql_target.rows(f'SELECT "ID", "TITLE" FROM {sql_target.qualified("deals")} ORDER BY "ID"')
    state = sql_target.state("deals")
    ids = seeded_ids(emulator)
    for rid in ids[:21]:  # 21 > 10% of 200
        write(emulator, "crm.deal.delete", {"id": rid})
    write(emulator, "crm.deal.update", {"id": ids[50], "fields": {"TITLE": "edited"}})
    emulator.portal.clock.advance(5)
    with pytest.raises(DeletionLimitError, match="21 of 200") as failure:
        load(emulator, sql_target, spec("hard", max_deletions=0.10))
    assert is_permanent(failure.value)
    assert (
        sql_target.rows(f'SELECT "ID", "TITLE" FROM {sql_target.qualified("deals")} ORDER BY "ID"') == before
    )
    assert sql_target.state("deals") == state  # the watermark did not move either
    assert not [t for t in sql_target.tables() if t.startswith(("_b24key_", "_b24stg_"))]
    raised = load(emulator, sql_target, spec("hard", max_deletions=21))
    assert raised.rows_hard_deleted == 21 and sql_target.ids("deals") == seeded_ids(emulator)


def test_reconcile_every_skips_the_key_scan_while_recent(make_portal, sqlite_target):
    emulator = make_portal(deals=100)
    daily = spec("hard", reconcile_every=timedelta(days=1))
    assert load(emulator, sqlite_target, daily).reconciled
    write(emulator, "crm.deal.delete", {"id": seeded_ids(emulator)[0]})
    emulator.portal.clock.advance(3600)
    skipped = load(emulator, sqlite_target, daily)
    assert not skipped.reconciled and skipped.rows_hard_deleted == 0
    assert sqlite_target.count("deals") == 100
    emulator.portal.clock.advance(86400)
    due = load(emulator, sqlite_target, daily)
    assert due.reconciled and due.rows_hard_deleted == 1
    assert sqlite_target.ids("deals") == seeded_ids(emulator)


def test_a_filtered_load_reconciles_within_its_filter(make_portal, sqlite_target):
    emulator = make_portal(deals=300)
    won = spec("soft", filter={"STAGE_ID": "WON"}, select=[*SELECT, "STAGE_ID"], max_deletions=1.0)
    load(emulator, sqlite_target, won)
    loaded = sqlite_target.ids("deals")
    assert 0 < len(loaded) < 300
    moved, deleted = loaded[0], loaded[1]
    write(emulator, "crm.deal.update", {"id": moved, "fields": {"STAGE_ID": "LOSE"}})
    write(emulator, "crm.deal.delete", {"id": deleted})
    emulator.portal.clock.advance(5)
    summary = load(emulator, sqlite_target, won)
    # a record that left the filter counts as gone from this table, like a deleted one
    assert flagged(sqlite_target) == sorted([moved, deleted])
    assert summary.rows_marked_deleted == 2


@pytest.mark.parametrize("seed", range(20))
def test_under_faults_no_live_row_is_ever_marked_deleted(make_portal, sqlite_target, seed):
    emulator = make_portal(deals=600, seed=seed)
    load(emulator, sqlite_target, spec("soft"))
    ids = seeded_ids(emulator)
    gone = ids[seed * 5 : seed * 5 + 20]
    for rid in gone:
        write(emulator, "crm.deal.delete", {"id": rid})
    configure(
        emulator,
        {"faults": {"silent_empty": 0.3, "query_limit": 0.1, "drop": 0.05, "seed": seed}},
    )
    settings = ClientSettings(
        batch_size=3, max_parallel_chains=3, retry=RetryPolicy(max_attempts=4, base=0.01, cap=0.02)
    )
    with Bitrix(emulator.webhook_url, settings=settings) as bx:
        try:
            summary = load(emulator, sqlite_target, spec("soft"), bx)
        except Exception:  # a failed run changes nothing
            summary = None
    struck = sum(stats(emulator)["faults"].values())
    assert struck > 0
    configure(emulator, {"faults": {"silent_empty": 0.0, "query_limit": 0.0, "drop": 0.0}})
    assert set(flagged(sqlite_target)) <= set(gone)  # never a live row
    if summary is not None:
        assert flagged(sqlite_target) == gone and summary.rows_marked_deleted == 20
        assert unflagged(sqlite_target) == seeded_ids(emulator)
    else:  # a failed run changes nothing
        assert flagged(sqlite_target) == [] and sqlite_target.count("deals") == 600


def test_the_spec_refuses_what_cannot_reconcile():
    with pytest.raises(StagingConfigError, match="merge"):
        LoadSpec("crm.deal.list", primary_key=("ID",), deletions="soft")
    with pytest.raises(StagingConfigError, match="primary_key"):
        LoadSpec("crm.deal.list", write_disposition="merge", primary_key=("TITLE",), deletions="hard")
    with pytest.raises(StagingConfigError, match="deletions must be one of"):
        LoadSpec("crm.deal.list", write_disposition="merge", primary_key=("ID",), deletions="purge")  # type: ignore[arg-type]
    for bad in (-1, 1.5, True, "10%"):
        with pytest.raises(StagingConfigError, match="max_deletions"):
            spec("soft", max_deletions=bad)
    with pytest.raises(StagingConfigError, match="reconcile_every"):
        spec("soft", reconcile_every=timedelta(0))
    assert spec(None).deletions is None  # today's behaviour stays the default
