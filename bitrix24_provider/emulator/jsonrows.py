"""List pages that PHP writes as they are (:class:`PhpSafe`), and the same pages already written as
JSON (:class:`JsonRows`).

A batch holds up to 50 pages until its response goes out; kept as dicts they are ~5 KB a row, as
JSON ~1.2 KB, and the dicts can be freed (and their memory reused) right after each page. A
``$result[cmd][49][ID]`` reference reads one row back: rows are found by the text between them,
``},{"<first key>":``, which cannot occur inside a JSON string (every ``"`` there is escaped) nor
inside a value, as the rows hold strings, nulls and lists of them only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import orjson

__all__ = ["JsonRows", "PhpSafe", "plain", "written"]


class PhpSafe(list[Any]):
    """Rows that PHP ``json_encode`` writes as they are, so they need no :func:`.phpjson.phpize`:
    dicts with the same ``str`` keys in the same order (never empty, never ``"0".."n-1"``) whose
    values are ``str``, ``None`` or lists of those."""


def written(value: Any) -> Any:
    """:class:`PhpSafe` rows as :class:`JsonRows` (unless orjson refuses them: unpaired surrogates);
    anything else unchanged."""
    if type(value) is not PhpSafe or not value:
        return value
    try:
        return JsonRows(orjson.dumps(value), len(value), next(iter(value[0])))
    except TypeError:
        return value


class JsonRows(Sequence[dict[str, Any]]):
    """Rows written by ``orjson`` in one piece; reading a row decodes that row only (a new dict)."""

    __slots__ = ("_count", "_sep", "json")

    def __init__(self, json: bytes, count: int, first_key: str) -> None:
        #: ``[{...},{...}]`` exactly as the response carries it.
        self.json = json
        self._count = count
        self._sep = b'},{"' + first_key.encode() + b'":'

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return list(self)[index]
        count = self._count
        if not -count <= index < count:
            raise IndexError("row index out of range")
        index %= count
        rows: dict[str, Any] = orjson.loads(self._row(index))
        return rows

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(orjson.loads(self.json))

    def __repr__(self) -> str:
        return f"JsonRows({self._count} rows)"

    def _row(self, index: int) -> bytes:
        """The JSON of one row; rows are counted from the nearer end of the page. A row starts two
        bytes after the ``},`` that ends the one before."""
        text, sep = self.json, self._sep
        if index <= self._count // 2:
            start = 1
            for _ in range(index):
                start = text.index(sep, start) + 2
        else:
            start = text.rindex(sep) + 2
            for _ in range(self._count - 1 - index):
                start = text.rindex(sep, 0, start - 2) + 2
        end = text.find(sep, start)
        return text[start : end + 1 if end >= 0 else len(text) - 1]


def plain(value: Any) -> Any:
    """``value`` with every :class:`JsonRows` inside read back into a list of dicts (for code that
    walks values: the reference encoder, a batch parameter taken whole from an earlier result).
    Containers without one come back as they are; one frame per level, like ``phpize``."""
    if isinstance(value, JsonRows):
        return list(value)
    if isinstance(value, dict):
        changed: dict[Any, Any] | None = None
        for key, item in value.items():
            new = plain(item)
            if new is not item:
                changed = dict(value) if changed is None else changed
                changed[key] = new
        return value if changed is None else changed
    if isinstance(value, list | tuple):
        items: list[Any] | None = None
        for index, item in enumerate(value):
            new = plain(item)
            if new is not item:
                items = list(value) if items is None else items
                items[index] = new
        return value if items is None else items
    return value
