"""Full load of deals, leads, contacts and companies into staging tables.

Reads the connections ``bitrix24_default`` (the portal URL in host, the webhook's user id in login
and its code in password) and ``bitrix24_staging`` (any common-sql database). Each table is
replaced atomically, so readers never see a half-loaded table; a retried task resumes from the last
committed page.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from bitrix24_provider.operators.bitrix24 import Bitrix24GetAllOperator

#: method entity -> staging table
ENTITIES = {"deal": "b24_deals", "lead": "b24_leads", "contact": "b24_contacts", "company": "b24_companies"}

with DAG(
    dag_id="bitrix24_full_load",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_tasks=2,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=5)},
    tags=["bitrix24", "example"],
    doc_md=__doc__,
) as dag:
    for entity, table in ENTITIES.items():
        Bitrix24GetAllOperator(
            task_id=f"load_{table.removeprefix('b24_')}",
            method=f"crm.{entity}.list",
            sql_conn_id="bitrix24_staging",
            target_table=table,
            write_disposition="replace",
        )

if __name__ == "__main__":
    dag.test()
