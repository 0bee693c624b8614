"""Test DAG of the call-writes tests: writes that end with unknown outcomes must not be sent again by
Airflow's retries (with the default retry policy and without one), while a failing read is retried."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from bitrix24_provider.operators.bitrix24 import Bitrix24CallOperator

#: a client that gives up quickly, on the emulator's 1000x clock
CLIENT = {
    "time_scale": 1000.0,
    "settings": {
        "batch_size": 10,
        "request_timeout": 5.0,
        "retry": {"max_attempts": 2, "base": 0.001, "cap": 0.002},
    },
}
RETRIES = {"retries": 2, "retry_delay": timedelta(0), "client_kwargs": CLIENT}


def adds(marker: str) -> list[dict[str, object]]:
    return [{"fields": {"TITLE": f"{marker} #{n}"}} for n in range(20)]


with DAG(
    dag_id="bitrix24_call_writes",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["bitrix24", "test"],
) as dag:
    Bitrix24CallOperator(task_id="add_with_policy", method="crm.deal.add", items=adds("zq-policy"), **RETRIES)
    Bitrix24CallOperator(
        task_id="add_without_policy",
        method="crm.deal.add",
        items=adds("zq-plain"),
        retry_policy=None,
        **RETRIES,
    )
    Bitrix24CallOperator(task_id="get_missing", method="crm.deal.get", items=[{"id": 999999}], **RETRIES)
