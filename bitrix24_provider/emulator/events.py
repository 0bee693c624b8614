"""Offline events (contract §7.3): ``event.bind``/``event.unbind`` with ``event_type=offline``, the
queue of the application's events, ``event.offline.get``/``.clear``/``.list`` and ``feature.get``.

The emulator serves one application (its OAuth client), so the queue is that application's. Only
application (OAuth) calls by an administrator may use these methods: a webhook gets 403
``WRONG_AUTH_TYPE``, a non-administrator (``EmulatorConfig.app_admin`` False) 403 ``ACCESS_DENIED``.

The queue keeps current state, not history: one row per ``MESSAGE_ID = md5(EVENT_NAME|json(data))``;
a repeat of the same event moves the row's ``TIMESTAMP_X``. ``event.offline.get`` returns the oldest
rows (``limit``, default 50); ``clear=1`` (default) deletes them as it returns them, ``clear=0``
reserves them under a new ``process_id`` (other readers skip them) until ``event.offline.clear``
with that ``process_id`` deletes them; asked again with the same ``process_id`` it returns the rows
still reserved. ``clear=0`` needs the ``rest_offline_extended`` feature (``EmulatorConfig.
offline_extended``). Deletes of CRM records queue ``ONCRM<ENTITY>DELETE`` (``ONCRMDYNAMICITEMDELETE``
with ``ENTITY_TYPE_ID`` for smart-process items) with ``{"FIELDS": {"ID": id}}``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .errors import RestError
from .registry import CallInfo, Handler, MethodResult, Params

#: the delete event of each classic CRM delete method
DELETE_EVENTS = {
    "crm.deal.delete": "ONCRMDEALDELETE",
    "crm.lead.delete": "ONCRMLEADDELETE",
    "crm.contact.delete": "ONCRMCONTACTDELETE",
    "crm.company.delete": "ONCRMCOMPANYDELETE",
}
#: crm.item.delete of these entityTypeIds fires the classic event (an assumption: not confirmed)
ITEM_TYPE_EVENTS = {
    1: "ONCRMLEADDELETE",
    2: "ONCRMDEALDELETE",
    3: "ONCRMCONTACTDELETE",
    4: "ONCRMCOMPANYDELETE",
}
DYNAMIC_DELETE = "ONCRMDYNAMICITEMDELETE"


@dataclass
class QueuedEvent:
    id: int
    timestamp: float
    name: str
    data: dict[str, Any]
    message_id: str
    process_id: str | None = None

    def render(self, utc_offset: str) -> dict[str, Any]:
        sign = -1 if utc_offset.startswith("-") else 1
        hours, minutes = (int(p) for p in utc_offset[1:].split(":"))
        zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
        moment = datetime.fromtimestamp(int(self.timestamp), zone).isoformat()
        return {
            "ID": str(self.id),
            "TIMESTAMP_X": moment,
            "EVENT_NAME": self.name,
            "EVENT_DATA": self.data,
            "EVENT_ADDITIONAL": {"user_id": "1"},
            "MESSAGE_ID": self.message_id,
            "PROCESS_ID": self.process_id,
        }


class OfflineEvents:
    """The application's bindings and queue; *admin* and *extended* read the portal's config."""

    def __init__(self, admin: Callable[[], bool], extended: Callable[[], bool]) -> None:
        self.admin = admin
        self.extended = extended
        self.bound: set[str] = set()
        self.queue: dict[str, QueuedEvent] = {}
        self._next_id = 1

    def emit(self, name: str, data: dict[str, Any], now: float) -> None:
        """Queue *name* with *data* when the application bound it offline."""
        if name not in self.bound:
            return
        message_id = hashlib.md5(f"{name}|{json.dumps(data, sort_keys=True)}".encode()).hexdigest()
        row = self.queue.get(message_id)
        if row is not None:
            row.timestamp = now
            return
        self.queue[message_id] = QueuedEvent(self._next_id, now, name, data, message_id)
        self._next_id += 1

    def emit_delete(self, method: str, params: Params, now: float) -> None:
        rid = _int(params.get("id") if "id" in params else params.get("ID"))
        if method == "crm.item.delete":
            type_id = _int(params.get("entityTypeId"))
            name = ITEM_TYPE_EVENTS.get(type_id)
            if name is None:
                self.emit(DYNAMIC_DELETE, {"FIELDS": {"ID": rid, "ENTITY_TYPE_ID": type_id}}, now)
                return
        else:
            name = DELETE_EVENTS[method]
        self.emit(name, {"FIELDS": {"ID": rid}}, now)

    # -- methods -------------------------------------------------------------------------------

    def _check(self, call: CallInfo) -> None:
        if call.auth_type != "oauth":
            raise RestError("WRONG_AUTH_TYPE", "Current authorization type is denied for this method", 403)
        if not self.admin():
            raise RestError(
                "ACCESS_DENIED", "Offline events binding requires administrator access rights", 403
            )

    def bind(self, params: Params, call: CallInfo) -> MethodResult:
        self._check(call)
        name = str(params.get("event") or "").upper()
        if not name:
            raise RestError("ERROR_EVENT_NOT_FOUND", "Event not found", 400)
        if str(params.get("event_type") or "online").lower() != "offline":
            raise RestError("ERROR_HANDLER_URL_MATCH", "Handler URL host doesn't match application url", 400)
        self.bound.add(name)
        return MethodResult(True)

    def unbind(self, params: Params, call: CallInfo) -> MethodResult:
        self._check(call)
        name = str(params.get("event") or "").upper()
        count = int(name in self.bound)
        self.bound.discard(name)
        return MethodResult({"count": count})

    def get(self, params: Params, call: CallInfo) -> MethodResult:
        self._check(call)
        clear = str(params.get("clear", "1")) not in ("0", "false", "N")
        if not clear and not self.extended():
            raise RestError("ACCESS_DENIED", "Feature rest_offline_extended is not available", 403)
        limit = _int(params.get("limit", 50))
        if limit <= 0:
            raise RestError("INVALID_ARG_VALUE", "limit must be greater than 0", 400)
        asked = params.get("process_id")
        rows = sorted(self.queue.values(), key=lambda r: (r.timestamp, r.id))
        wanted = params.get("filter")
        if isinstance(wanted, Mapping) and wanted.get("EVENT_NAME"):
            rows = [r for r in rows if r.name == str(wanted["EVENT_NAME"]).upper()]
        if asked:
            picked = [r for r in rows if r.process_id == asked][:limit]
        else:
            picked = [r for r in rows if r.process_id is None][:limit]
        process_id: str | None = None
        if clear:
            for row in picked:
                del self.queue[row.message_id]
        elif asked:
            process_id = str(asked)
        elif picked:
            process_id = secrets.token_hex(16)
            for row in picked:
                row.process_id = process_id
        events = [r.render(call.utc_offset) for r in picked]
        for event in events:
            event.pop("PROCESS_ID")
        return MethodResult({"process_id": process_id, "events": events})

    def clear(self, params: Params, call: CallInfo) -> MethodResult:
        self._check(call)
        process_id = params.get("process_id")
        if not process_id:
            raise RestError("INVALID_ARG_VALUE", "process_id is required", 400)
        ids = {str(i) for i in _list(params.get("id"))}
        messages = {str(m) for m in _list(params.get("message_id"))}
        for row in list(self.queue.values()):
            if row.process_id != process_id:
                continue
            if (ids or messages) and str(row.id) not in ids and row.message_id not in messages:
                continue
            del self.queue[row.message_id]
        return MethodResult(True)

    def list(self, params: Params, call: CallInfo) -> MethodResult:
        self._check(call)
        start = _int(params.get("start", 0))
        rows = sorted(self.queue.values(), key=lambda r: r.id)
        page = [r.render(call.utc_offset) for r in rows[start : start + 50]]
        more = start + 50 < len(rows)
        return MethodResult(page, next=start + 50 if more else None, total=len(rows))

    def feature(self, params: Params, call: CallInfo) -> MethodResult:
        code = str(params.get("CODE") or params.get("code") or "")
        enabled = code == "rest_offline_extended" and self.extended()
        return MethodResult({"value": "Y" if enabled else "N"})

    def handlers(self, existing: Mapping[str, Handler]) -> dict[str, Handler]:
        """The event methods, and the delete methods of *existing* wrapped to queue their events."""
        wrapped = {
            m: self._emitting(m, existing[m]) for m in (*DELETE_EVENTS, "crm.item.delete") if m in existing
        }
        return {
            **wrapped,
            "event.bind": self.bind,
            "event.unbind": self.unbind,
            "event.offline.get": self.get,
            "event.offline.clear": self.clear,
            "event.offline.list": self.list,
            "feature.get": self.feature,
        }

    def _emitting(self, method: str, handler: Handler) -> Handler:
        def delete(params: Params, call: CallInfo) -> MethodResult:
            result = handler(params, call)
            self.emit_delete(method, params, call.now)
            return result

        return delete


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RestError("INVALID_ARG_VALUE", f"not an integer: {value!r}", 400) from None


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return list(value.values())
    return list(value) if isinstance(value, (list, tuple)) else [value]
