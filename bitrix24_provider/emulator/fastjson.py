""":func:`.phpjson.dumps` again, byte for byte, at orjson's speed.

orjson writes strings, ints, booleans and null exactly as ``json.dumps(..., ensure_ascii=False,
separators=(",", ":"))`` does (same escapes, non-ASCII as is) but floats differently (``1e-05`` is
``0.00001`` there), so the PHP conversion of :func:`.phpjson.phpize` is repeated here with one change:
a float that stays a float becomes an :class:`orjson.Fragment` of its ``float.__repr__``, the text
``json.dumps`` writes. Whatever orjson refuses (unpaired surrogates, ints beyond 64 bits, nesting
deeper than 255) falls back to :func:`.phpjson.dumps`, whose answer is the reference.

List pages are the bulk of every response; they arrive here as :class:`.jsonrows.PhpSafe` rows,
handed to orjson without a walk, or already written (:class:`.jsonrows.JsonRows`), copied as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from . import phpjson
from .jsonrows import JsonRows, PhpSafe, plain
from .params import php_key

__all__ = ["dumps"]

_SCALARS = frozenset({str, int, bool, type(None)})
_NUMERIC_START = frozenset("-0123456789")


def _float(value: float) -> Any:
    converted = phpjson.php_float_value(value)
    if type(converted) is int:
        return converted
    return orjson.Fragment(float.__repr__(value).encode())


def _prepare(value: Any) -> Any:
    """:func:`.phpjson.phpize`, with floats and :class:`.jsonrows.JsonRows` pre-written."""
    kind = type(value)
    if kind in _SCALARS or kind is PhpSafe:
        return value
    if kind is JsonRows:
        return orjson.Fragment(value.json)
    if kind is dict or isinstance(value, Mapping):
        converted: dict[str, Any] = {}
        for key, item in value.items():
            name = key if type(key) is str and key[:1] not in _NUMERIC_START else php_key(key)
            converted[name] = item if type(item) in _SCALARS else _prepare(item)
        if phpjson.is_php_list(converted):
            return list(converted.values())
        return converted
    if kind is list or isinstance(value, list | tuple):
        return [item if type(item) in _SCALARS else _prepare(item) for item in value]
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str | int):  # subclasses: json and orjson write them like the base type
        return value
    raise TypeError(f"not JSON serialisable: {kind.__name__}")  # json.dumps refuses it too


def dumps(value: Any) -> bytes:
    """Exactly :func:`.phpjson.dumps` ``(value)``."""
    try:
        return orjson.dumps(_prepare(value))
    except TypeError:  # orjson.JSONEncodeError included
        return phpjson.dumps(plain(value))
