"""``scripts/cluster.py``: a real CeleryExecutor deployment (API server, scheduler, DAG processor,
triggerer, two Celery workers) runs the full-load and the incremental example DAGs at once against the
emulator, every task on the Redis shared throttle."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WEBHOOK_CODE = "emulatorwebhook0"  # the emulator's default webhook code


@pytest.mark.slow
def test_two_dags_on_two_celery_workers_load_exact_tables_without_a_503(
    postgres_dsn: str, redis_url: str
) -> None:
    pytest.importorskip("airflow.providers.celery", reason="the extra [celery] is not installed")
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "cluster.py"),
            "--dags",
            "bitrix24_full_load,bitrix24_incremental_deals",
            "--deals",
            "8000",
            "--leads",
            "2000",
            "--contacts",
            "2000",
            "--companies",
            "1000",
            "--keep",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
    )
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    work = Path(summary["logs"]).parent
    try:
        assert done.returncode == 0, summary
        assert summary["result"] == "complete"
        assert summary["states"] == {
            "bitrix24_full_load": "success",
            "bitrix24_incremental_deals": "success",
            # the scheduler ran the report DAG on the asset event of the incremental load
            "bitrix24_deals_report (asset-triggered)": "success",
        }
        assert summary["tables"]["b24_deals"] == {"rows": 8000, "expected": 8000, "exact": True}
        assert all(t["exact"] for t in summary["tables"].values())
        assert summary["http_503"] == 0 and summary["shared_throttle_keys"] >= 1
        assert sum(summary["tasks_per_worker"].values()) >= 5  # 4 full-load tasks + 1 incremental
        # the webhook code is in the connection's environment variable only: no component log and no
        # task log holds it
        leaks = [p for p in work.rglob("*") if p.is_file() and WEBHOOK_CODE in p.read_text(errors="replace")]
        assert leaks == []
        assert WEBHOOK_CODE not in done.stdout + done.stderr
    finally:
        shutil.rmtree(work, ignore_errors=True)
