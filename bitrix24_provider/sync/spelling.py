"""How a list method's fields are spelled: in ``select``/``filter``/``order`` and in the returned rows
(tasks: ``CHANGED_DATE`` in requests, ``changedDate`` in rows), and which ``.fields`` method
describes a list method's rows."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..client.families import ListFamily


def fields_call(method: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """``(fields method, its parameters)`` describing the rows of list *method*, or None if unknown.

    ``crm.deal.list`` → ``crm.deal.fields``; ``crm.item.list`` → ``crm.item.fields`` with the same
    ``entityTypeId``; ``tasks.task.list`` → ``tasks.task.getfields``; ``user.get`` → ``user.fields``.
    """
    name = method.lower()
    if name == "crm.item.list":
        return "crm.item.fields", {"entityTypeId": params.get("entityTypeId")}
    if name == "tasks.task.list":
        return "tasks.task.getfields", {}
    if name == "user.get":
        return "user.fields", {}
    for suffix in (".list", ".getlist"):
        if name.endswith(suffix):
            return name[: -len(suffix)] + ".fields", {}
    return None


def upper_to_camel(name: str) -> str:
    """``CHANGED_DATE`` → ``changedDate``, ``UF_CRM_TASK`` → ``ufCrmTask`` (tasks.task.* rows)."""
    parts = [p for p in name.split("_") if p]
    if not parts:
        return name
    return parts[0].lower() + "".join(p[:1].upper() + p[1:].lower() for p in parts[1:])


def camel_to_upper(name: str) -> str:
    """``changedDate`` → ``CHANGED_DATE`` (the filter/order spelling of a tasks field)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


def response_name(family: ListFamily, field: str) -> str:
    """How a field named in ``select``/``filter``/``order`` is spelled in the returned rows."""
    if family.name == "task" and not any(c.islower() for c in field):
        return upper_to_camel(field)
    return field


def request_name(family: ListFamily, field: str) -> str:
    """How a field seen in the rows is spelled in ``select``/``filter``/``order``."""
    if family.name == "task" and any(c.islower() for c in field):
        return camel_to_upper(field)
    return field
