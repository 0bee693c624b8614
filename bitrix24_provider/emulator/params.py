"""Request parameters as the portal's PHP sees them (contract §1.2, §1.3, §5.1).

PHP arrays are represented as ``dict[str, Any]`` with string keys; an integer key ``5`` is the
string ``"5"`` (PHP turns canonical decimal strings into integer keys, so the two spellings name the
same entry). Query/form values are always ``str``; JSON bodies keep their JSON types.

Every function here is fed by untrusted HTTP input and never raises on any ``str``/``bytes``.

Sources of the ported behaviour: PHP ``main/php_variables.c`` (``php_default_treat_data``,
``php_register_variable_ex``), ``ext/standard/url.c`` (``php_url_parse_ex2``), Bitrix
``CRestUtil::getRequestData`` / ``ParseBatchQuery`` and ``HttpRequest::__construct``.
"""

from __future__ import annotations

import email.message
import email.parser
import email.utils
import json
import math
import re
from typing import Any
from urllib.parse import unquote_to_bytes

__all__ = [
    "MAX_INPUT_NESTING_LEVEL",
    "array_merge",
    "array_replace",
    "as_list",
    "merge_form_fields",
    "merge_request_params",
    "parse_batch_command",
    "parse_str",
    "php_key",
]

MAX_INPUT_NESTING_LEVEL = 64
"""PHP ``max_input_nesting_level``: a name with more bracket groups is dropped together with its
whole top-level variable."""

_JSON_MAX_DEPTH = 512  # PHP json_decode default depth
_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1
_CANONICAL_INT = re.compile(r"0|-?[1-9][0-9]{0,18}")
_PHP_TRIM = b" \t\n\r\0\x0b"
_FORM_URLENCODED = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"


# --------------------------------------------------------------------------------------------------
# PHP array keys


def _int_key(key: str) -> int | None:
    """The integer PHP would use for array key ``key``, or None if it stays a string key."""
    if not _CANONICAL_INT.fullmatch(key):
        return None
    number = int(key)
    return number if _INT_MIN <= number <= _INT_MAX else None


