"""``dags_examples/dagster/definitions.py``: four CRM assets, materialized by a real ``dagster asset
materialize`` process against the emulator into SQLite, then incrementally again."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from tests.conftest import REPO
from tests.staging._support import SqlTarget, rest, seeded_ids, stats

DEFINITIONS = REPO / "dags_examples" / "dagster" / "definitions.py"
TABLES = {"b24_deals": "deal", "b24_leads": "lead", "b24_contacts": "contact", "b24_companies": "company"}


def load_definitions() -> dg.Definitions:
    spec = importlib.util.spec_from_file_location("example_dagster_definitions", DEFINITIONS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.defs


def materialize(env: dict[str, str], *select: str) -> str:
    command = [
        sys.executable,
        "-m",
        "dagster",
        "asset",
        "materialize",
        "-f",
        str(DEFINITIONS),
        "--select",
        ",".join(select),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    return output


def test_the_definitions_hold_the_four_crm_assets():
    defs = load_definitions()
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {f"bitrix24/{table}" for table in TABLES}
    assert defs.resolve_sensor_def("bitrix24_crm_changes") is not None
    assert defs.resolve_job_def("bitrix24_crm_load") is not None


@pytest.mark.slow
def test_the_dagster_cli_materializes_them(make_portal, tmp_path: Path):
    portal = make_portal(deals=1500, leads=300, contacts=200, companies=80)
    target = SqlTarget("sqlite", "unused", f"sqlite:///{tmp_path / 'b24.db'}")
    home = tmp_path / "home"
    home.mkdir()
    env: dict[str, Any] = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "BITRIX24_WEBHOOK_URL": portal.webhook_url,
        "BITRIX24_DESTINATION_URL": target.url,
        "PYTHONPATH": str(REPO),
    }
    output = materialize(env, "*")
    for table, entity in TABLES.items():
        column = "ID"
        assert target.ids(table, column) == seeded_ids(portal, entity), table
    assert "Loaded 1,500 rows into b24_deals (merge" in output
    assert portal.config.webhook_code not in output

    changed = seeded_ids(portal)[:3]
    for deal_id in changed:
        rest(portal, "crm.deal.update", {"id": deal_id, "fields": {"TITLE": f"cli {deal_id}"}})
    served = stats(portal)["rows_served"]
    again = materialize(env, "bitrix24/b24_deals")
    assert "Loading bitrix24/b24_leads" not in again
    read = stats(portal)["rows_served"] - served
    assert 3 <= read < 50, read  # the changed deals (and those at the watermark), not 1,500
    titles = dict(target.rows('SELECT "ID", "TITLE" FROM "b24_deals"'))
    assert {d: titles[d] for d in changed} == {d: f"cli {d}" for d in changed}
    target.dispose()
