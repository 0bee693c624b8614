"""What callers pass to the client's methods, checked before any request.

fast_bitrix24 checks its arguments before it sends anything; so does this client, with one error per
wrong argument naming it and what is wrong: :class:`InvalidArgument` (a ``ValueError``), for a wrong
type :class:`ArgumentTypeError` (also a ``TypeError``), for an item of ``call()``
:class:`InvalidItem`. Empty inputs raise where fast_bitrix24 raises: an empty method name, and an
``ID_list`` or ``items`` given as an empty collection (an empty iterator is nothing to do).
Parameters are encoded once here, so a value the encoder cannot send (a set, a naive datetime...)
fails before the first request, not halfway through an export or a run of batches.
"""

from __future__ import annotations

import inspect
import re
import ssl
from collections.abc import Iterable, Mapping, Sized
from numbers import Integral, Real
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from .auth import OAuthCredentials, normalize_webhook
from .batch import Command
from .encoding import batch_params, encode_params, to_json
from .errors import ArgumentTypeError, InvalidArgument, InvalidItem
from .settings import ClientSettings
from .throttle import PLAN_LIMITS

__all__ = [
    "batch",
    "client_arguments",
    "concurrency",
    "filter_of",
    "ids",
    "items",
    "limit",
    "list_branch",
    "method_name",
    "name",
    "params",
    "raw_items",
]

#: dot-separated names: ``crm.deal.list``, ``profile``, ``crm.deal.list.json``
_METHOD = re.compile(r"[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*")
#: the parameters whose shape fast_bitrix24 checks, with an example of the right one
_MAPPINGS = {"filter": "{'>ID': 5}", "order": "{'ID': 'ASC'}", "fields": "{'TITLE': 'New'}"}
#: the parameters a paged read sets itself, in the spelling it sends them
_PAGED = ("filter", "order", "select")


def _kind(value: Any) -> str:
    shown = repr(value)
    return f"{type(value).__name__} {shown[:60] + '...' if len(shown) > 60 else shown}"


def method_name(value: Any, function: str, *, batch_ok: bool = False) -> str:
    """The method name without surrounding blanks (as fast_bitrix24 strips it)."""
    if not isinstance(value, str):
        raise ArgumentTypeError(
            function, "method", f"must be a method name such as 'crm.deal.list', got {_kind(value)}"
        )
    method = value.strip()
    if not method:
        raise InvalidArgument(function, "method", "is empty")
    if not _METHOD.fullmatch(method):
        raise InvalidArgument(
            function,
            "method",
            f"{method!r} is not a method name such as 'crm.deal.list' (dot-separated words)",
        )
    if method.lower() == "batch" and not batch_ok:
        raise InvalidArgument(function, "method", "'batch' is sent with call_batch()")
    return method


def list_branch(value: Any) -> str:
    """``list_and_get``'s branch: ``crm.lead``, not ``crm.lead.list``."""
    branch = method_name(value, "list_and_get")
    if branch.lower().endswith((".list", ".get")):
        raise InvalidArgument(
            "list_and_get", "method_branch", f"{branch!r} must not end in '.list' or '.get' (e.g. 'crm.lead')"
        )
    return branch


def filter_of(value: Any, function: str) -> dict[str, Any] | None:
    """A ``filter`` argument: a mapping or ``None``."""
    if value is not None and not isinstance(value, Mapping):
        raise ArgumentTypeError(
            function, "filter", f"must be a mapping such as {_MAPPINGS['filter']}, got {_kind(value)}"
        )
    return None if value is None else dict(value)


def name(value: Any, function: str, argument: str) -> str:
    """A field name such as ``ID_field_name``, stripped."""
    if not isinstance(value, str) or not value.strip():
        raise ArgumentTypeError(function, argument, f"must be a field name such as 'ID', got {_kind(value)}")
    return value.strip()


def _encodable(function: str, argument: str, values: Mapping[str, Any]) -> None:
    try:
        encode_params(values)
    except TypeError as error:
        raise ArgumentTypeError(function, argument, f"cannot be sent: {error}") from None
    except ValueError as error:
        raise InvalidArgument(function, argument, f"cannot be sent: {error}") from None


def _select(function: str, where: str, value: Any) -> list[str]:
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise ArgumentTypeError(
            function, where, f"must be a list of field names such as ['ID'], got {_kind(value)}"
        )
    for n, field in enumerate(value):
        if not isinstance(field, str) or not field.strip():
            raise ArgumentTypeError(function, f"{where}[{n}]", f"must be a field name, got {_kind(field)}")
    return sorted(value) if isinstance(value, (set, frozenset)) else list(value)


