"""The id cursor of a keyset export (contract §3.3): which ids it covers, in which order, and the
parameters of each page and of the newest-ids probe."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import IncompleteResultError
from .families import ListFamily, family_of

_BOUNDS = (">", ">=", "<", "<=")


def _int(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise IncompleteResultError("?", detail=f"{what} is not an integer id: {value!r}") from None


@dataclass
class KeysetPlan:
    method: str
    family: ListFamily
    base: dict[str, Any]  # params without the id bounds
    filter: dict[str, Any]
    lo: int  # exclusive
    hi: int | None  # inclusive

    def params(self, cursor: int | str, hi: int | None) -> dict[str, Any]:
        key = self.family.request_id
        bounds: dict[str, Any] = {f">{key}": cursor}
        if hi is not None:
            bounds[f"<={key}"] = hi
        return {**self.base, "filter": {**self.filter, **bounds}}

    def newest_first(self, cursor: int, hi: int | None) -> dict[str, Any]:
        params = self.params(cursor, hi)
        params["order"] = {self.family.request_id: "DESC"}
        params["select"] = list(dict.fromkeys([self.family.request_id, *self.family.required_select]))
        return params


def keyset_plan(method: str, params: Mapping[str, Any]) -> KeysetPlan | None:
    """A keyset plan for these parameters, or None when only offset paging fits (custom order,
    a family without a known id cursor)."""
    family = family_of(method)
    if not family.keyset:
        return None
    key = family.request_id
    order = params.get("order")
    if order and {str(k): str(v).upper() for k, v in dict(order).items()} != {key: "ASC"}:
        return None
    filter_ = dict(params.get("filter") or {})
    lo, hi = 0, None
    for op in _BOUNDS:
        if f"{op}{key}" in filter_:
            value = _int(filter_.pop(f"{op}{key}"), f"filter {op}{key}")
            if op == ">":
                lo = max(lo, value)
            elif op == ">=":
                lo = max(lo, value - 1)
            elif op == "<":
                hi = value - 1 if hi is None else min(hi, value - 1)
            else:
                hi = value if hi is None else min(hi, value)
    base = {k: v for k, v in params.items() if k not in ("filter", "order", "start")}
    select = base.get("select")
    if select:
        names = [str(s) for s in select]
        if key not in names and response_id_missing(names, family):
            base["select"] = [*names, key]
    base["order"] = {key: "ASC"}
    base["start"] = -1
    return KeysetPlan(method, family, base, filter_, lo, hi)


def response_id_missing(select: list[str], family: ListFamily) -> bool:
    return "*" not in select and family.response_id not in select
