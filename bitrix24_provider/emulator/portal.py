"""The emulated portal's state and call execution, independent of HTTP.

One :class:`Portal` holds the data, the clock, both limits, the OAuth server, fault injection and
the counters. :meth:`Portal.execute` runs one HTTP hit's worth of work (a direct call or a batch)
and says how much server time it took; the HTTP layer waits that long and writes the response.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from .auth import OAuthServer, Principal
from .clock import PortalClock
from .config import EmulatorConfig
from .errors import RestError, method_not_found
from .events import OfflineEvents
from .faults import FaultInjector
from .handlers import build_handlers
from .jsonrows import written
from .limits import HitMeter, LeakyBucket, OperatingLimiter
from .params import parse_batch_command
from .references import resolve
from .registry import CallInfo, MethodResult
from .store import Store

BATCH_MAX_LENGTH = 50
#: ``duration`` exceeds ``processing`` by the request's own overhead (contract §2.1 captures).
_TRANSPORT_SECONDS = 0.0015


def operation_time_limit() -> RestError:
    return RestError("OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.", 429)


def query_limit_exceeded() -> RestError:
    return RestError("QUERY_LIMIT_EXCEEDED", "Too many requests", 503)


@dataclass
class Counters:
    http_by_status: Counter[str] = field(default_factory=Counter)
    commands_by_method: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    rows_served: int = 0
    server_seconds: float = 0.0
    in_flight: int = 0
    max_in_flight: int = 0

    def enter(self) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        self.in_flight -= 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "http_requests": sum(self.http_by_status.values()),
            "http_by_status": dict(self.http_by_status),
            "commands": sum(self.commands_by_method.values()),
            "commands_by_method": dict(self.commands_by_method),
            "faults": dict(self.faults),
            "rows_served": self.rows_served,
            "server_seconds": round(self.server_seconds, 6),
            "max_in_flight": self.max_in_flight,
        }


@dataclass
class Outcome:
    """What one hit produced: a JSON body and status, the server time it took, and whether the
    request ran past the portal's request timeout."""

    body: dict[str, Any]
    status: int = 200
    cost: float = 0.0
    timed_out: bool = False


