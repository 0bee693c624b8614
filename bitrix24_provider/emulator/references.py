"""``$result[cmd][path]...`` references inside batch commands (contract §5.5).

Resolved after the command's query is parsed, on every value and key, against the results of the
commands already run. A value that is exactly one reference takes the referenced value with its
type; a reference inside a longer string is substituted only when it resolves to a string. A missing
path stops the walk at the deepest value found.

What a CRM filter does with such a value (``filter[>ID]=$result[c0][49][ID]`` after a short ``c0``
resolves to the whole ``c0`` list) is unconfirmed on a live portal; ``short_page_reference`` picks
the reading (:data:`ShortPageReference`): ``no_rows``, the condition is kept and no row meets it, or
``from_lowest_id``, the condition is dropped, as an empty filter value would be, and the command
reads from the lowest id on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from .jsonrows import JsonRows, plain

ShortPageReference = Literal["no_rows", "from_lowest_id"]
SHORT_PAGE_READINGS: tuple[ShortPageReference, ...] = ("no_rows", "from_lowest_id")

_REFERENCE = re.compile(r"\$(result|next|total|time|error)((?:\[[^\[\]]*\])+)")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


#: a filter value whose reference stopped short, under the ``from_lowest_id`` reading: the key goes
_DROPPED = object()


def _walk(root: Any, path: str) -> tuple[Any, bool]:
    """The value at ``path`` (or the deepest one found) and whether the whole path was found."""
    value = root
    for segment in _SEGMENT.findall(path):
        if isinstance(value, Mapping) and segment in value:
            value = value[segment]
        elif isinstance(value, list | JsonRows) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return value, False
    return value, True


def _resolve_string(text: str, maps: Mapping[str, Any], drop_short: bool) -> Any:
    whole = _REFERENCE.fullmatch(text)
    if whole:
        value, found = _walk(maps[whole.group(1)], whole.group(2))
        return _DROPPED if drop_short and not found else plain(value)

    def substitute(match: re.Match[str]) -> str:
        value, _ = _walk(maps[match.group(1)], match.group(2))
        return value if isinstance(value, str) else match.group(0)

    return _REFERENCE.sub(substitute, text)


def resolve(params: Any, maps: Mapping[str, Any], reading: ShortPageReference = "no_rows") -> Any:
    """Return ``params`` with every reference resolved; ``maps`` holds the batch's result maps
    under the names ``result``, ``next``, ``total``, ``time`` and ``error``. With the
    ``from_lowest_id`` reading, a ``filter`` condition whose reference stopped short is left out."""
    return _resolve(params, maps, reading == "from_lowest_id", False)


def _resolve(params: Any, maps: Mapping[str, Any], drop: bool, in_filter: bool) -> Any:
    if isinstance(params, str):
        return _resolve_string(params, maps, drop and in_filter) if "$" in params else params
    if isinstance(params, dict):
        out: dict[Any, Any] = {}
        for key, value in params.items():
            new_key = _resolve_string(key, maps, False) if isinstance(key, str) and "$" in key else key
            filter_ = in_filter or (isinstance(key, str) and key.lower() == "filter")
            new_value = _resolve(value, maps, drop, filter_)
            if new_value is not _DROPPED:
                out[new_key if isinstance(new_key, str | int) else key] = new_value
        return out
    if isinstance(params, list):
        return [v for v in (_resolve(value, maps, drop, in_filter) for value in params) if v is not _DROPPED]
    return params
