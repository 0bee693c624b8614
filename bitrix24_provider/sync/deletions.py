"""Deleted records: the key scan that tells which rows of a ``merge`` target the portal no longer lists.

Bitrix24 list methods simply stop returning a deleted record, and REST cannot list the recycle bin.
With ``LoadSpec.deletions`` a load reconciles: a key-only keyset export (``select`` = the primary
key, the spec's ``filter`` without the cursor bounds, the client's parallel chains and completeness
checks: an :class:`~bitrix24_provider.client.errors.IncompleteResultError` ends the run, nothing is
changed) gives every listed key; the SQL destination compares them with the target's keys in the
transaction that merges the run's rows and advances the watermark (:mod:`..staging.deletions`).

Records listed again after a deletion (restored from the recycle bin) keep their id and may keep
their old modification time, so the incremental export would not bring them back: listed keys the
target lacks are read in full (``@ID`` filters of up to 500 ids, which the client reads by id in
batches) into the same staging table before it is published (:class:`RefetchingSink`).

``reconcile_every`` skips the scan while the last reconciliation (stored in ``_bitrix24_sync_state``
with the portal time it began) is recent enough.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from ..client.families import family_of
from ..client.listing import keyset_plan
from ..client.sync_client import Bitrix
from ..staging.deletions import Reconciliation, target_keys
from ..staging.errors import StagingConfigError
from ..staging.sink import Finished, Progress, Row
from ..staging.sql_sink import SqlSink
from ..staging.sync_state import StateKey, SyncState
from ..staging.watermark import parse_time
from .destinations import SqlDestination
from .spec import LoadSpec
from .spelling import request_name

__all__ = ["RefetchingSink", "key_scan_params", "plan_reconciliation", "scan_keys"]

log = logging.getLogger(__name__)

#: ids per ``@ID`` filter when reading records the target lacks (ten list pages, one batch)
REFETCH_IDS = 500


def key_scan_params(spec: LoadSpec) -> dict[str, Any]:
    """The key-only export's parameters: the spec's (``filter`` included, no cursor bounds) with
    ``select`` = the primary key and no ``order`` (the keyset export orders by id itself)."""
    params = spec.params
    params.pop("order", None)
    params["select"] = [request_name(family_of(spec.method), spec.primary_key[0])]
    if keyset_plan(spec.method, params) is None:
        raise StagingConfigError(
            f"deletions: {spec.method} with these parameters is not read by id, so a complete list of "
            "its keys cannot be proven; reconciliation needs a method the client pages by id"
        )
    return params


def scan_keys(client: Bitrix, spec: LoadSpec) -> frozenset[int]:
    """Every key the portal lists for *spec*; complete, or the client's typed error."""
    params = key_scan_params(spec)
    field = family_of(spec.method).response_id
    keys: set[int] = set()
    for page in client.iter_all(spec.method, params):
        for row in page:
            value = row.get(field)
            if value is None:
                raise StagingConfigError(f"deletions: a row of the key scan has no {field!r}")
            keys.add(int(value))
    return frozenset(keys)


def plan_reconciliation(
    spec: LoadSpec, client: Bitrix, destination: SqlDestination, state_key: StateKey, started_at: str
) -> Reconciliation | None:
    """The reconciliation this run applies (after the key scan), or None: no ``deletions``, or the
    last reconciliation began less than ``reconcile_every`` before *started_at*."""
    if spec.deletions is None:
        return None
    if spec.reconcile_every is not None:
        last = _last_reconciled(destination, state_key)
        now = parse_time(started_at)
        if last is not None and now is not None and now - last < spec.reconcile_every:
            log.info(
                "Deletions: last reconciled at %s, within reconcile_every (%s); no key scan this run",
                last.isoformat(),
                _describe(spec.reconcile_every),
            )
            return None
    keys = scan_keys(client, spec)
    log.info("Deletions: the portal lists %s keys of %s", len(keys), spec.method)
    return Reconciliation(spec.deletions, spec.primary_key[0], keys, started_at, spec.max_deletions)


def _last_reconciled(destination: SqlDestination, state_key: StateKey) -> Any:
    state = SyncState(destination.database, destination.table.schema)
    with destination.database.begin() as conn:
        row = state.read(conn, state_key)
    return None if row is None else parse_time(row.reconciled_at)


def _describe(every: timedelta) -> str:
    return f"{every.total_seconds():.0f} s"


class RefetchingSink:
    """A :class:`SqlSink` that, before publishing, reads in full the listed records the target and
    the export lack (records restored with their old modification time)."""

    resumable = True

    def __init__(
        self, inner: SqlSink, client: Bitrix, spec: LoadSpec, params: dict[str, Any], listed: frozenset[int]
    ) -> None:
        self.inner = inner
        self.label = inner.label
        self.client = client
        self.spec = spec
        self.params = params
        self.listed = listed
        self.field = family_of(spec.method).response_id
        self.written: set[int] = set()
        self.refetched = 0

    def write(self, rows: Sequence[Row]) -> None:
        self.written.update(int(r[self.field]) for r in rows if r.get(self.field) is not None)
        self.inner.write(rows)

    def finish(self, progress: Progress) -> Finished:
        have = target_keys(self.inner.db, self.inner.target, self.inner.key[0])
        missing = sorted(self.listed - have - self.written)
        if missing:
            log.info("Deletions: reading %s listed records the target lacks (restored)", len(missing))
        request = request_name(family_of(self.spec.method), self.spec.primary_key[0])
        for start in range(0, len(missing), REFETCH_IDS):
            ids = missing[start : start + REFETCH_IDS]
            params = dict(self.params)
            params.pop("order", None)
            params["filter"] = {**dict(params.get("filter") or {}), f"@{request}": ids}
            rows = [row for page in self.client.iter_all(self.spec.method, params) for row in page]
            self.refetched += len(rows)
            if rows:
                self.inner.write(rows)
        return self.inner.finish(progress)

    def abort(self, keep: bool) -> None:
        self.inner.abort(keep)
