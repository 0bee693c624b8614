"""``BitrixAsync``: fast_bitrix24's API on a client that holds the portal's limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import aiohttp

from .auth import Auth, OAuthCredentials, TokenFunc
from .batch import BatchOutcome, Command, run_commands, send_batch
from .calls import ItemCall, send_batched, send_direct
from .errors import BatchError, BitrixError, OutcomeUnknown
from .external_keys import ExternalKey
from .listing import Exporter, IdRange, OnRanges, Page
from .progress import Progress
from .redact import SECRETS, SecretRegistry
from .settings import ClientSettings
from .shared_throttle import SharedThrottle
from .stats import Stats
from .throttle import LeakyBucket, OperatingBudget, ScaledClock, Throttle, ThrottleState
from .transport import SSLOption, Transport

T = TypeVar("T")
Items = Mapping[str, Any] | Iterable[Mapping[str, Any]]


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
    :param shared_throttle: a Redis URL: share the request bucket (per portal and plan) and the
        operating pauses (per credential and method) with every client using that Redis, see
        :mod:`.shared_throttle`; overrides ``settings.shared_throttle``.
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
        listing = await self.exporter.open(
            method, dict(params or {}), limit, ranges=ranges, on_ranges=on_ranges
        )
        if listing.pages is None:
            yield listing.single_page()[:limit]
            return
        async for page in listing.pages:
            yield page

    async def get_all(
        self, method: str, params: Mapping[str, Any] | None = None, limit: int | None = None
    ) -> list[dict[str, Any]] | Any:
        """Every row of a method whose answer pages (``next``/``total``), whatever it is called, as
        one list; any other answer's result as it is."""
        listing = await self.exporter.open(method, dict(params or {}), limit)
        if listing.pages is None:
            return listing.result
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
    ) -> dict[Any, Any]:
        """``{id: result}`` for one call of ``method`` per id, in batches."""
        ids = list(ID_list)
        commands = {
            f"i{n}": Command(method, {**(params or {}), ID_field_name: id_}) for n, id_ in enumerate(ids)
        }
        outcome = await self._run(commands, method)
        self._raise_errors(outcome, keys=list(commands))
        return {id_: outcome.results[f"i{n}"] for n, id_ in enumerate(ids)}

    async def list_and_get(
        self,
        method_branch: str,
        ID_field_name: str = "ID",
        filter: Mapping[str, Any] | None = None,
    ) -> dict[Any, Any]:
        """``get_all(<branch>.list, select=[ID], filter)`` then ``get_by_ID(<branch>.get)``."""
        params: dict[str, Any] = {"select": [ID_field_name]}
        if filter:
            params["filter"] = dict(filter)
        rows = await self.get_all(f"{method_branch}.list", params)
        return await self.get_by_ID(
            f"{method_branch}.get", [row[ID_field_name] for row in rows], ID_field_name
        )

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
        """Apply ``method`` to one item (returns its result) or many (a tuple in input order).

        ``raw=True`` sends ``items`` once as the parameters and returns the whole answer.
        A write (:mod:`.writes`) whose request failed after the portal may have run it is not sent
        again: the item ends as :class:`OutcomeUnknown` (with its input index). Each item of many
        ends as its result, its error or its :class:`OutcomeUnknown`; ``return_errors=True`` puts
        them in place, otherwise :class:`BatchError` carries them all (keyed ``c<index>``). One item
        raises its error.

        ``retry_unknown=True`` declares the method safe to repeat: unknown outcomes are sent again
        under the attempt budget. ``external_key`` (``"ORIGIN_ID"`` for the classic CRM adds,
        ``"xmlId"`` for ``crm.item.add``): every item carries a unique ``fields[external_key]``; adds
        with an unknown outcome are looked up by it and only the ones not found are sent again
        (:mod:`.calls`, :mod:`.external_keys`). Bad items raise :class:`InvalidItem` before any request.
        """
        if raw:
            if external_key is not None:
                raise ValueError("external_key needs items, not raw=True")
            params = dict(items or {})  # type: ignore[arg-type]
            return await self.transport.request(method, params, retry_unknown=retry_unknown)
        listed: list[Mapping[str, Any]]
        if items is None or isinstance(items, Mapping):
            single, listed = True, [dict(items or {})]
            send = send_direct(self.transport, method, retry_unknown)
        else:
            single, listed = False, list(items)
            send = send_batched(self.transport, self.settings, method, retry_unknown)
        key = ExternalKey.of(method, external_key) if external_key is not None else None
        run = ItemCall(
            listed, send, key=key, list_rows=self.get_all, clock=self.clock, settings=self.settings
        )
        if single:
            (outcome,) = await run.run()
            if isinstance(outcome, BitrixError):
                raise outcome
            return outcome
        with Progress(self.verbose, method, total=len(listed), unit="calls") as bar:
            outcomes = await run.run()
            bar.update(len(listed))
        if not return_errors:
            _raise_outcomes({f"c{n}": outcome for n, outcome in enumerate(outcomes)})
        return tuple(outcomes)

    async def call_batch(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send a ready ``{"halt": ..., "cmd": {key: "method?query"}}`` batch; return ``result``.

        :class:`BatchError` carries the commands' errors; when the batch writes and its request
        failed after the portal may have run it, every command's :class:`OutcomeUnknown`."""
        cmd = params.get("cmd")
        if not isinstance(cmd, Mapping) or not cmd:
            raise ValueError("call_batch needs params['cmd'] as a non-empty mapping of key -> 'method?query'")
        commands = {}
        for key, text in cmd.items():
            method, _, query = str(text).partition("?")
            commands[str(key)] = Command(method, query=query)
        try:
            outcome = await send_batch(self.transport, commands, halt=bool(params.get("halt", False)))
        except OutcomeUnknown as unknown:
            each = {key: unknown.for_item(c.method, None) for key, c in commands.items()}
            raise BatchError({}, unknown=each) from unknown
        self._raise_errors(outcome, keys=list(commands))
        return outcome.results

    # -- throttling -------------------------------------------------------------------------

    def slow(self, max_concurrent_requests: int = 1) -> _Slow:
        """Lower the concurrency for a block: ``with bx.slow():`` or ``async with bx.slow():``."""
        return _Slow(self, max_concurrent_requests)

    def export_throttle_state(self) -> ThrottleState:
        """JSON-serialisable throttle state for :meth:`restore_throttle_state` in a later process."""
        return self.throttle.export_state()

    def restore_throttle_state(self, state: Mapping[str, Any]) -> None:
        self.throttle.restore_state(state)

    # -- helpers ----------------------------------------------------------------------------

    def _throttle(self, oauth: OAuthCredentials | None, token_func: TokenFunc | None) -> Throttle:
        settings, clock = self.settings, self.clock
        capacity, rate = settings.bucket()
        if settings.shared_throttle:
            if oauth is not None:
                credential = f"oauth:{oauth.client_id}"
            else:
                credential = "token" if token_func is not None else self.auth.base
            return SharedThrottle.connect(
                settings.shared_throttle,
                endpoint=self.auth.base,
                credential=credential,
                plan=settings.plan,
                capacity=capacity,
                drain_rate=rate,
                prefix=settings.shared_throttle_prefix,
                headroom=settings.headroom,
                clock=clock,
                time_scale=settings.time_scale,
                operating_limit=settings.operating_time_limit,
                operating_window=settings.operating_window,
                secrets=self.secrets,
            )
        return Throttle(
            LeakyBucket(
                capacity,
                rate,
                headroom=settings.headroom,
                clock=clock.monotonic,
                sleep=clock.sleep,
                wall=clock.time,
            ),
            OperatingBudget(
                settings.operating_time_limit, settings.operating_window, now=clock.time, sleep=clock.sleep
            ),
        )

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
        self.limit = max(1, limit)
        self.saved = self.gate.limit

    def __enter__(self) -> None:
        self.saved, self.gate.limit = self.gate.limit, self.limit

    def __exit__(self, *exc: object) -> None:
        self.gate.limit = self.saved

    async def __aenter__(self) -> None:
        self.saved = self.gate.limit
        await self.gate.set_limit(self.limit)

    async def __aexit__(self, *exc: object) -> None:
        await self.gate.set_limit(self.saved)
