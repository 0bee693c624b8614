"""The Dagster UI in headless Chromium: ``dagster-webserver`` on the example definitions shows the four
CRM assets in the asset graph and, after a materialization, their row count (screenshots checked).
Skipped with a reason when Chromium is absent."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.dagster.test_example_definitions import DEFINITIONS, materialize
from tests.ui.support import ARTIFACTS, assert_png, browser_page, find_chromium, free_port, shot, stop, tail

pytestmark = pytest.mark.slow

TABLES = ("b24_companies", "b24_contacts", "b24_deals", "b24_leads")


@pytest.fixture
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    return path


@pytest.fixture
def webserver(make_portal, tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    portal = make_portal(deals=1200, leads=300, contacts=200, companies=70)
    home = tmp_path / "home"
    home.mkdir()
    # no "Join the Dagster community" dialog over the pages, no telemetry
    (home / "dagster.yaml").write_text("nux:\n  enabled: false\ntelemetry:\n  enabled: false\n")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "BITRIX24_WEBHOOK_URL": portal.webhook_url,
        "BITRIX24_DESTINATION_URL": f"sqlite:///{tmp_path / 'b24.db'}",
        "PYTHONPATH": str(REPO),
    }
    port = free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / "dagster-webserver.log"
    command = [
        sys.executable,
        "-m",
        "dagster_webserver",
        "-f",
        str(DEFINITIONS),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"dagster-webserver exited with {proc.returncode}:\n{tail(log_path)}")
            with suppress(OSError), urllib.request.urlopen(f"{base_url}/server_info", timeout=2) as answer:
                if answer.status == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"dagster-webserver did not answer in 120 s:\n{tail(log_path)}")
            time.sleep(0.5)
        yield base_url, env
    finally:
        stop(proc)


def test_the_asset_graph_and_the_row_count_in_chromium(chromium, webserver):
    from playwright.sync_api import expect

    base_url, env = webserver
    with browser_page(chromium, ARTIFACTS, "dagster-graph") as page:
        page.goto(f"{base_url}/asset-groups/bitrix24")
        for table in TABLES:
            expect(page.get_by_text(table, exact=True).first).to_be_visible()
        graph = shot(page, ARTIFACTS / "dagster-asset-graph.png")
    assert_png(graph)

    materialize(env, "*")  # a real `dagster asset materialize` into the webserver's instance

    with browser_page(chromium, ARTIFACTS, "dagster-deals") as page:
        page.goto(f"{base_url}/assets/bitrix24/b24_deals")
        expect(page.get_by_text("Row count", exact=True).first).to_be_visible()
        expect(page.get_by_text("1,200", exact=True).first).to_be_visible()
        expect(page.get_by_text("UF_CRM_", exact=False).first).to_be_visible()  # the column schema
        expect(page.get_by_text("Join the Dagster community")).to_have_count(0)
        deals = shot(page, ARTIFACTS / "dagster-deals-row-count.png")
        page.goto(f"{base_url}/asset-groups/bitrix24")
        expect(page.get_by_text("Materialized").first).to_be_visible()
        after = shot(page, ARTIFACTS / "dagster-asset-graph-materialized.png")
    assert_png(deals)
    assert_png(after)
