"""Hourly incremental merge of deals changed since the last run.

The high-water mark of ``DATE_MODIFY`` lives in a state table in the staging database and moves in
the same transaction as the merge; a few seconds of overlap (``lag``) catch rows written while the
last run read, and the merge on ``ID`` removes the duplicates that overlap brings.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from bitrix24_provider.operators.bitrix24 import Bitrix24GetAllOperator

with DAG(
    dag_id="bitrix24_incremental_deals",
    schedule="@hourly",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=5)},
    tags=["bitrix24", "example"],
    doc_md=__doc__,
) as dag:
    Bitrix24GetAllOperator(
        task_id="merge_changed_deals",
        method="crm.deal.list",
        sql_conn_id="bitrix24_staging",
        target_table="b24_deals",
        write_disposition="merge",
        primary_key="ID",
        cursor_field="DATE_MODIFY",
        lag=timedelta(seconds=30),
    )

if __name__ == "__main__":
    dag.test()