def php_key(key: object) -> str:
    """A Python dict key as the PHP array key it would be, in string form (``1`` -> ``"1"``,
    ``True`` -> ``"1"``, ``2.7`` -> ``"2"``, ``None`` -> ``""``)."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "1" if key else "0"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float) and math.isfinite(key):
        return str(int(key))
    return "" if key is None else str(key)


def as_list(value: object) -> list[Any] | None:
    """The values of a PHP list: a ``list`` unchanged, or a dict whose keys are exactly the indexes
    ``0..n-1`` (in any order; returned ordered by index). Anything else gives None."""
    if isinstance(value, list):
        return value
    if not isinstance(value, dict):
        return None
    by_index: dict[int, Any] = {}
    for key, item in value.items():
        index = _int_key(php_key(key))
        if index is None or not 0 <= index < len(value):
            return None
        by_index[index] = item
    if len(by_index) != len(value):
        return None
    return [by_index[i] for i in range(len(value))]


def array_merge(*arrays: dict[str, Any]) -> dict[str, Any]:
    """PHP ``array_merge``: string keys are replaced in place, integer keys are renumbered from 0
    and appended."""
    out: dict[str, Any] = {}
    next_index = 0
    for array in arrays:
        for key, value in array.items():
            if _int_key(key) is None:
                out[key] = value
            else:
                out[str(next_index)] = value
                next_index += 1
    return out


def array_replace(base: dict[str, Any], *replacements: dict[str, Any]) -> dict[str, Any]:
    """PHP ``array_replace``: top-level keys of later arrays replace (or are appended to) earlier."""
    out = dict(base)
    for replacement in replacements:
        out.update(replacement)
    return out


# --------------------------------------------------------------------------------------------------
# parse_str


class _Builder:
    """Registers ``name=value`` pairs into a PHP array the way ``php_register_variable_ex`` does."""

    def __init__(self) -> None:
        self.root: dict[str, Any] = {}
        # Next free integer index of every container (PHP's nNextFreeElement), keyed by id().
        self._next: dict[int, int | None] = {id(self.root): None}

    def _new_container(self) -> dict[str, Any]:
        container: dict[str, Any] = {}
        self._next[id(container)] = None
        return container

    def _note_key(self, container: dict[str, Any], key: str) -> None:
        index = _int_key(key)
        if index is None:
            return
        current = self._next.get(id(container))
        if current is None or index >= current:
            self._next[id(container)] = min(index + 1, _INT_MAX)

    def _append_key(self, container: dict[str, Any]) -> str | None:
        """The key ``[]`` appends at, or None if PHP could not append (index space exhausted)."""
        current = self._next.get(id(container))
        key = str(0 if current is None else current)
        return None if key in container else key

    def _store(self, container: dict[str, Any], key: str | None, value: Any) -> str | None:
        if key is None:
            key = self._append_key(container)
            if key is None:
                return None
        container[key] = value
        self._note_key(container, key)
        return key

    def add(self, name: str, value: str) -> None:
        """Register one already url-decoded pair."""
        parsed = _split_name(name)
        if parsed is None:
            return
        head, keys, too_deep = parsed
        if too_deep:
            self.root.pop(head, None)
            return
        if not keys:
            self._store(self.root, head, value)
            return
        container: dict[str, Any] | None = self._descend(self.root, head)
        for key in keys[:-1]:
            if container is None:
                return
            container = self._descend(container, key)
        if container is not None:
            self._store(container, keys[-1], value)

    def _descend(self, container: dict[str, Any], key: str | None) -> dict[str, Any] | None:
        """The array at ``container[key]``, created (or replacing a scalar) when needed."""
        if key is not None:
            existing = container.get(key)
            if isinstance(existing, dict):
                return existing
        child = self._new_container()
        return child if self._store(container, key, child) is not None else None


def _php_name_chars(text: str, *, brackets: bool) -> str:
    """Replace the characters PHP forbids in a top-level variable name with ``_``."""
    text = text.replace(" ", "_").replace(".", "_")
    return text.replace("[", "_") if brackets else text


def _split_name(name: str) -> tuple[str, list[str | None], bool] | None:
    """Split ``a[b][]`` into (``"a"``, [``"b"``, None], too_deep) like ``php_register_variable_ex``.

    None as a key means ``[]`` (append). Returns None when the name is empty.
    """
    name = name.split("\0", 1)[0].lstrip(" ")
    bracket = name.find("[")
    if bracket < 0:
        head = _php_name_chars(name, brackets=False)
        return (head, [], False) if head else None
    head = _php_name_chars(name[:bracket], brackets=False)
    if not head:
        return None
    keys: list[str | None] = []
    pos = bracket
    while True:
        if len(keys) >= MAX_INPUT_NESTING_LEVEL:
            return head, keys, True
        start = pos + 1
        probe = start + 1 if name.startswith(" ", start) else start
        if name.startswith("]", probe):
            keys.append(None)
            close = probe
        else:
            close = name.find("]", probe)
            if close < 0:
                if not keys:  # unterminated first group: "a[b" is the variable "a_b"
                    head += "_" + _php_name_chars(name[start:], brackets=True)
                return head, keys, False
            keys.append(name[start:close])
        if not name.startswith("[", close + 1):
            return head, keys, False
        pos = close + 1


def _to_bytes(data: str | bytes) -> bytes:
    return data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")


def _urldecode(raw: bytes) -> str:
    """PHP ``urldecode``: ``+`` is a space, ``%XX`` a byte; the bytes are read as UTF-8."""
    return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8", "replace")


def _pairs(query: bytes) -> list[tuple[str, str]]:
    """Split a query string into url-decoded (name, value) pairs; empty segments are skipped."""
    pairs: list[tuple[str, str]] = []
    for segment in query.split(b"&"):
        if not segment:
            continue
        name, _, value = segment.partition(b"=")
        pairs.append((_urldecode(name), _urldecode(value)))
    return pairs


def parse_str(query: str | bytes) -> dict[str, Any]:
    """PHP ``parse_str``: ``a[b][]=v`` pairs into nested dicts of strings."""
    builder = _Builder()
    for name, value in _pairs(_to_bytes(query)):
        builder.add(name, value)
    return builder.root


# --------------------------------------------------------------------------------------------------
# Request bodies


def _sapi_media_type(content_type: str | None) -> str:
    """The content type as PHP's SAPI matches it against its POST readers: lower-cased and cut at
    the first ``;``, ``,`` or space."""
    return re.split(r"[;, ]", content_type or "", maxsplit=1)[0].lower()


def _bitrix_media_type(content_type: str | None) -> str:
    """The content type as ``CRestUtil::getRequestData`` compares it (case-sensitive)."""
    return (content_type or "").split(";", 1)[0].strip(" \t\n\r\0\x0b")


def _php_json_int(text: str) -> int | float:
    """PHP ``json_decode`` turns integers outside int64 into floats."""
    if len(text) <= 20:
        number = int(text)
        if _INT_MIN <= number <= _INT_MAX:
            return number
    return float(text)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"PHP json_decode rejects {name}")


def _php_json_acceptable(value: Any) -> bool:
    """False for what Python's decoder accepts but PHP's does not: nesting deeper than 512 and
    unpaired UTF-16 surrogate escapes."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict | list):
            if depth >= _JSON_MAX_DEPTH:
                return False
            children = list(item.items()) if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, tuple):  # a dict's (key, value) pair, same depth
            stack.extend((part, depth) for part in item)
    return True


