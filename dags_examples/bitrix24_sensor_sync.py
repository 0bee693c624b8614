"""Sync deals when they change: a deferrable sensor waits (in the triggerer, one cheap call per
poll, no data through it) until a deal was modified after the run's data interval start, then the
changed deals are merged into staging."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from bitrix24_provider.operators.bitrix24 import Bitrix24GetAllOperator
from bitrix24_provider.sensors.bitrix24 import Bitrix24ChangeSensor

with DAG(
    dag_id="bitrix24_sensor_sync",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=5)},
    tags=["bitrix24", "example"],
    doc_md=__doc__,
) as dag:
    wait = Bitrix24ChangeSensor(
        task_id="wait_for_changed_deals",
        method="crm.deal.list",
        watermark="{{ data_interval_start | ts }}",
        deferrable=True,
        poke_interval=30,
        timeout=6 * 3600,
    )
    merge = Bitrix24GetAllOperator(
        task_id="merge_changed_deals",
        method="crm.deal.list",
        sql_conn_id="bitrix24_staging",
        target_table="b24_deals",
        write_disposition="merge",
        primary_key="ID",
        cursor_field="DATE_MODIFY",
    )
    wait >> merge

if __name__ == "__main__":
    dag.test()
