"""Whole lists, page by page, with proof of completeness; whether a method pages is decided by its
answer, not by its name.

A method of a family that supports the id cursor (:mod:`.families`) is read by **keyset**
(:mod:`.keyset`). Any other method is called once as the caller wrote it; when that first answer is
a list page with ``next`` or ``total``, the rest is read by **offset** (:mod:`.offset`), whatever
the method is called (``lists.element.get``, ``department.get``, ``disk.folder.getchildren``...);
otherwise the answer is the method's result, as the portal sent it. A list is complete, or
:class:`IncompleteResultError` says what is missing: never a silent first page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import InvalidParams
from .families import family_of
from .keyset import KeysetPager, KeysetPlan, checked_ranges, keyset_plan
from .offset import OffsetPager
from .pages import IdRange, OnRanges, Page, close, pages_follow, report, rows_of
from .settings import ClientSettings
from .transport import Transport

__all__ = ["Exporter", "IdRange", "KeysetPlan", "Listing", "OnRanges", "Page", "keyset_plan", "rows_of"]


@dataclass(frozen=True)
class Listing:
    """What a method's first answer said: the ``pages`` of a list, or (``pages`` None) the
    ``result`` of an answer that does not page, as the portal sent it."""

    method: str
    pages: AsyncIterator[Page] | None = None
    result: Any = None

    def single_page(self) -> Page:
        """The rows of an answer that does not page; :class:`TypeError` when it is no list."""
        try:
            return rows_of(self.result, family_of(self.method))
        except TypeError:
            raise TypeError(
                f"{self.method} answered a {type(self.result).__name__}, not a list: "
                "iter_all streams lists; get_all returns other answers as they are"
            ) from None


class Exporter:
    """Runs keyset and offset exports over one transport."""

    def __init__(self, transport: Transport, settings: ClientSettings) -> None:
        self.transport = transport
        self.keyset = KeysetPager(transport, settings)
        self.offset = OffsetPager(transport, settings)

    async def open(
        self,
        method: str,
        params: Mapping[str, Any],
        limit: int | None = None,
        *,
        ranges: Sequence[IdRange] | None = None,
        on_ranges: OnRanges | None = None,
    ) -> Listing:
        """Start reading ``method``: a keyset export at once, any other method by its first answer."""
        if "start" in params:
            raise ValueError("do not pass 'start': get_all and iter_all page by themselves")
        plan = keyset_plan(method, params)
        if ranges is not None:
            if plan is None:
                raise ValueError(f"ranges resume a keyset export; {method} with these params pages by offset")
            source = self.keyset.pages(plan, limit, checked_ranges(ranges), on_ranges)
        elif plan is not None:
            source = self._keyset_or_offset(plan, params, limit, on_ranges)
        else:
            first = await self.transport.request(method, params)
            if not pages_follow(first, family_of(method)):
                return Listing(method, result=first["result"])
            report(on_ranges, None)
            source = self.offset.pages(method, params, first)
        return Listing(method, _limited(source, limit))

    async def _keyset_or_offset(
        self, plan: KeysetPlan, params: Mapping[str, Any], limit: int | None, on_ranges: OnRanges | None
    ) -> AsyncIterator[Page]:
        """Keyset paging; when the method refuses the id cursor before any page came, offset paging."""
        source = self.keyset.pages(plan, limit, None, on_ranges)
        started = False
        try:
            async for page in source:
                started = True
                yield page
            return
        except InvalidParams:
            if started:
                raise
        finally:
            await close(source)
        self.transport.stats.retries["keyset_fallback"] += 1
        report(on_ranges, None)
        first = await self.transport.request(plan.method, params)
        fallback = self.offset.pages(plan.method, params, first)
        try:
            async for page in fallback:
                yield page
        finally:
            await close(fallback)


async def _limited(source: AsyncIterator[Page], limit: int | None) -> AsyncIterator[Page]:
    """``source`` up to ``limit`` rows; it is closed when the caller stops early."""
    sent = 0
    try:
        async for page in source:
            if limit is not None and sent + len(page) >= limit:
                yield page[: limit - sent]
                return
            sent += len(page)
            yield page
    finally:
        await close(source)
