"""What the exporters share: pages of rows, id ranges, and reading the rows out of a list answer."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from .families import ListFamily

#: rows per page of every list method (contract §3.1)
PAGE = 50
Row = dict[str, Any]
Page = list[Row]
#: ids in ``(after, upto]``; ``upto=None``: no upper end (rows added during the export are included)
IdRange = tuple[int, int | None]
#: receives the id ranges an export runs on; ``None`` when it fell back to offset paging
OnRanges = Callable[[list[IdRange] | None], None]


def rows_of(result: Any, family: ListFamily) -> Page:
    """The rows of one list page: a bare list, or the list under the family's wrapper key."""
    if isinstance(result, list):
        return result
    if isinstance(result, Mapping):
        if family.wrapper is not None and isinstance(result.get(family.wrapper), list):
            return list(result[family.wrapper])
        lists = [v for v in result.values() if isinstance(v, list)]
        if len(result) == 1 and lists:  # an engine method's {"<key>": [...]}
            return list(lists[0])
    raise TypeError(f"not a list page: {type(result).__name__}")


def is_page(result: Any, family: ListFamily) -> bool:
    try:
        rows_of(result, family)
    except TypeError:
        return False
    return True


def pages_follow(body: Mapping[str, Any], family: ListFamily) -> bool:
    """Whether an answer is the first page of a list that pages: a list page with ``next`` or
    ``total`` (every paged method of the portal says one of them on a counted page, contract §3.1)."""
    return ("next" in body or "total" in body) and is_page(body.get("result"), family)


def report(on_ranges: OnRanges | None, ranges: list[IdRange] | None) -> None:
    if on_ranges is not None:
        on_ranges(ranges)


async def close(source: AsyncIterator[Page]) -> None:
    closer = getattr(source, "aclose", None)
    if closer is not None:
        with contextlib.suppress(Exception):
            await closer()
