"""``bitrix24_provider.dagster`` imports, builds and materializes with Airflow blocked."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

_BLOCKED = """
import importlib.abc, sys

class NoAirflow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "airflow" or name.startswith("airflow."):
            raise ImportError(f"Airflow is blocked in this test: {name}")
        return None

sys.meta_path.insert(0, NoAirflow())
import tempfile
import dagster as dg
import bitrix24_provider.dagster as b24
from bitrix24_provider.dagster.component import Bitrix24LoadCollectionComponent
from bitrix24_provider.dagster.sensor import build_bitrix24_change_sensor
from bitrix24_provider.emulator import Emulator, EmulatorConfig

with Emulator(EmulatorConfig(deals=30, simulate_cost=False)).in_thread() as portal:
    assets = b24.build_bitrix24_assets([b24.Bitrix24Entity("crm.deal.list", "deals")])
    resources = {
        "bitrix24": b24.Bitrix24Resource(webhook_url=portal.webhook_url),
        "destination": b24.Bitrix24Destination(url=f"sqlite:///{tempfile.mkdtemp()}/b24.db"),
    }
    result = dg.materialize([assets], resources=resources)
    rows = result.get_asset_materialization_events()[0].materialization.metadata["dagster/row_count"].value
print("rows", rows, "airflow" in sys.modules)
"""


def test_the_dagster_package_never_imports_airflow():
    done = subprocess.run(
        [sys.executable, "-c", _BLOCKED], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "rows 30 False"
