"""The operators' connections, read so that what no retry can fix is a :class:`StagingConfigError`.

A connection id that does not exist, a connection type whose provider is not installed, a
``sql_conn_id`` that is not a SQL connection, and a Bitrix24 connection or ``client_kwargs`` that
the client's checks reject fail the same way on every try; as a :class:`StagingConfigError` they
make the operators' retry policy fail the task at once (:mod:`.retry`).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowException

try:
    from airflow.sdk.exceptions import AirflowNotFoundException
except ImportError:  # Airflow < 3.2
    from airflow.exceptions import AirflowNotFoundException  # type: ignore[attr-defined]

from bitrix24_provider.client import Bitrix
from bitrix24_provider.client.redact import scrub
from bitrix24_provider.hooks.bitrix24 import Bitrix24Hook
from bitrix24_provider.staging.database import Database
from bitrix24_provider.staging.errors import StagingConfigError

__all__ = ["bitrix24_client", "database", "sql_connection"]

#: connection types whose provider package is not named after the type
_PROVIDERS = {
    "mssql": "microsoft-mssql",
    "gcpbigquery": "google",
    "google_cloud_platform": "google",
    "redshift": "amazon",
}


def sql_connection(sql_conn_id: str) -> Any:
    """The connection *sql_conn_id*; a :class:`StagingConfigError` when there is none."""
    try:
        return BaseHook.get_connection(sql_conn_id)
    except AirflowNotFoundException as error:
        raise StagingConfigError(f"sql_conn_id {sql_conn_id!r}: there is no such connection") from error


def database(sql_conn_id: str) -> Database:
    """The database of *sql_conn_id*, a common-sql connection."""
    conn = sql_connection(sql_conn_id)
    try:
        hook = conn.get_hook()
    except (AirflowException, ImportError) as error:  # no installed provider serves its type
        conn_type = str(conn.conn_type)
        provider = _PROVIDERS.get(conn_type, conn_type.replace("_", "-"))
        raise StagingConfigError(
            f"sql_conn_id {sql_conn_id!r} has the connection type {conn_type!r}, whose provider is not "
            f"installed ({error}); install it, e.g. apache-airflow-providers-{provider}"
        ) from error
    get_engine = getattr(hook, "get_sqlalchemy_engine", None)
    if get_engine is None:
        raise StagingConfigError(
            f"sql_conn_id {sql_conn_id!r} is not a SQL connection (its hook {type(hook).__name__} is not a "
            "common-sql DbApiHook)"
        )
    return Database(get_engine())


def bitrix24_client(hook: Bitrix24Hook) -> Bitrix:
    """The hook's client, built from its connection and ``client_kwargs`` before any request."""
    try:
        return hook.get_client()
    except AirflowNotFoundException as error:
        raise StagingConfigError(
            f"bitrix24_conn_id {hook.bitrix24_conn_id!r}: there is no such connection"
        ) from error
    except (ValueError, TypeError) as error:  # the connection's fields or client_kwargs were rejected
        raise StagingConfigError(
            scrub(f"bitrix24_conn_id {hook.bitrix24_conn_id!r} or client_kwargs: {error}")
        ) from error
