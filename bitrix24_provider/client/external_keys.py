"""Adding records without duplicates: a caller-given external key per item, looked up before an
add whose outcome is unknown is sent again.

Classic CRM adds (``crm.deal.add``, ``crm.lead.add``, ``crm.contact.add``...) carry the key in
``fields[ORIGIN_ID]`` and are looked up with their list method and an ``@ORIGIN_ID`` filter;
``crm.item.add`` carries it in ``fields[xmlId]`` and is looked up with ``crm.item.list`` and the
item's ``entityTypeId``. A found record stands for the add: its result is the found id the way the
add returns it (classic: the id as an integer; ``crm.item.add``: ``{"item": {"id": id, <key>:
value}}``, not the whole item). When a key matches several records, the smallest id is taken.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import InvalidItem
from .families import CLASSIC, ITEM, family_of

__all__ = ["ExternalKey", "ListRows"]

#: ``get_all``: every row of a list method
ListRows = Callable[[str, Mapping[str, Any]], Awaitable[Any]]
#: keys per lookup: fewer than a page, so that one request finds them all
_LOOKUP_CHUNK = 49


@dataclass(frozen=True)
class ExternalKey:
    """The external key ``field`` of the items of the add method ``method``."""

    method: str
    field: str
    list_method: str
    id_field: str
    item_result: bool  # crm.item.add answers {"item": {...}}

    @classmethod
    def of(cls, method: str, field: str) -> ExternalKey:
        """The key for *method*; ``ValueError`` when *method* is not an add this module can look up."""
        if not isinstance(field, str) or not field.strip():
            raise ValueError(f"external_key must be a field name such as 'ORIGIN_ID', got {field!r}")
        name = method.strip().lower()
        list_method = name[: -len(".add")] + ".list" if name.endswith(".add") else ""
        family = family_of(list_method)
        if family not in (CLASSIC, ITEM):
            raise ValueError(
                f"external_key works with crm.item.add and the classic CRM adds (crm.deal.add, crm.lead.add, "
                f"crm.contact.add, crm.company.add...), not with {method!r}"
            )
        return cls(method, field.strip(), list_method, family.response_id, family is ITEM)

    def values(self, items: Sequence[Mapping[str, Any]]) -> list[str]:
        """Every item's key as text; :class:`InvalidItem` names the first item without a usable,
        unique one (checked before any request)."""
        values: list[str] = []
        seen: dict[tuple[Any, str], int] = {}
        for index, item in enumerate(items):
            fields = item.get("fields") if isinstance(item, Mapping) else None
            value = fields.get(self.field) if isinstance(fields, Mapping) else None
            if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
                raise InvalidItem(
                    index,
                    f"{self.method} with external_key={self.field!r} needs a non-empty fields[{self.field}]",
                )
            if self.item_result and self._scope(item) is None:
                raise InvalidItem(index, f"{self.method} needs the item's entityTypeId")
            scoped = (self._scope(item), str(value))
            if scoped in seen:
                raise InvalidItem(
                    index, f"fields[{self.field}] {str(value)!r} is also the key of item {seen[scoped]}"
                )
            seen[scoped] = index
            values.append(str(value))
        return values

    async def look_up(
        self, list_rows: ListRows, items: Mapping[int, Mapping[str, Any]], values: Sequence[str]
    ) -> dict[int, Any]:
        """``{index: result}`` for the items (``index → item``) whose key the portal holds."""
        found: dict[int, Any] = {}
        scopes: dict[Any, list[int]] = {}
        for index, item in items.items():
            scopes.setdefault(self._scope(item), []).append(index)
        for scope, indexes in scopes.items():
            for start in range(0, len(indexes), _LOOKUP_CHUNK):
                chunk = indexes[start : start + _LOOKUP_CHUNK]
                params: dict[str, Any] = {
                    "filter": {f"@{self.field}": [values[i] for i in chunk]},
                    "select": [self.id_field, self.field],
                }
                if self.item_result:
                    params["entityTypeId"] = scope
                ids: dict[str, int] = {}
                for row in await list_rows(self.list_method, params):
                    key, id_ = str(row.get(self.field)), int(row[self.id_field])
                    ids[key] = min(id_, ids.get(key, id_))
                found.update({i: self._result(ids[values[i]], values[i]) for i in chunk if values[i] in ids})
        return found

    def _scope(self, item: Mapping[str, Any]) -> Any:
        """Keys are unique per smart-process type for ``crm.item.add``, per method otherwise."""
        return item.get("entityTypeId") if self.item_result else None

    def _result(self, id_: int, value: str) -> Any:
        return {"item": {"id": id_, self.field: value}} if self.item_result else id_
