"""Who runs a load: the orchestrator's identity of the run step and what it knows about the try.

The engine reads nothing from an orchestrator; its adapter (the Airflow operator, the Dagster
assets) fills these in from its own context.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..staging.sync_state import TaskKey

__all__ = ["LoadRun", "RunIdentity"]


@dataclass(frozen=True)
class RunIdentity:
    """One step of one run, across its tries.

    :param orchestrator: ``airflow``, ``dagster``...
    :param pipeline: the DAG id / job name.
    :param run_id: the run; a retried or re-executed step keeps it (Dagster: the root run's id).
    :param step: the task id / asset key.
    :param map_index: the mapped task's index (-1: not mapped).
    :param try_number: 1 on the first try.
    :param more_tries: whether the orchestrator tries again if this try fails (the staging table and
        resume point are kept for it).
    """

    orchestrator: str
    pipeline: str
    run_id: str
    step: str
    map_index: int = -1
    try_number: int = 1
    more_tries: bool = False

    @property
    def key(self) -> TaskKey:
        """The step's key in ``_bitrix24_resume`` (the same for every try)."""
        return TaskKey(dag_id=self.pipeline, run_id=self.run_id, task_id=self.step, map_index=self.map_index)


@dataclass(frozen=True)
class LoadRun:
    """:param data_interval: the run's data interval ``(start, end)`` when it has one (used with
        ``use_data_interval``).
    :param state_store: the orchestrator's per-step state store for resume points (Airflow 3.3's
        ``task_state_store``: ``get``, ``set``, ``delete``); None: a table in the target database.
    """

    identity: RunIdentity
    data_interval: tuple[datetime | None, datetime | None] | None = None
    state_store: object | None = None
