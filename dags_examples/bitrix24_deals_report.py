"""Runs whenever the deals table was loaded: scheduled on the asset alias that
``bitrix24_incremental_deals`` declares as its outlet, it reads what the load said in its asset event
(rows, mode, max cursor) and could refresh a report from the table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from bitrix24_provider.operators.outlets import bitrix24_table_alias

with DAG(
    dag_id="bitrix24_deals_report",
    schedule=[bitrix24_table_alias("b24_deals")],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["bitrix24", "example"],
    doc_md=__doc__,
) as dag:

    @task
    def report(triggering_asset_events: Any = None) -> dict[str, Any]:
        loads = [
            {"table": event.asset.uri, **event.extra}
            for events in (triggering_asset_events or {}).values()
            for event in events
        ]
        for load in loads:
            rows, mode, cursor = load.get("rows"), load.get("mode"), load.get("max_cursor")
            print(f"{load['table']}: {rows} rows ({mode}), max cursor {cursor}")
        return {"loads": len(loads), "rows": sum(int(load.get("rows") or 0) for load in loads)}

    report()

if __name__ == "__main__":
    dag.test()
