"""Filter, order and paging of list methods (contract §3.1-§3.4).

The dominant query, ``order={ID: ASC}, filter={">ID": n}, start=-1``, never scans: ID conditions
become a slice of the sorted id array found with bisect, so a page costs O(log n + 50). Other
conditions are evaluated row by row over that slice (stopping after 50 matches when no total is
wanted) on cached field columns; ordering by another field sorts the matches.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import RestError
from .fields import Field, Schema
from .values import INVALID, as_list, php_float, php_number, scalar_value

PAGE = 50
#: Above this many rows a query that stops early reads values row by row instead of building a column.
_COLUMN_THRESHOLD = 50_000

Resolver = Callable[[str], "Field | None"]
Order = list[tuple[Field, bool]]  # (field, descending)

_PREFIXES = (
    ("!=%", "!like="), ("!%=", "!like="), ("!@", "!in"), ("!=", "!eq"), ("!%", "!like"),
    (">=", "ge"), ("<=", "le"), ("=%", "like="), ("%=", "like="),
    ("!", "!eq"), ("=", "eq"), (">", "gt"), ("<", "lt"), ("@", "in"), ("%", "like"),
)  # fmt: skip


class Source(Protocol):
    """What a query reads: sorted ids and field values (a store table or a static list)."""

    @property
    def ids(self) -> Sequence[int]: ...

    def value(self, rid: int, code: str) -> Any: ...

    def values(self, rid: int, codes: Sequence[str]) -> list[Any]: ...

    def column(self, code: str) -> list[Any]: ...

    def cached(self, code: str) -> bool: ...


@dataclass
class Cond:
    field: Field
    op: str  # eq in gt ge lt le like like=
    negate: bool = False
    values: tuple[Any, ...] = ()
    pattern: re.Pattern[str] | None = None
    empty: bool = False  # compare with an empty value: IS NULL / ''
    never: bool = False  # unusable value: the positive condition matches nothing


@dataclass
class Filter:
    conds: list[Cond] = field(default_factory=list)
    children: list[Filter] = field(default_factory=list)
    any_of: bool = False  # "logic": "OR"


@dataclass
class Page:
    ids: list[int]
    total: int | None  # None when not counted (start=-1)
    skipped: int = 0
    counted: int = 0


def split_key(key: str) -> tuple[str, str]:
    """``">=DATE_MODIFY"`` -> ``("ge", "DATE_MODIFY")``; negations are ``!``-prefixed ops."""
    for prefix, op in _PREFIXES:
        if key.startswith(prefix):
            return op, key[len(prefix) :]
    return "eq", key


def resolver(schema: Schema, family: str) -> Resolver:
    """How a family names fields in filter/order/select: classic and user UPPER codes, crm.item
    camelCase (its ``upperName`` and the classic code too), tasks UPPER codes or camelCase."""
    code, camel = schema.by_code, schema.by_camel
    if family == "item":
        upper = {snake_upper(f.camel): f for f in schema.fields if f.camel}
        return lambda n: camel.get(n) or code.get(n) or upper.get(n)
    if family == "task":
        return lambda n: code.get(n.upper()) or camel.get(n)
    return lambda n: code.get(n) or code.get(n.upper())


def snake_upper(name: str) -> str:
    """``updatedTime`` -> ``UPDATED_TIME`` (crm.item ``upperName``)."""
    if name.startswith("ufCrm"):
        rest = name[len("ufCrm") :]
        return "UF_CRM" + ("_" if not rest.startswith("_") else "") + rest.upper()
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).upper()


def _invalid_value(name: str) -> RestError:
    return RestError("INVALID_ARG_VALUE", f"Invalid filter: field '{name}' has invalid value")


def _norm(f: Field) -> Callable[[Any], Any]:
    if f.kind == "multifield":
        return lambda e: str(e["VALUE"]).casefold() if isinstance(e, dict) else str(e).casefold()
    if f.kind == "str":
        return lambda e: e.casefold() if isinstance(e, str) else str(e).casefold()
    return lambda e: e


def _text(e: Any) -> str:
    if isinstance(e, dict):
        e = e.get("VALUE", "")
    if isinstance(e, bool):
        return "y" if e else "n"
    if isinstance(e, float):
        return php_float(e)
    return str(e).casefold()


def _like(op: str, value: Any) -> re.Pattern[str]:
    alternatives = []
    for item in as_list(value):
        text = "" if item is None else item.casefold() if isinstance(item, str) else _text(item)
        if op == "like":
            alternatives.append(re.escape(text))
        else:  # SQL LIKE pattern: % any run, _ one character
            alternatives.append(
                "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in text)
            )
    body = "|".join(f"(?:{a})" for a in alternatives) or "(?!)"
    return re.compile(body if op == "like" else f"(?:{body})\\Z", re.DOTALL)


def make_cond(f: Field, op: str, value: Any, name: str, offset: str, strict: bool) -> Cond:
    negate = op.startswith("!")
    op = op.lstrip("!")
    norm = _norm(f)
    if op in ("like", "like="):
        return Cond(f, op, negate, pattern=_like(op, value))
    if isinstance(value, (list, dict)) and op in ("eq", "in"):
        op = "in"
    if op == "in":
        values = []
        for item in as_list(value):
            v = scalar_value(f, item, offset)
            if v is INVALID:
                if strict:
                    raise _invalid_value(name)
                continue
            values.append(None if v is None else norm(v))
        return Cond(f, "in", negate, values=tuple(values))
    if value is None or value == "" or (value is False and f.kind != "bool"):
        return Cond(f, op, negate, empty=op == "eq", never=op != "eq")
    v = scalar_value(f, value, offset)
    if v is INVALID:
        if strict:
            raise _invalid_value(name)
        v = php_number(f, value)  # classic CRM casts numbers like PHP: ">ID": "abc" is "> 0"
        if v is INVALID:
            return Cond(f, op, negate, never=True)
    return Cond(f, op, negate, values=(norm(v),))


def parse_filter(
    raw: Any, resolve: Resolver, offset: str, *, strict: bool = False, nested: bool = False
) -> Filter:
    """Parse a filter map. ``strict`` (crm.item) rejects unknown fields and bad values with
    ``INVALID_ARG_VALUE``; otherwise they are ignored / match nothing, like classic CRM.
    ``nested`` allows numbered sub-filters with ``"logic": "OR"``."""
    node = Filter()
    if not isinstance(raw, (dict, list)):
        return node
    for key, value in raw.items() if isinstance(raw, dict) else enumerate(raw):
        key = str(key)
        if nested and key.lower() == "logic":
            node.any_of = str(value).upper() == "OR"
            continue
        if nested and key.isdigit() and isinstance(value, (dict, list)):
            node.children.append(parse_filter(value, resolve, offset, strict=strict, nested=True))
            continue
        op, name = split_key(key)
        f = resolve(name)
        if f is None:
            if strict:
                raise RestError(
                    "INVALID_ARG_VALUE", f"Invalid filter: field '{name}' is not allowed in filter"
                )
            continue
        node.conds.append(make_cond(f, op, value, name, offset, strict))
    return node


def parse_order(
    raw: Any,
    resolve: Resolver,
    *,
    strict: bool = False,
    on_unknown: Callable[[str], RestError] | None = None,
) -> Order:
    """``{"FIELD": "ASC"|"DESC"}`` (direction case-insensitive; a list means ascending fields)."""
    entries = (
        raw.items() if isinstance(raw, dict) else ((v, "ASC") for v in raw) if isinstance(raw, list) else ()
    )
    order: Order = []
    for name, direction in entries:
        name = str(name)
        d = str(direction).strip().upper() if isinstance(direction, (str, int, float)) else ""
        f = resolve(name)
        if f is None:
            if strict:
                raise RestError("INVALID_ARG_VALUE", f"Invalid order: field '{name}' is not allowed in order")
            if on_unknown:
                raise on_unknown(name)
            continue
        if d not in ("ASC", "DESC"):
            if strict:
                got = f"But got '{direction}' for field '{name}'"
                raise RestError(
                    "INVALID_ARG_VALUE", f"Invalid order: allowed sort directions are ASC, DESC. {got}"
                )
            d = "ASC"
        order.append((f, d == "DESC"))
    return order


def _matcher(c: Cond) -> Callable[[Any], bool]:
    if c.never:
        return (lambda x: True) if c.negate else (lambda x: False)
    if c.empty:
        base: Callable[[Any], bool] = lambda x: x is None or x == "" or x == []  # noqa: E731
    else:
        norm, op = _norm(c.field), c.op
        v = c.values[0] if c.values else None
        pred: Callable[[Any], bool]
        if op == "eq":
            pred = lambda e: e == v  # noqa: E731
        elif op == "in":
            members = set(c.values)
            pred = lambda e: e in members  # noqa: E731
        elif op in ("like", "like="):
            assert c.pattern is not None
            find = c.pattern.search if op == "like" else c.pattern.match
            return _negated(c, lambda x: x is not None and _any(x, lambda e: find(_text(e)) is not None))
        else:
            pred = {
                "gt": lambda e: e > v,
                "ge": lambda e: e >= v,
                "lt": lambda e: e < v,
                "le": lambda e: e <= v,
            }[op]
        if c.field.multiple or c.field.kind == "multifield":
            in_empty = op == "in" and None in c.values
            base = lambda x: _any(x, lambda e: pred(norm(e))) or (in_empty and not x)  # noqa: E731
        elif op == "in" and None in c.values:
            base = lambda x: x is None or x == "" or pred(norm(x))  # noqa: E731
        else:
            base = lambda x: x is not None and pred(norm(x))  # noqa: E731
    return _negated(c, base)


def _any(x: Any, pred: Callable[[Any], bool]) -> bool:
    if isinstance(x, list):
        return any(pred(e) for e in x if e is not None)
    return pred(x)


def _negated(c: Cond, base: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return (lambda x: not base(x)) if c.negate else base


def _accessor(src: Source, code: str, scan_all: bool) -> Callable[[int], Any]:
    """Value by position in ``src.ids``: from the cached column, or row by row for big tables
    when the query may stop early."""
    ids = src.ids
    if scan_all or src.cached(code) or len(ids) <= _COLUMN_THRESHOLD:
        return src.column(code).__getitem__
    value = src.value
    return lambda i: value(ids[i], code)


def compile_filter(node: Filter, src: Source, *, scan_all: bool) -> Callable[[int], bool] | None:
    """A predicate over positions in ``src.ids``; None when everything matches."""
    preds: list[Callable[[int], bool]] = []
    for c in node.conds:
        get, match = _accessor(src, c.field.code, scan_all), _matcher(c)
        preds.append(lambda i, get=get, match=match: match(get(i)))  # type: ignore[misc]
    for child in node.children:
        p = compile_filter(child, src, scan_all=scan_all)
        if p is None:
            if node.any_of:
                return None
            continue
        preds.append(p)
    if not preds:
        return None
    if len(preds) == 1:
        return preds[0]
    if node.any_of:
        return lambda i: any(p(i) for p in preds)
    if len(preds) == 2:
        first, second = preds
        return lambda i: first(i) and second(i)
    return lambda i: all(p(i) for p in preds)


def _id_range(node: Filter) -> tuple[int | None, int | None, set[int] | None, Filter]:
    """Pull ID conditions out of a top-level AND filter: (min id, max id, id set, the rest)."""
    if node.any_of:
        return None, None, None, node
    lo: int | None = None
    hi: int | None = None
    members: set[int] | None = None
    rest = Filter(children=node.children)
    for c in node.conds:
        usable = (
            c.field.code == "ID" and not (c.negate or c.never or c.empty) and c.op not in ("like", "like=")
        )
        if not usable or any(not isinstance(v, int) for v in c.values):
            rest.conds.append(c)
            continue
        v = c.values[0] if c.values else 0
        if c.op == "in":
            members = set(c.values) if members is None else members & set(c.values)
            continue
        low, high = {
            "eq": (v, v),
            "gt": (v + 1, None),
            "ge": (v, None),
            "lt": (None, v - 1),
            "le": (None, v),
        }[c.op]
        if low is not None:
            lo = low if lo is None else max(lo, low)
        if high is not None:
            hi = high if hi is None else min(hi, high)
    return lo, hi, members, rest


def _sort_key(src: Source, f: Field) -> Callable[[int], Any]:
    col, norm = src.column(f.code), _norm(f)

    def key(i: int) -> Any:
        v = col[i]
        if isinstance(v, list):
            v = v[0] if v else None
        return (0, 0) if v is None else (1, norm(v))

    return key


def run_query(src: Source, node: Filter, order: Order, start: int, *, limit: int = PAGE) -> Page:
    """One page of ids. ``start < 0`` returns the first page without counting; otherwise ``start``
    is floored to a multiple of ``limit`` and the matching rows are counted for ``total``."""
    ids = src.ids
    offset = start // limit * limit if start >= 0 else -1
    if _impossible(node):  # e.g. ">ID" with an empty or unresolved value: no row can match
        return _page(ids, [], 0 if offset >= 0 else None, offset)
    lo, hi, members, rest = _id_range(node)
    lo_i = 0 if lo is None else bisect_left(ids, lo)
    hi_i = len(ids) if hi is None else bisect_right(ids, hi)
    positions: Sequence[int]
    if members is not None:
        found = (bisect_left(ids, v) for v in members if (lo is None or v >= lo) and (hi is None or v <= hi))
        positions = sorted({i for i in found if i < len(ids) and ids[i] in members})
    else:
        positions = range(lo_i, max(lo_i, hi_i))
    by_id = not order or order[0][0].code == "ID"
    pred = compile_filter(rest, src, scan_all=offset >= 0 or not by_id)
    if by_id:
        seq = positions[::-1] if order and order[0][1] else positions
        if pred is None:
            window = seq[max(offset, 0) : max(offset, 0) + limit]
            return _page(ids, window, len(seq) if offset >= 0 else None, offset)
        if offset < 0:
            hits: list[int] = []
            for i in seq:
                if pred(i):
                    hits.append(i)
                    if len(hits) == limit:
                        break
            return _page(ids, hits, None, offset)
        matched = [i for i in seq if pred(i)]
    else:
        matched = list(positions) if pred is None else [i for i in positions if pred(i)]
        for f, descending in reversed(order):
            matched.sort(key=_sort_key(src, f), reverse=descending)
    if offset < 0:
        return _page(ids, matched[:limit], None, offset)
    return _page(ids, matched[offset : offset + limit], len(matched), offset)


def _impossible(node: Filter) -> bool:
    """Whether an AND filter holds a condition no value meets (answered without reading a row)."""
    return not node.any_of and any(c.never and not c.negate for c in node.conds)


def _page(ids: Sequence[int], window: Sequence[int], total: int | None, offset: int) -> Page:
    counted = 0 if total is None else total
    return Page([ids[i] for i in window], total, skipped=max(offset, 0), counted=counted)
