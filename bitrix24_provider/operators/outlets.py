"""Loaded tables as Airflow assets: a GetAll task as the producer of the table it loads.

Declare the task's outlet with :func:`bitrix24_table_alias`; at run time the operator resolves the alias
to the target's asset URI, in the database providers' schemes (``postgres://host:5432/db/schema/table``,
``mysql://host:3306/db/table``; ``sqlite://localhost/<file>/<table>`` for SQLite, which has no scheme of
its own), and attaches an asset event whose ``extra`` says what the load did (rows, mode, max cursor,
watermark). A downstream DAG schedules on the same alias (or on the resolved asset)::

    deals = bitrix24_table_alias("b24_deals")
    Bitrix24GetAllOperator(task_id="merge_deals", ..., target_table="b24_deals", outlets=[deals])
    with DAG("report", schedule=[deals]): ...

Plain :class:`~airflow.sdk.Asset` outlets whose URI is the target's get the same ``extra``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from airflow.sdk import Asset, AssetAlias

from bitrix24_provider.staging.identifiers import TableName

#: the summary keys an asset event carries in its ``extra``
EVENT_KEYS = ("rows", "mode", "max_cursor", "watermark", "incremental_from", "incremental_to", "target")
_DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306}
_SCHEMES = {"postgres": "postgres", "postgresql": "postgres", "mysql": "mysql"}


def bitrix24_table_alias(table: str, *, schema: str | None = None) -> AssetAlias:
    """The outlet a GetAll task loading *table* declares, and downstream DAGs schedule on."""
    return AssetAlias(name=f"bitrix24/{schema}.{table}" if schema else f"bitrix24/{table}")


def table_asset_uri(sql_conn: Any, table: TableName) -> str:
    """The asset URI of *table* in the database of the common-sql connection *sql_conn*."""
    conn_type = str(sql_conn.conn_type)
    if conn_type == "sqlite":
        path = os.path.abspath(sql_conn.host or "").lstrip("/")
        return f"sqlite://localhost/{path}/{table.name}"
    scheme = _SCHEMES.get(conn_type, conn_type.replace("_", "-"))
    port = sql_conn.port or _DEFAULT_PORTS.get(scheme)
    authority = f"{sql_conn.host or 'localhost'}:{port}" if port else (sql_conn.host or "localhost")
    database = sql_conn.schema or "default"
    if scheme == "mysql":  # MySQL's databases are its schemas
        return f"mysql://{authority}/{table.schema or database}/{table.name}"
    return f"{scheme}://{authority}/{database}/{table.schema or 'public'}/{table.name}"


def announce(outlets: list[Any], context: Mapping[str, Any], uri: str, summary: Mapping[str, Any]) -> int:
    """Attach the load's asset event to the task's outlets; returns how many got it."""
    extra = {k: summary[k] for k in EVENT_KEYS if summary.get(k) is not None}
    events = context["outlet_events"]
    told = 0
    for outlet in outlets:
        if isinstance(outlet, AssetAlias):
            events[outlet].add(Asset(uri=uri), extra=extra)
            told += 1
        elif isinstance(outlet, Asset) and outlet.uri == Asset(uri=uri).uri:
            events[outlet].extra.update(extra)
            told += 1
    return told
