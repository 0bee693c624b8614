"""Write back: mark the biggest open deals found in staging, in batches of 50 commands.

Items come from a SQL query on the staging database; each row becomes one ``crm.deal.update``
call. Errors are collected per item instead of failing the whole task.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from bitrix24_provider.operators.bitrix24 import Bitrix24CallOperator


def to_update(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["ID"], "fields": {"COMMENTS": "Reviewed by the data team"}}


with DAG(
    dag_id="bitrix24_write_back",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=5)},
    tags=["bitrix24", "example"],
    doc_md=__doc__,
) as dag:
    Bitrix24CallOperator(
        task_id="mark_big_deals",
        method="crm.deal.update",
        sql_conn_id="bitrix24_staging",
        # CLOSED is typed from crm.deal.fields: BOOLEAN on PostgreSQL, 0/1 on SQLite
        items_sql='SELECT "ID" FROM b24_deals WHERE NOT "CLOSED" ORDER BY "OPPORTUNITY" DESC LIMIT 100',
        item_builder=to_update,
        on_error="collect",
    )

if __name__ == "__main__":
    dag.test()
