"""Test DAG of the OAuth token rotation tests: one task streams every deal through
``Bitrix24Hook`` page by page and pauses after the first chunk, long enough for the access token to
expire in the middle of the export (the emulator's tokens live seconds)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, get_current_context, task

from bitrix24_provider.hooks.bitrix24 import Bitrix24Hook

CONN_ID = "bitrix24_oauth_rotation"

with DAG(
    dag_id="bitrix24_oauth_rotation",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"pause": 0.0, "time_scale": 1.0},
    tags=["bitrix24", "test"],
) as dag:

    @task
    def export() -> dict[str, Any]:
        params = get_current_context()["params"]
        one_page_at_a_time = {"batch_size": 1, "max_concurrent_requests": 1, "max_parallel_chains": 1}
        client_kwargs = {"time_scale": params["time_scale"], "settings": one_page_at_a_time}
        ids: set[int] = set()
        rows = 0
        with Bitrix24Hook(CONN_ID, client_kwargs=client_kwargs) as hook:
            chunks = hook.iter_df_chunks("crm.deal.list", {"select": ["ID"]}, chunk_rows=50)
            for number, chunk in enumerate(chunks):
                if number == 1:
                    time.sleep(params["pause"])
                rows += len(chunk)
                ids.update(int(i) for i in chunk["ID"])
            refreshes = hook.get_client().stats.token_refreshes
        return {"rows": rows, "distinct_ids": len(ids), "token_refreshes": refreshes}

    export()
