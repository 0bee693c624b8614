"""``$result[cmd][path]...`` references inside batch commands (contract §5.5).

Resolved after the command's query is parsed, on every value and key, against the results of the
commands already run. A value that is exactly one reference takes the referenced value with its
type; a reference inside a longer string is substituted only when it resolves to a string. A missing
path stops the walk at the deepest value found.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .jsonrows import JsonRows, plain

_REFERENCE = re.compile(r"\$(result|next|total|time|error)((?:\[[^\[\]]*\])+)")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def _walk(root: Any, path: str) -> Any:
    value = root
    for segment in _SEGMENT.findall(path):
        if isinstance(value, Mapping) and segment in value:
            value = value[segment]
        elif isinstance(value, list | JsonRows) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        else:
            break
    return value


def _resolve_string(text: str, maps: Mapping[str, Any]) -> Any:
    whole = _REFERENCE.fullmatch(text)
    if whole:
        return plain(_walk(maps[whole.group(1)], whole.group(2)))

    def substitute(match: re.Match[str]) -> str:
        value = _walk(maps[match.group(1)], match.group(2))
        return value if isinstance(value, str) else match.group(0)

    return _REFERENCE.sub(substitute, text)


def resolve(params: Any, maps: Mapping[str, Any]) -> Any:
    """Return ``params`` with every reference resolved; ``maps`` holds the batch's result maps
    under the names ``result``, ``next``, ``total``, ``time`` and ``error``."""
    if isinstance(params, str):
        return _resolve_string(params, maps) if "$" in params else params
    if isinstance(params, dict):
        out: dict[Any, Any] = {}
        for key, value in params.items():
            new_key = _resolve_string(key, maps) if isinstance(key, str) and "$" in key else key
            out[new_key if isinstance(new_key, str | int) else key] = resolve(value, maps)
        return out
    if isinstance(params, list):
        return [resolve(value, maps) for value in params]
    return params
