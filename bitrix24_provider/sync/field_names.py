"""Field names checked against the method's ``.fields`` answer before anything is requested or written.

The portal ignores what it does not know: an unknown ``select`` name returns no column (a ``replace``
would then drop the target's columns) and an unknown filter key filters nothing (every row loads). So
every name a load sends is checked first: ``select``, ``filter`` keys without their operator prefix
(crm.item's nested ``"logic"`` sub-filters included), ``order`` keys (``sort`` of ``user.get``), in
``call_params`` as well as in the operator's own ``select``/``filter``, and ``cursor_field`` and
``primary_key``, which must also name what the rows carry. An unknown name raises
:class:`~.errors.UnknownFieldError` with the closest valid names.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from ..client.families import ITEM, USER, family_of
from ..staging.errors import UnknownFieldError
from .description import FieldsDescription
from .incremental import CursorField
from .spelling import request_name, response_name

#: filter operator prefixes (contract §3.4), longest first so ``!=%`` is not read as ``!``
FILTER_PREFIXES = (
    "!=%", "!%=", "!><", "!@", "!=", "!%", ">=", "<=", "=%", "%=", "><", "!", "=", ">", "<", "@", "%",
)  # fmt: skip


def split_filter_key(key: str) -> tuple[str, str]:
    """``">=DATE_MODIFY"`` → ``(">=", "DATE_MODIFY")``; a key without prefix → ``("", key)``."""
    for prefix in FILTER_PREFIXES:
        if key.startswith(prefix):
            return prefix, key[len(prefix) :]
    return "", key


def check_names(
    description: FieldsDescription,
    *,
    call_params: Mapping[str, Any] | None = None,
    select: Sequence[str] | None = None,
    filter: Mapping[str, Any] | None = None,
    cursor_field: str | None = None,
    primary_key: Iterable[str] = (),
) -> None:
    """Raise :class:`~.errors.UnknownFieldError` for the first name *description* does not know."""
    checker = _Checker(description)
    for key, value in (call_params or {}).items():
        use = str(key).lower()
        label = f"call_params[{str(key)!r}]"
        if use == "select":
            checker.select(value, label)
        elif use == "filter":
            checker.filter(value, f"{label} key")
        elif use == "order":
            checker.order(value, f"{label} key")
        elif use == "sort" and family_of(description.method) is USER and isinstance(value, str):
            checker.name(value, label)
    if select is not None:
        checker.select(select, "select")
    if filter is not None:
        checker.filter(filter, "filter key")
    if cursor_field:
        checker.cursor(cursor_field)
    for key in primary_key:
        checker.row(key, "primary_key")


class _Checker:
    def __init__(self, description: FieldsDescription) -> None:
        self.description = description
        self.nested = family_of(description.method) is ITEM  # crm.item: "logic" and numbered sub-filters

    def select(self, value: Any, label: str) -> None:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            return  # not a select: the portal answers that itself
        for name in value:
            if not self.description.is_mask(str(name)):
                self.name(str(name), label)

    def filter(self, value: Any, label: str) -> None:
        items: Iterable[tuple[Any, Any]]
        if isinstance(value, Mapping):
            items = value.items()
        elif self.nested and isinstance(value, list):
            items = enumerate(value)
        else:  # not a filter: the portal answers that itself
            return
        for raw, inner in items:
            key = str(raw)
            if self.nested and key.lower() == "logic":
                continue
            if self.nested and key.isdigit() and isinstance(inner, (Mapping, list)):
                self.filter(inner, label)
                continue
            _, name = split_filter_key(key)
            if not self.description.is_filter_only(name):
                self.name(name, label, given=key)

    def order(self, value: Any, label: str) -> None:
        if isinstance(value, Mapping):
            names: Iterable[Any] = value.keys()
        elif isinstance(value, list):
            names = value
        else:  # user.get: order is the direction of sort
            return
        for name in names:
            self.name(str(name), label)

    def name(self, name: str, label: str, given: str | None = None) -> None:
        if self.description.row_name(name) is None:
            raise UnknownFieldError(
                label, name, self.description.subject, _closest(name, self.description.names), given
            )

    def cursor(self, name: str) -> None:
        """The cursor goes into ``filter``/``order`` by its request name and is read from the rows
        by its response name: both must be the same described field."""
        method = self.description.method
        cursor = CursorField.for_method(method, name)
        if self.description.rows.get(cursor.request) != cursor.response:
            family = family_of(method)
            valid = [
                n
                for n, row in self.description.rows.items()
                if response_name(family, n) == row
                and self.description.rows.get(request_name(family, n)) == row
            ]
            raise UnknownFieldError("cursor_field", name, self.description.subject, _closest(name, valid))

    def row(self, name: str, label: str) -> None:
        rows = set(self.description.rows.values())
        if name not in rows:
            raise UnknownFieldError(
                label, name, f"the rows of {self.description.subject}", _closest(name, rows)
            )


def _closest(name: str, candidates: Collection[str]) -> list[str]:
    """Up to three valid names that look like *name* (compared in upper case)."""
    by_upper: dict[str, str] = {}
    for candidate in sorted(candidates):
        by_upper.setdefault(candidate.upper(), candidate)
    return [by_upper[m] for m in difflib.get_close_matches(name.upper(), list(by_upper), n=3)]
