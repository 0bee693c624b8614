"""Offset paging (contract §3.1), for every list that cannot be read by id cursor: methods of no
known keyset family, a custom ``order``, a method that refuses the cursor.

It starts from the method's first answer, sent as the caller wrote it: ``start=50, 100, ...`` up to
the ``total`` that answer counted, in batches of up to 50 commands, a few batches at a time. Every
page before the last must be full (a short one is fetched again on its own), and the rows received
must match ``total`` once ids seen twice are removed, or :class:`IncompleteResultError` is raised.
An answer with ``next`` but no ``total`` is followed one page after the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

from .batch import Command, send_batch
from .errors import IncompleteResultError, OperationTimeLimit
from .families import ListFamily, family_of
from .pages import PAGE, Page, rows_of
from .settings import ClientSettings
from .transport import Transport


class OffsetPager:
    """Reads the rest of a list after its first page, by offset."""

    def __init__(self, transport: Transport, settings: ClientSettings) -> None:
        self.transport = transport
        self.settings = settings

    async def pages(
        self, method: str, params: Mapping[str, Any], first: Mapping[str, Any]
    ) -> AsyncIterator[Page]:
        """``first`` is the method's answer to ``params`` (no ``start``): its page, then the others."""
        family = family_of(method)
        rows = rows_of(first["result"], family)
        self.transport.stats.rows += len(rows)
        seen = _Seen(_id_field(family, rows))
        seen.add(rows)
        yield rows
        total = first.get("total")
        if not isinstance(total, int) or isinstance(total, bool):
            async for page in self._follow(method, params, family, first.get("next"), seen):
                yield page
            return
        # after the rows the first answer brought (some methods answer more than a page: all 52
        # categories of crm.category.list in one answer with total 52)
        offsets = list(range(len(rows), total, PAGE)) if rows else []
        size = self.settings.batch_size
        chunks = [offsets[i : i + size] for i in range(0, len(offsets), size)]
        window = self.settings.requests_in_flight()
        pending: list[asyncio.Task[list[Page]]] = []
        try:
            for index in range(len(chunks)):
                while len(pending) < window and index + len(pending) < len(chunks):
                    chunk = chunks[index + len(pending)]
                    pending.append(asyncio.create_task(self._chunk(method, params, family, chunk, total)))
                pages = await pending.pop(0)
                for page in pages:
                    seen.add(page)
                    yield page
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if seen.count != total:
            raise IncompleteResultError(
                method,
                expected=total,
                received=seen.count,
                detail="offset paging received another number of rows than the total (data changed?)",
            )

    async def _follow(
        self, method: str, params: Mapping[str, Any], family: ListFamily, start: Any, seen: _Seen
    ) -> AsyncIterator[Page]:
        """Pages by ``next`` when no ``total`` says how many rows to plan for."""
        previous = 0
        while start is not None:
            if not isinstance(start, int) or isinstance(start, bool) or start <= previous:
                raise IncompleteResultError(
                    method, received=seen.count, detail=f"'next' did not move forward: {start!r}"
                )
            body = await self.transport.request(method, {**params, "start": start})
            rows = rows_of(body["result"], family)
            self.transport.stats.rows += len(rows)
            seen.add(rows)
            yield rows
            previous, start = start, body.get("next")

    async def _chunk(
        self, method: str, params: Mapping[str, Any], family: ListFamily, offsets: list[int], total: int
    ) -> list[Page]:
        commands = {f"o{start}": Command(method, {**params, "start": start}) for start in offsets}
        outcome = await send_batch(self.transport, commands)
        pages = []
        for start in offsets:
            key = f"o{start}"
            expected = min(PAGE, total - start)
            rows = rows_of(outcome.results[key], family) if key in outcome.results else []
            if key in outcome.errors and not isinstance(outcome.errors[key], OperationTimeLimit):
                raise outcome.errors[key]
            if len(rows) < expected:  # emptied, blocked or lost: fetch this page on its own
                self.transport.stats.retries["short_page"] += 1
                body = await self.transport.request(method, {**params, "start": start})
                rows = rows_of(body["result"], family)
            self.transport.stats.rows += len(rows)
            pages.append(rows)
        return pages


def _id_field(family: ListFamily, rows: Page) -> str:
    """The family's id field, or the one the rows carry (``id`` in engine methods of no known family)."""
    sample = rows[0] if rows and isinstance(rows[0], Mapping) else {}
    if family.response_id in sample or not sample:
        return family.response_id
    return next((name for name in ("ID", "id") if name in sample), family.response_id)


class _Seen:
    """Counts rows once per id (offset paging can show a row twice when rows move)."""

    def __init__(self, id_field: str) -> None:
        self.id_field = id_field
        self.ids: set[Any] = set()
        self.anonymous = 0

    def add(self, rows: Page) -> None:
        for row in rows:
            value = row.get(self.id_field) if isinstance(row, Mapping) else None
            if value is None:
                self.anonymous += 1
            else:
                self.ids.add(str(value))

    @property
    def count(self) -> int:
        return len(self.ids) + self.anonymous
