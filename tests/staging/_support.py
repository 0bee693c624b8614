"""Fixtures and helpers shared by the staging and operator tests.

Everything talks to real services: the bundled Bitrix24 emulator over HTTP, a SQLite file in
``tmp_path`` and the local PostgreSQL (a fresh schema per test, dropped afterwards).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

import pytest
import sqlalchemy as sa

from bitrix24_provider.emulator import Emulator, EmulatorConfig
from bitrix24_provider.hooks.connection import webhook_connection_fields
from tests.conftest import POSTGRES_DSN

# -- the emulator ---------------------------------------------------------------------------------


def portal_get(emulator: Emulator, path: str) -> Any:
    with urlopen(emulator.base_url + path, timeout=30) as response:
        return json.load(response)


def portal_post(emulator: Emulator, path: str, body: Any) -> Any:
    request = Request(
        emulator.base_url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urlopen(request, timeout=30) as response:
        return json.load(response)


def rest(emulator: Emulator, method: str, params: dict[str, Any] | None = None) -> Any:
    """One REST call of the portal (the test's own writes, e.g. ``crm.deal.update``)."""
    return portal_post(
        emulator,
        f"/rest/{emulator.config.user_id}/{emulator.config.webhook_code}/{method}.json",
        params or {},
    )["result"]


def seeded_ids(emulator: Emulator, entity: str = "deal") -> list[int]:
    return sorted(int(i) for i in portal_get(emulator, f"/_emulator/ids/{entity}")["ids"])


def stats(emulator: Emulator) -> dict[str, Any]:
    return portal_get(emulator, "/_emulator/stats")


def reset_counters(emulator: Emulator) -> None:
    portal_post(emulator, "/_emulator/reset", {"counters": 1, "limits": 1})


def configure(emulator: Emulator, changes: dict[str, Any]) -> None:
    portal_post(emulator, "/_emulator/config", changes)


@pytest.fixture
def make_portal(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Emulator]]:
    """``make_portal(deals=..., ...)``: a running emulator, set as ``bitrix24_default``."""
    stack: list[Any] = []

    def start(**config: Any) -> Emulator:
        config.setdefault("simulate_cost", False)
        emulator = Emulator(EmulatorConfig(**config))
        context = emulator.in_thread()
        stack.append(context)
        running = context.__enter__()
        monkeypatch.setenv(
            "AIRFLOW_CONN_BITRIX24_DEFAULT",
            json.dumps({"conn_type": "bitrix24", **webhook_connection_fields(running.webhook_url)}),
        )
        return running

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)


# -- SQL targets ----------------------------------------------------------------------------------


