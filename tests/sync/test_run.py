"""The run's identity keys its resume row the same on every try."""

from __future__ import annotations

from bitrix24_provider.staging.sync_state import TaskKey
from bitrix24_provider.sync import RunIdentity


def test_every_try_of_a_step_has_one_key():
    first = RunIdentity("airflow", "dag", "run", "task", map_index=3)
    retry = RunIdentity("airflow", "dag", "run", "task", map_index=3, try_number=2, more_tries=True)
    assert first.key == retry.key == TaskKey("dag", "run", "task", 3)
    assert RunIdentity("dagster", "job", "root-run", "deals").key.map_index == -1
