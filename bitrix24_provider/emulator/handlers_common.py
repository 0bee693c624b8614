"""Reading method parameters the way the portal's PHP does, and shaping list results."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import RestError, invalid_id, must_be_array
from .fields import Schema
from .query import PAGE, Order, Page, Resolver, parse_order
from .registry import CallInfo, MethodResult, Params
from .values import INVALID, php_int, to_canonical


def classic_param(params: Params, name: str) -> Any:
    """Classic CRM name resolution: exact, UPPER, lower, Capitalized, ``ar`` + Capitalized."""
    capital = name[:1].upper() + name[1:]
    for key in (name, name.upper(), name.lower(), capital, "ar" + capital):
        if key in params and params[key] is not None:
            return params[key]
    return None


def classic_array(params: Params, name: str, *, required: bool = False) -> Any:
    """A dict/list parameter; ``Parameter 'x' must be array.`` for anything else (or when missing
    and required)."""
    value = classic_param(params, name)
    if value is None and not required:
        return {}
    if not isinstance(value, (dict, list)):
        raise must_be_array(name)
    return value


def classic_id(params: Params) -> int:
    """``ID`` or ``id`` cast with PHP ``(int)``; missing, non-numeric or <= 0 is invalid."""
    raw = params.get("ID", params.get("id"))
    rid = php_int(raw) if not isinstance(raw, (dict, list)) else None
    if rid is None or rid <= 0:
        raise invalid_id()
    return rid


def start_of(params: Params) -> int:
    """``start`` read with PHP ``intval`` (the REST server does this before the method runs)."""
    raw = params.get("start")
    if isinstance(raw, (dict, list)):
        return 1 if raw else 0
    value = php_int(raw)
    return 0 if value is None else value


def engine_param(params: Params, name: str) -> Any:
    """Engine (controller) parameter, matched case-insensitively; None when absent."""
    if name in params:
        return params[name]
    lowered = name.lower()
    for key, value in params.items():
        if key.lower() == lowered:
            return value
    return None


def _binder_error(message: str) -> RestError:
    return RestError("100", message)


def engine_int(params: Params, name: str) -> int:
    """A required integer argument of an engine method (error code ``100`` like the real binder)."""
    raw = engine_param(params, name)
    if raw is None or raw == "":
        raise _binder_error(f"Could not find value for parameter {{{name}}}")
    if isinstance(raw, (bool, dict, list)):
        raise _binder_error(
            f"Invalid value {raw} to match with parameter {{{name}}}. Should be value of type int"
        )
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, int):
        return raw
    text = str(raw).strip()
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise _binder_error(
            f"Invalid value {raw} to match with parameter {{{name}}}. Should be value of type int"
        )
    return int(text)


def engine_array(params: Params, name: str, *, required: bool = False) -> Any:
    raw = engine_param(params, name)
    if raw is None or (raw == "" and not required):
        if required:
            raise _binder_error(f"Could not find value for parameter {{{name}}}")
        return {}
    if not isinstance(raw, (dict, list)):
        raise _binder_error(
            f"Invalid value {raw} to match with parameter {{{name}}}. Should be value of type array"
        )
    return raw


_SCALAR_SORT = frozenset({"sort", "order", "filter", "start", "auth"})


def scalar_sort_query(
    params: Params, resolve: Resolver, reserved: frozenset[str]
) -> tuple[dict[str, Any], Order]:
    """(filter, order) of a method that takes its filter keys at the top level (or under ``filter``)
    and orders by two scalars, ``sort`` (a field, default ``ID``) and ``order`` (the direction), like
    ``user.get`` and ``department.get``; names in ``reserved`` are the method's other parameters."""
    lowered = {str(k).lower(): v for k, v in params.items()}
    flt: dict[str, Any] = {}
    nested = lowered.get("filter")
    if isinstance(nested, dict):  # anything else is ignored, as these methods do
        flt |= {str(k): v for k, v in nested.items()}
    flt |= {str(k): v for k, v in params.items() if str(k).lower() not in _SCALAR_SORT | reserved}
    sort, direction = lowered.get("sort"), lowered.get("order")
    if isinstance(direction, dict):
        return flt, parse_order(direction, resolve)
    field = sort if isinstance(sort, str) and sort else "ID"
    return flt, parse_order({field: direction if isinstance(direction, str) else "ASC"}, resolve)


def is_yes(raw: Any) -> bool:
    return str(raw).strip().upper() in ("Y", "1", "TRUE") if raw is not None else False


def now_of(call: CallInfo) -> int:
    """The call's portal time at 1-second resolution."""
    return int(call.now)


def write_values(
    schema: Schema,
    raw: Any,
    resolve: Resolver,
    offset: str,
    *,
    read_only: bool = False,
    immutable: bool = True,
) -> dict[str, Any]:
    """Caller's ``fields`` as canonical values: unknown fields, ``ID``, read-only fields (unless
    ``read_only``), immutable ones (unless ``immutable``, e.g. a deal's pipeline on
    ``crm.deal.update``) and unconvertible values are dropped, as the portal ignores them."""
    values: dict[str, Any] = {}
    items = raw.items() if isinstance(raw, dict) else ()
    for key, value in items:
        f = resolve(str(key))
        if f is None or f.code == "ID" or (f.read_only and not read_only) or (f.immutable and not immutable):
            continue
        converted = to_canonical(f, value, offset)
        if converted is not INVALID:
            values[f.code] = converted
    return values


def paged(
    page: Page, result: Any, family: str, *, engine: bool, wrap: Callable[[Any], Any] | None = None
) -> MethodResult:
    """A list page: ``next`` only when more rows exist; with ``start=-1`` classic methods say
    ``total: 0`` and engine methods say nothing."""
    rows = len(result)
    body = wrap(result) if wrap else result
    if page.total is None:
        return MethodResult(body, None, None if engine else 0, family=family, rows=rows)
    following = page.skipped + PAGE
    return MethodResult(
        body,
        following if following < page.total else None,
        page.total,
        family=family,
        rows=rows,
        skipped=page.skipped,
        counted=page.counted,
    )
