"""The "Bitrix24 list" extra link on finished tasks, checked in a real browser.

``airflow dags test`` runs a GetAll and a Call task against the emulator in the api-server's own
metadata database (one connection in the documented layout, one with the webhook code in host);
the REST API and the task's Details tab in Chromium then show a link to the entity's list in the
portal, with no webhook code in it or anywhere on the page.
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import pytest

from tests.hooks.support import emulator_ids, running
from tests.ui.support import ApiServer, assert_png, browser_page, find_chromium, get_json, shot

CHROMIUM = find_chromium()
if CHROMIUM is None:
    pytest.skip(
        "Chromium is not installed (/usr/bin/chromium; on Debian: apt-get install chromium)",
        allow_module_level=True,
    )
pw = pytest.importorskip(
    "playwright.sync_api",
    reason="the Python 'playwright' package is not installed (the browser itself is Debian's chromium)",
)

pytestmark = pytest.mark.slow

DAG_ID = "bitrix24_links"
DAG = """
from datetime import datetime

from airflow.sdk import DAG

from bitrix24_provider.operators.bitrix24 import Bitrix24CallOperator, Bitrix24GetAllOperator

with DAG("{dag_id}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    Bitrix24GetAllOperator(
        task_id="export_deals", method="crm.deal.list", select=["ID", "TITLE"], output_path="{output}"
    )
    Bitrix24CallOperator(
        task_id="read_leads", method="crm.lead.get", items=[{{"id": {lead}}}], bitrix24_conn_id="b24_in_host"
    )
"""


def test_a_finished_task_links_to_the_entity_list(api_server: ApiServer, artifacts: Path) -> None:
    with running(deals=50, leads=5) as portal:
        code = portal.config.webhook_code
        dag = DAG.format(
            dag_id=DAG_ID, output=api_server.home / "deals.csv", lead=emulator_ids(portal, "lead")[0]
        )
        (api_server.home / "dags" / f"{DAG_ID}.py").write_text(dag)
        connections = {
            "AIRFLOW_CONN_BITRIX24_DEFAULT": {"host": portal.base_url, "login": "1", "password": code},
            "AIRFLOW_CONN_B24_IN_HOST": {"host": portal.webhook_url},
        }
        env = {name: json.dumps({"conn_type": "bitrix24", **conn}) for name, conn in connections.items()}
        done = api_server.airflow("dags", "test", DAG_ID, more_env=env)
        (artifacts / "dags-test.log").write_text(done.stdout + done.stderr)
        assert done.returncode == 0, done.stderr[-3000:]
        expected = {
            "export_deals": f"{portal.base_url}/crm/deal/list/",
            "read_leads": f"{portal.base_url}/crm/lead/list/",
        }

    token = api_server.token()
    (run,) = get_json(f"{api_server.base_url}/api/v2/dags/{DAG_ID}/dagRuns", token=token)["dag_runs"]
    assert run["state"] == "success"
    run_id = urllib.parse.quote(run["dag_run_id"])
    for task_id, url in expected.items():
        links = get_json(
            f"{api_server.base_url}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/links",
            token=token,
        )
        assert links["extra_links"] == {"Bitrix24 list": url}

    expect = pw.expect
    assert CHROMIUM is not None
    with browser_page(CHROMIUM, artifacts, "extra-link") as page:
        page.set_viewport_size({"width": 1400, "height": 1000})
        for task_id, url in expected.items():
            page.goto(f"{api_server.base_url}/dags/{DAG_ID}/runs/{run_id}/tasks/{task_id}")
            page.get_by_text("Details", exact=True).click()
            link = page.get_by_role("link", name="Bitrix24 list")
            expect(link).to_have_attribute("href", url)
            expect(link).to_have_attribute("target", "_blank")
            assert_png(shot(page, artifacts / f"07_extra_link_{task_id}.png"))
            assert code not in page.content()
