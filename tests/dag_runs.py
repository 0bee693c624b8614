"""Running the test DAGs of ``tests/dags`` with ``dag.test()`` and reading what their tasks returned."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

TEST_DAGS = Path(__file__).resolve().parent / "dags"


def use_test_dags(monkeypatch: pytest.MonkeyPatch) -> None:
    """``dag.test()`` needs its DAG in a DAG bundle: ``tests/dags`` next to the example DAGs."""
    local = "airflow.dag_processing.bundles.local.LocalDagBundle"
    bundles = [
        {"name": "dags-folder", "classpath": local, "kwargs": {}},
        {"name": "bitrix24-test-dags", "classpath": local, "kwargs": {"path": str(TEST_DAGS)}},
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))


def load_dag(name: str) -> Any:
    """The ``dag`` of ``tests/dags/<name>.py``."""
    spec = importlib.util.spec_from_file_location(f"test_dag_{name}", TEST_DAGS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def returned(dag_run: Any, task_id: str) -> Any:
    """The ``return_value`` XCom of *task_id* in *dag_run*, from the metadata database."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        value = session.scalar(
            select(XComModel.value).where(
                XComModel.dag_id == dag_run.dag_id,
                XComModel.run_id == dag_run.run_id,
                XComModel.task_id == task_id,
                XComModel.key == "return_value",
            )
        )
    return json.loads(value) if isinstance(value, str) else value