def params(value: Any, function: str, *, paged: bool = False, reserved: str | None = None) -> dict[str, Any]:
    """A copy of *value* whose ``select`` is a list of names (a set becomes a sorted list) and whose
    ``filter``, ``order`` and ``fields`` are mappings. ``start`` is refused where the client pages
    (*paged*), and *reserved* (``get_by_ID``'s id field) where the client sets it.

    Where the client pages it adds its own ``filter``/``order``/``select``; the portal reads the
    name spelled as it asks first (contract §3.6), so a ``FILTER``, ``Filter`` or ``arFilter`` of
    the caller would be ignored next to it: those spellings are taken as ``filter`` (two spellings
    of one parameter are refused)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ArgumentTypeError(
            function,
            "params",
            f"must be a mapping of parameters such as {{'select': ['ID']}}, got {_kind(value)}",
        )
    checked: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key.strip():
            raise InvalidArgument(
                function, "params", f"has the key {key!r}: parameter names are non-empty strings"
            )
        where, clause = f"params[{key!r}]", key.strip().lower()
        if clause == "select":
            item = _select(function, where, item)
        elif clause in _MAPPINGS and not isinstance(item, Mapping):
            raise ArgumentTypeError(
                function, where, f"must be a mapping such as {_MAPPINGS[clause]}, got {_kind(item)}"
            )
        elif clause == "start" and paged:
            raise InvalidArgument(function, where, f"is not accepted: {function}() pages by itself")
        elif reserved is not None and clause == reserved.lower():
            raise InvalidArgument(function, where, "is not accepted: it is set from ID_list, one id per call")
        if paged and clause.removeprefix("ar") in _PAGED:
            canonical = clause.removeprefix("ar")
            if canonical in checked:
                raise InvalidArgument(function, where, f"spells {canonical!r} a second time")
            key = canonical
        checked[key] = item
    _encodable(function, "params", checked)
    return checked


def limit(value: Any, function: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise InvalidArgument(function, "limit", f"must be a positive int or None, got {_kind(value)}")
    return value


def ids(value: Any) -> dict[str, int | str]:
    """``get_by_ID``'s ids by their key in the result (``str``, as fast_bitrix24 keys them), each
    once, in input order; the values as they are sent."""
    if isinstance(value, (str, bytes, bytearray)) or not isinstance(value, Iterable):
        raise ArgumentTypeError(
            "get_by_ID", "ID_list", f"must be a collection of ids such as [1, 2], got {_kind(value)}"
        )
    if isinstance(value, Sized) and len(value) == 0:
        raise InvalidArgument("get_by_ID", "ID_list", "is empty")
    keyed: dict[str, int | str] = {}
    for n, id_ in enumerate(value):
        if isinstance(id_, str) and id_.strip():
            keyed.setdefault(id_, id_)
        elif isinstance(id_, Integral) and not isinstance(id_, bool):
            keyed.setdefault(str(int(id_)), int(id_))
        else:
            raise ArgumentTypeError(
                "get_by_ID", f"ID_list[{n}]", f"must be an id (an int or a non-empty str), got {_kind(id_)}"
            )
    return keyed


def items(value: Any) -> tuple[bool, list[Mapping[str, Any]]]:
    """``(single, items)`` of ``call()``: one mapping (or ``None``: a call without parameters) or
    an iterable of mappings, each one sendable."""
    if value is None:
        return True, [{}]
    if isinstance(value, Mapping):
        if not value:
            raise InvalidArgument(
                "call", "items", "is empty: leave it out to call the method without parameters"
            )
        listed, single = [value], True
    elif isinstance(value, (str, bytes, bytearray)) or not isinstance(value, Iterable):
        raise ArgumentTypeError(
            "call", "items", f"must be a mapping of parameters or an iterable of them, got {_kind(value)}"
        )
    elif isinstance(value, Sized) and len(value) == 0:
        raise InvalidArgument("call", "items", "is empty")
    else:
        listed, single = list(value), False
    for index, item in enumerate(listed):
        if not isinstance(item, Mapping):
            raise InvalidItem(index, f"must be a mapping of the method's parameters, got {_kind(item)}")
        try:
            encode_params(item)
        except (TypeError, ValueError) as error:
            raise InvalidItem(index, f"cannot be sent: {error}") from None
    return single, listed


def raw_items(value: Any) -> dict[str, Any]:
    """``call(..., raw=True)``'s JSON body: a mapping as given, or a list of positional parameters
    as the portal reads a JSON array (keys ``"0"``, ``"1"``...)."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        body = dict(value)
    elif isinstance(value, (list, tuple)):
        body = {str(n): item for n, item in enumerate(value)}
    else:
        raise ArgumentTypeError(
            "call",
            "items",
            f"with raw=True must be a mapping or a list of positional parameters, got {_kind(value)}",
        )
    try:
        to_json(body)
    except TypeError as error:
        raise ArgumentTypeError("call", "items", f"cannot be sent as JSON: {error}") from None
    except ValueError as error:
        raise InvalidArgument("call", "items", f"cannot be sent as JSON: {error}") from None
    return body


