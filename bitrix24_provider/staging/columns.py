"""Column types from a method's ``.fields`` description, and values converted to them.

Each column gets one of seven *kinds*; the dialects map kinds to SQL types, the frame builder to
pandas dtypes:

============  ==========================================================  ==================
kind          Bitrix24 field types                                        PostgreSQL / SQLite
============  ==========================================================  ==================
``integer``   integer, user, crm_company, crm_contact, crm_lead, ...      BIGINT / INTEGER
``double``    double, float                                               DOUBLE PRECISION / REAL
``boolean``   boolean, char (``Y``/``N``, ``1``/``0``)                    BOOLEAN / INTEGER 0-1
``datetime``  datetime (ISO 8601 with offset)                             TIMESTAMPTZ / TEXT (ISO)
``date``      date                                                        DATE / TEXT (YYYY-MM-DD)
``text``      string, text, crm_status, enumeration, crm_currency, ...   TEXT
``json``      any ``isMultiple`` field, arrays, objects, multifields      JSONB / TEXT (JSON)
============  ==========================================================  ==================

Custom fields (``UF_*`` / ``ufCrm*``) are described by ``.fields`` like the others. Columns the
description does not know are typed from their values (``json`` for lists and objects, ``integer``,
``double`` or ``boolean`` for JSON numbers and booleans, else ``text``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from .errors import ValueConversionError

Kind = Literal["integer", "double", "boolean", "datetime", "date", "text", "json"]
KINDS: tuple[Kind, ...] = ("integer", "double", "boolean", "datetime", "date", "text", "json")

_INTEGER_TYPES = frozenset(
    {
        "integer",
        "int",
        "user",
        "employee",
        "crm_company",
        "crm_contact",
        "crm_lead",
        "crm_deal",
        "crm_quote",
        "crm_category",
        "crm_invoice",
        "crm_smart_invoice",
        "crm_requisite",
        "group",
    }
)
_DOUBLE_TYPES = frozenset({"double", "float", "number"})
_BOOLEAN_TYPES = frozenset({"boolean", "char", "bool"})
_JSON_TYPES = frozenset({"array", "object", "crm_multifield", "file", "product_file", "product_property"})
_TRUE = frozenset({"y", "1", "true", "t", "yes"})
_FALSE = frozenset({"n", "0", "false", "f", "no"})
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DOTTED_DATE = re.compile(r"(\d{2})\.(\d{2})\.(\d{4})")


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind


def kind_of_type(field_type: object, multiple: bool = False) -> Kind:
    """The column kind for one ``.fields`` entry."""
    if multiple:
        return "json"
    name = str(field_type or "").lower()
    if name in _INTEGER_TYPES:
        return "integer"
    if name in _DOUBLE_TYPES:
        return "double"
    if name in _BOOLEAN_TYPES:
        return "boolean"
    if name == "datetime":
        return "datetime"
    if name == "date":
        return "date"
    if name in _JSON_TYPES:
        return "json"
    return "text"


def infer_kind(values: Iterable[Any]) -> Kind:
    """The kind of a column nobody described, from its values (``text`` when in doubt)."""
    seen: set[str] = set()
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool):
            seen.add("boolean")
        elif isinstance(value, int):
            seen.add("integer")
        elif isinstance(value, float):
            seen.add("double")
        elif isinstance(value, (list, dict)):
            return "json"
        else:
            return "text"
    if not seen:
        return "text"
    if seen == {"boolean"}:
        return "boolean"
    if seen == {"integer"}:
        return "integer"
    if seen <= {"integer", "double"}:
        return "double"
    return "text"


def columns_for(
    rows: Sequence[Mapping[str, Any]], kinds: Mapping[str, Kind], known: Iterable[str] = ()
) -> list[Column]:
    """Columns for the keys of *rows* that are not in *known*, in order of first appearance."""
    skip = set(known)
    names: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key not in skip:
                names.setdefault(str(key), None)
    return [Column(name, kinds.get(name) or infer_kind(row.get(name) for row in rows)) for name in names]


# -- values ------------------------------------------------------------------------------------


def _json(value: Any) -> str:
    # default=str: values read from a database (Decimal, datetime) in Bitrix24CallOperator items
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _empty(value: Any) -> bool:
    # PHP sends false or "" for an empty scalar, and [] for an empty list
    return value is None or value == "" or value is False or value == [] or value == {}


def convert(value: Any, kind: Kind, column: str) -> Any:
    """*value* as the canonical Python value of *kind*: int, float, bool, an ISO 8601 string
    (datetime, with its offset as sent), ``YYYY-MM-DD`` (date), str, or JSON text; None for empty."""
    if kind == "json":
        return None if value is None else _json(value)
    if kind == "text":
        if value is None:
            return None
        if isinstance(value, (list, dict, bool)):
            return _json(value)
        return str(value)
    if kind == "boolean":
        if value is None or value == "" or value == []:
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueConversionError(column, kind, value)
    if _empty(value):
        return None
    if isinstance(value, (list, dict)):
        raise ValueConversionError(column, kind, value)
    try:
        if kind == "integer":
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError
                return int(value)
            return int(str(value).strip())
        if kind == "double":
            number = float(str(value).strip())
            if not math.isfinite(number):
                raise ValueError
            return number
        if kind == "datetime":
            text = str(value).strip()
            datetime.fromisoformat(text.replace("Z", "+00:00"))
            return text
        if kind == "date":
            text = str(value).strip()
            if match := _DATE.match(text):
                return date(*map(int, match.groups())).isoformat()
            if match := _DOTTED_DATE.fullmatch(text):
                day, month, year = map(int, match.groups())
                return date(year, month, day).isoformat()
            raise ValueError
    except (TypeError, ValueError):
        raise ValueConversionError(column, kind, value) from None
    raise ValueConversionError(column, kind, value)  # pragma: no cover - an unknown kind


def convert_column(values: Sequence[Any], kind: Kind, column: str) -> list[Any]:
    """``[convert(v, kind, column) for v in values]``, with the common cases (``None`` and what
    Bitrix24 sends for the kind) answered inline: a chunk of a full export is ~50 columns by thousands
    of rows."""
    slow = convert
    if kind == "text":
        return [v if v.__class__ is str or v is None else slow(v, kind, column) for v in values]
    if kind == "integer":
        return [
            int(v)
            if (t := v.__class__) is str and v.isdecimal()
            else v
            if t is int or v is None
            else slow(v, kind, column)
            for v in values
        ]
    if kind == "boolean":
        known = _BOOLEANS.get
        return [
            b if v.__class__ is str and (b := known(v)) is not None else slow(v, kind, column) for v in values
        ]
    if kind == "datetime":
        return [v if v.__class__ is str and _iso(v) else slow(v, kind, column) for v in values]
    if kind == "double":
        return [number if (number := _finite(v)) is not None else slow(v, kind, column) for v in values]
    if kind == "date":
        # Bitrix24 sends dates as "2024-08-30T00:00:00+03:00" (classic CRM) or "2024-08-30"
        return [
            d
            if v.__class__ is str and _plain_date(d := v[:10])
            else None
            if v is None or v == ""
            else slow(v, kind, column)
            for v in values
        ]
    return [None if v is None else slow(v, kind, column) for v in values]


#: the spellings of booleans Bitrix24 sends, answered without parsing
_BOOLEANS: dict[str, bool] = {"Y": True, "N": False, "1": True, "0": False, "y": True, "n": False}


def _iso(text: str) -> bool:
    """Whether ``datetime.fromisoformat`` reads *text* as it is (else :func:`convert` decides)."""
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _plain_date(text: str) -> bool:
    """Whether *text* is exactly ``YYYY-MM-DD`` of a real date: :func:`convert` gives it back for any
    value that starts with it."""
    if len(text) != 10 or not text.isascii() or _DATE.fullmatch(text) is None:
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _finite(value: Any) -> float | None:
    """A finite number from a number or numeric text (else None: :func:`convert` decides)."""
    if value.__class__ is not str and value.__class__ is not float and value.__class__ is not int:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def convert_rows(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> list[tuple[Any, ...]]:
    """Rows as tuples in *columns* order, each value converted to its column's kind."""
    converted = [convert_column([row.get(c.name) for row in rows], c.kind, c.name) for c in columns]
    return list(zip(*converted, strict=True)) if converted else [() for _ in rows]
