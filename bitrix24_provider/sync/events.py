"""Deletions from offline events (``LoadSpec.deletions_from="events"``): no key scan, every run.

For OAuth application connections of an administrator (webhooks cannot use offline events). Each
run binds the method's delete event offline (``event.bind``, once; a repeat is harmless), then reads
the queue in **confirm-after-commit** mode where the portal offers it (``feature.get``
``rest_offline_extended``): ``event.offline.get`` with ``clear=0`` reserves the rows under a
``process_id``; the ids go into the merge's transaction (:class:`~..staging.deletions.
EventDeletions`), and only after the target committed does ``event.offline.clear`` delete them.

Each ``process_id`` is written to ``_bitrix24_sync_state.pending_events`` (committed) as soon as
it is received, and the list is emptied after the clear: a run that died anywhere in between
leaves them there, and the next run reads those reserved rows again (``process_id``) and applies
them once more, which is harmless (a deleted row stays deleted, a flagged one keeps its first time).

Without confirm mode the queue is read with ``clear=1``: the events are gone from the portal as they
are read, so a run that fails before its commit loses them (the log says so); the key scan
(``deletions_from="scan"``) then remains the way to catch them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..client.errors import BitrixError
from ..client.sync_client import Bitrix
from ..staging.deletions import EventDeletions
from ..staging.errors import StagingConfigError
from ..staging.sync_state import StateKey, SyncState
from .destinations import SqlDestination
from .spec import LoadSpec

__all__ = ["EventReader", "delete_event"]

log = logging.getLogger(__name__)

CLASSIC = {
    "crm.deal.list": "ONCRMDEALDELETE",
    "crm.lead.list": "ONCRMLEADDELETE",
    "crm.contact.list": "ONCRMCONTACTDELETE",
    "crm.company.list": "ONCRMCOMPANYDELETE",
}
ITEM_TYPES = {1: "ONCRMLEADDELETE", 2: "ONCRMDEALDELETE", 3: "ONCRMCONTACTDELETE", 4: "ONCRMCOMPANYDELETE"}
DYNAMIC = "ONCRMDYNAMICITEMDELETE"
#: ``event.offline.get`` calls per run at most (50 events each)
MAX_READS = 200


def delete_event(method: str, request_params: Mapping[str, Any] | None) -> tuple[str, int | None]:
    """The delete event of *method*'s records and, for smart-process items, their entityTypeId."""
    if method in CLASSIC:
        return CLASSIC[method], None
    if method == "crm.item.list":
        raw = (request_params or {}).get("entityTypeId")
        try:
            type_id = int(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise StagingConfigError(
                "deletions_from='events' with crm.item.list needs an entityTypeId"
            ) from None
        return ITEM_TYPES.get(type_id, DYNAMIC), None if type_id in ITEM_TYPES else type_id
    raise StagingConfigError(
        f"deletions_from='events': {method} has no delete event this provider reads; "
        "use deletions_from='scan'"
    )


class EventReader:
    """One run's reading of the delete events and their confirmation after the commit."""

    def __init__(self, client: Bitrix, spec: LoadSpec, destination: SqlDestination, state_key: StateKey):
        self.client = client
        self.spec = spec
        self.destination = destination
        self.state = SyncState(destination.database, destination.table.schema)
        self.state_key = state_key
        self.event, self.type_id = delete_event(spec.method, spec.request_params)
        self.process_ids: list[str] = []

    def read(self, started_at: str) -> EventDeletions:
        """Bind, read the queue (earlier unconfirmed reservations first), record the reservations."""
        assert self.spec.deletions is not None
        self._result("event.bind", {"event": self.event, "event_type": "offline"})
        confirm = self._confirm_mode()
        gone: set[int] = set()
        with self.destination.database.begin() as conn:
            earlier = self.state.pending_events(conn, self.state_key)
        for reserved in earlier:
            gone |= self._ids(self._get({"clear": 0, "process_id": reserved})[1])
        process_ids = list(earlier)
        for _ in range(MAX_READS):
            process_id, events = self._get(
                {"clear": 0 if confirm else 1, "filter": {"EVENT_NAME": self.event}}
            )
            gone |= self._ids(events)
            if process_id:  # recorded at once: a run dying now leaves no reservation unknown
                process_ids.append(process_id)
                self._record(process_ids)
            if not events:
                break
        if not confirm and gone:
            log.warning(
                "Deletions: this portal has no rest_offline_extended: %s delete events were removed from "
                "the queue as they were read; if this run fails before its commit they are lost (the key "
                "scan, deletions_from='scan', finds them)",
                len(gone),
            )
        self.process_ids = process_ids
        log.info("Deletions: %s records deleted according to %s events", len(gone), self.event)
        assert self.spec.primary_key
        return EventDeletions(
            self.spec.deletions,
            self.spec.primary_key[0],
            frozenset(gone),
            started_at,
            self.spec.max_deletions,
        )

    def confirm(self) -> None:
        """After the target committed: clear the reserved events, then forget their process ids."""
        for process_id in self.process_ids:
            self._result("event.offline.clear", {"process_id": process_id})
        self._record([])

    def _record(self, process_ids: list[str]) -> None:
        with self.destination.database.begin() as conn:
            self.state.set_pending_events(conn, self.state_key, process_ids)

    def _confirm_mode(self) -> bool:
        try:
            answer = self._result("feature.get", {"CODE": "rest_offline_extended"})
        except BitrixError:
            return False
        return isinstance(answer, Mapping) and answer.get("value") == "Y"

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        """The ``result`` of one direct call, as the portal sent it."""
        answer = self.client.request(method, params)
        return answer.get("result") if isinstance(answer, Mapping) else None

    def _get(self, params: dict[str, Any]) -> tuple[str | None, list[Any]]:
        answer = self._result("event.offline.get", params)
        if not isinstance(answer, Mapping):
            return None, []
        events = answer.get("events")
        process_id = answer.get("process_id")
        return (str(process_id) if process_id else None), (events if isinstance(events, list) else [])

    def _ids(self, events: list[Any]) -> set[int]:
        ids: set[int] = set()
        for event in events:
            if not isinstance(event, Mapping) or str(event.get("EVENT_NAME", "")).upper() != self.event:
                continue
            data = event.get("EVENT_DATA")
            fields = data.get("FIELDS") if isinstance(data, Mapping) else None
            if not isinstance(fields, Mapping) or fields.get("ID") is None:
                continue
            if self.type_id is not None and str(fields.get("ENTITY_TYPE_ID")) != str(self.type_id):
                continue
            ids.add(int(fields["ID"]))
        return ids
