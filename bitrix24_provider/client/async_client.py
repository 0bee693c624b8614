"""``BitrixAsync``: fast_bitrix24's API on a client that holds the portal's limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import aiohttp

from . import arguments
from .auth import Auth, OAuthCredentials, TokenFunc
from .batch import BatchOutcome, Command, run_commands, send_batch
from .calls import ItemCall, send_batched, send_direct
from .errors import BatchError, BitrixError, InvalidArgument, OutcomeUnknown
from .external_keys import ExternalKey
from .listing import Exporter, IdRange, OnRanges, Page
from .progress import Progress
from .redact import SECRETS, SecretRegistry
from .settings import ClientSettings
from .shapes import many, unwrap
from .stats import Stats
from .throttle import ScaledClock, Throttle, ThrottleState, open_throttle
from .transport import SSLOption, Transport

T = TypeVar("T")
#: one item's parameters or many items; with ``raw=True`` also a list of positional parameters
Items = Mapping[str, Any] | Iterable[Mapping[str, Any]] | Sequence[Any]


class BitrixAsync:
    """An async Bitrix24 client.

    :param webhook: the incoming webhook URL ``https://<portal>/rest/<user>/<code>/``, or the REST
        endpoint (``https://<portal>/rest/``) together with ``token_func`` or ``oauth``.
    :param token_func: an async function returning an access token (called first and on expiry).
    :param oauth: built-in OAuth refresh; rotated tokens are handed to ``oauth.on_refresh``.
    :param verbose: tqdm progress bars; ``None`` shows them only on a terminal.
    :param respect_velocity_policy, request_pool_size, requests_per_second, batch_size,
        operating_time_limit: as in fast_bitrix24 (defaults: ``True``, the plan's bucket, 50, 480 s);
        ``None`` keeps the value of ``settings``.
    :param client: an aiohttp session to use (the client then never closes it).
    :param ssl: ``True``, ``False``, an ``ssl.SSLContext`` or the path of a CA bundle.
    :param plan: ``standard`` (50 + 2/s) or ``enterprise`` (250 + 5/s).
    :param settings: every other knob (:class:`ClientSettings`); the arguments above override it.
    :param shared_throttle: where the request bucket (per portal and plan) and the operating pauses
        (per credential and method) are shared: a Redis URL (clients anywhere), ``file:///<dir>``
        or, by default, lock files of this machine; ``"none"`` keeps them in this client (see
        :class:`ClientSettings`); overrides ``settings.shared_throttle``.

    Every method checks its arguments before any request (:mod:`.arguments`): a wrong one raises
    :class:`InvalidArgument` naming it. Results have fast_bitrix24's shapes (:mod:`.shapes`).
    """

    def __init__(
        self,
        webhook: str | None = None,
        token_func: TokenFunc | None = None,
        verbose: bool | None = None,
        respect_velocity_policy: bool | None = None,
        request_pool_size: float | None = None,
        requests_per_second: float | None = None,
        batch_size: int | None = None,
        operating_time_limit: float | None = None,
        client: aiohttp.ClientSession | None = None,
        ssl: SSLOption = True,
        *,
        plan: str | None = None,
        oauth: OAuthCredentials | None = None,
        settings: ClientSettings | None = None,
        time_scale: float | None = None,
        shared_throttle: str | None = None,
    ) -> None:
        arguments.client_arguments(locals())
        base = settings or ClientSettings()
        self.settings = ClientSettings(
            **{
                **base.__dict__,
                "plan": plan or base.plan,
                "request_pool_size": request_pool_size or base.request_pool_size,
                "requests_per_second": requests_per_second or base.requests_per_second,
                "respect_velocity_policy": _pick(respect_velocity_policy, base.respect_velocity_policy),
                "batch_size": _pick(batch_size, base.batch_size),
                "operating_time_limit": _pick(operating_time_limit, base.operating_time_limit),
                "time_scale": time_scale or base.time_scale,
                "shared_throttle": shared_throttle or base.shared_throttle,
            }
        )
        self.verbose = verbose
        self.secrets: SecretRegistry = SECRETS
        self.auth = Auth(
            self.secrets, webhook=webhook if oauth is None else None, oauth=oauth, token_func=token_func
        )
        self.clock = ScaledClock(self.settings.time_scale)
        self.throttle = self._throttle(oauth, token_func)
        self.stats = Stats()
        self.transport = Transport(
            self.auth, self.settings, self.throttle, self.clock, self.stats, client, ssl
        )
        self.exporter = Exporter(self.transport, self.settings)

    # -- lifecycle --------------------------------------------------------------------------

    async def close(self) -> None:
        try:
            await self.throttle.close()
        finally:
            await self.transport.close()

    async def __aenter__(self) -> BitrixAsync:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- reading ----------------------------------------------------------------------------

    async def iter_all(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        limit: int | None = None,
        *,
        ranges: Sequence[IdRange] | None = None,
        on_ranges: OnRanges | None = None,
    ) -> AsyncIterator[Page]:
        """Stream a whole list page by page; memory is bounded by the pages in flight.

        Every row comes exactly once, or :class:`IncompleteResultError` says what is missing.
        Pages of one id range come in ascending id order; ranges exported in parallel interleave.

        Whether a method pages is decided by its answer (``next``/``total``), not by its name; an
        answer that does not page comes as one page, and one that is no list raises ``TypeError``.

        Resuming a keyset export: ``on_ranges`` receives the id ranges ``(after, upto)`` the export
        runs on whenever they change (``None`` if it pages by offset instead); a caller that keeps,
        per range, the largest id it has stored can continue later by passing the rest as
        ``ranges`` (``[(largest stored id, upto), ...]``) with the same ``params``.
        """
        method = arguments.method_name(method, "iter_all")
        checked = arguments.params(params, "iter_all", paged=True)
        limit = arguments.limit(limit, "iter_all")
        listing = await self.exporter.open(method, checked, limit, ranges=ranges, on_ranges=on_ranges)
        if listing.pages is None:
            yield listing.single_page()[:limit]
            return
        async for page in listing.pages:
            yield page

    async def get_all(
        self, method: str, params: Mapping[str, Any] | None = None, limit: int | None = None
    ) -> list[dict[str, Any]] | Any:
        """Every row of a method whose answer pages (``next``/``total``), whatever it is called, as
        one list; any other answer's result as it is (a mapping with a single key unwrapped as in
        :func:`.shapes.unwrap`)."""
        method = arguments.method_name(method, "get_all")
        checked = arguments.params(params, "get_all", paged=True)
        limit = arguments.limit(limit, "get_all")
        listing = await self.exporter.open(method, checked, limit)
        if listing.pages is None:
            return unwrap(listing.result)
        rows: list[dict[str, Any]] = []
        with Progress(self.verbose, method) as bar:
            async for page in listing.pages:
                rows.extend(page)
                bar.update(len(page))
        return rows

    async def get_by_ID(
        self,
        method: str,
        ID_list: Iterable[Any],
        ID_field_name: str = "ID",
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``{str(id): result}`` for one call of ``method`` per id (each id once, in input order),
        in batches."""
        method = arguments.method_name(method, "get_by_ID")
        field = arguments.name(ID_field_name, "get_by_ID", "ID_field_name")
        checked = arguments.params(params, "get_by_ID", reserved=field)
        return await self._by_id(method, arguments.ids(ID_list), field, checked)

    async def list_and_get(
        self,
        method_branch: str,
        ID_field_name: str = "ID",
        filter: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``get_all(<branch>.list, select=[ID], filter)`` then ``get_by_ID(<branch>.get)``; ``{}``
        when the list is empty."""
        branch = arguments.list_branch(method_branch)
        field = arguments.name(ID_field_name, "list_and_get", "ID_field_name")
        where = arguments.filter_of(filter, "list_and_get")
        checked = arguments.params(
            {"select": [field], **({"filter": where} if where else {})}, "list_and_get"
        )
        rows = await self.get_all(f"{branch}.list", checked)
        if any(not isinstance(row, Mapping) or field not in row for row in rows):
            raise InvalidArgument(
                "list_and_get", "ID_field_name", f"{field!r} is not a field of the rows of {branch}.list"
            )
        ids = {str(row[field]): row[field] for row in rows}
        return await self._by_id(f"{branch}.get", ids, field, {})

    # -- writing ----------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        items: Items | None = None,
        raw: bool = False,
        *,
        return_errors: bool = False,
        retry_unknown: bool = False,
        external_key: str | None = None,
    ) -> Any:
        """Apply ``method`` to one item (returns its result) or many (a tuple in input order; one
        flat list of rows for a read that returned a list per item). A result that is a mapping
        with one key is unwrapped (``crm.item.add`` returns the item, see :mod:`.shapes`).

        ``raw=True`` sends ``items`` once, as a JSON body exactly as given (``None`` as ``null``; a
        list as positional parameters), and returns the whole answer.
        A write (:mod:`.writes`) whose request failed after the portal may have run it is not sent
        again: the item ends as :class:`OutcomeUnknown` (with its input index). Each item of many
        ends as its result, its error or its :class:`OutcomeUnknown`; ``return_errors=True`` puts
        them in place (a tuple, one per item), otherwise :class:`BatchError` carries them all
        (keyed ``c<index>``). One item raises its error.

        ``retry_unknown=True`` declares the method safe to repeat: unknown outcomes are sent again
        under the attempt budget. ``external_key`` (``"ORIGIN_ID"`` for the classic CRM adds,
        ``"xmlId"`` for ``crm.item.add``): every item carries a unique ``fields[external_key]``; adds
        with an unknown outcome are looked up by it and only the ones not found are sent again
        (:mod:`.calls`, :mod:`.external_keys`). Bad arguments and items raise
        :class:`InvalidArgument` and :class:`InvalidItem` before any request.
        """
        if raw:
            method = arguments.method_name(method, "call", batch_ok=True)
            if external_key is not None:
                raise InvalidArgument("call", "external_key", "needs items, not raw=True")
            body = arguments.raw_items(items)
            return await self.transport.request(method, body, retry_unknown=retry_unknown, json=True)
        method = arguments.method_name(method, "call")
        single, listed = arguments.items(items)
        key = None
        if external_key is not None:
            try:
                key = ExternalKey.of(method, external_key)
            except ValueError as error:
                raise InvalidArgument("call", "external_key", str(error)) from None
        if single:
            send = send_direct(self.transport, method, retry_unknown)
        else:
            send = send_batched(self.transport, self.settings, method, retry_unknown)
        run = ItemCall(
            listed, send, key=key, list_rows=self.get_all, clock=self.clock, settings=self.settings
        )
        if single:
            (outcome,) = await run.run()
            if isinstance(outcome, BitrixError):
                raise outcome
            return unwrap(outcome)
        with Progress(self.verbose, method, total=len(listed), unit="calls") as bar:
            outcomes = [o if isinstance(o, BitrixError) else unwrap(o) for o in await run.run()]
            bar.update(len(listed))
        if return_errors:
            return tuple(outcomes)
        _raise_outcomes({f"c{n}": outcome for n, outcome in enumerate(outcomes)})
        return many(method, outcomes)

    async def call_batch(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send a ready ``{"halt": ..., "cmd": {key: "method?query"}}`` batch; return ``result``,
        keyed by the commands' keys as ``str`` (also for numeric keys: ``{1: ...}`` gives ``"1"``).

        :class:`BatchError` carries the commands' errors; when the batch writes and its request
        failed after the portal may have run it, every command's :class:`OutcomeUnknown`."""
        commands, halt = arguments.batch(params)
        try:
            outcome = await send_batch(self.transport, commands, halt=halt)
        except OutcomeUnknown as unknown:
            each = {key: unknown.for_item(c.method, None) for key, c in commands.items()}
            raise BatchError({}, unknown=each) from unknown
        self._raise_errors(outcome, keys=list(commands))
        return outcome.results

    async def request(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One request of ``method`` with ``params`` in the client's own encoding (booleans as
        ``Y``/``N``...); the whole answer (``result``, ``total``, ``next``, ``time``)."""
        method = arguments.method_name(method, "request")
        return dict(await self.transport.request(method, arguments.params(params, "request")))

    # -- throttling -------------------------------------------------------------------------

    def slow(self, max_concurrent_requests: int = 1) -> _Slow:
        """Lower the concurrency for a block: ``with bx.slow():`` or ``async with bx.slow():``
        (both give ``True``, as fast_bitrix24's does)."""
        return _Slow(self, arguments.concurrency(max_concurrent_requests))

    def export_throttle_state(self) -> ThrottleState:
        """JSON-serialisable throttle state for :meth:`restore_throttle_state` in a later process."""
        return self.throttle.export_state()

    def restore_throttle_state(self, state: Mapping[str, Any]) -> None:
        self.throttle.restore_state(state)

    # -- helpers ----------------------------------------------------------------------------

    def _throttle(self, oauth: OAuthCredentials | None, token_func: TokenFunc | None) -> Throttle:
        settings = self.settings
        capacity, rate = settings.bucket()
        if oauth is not None:
            credential = f"oauth:{oauth.client_id}"
        else:
            credential = "token" if token_func is not None else self.auth.base
        return open_throttle(
            settings.shared_throttle,
            endpoint=self.auth.base,
            credential=credential,
            plan=settings.plan,
            capacity=capacity,
            drain_rate=rate,
            prefix=settings.shared_throttle_prefix,
            headroom=settings.headroom,
            clock=self.clock,
            time_scale=settings.time_scale,
            operating_limit=settings.operating_time_limit,
            operating_window=settings.operating_window,
            secrets=self.secrets,
        )

    async def _by_id(
        self, method: str, ids: Mapping[str, Any], field: str, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """``{key: result}`` of one command per id of ``{key: id}``."""
        keys = list(ids)
        commands = {f"i{n}": Command(method, {**params, field: ids[key]}) for n, key in enumerate(keys)}
        outcome = await self._run(commands, method)
        self._raise_errors(outcome, keys=list(commands))
        return {key: outcome.results[f"i{n}"] for n, key in enumerate(keys)}

    async def _run(self, commands: dict[str, Command], method: str) -> BatchOutcome:
        with Progress(self.verbose, method, total=len(commands), unit="calls") as bar:
            outcome = await run_commands(
                self.transport, commands, self.settings.batch_size, self.settings.operating_retries
            )
            bar.update(len(commands))
        return outcome

    @staticmethod
    def _raise_errors(outcome: BatchOutcome, keys: Sequence[str]) -> None:
        errors = {k: outcome.errors[k] for k in keys if k in outcome.errors}
        unknown = {k: outcome.unknown[k] for k in keys if k in outcome.unknown}
        if errors or unknown:
            raise BatchError(errors, results=outcome.results, unknown=unknown)


def _raise_outcomes(outcomes: Mapping[str, Any]) -> None:
    """:class:`BatchError` with every outcome, when any of them is an error or unknown."""
    unknown = {k: o for k, o in outcomes.items() if isinstance(o, OutcomeUnknown)}
    errors = {k: o for k, o in outcomes.items() if isinstance(o, BitrixError) and k not in unknown}
    if errors or unknown:
        results = {k: o for k, o in outcomes.items() if not isinstance(o, BitrixError)}
        raise BatchError(errors, results=results, unknown=unknown)


def _pick(value: T | None, default: T) -> T:
    return default if value is None else value


class _Slow:
    def __init__(self, client: BitrixAsync, limit: int) -> None:
        self.gate = client.transport.gate
        self.limit = limit
        self.saved = (self.gate.limit, self.gate.held)

    def __enter__(self) -> bool:
        self.saved, self.gate.limit = (self.gate.limit, self.gate.held), self.limit
        self.gate.held = True
        return True

    def __exit__(self, *exc: object) -> None:
        self.gate.limit, self.gate.held = self.saved

    async def __aenter__(self) -> bool:
        self.saved = (self.gate.limit, self.gate.held)
        self.gate.held = True
        await self.gate.set_limit(self.limit)
        return True

    async def __aexit__(self, *exc: object) -> None:
        self.gate.held = self.saved[1]
        await self.gate.set_limit(self.saved[0])
