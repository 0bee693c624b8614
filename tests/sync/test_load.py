"""run_load without any orchestrator: the engine over a ClientPortal against the emulator over HTTP,
into real SQLite/PostgreSQL tables, files and DataFrames."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from bitrix24_provider.client import Bitrix
from bitrix24_provider.client.errors import InvalidCredentials
from bitrix24_provider.emulator import Emulator
from bitrix24_provider.staging.database import Database
from bitrix24_provider.staging.errors import StagingConfigError, UnknownFieldError
from bitrix24_provider.staging.identifiers import TableName
from bitrix24_provider.sync import (
    ClientPortal,
    FileDestination,
    FrameDestination,
    LoadRun,
    LoadSpec,
    RunIdentity,
    SqlDestination,
    SummaryColumn,
    run_load,
)
from tests.staging._support import SqlTarget, reset_counters, rest, seeded_ids, stats

XCOM_KEYS = ["rows", "rows_read", "pages", "requests", "max_cursor", "target", "mode", "resumed", "resumable"]


def identity(try_number: int = 1, more_tries: bool = False) -> RunIdentity:
    return RunIdentity("test", "pipeline", "run-1", "deals", try_number=try_number, more_tries=more_tries)


@pytest.fixture
def portal(make_portal: Any) -> Emulator:
    return make_portal(deals=300, leads=20)


@pytest.fixture
def client(portal: Emulator) -> Iterator[Bitrix]:
    with Bitrix(portal.webhook_url) as bx:
        yield bx


def sql_destination(target: SqlTarget, table: str = "deals") -> SqlDestination:
    url = target.url
    db = Database(sa.create_engine(url))
    return SqlDestination(db, TableName.checked(table, target.schema), target.conn_id)


def load(spec: LoadSpec, client: Bitrix, destination: Any, run: LoadRun | None = None) -> Any:
    try:
        return run_load(spec, ClientPortal(client), destination, run or LoadRun(identity()))
    finally:
        if isinstance(destination, SqlDestination):
            destination.database.dispose()


def test_a_full_load_is_exact_and_summarised(portal, client, sql_target):
    spec = LoadSpec("crm.deal.list", select=["*", "UF_*"], primary_key=("ID",))
    summary = load(spec, client, sql_destination(sql_target))
    assert sql_target.ids("deals") == seeded_ids(portal)
    assert summary.rows == summary.rows_read == 300
    assert summary.mode == "replace" and summary.resumable and not summary.resumed
    assert summary.requests > 0
    assert list(summary.as_dict()) == XCOM_KEYS  # today's XCom keys, in today's order
    columns = {c.name: c for c in summary.columns}
    assert columns["ID"] == SummaryColumn("ID", "integer", "ID")
    assert columns["STAGE_ID"].type == "crm_status"
    custom = [c for c in summary.columns if c.name.startswith("UF_CRM_")]
    assert len(custom) >= 5  # those a row carries (an always-empty multi-field makes no column)
    assert all(c.title != c.name for c in custom)  # a user field's label, from its formLabel
    assert [c.name for c in summary.columns] == list(sql_target.column_types("deals"))


def test_an_incremental_load_reads_only_changed_rows(portal, client, sqlite_target):
    spec = LoadSpec(
        "crm.deal.list",
        select=["ID", "TITLE", "DATE_MODIFY"],
        primary_key=("ID",),
        cursor_field="DATE_MODIFY",
        write_disposition="merge",
    )
    first = load(spec, client, sql_destination(sqlite_target))
    assert first.incremental and first.incremental_from is None and first.watermark is not None
    assert first.as_dict()["watermark"] == first.watermark
    assert [c.name for c in first.columns] == ["ID", "TITLE", "DATE_MODIFY"]
    portal.portal.clock.advance(60)
    changed = seeded_ids(portal)[:3]
    for deal in changed:
        rest(portal, "crm.deal.update", {"id": deal, "fields": {"TITLE": f"changed {deal}"}})
    second = load(spec, client, sql_destination(sqlite_target))
    assert 3 <= second.rows_read < 10  # the changed rows (and those at the watermark, read again)
    assert second.incremental_from is not None and second.incremental_from < second.watermark
    titles = dict(sqlite_target.rows('SELECT "ID", "TITLE" FROM "deals" WHERE "TITLE" LIKE \'changed%\''))
    assert sorted(titles) == changed
    assert sqlite_target.ids("deals") == seeded_ids(portal)


def test_files_and_frames_take_the_same_load(portal, client, tmp_path):
    spec = LoadSpec("crm.lead.list", primary_key=("ID",))
    path = tmp_path / "leads.parquet"
    summary = load(spec, client, FileDestination(str(path)))
    assert summary.rows == 20 and summary.target == str(path) and not summary.resumable
    assert sorted(pd.read_parquet(path)["ID"]) == seeded_ids(portal, "lead")
    frames: list[pd.DataFrame] = []
    summary = load(spec, client, FrameDestination(frames.append))
    assert summary.target == "df_callable" and sum(len(f) for f in frames) == 20
    assert {c.name for c in summary.columns} == set(frames[0].columns)


def test_values_typed_loads_describe_no_columns(client, sqlite_target):
    spec = LoadSpec("crm.lead.list", primary_key=("ID",), column_types="values")
    assert load(spec, client, sql_destination(sqlite_target, "leads")).columns == ()


@pytest.mark.parametrize(
    ("spec", "destination", "message"),
    [
        (
            LoadSpec("crm.deal.list", primary_key=("ID",), write_disposition="merge"),
            "file",
            "needs a SQL target",
        ),
        (
            LoadSpec("crm.deal.list", cursor_field="DATE_MODIFY"),
            "sql",
            "needs write_disposition 'merge' or 'append'",
        ),
        (LoadSpec("crm.deal.list", cursor_field="DATE_MODIFY"), "file", "needs use_data_interval=True"),
        (LoadSpec("crm.deal.list", allow_column_drop=True), "file", "allow_column_drop=True needs"),
    ],
)
def test_what_the_destination_cannot_take_fails_before_any_request(
    portal, client, sqlite_target, tmp_path, spec, destination, message
):
    reset_counters(portal)
    csv = FileDestination(str(tmp_path / "x.csv"))
    target = sql_destination(sqlite_target) if destination == "sql" else csv
    with pytest.raises(StagingConfigError, match=message):
        load(spec, client, target)
    assert stats(portal)["http_requests"] == 0
    assert not sqlite_target.tables()


def test_a_bad_field_name_fails_after_the_fields_call_only(portal, client, sqlite_target):
    reset_counters(portal)
    with pytest.raises(UnknownFieldError, match="DATE_MODIFED"):
        load(LoadSpec("crm.deal.list", select=["ID", "DATE_MODIFED"]), client, sql_destination(sqlite_target))
    assert stats(portal)["commands_by_method"] == {"crm.deal.fields": 1}  # no list request
    assert not sqlite_target.tables()


def test_a_wrong_webhook_is_the_clients_typed_error_and_writes_nothing(portal, sqlite_target):
    bad = portal.webhook_url.replace(portal.config.webhook_code, "wrongcode123")
    with Bitrix(bad) as client, pytest.raises(InvalidCredentials) as failure:
        load(LoadSpec("crm.deal.list"), client, sql_destination(sqlite_target))
    assert portal.config.webhook_code not in str(failure.value)
    assert not sqlite_target.tables()


def test_a_state_store_must_have_get_set_and_delete(client, sqlite_target):
    run = LoadRun(identity(), state_store={"not": "a store"})
    with pytest.raises(StagingConfigError, match="state_store must have get, set and delete"):
        load(LoadSpec("crm.deal.list", primary_key=("ID",)), client, sql_destination(sqlite_target), run)


def test_the_summary_is_json_for_any_orchestrator(client, sqlite_target):
    spec = LoadSpec("crm.lead.list", primary_key=("ID",))
    summary = load(spec, client, sql_destination(sqlite_target, "leads"))
    assert json.loads(json.dumps(summary.as_dict())) == summary.as_dict()
