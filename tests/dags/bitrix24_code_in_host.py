"""Test DAG of the code-in-host warning: two tasks, each with two hooks on a connection whose webhook
code sits in host, each hook sending requests; the warning must come once per task."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from bitrix24_provider.hooks.bitrix24 import Bitrix24Hook

CONN_ID = "bitrix24_code_in_host"

with DAG(
    dag_id="bitrix24_code_in_host",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["bitrix24", "test"],
) as dag:

    @task
    def two_hooks() -> int:
        rows = 0
        for _ in range(2):
            with Bitrix24Hook(CONN_ID) as hook:
                rows += len(hook.get_df("crm.deal.list", {"select": ["ID"]}))
                rows += len(hook.get_df("crm.lead.list", {"select": ["ID"]}))
        return rows

    two_hooks.override(task_id="first")() >> two_hooks.override(task_id="second")()