def batch(value: Any) -> tuple[dict[str, Command], bool]:
    """``call_batch``'s ``{"halt": 0, "cmd": {key: "method?query"}}`` as commands (keys as ``str``)
    and ``halt``."""
    if not isinstance(value, Mapping):
        raise ArgumentTypeError(
            "call_batch",
            "params",
            f"must be a mapping such as {{'halt': 0, 'cmd': {{...}}}}, got {_kind(value)}",
        )
    known = {str(k).lower(): k for k in value}
    unknown = sorted(str(k) for k in value if str(k).lower() not in ("cmd", "halt"))
    if unknown:
        raise InvalidArgument(
            "call_batch", "params", f"has the keys {unknown}: a batch takes 'halt' and 'cmd'"
        )
    cmd = value.get(known.get("cmd", "cmd"))
    if not isinstance(cmd, Mapping):
        raise ArgumentTypeError(
            "call_batch", "params['cmd']", f"must be a mapping of key -> 'method?query', got {_kind(cmd)}"
        )
    if not cmd:
        raise InvalidArgument("call_batch", "params['cmd']", "is empty")
    halt = value.get(known.get("halt", "halt"), 0)
    if not isinstance(halt, int) or halt not in (0, 1):
        raise ArgumentTypeError(
            "call_batch", "params['halt']", f"must be 0, 1, True or False, got {_kind(halt)}"
        )
    commands: dict[str, Command] = {}
    for key, text in cmd.items():
        where = f"params['cmd'][{key!r}]"
        if isinstance(key, bool) or not isinstance(key, (str, int)) or str(key) in commands:
            raise InvalidArgument("call_batch", where, "needs a key of its own: a str or an int")
        if not isinstance(text, str):
            raise ArgumentTypeError(
                "call_batch", where, f"must be a command such as 'crm.deal.get?id=1', got {_kind(text)}"
            )
        method, _, query = text.partition("?")
        commands[str(key)] = Command(method_name(method, "call_batch"), query=query)
    try:
        batch_params({key: c.text() for key, c in commands.items()})
    except ValueError as error:
        raise InvalidArgument("call_batch", "params['cmd']", str(error)) from None
    return commands, bool(halt)


def concurrency(value: Any) -> int:
    """``slow()``'s ``max_concurrent_requests``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument(
            "slow", "max_concurrent_requests", f"must be an int of at least 1, got {_kind(value)}"
        )
    return value


def _positive(value: Any) -> bool:
    return value is None or (isinstance(value, Real) and not isinstance(value, bool) and float(value) > 0)


def client_arguments(arguments: Mapping[str, Any]) -> None:
    """The constructor's arguments, the ones fast_bitrix24 checks and ours."""
    checks: dict[str, tuple[bool, str]] = {
        "verbose": (arguments["verbose"] in (None, True, False), "True, False or None"),
        "respect_velocity_policy": (
            arguments["respect_velocity_policy"] in (None, True, False),
            "True or False",
        ),
        "request_pool_size": (_positive(arguments["request_pool_size"]), "a positive number"),
        "requests_per_second": (_positive(arguments["requests_per_second"]), "a positive number"),
        "operating_time_limit": (_positive(arguments["operating_time_limit"]), "a positive number"),
        "time_scale": (_positive(arguments["time_scale"]), "a positive number"),
        "batch_size": (
            arguments["batch_size"] is None
            or (type(arguments["batch_size"]) is int and 1 <= arguments["batch_size"] <= 50),
            "an int from 1 to 50",
        ),
        "client": (
            isinstance(arguments["client"], (aiohttp.ClientSession, type(None))),
            "an aiohttp.ClientSession",
        ),
        "ssl": (
            isinstance(arguments["ssl"], (bool, ssl.SSLContext, str)),
            "a bool, an ssl.SSLContext or a CA path",
        ),
        "plan": (
            arguments["plan"] is None or arguments["plan"] in PLAN_LIMITS,
            f"one of {sorted(PLAN_LIMITS)}",
        ),
        "oauth": (isinstance(arguments["oauth"], (OAuthCredentials, type(None))), "OAuthCredentials"),
        "settings": (isinstance(arguments["settings"], (ClientSettings, type(None))), "ClientSettings"),
        "shared_throttle": (
            isinstance(arguments["shared_throttle"], (str, type(None))),
            "a Redis URL, file:///<directory> or 'none'",
        ),
    }
    for argument, (ok, expected) in checks.items():
        if not ok:
            raise InvalidArgument(
                "BitrixAsync", argument, f"must be {expected}, got {_kind(arguments[argument])}"
            )
    token_func = arguments["token_func"]
    if token_func is not None and not inspect.iscoroutinefunction(token_func):
        raise InvalidArgument(
            "BitrixAsync", "token_func", "must be an async function returning an access token"
        )
    webhook, oauth = arguments["webhook"], arguments["oauth"]
    if webhook is None:
        if oauth is None:
            raise InvalidArgument(
                "BitrixAsync", "webhook", "is missing: give the webhook URL, or oauth=OAuthCredentials(...)"
            )
    elif not isinstance(webhook, str):
        raise ArgumentTypeError(
            "BitrixAsync", "webhook", f"must be the webhook URL as a str, got {type(webhook).__name__}"
        )
    elif oauth is None:
        try:
            normalize_webhook(webhook)
        except ValueError:
            # a path that is not /rest/<user>/<code>/ may still hold the code: show the host only
            host = urlsplit(webhook.strip()).hostname
            raise InvalidArgument(
                "BitrixAsync",
                "webhook",
                f"{'at ' + host if host else 'given'} is not a Bitrix24 REST URL "
                "(expected https://<portal>/rest/<user>/<code>/)",
            ) from None
