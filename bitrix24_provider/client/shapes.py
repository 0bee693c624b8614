"""fast_bitrix24's result shapes, where they are not its bugs.

* ``call()`` unwraps an answer that is a mapping with one key, as fast_bitrix24 does:
  ``crm.item.add`` gives the item (not ``{"item": {...}}``), ``tasks.task.get`` the task,
  ``crm.item.list`` its rows. One level only; lists and mappings of several keys stay as they are.
* ``call()`` of a read over many items gives one flat list of rows when every item's result is a
  list (a list method per item), in input order; otherwise a tuple with one result per item.
  Writes always keep one outcome per item.
* ``get_by_ID`` keys its results by the id as ``str`` (``"9"`` for ``9`` and ``"9"``), as they come
  back from a batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .writes import is_write

__all__ = ["many", "unwrap"]


def unwrap(result: Any) -> Any:
    """The value of a mapping with a single key; anything else as it is."""
    if isinstance(result, Mapping) and len(result) == 1:
        return next(iter(result.values()))
    return result


def many(method: str, results: Sequence[Any]) -> tuple[Any, ...] | list[Any]:
    """The unwrapped results of ``call()`` over many items: one flat list when *method* reads and
    every result is a list, else a tuple in input order."""
    if results and not is_write(method) and all(isinstance(r, list) for r in results):
        return [row for result in results for row in result]
    return tuple(results)