class Portal:
    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.clock = PortalClock(self.config.time_scale)
        self.store = Store.seeded(self.config)
        self.handlers = build_handlers(self.store)
        self.events = OfflineEvents(lambda: self.config.app_admin, lambda: self.config.offline_extended)
        self.handlers.update(self.events.handlers(self.handlers))
        size, rate = self.config.bucket()
        self.bucket = LeakyBucket(size, rate, self.clock.now)
        self.limiter = OperatingLimiter(
            self.config.operating_limit,
            self.config.operating_window,
            self.config.operating_baskets,
            self.config.operating_min_fix,
            self.clock.now,
        )
        self.oauth = OAuthServer(self.config)
        self.faults = FaultInjector(self.config.faults)
        self.counters = Counters()
        self._zone = _zone(self.config.utc_offset)
        #: Serve through the per-row reference path (rows value by value, ``phpize`` +
        #: ``json.dumps``) instead of the column path and orjson; the answers are the same bytes.
        self.reference = False
        #: Called with (lower-case method, parameters) before every command runs, direct or inside a
        #: batch (after its ``$result`` references are resolved), on the emulator's thread: tests
        #: change data at chosen points of an export with :meth:`apply` and :meth:`PortalClock.advance`.
        self.before_command: Callable[[str, Mapping[str, Any]], None] | None = None

    # -- configuration ---------------------------------------------------------------------

    def reconfigure(self, changes: dict[str, Any]) -> None:
        """Apply runtime changes; the clock stays continuous when ``time_scale`` changes."""
        self.config.update(changes)
        if self.clock.time_scale != self.config.time_scale:
            self.clock = PortalClock(self.config.time_scale, epoch=self.clock.now())
            self.bucket._now = self.limiter._now = self.clock.now
        self.bucket.capacity, self.bucket.drain_rate = self.config.bucket()
        self.limiter.limit = self.config.operating_limit
        self._zone = _zone(self.config.utc_offset)

    def reset(self, counters: bool = True, limits: bool = True) -> None:
        if counters:
            in_flight = self.counters.in_flight
            self.counters = Counters(in_flight=in_flight, max_in_flight=in_flight)
        if limits:
            self.bucket.reset()
            self.limiter.reset()

    def restore(self, entity: str, rid: int) -> None:
        """Bring a deleted record back as the recycle bin does, with its id and values (REST has no
        method for it). KeyError: unknown entity, or *rid* was not deleted."""
        self.store.table(entity).restore(rid)

    def stats(self) -> dict[str, Any]:
        return {
            **self.counters.as_dict(),
            "bucket_high_water": self.bucket.high_water,
            "operating_by_method": self.limiter.snapshot(),
            "oauth_refreshes": self.oauth.refreshes,
            "oauth_rejected_refreshes": self.oauth.rejected_refreshes,
            "portal_time": self.clock.now(),
        }

    def apply(self, method: str, params: dict[str, Any]) -> Any:
        """Run one method on the portal's data as the webhook's user and return its ``result``:
        no HTTP, no limits, no faults, no counters. How tests write from the portal's side (a user
        editing a deal in the browser), also from inside :attr:`before_command`."""
        handler = self.handlers.get(method.lower())
        if handler is None:
            raise method_not_found()
        info = CallInfo(self.clock.now(), self.config.utc_offset, self.config.user_id, "webhook")
        return handler(params, info).result

    # -- execution ---------------------------------------------------------------------------

    def execute(
        self, principal: Principal, method: str, params: dict[str, Any], silent_empty: bool = False
    ) -> Outcome:
        method = method.lower()
        start = self.clock.now()
        meter = HitMeter(self.limiter, principal.credential)
        if method == "batch":
            return self._batch(principal, params, start, meter, silent_empty)
        self._bill_check(principal, method)
        result, cost = self._call(principal, method, params, start, meter)
        cost += self.config.costs.per_request
        if isinstance(result, RestError):
            raise result
        body: dict[str, Any] = {"result": result.result}
        if result.next is not None:
            body["next"] = result.next
        if result.total is not None:
            body["total"] = result.total
        body["time"] = self._time_block(principal, self._billed(method), start, cost, cost)
        return Outcome(body, cost=cost, timed_out=cost > self.config.request_timeout)

    def _billed(self, method: str) -> str:
        return "batch" if self.config.batch_billing == "batch" else method

    def _bill_check(self, principal: Principal, method: str) -> None:
        if self.limiter.is_blocked(principal.credential, self._billed(method)):
            raise operation_time_limit()

    def _call(
        self, principal: Principal, method: str, params: dict[str, Any], at: float, meter: HitMeter
    ) -> tuple[MethodResult | RestError, float]:
        handler = self.handlers.get(method)
        if handler is None:
            return method_not_found(), 0.0
        info = CallInfo(at, self.config.utc_offset, principal.user_id, principal.auth_type, self.reference)
        if self.before_command is not None:
            self.before_command(method, params)
        try:
            if method in (m.lower() for m in self.config.failing_methods):
                raise RestError("INTERNAL_SERVER_ERROR", "Internal server error", 500)
            if method in self.config.no_keyset_methods:
                _refuse_id_cursor(params)
            result = handler(params, info)
        except RestError as error:
            cost = self.config.costs.base
            meter.add(self._billed(method), cost, at)
            self.counters.commands_by_method[method] += 1
            self.counters.server_seconds += cost
            return error, cost
        cost = self._cost(result)
        meter.add(self._billed(method), cost, at)
        self.counters.commands_by_method[method] += 1
        self.counters.rows_served += result.rows
        self.counters.server_seconds += cost
        return result, cost

    def _cost(self, result: MethodResult) -> float:
        costs = self.config.costs
        return (
            costs.base
            + costs.family_base.get(result.family, 0.0)
            + costs.per_row * result.rows
            + costs.per_skipped_row * result.skipped
            + costs.per_counted_row * result.counted
            + costs.per_write * result.writes
        )

    def _batch(
        self,
        principal: Principal,
        params: dict[str, Any],
        start: float,
        meter: HitMeter,
        silent_empty: bool,
    ) -> Outcome:
        commands = _batch_commands(params)
        halt = str(_param(params, "halt") or "0").lower() in ("1", "true", "y")
        maps: dict[str, dict[str, Any]] = {k: {} for k in ("result", "error", "total", "next", "time")}
        elapsed = self.config.costs.batch_overhead + self.config.costs.per_request
        timed_out = False
        for index, (key, command) in enumerate(commands):
            if index >= BATCH_MAX_LENGTH:
                maps["error"][key] = RestError(
                    "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded"
                ).body()
                continue
            if elapsed >= self.config.request_timeout:
                timed_out = True
                break
            error, cost = self._batch_item(
                principal, key, command, start + elapsed, meter, maps, silent_empty
            )
            elapsed += cost
            if error and halt:
                break
        body = {
            "result": {
                "result": maps["result"],
                "result_error": maps["error"],
                "result_total": maps["total"],
                "result_next": maps["next"],
                "result_time": maps["time"],
            },
            "time": self._time_block(principal, "batch", start, elapsed, elapsed),
        }
        return Outcome(body, cost=elapsed, timed_out=timed_out or elapsed > self.config.request_timeout)

    def _batch_item(
        self,
        principal: Principal,
        key: str,
        command: Any,
        at: float,
        meter: HitMeter,
        maps: dict[str, dict[str, Any]],
        silent_empty: bool,
    ) -> tuple[bool, float]:
        """Run one sub-command; returns (failed, server time)."""
        if not isinstance(command, str):
            maps["error"][key] = RestError("ERROR_METHOD_NOT_FOUND", "Method not found!", 404).body()
            return True, 0.0
        method, sub_params = _parsed_command(command)
        method = method.lower()
        if method == "batch":
            maps["error"][key] = RestError(
                "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage", 405
            ).body()
            return True, 0.0
        if method in self.handlers and self.limiter.is_blocked(principal.credential, self._billed(method)):
            maps["error"][key] = operation_time_limit().body()
            return True, 0.0
        sub_params = resolve(sub_params, maps, self.config.short_page_reference)
        result, cost = self._call(principal, method, sub_params, at, meter)
        if isinstance(result, RestError):
            maps["error"][key] = result.body()
            return True, cost
        value, next_ = result.result, result.next
        if silent_empty and _is_list_result(value):
            value, next_ = _emptied(value), None
            self.counters.faults["silent_empty_commands"] += 1
        maps["result"][key] = written(value)  # the rows' dicts can go now; references read JSON
        if result.total is not None:
            maps["total"][key] = result.total
        if next_ is not None:
            maps["next"][key] = next_
        maps["time"][key] = self._time_block(principal, self._billed(method), at, cost, cost)
        return False, cost

    def _time_block(
        self, principal: Principal, billed: str, start: float, duration: float, processing: float
    ) -> dict[str, Any]:
        duration += _TRANSPORT_SECONDS
        finish = start + duration
        block: dict[str, Any] = {
            "start": round(start, 6),
            "finish": round(finish, 6),
            "duration": duration,
            "processing": processing,
            "date_start": self._iso(start),
            "date_finish": self._iso(finish),
        }
        # real portals report a reset time even before anything was billed: now + window
        reset_at = self.limiter.reset_at(principal.credential, billed)
        block["operating_reset_at"] = reset_at or math.ceil(start + self.config.operating_window)
        block["operating"] = self.limiter.operating(principal.credential, billed)
        return block

    def _iso(self, ts: float) -> str:
        return datetime.fromtimestamp(math.floor(ts), self._zone).isoformat()


