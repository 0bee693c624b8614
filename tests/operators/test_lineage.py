"""OpenLineage of ``Bitrix24GetAllOperator`` in a real task run: ``airflow dags test`` in a fresh
Airflow home with the OpenLineage provider's file transport, against the emulator, on SQLite and
PostgreSQL staging databases."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bitrix24_provider.emulator import Emulator, EmulatorConfig
from bitrix24_provider.operators.lineage import entity_name

pytest.importorskip("airflow.providers.openlineage", reason="the extra [openlineage] is not installed")

TEST_DAG = Path(__file__).resolve().parents[1] / "dags" / "bitrix24_lineage.py"


def test_entity_names_follow_the_method_and_the_smart_process_type() -> None:
    assert entity_name("crm.deal.list") == "crm.deal"
    assert entity_name("crm.item.list", {"entityTypeId": 1032}) == "crm.item.1032"
    assert entity_name("tasks.task.list") == "tasks.task"
    assert entity_name("lists.element.get") == "lists.element"
    assert entity_name("user.get") == "user"


@pytest.fixture(scope="module")
def portal() -> Iterator[Emulator]:
    config = EmulatorConfig(deals=50, leads=240, contacts=10, companies=10, simulate_cost=False)
    with Emulator(config).in_thread() as emulator:
        yield emulator


def staging_connection(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str, str, str]:
    """(connection JSON, expected namespace, expected name prefix) of a fresh staging database."""
    if kind == "sqlite":
        path = tmp_path / "staging.db"
        conn = {"conn_type": "sqlite", "host": str(path)}
        return json.dumps(conn), f"sqlite://{socket.gethostname()}{path}", ""
    import psycopg

    dsn: str = request.getfixturevalue("postgres_dsn")
    with psycopg.connect(dsn, autocommit=True) as db:
        for table in ("b24_leads", "b24_items", "_bitrix24_sync_state", "_bitrix24_resume"):
            db.execute(f'DROP TABLE IF EXISTS "{table}"')
    conn = {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": "test"}
    return json.dumps(conn), "postgres://127.0.0.1:5432", "test.public."


def run_dag_with_lineage(tmp_path: Path, portal: Emulator, staging: str) -> tuple[list[dict[str, Any]], str]:
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(TEST_DAG, dags)
    events = tmp_path / "lineage.jsonl"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "bitrix24-test",
        "AIRFLOW_CONN_BITRIX24_DEFAULT": json.dumps(
            {
                "conn_type": "bitrix24",
                "host": portal.base_url,
                "login": "1",
                "password": portal.config.webhook_code,
            }
        ),
        "AIRFLOW_CONN_BITRIX24_STAGING": staging,
    }
    output = ""
    for argv in (["db", "migrate"], ["dags", "test", "bitrix24_lineage"]):
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *argv], env=env, capture_output=True, text=True, timeout=600
        )
        output += done.stdout + done.stderr
        assert done.returncode == 0, output[-3000:]
    return [json.loads(line) for line in events.read_text().splitlines()], output


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_each_task_emits_one_start_and_one_complete_with_the_entity_and_the_table(
    portal: Emulator, tmp_path: Path, request: pytest.FixtureRequest, kind: str
) -> None:
    staging, namespace, prefix = staging_connection(kind, tmp_path, request)
    events, output = run_dag_with_lineage(tmp_path, portal, staging)
    tasks = [e for e in events if e["job"]["name"].startswith("bitrix24_lineage.")]
    writes = [e for e in tasks if e["job"]["name"] == "bitrix24_lineage.add_contact"]
    tasks = [e for e in tasks if e not in writes]
    # one START and one COMPLETE per task: nothing from the staging statements
    assert sorted((e["job"]["name"], e["eventType"]) for e in tasks) == [
        ("bitrix24_lineage.load_leads", "COMPLETE"),
        ("bitrix24_lineage.load_leads", "START"),
        ("bitrix24_lineage.merge_items", "COMPLETE"),
        ("bitrix24_lineage.merge_items", "START"),
    ]
    portal_ns = f"bitrix24://{portal.base_url.split('://', 1)[1]}"
    expected = {"load_leads": ("crm.lead", "b24_leads", 240), "merge_items": ("crm.item.2", "b24_items", 50)}
    for event in tasks:
        entity, table, rows = expected[event["job"]["name"].split(".", 1)[1]]
        assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [(portal_ns, entity)]
        assert [(d["namespace"], d["name"]) for d in event["outputs"]] == [(namespace, f"{prefix}{table}")]
        output_facets = event["outputs"][0]
        replace = table == "b24_leads"
        assert ("lifecycleStateChange" in output_facets["facets"]) is replace
        if replace:
            assert output_facets["facets"]["lifecycleStateChange"]["lifecycleStateChange"] == "OVERWRITE"
        if event["eventType"] == "COMPLETE":
            assert output_facets["outputFacets"]["outputStatistics"]["rowCount"] == rows
            fields = {f["name"] for f in output_facets["facets"]["schema"]["fields"]}
            assert ("ID" if replace else "id") in fields and len(fields) > 10
    # the write-back's output is the entity it wrote
    written = [(portal_ns, "crm.contact")]
    assert sorted(e["eventType"] for e in writes) == ["COMPLETE", "START"]
    assert all([(d["namespace"], d["name"]) for d in e["outputs"]] == written for e in writes)
    # no credential in any facet, nor in the task output
    code = portal.config.webhook_code
    assert all(code not in json.dumps(e) for e in events)
    assert code not in output
