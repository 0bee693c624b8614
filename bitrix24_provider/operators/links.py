"""The "Bitrix24 list" button of a task: from a GetAll or Call task to the entity's list in the portal.

Airflow 3 resolves an operator's extra links on the worker when the task ends (whatever its state)
and keeps the URL in XCom (key ``_link_Bitrix24ListLink``), where the UI reads it. The URL is built
from the portal URL of the task's connection (:func:`~bitrix24_provider.hooks.connection.portal_url_of`:
scheme, host, port and path prefix, never the ``/rest/<user>/<code>/`` part of a webhook) and the
method's entity, so it holds no secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook, BaseOperatorLink

from bitrix24_provider.hooks.connection import parse_connection, portal_url_of

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

__all__ = ["Bitrix24ListLink", "entity_list_url"]

#: the classic CRM entities (``crm.<entity>.*``) and their ``entityTypeId`` in ``crm.item.*``
_CRM_ENTITIES = {"lead": 1, "deal": 2, "contact": 3, "company": 4, "quote": 7}
_BY_TYPE_ID = {type_id: entity for entity, type_id in _CRM_ENTITIES.items()}


def _entity_type_id(call_params: Any, items: Any) -> int | None:
    """The ``entityTypeId`` of a ``crm.item.*`` task: from its parameters, or the one all items share."""
    sources = list(items) if isinstance(items, (list, tuple)) and items else [call_params]
    found = {str(s.get("entityTypeId", "")) if isinstance(s, Mapping) else "" for s in sources}
    value = found.pop() if len(found) == 1 else ""
    return int(value) if value.isdigit() else None


def portal_of(conn: Any) -> tuple[str, str | None]:
    """The portal URL and webhook user id of a connection; only the portal when it is incomplete."""
    try:
        config = parse_connection(
            conn.conn_id, conn.host, conn.login, conn.password, conn.schema, conn.port, conn.extra_dejson
        )
    except (ValueError, TypeError):
        return portal_url_of(conn.host or "", conn.schema, conn.port), None
    return config.portal_url, config.user_id


def entity_list_url(
    portal_url: str,
    method: str,
    call_params: Any = None,
    items: Any = None,
    user_id: str | None = None,
) -> str:
    """The portal page listing what ``method`` reads or writes; the portal's start page when no list
    page is known (``crm.item.*`` without one ``entityTypeId``, tasks without a user id...).

    ``crm.deal.*`` -> ``/crm/deal/list/`` (leads, contacts, companies, quotes alike);
    ``crm.item.*`` -> ``/crm/type/<entityTypeId>/list/category/0/`` (the classic entity's list for
    1, 2, 3, 4, 7); ``tasks.*`` -> ``/company/personal/user/<user_id>/tasks/``; ``user.*`` ->
    ``/company/``; other ``crm.*`` -> ``/crm/``.
    """
    base = portal_url.rstrip("/")
    parts = method.strip().lower().split(".")
    family = parts[0]
    entity = parts[1] if len(parts) > 2 else ""
    if family == "crm" and entity in _CRM_ENTITIES:
        return f"{base}/crm/{entity}/list/"
    if family == "crm" and entity == "item":
        type_id = _entity_type_id(call_params, items)
        if type_id is None:
            return f"{base}/crm/"
        if type_id in _BY_TYPE_ID:
            return f"{base}/crm/{_BY_TYPE_ID[type_id]}/list/"
        return f"{base}/crm/type/{type_id}/list/category/0/"
    if family == "crm":
        return f"{base}/crm/"
    if family == "tasks" and user_id and user_id.isdigit():
        return f"{base}/company/personal/user/{user_id}/tasks/"
    if family == "user":
        return f"{base}/company/"
    return f"{base}/"


class Bitrix24ListLink(BaseOperatorLink):
    """Links a ``Bitrix24GetAllOperator`` or ``Bitrix24CallOperator`` task to the list of its entity
    in the portal (see :func:`entity_list_url`). Empty when the task's connection names no portal."""

    name = "Bitrix24 list"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        method = getattr(operator, "method", None)
        conn_id = getattr(operator, "bitrix24_conn_id", None)
        if not isinstance(method, str) or not isinstance(conn_id, str):
            return ""
        try:
            portal, user = portal_of(BaseHook.get_connection(conn_id))
        except Exception:  # no such connection, or no portal in it: the task has failed on that already
            return ""
        return entity_list_url(
            portal, method, getattr(operator, "call_params", None), getattr(operator, "items", None), user
        )