@lru_cache(maxsize=1024)
def _parsed_command(command: str) -> tuple[str, dict[str, Any]]:
    """:func:`.params.parse_batch_command`, remembered: chained pages repeat the same command strings
    batch after batch. The params are shared: :func:`.references.resolve` copies them before use."""
    return parse_batch_command(command)


def _refuse_id_cursor(params: dict[str, Any]) -> None:
    filter_ = _param(params, "filter")
    if isinstance(filter_, dict) and any(str(k).lstrip("<>=!@%").lower() == "id" for k in filter_):
        raise RestError("INVALID_ARG_VALUE", "Invalid filter: field 'ID' is not allowed in filter", 400)


def _zone(offset: str) -> timezone:
    sign = -1 if offset.startswith("-") else 1
    hours, minutes = offset.lstrip("+-").split(":")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))


def _param(params: dict[str, Any], name: str) -> Any:
    """Batch reads its own parameter names case-insensitively (``cmd``/``CMD``, ``halt``/``HALT``)."""
    for key, value in params.items():
        if isinstance(key, str) and key.lower() == name:
            return value
    return None


def _batch_commands(params: dict[str, Any]) -> list[tuple[str, Any]]:
    cmd = _param(params, "cmd")
    if isinstance(cmd, list):
        return [(str(i), c) for i, c in enumerate(cmd)]
    if isinstance(cmd, dict):
        return [(str(k), c) for k, c in cmd.items()]
    if cmd is None or cmd == "":
        return []
    raise RestError("ERROR_ARGUMENT", "Argument 'cmd' must be array", 400, argument="cmd")


def _is_list_result(value: Any) -> bool:
    """A list page by its shape (whatever the method is called): a list or ``{key: [...]}``."""
    if isinstance(value, list):
        return True
    return isinstance(value, dict) and len(value) == 1 and isinstance(next(iter(value.values())), list)


def _emptied(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: [] for k in value}
    return []


__all__ = ["Counters", "Outcome", "Portal", "query_limit_exceeded"]
