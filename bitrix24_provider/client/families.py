"""How the known families of list methods page: the id field to order and filter by, the field that
carries the id in the response, and the wrapper key of the result (contract §3.3, §3.5, §3.6).

A family says how to page *fast* (keyset); whether a method pages at all is decided by its answer
(:mod:`.listing`), so a method of no known family is still read to its end, by offset."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ListFamily:
    name: str
    #: field name used in ``order`` and ``filter`` (``ID`` / ``id``)
    request_id: str
    #: field name carrying the id in each returned row
    response_id: str
    #: ``{"items": [...]}`` / ``{"tasks": [...]}``; None for a bare list
    wrapper: str | None
    #: False when ``start=-1`` plus an id cursor is not known to work: offset mode only
    keyset: bool = True
    #: fields every ``select`` must name (``catalog.product.list``: ``id`` and ``iblockId``)
    required_select: tuple[str, ...] = ()

    def reference(self, key: str, index: int = 49) -> str:
        """``$result[...]`` path to the id of row ``index`` of command ``key``."""
        inner = f"[{self.wrapper}]" if self.wrapper else ""
        return f"$result[{key}]{inner}[{index}][{self.response_id}]"


CLASSIC = ListFamily("classic", "ID", "ID", None)
ITEM = ListFamily("item", "id", "id", "items")
TASK = ListFamily("task", "ID", "id", "tasks")
#: ``catalog.product.list``: an engine method, ``{"products": [...]}``, ordered and filtered by ``id``
CATALOG = ListFamily("catalog", "id", "id", "products", required_select=("id", "iblockId"))
#: ``user.get`` orders with two scalars (``sort``/``order``) and has no documented ``start=-1`` shape
USER = ListFamily("user", "ID", "ID", None, keyset=False)
#: list methods whose ordering or id field is not known: offset paging
OTHER = ListFamily("other", "ID", "ID", None, keyset=False)

_KEYSET_CLASSIC = {
    "crm.deal.list",
    "crm.lead.list",
    "crm.contact.list",
    "crm.company.list",
    "crm.activity.list",
    "crm.quote.list",
    "crm.invoice.list",
    "crm.product.list",
    "crm.requisite.list",
}


def family_of(method: str) -> ListFamily:
    name = method.lower()
    if name == "crm.item.list":
        return ITEM
    if name == "tasks.task.list":
        return TASK
    if name == "catalog.product.list":
        return CATALOG
    if name == "user.get":
        return USER
    if name in _KEYSET_CLASSIC:
        return CLASSIC
    return OTHER
