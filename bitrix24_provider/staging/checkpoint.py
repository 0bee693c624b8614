"""Where a resumable export records its progress between Airflow task tries.

* :class:`TaskStateCheckpoint`: Airflow 3.3's ``context["task_state_store"]`` (survives retries,
  scoped to the task instance). It is written right *after* each staging chunk commits, so a crash in
  between costs at most one chunk read again (the staging table removes the duplicates).
* :class:`TableCheckpoint`: before 3.3, a row in ``_bitrix24_resume`` in the target database, written
  *inside* the chunk's transaction (the position and the rows commit together).

A checkpoint is a JSON object: the run's ``fingerprint`` (a hash of everything that defines the
export, so a retry with other parameters starts over), the resolved request ``params``, the
``staging`` table, the ``load_id``, the staging ``columns``, the :class:`~.sink.Progress` fields and
the client's ``throttle`` state.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy.engine import Connection

from .sync_state import ResumeTable, TaskKey

#: 3: the progress records when the export began (a checkpoint without it cannot cap the watermark)
CHECKPOINT_VERSION = 3


class Checkpoint(Protocol):
    #: whether ``save``/``clear`` run inside the caller's database transaction
    transactional: bool

    def load(self) -> dict[str, Any] | None: ...

    def save(self, value: dict[str, Any], conn: Connection | None) -> None: ...

    def clear(self, conn: Connection | None) -> None: ...


class TaskStateCheckpoint:
    """A checkpoint in Airflow's task state store (anything with ``get``, ``set`` and ``delete``)."""

    transactional = False
    KEY = "bitrix24_export"

    def __init__(self, store: Any) -> None:
        self.store = store

    def load(self) -> dict[str, Any] | None:
        value = self.store.get(self.KEY, None)
        return value if isinstance(value, dict) else None

    def save(self, value: dict[str, Any], conn: Connection | None = None) -> None:
        self.store.set(self.KEY, value)

    def clear(self, conn: Connection | None = None) -> None:
        self.store.delete(self.KEY)


class TableCheckpoint:
    """A checkpoint row in ``_bitrix24_resume``, keyed by the task instance."""

    transactional = True

    def __init__(self, table: ResumeTable, key: TaskKey) -> None:
        self.table = table
        self.key = key

    def load(self) -> dict[str, Any] | None:
        return self.table.get(self.key)

    def save(self, value: dict[str, Any], conn: Connection | None) -> None:
        if conn is None:
            with self.table.db.begin() as own:
                self.table.put(own, self.key, value)
        else:
            self.table.put(conn, self.key, value)

    def clear(self, conn: Connection | None) -> None:
        if conn is None:
            with self.table.db.begin() as own:
                self.table.delete(own, self.key)
        else:
            self.table.delete(conn, self.key)


def fingerprint(parts: Mapping[str, Any]) -> str:
    """A stable hash of the parameters that define an export."""
    text = json.dumps({"v": CHECKPOINT_VERSION, **parts}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]
