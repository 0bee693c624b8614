"""What to load: :class:`LoadSpec`, one list method's export, validated once when it is built.

The spec knows nothing about where the rows go (:mod:`.destinations`) or who runs the load
(:mod:`.run`); an orchestrator builds it from its own arguments (after templating) and hands it to
:func:`~bitrix24_provider.sync.load.run_load`. Every check that needs no portal and no destination
runs in ``__post_init__`` and raises a typed :class:`~bitrix24_provider.staging.errors.
StagingConfigError` (a ``ValueError``) before any request.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from ..client.encoding import encode_params
from ..client.families import family_of
from ..staging.deletions import DELETION_MODES, DeletionMode
from ..staging.errors import StagingConfigError
from ..staging.sink import COLUMN_POLICIES, ColumnPolicy
from ..staging.sql_sink import WRITE_DISPOSITIONS, WriteDisposition
from .description import COLUMN_TYPES, ColumnTypes, required_fields_call
from .export import DEFAULT_CHUNK_ROWS
from .incremental import CursorField
from .progress_log import DEFAULT_INTERVAL
from .spelling import request_name

__all__ = ["LoadSpec", "family_key"]


def family_key(method: str) -> tuple[str, ...]:
    """The primary key the rows of list *method* carry: ``ID``, or ``id`` (``crm.item.list``,
    ``tasks.task.list``)."""
    return (family_of(method).response_id,)


@dataclass(frozen=True)
class LoadSpec:
    """One list method's load.

    :param method: the list method, e.g. ``crm.deal.list``, ``crm.item.list``, ``tasks.task.list``.
    :param request_params: further parameters of the list method (``entityTypeId``, ``order``...).
    :param select: fields to return, e.g. ``["*", "UF_*"]``.
    :param filter: filter conditions; the load adds the cursor bounds itself.
    :param write_disposition: ``replace``, ``append`` or ``merge`` (SQL destinations; files and
        DataFrames are always ``replace``).
    :param primary_key: row field(s) identifying a record (empty: no key, no de-duplication).
    :param cursor_field: the incremental cursor (``DATE_MODIFY``, ``updatedTime``, ``CHANGED_DATE``).
    :param lag: overlap subtracted from the watermark.
    :param use_data_interval: bound the cursor to the run's data interval instead of the watermark.
    :param chunk_rows: rows per staging transaction / DataFrame chunk.
    :param column_policy: columns the target lacks: ``add``, ``ignore`` or ``fail``.
    :param resumable: checkpoint SQL exports for resuming on retry.
    :param column_types: ``fields`` (types from the ``.fields`` call, names checked against it) or
        ``values`` (no ``.fields`` call, types from the values, names unchecked).
    :param allow_column_drop: a ``replace`` may leave out columns the target has.
    :param progress_interval: seconds between progress lines.
    :param deletions: rows the portal no longer lists (deleted records, and records that left the
        ``filter``): None (kept, as before), ``soft`` (``_bitrix24_deleted_at`` set, cleared when a
        record comes back) or ``hard`` (deleted); ``merge`` loads keyed on the method's id only.
    :param max_deletions: the most rows one run may remove: an ``int`` count or a ``float`` fraction
        of the target's live rows; a run over it fails (:class:`~bitrix24_provider.staging.errors.
        DeletionLimitError`) and changes nothing.
    :param deletions_from: ``scan`` (a key-only export, see :mod:`.deletions`) or ``events`` (the
        portal's offline delete events, OAuth application connections of an administrator; see
        :mod:`.events`).
    :param reconcile_every: reconcile only when the last reconciliation began at least this long ago
        (portal clock); None: every run (with ``deletions_from="events"``: never, events only; set, the
        key scan is the events' periodic safety net).
    """

    method: str
    request_params: Mapping[str, Any] | None = None
    select: Sequence[str] | None = None
    filter: Mapping[str, Any] | None = None
    write_disposition: WriteDisposition = "replace"
    primary_key: tuple[str, ...] = ()
    cursor_field: str | None = None
    lag: timedelta = timedelta(0)
    use_data_interval: bool = False
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    column_policy: ColumnPolicy = "add"
    resumable: bool = True
    column_types: ColumnTypes = "fields"
    allow_column_drop: bool = False
    progress_interval: float = DEFAULT_INTERVAL
    deletions: DeletionMode | None = None
    max_deletions: int | float = 0.10
    reconcile_every: timedelta | None = None
    deletions_from: Literal["scan", "events"] = "scan"
    _params: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.method, str) or not self.method.strip():
            raise StagingConfigError(f"method must be a Bitrix24 list method name, got {self.method!r}")
        object.__setattr__(self, "method", self.method.strip())
        if self.request_params is not None and not isinstance(self.request_params, Mapping):
            raise StagingConfigError(
                f"request_params must be a mapping, got {type(self.request_params).__name__}"
            )
        if self.select is not None:
            if isinstance(self.select, (str, bytes)) or not all(isinstance(s, str) for s in self.select):
                raise StagingConfigError(f"select must be a list of field names, got {self.select!r}")
            object.__setattr__(self, "select", tuple(self.select))
        if self.filter is not None and not isinstance(self.filter, Mapping):
            raise StagingConfigError(f"filter must be a mapping, got {type(self.filter).__name__}")
        _check_choice("write_disposition", self.write_disposition, WRITE_DISPOSITIONS)
        _check_choice("column_policy", self.column_policy, COLUMN_POLICIES)
        _check_choice("column_types", self.column_types, COLUMN_TYPES)
        key = self.primary_key
        if isinstance(key, str):
            key = (key,)
        if not isinstance(key, (tuple, list)) or not all(isinstance(k, str) and k for k in key):
            raise StagingConfigError(f"primary_key must be a tuple of field names, got {self.primary_key!r}")
        object.__setattr__(self, "primary_key", tuple(key))
        if self.write_disposition == "merge" and not self.primary_key:
            raise StagingConfigError("write_disposition='merge' needs a primary_key")
        if self.cursor_field is not None:
            if not isinstance(self.cursor_field, str) or not self.cursor_field.strip():
                raise StagingConfigError(f"cursor_field must be a field name, got {self.cursor_field!r}")
            object.__setattr__(self, "cursor_field", self.cursor_field.strip())
        elif self.use_data_interval:
            raise StagingConfigError("use_data_interval=True needs a cursor_field to bound")
        if not isinstance(self.lag, timedelta) or self.lag < timedelta(0):
            raise StagingConfigError(f"lag must be a non-negative timedelta, got {self.lag!r}")
        if isinstance(self.chunk_rows, bool) or not isinstance(self.chunk_rows, int) or self.chunk_rows < 1:
            raise StagingConfigError(f"chunk_rows must be a positive integer, got {self.chunk_rows!r}")
        interval = self.progress_interval
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not interval >= 0:
            raise StagingConfigError(f"progress_interval must be non-negative seconds, got {interval!r}")
        for name in ("use_data_interval", "resumable", "allow_column_drop"):
            if not isinstance(getattr(self, name), bool):
                raise StagingConfigError(f"{name} must be True or False, got {getattr(self, name)!r}")
        _check_deletions(self)
        object.__setattr__(self, "_params", _build_params(self))
        if self.column_types == "fields":
            required_fields_call(self.method, self._params)

    @property
    def params(self) -> dict[str, Any]:
        """The list request's parameters: ``request_params`` with ``select`` and ``filter`` (an
        explicit select also gets the cursor field and the primary key); the load adds the cursor
        bounds. A copy: the spec stays as built."""
        return copy.deepcopy(self._params)

    @property
    def cursor(self) -> CursorField | None:
        return CursorField.for_method(self.method, self.cursor_field) if self.cursor_field else None


def _check_choice(argument: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise StagingConfigError(f"{argument} must be one of {', '.join(choices)}, got {value!r}")


def _check_deletions(spec: LoadSpec) -> None:
    limit, every = spec.max_deletions, spec.reconcile_every
    if isinstance(limit, bool) or not isinstance(limit, (int, float)):
        raise StagingConfigError(f"max_deletions must be an int count or a float fraction, got {limit!r}")
    if (isinstance(limit, int) and limit < 0) or (isinstance(limit, float) and not 0.0 <= limit <= 1.0):
        raise StagingConfigError(
            f"max_deletions must be a count >= 0 or a fraction between 0.0 and 1.0, got {limit!r}"
        )
    if every is not None and (not isinstance(every, timedelta) or every <= timedelta(0)):
        raise StagingConfigError(f"reconcile_every must be a positive timedelta or None, got {every!r}")
    _check_choice("deletions_from", spec.deletions_from, ("scan", "events"))
    if spec.deletions is None:
        if spec.deletions_from != "scan":
            raise StagingConfigError("deletions_from='events' needs deletions='soft' or 'hard'")
        return
    _check_choice("deletions", spec.deletions, DELETION_MODES)
    if spec.write_disposition != "merge":
        raise StagingConfigError(
            f"deletions={spec.deletions!r} needs write_disposition='merge' (a 'replace' has no deleted rows)"
        )
    if spec.primary_key != family_key(spec.method):
        raise StagingConfigError(
            f"deletions={spec.deletions!r} needs primary_key={family_key(spec.method)!r}, the id the "
            f"portal lists {spec.method} by; got {spec.primary_key!r}"
        )


def _build_params(spec: LoadSpec) -> dict[str, Any]:
    """Parameters the client cannot encode are a :class:`StagingConfigError`."""
    params = dict(spec.request_params or {})
    if "start" in params:
        raise StagingConfigError("request_params must not contain 'start': the export pages by itself")
    if spec.select is not None:
        params["select"] = list(spec.select)
    if spec.filter is not None:
        params["filter"] = {**dict(params.get("filter") or {}), **dict(spec.filter)}
    select = params.get("select")
    if select and not any("*" in str(s) for s in select):
        family = family_of(spec.method)
        wanted = [request_name(family, k) for k in spec.primary_key]
        if spec.cursor is not None:
            wanted.append(spec.cursor.request)
        params["select"] = [*select, *(w for w in wanted if w not in select)]
    try:
        encode_params(params)  # what the client would refuse at the first request, refused here
    except (TypeError, ValueError) as error:
        raise StagingConfigError(f"{spec.method}: the parameters cannot be sent: {error}") from error
    return params