def _decode_json_body(raw: bytes) -> dict[str, Any]:
    """``Json::decode`` of a JSON body; anything that fails or is not an array gives ``{}``.

    A top-level JSON list is a PHP array with keys 0..n-1, so it becomes ``{"0": ..., ...}``.
    """
    try:
        value = json.loads(raw.decode("utf-8"), parse_int=_php_json_int, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return {}
    if not _php_json_acceptable(value):
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {str(index): item for index, item in enumerate(value)}
    return {}


def _latin1_to_utf8(text: str) -> str:
    """Bytes that were read as latin-1, re-read as UTF-8."""
    return text.encode("latin-1", "replace").decode("utf-8", "replace")


def _multipart_fields(content_type: str, body: bytes) -> list[tuple[str, str]]:
    """The non-file fields of a ``multipart/form-data`` body, in order (files are ignored, as they
    go to ``$_FILES``). A body that cannot be parsed gives no fields.

    The body is parsed as latin-1 text so every byte survives the email parser unchanged; names
    and values are then read as UTF-8. Like PHP, a part's Content-Transfer-Encoding is ignored.
    """
    try:
        text = f"Content-Type: {content_type}\r\n\r\n" + body.decode("latin-1")
        message = email.parser.Parser().parsestr(text)
        parts = message.get_payload() if message.is_multipart() else []
        fields: list[tuple[str, str]] = []
        for part in parts if isinstance(parts, list) else []:
            if not isinstance(part, email.message.Message):
                continue
            name = part.get_param("name", header="content-disposition")
            if name is None or part.get_param("filename", header="content-disposition") is not None:
                continue
            payload = part.get_payload()
            if isinstance(payload, str):
                name_text = email.utils.collapse_rfc2231_value(name)
                fields.append((_latin1_to_utf8(name_text), _latin1_to_utf8(payload)))
        return fields
    except Exception:  # the email parser is lenient, but untrusted input must never crash us
        return []


def merge_form_fields(query_params: dict[str, Any], fields: list[tuple[str, str]]) -> dict[str, Any]:
    """Merge already-decoded form fields (``name``, ``value``) over the parsed query string.

    Names go through the same bracket logic as :func:`parse_str` (no url-decoding). The merge is
    Bitrix's ``array_merge($_GET, $_POST)``, which renumbers top-level integer keys.
    """
    builder = _Builder()
    for name, value in fields:
        builder.add(name, value)
    return array_merge(query_params, builder.root)


def merge_request_params(
    query_string: str, content_type: str | None, body: bytes, http_method: str
) -> dict[str, Any]:
    """The parameter array of a REST call (contract §1.2, ``CRestUtil::getRequestData``).

    ``query_string`` must be the raw (still percent-encoded) query. Steps:

    1. ``array_merge(parse_str(query), $_POST)``; ``$_POST`` holds the fields of a POST with a
       form-urlencoded or multipart body (integer top-level keys are renumbered by array_merge);
    2. a POST without form fields reads the trimmed raw body: JSON-decoded when the content type is
       exactly ``application/json`` (parameters after ``;`` ignored) - a body that fails to decode
       or is not an object/array gives nothing - otherwise ``parse_str``;
    3. those body parameters replace top-level names (``array_replace``).
    """
    query = parse_str(query_string)
    if http_method != "POST":
        return array_merge(query)
    sapi_type = _sapi_media_type(content_type)
    if sapi_type == _FORM_URLENCODED:
        posted = parse_str(body)
        if posted:
            return array_merge(query, posted)
    elif sapi_type == _MULTIPART:
        # PHP consumes a multipart body itself; php://input is empty afterwards.
        return merge_form_fields(query, _multipart_fields(content_type or "", body))
    merged = array_merge(query)
    raw = body.strip(_PHP_TRIM)
    if _bitrix_media_type(content_type) == "application/json":
        return array_replace(merged, _decode_json_body(raw))
    return array_replace(merged, parse_str(raw)) if raw else merged


# --------------------------------------------------------------------------------------------------
# Batch commands: PHP parse_url


_DIGITS = frozenset("0123456789")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+-.") | _DIGITS
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")

# (path, query) of a parsed URL; None means that part is absent. parse_url failure is None.
_UrlParts = tuple[str | None, str | None]


def _no_controls(text: str) -> str:
    """PHP ``php_replace_controlchars_ex``: control characters become ``_``."""
    return _CONTROL_CHARS.sub("_", text)


def _strtol_ok(text: str) -> int | None:
    """C ``strtol`` of a port: leading blanks and a sign allowed, trailing junk ignored; None if
    no digit was read."""
    match = re.match(r"[ \t\n\v\f\r]*([+-]?[0-9]+)", text)
    return int(match.group(1)) if match else None


def _url_path(url: str, start: int) -> _UrlParts:
    """The ``just_path`` part of ``php_url_parse_ex2``: fragment, then query, then path."""
    end = len(url)
    hash_pos = url.find("#", start)
    if hash_pos >= 0:
        end = hash_pos
    query: str | None = None
    mark = url.find("?", start, end)
    if mark >= 0:
        query = _no_controls(url[mark + 1 : end])
        end = mark
    path = _no_controls(url[start:end]) if start < end or start == len(url) else None
    return path, query


def _url_host(url: str, start: int, has_port: bool) -> _UrlParts | None:
    """The ``parse_host`` part: validates user/host/port, then continues with the path."""
    end = start
    while end < len(url) and url[end] not in "/?#":
        end += 1
    at = url.rfind("@", start, end)
    if at >= 0:
        start = at + 1
    ipv6 = start < len(url) and url[start] == "[" and url[end - 1] == "]"
    colon = -1 if ipv6 else url.rfind(":", start, end)
    host_end = end
    if colon >= 0:
        host_end = colon
        if not has_port:
            port_text = url[colon + 1 : end]
            if len(port_text) > 5:
                return None
            if port_text:
                port = _strtol_ok(port_text)
                if port is None or not 0 <= port <= 65535:
                    return None
    if host_end - start < 1:
        return None
    return (None, None) if end == len(url) else _url_path(url, end)


def _url_port(url: str, start: int, colon: int) -> _UrlParts | None:
    """The ``parse_port`` part: ``host:port`` without a scheme."""
    digits_end = colon + 1
    while digits_end < len(url) and digits_end - colon - 1 < 6 and url[digits_end] in _DIGITS:
        digits_end += 1
    count = digits_end - colon - 1
    relative = url.startswith("//", start)
    if 0 < count < 6 and (digits_end == len(url) or url[digits_end] == "/"):
        if int(url[colon + 1 : digits_end]) > 65535:
            return None
        return _url_host(url, start + 2 if relative else start, True)
    if count == 0 and digits_end == len(url):
        return None
    if relative:
        return _url_host(url, start + 2, False)
    return _url_path(url, start)


def _parse_url(url: str) -> _UrlParts | None:
    """PHP ``parse_url`` reduced to (path, query); None where PHP returns false."""
    colon = url.find(":")
    if colon == 0:
        return _url_port(url, 0, 0)
    if colon < 0:
        return _url_host(url, 2, False) if url.startswith("//") else _url_path(url, 0)
    if any(char not in _SCHEME_CHARS for char in url[:colon]):
        mark = url.find("?")
        if colon + 1 < len(url) and mark >= 0 and colon < mark:
            return _url_port(url, 0, colon)
        return _url_host(url, 2, False) if url.startswith("//") else _url_path(url, 0)
    if colon + 1 == len(url):
        return None, None  # only a scheme
    if url[colon + 1] != "/":
        digits_end = colon + 1
        while digits_end < len(url) and url[digits_end] in _DIGITS:
            digits_end += 1
        if (digits_end == len(url) or url[digits_end] == "/") and digits_end - colon < 7:
            return _url_port(url, 0, colon)
        return _url_path(url, colon + 1)
    if not url.startswith("/", colon + 2):
        return _url_path(url, colon + 1)
    start = colon + 3
    if url[:colon].lower() == "file" and url.startswith("/", start):
        return _url_path(url, colon + 4 if url.startswith(":", colon + 5) else start)
    return _url_host(url, start, False)


def parse_batch_command(cmd: str | bytes) -> tuple[str, dict[str, Any]]:
    """Split a batch ``cmd`` string into (method, params), like ``CRestProvider::methodsBatch``:
    ``parse_url`` gives the path (the method, here stripped of leading ``/`` and a ``.json``
    suffix) and the query, which is read with ``parse_str`` unless it is ``""`` or ``"0"`` (PHP
    falsy). A string ``parse_url`` rejects gives method ``""``."""
    text = cmd.decode("utf-8", "replace") if isinstance(cmd, bytes) else cmd
    parts = _parse_url(text)
    path, query = parts if parts is not None else (None, None)
    method = (path or "").lstrip("/")
    if method.endswith(".json"):
        method = method[: -len(".json")]
    params = parse_str(query) if query not in (None, "", "0") else {}
    return method, params
