"""``batch`` calls: building the command strings, reading the five result maps back (with PHP's
``[]``-for-empty-map quirk), billing each command's time to its own method, and running many
commands in batches with a resume of exactly the commands the operating limit blocked and an
outcome for every command even when its batch's request failed."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .encoding import batch_command, batch_params
from .error_codes import error_from_response
from .errors import BitrixError, OperationTimeLimit, OutcomeUnknown, TransportError
from .transport import Transport
from .writes import is_write


@dataclass(frozen=True)
class Command:
    """One command; ``query`` sends a user-written query string as is instead of ``params``."""

    method: str
    params: Mapping[str, Any] = field(default_factory=dict)
    query: str | None = None

    def text(self) -> str:
        if self.query is None:
            return batch_command(self.method, self.params)
        return f"{self.method}?{self.query}" if self.query else self.method


@dataclass
class BatchOutcome:
    """Per command key: its result, its error, or (a write whose request failed after it may have
    run) its :class:`OutcomeUnknown`; plus the ``total``/``next``/``time`` maps."""

    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, BitrixError] = field(default_factory=dict)
    totals: dict[str, Any] = field(default_factory=dict)
    nexts: dict[str, Any] = field(default_factory=dict)
    times: dict[str, Any] = field(default_factory=dict)
    #: the batch request's own ``time`` block (empty for merged outcomes)
    time: dict[str, Any] = field(default_factory=dict)
    unknown: dict[str, OutcomeUnknown] = field(default_factory=dict)

    def merge(self, other: BatchOutcome) -> None:
        """Add *other*; a command's newer outcome replaces its older one."""
        for key in (*other.results, *other.errors, *other.unknown):
            for outcomes in (self.results, self.errors, self.unknown):
                outcomes.pop(key, None)
        self.errors.update(other.errors)
        self.unknown.update(other.unknown)
        for mine, theirs in (
            (self.results, other.results),
            (self.totals, other.totals),
            (self.nexts, other.nexts),
            (self.times, other.times),
        ):
            mine.update(theirs)

    def has(self, key: str) -> bool:
        return key in self.results or key in self.errors or key in self.unknown


_MAPS = ("result", "result_error", "result_total", "result_next", "result_time")


def _as_map(value: Any) -> dict[str, Any]:
    """PHP serialises an empty map as ``[]`` and a map keyed exactly 0..n-1, in that order, as a
    list: its n-th element is key ``n``."""
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    return {}


def _validate(payload: Mapping[str, Any]) -> None:
    result = payload.get("result")
    if not isinstance(result, Mapping) or not all(name in result for name in _MAPS):
        raise TransportError(
            "batch: the answer lacks the batch result maps", method="batch", cause="malformed_batch"
        )


async def send_batch(
    transport: Transport, commands: Mapping[str, Command], halt: bool = False, *, retry_unknown: bool = False
) -> BatchOutcome:
    """One ``batch`` HTTP request for up to 50 commands; its failure raises (``retry_unknown``: see
    :meth:`Transport.request`)."""
    cmd = {key: c.text() for key, c in commands.items()}
    methods = [c.method for c in commands.values()]
    payload = await transport.request(
        "batch",
        batch_params(cmd, halt=halt),
        budget_methods=methods,
        validate=_validate,
        retry_unknown=retry_unknown,
    )
    maps = {name: _as_map(payload["result"][name]) for name in _MAPS}
    outcome = BatchOutcome(
        results={k: v for k, v in maps["result"].items() if k in commands},
        totals=maps["result_total"],
        nexts=maps["result_next"],
        times=maps["result_time"],
        time=dict(payload["time"]) if isinstance(payload.get("time"), Mapping) else {},
    )
    for key, body in maps["result_error"].items():
        method = commands[key].method if key in commands else "batch"
        outcome.errors[key] = error_from_response(None, body if isinstance(body, Mapping) else None, method)
    by_key = {key: c.method for key, c in commands.items()}
    transport.throttle.answered_batch(by_key, outcome.times)
    stats = transport.stats
    stats.commands += len(outcome.results) + len(outcome.errors)
    for key, block in outcome.times.items():
        if key in by_key and isinstance(block, Mapping):
            stats.server_time[by_key[key].lower()] += float(block.get("processing") or 0.0)
    return outcome


async def run_commands(
    transport: Transport,
    commands: Mapping[str, Command],
    batch_size: int,
    operating_retries: int,
    *,
    retry_unknown: bool = False,
) -> BatchOutcome:
    """Run any number of commands in batches, concurrently; commands that the operating limit
    blocked are sent again (after the budget's wait) until they run or the retries are spent.

    Every command ends with an outcome. When a batch's request fails, its commands get that error
    (the portal refused the request, or it provably did not run) or, when it writes and may have
    run, an :class:`OutcomeUnknown` each; the other batches go on."""
    outcome = BatchOutcome()
    pending = dict(commands)
    for _ in range(operating_retries + 1):
        keys = list(pending)
        chunks = [keys[i : i + batch_size] for i in range(0, len(keys), batch_size)]
        results = await asyncio.gather(
            *(_send_chunk(transport, {k: pending[k] for k in chunk}, retry_unknown) for chunk in chunks)
        )
        for part in results:
            outcome.merge(part)
        blocked = {k for k, e in outcome.errors.items() if isinstance(e, OperationTimeLimit) and k in pending}
        if not blocked:
            break
        transport.stats.retries["operation_time_limit"] += len(blocked)
        transport.throttle.blocked(*{pending[key].method for key in blocked})
        pending = {k: pending[k] for k in keys if k in blocked}
    for key, error in outcome.errors.items():  # blocks given up on: when to come back
        if isinstance(error, OperationTimeLimit) and key in pending:
            transport.blocked(error, (pending[key].method,))
    return outcome


async def _send_chunk(
    transport: Transport, commands: Mapping[str, Command], retry_unknown: bool
) -> BatchOutcome:
    try:
        outcome = await send_batch(transport, commands, retry_unknown=retry_unknown)
    except OutcomeUnknown as unknown:
        return BatchOutcome(unknown={k: unknown.for_item(c.method, None) for k, c in commands.items()})
    except BitrixError as error:
        return BatchOutcome(errors=dict.fromkeys(commands, error))
    for key, command in commands.items():
        if not outcome.has(key):  # in none of the answer's maps: it may or may not have run
            cause = "the batch answer lacks the command"
            if is_write(command.method):
                outcome.unknown[key] = OutcomeUnknown(command.method, cause)
            else:
                outcome.errors[key] = TransportError(cause, method=command.method, cause="missing_command")
    return outcome
