"""Canonical field values: parsing what callers send and rendering what each method family returns.

Canonical kinds (see :attr:`.fields.Field.kind`): ``int``, ``float``, ``bool``, ``date`` (Unix
seconds; ``date`` fields hold UTC midnight), ``str``, ``multifield`` (dicts with ID/VALUE_TYPE/VALUE/
TYPE_ID); multiple fields hold lists. ``None`` is an empty value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Final

from .fieldspec import Field

#: Seeded data lies before this moment (2025-01-01T00:00:00Z); writes use the call's clock.
BASE_EPOCH: Final = 1735689600


class _Invalid:
    def __repr__(self) -> str:
        return "INVALID"


#: Returned by :func:`to_canonical` when a value cannot be converted.
INVALID: Final = _Invalid()

_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")
_INT = re.compile(r"\s*[+-]?\d+\s*")
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?"
)
_RU = re.compile(r"(\d{2})\.(\d{2})\.(\d{4})(?:\s+(\d{2}):(\d{2})(?::(\d{2}))?)?")


@lru_cache(maxsize=64)
def offset_seconds(offset: str) -> int:
    """``"+03:00"`` -> 10800."""
    match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", offset.strip())
    if not match:
        raise ValueError(f"bad UTC offset {offset!r}")
    sign = -1 if match.group(1) == "-" else 1
    return sign * (int(match.group(2)) * 3600 + int(match.group(3)) * 60)


@lru_cache(maxsize=64)
def _tz(offset: str) -> timezone:
    return timezone(timedelta(seconds=offset_seconds(offset)))


def format_dt(ts: int, offset: str) -> str:
    """ISO 8601 with the portal offset, 1-second resolution: ``2024-08-30T14:29:00+03:00``."""
    return datetime.fromtimestamp(int(ts), _tz(offset)).isoformat()


def parse_dt(raw: Any, offset: str, *, utc_date: bool = False) -> int | None:
    """Parse ISO 8601 (offset optional), ``YYYY-MM-DD`` or ``DD.MM.YYYY[ HH:MM:SS]`` into Unix seconds.

    Values without an offset are portal time; a bare date is midnight in the portal zone, or UTC
    midnight when ``utc_date`` (how ``date`` fields are stored). Returns None when unparsable.
    """
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    match = _ISO.fullmatch(text)
    if match:
        y, mo, d, hh, mi, ss, zone = match.groups()
    else:
        ru = _RU.fullmatch(text)
        if not ru:
            return None
        d, mo, y, hh, mi, ss = ru.groups()
        zone = None
    try:
        naive = datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0))
    except ValueError:
        return None
    if not 1900 <= naive.year <= 9000:  # keeps every stored moment renderable
        return None
    if zone:
        shift = 0 if zone == "Z" else offset_seconds(zone if ":" in zone else f"{zone[:3]}:{zone[3:]}")
    elif hh is None and utc_date:
        shift = 0
    else:
        shift = offset_seconds(offset)
    return int(naive.replace(tzinfo=timezone.utc).timestamp()) - shift


def php_int(raw: Any) -> int | None:
    """PHP-like ``(int)`` for ids: leading digits of a string, truncation of floats; None otherwise."""
    if isinstance(raw, bool):
        return int(raw)
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return int(raw) if raw == raw and abs(raw) < 2**63 else None
    if isinstance(raw, str):
        match = re.match(r"\s*([+-]?\d+)", raw)
        return int(match.group(1)) if match else 0
    return None


def scalar_value(f: Field, raw: Any, offset: str) -> Any:
    """One value (an element of a multiple field) in canonical form, None when empty, or INVALID."""
    kind = "str" if f.kind == "multifield" else f.kind
    if raw is None or (isinstance(raw, str) and raw == "" and kind != "str"):
        return None
    if isinstance(raw, (dict, list)):
        return INVALID
    if kind == "int":
        if isinstance(raw, bool):
            return int(raw)
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float):
            return int(raw) if raw.is_integer() else INVALID
        if isinstance(raw, str) and _INT.fullmatch(raw):
            return int(raw)
        if isinstance(raw, str) and _NUMBER.fullmatch(raw) and float(raw).is_integer():
            return int(float(raw))
        return INVALID
    if kind == "float":
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        if isinstance(raw, str) and _NUMBER.fullmatch(raw):
            return float(raw)
        return INVALID
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().upper()
        if text in ("Y", "1", "TRUE"):
            return True
        if text in ("N", "0", "FALSE"):
            return False
        return INVALID
    if kind == "date":
        parsed = parse_dt(raw, offset, utc_date=f.type == "date")
        return INVALID if parsed is None else parsed
    if isinstance(raw, bool):
        return "1" if raw else ""
    if isinstance(raw, float):
        return php_float(raw)
    return str(raw)


def php_number(f: Field, raw: Any) -> Any:
    """PHP's ``intval``/``floatval`` of a scalar (leading number, else 0), for lenient filters."""
    if f.kind not in ("int", "float") or not isinstance(raw, (str, int, float)):
        return INVALID
    match = re.match(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", str(raw))
    number = float(match.group(0)) if match else 0.0
    if not math.isfinite(number):
        return INVALID
    return int(number) if f.kind == "int" else number


def _multifield(raw: Any, type_id: str) -> Any:
    if isinstance(raw, dict):
        return {
            "ID": php_int(raw.get("ID")) or None,
            "VALUE_TYPE": str(raw.get("VALUE_TYPE") or "WORK"),
            "VALUE": str(raw.get("VALUE") or ""),
            "TYPE_ID": type_id,
        }
    if isinstance(raw, (str, int)):
        return {"ID": None, "VALUE_TYPE": "WORK", "VALUE": str(raw), "TYPE_ID": type_id}
    return INVALID


def as_list(raw: Any) -> list[Any]:
    """A list from a JSON list, a PHP-style ``{"0": .., "1": ..}`` map or a scalar."""
    if isinstance(raw, list):
        return raw
    if isinstance(raw, dict):
        return list(raw.values())
    return [raw]


def to_canonical(f: Field, raw: Any, offset: str) -> Any:
    """Convert a value sent by a caller into the field's canonical form, or :data:`INVALID`."""
    if f.multiple:
        if raw is None or raw == "":
            return []
        out = []
        for element in as_list(raw):
            value = (
                _multifield(element, f.code) if f.kind == "multifield" else scalar_value(f, element, offset)
            )
            if value is INVALID:
                return INVALID
            if value is not None:
                out.append(value)
        return out
    return scalar_value(f, raw, offset)


def php_float(value: float) -> str:
    """PHP's string form of a float: ``12`` for 12.0, ``12.5`` for 12.5."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _classic_scalar(f: Field, v: Any, offset: str) -> Any:
    if v is None:
        return "" if f.kind == "date" else None
    kind = f.kind
    if kind == "int":
        return str(v)
    if kind == "float":
        return php_float(v) if f.uf else f"{v:.2f}"
    if kind == "bool":
        if f.uf:
            return "1" if v else "0"
        return "Y" if v else "N"
    if kind == "date":
        return format_dt(v, offset)
    if kind == "multifield":
        return {
            "ID": str(v["ID"]),
            "VALUE_TYPE": v["VALUE_TYPE"],
            "VALUE": v["VALUE"],
            "TYPE_ID": v["TYPE_ID"],
        }
    return v


def render_classic(f: Field, v: Any, offset: str) -> Any:
    """Classic CRM: every scalar a string, ``null`` for empty links, ``""`` for empty dates."""
    if f.multiple:
        return [_classic_scalar(f, e, offset) for e in v or ()]
    return _classic_scalar(f, v, offset)


Renderer = Callable[[Any, str], Any]


@lru_cache(maxsize=4096)
def classic_renderer(f: Field) -> Renderer:
    """:func:`render_classic` specialised for one field (list pages render thousands of values)."""
    if f.multiple or f.uf or f.kind in ("multifield", "float"):
        return lambda v, offset: render_classic(f, v, offset)
    if f.kind == "int":
        return lambda v, offset: None if v is None else str(v)
    if f.kind == "date":
        return lambda v, offset: "" if v is None else format_dt(v, offset)
    if f.kind == "bool":
        return lambda v, offset: None if v is None else "Y" if v else "N"
    return lambda v, offset: v


_ZERO_WHEN_EMPTY = frozenset({"crm_company", "crm_contact"})


def _item_scalar(f: Field, v: Any, offset: str) -> Any:
    if v is None:
        return 0 if f.type in _ZERO_WHEN_EMPTY or f.code == "WEBFORM_ID" else None
    kind = f.kind
    if kind == "bool":
        if f.uf:
            return 1 if v else 0
        return "Y" if v else "N"
    if kind == "date":
        return format_dt(v, offset)
    if kind == "multifield":
        return {"id": v["ID"], "valueType": v["VALUE_TYPE"], "value": v["VALUE"], "typeId": v["TYPE_ID"]}
    return v


def render_item(f: Field, v: Any, offset: str) -> Any:
    """crm.item: typed values (ints, floats), ``"Y"``/``"N"`` flags, 0 for empty company/contact links."""
    if f.multiple:
        return [_item_scalar(f, e, offset) for e in v or ()]
    return _item_scalar(f, v, offset)


def _task_scalar(f: Field, v: Any, offset: str) -> Any:
    if v is None:
        return None
    kind = f.kind
    if kind == "bool":
        return "Y" if v else "N"
    if kind == "date":
        return format_dt(v, offset)
    if kind == "float":
        return php_float(v)
    return str(v) if kind == "int" else v


def render_task(f: Field, v: Any, offset: str) -> Any:
    """tasks.task.*: camelCase keys with string values."""
    if f.multiple:
        return [_task_scalar(f, e, offset) for e in v or ()]
    return _task_scalar(f, v, offset)


def render_user(f: Field, v: Any, offset: str) -> Any:
    """user.get: strings (``""`` when empty), ``ACTIVE`` boolean, ``UF_DEPARTMENT`` int list."""
    if f.multiple:
        return list(v or ())
    if f.type == "boolean":
        return bool(v)
    if v is None:
        return ""
    if f.kind == "bool":
        return "Y" if v else "N"
    if f.kind == "date":
        return format_dt(v, offset)
    return str(v)