@dataclass
class SqlTarget:
    """A target database with an Airflow connection ``conn_id`` and helpers to look inside."""

    kind: str
    conn_id: str
    url: str
    schema: str | None = None
    _engine: sa.Engine | None = field(default=None, repr=False)

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = sa.create_engine(self.url)
        return self._engine

    def qualified(self, table: str) -> str:
        return f'"{self.schema}"."{table}"' if self.schema else f'"{table}"'

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql), params)]

    def execute(self, sql: str, **params: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text(sql), params)

    def ids(self, table: str, column: str = "ID") -> list[int]:
        return sorted(int(r[0]) for r in self.rows(f'SELECT "{column}" FROM {self.qualified(table)}'))

    def count(self, table: str) -> int:
        return int(self.rows(f"SELECT COUNT(*) FROM {self.qualified(table)}")[0][0])

    def tables(self) -> set[str]:
        return set(sa.inspect(self.engine).get_table_names(schema=self.schema))

    def column_types(self, table: str) -> dict[str, str]:
        columns = sa.inspect(self.engine).get_columns(table, schema=self.schema)
        return {c["name"]: str(c["type"].compile(dialect=self.engine.dialect)).upper() for c in columns}

    def state(self, table: str) -> list[tuple[Any, ...]]:
        return self.rows(
            "SELECT method, cursor_field, high_water, loaded_rows "
            f"FROM {self.qualified('_bitrix24_sync_state')} WHERE target_table = :t "
            "ORDER BY method, cursor_field",
            t=f"{self.schema}.{table}" if self.schema else table,
        )

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _sqlite_target(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> SqlTarget:
    path = tmp_path / "stage.db"
    monkeypatch.setenv("AIRFLOW_CONN_STAGE_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return SqlTarget("sqlite", "stage_sqlite", f"sqlite:///{path}")


def _postgres_target(monkeypatch: pytest.MonkeyPatch) -> SqlTarget:
    parts = urlsplit(POSTGRES_DSN)
    schema = f"b24t_{uuid.uuid4().hex[:10]}"
    target = SqlTarget(
        "postgres", "stage_pg", POSTGRES_DSN.replace("postgresql://", "postgresql+psycopg://", 1), schema
    )
    target.execute(f'CREATE SCHEMA "{schema}"')
    conn = {
        "conn_type": "postgres",
        "host": parts.hostname,
        "port": parts.port or 5432,
        "login": parts.username or "postgres",
        "schema": parts.path.lstrip("/") or "test",
    }
    if parts.password:
        conn["password"] = parts.password
    monkeypatch.setenv("AIRFLOW_CONN_STAGE_PG", json.dumps(conn))
    return target


@pytest.fixture
def sqlite_target(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[SqlTarget]:
    target = _sqlite_target(tmp_path, monkeypatch)
    yield target
    target.dispose()


@pytest.fixture
def postgres_target(postgres_dsn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[SqlTarget]:
    target = _postgres_target(monkeypatch)
    yield target
    target.execute(f'DROP SCHEMA "{target.schema}" CASCADE')
    target.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def sql_target(request: pytest.FixtureRequest) -> SqlTarget:
    """Each test using it runs on SQLite and on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_target")


# -- Airflow task context -------------------------------------------------------------------------


def make_context(
    try_number: int = 1,
    max_tries: int = 3,
    *,
    state_store: Any = None,
    run_id: str = "manual__2026-01-01T00:00:00+00:00",
    dag_id: str = "b24_test",
    task_id: str = "export",
    data_interval: tuple[datetime, datetime] | None = None,
) -> dict[str, Any]:
    """The parts of an Airflow task context the operators read."""
    ti = SimpleNamespace(
        try_number=try_number,
        max_tries=max_tries,
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        map_index=-1,
    )
    context: dict[str, Any] = {"ti": ti, "task_instance": ti, "run_id": run_id}
    if state_store is not None:
        context["task_state_store"] = state_store
    if data_interval is not None:
        context["data_interval_start"], context["data_interval_end"] = data_interval
    return context


class MemorySupervisor:
    """The supervisor's side of Airflow's task-state-store messages, in memory: lets Airflow's own
    ``TaskStateStoreAccessor`` run outside a task runner. Values go through JSON like the real API."""

    def __init__(self) -> None:
        self.values: dict[tuple[Any, str], Any] = {}

    def send(self, msg: Any) -> Any:
        from airflow.sdk.exceptions import ErrorType
        from airflow.sdk.execution_time.comms import (
            ClearTaskStateStore,
            DeleteTaskStateStore,
            ErrorResponse,
            GetTaskStateStore,
            SetTaskStateStore,
            TaskStateStoreResult,
        )

        if isinstance(msg, GetTaskStateStore):
            if (msg.ti_id, msg.key) not in self.values:
                return ErrorResponse(error=ErrorType.TASK_STORE_NOT_FOUND)
            return TaskStateStoreResult(value=json.loads(self.values[(msg.ti_id, msg.key)]))
        if isinstance(msg, SetTaskStateStore):
            self.values[(msg.ti_id, msg.key)] = json.dumps(msg.value)
        elif isinstance(msg, DeleteTaskStateStore):
            self.values.pop((msg.ti_id, msg.key), None)
        elif isinstance(msg, ClearTaskStateStore):
            for key in [k for k in self.values if k[0] == msg.ti_id]:
                del self.values[key]
        return None


@pytest.fixture
def task_state_store(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Airflow's real ``TaskStateStoreAccessor`` for one task instance (same object for every try)."""
    pytest.importorskip("airflow.sdk._shared.state", reason="task_state_store arrived in Airflow 3.3")
    from airflow.sdk._shared.state import TaskScope
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.context import TaskStateStoreAccessor

    supervisor = MemorySupervisor()
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", supervisor, raising=False)
    scope = TaskScope(dag_id="b24_test", run_id="manual__2026-01-01T00:00:00+00:00", task_id="export")
    accessor = TaskStateStoreAccessor(uuid.uuid4(), scope)
    accessor.supervisor = supervisor  # type: ignore[attr-defined]
    return accessor
