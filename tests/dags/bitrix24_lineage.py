"""The OpenLineage test's tasks: a full load (replace), an incremental merge and a write-back."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from bitrix24_provider.operators.bitrix24 import Bitrix24CallOperator, Bitrix24GetAllOperator

with DAG(dag_id="bitrix24_lineage", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    Bitrix24GetAllOperator(
        task_id="load_leads",
        method="crm.lead.list",
        sql_conn_id="bitrix24_staging",
        target_table="b24_leads",
    )
    Bitrix24GetAllOperator(
        task_id="merge_items",
        method="crm.item.list",
        call_params={"entityTypeId": 2},
        sql_conn_id="bitrix24_staging",
        target_table="b24_items",
        cursor_field="updatedTime",
    )
    Bitrix24CallOperator(
        task_id="add_contact",
        method="crm.contact.add",
        items=[{"fields": {"TITLE": "lineage"}}],
    )
