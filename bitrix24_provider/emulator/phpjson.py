"""Responses serialised the way PHP ``json_encode`` writes them (contract §5.3).

PHP has one array type, so ``json_encode`` decides per array: keys exactly ``0..n-1`` in order
(including the empty array) give a JSON list, anything else an object. Hence ``"result_error": []``
for an empty map and a JSON list for a batch whose command labels were ``0, 1, ...``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from .params import php_key

__all__ = ["dumps", "is_php_list", "php_float_value", "phpize"]

_SCALARS = frozenset({str, int, bool, type(None)})
_NUMERIC_START = frozenset("-0123456789")
_EXACT_FLOAT_INT = 2**53  # below this, an integral float prints as its integer in PHP


def is_php_list(keys: Iterable[str]) -> bool:
    """True when the keys are exactly ``"0".."n-1"`` in that order."""
    return all(key == str(index) for index, key in enumerate(keys))


def php_float_value(value: float) -> float | int:
    """PHP writes an integral float without ``.0`` and NaN/INF as ``0`` (partial output)."""
    if not math.isfinite(value):
        return 0
    if value.is_integer() and abs(value) < _EXACT_FLOAT_INT:
        return int(value)
    return value


def phpize(value: Any) -> Any:
    """Convert ``value`` recursively into what PHP ``json_encode`` would emit for it.

    Mappings with keys ``0..n-1`` (as ``str`` or ``int``) in order become lists - so an empty
    mapping becomes ``[]`` - other mappings stay dicts with string keys in their order (keys that
    PHP would merge, such as ``1`` and ``"1"``, merge with the later value winning). Lists and
    tuples stay lists; floats follow :func:`php_float_value`; other scalars are unchanged.
    """
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict or isinstance(value, Mapping):
        converted: dict[str, Any] = {}
        for key, item in value.items():
            # only keys that look numeric can change under PHP's key rules
            name = key if type(key) is str and key[:1] not in _NUMERIC_START else php_key(key)
            converted[name] = item if type(item) in _SCALARS else phpize(item)
        if is_php_list(converted):
            return list(converted.values())
        return converted
    if kind is list or isinstance(value, list | tuple):
        return [item if type(item) in _SCALARS else phpize(item) for item in value]
    if isinstance(value, float):
        return php_float_value(value)
    return value


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON of :func:`phpize` ``(value)``: non-ASCII is written as is, floats with
    full (shortest round-trip) precision. Unpaired surrogates are written as ``?``."""
    text = json.dumps(phpize(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8", "replace")
