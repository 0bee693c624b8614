"""The one parameter encoder, used for direct calls and for ``batch`` command strings alike.

Bitrix24 reads query strings, form bodies and the query part of every batch ``cmd`` with PHP's
``parse_str`` (contract §1.2-1.3, §5.1). :func:`encode_params` flattens Python values into PHP
bracket form so that ``parse_str`` rebuilds exactly the structure that was meant::

    {"filter": {">ID": 5, "ACTIVE": True}, "select": ["ID", "TITLE"]}
    → filter[>ID]=5, filter[ACTIVE]=Y, select[0]=ID, select[1]=TITLE

Because direct calls and batch commands share this encoder, a value reaches the server in the same
form on the first page and on every later page (fast_bitrix24 sends JSON ``true`` on page one and
``True`` on the rest).

Value rules (the server sees strings only; every choice is the same everywhere):

* ``bool`` → ``"Y"`` / ``"N"``, the Bitrix convention for flags (``OPENED``, ``REGISTER_SONET_EVENT``,
  ``useOriginalUfNames``...). Parameters the server casts with PHP ``(bool)``/``intval`` — ``halt``,
  ``start``, ``clear`` — must be given as ints: PHP reads the string ``"N"`` as *true*.
  :func:`batch_params` does this for ``halt``.
* ``None`` → ``""`` (the key is sent with an empty value). PHP's ``http_build_query`` would drop it;
  we keep it so that "set this field to empty" can be expressed, and so ``None`` never becomes
  ``"None"``.
* ``int``, ``float``, ``Decimal`` → their decimal text (``Decimal`` without exponent; NaN and
  infinities are rejected); ``str`` as is.
* ``datetime`` → ISO 8601 with its UTC offset (``2024-08-01T00:00:00+03:00``). **Naive datetimes are
  rejected** (``TypeError``): the portal interprets offset-less times in *its* time zone, so a guess
  would silently shift incremental-sync watermarks. ``date`` → ``YYYY-MM-DD``.
* ``Mapping`` → ``name[key]``; ``list``/``tuple`` → ``name[0]``, ``name[1]``... Other iterables (sets,
  generators), bytes and unknown types raise ``TypeError``.
* **Empty lists and dicts are omitted**, as PHP's ``http_build_query`` does: a form body cannot
  express an empty array (``name[]=`` would arrive as ``[""]``, and ``name=`` as a string, which CRM
  methods reject with "Parameter 'filter' must be array."). An omitted parameter means "default"
  to the server; send the request as JSON if an explicitly empty array matters.

Key rules: keys are ``str`` or ``int``. ``parse_str`` renames top-level names containing spaces or
dots and cuts names at ``[``; a nested key ends at the first ``]``, and ``[]``/``[ ]`` mean
"append". Such keys, empty keys, keys with NUL characters and two keys of one mapping that would be
sent under the same name (``1`` and ``"1"``) raise ``ValueError`` instead of being silently
mangled by the server.

``call(..., raw=True)`` is the exception, as in fast_bitrix24: its parameters go out as a JSON body
exactly as given (:func:`to_json`: ``None`` as ``null``, booleans as ``true``/``false``), which is
how the portal gets a ``null`` and the positional parameters of legacy methods.

Percent-encoding (:func:`to_query`) escapes every byte that is not an RFC 3986 unreserved character
(``A-Z a-z 0-9 - . _ ~``) in keys and values, UTF-8 first, space as ``%20``. So ``+`` (a UTC offset),
``&``, ``=``, ``#``, ``%``, brackets and non-ASCII text travel intact, and ``parse_url`` never sees a
``#`` or ``?`` inside a batch command.

Batch ``$result[...]`` references (contract §5.5): the server splits each command with
``parse_url``, runs ``parse_str`` on its query and only then resolves references in the decoded
values (``CRestUtil::ParseBatchQuery``), so an encoded reference
``%24result%5Bp0%5D%5B49%5D%5BID%5D`` decodes back to ``$result[p0][49][ID]`` before resolution and
needs no special casing. Inside a form-encoded batch body the command strings are encoded once more
by the outer :func:`to_query` (``%5B`` → ``%255B``), which the server undoes when it decodes the
body.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

__all__ = [
    "MAX_DEPTH",
    "batch_command",
    "batch_params",
    "encode_params",
    "encode_value",
    "to_form",
    "to_json",
    "to_query",
]

#: PHP's default ``max_input_nesting_level``: deeper variables are dropped by ``parse_str``.
MAX_DEPTH = 64

_METHOD = re.compile(r"[A-Za-z0-9_.\-]+")
_COMMAND_KEY = re.compile(r"[A-Za-z0-9_.\-]+")


def encode_value(value: Any) -> str:
    """Encode one scalar the way the server should read it (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, int):
        return int.__repr__(value)  # plain digits also for IntEnum and other int subclasses
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot send a non-finite number: {value!r}")
        return float.__repr__(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot send a non-finite number: {value!r}")
        return format(value, "f")
    if isinstance(value, str):
        return str.__str__(value)  # the text itself, also for str-based enums
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise TypeError(
                f"naive datetime {value.isoformat()!r}: give it a time zone (the portal would read it in "
                "its own zone)"
            )
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot encode a {type(value).__name__} as a Bitrix24 parameter: {value!r}")


def _key(key: object) -> str:
    if isinstance(key, str):
        return str.__str__(key)
    if isinstance(key, int) and not isinstance(key, bool):
        return int.__repr__(key)
    raise TypeError(f"parameter keys must be str or int, got {type(key).__name__}: {key!r}")


def _top_key(key: object) -> str:
    name = _key(key)
    if not name or any(c in name for c in "[. \x00"):
        raise ValueError(
            f"top-level parameter name {name!r} is not representable: PHP's parse_str renames names that "
            "are empty or contain '[', '.', ' ' or NUL"
        )
    return name


def _nested_key(key: object) -> str:
    name = _key(key)
    # parse_str reads "[]" and "[ ]" as "append", and a nested name ends at the first "]".
    if name in ("", " ") or "]" in name or "\x00" in name:
        raise ValueError(
            f"nested key {name!r} is not representable: it must not be empty, a single space, or "
            "contain ']' or NUL"
        )
    return name


def _unique(pairs: Iterable[tuple[str, Any]], where: str) -> Iterator[tuple[str, Any]]:
    seen: set[str] = set()
    for name, value in pairs:
        if name in seen:
            raise ValueError(f"{where}: two keys are both sent as {name!r} (e.g. 1 and '1')")
        seen.add(name)
        yield name, value


def _flatten(name: str, value: Any, depth: int, out: list[tuple[str, str]]) -> None:
    if isinstance(value, Mapping):
        items: Iterable[tuple[str, Any]] = _unique(((_nested_key(k), v) for k, v in value.items()), name)
    elif isinstance(value, (list, tuple)):
        items = ((str(i), v) for i, v in enumerate(value))
    elif isinstance(value, (set, frozenset, bytes, bytearray)):
        raise TypeError(f"{name}: cannot send a {type(value).__name__}; use a list or str")
    else:
        out.append((name, encode_value(value)))
        return
    if depth >= MAX_DEPTH:
        raise ValueError(f"{name}: nested deeper than {MAX_DEPTH} levels, which PHP drops")
    for sub, item in items:
        _flatten(f"{name}[{sub}]", item, depth + 1, out)


def encode_params(params: Mapping[Any, Any]) -> list[tuple[str, str]]:
    """Flatten *params* into ``(name, value)`` pairs in PHP bracket form, not yet percent-encoded.

    >>> encode_params({"filter": {">ID": 5}, "select": ["ID"], "flag": True, "x": None})
    [('filter[>ID]', '5'), ('select[0]', 'ID'), ('flag', 'Y'), ('x', '')]
    """
    if not isinstance(params, Mapping):
        raise TypeError(f"parameters must be a mapping, got {type(params).__name__}")
    out: list[tuple[str, str]] = []
    for name, value in _unique(((_top_key(k), v) for k, v in params.items()), "parameters"):
        _flatten(name, value, 0, out)
    return out


def _quote(text: str) -> str:
    return quote(text, safe="")


def to_query(params: Mapping[Any, Any]) -> str:
    """Percent-encode :func:`encode_params` output as ``k=v&k=v`` (no leading ``?``)."""
    return "&".join(f"{_quote(k)}={_quote(v)}" for k, v in encode_params(params))


def to_form(params: Mapping[Any, Any]) -> bytes:
    """The body of an ``application/x-www-form-urlencoded`` POST (same text as :func:`to_query`)."""
    return to_query(params).encode("ascii")


def _json_value(value: Any) -> str:
    if isinstance(value, (datetime, date, Decimal)):
        return encode_value(value)  # ISO 8601 with the offset (naive datetimes rejected), decimal text
    raise TypeError(f"cannot send a {type(value).__name__} as JSON: {value!r}")


def to_json(params: Any) -> bytes:
    """A JSON body of *params* as given (``raw=True``); datetimes, dates and decimals as in
    :func:`encode_value`. NaN and infinities raise ``ValueError`` (PHP's decoder would drop the body)."""
    text = json.dumps(params, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_value)
    return text.encode("utf-8")


def batch_command(method: str, params: Mapping[Any, Any] | None = None) -> str:
    """One ``cmd`` entry of a ``batch`` call: ``method?query`` (just ``method`` without params).

    Values may contain ``$result[key][...]`` references; they are encoded like any other text and
    the server resolves them after decoding (see the module docstring).
    """
    if not _METHOD.fullmatch(method):
        raise ValueError(f"invalid method name {method!r}")
    query = to_query(params or {})
    return f"{method}?{query}" if query else method


def batch_params(commands: Mapping[str, str], *, halt: bool = False) -> dict[str, Any]:
    """Parameters of a ``batch`` call from ``key → batch_command(...)`` strings.

    ``halt`` is sent as ``0``/``1`` (the server casts it with PHP ``(bool)``, which reads ``"N"`` as
    true). Keys are letters, digits, ``_``, ``-`` and ``.``: they are used unescaped inside the
    server's ``$result`` regular expression. Numeric keys ``0..n-1`` come back as JSON arrays, which
    :mod:`.batch` maps back by position (fast_bitrix24's ``call_batch({"cmd": {1: ...}})``).
    """
    for key in commands:
        if not isinstance(key, str) or not _COMMAND_KEY.fullmatch(key):
            raise ValueError(f"batch command key {key!r} must be a name such as 'p0', 'cmd_1' or '1'")
    return {"halt": int(halt), "cmd": dict(commands)}
