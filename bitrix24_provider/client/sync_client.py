"""``Bitrix``: the synchronous twin of :class:`BitrixAsync`.

Every call runs on the client's private event loop thread, so it returns results (never a Task)
also when called from inside a running event loop (Jupyter, async web frameworks).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from .async_client import BitrixAsync, Items, _Slow
from .listing import IdRange, OnRanges, Page
from .sync import LoopThread
from .throttle import ThrottleState


class Bitrix:
    """Same constructor arguments as :class:`BitrixAsync`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._loop = LoopThread()
        self.aio = BitrixAsync(*args, **kwargs)

    @property
    def stats(self) -> Any:
        return self.aio.stats

    def get_all(self, method: str, params: Mapping[str, Any] | None = None, limit: int | None = None) -> Any:
        return self._loop.run(self.aio.get_all(method, params, limit))

    def iter_all(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        limit: int | None = None,
        *,
        ranges: Sequence[IdRange] | None = None,
        on_ranges: OnRanges | None = None,
    ) -> Iterator[Page]:
        """A generator of pages; memory stays bounded by the pages in flight. ``ranges`` and
        ``on_ranges`` as in :meth:`BitrixAsync.iter_all` (``on_ranges`` runs on the client's thread,
        before any page of the new ranges is yielded)."""
        pages = self.aio.iter_all(method, params, limit, ranges=ranges, on_ranges=on_ranges)
        return self._loop.iterate(pages)

    def get_by_ID(
        self,
        method: str,
        ID_list: Iterable[Any],
        ID_field_name: str = "ID",
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        return self._loop.run(self.aio.get_by_ID(method, ID_list, ID_field_name, params))

    def list_and_get(
        self,
        method_branch: str,
        ID_field_name: str = "ID",
        filter: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        return self._loop.run(self.aio.list_and_get(method_branch, ID_field_name, filter))

    def call(
        self,
        method: str,
        items: Items | None = None,
        raw: bool = False,
        *,
        return_errors: bool = False,
        retry_unknown: bool = False,
        external_key: str | None = None,
    ) -> Any:
        """See :meth:`BitrixAsync.call`."""
        call = self.aio.call(
            method,
            items,
            raw,
            return_errors=return_errors,
            retry_unknown=retry_unknown,
            external_key=external_key,
        )
        return self._loop.run(call)

    def call_batch(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return self._loop.run(self.aio.call_batch(params))

    def request(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """See :meth:`BitrixAsync.request`."""
        return self._loop.run(self.aio.request(method, params))

    def slow(self, max_concurrent_requests: int = 1) -> _Slow:
        return self.aio.slow(max_concurrent_requests)

    def export_throttle_state(self) -> ThrottleState:
        return self.aio.export_throttle_state()

    def restore_throttle_state(self, state: Mapping[str, Any]) -> None:
        self.aio.restore_throttle_state(state)

    def close(self) -> None:
        self._loop.run(self.aio.close())
        self._loop.close()

    def __enter__(self) -> Bitrix:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
