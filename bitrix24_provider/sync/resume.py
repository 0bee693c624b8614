"""The resume point of an export and where it is kept between tries.

A :class:`ResumePoint` is one typed, versioned record: the run's ``fingerprint`` (a hash of everything
that defines the load, so a retry with other parameters starts over), the resolved list request's
``params``, the :class:`~bitrix24_provider.staging.sink.Progress` (id ranges still to export, rows
and pages so far, when the export began), the client's ``throttle`` state and the destination's
:class:`~bitrix24_provider.staging.sink.StagingPosition` (staging table, load id, columns). It is
stored as JSON (:meth:`ResumePoint.to_json`); a stored record of another version (v3 and earlier
carried no ``version`` key) is not resumed: :meth:`ResumePoint.from_json` raises
:class:`StaleResumePoint` naming its staging table, which the load drops before starting over.

Stores:

* :class:`TaskStateCheckpoint`: the orchestrator's own state store (Airflow 3.3's
  ``task_state_store``; anything with ``get``, ``set`` and ``delete``). Written right *after* each
  staging chunk commits, so a crash in between costs at most one chunk read again (the staging
  table removes the duplicates).
* :class:`TableCheckpoint`: a row in ``_bitrix24_resume`` in the target database, keyed by the run's
  identity, written *inside* the chunk's transaction (the position and the rows commit together).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol, cast, runtime_checkable

from sqlalchemy.engine import Connection

from ..client.throttle import ThrottleState
from ..staging.columns import KINDS, Column, Kind
from ..staging.sink import Progress, StagingPosition
from ..staging.sync_state import ResumeTable, TaskKey
from .incremental import Bounds

log = logging.getLogger(__name__)

#: 4: one typed record with a version; 3 (unversioned) recorded when the export began
RESUME_VERSION = 4


class StaleResumePoint(ValueError):
    """A stored resume point this version cannot continue from (another version, a broken record).

    :param staging: its staging table, when it names one (the load drops it).
    """

    def __init__(self, problem: str, staging: str | None = None) -> None:
        self.problem = problem
        self.staging = staging
        super().__init__(problem)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.problem, self.staging))


@dataclass(frozen=True)
class ResumePoint:
    """How far an export got; what a retry continues from (see the module's text)."""

    fingerprint: str
    params: Mapping[str, Any]
    progress: Progress
    throttle: ThrottleState | None = None
    position: StagingPosition | None = None
    #: the cursor bounds of an incremental export (``source`` ``resume`` once read back)
    bounds: Bounds | None = None
    version: int = RESUME_VERSION

    def to_json(self) -> dict[str, Any]:
        """JSON values only (Airflow's task state store refuses tuples)."""
        progress = self.progress
        position = self.position
        return {
            "version": self.version,
            "fingerprint": self.fingerprint,
            "params": dict(self.params),
            "progress": {
                "rows_read": progress.rows_read,
                "pages": progress.pages,
                "chunks": progress.chunks,
                "ranges": None if progress.ranges is None else [[a, b] for a, b in progress.ranges],
                "max_cursor": progress.max_cursor,
                "started_at": progress.started_at,
            },
            "throttle": None if self.throttle is None else dict(self.throttle),
            "bounds": None if self.bounds is None else [self.bounds.lower, self.bounds.upper],
            "position": None
            if position is None
            else {
                "staging": position.staging,
                "load_id": position.load_id,
                "columns": [[c.name, c.kind] for c in position.columns],
            },
        }

    @classmethod
    def from_json(cls, data: object) -> ResumePoint:
        """The resume point of a stored record; :class:`StaleResumePoint` when it is of another
        version or malformed."""
        if not isinstance(data, Mapping):
            raise StaleResumePoint(f"not a JSON object: {type(data).__name__}")
        version = data.get("version")
        if version != RESUME_VERSION:
            staging = data.get("staging")  # where v3 kept it
            position = data.get("position")
            if isinstance(position, Mapping):
                staging = position.get("staging")
            raise StaleResumePoint(
                f"resume point version {version!r} (this version reads {RESUME_VERSION})",
                staging if isinstance(staging, str) and staging else None,
            )
        try:
            return cls(
                fingerprint=_text(data["fingerprint"]),
                params=_mapping(data["params"]),
                progress=_progress(_mapping(data["progress"])),
                throttle=_throttle(data.get("throttle")),
                position=_position(data.get("position")),
                bounds=_bounds(data.get("bounds")),
            )
        except (KeyError, TypeError, ValueError) as error:
            position = data.get("position")
            staging = position.get("staging") if isinstance(position, Mapping) else None
            raise StaleResumePoint(
                f"malformed resume point ({type(error).__name__}: {error})",
                staging if isinstance(staging, str) and staging else None,
            ) from error


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _mapping(value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return {str(k): v for k, v in value.items()}


def _progress(data: Mapping[str, Any]) -> Progress:
    ranges = data["ranges"]
    parsed: list[tuple[int, int | None]] | None = None
    if ranges is not None:
        if not isinstance(ranges, list):
            raise TypeError("ranges must be a list")
        parsed = []
        for pair in ranges:
            after, upto = pair
            parsed.append((_int(after), None if upto is None else _int(upto)))
    return Progress(
        rows_read=_int(data["rows_read"]),
        pages=_int(data["pages"]),
        chunks=_int(data["chunks"]),
        ranges=parsed,
        max_cursor=_optional_text(data["max_cursor"]),
        started_at=_optional_text(data["started_at"]),
    )


def _throttle(value: object) -> ThrottleState | None:
    """As recorded; the client checks it when it is restored (an unusable one is ignored then)."""
    return None if value is None else cast(ThrottleState, _mapping(value))


def _bounds(value: object) -> Bounds | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise TypeError("bounds must be a list")
    lower, upper = value
    return Bounds(_optional_text(lower), _optional_text(upper), "resume")


def _position(value: object) -> StagingPosition | None:
    if value is None:
        return None
    data = _mapping(value)
    columns = []
    for name, kind in data["columns"]:
        if kind not in KINDS:
            raise ValueError(f"unknown column kind {kind!r}")
        columns.append(Column(_text(name), cast(Kind, kind)))
    return StagingPosition(_text(data["staging"]), _text(data["load_id"]), tuple(columns))


def fingerprint(parts: Mapping[str, Any]) -> str:
    """A stable hash of the parameters that define an export."""
    text = json.dumps({"v": RESUME_VERSION, **parts}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# -- stores ----------------------------------------------------------------------------------------


@runtime_checkable
class StateStore(Protocol):
    """An orchestrator's per-step state store (Airflow 3.3's ``task_state_store``)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...

    def delete(self, key: str) -> None: ...


class ResumeStore(Protocol):
    #: whether ``save``/``clear`` run inside the caller's database transaction
    @property
    def transactional(self) -> bool: ...

    def load(self) -> ResumePoint | None:
        """The stored resume point; :class:`StaleResumePoint` for one that cannot be continued."""
        ...

    def save(self, point: ResumePoint, conn: Connection | None) -> None: ...

    def clear(self, conn: Connection | None) -> None: ...


class TaskStateCheckpoint:
    """Resume points in an orchestrator's state store (:class:`StateStore`)."""

    transactional = False
    KEY = "bitrix24_export"

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def load(self) -> ResumePoint | None:
        value = self.store.get(self.KEY, None)
        return None if value is None else ResumePoint.from_json(value)

    def save(self, point: ResumePoint, conn: Connection | None = None) -> None:
        self.store.set(self.KEY, point.to_json())

    def clear(self, conn: Connection | None = None) -> None:
        self.store.delete(self.KEY)


class TableCheckpoint:
    """Resume points in ``_bitrix24_resume``, one row per run step."""

    transactional = True

    def __init__(self, table: ResumeTable, key: TaskKey) -> None:
        self.table = table
        self.key = key

    def load(self) -> ResumePoint | None:
        value = self.table.get(self.key)
        return None if value is None else ResumePoint.from_json(value)

    def save(self, point: ResumePoint, conn: Connection | None) -> None:
        if conn is None:
            with self.table.db.begin() as own:
                self.table.put(own, self.key, point.to_json())
        else:
            self.table.put(conn, self.key, point.to_json())

    def clear(self, conn: Connection | None) -> None:
        if conn is None:
            with self.table.db.begin() as own:
                self.table.delete(own, self.key)
        else:
            self.table.delete(conn, self.key)


class ResumeRecorder:
    """The destination's :class:`~bitrix24_provider.staging.sink.Checkpointer`: after each chunk it
    stores a :class:`ResumePoint` of the export it :meth:`track`\\ s, with the destination's
    position and the throttle state of that moment."""

    def __init__(
        self, store: ResumeStore, fingerprint: str, throttle: Callable[[], ThrottleState | None]
    ) -> None:
        self.store = store
        self.fingerprint = fingerprint
        self.throttle = throttle
        self._params: Mapping[str, Any] = {}
        self._bounds: Bounds | None = None
        self._progress = Progress()

    @property
    def transactional(self) -> bool:
        return self.store.transactional

    def track(self, params: Mapping[str, Any], bounds: Bounds | None, progress: Progress) -> None:
        """Record *progress* (updated by the export loop before each chunk) of the request *params*
        with the cursor *bounds* in them."""
        self._params = params
        self._bounds = bounds
        self._progress = progress

    def save(self, position: StagingPosition, conn: Connection | None) -> None:
        progress = self._progress
        ranges = None if progress.ranges is None else list(progress.ranges)
        point = ResumePoint(
            fingerprint=self.fingerprint,
            params=dict(self._params),
            progress=replace(progress, ranges=ranges),
            throttle=self.throttle(),
            position=position,
            bounds=self._bounds,
        )
        self.store.save(point, conn)

    def clear(self, conn: Connection | None) -> None:
        self.store.clear(conn)
