"""Every example DAG end to end with ``dag.test()`` against the bundled emulator, on SQLite and on
PostgreSQL staging databases."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from bitrix24_provider.client import Bitrix
from bitrix24_provider.emulator import Emulator, EmulatorConfig

DAGS = Path(__file__).resolve().parents[2] / "dags_examples"
TABLES = ("b24_deals", "b24_leads", "b24_contacts", "b24_companies")
HOUSEKEEPING = ("_bitrix24_sync_state", "_bitrix24_resume")

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("airflow_db")]


def load_dag(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"example_{name}", DAGS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def run(dag: Any, **kwargs: Any) -> str:
    dag_run = dag.test(**kwargs)
    return str(dag_run.state)


@pytest.fixture(scope="module")
def portal() -> Iterator[Emulator]:
    config = EmulatorConfig(deals=1200, leads=300, contacts=250, companies=120, simulate_cost=False)
    with Emulator(config).in_thread() as emulator:
        yield emulator


def ids(portal: Emulator, entity: str) -> list[int]:
    with Bitrix(portal.webhook_url, verbose=False) as bx:
        return sorted(int(r["ID"]) for r in bx.get_all(f"crm.{entity}.list", {"select": ["ID"]}))


Staging = Callable[[str], list[tuple[Any, ...]]]


@pytest.fixture(params=["sqlite", "postgres"])
def staging(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Staging]:
    """Points ``bitrix24_staging`` at a fresh database and returns a query function."""
    if request.param == "sqlite":
        path = tmp_path / "staging.db"
        monkeypatch.setenv(
            "AIRFLOW_CONN_BITRIX24_STAGING", json.dumps({"conn_type": "sqlite", "host": str(path)})
        )

        def query(sql: str) -> list[tuple[Any, ...]]:
            with sqlite3.connect(path) as db:
                return db.execute(sql).fetchall()

        yield query
        return
    import psycopg

    dsn: str = request.getfixturevalue("postgres_dsn")
    with psycopg.connect(dsn, autocommit=True) as db:
        for table in (*TABLES, *HOUSEKEEPING):
            db.execute(f'DROP TABLE IF EXISTS "{table}"')
    monkeypatch.setenv(
        "AIRFLOW_CONN_BITRIX24_STAGING",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": "127.0.0.1",
                "port": 5432,
                "login": "postgres",
                "schema": "test",
            }
        ),
    )

    def pg_query(sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(dsn) as db:
            return db.execute(sql).fetchall()

    yield pg_query


@pytest.fixture
def portal_conn(portal: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    monkeypatch.setenv(
        "AIRFLOW_CONN_BITRIX24_DEFAULT", json.dumps({"conn_type": "bitrix24", "host": portal.webhook_url})
    )
    return portal


def staged_ids(staging: Staging, table: str) -> list[int]:
    return sorted(int(row[0]) for row in staging(f'SELECT "ID" FROM {table}'))


def test_full_load(portal_conn: Emulator, staging: Staging, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(load_dag("bitrix24_full_load")) == "success"
    for table, entity in zip(TABLES, ("deal", "lead", "contact", "company"), strict=True):
        assert staged_ids(staging, table) == ids(portal_conn, entity)
    output = capsys.readouterr()
    assert portal_conn.config.webhook_code not in output.out + output.err


def test_incremental_merge(portal_conn: Emulator, staging: Staging) -> None:
    dag = load_dag("bitrix24_incremental_deals")
    began = datetime.now(timezone.utc)
    assert run(dag) == "success"
    assert staged_ids(staging, "b24_deals") == ids(portal_conn, "deal")
    with Bitrix(portal_conn.webhook_url, verbose=False) as bx:
        changed = ids(portal_conn, "deal")[:3]
        bx.call("crm.deal.update", [{"id": i, "fields": {"TITLE": f"changed {i}"}} for i in changed])
        added = bx.call("crm.deal.add", {"fields": {"TITLE": "brand new"}})
    assert run(dag, logical_date=datetime.now(timezone.utc)) == "success"
    titles = dict(staging('SELECT "ID", "TITLE" FROM b24_deals'))
    titles = {int(k): v for k, v in titles.items()}
    assert all(titles[i] == f"changed {i}" for i in changed)
    assert titles[int(added)] == "brand new"
    assert sorted(titles) == ids(portal_conn, "deal")
    # each run announced the table through the task's asset alias, with what it loaded
    events = asset_events("bitrix24/b24_deals", since=began)
    assert len(events) == 2
    uri = events[0][0]
    assert uri.endswith("/b24_deals") and uri.split("://")[0] in ("sqlite", "postgres")
    if uri.startswith("postgres://"):
        assert uri == "postgres://127.0.0.1:5432/test/public/b24_deals"
    first, second = (extra for _, extra in events)
    assert first["rows"] == len(ids(portal_conn, "deal")) - 1 and first["mode"] == "merge"
    assert 4 <= second["rows"] < first["rows"] and second["max_cursor"] >= first["max_cursor"]
    # the report DAG schedules on that alias
    report = load_dag("bitrix24_deals_report")
    assert [a.name for a in report.timetable.asset_condition.objects] == ["bitrix24/b24_deals"]
    assert run(report) == "success"


def asset_events(alias: str, since: datetime) -> list[tuple[str, dict[str, Any]]]:
    """(asset URI, extra) of the asset events attached through *alias* since *since*, oldest first."""
    from airflow.models.asset import AssetAliasModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        model = session.scalar(select(AssetAliasModel).where(AssetAliasModel.name == alias))
        assert model is not None, f"no asset alias {alias!r} was recorded"
        found = [(e.asset.uri, dict(e.extra)) for e in model.asset_events if e.timestamp >= since]
        session.expunge_all()
    return sorted(found, key=lambda e: (e[1].get("max_cursor") or "", e[1]["rows"]))


def test_write_back(portal_conn: Emulator, staging: Staging) -> None:
    assert run(load_dag("bitrix24_full_load")) == "success"
    assert run(load_dag("bitrix24_write_back")) == "success"
    with Bitrix(portal_conn.webhook_url, verbose=False) as bx:
        marked = bx.get_all(
            "crm.deal.list", {"select": ["ID"], "filter": {"COMMENTS": "Reviewed by the data team"}}
        )
    assert len(marked) == 100


def test_sensor_triggered_sync(staging: Staging, monkeypatch: pytest.MonkeyPatch) -> None:
    # a portal of its own: no other test's writes fall inside the sensor's watermark
    with Emulator(EmulatorConfig(deals=300, simulate_cost=False)).in_thread() as portal:
        monkeypatch.setenv(
            "AIRFLOW_CONN_BITRIX24_DEFAULT", json.dumps({"conn_type": "bitrix24", "host": portal.webhook_url})
        )
        _sensor_then_merge(portal, staging)


def _sensor_then_merge(portal_conn: Emulator, staging: Staging) -> None:
    dag = load_dag("bitrix24_sensor_sync")
    sensor = dag.get_task("wait_for_changed_deals")
    sensor.poke_interval = 0.5
    # the run's daily data interval started at midnight; wait for changes from now on
    sensor.watermark = datetime.now(timezone.utc).isoformat()
    target = ids(portal_conn, "deal")[5]

    def change_later() -> None:
        time.sleep(3)
        with Bitrix(portal_conn.webhook_url, verbose=False) as bx:
            bx.call("crm.deal.update", {"id": target, "fields": {"TITLE": "changed while waiting"}})

    thread = threading.Thread(target=change_later)
    thread.start()
    try:
        assert run(dag, logical_date=datetime.now(timezone.utc)) == "success"
    finally:
        thread.join()
    rows = staging(f'SELECT "TITLE" FROM b24_deals WHERE "ID" = {target}')
    assert rows == [("changed while waiting",)]
