"""OpenLineage for ``Bitrix24GetAllOperator``: one job edge "Bitrix24 entity -> table (or file)".

Used by the OpenLineage provider (extra ``[openlineage]``) through the operator's
``get_openlineage_facets_on_start`` / ``_on_complete``. The input dataset is the portal's entity:
namespace ``bitrix24://<portal host>`` (never the webhook's path, which holds its code), name the entity
(``crm.deal``, ``crm.item.<entityTypeId>``, ``tasks.task``). The output follows OpenLineage's naming
for the target database, as the database's own common-sql hook reports it
(``postgres://host:5432`` + ``database.schema.table``), or ``file`` for files. On completion the output
gets the row count, the columns (with the types of the method's ``.fields`` answer) and, for
``replace``, the OVERWRITE lifecycle.

The staging writes go through SQLAlchemy, not through the hook's ``run``/``insert_rows``, so common-sql
reports no per-statement lineage for them: the task's events carry this edge alone.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bitrix24_provider.operators.links import portal_of
from bitrix24_provider.staging.identifiers import TableName
from bitrix24_provider.sync import LoadSummary

#: list verbs stripped from a method name to name its entity
_VERBS = ("list", "getlist", "get", "getchildren", "search")


def entity_name(method: str, call_params: Mapping[str, Any] | None = None) -> str:
    """The dataset name of what *method* lists: ``crm.deal.list`` -> ``crm.deal``,
    ``crm.item.list`` + ``entityTypeId`` 1032 -> ``crm.item.1032``, ``tasks.task.list`` -> ``tasks.task``."""
    parts = method.strip().split(".")
    if len(parts) > 1 and parts[-1].lower() in _VERBS:
        parts = parts[:-1]
    return _entity(parts, call_params)


def _entity(parts: list[str], params: Mapping[str, Any] | None) -> str:
    """The entity of a method's name without its verb; a smart process's type from *params*."""
    name = ".".join(parts)
    type_id = (params or {}).get("entityTypeId", (params or {}).get("ENTITY_TYPE_ID"))
    return f"crm.item.{type_id}" if name == "crm.item" and type_id is not None else name


def portal_namespace(conn: Any) -> str:
    """``bitrix24://<host[:port]>`` of a Bitrix24 connection: the portal, never its credentials."""
    host = urlsplit(portal_of(conn)[0]).netloc or "unknown"
    return f"bitrix24://{host.rsplit('@', 1)[-1]}"


@dataclass(frozen=True)
class TableDataset:
    """Where a table lives in OpenLineage's naming."""

    namespace: str
    name: str


def table_dataset(sql_conn: Any, table: TableName) -> TableDataset:
    """The OpenLineage dataset of *table* in the database of the common-sql connection *sql_conn*."""
    hook = sql_conn.get_hook()
    info = None
    get_info = getattr(hook, "get_openlineage_database_info", None)
    if get_info is not None:
        try:
            info = get_info(sql_conn)
        except Exception:  # a hook that cannot tell: the generic naming below
            info = None
    if info is not None:
        # PostgreSQL's default schema without asking the database (the hook's own way runs a query,
        # which common-sql would report as lineage of its own)
        schema = table.schema or ("public" if info.scheme == "postgres" else None)
        parts = [p for p in (info.database, schema, table.name) if p]
        return TableDataset(f"{info.scheme}://{info.authority}", ".".join(parts))
    if sql_conn.conn_type == "sqlite":
        path = os.path.abspath(sql_conn.host or "")
        return TableDataset(f"sqlite://{socket.gethostname()}{path}", table.name)
    authority = f"{sql_conn.host or 'localhost'}:{sql_conn.port}" if sql_conn.port else sql_conn.host
    parts = [p for p in (sql_conn.schema, table.schema, table.name) if p]
    return TableDataset(f"{sql_conn.conn_type}://{authority}", ".".join(parts))


def file_dataset(path: str) -> TableDataset:
    return TableDataset(f"file://{socket.gethostname()}", os.path.abspath(path))


def operator_lineage(
    source: TableDataset,
    target: TableDataset | None,
    *,
    columns: Sequence[tuple[str, str]] = (),
    rows: int | None = None,
    overwrite: bool = False,
) -> Any:
    """An ``OperatorLineage`` with the entity as input and the target as output (facets when known)."""
    from airflow.providers.common.compat.openlineage.facet import (
        InputDataset,
        LifecycleStateChange,
        LifecycleStateChangeDatasetFacet,
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
        SchemaDatasetFacet,
        SchemaDatasetFacetFields,
    )
    from airflow.providers.openlineage.extractors import OperatorLineage

    schema = (
        {"schema": SchemaDatasetFacet(fields=[SchemaDatasetFacetFields(name=n, type=t) for n, t in columns])}
        if columns
        else {}
    )
    inputs = [InputDataset(namespace=source.namespace, name=source.name, facets=dict(schema))]
    outputs = []
    if target is not None:
        facets: dict[str, Any] = dict(schema)
        if overwrite:
            facets["lifecycleStateChange"] = LifecycleStateChangeDatasetFacet(
                lifecycleStateChange=LifecycleStateChange.OVERWRITE
            )
        statistics: dict[str, Any] = (
            {"outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=rows)}
            if rows is not None
            else {}
        )
        outputs.append(
            OutputDataset(
                namespace=target.namespace, name=target.name, facets=facets, outputFacets=statistics
            )
        )
    return OperatorLineage(inputs=inputs, outputs=outputs)


def get_all_lineage(operator: Any, summary: LoadSummary | None) -> Any:
    """The lineage of a ``Bitrix24GetAllOperator`` (before its run: *summary* None; after: what its
    load returned, whose ``columns`` are the ``.fields`` answer's)."""
    from airflow.sdk import BaseHook

    source = TableDataset(
        portal_namespace(BaseHook.get_connection(operator.bitrix24_conn_id)),
        entity_name(
            operator.method, operator.call_params if isinstance(operator.call_params, Mapping) else None
        ),
    )
    target = None
    if operator.target_table:
        table = TableName.checked(operator.target_table, operator.target_schema)
        target = table_dataset(BaseHook.get_connection(operator.sql_conn_id), table)
    elif operator.output_path:
        target = file_dataset(operator.output_path)
    return operator_lineage(
        source,
        target,
        columns=[(c.name, c.type) for c in summary.columns] if summary is not None else (),
        rows=summary.rows if summary is not None else None,
        overwrite=operator.write_disposition == "replace",
    )


def call_lineage(operator: Any) -> Any:
    """The lineage of a ``Bitrix24CallOperator``: the entity it writes (``crm.deal.update`` ->
    output ``crm.deal``) or reads (input)."""
    from airflow.providers.common.compat.openlineage.facet import InputDataset, OutputDataset
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import BaseHook

    from bitrix24_provider.client.writes import is_write

    method = str(operator.method).strip()
    items = operator.items if isinstance(operator.items, list) else []
    first = items[0] if items and isinstance(items[0], Mapping) else None
    parts = method.split(".")
    name = _entity(parts[:-1] if len(parts) > 1 else parts, first)
    namespace = portal_namespace(BaseHook.get_connection(operator.bitrix24_conn_id))
    if is_write(method):
        return OperatorLineage(outputs=[OutputDataset(namespace=namespace, name=name)])
    return OperatorLineage(inputs=[InputDataset(namespace=namespace, name=name)])
