"""``Bitrix24Entity``: one list method loaded into one table, checked when it is built.

Every check that needs no portal runs here, so a bad entity fails when the definitions load, before
any request: the method's ``.fields`` call exists (:func:`required_fields_call`), the table is a
safe identifier, the write disposition fits the key and cursor. Names are checked against the
portal's ``.fields`` answer at the start of each load.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bitrix24_provider.client.families import family_of
from bitrix24_provider.staging.errors import StagingConfigError
from bitrix24_provider.staging.identifiers import check_identifier
from bitrix24_provider.staging.sink import COLUMN_POLICIES
from bitrix24_provider.staging.sql_sink import WRITE_DISPOSITIONS
from bitrix24_provider.sync import LoadSpec
from bitrix24_provider.sync.description import required_fields_call

__all__ = ["Bitrix24Entity"]

#: the lag (seconds) an incremental load reads back behind its watermark, as the operator's default
DEFAULT_LAG = 5.0


def _names(value: Any, argument: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value] if argument == "primary_key" else None
    if not isinstance(value, Sequence) or not all(isinstance(v, str) and v.strip() for v in value):
        raise StagingConfigError(f"{argument} must be a list of field names, got {value!r}")
    return tuple(v.strip() for v in value)


def _mapping(value: Any, argument: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise StagingConfigError(f"{argument} must be a mapping, got {type(value).__name__}")
    return dict(value)


@dataclass(frozen=True, eq=False)
class Bitrix24Entity:
    """One Bitrix24 list loaded into one table of the destination.

    :param method: the list method, e.g. ``crm.deal.list``, ``crm.item.list``, ``tasks.task.list``.
    :param table: the target table (a simple identifier; the schema comes from the destination).
    :param write_disposition: ``replace`` (atomic swap), ``append`` or ``merge`` (upsert on the
        primary key); default ``merge`` with a ``cursor_field``, else ``replace``.
    :param primary_key: row field(s) identifying a record; default the family's id (``ID``, ``id``
        for ``crm.item.list`` and tasks); an empty list: no key.
    :param cursor_field: the incremental cursor: ``DATE_MODIFY``, ``updatedTime``, ``CHANGED_DATE``.
    :param select: fields to return, e.g. ``["*", "UF_*"]``.
    :param filter: filter conditions; an incremental load adds its cursor bounds.
    :param request_params: further parameters, e.g. ``{"entityTypeId": 1032}``.
    :param lag: seconds an incremental load reads back behind its watermark.
    :param column_policy: columns the target lacks: ``add``, ``ignore`` or ``fail``.
    :param chunk_rows: rows per committed staging chunk (a resumed load reads at most one again).
    :param deletions: rows the portal no longer lists: ``soft`` (``_bitrix24_deleted_at`` set, cleared
        when the record comes back), ``hard`` (deleted) or None (kept; the default). Needs ``merge``.
    :param max_deletions: the most rows one run may remove: a count (int) or a fraction of the table
        (float, default 0.10); more fails the load with nothing changed.
    :param reconcile_every: seconds between key scans (None: every run).
    :param deletions_from: ``scan`` (a key-only export compared with the table) or ``events`` (offline
        delete events; OAuth application resources only).
    """

    method: str
    table: str
    write_disposition: str | None = None
    primary_key: Sequence[str] | str | None = None
    cursor_field: str | None = None
    select: Sequence[str] | None = None
    filter: Mapping[str, Any] | None = None
    request_params: Mapping[str, Any] | None = None
    lag: float = DEFAULT_LAG
    column_policy: str = "add"
    chunk_rows: int = 2500
    deletions: str | None = None
    max_deletions: int | float = 0.10
    reconcile_every: float | None = None
    deletions_from: str = "scan"
    description: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.method, str) or not self.method.strip():
            raise StagingConfigError(f"method must be a Bitrix24 list method name, got {self.method!r}")
        method = self.method.strip()
        required_fields_call(method, dict(self.request_params or {}))
        check_identifier(self.table, "table")
        key = (
            (family_of(method).response_id,)
            if self.primary_key is None
            else _names(self.primary_key, "primary_key")
        )
        cursor = self.cursor_field.strip() if isinstance(self.cursor_field, str) else self.cursor_field
        if cursor is not None and not (isinstance(cursor, str) and cursor):
            raise StagingConfigError(f"cursor_field must be a field name, got {self.cursor_field!r}")
        disposition = self.write_disposition or ("merge" if cursor else "replace")
        if disposition not in WRITE_DISPOSITIONS:
            raise StagingConfigError(
                f"write_disposition must be one of {', '.join(WRITE_DISPOSITIONS)}, got {disposition!r}"
            )
        if disposition == "merge" and not key:
            raise StagingConfigError(f"{self.table}: write_disposition 'merge' needs a primary_key")
        if cursor and disposition == "replace":
            raise StagingConfigError(
                f"{self.table}: cursor_field (an incremental load) needs write_disposition 'merge' or "
                "'append'; 'replace' would replace the table with the changed rows only"
            )
        if self.column_policy not in COLUMN_POLICIES:
            raise StagingConfigError(
                f"column_policy must be one of {', '.join(COLUMN_POLICIES)}, got {self.column_policy!r}"
            )
        if isinstance(self.lag, bool) or not isinstance(self.lag, (int, float)) or self.lag < 0:
            raise StagingConfigError(f"lag must be 0 or more seconds, got {self.lag!r}")
        if isinstance(self.chunk_rows, bool) or not isinstance(self.chunk_rows, int) or self.chunk_rows < 1:
            raise StagingConfigError(f"chunk_rows must be a positive integer, got {self.chunk_rows!r}")
        select = _names(self.select, "select")
        for name, value in (
            ("method", method),
            ("primary_key", key),
            ("cursor_field", cursor),
            ("write_disposition", disposition),
            ("select", select),
            ("filter", _mapping(self.filter, "filter")),
            ("request_params", _mapping(self.request_params, "request_params")),
            ("lag", float(self.lag)),
        ):
            object.__setattr__(self, name, value)
        self.to_spec()  # the engine's own checks (parameters it could not send...)
        try:
            self.to_json()
        except (TypeError, ValueError) as error:
            raise StagingConfigError(
                f"{self.table}: filter and request_params must be JSON: {error}"
            ) from None

    @property
    def key(self) -> tuple[str, ...]:
        """The primary key, normalized (never None after construction)."""
        return tuple(self.primary_key or ())

    def to_spec(self, use_data_interval: bool = False) -> LoadSpec:
        """The engine's spec of this entity (``use_data_interval``: bound the cursor to the run's
        partition window instead of the watermark)."""
        return LoadSpec(
            method=self.method,
            request_params=self.request_params,
            select=self.select,
            filter=self.filter,
            write_disposition=self.write_disposition,  # type: ignore[arg-type]
            primary_key=self.key,
            cursor_field=self.cursor_field,
            lag=timedelta(seconds=self.lag),
            use_data_interval=use_data_interval and self.cursor_field is not None,
            chunk_rows=self.chunk_rows,
            column_policy=self.column_policy,  # type: ignore[arg-type]
            deletions=self.deletions,  # type: ignore[arg-type]
            max_deletions=self.max_deletions,
            reconcile_every=None if self.reconcile_every is None else timedelta(seconds=self.reconcile_every),
            deletions_from=self.deletions_from,  # type: ignore[arg-type]
        )

    def to_json(self) -> str:
        """The entity as JSON (kept in the asset's metadata, read back by the load)."""
        return json.dumps(
            {
                "method": self.method,
                "table": self.table,
                "write_disposition": self.write_disposition,
                "primary_key": list(self.key),
                "cursor_field": self.cursor_field,
                "select": list(self.select) if self.select is not None else None,
                "filter": self.filter,
                "request_params": self.request_params,
                "lag": self.lag,
                "column_policy": self.column_policy,
                "chunk_rows": self.chunk_rows,
                "deletions": self.deletions,
                "max_deletions": self.max_deletions,
                "reconcile_every": self.reconcile_every,
                "deletions_from": self.deletions_from,
                "description": self.description,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Bitrix24Entity:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise StagingConfigError("a Bitrix24 entity is a JSON object")
        return cls(**data)
