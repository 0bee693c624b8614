"""Which methods write, and which failures leave a write's outcome unknown.

**The rule.** A method *reads* when the last segment of its name is a read verb (:data:`READ_VERBS`:
``crm.deal.list``, ``crm.item.get``, ``tasks.task.getFields``, ``user.search``...) or starts with
``get`` (``disk.folder.getchildren``, ``crm.deal.contact.items.get``...) or it is one of
the few known read-only methods without such a verb (:data:`READ_METHODS`: ``profile``,
``server.time``, ``user.current``...). Every other method *writes*, unknown ones included, and so do
the read-looking methods that change data (:data:`READ_LOOKING_WRITES`: ``event.offline.get``
empties the queue it reads unless asked not to). A ``batch`` writes when any of its commands does.

**Outcomes.** A write that failed *before* the portal could run it may be sent again: the portal
refused it (an error answer such as ``QUERY_LIMIT_EXCEEDED`` or ``OPERATION_TIME_LIMIT``), or the
connection was never made. After any other failure (a timeout or a dropped connection once the
request went out, a 5xx, an HTML or cut answer) the portal may have run it: sending it again may
write twice (:func:`may_have_run`).
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import BitrixAPIError, BitrixError, ServerError, TransportError

__all__ = ["READ_LOOKING_WRITES", "READ_METHODS", "READ_VERBS", "is_write", "may_have_run", "writes"]

#: Last name segments of methods that only read (compared case-insensitively).
READ_VERBS: frozenset[str] = frozenset({"list", "get", "getlist", "fields", "getfields", "search", "count"})

#: Read-only methods whose last segment is not a read verb.
READ_METHODS: frozenset[str] = frozenset(
    {
        "profile",
        "methods",
        "scope",
        "server.time",
        "app.info",
        "user.current",
        "user.admin",
        "user.access",
        "access.name",
        "crm.duplicate.findbycomm",
        "crm.enum.ownertype",
    }
)

#: Methods that look like reads but change data.
READ_LOOKING_WRITES: frozenset[str] = frozenset({"event.offline.get"})


def is_write(method: str) -> bool:
    """Whether *method* may change data on the portal (see the module docstring)."""
    name = method.strip().lower()
    if name in READ_LOOKING_WRITES:
        return True
    verb = name.rsplit(".", 1)[-1]
    return name not in READ_METHODS and verb not in READ_VERBS and not verb.startswith("get")


def writes(methods: Iterable[str]) -> bool:
    """Whether a request running *methods* (a direct call, or the commands of a ``batch``) writes."""
    return any(is_write(method) for method in methods)


def may_have_run(error: BitrixError) -> bool:
    """Whether the request that failed with *error* may have run on the portal."""
    if isinstance(error, TransportError):
        return error.cause != "connect"
    if isinstance(error, ServerError):
        return True
    return (
        isinstance(error, BitrixAPIError)
        and error.status is not None
        and error.status >= 500
        and error.code.upper() != "QUERY_LIMIT_EXCEEDED"
    )
