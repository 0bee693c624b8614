"""``batch`` calls: building the command strings, reading the five result maps back (with PHP's
``[]``-for-empty-map quirk), billing each command's time to its own method, and running many
commands in batches with a resume of exactly the commands the operating limit blocked."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .encoding import batch_command, batch_params
from .errors import BitrixAPIError, OperationTimeLimit, TransportError, error_from_response
from .transport import Transport


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
    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, BitrixAPIError] = field(default_factory=dict)
    totals: dict[str, Any] = field(default_factory=dict)
    nexts: dict[str, Any] = field(default_factory=dict)
    times: dict[str, Any] = field(default_factory=dict)

    def merge(self, other: BatchOutcome) -> None:
        for mine, theirs in (
            (self.results, other.results),
            (self.totals, other.totals),
            (self.nexts, other.nexts),
            (self.times, other.times),
        ):
            mine.update(theirs)
        self.errors.update(other.errors)
        for key in other.results:
            self.errors.pop(key, None)


_MAPS = ("result", "result_error", "result_total", "result_next", "result_time")


def _as_map(value: Any, keys: Sequence[str]) -> dict[str, Any]:
    """PHP serialises an empty map as ``[]`` and a map keyed 0..n-1 as a list."""
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):
        numeric = [k for k in keys if k.isdigit()]
        return {numeric[i] if i < len(numeric) else str(i): v for i, v in enumerate(value)}
    return {}


def _validate(payload: Mapping[str, Any]) -> None:
    result = payload.get("result")
    if not isinstance(result, Mapping) or not all(name in result for name in _MAPS):
        raise TransportError(
            "batch: the answer lacks the batch result maps", method="batch", cause="malformed_batch"
        )


async def send_batch(
    transport: Transport, commands: Mapping[str, Command], halt: bool = False
) -> BatchOutcome:
    """One ``batch`` HTTP request for up to 50 commands."""
    keys = list(commands)
    cmd = {key: c.text() for key, c in commands.items()}
    methods = [c.method for c in commands.values()]
    payload = await transport.request(
        "batch", batch_params(cmd, halt=halt), budget_methods=methods, validate=_validate
    )
    maps = {name: _as_map(payload["result"][name], keys) for name in _MAPS}
    outcome = BatchOutcome(
        results={k: v for k, v in maps["result"].items() if k in commands},
        totals=maps["result_total"],
        nexts=maps["result_next"],
        times=maps["result_time"],
    )
    for key, body in maps["result_error"].items():
        method = commands[key].method if key in commands else "batch"
        outcome.errors[key] = error_from_response(None, body if isinstance(body, Mapping) else None, method)
    by_key = {key: c.method for key, c in commands.items()}
    transport.throttle.budget.record_batch(by_key, outcome.times)
    stats = transport.stats
    stats.commands += len(outcome.results) + len(outcome.errors)
    for key, block in outcome.times.items():
        if key in by_key and isinstance(block, Mapping):
            stats.server_time[by_key[key].lower()] += float(block.get("processing") or 0.0)
    return outcome


async def run_commands(
    transport: Transport, commands: Mapping[str, Command], batch_size: int, operating_retries: int
) -> BatchOutcome:
    """Run any number of commands in batches, concurrently; commands that the operating limit
    blocked are sent again (after the budget's wait) until they run or the retries are spent.
    Other per-command errors are returned in ``errors``; transport-level failures raise."""
    outcome = BatchOutcome()
    pending = dict(commands)
    for _ in range(operating_retries + 1):
        keys = list(pending)
        chunks = [keys[i : i + batch_size] for i in range(0, len(keys), batch_size)]
        results = await asyncio.gather(
            *(send_batch(transport, {k: pending[k] for k in chunk}) for chunk in chunks)
        )
        for part in results:
            outcome.merge(part)
        blocked = {k for k, e in outcome.errors.items() if isinstance(e, OperationTimeLimit) and k in pending}
        if not blocked:
            break
        transport.stats.retries["operation_time_limit"] += len(blocked)
        for key in blocked:
            transport.throttle.budget.block(pending[key].method)
        pending = {k: pending[k] for k in keys if k in blocked}
    return outcome
