"""``call()``: one method applied to items, with an outcome for every item.

Every item ends as its result, a :class:`BitrixError` (the portal refused it, or its request
provably did not run), or an :class:`OutcomeUnknown` (it writes, and its request failed after the
portal may have run it; never sent again on its own). Two opt-ins settle unknown outcomes:

* ``retry_unknown=True``: the caller declares the method safe to repeat; requests are sent again
  after such failures too, under the normal attempt budget (:meth:`Transport.request`).
* ``external_key`` (:mod:`.external_keys`): the items that ended unknown are looked up by their key
  once the portal's request cap (``ClientSettings.portal_request_cap``) has passed since their
  request went out, so none of them can still be running; found ones succeeded, the others are
  sent again, under the same rules. At most ``ClientSettings.retry.max_attempts`` rounds; an item
  still not found after the last one did not run and is reported failed. When the lookup itself
  fails, the items stay unknown.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from .batch import Command, run_commands
from .errors import BitrixError, OutcomeUnknown, TransportError
from .external_keys import ExternalKey, ListRows
from .settings import ClientSettings
from .throttle import Clock
from .transport import Transport

__all__ = ["ItemCall", "Send", "send_batched", "send_direct"]

log = logging.getLogger("bitrix24_provider.client")

#: sends the items ``{index: params}`` and returns ``{index: result, error or OutcomeUnknown}``
Send = Callable[[Mapping[int, Mapping[str, Any]]], Awaitable[dict[int, Any]]]


def send_batched(transport: Transport, settings: ClientSettings, method: str, retry_unknown: bool) -> Send:
    """Items as commands of batches, keyed ``c<index>``."""

    async def send(items: Mapping[int, Mapping[str, Any]]) -> dict[int, Any]:
        commands = {f"c{i}": Command(method, item) for i, item in items.items()}
        outcome = await run_commands(
            transport, commands, settings.batch_size, settings.operating_retries, retry_unknown=retry_unknown
        )
        sent: dict[int, Any] = {}
        for i in items:
            key = f"c{i}"
            if key in outcome.unknown:
                sent[i] = outcome.unknown[key].for_item(method, i)
            else:
                sent[i] = outcome.results[key] if key in outcome.results else outcome.errors[key]
        return sent

    return send


def send_direct(transport: Transport, method: str, retry_unknown: bool) -> Send:
    """One item as the parameters of one request; errors other than an unknown outcome raise."""

    async def send(items: Mapping[int, Mapping[str, Any]]) -> dict[int, Any]:
        ((index, params),) = items.items()
        try:
            return {index: (await transport.request(method, params, retry_unknown=retry_unknown))["result"]}
        except OutcomeUnknown as unknown:
            return {index: unknown}

    return send


class ItemCall:
    """The rounds of one ``call()``: send, then (with an external key) settle what is unknown."""

    def __init__(
        self,
        items: Sequence[Mapping[str, Any]],
        send: Send,
        *,
        key: ExternalKey | None,
        list_rows: ListRows,
        clock: Clock,
        settings: ClientSettings,
    ) -> None:
        self.items = items
        self.send = send
        self.key = key
        self.values = key.values(items) if key is not None else []  # checked before any request
        self.list_rows = list_rows
        self.clock = clock
        self.settings = settings

    async def run(self) -> list[Any]:
        """Every item's outcome, in input order."""
        outcomes: dict[int, Any] = {}
        pending = list(range(len(self.items)))
        rounds = self.settings.retry.max_attempts
        for round_ in range(1, rounds + 1):
            outcomes.update(await self.send({i: self.items[i] for i in pending}))
            unknown = [i for i in pending if isinstance(outcomes[i], OutcomeUnknown)]
            if self.key is None or not unknown:
                break
            try:
                found = await self._settle(self.key, {i: outcomes[i] for i in unknown})
            except BitrixError as error:
                log.warning(
                    "%s: looking up %s items by %s failed (%s); their outcome stays unknown",
                    self.key.method,
                    len(unknown),
                    self.key.field,
                    type(error).__name__,
                )
                break
            outcomes.update(found)
            pending = [i for i in unknown if i not in found]
            if round_ == rounds:
                for i in pending:  # looked up after the cap and not found: it did not run
                    outcomes[i] = TransportError(
                        f"not added: no record has {self.key.field} {self.values[i]!r} after "
                        f"{rounds} attempts",
                        method=self.key.method,
                        cause=outcomes[i].cause,
                    )
            if not pending:
                break
        return [outcomes[i] for i in range(len(self.items))]

    async def _settle(self, key: ExternalKey, unknown: Mapping[int, OutcomeUnknown]) -> dict[int, Any]:
        """Wait out the portal's request cap after the latest of *unknown* went out; look them up."""
        now = self.clock.monotonic()
        latest = max(now if u.sent_at is None else u.sent_at for u in unknown.values())
        wait = latest + self.settings.portal_request_cap - now
        log.info(
            "%s: %s items with an unknown outcome; looking them up by %s in %.1fs",
            key.method,
            len(unknown),
            key.field,
            max(0.0, wait),
        )
        await self.clock.sleep(wait)
        return await key.look_up(self.list_rows, {i: self.items[i] for i in unknown}, self.values)
