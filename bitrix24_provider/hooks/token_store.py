"""Where the rotated OAuth tokens of a Bitrix24 connection are kept between runs.

In Airflow 3 a task or a trigger cannot write a connection: the execution API only reads them. It
can read and write Variables (the supervisor forwards ``Variable.get``/``Variable.set`` to the API
server). So the newest pair goes to the Variable ``bitrix24_oauth_token_<conn_id>`` everywhere, and
outside the task runtime (scripts, the API server, tests), where the metadata database is
reachable, also into the connection row when the connection lives there.

Every function here blocks; async callers (triggers) run them with ``asyncio.to_thread`` so the
event loop never waits on the supervisor or the database.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import replace
from typing import Any

from bitrix24_provider.hooks.oauth_tokens import StoredTokens, fingerprint, variable_key

__all__ = ["TokenStore", "in_task_runtime"]

log = logging.getLogger(__name__)

_EXTRA_PREFIX = "extra__bitrix24__"


def in_task_runtime() -> bool:
    """Whether this process reaches Airflow through the Task SDK supervisor (a task, a trigger,
    ``dag.test()``): the metadata database is then off limits and Variables go through the API.

    The same test Airflow itself uses (``airflow.models.variable.Variable.get``).
    """
    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return getattr(runner, "SUPERVISOR_COMMS", None) is not None


class TokenStore:
    """The rotated tokens of one connection: a Variable, plus the connection row where reachable."""

    def __init__(self, conn_id: str, logger: Any = None) -> None:
        self.conn_id = conn_id
        self.key = variable_key(conn_id)
        self.log = logger or log

    # -- reading ---------------------------------------------------------------------------

    def load(self) -> StoredTokens | None:
        """The stored pair, or ``None`` when there is none (or it cannot be read)."""
        try:
            raw = self._read_variable()
        except Exception as error:  # no metadata database outside a task, API unreachable...
            self.log.debug("Cannot read Variable %s: %s", self.key, type(error).__name__)
            return None
        if raw is None:
            return None
        try:
            return StoredTokens.from_json(raw)
        except ValueError as error:
            self.log.warning(
                "Ignoring Variable %s: it does not hold Bitrix24 OAuth tokens (%s)", self.key, error
            )
            return None

    def _read_variable(self) -> str | None:
        if in_task_runtime():
            from airflow.sdk import Variable

            value = Variable.get(self.key, default=None)
            return None if value is None else str(value)
        from airflow.models.variable import Variable as DbVariable
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            row = session.scalar(select(DbVariable).where(DbVariable.key == self.key))
            return None if row is None else row.val

    # -- writing ---------------------------------------------------------------------------

    def save(self, tokens: StoredTokens) -> tuple[StoredTokens, list[str]]:
        """Store ``tokens``; returns them as stored and where they went (empty: nowhere).

        Outside the task runtime the connection row is updated first (when the connection lives in
        the metadata database); the stored chain then starts from the token in the connection.
        """
        places: list[str] = []
        if not in_task_runtime() and self._store_in_connection(tokens):
            places.append(f"connection {self.conn_id}")
            tokens = replace(tokens, origin=fingerprint(tokens.refresh_token))
        try:
            self._write_variable(tokens)
        except Exception as error:
            self.log.warning("Cannot write Variable %s: %s", self.key, type(error).__name__)
            return tokens, places
        if self._variable_holds(tokens):
            places.append(f"Variable {self.key}")
        return tokens, places

    def _write_variable(self, tokens: StoredTokens) -> None:
        description = (
            f"OAuth tokens of the Bitrix24 connection {self.conn_id}, rotated on every refresh and "
            "kept by airflow-provider-bitrix24. Do not edit; to start over, put a new refresh token "
            "into the connection."
        )
        if in_task_runtime():
            from airflow.sdk import Variable

            Variable.set(self.key, tokens.to_json(), description=description)
            return
        _write_variable_row(self.key, tokens.to_json(), description)

    def _variable_holds(self, tokens: StoredTokens) -> bool:
        """Read back: is the written pair (or a newer one) what the next reader gets?

        It is not when another secrets backend (``AIRFLOW_VAR_...``, Vault...) defines the same key
        and shadows the metadata database.
        """
        stored = self.load()
        if stored is not None and (
            stored.refresh_token == tokens.refresh_token or stored.generation > tokens.generation
        ):
            return True
        self.log.warning(
            "Variable %s does not read back what was just written to it; is it also defined in "
            "another secrets backend (AIRFLOW_VAR_..., Vault...)? That one shadows the stored tokens.",
            self.key,
        )
        return False

    def _store_in_connection(self, tokens: StoredTokens) -> bool:
        """Update the connection row in the metadata database (outside the task runtime only)."""
        if f"AIRFLOW_CONN_{self.conn_id.upper()}" in os.environ:
            return False  # the environment variable would shadow the row anyway
        try:
            return _update_connection_row(self.conn_id, tokens)
        except Exception as error:  # no metadata database here (the text may quote the row: not logged)
            name = type(error).__name__
            self.log.debug("Cannot update connection %s in the metadata database: %s", self.conn_id, name)
            return False


def _write_variable_row(key: str, value: str, description: str) -> None:
    """Insert or update the Variable's row in the metadata database (outside the task runtime,
    where the SDK's ``Variable.set`` has no API server to talk to). Through the ORM model, not the
    deprecated ``airflow.models.Variable.set``; the model encrypts the value with the Fernet key."""
    from airflow.models.variable import Variable as DbVariable
    from airflow.utils.session import create_session
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    for attempt in (1, 2):  # another process may insert the same key in between
        try:
            with create_session() as session:
                row = session.scalar(select(DbVariable).where(DbVariable.key == key))
                if row is None:
                    session.add(DbVariable(key=key, val=value, description=description))  # type: ignore[no-untyped-call]
                else:
                    row.set_val(value)
                    row.description = description
            return
        except IntegrityError:
            if attempt == 2:
                raise


def _update_connection_row(conn_id: str, tokens: StoredTokens) -> bool:
    from airflow.models.connection import Connection as DbConnection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.scalar(select(DbConnection).where(DbConnection.conn_id == conn_id))
        if row is None:
            return False
        stored = row.get_extra()
        extra = json.loads(stored) if stored else {}
        if not isinstance(extra, dict):  # never overwrite extras we cannot read
            return False
        prefixed = any(key.startswith(_EXTRA_PREFIX) for key in extra)
        updates = {"refresh_token": tokens.refresh_token}
        if tokens.access_token:
            updates["access_token"] = tokens.access_token
        for key, value in updates.items():
            extra[key] = value
            if prefixed:
                extra[_EXTRA_PREFIX + key] = value
        row.set_extra(json.dumps(extra))
    return True
