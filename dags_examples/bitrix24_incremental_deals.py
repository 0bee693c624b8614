"""Hourly incremental merge of deals changed since the last run.

The high-water mark of ``DATE_MODIFY`` lives in a state table in the staging database and moves in
the same transaction as the merge; a few seconds of overlap (``lag``) catch rows written while the
last run read, and the merge on ``ID`` removes the duplicates that overlap brings.

The task is the producer of the table: its outlet ``DEALS_TABLE`` (an asset alias) resolves at run time to
the table's asset URI (``postgres://host:5432/db/public/b24_deals``...), and each run's asset event
carries the rows merged, the mode and the max cursor; ``bitrix24_deals_report`` schedules on it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from bitrix24_provider.operators.bitrix24 import Bitrix24GetAllOperator
from bitrix24_provider.operators.outlets import bitrix24_table_alias

DEALS_TABLE = bitrix24_table_alias("b24_deals")

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
        outlets=[DEALS_TABLE],
    )

if __name__ == "__main__":
    dag.test()
