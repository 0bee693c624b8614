"""One logical request to the portal: throttled, retried, parsed, with typed errors.

Every HTTP request takes a slot of the client-side leaky bucket and waits for the operating budget
of the methods it runs. Transient failures (503, 5xx, dropped connections, timeouts) are retried
with backoff under a per-request attempt budget; a portal that cannot be reached and answers that
are not the portal's JSON (HTML pages, cut bodies) under small budgets the client's requests share
(:mod:`.retry`); an expired OAuth token is refreshed once and the request repeated; auth errors,
unknown methods and bad parameters are raised at once. A request that writes (:mod:`.writes`) is
retried only after failures that prove it did not run; after the others it raises
:class:`OutcomeUnknown`. Parameters always go through the one encoder (:mod:`.encoding`) as a form
body; answers are decoded by the parser ``ClientSettings.json_decoder`` names (:mod:`.decoding`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import ssl as ssl_module
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import aiohttp

from .auth import Auth
from .decoding import DECODERS, excerpt
from .encoding import to_form, to_json
from .error_codes import error_from_response
from .errors import (
    BitrixAPIError,
    BitrixError,
    OperationTimeLimit,
    OutcomeUnknown,
    PortalUnreachable,
    QueryLimitExceeded,
    TokenExpired,
    TransportError,
    UnexpectedAnswer,
)
from .retry import ClientRetries, RequestRetries
from .settings import ClientSettings
from .stats import Stats
from .throttle import Clock, Throttle
from .writes import may_have_run, writes

log = logging.getLogger("bitrix24_provider.client")

_MAX_REFRESHES = 3
#: loop passes a request on a kept-alive connection needs from its task's start to its headers on the
#: wire (2 with aiohttp 3.14, tests/client/test_transport.py) plus one to spare
_SEND_PASSES = 3
#: bodies from this size on are parsed in turn (a page of 50 full rows is ~100 KB; small answers parse
#: in microseconds and keep their place)
_LARGE_BODY = 16_384

_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"

SSLOption = bool | ssl_module.SSLContext | str


def ssl_context(option: SSLOption) -> bool | ssl_module.SSLContext:
    """``True``: verify with the system store; ``False``: no verification; a path: a CA bundle."""
    if isinstance(option, str):
        return ssl_module.create_default_context(cafile=option)
    return option


class ConcurrencyGate:
    """A semaphore whose size can change while in use (``slow()``). A keyset export whose chains
    outnumber it widens it by that many for its duration (:meth:`widen`), unless ``slow()`` holds it
    (``held``) or the user set ``max_concurrent_requests``."""

    def __init__(self, limit: int, widenable: bool = True) -> None:
        self.limit = limit
        self.active = 0
        self.widened = 0
        self.widenable = widenable
        self.held = False
        self._changed: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    def _open(self) -> bool:
        return self.active < self.limit + (0 if self.held else self.widened)

    async def __aenter__(self) -> None:
        async with self._condition():
            await self._condition().wait_for(self._open)
            self.active += 1

    @contextlib.asynccontextmanager
    async def widen(self, needed: int) -> AsyncIterator[Callable[[int], Awaitable[None]]]:
        """Let ``needed`` requests be in flight at once while the block runs (chains of an export);
        the block may raise that number with the function it gets (a chain added by a split)."""
        granted = 0

        async def to(needed: int) -> None:
            nonlocal granted
            extra = max(0, needed - self.limit) if self.widenable else 0
            async with self._condition():
                self.widened += extra - granted
                granted = extra
                self._condition().notify_all()

        await to(needed)
        try:
            yield to
        finally:
            self.widened -= granted

    async def __aexit__(self, *exc: object) -> None:
        async with self._condition():
            self.active -= 1
            self._condition().notify_all()

    async def set_limit(self, limit: int) -> None:
        async with self._condition():
            self.limit = max(1, limit)
            self._condition().notify_all()

    def rebind(self) -> None:
        """Forget a closed event loop's requests and condition (see :meth:`Transport.bind`)."""
        self.active, self._changed = 0, None


class Transport:
    def __init__(
        self,
        auth: Auth,
        settings: ClientSettings,
        throttle: Throttle,
        clock: Clock,
        stats: Stats,
        session: aiohttp.ClientSession | None = None,
        ssl: SSLOption = True,
    ) -> None:
        self.auth = auth
        self.settings = settings
        self.throttle = throttle
        self.clock = clock
        self.stats = stats
        self.retries = ClientRetries(
            settings.retry, settings.connect_retry, settings.unexpected_answer_retry, clock
        )
        self.gate = ConcurrencyGate(settings.requests_in_flight(), settings.max_concurrent_requests is None)
        self._session = session
        self._own_session = session is None
        self._ssl = ssl_context(ssl)
        self._decoder = DECODERS[settings.json_decoder]
        self._decoding = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self) -> None:
        """Follow the running event loop once the one the client ran on is closed (``asyncio.run``
        twice, a test per loop): the session, the gate and the locks belonged to the closed loop.
        While that loop still runs, nothing changes."""
        loop = asyncio.get_running_loop()
        if loop is self._loop or (self._loop is not None and not self._loop.is_closed()):
            return
        if self._loop is not None:
            if self._own_session and self._session is not None:
                _forget(self._session)
                self._session = None
            self.gate.rebind()
            self._decoding = asyncio.Lock()
            self.retries.rebind()
            self.auth.rebind()
        self._loop = loop

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self.settings.request_timeout)
            # the gate limits the requests in flight; an export's chains widen it up to the bucket's size
            connections = self.settings.requests_in_flight()
            if self.settings.max_concurrent_requests is None:
                connections = max(connections, math.ceil(self.settings.bucket()[0]))
            connector = aiohttp.TCPConnector(limit=connections + 4)
            self._session = aiohttp.ClientSession(timeout=timeout, connector=connector)
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def request(
        self,
        method: str,
        params: Mapping[str, Any],
        budget_methods: Sequence[str] = (),
        validate: Callable[[Mapping[str, Any]], None] | None = None,
        *,
        write: bool | None = None,
        retry_unknown: bool = False,
        json: bool = False,
    ) -> Any:
        """POST ``method`` and return the decoded body of a successful answer.

        ``budget_methods`` are the methods whose operating budget this request spends (the
        sub-commands of a batch); by default ``method`` itself. ``validate`` may reject a body
        that looks like success with a :class:`TransportError`, which is retried like any other.
        ``write`` says whether the request changes data (default: whether any of its methods
        writes, :func:`.writes.writes`). A write that failed after it may have run is not sent
        again but raises :class:`OutcomeUnknown`; ``retry_unknown=True`` (the caller declares it
        safe to repeat) retries it under the attempt budget, and raises :class:`OutcomeUnknown`
        only when the budget is spent. ``json=True`` sends the parameters as a JSON body as they are
        (``call(..., raw=True)``), not in the client's encoding.
        """
        self.bind()
        methods = tuple(budget_methods) or (method,)
        writing = writes(methods) if write is None else write
        retry = self.retries.start()
        operating_blocks = 0
        refreshes = 0
        sent: list[float] = []  # when each attempt went out, on the throttle's clock
        unknown_since: float | None = None  # the last attempt that may have run
        while True:
            auth_params, generation = await self.auth.params()
            tried = len(sent)
            try:
                payload = await self._attempt(method, {**params, **auth_params}, methods, retry, sent, json)
                if validate is not None:
                    validate(payload)
                return payload
            except TokenExpired as error:
                # a token may expire again while a request waits for the operating budget; a token
                # that fails right after several refreshes means refreshing does not help
                if refreshes >= _MAX_REFRESHES or not self.auth.needs_token:
                    if unknown_since is None:
                        raise
                    raise _unknown(method, error, unknown_since) from error
                refreshes += 1
                await self.auth.refresh(generation, await self.session())
                self.stats.token_refreshes += 1
                continue
            except OperationTimeLimit as error:
                operating_blocks += 1
                self.stats.retries["operation_time_limit"] += 1
                self.throttle.blocked(*methods)
                if operating_blocks > self.settings.operating_retries:
                    if unknown_since is None:
                        self.blocked(error, methods)
                        raise
                    raise _unknown(method, error, unknown_since) from error
                log.info("%s is blocked by the operating limit; waiting for its reset", method)
                continue
            except BitrixError as error:
                if writing and len(sent) > tried and may_have_run(error):  # this attempt went out
                    unknown_since = sent[-1]
                delay = retry.next_delay(error) if unknown_since is None or retry_unknown else None
                if delay is None:
                    if unknown_since is None:
                        raise
                    raise _unknown(method, error, unknown_since) from error
                cause = _cause(error)
                self.stats.retries[cause] += 1
                log.info("%s failed (%s), retry in %.2fs", method, cause, delay)
                await self.clock.sleep(delay)

    def blocked(self, error: OperationTimeLimit, methods: Sequence[str]) -> OperationTimeLimit:
        """*error* with ``retry_after``: real seconds until every one of *methods* may run again, from
        this client's operating budget (its clock runs ``time_scale`` portal seconds per real one)."""
        wait = self.throttle.wait_seconds(*methods)
        error.retry_after = max(0.0, wait) / self.settings.time_scale
        return error

    async def _attempt(
        self,
        method: str,
        params: Mapping[str, Any],
        methods: Sequence[str],
        retry: RequestRetries,
        sent: list[float],
        json: bool = False,
    ) -> Any:
        async with self.gate, retry.attempt():
            admission = await self.throttle.admit(methods, budget=self.settings.respect_velocity_policy)
            self.stats.operating_wait_seconds += admission.operating_wait
            self.stats.bucket_wait_seconds += admission.bucket_wait
            body = to_json(params) if json else to_form(params)
            sent.append(self.clock.monotonic())
            try:
                payload = await self._post(method, body, _JSON if json else _FORM)
            except QueryLimitExceeded:
                self.throttle.rejected(admission)
                raise
        self.throttle.answered(method, payload.get("time") if isinstance(payload, Mapping) else None)
        return payload

    async def _post(self, method: str, body: bytes, content_type: str) -> Any:
        session = await self.session()
        headers = {"Content-Type": content_type}
        self.stats.http_requests += 1
        try:
            async with session.post(self.auth.url(method), data=body, headers=headers, ssl=self._ssl) as resp:
                status = resp.status
                raw = await resp.read()
                content_type = resp.headers.get("Content-Type", "")
        except aiohttp.ClientConnectorError as error:  # nothing was sent
            self.stats.http_by_status[0] += 1
            raise PortalUnreachable(error.host, error.port, _reason(error), method=method) from None
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            self.stats.http_by_status[0] += 1
            raise TransportError(
                self.auth.secrets.redact(f"{method}: {type(error).__name__}: {error}"),
                method=method,
                cause="timeout" if isinstance(error, asyncio.TimeoutError) else "connection",
            ) from None
        self.stats.http_by_status[status] += 1
        if len(raw) < _LARGE_BODY:
            payload = self._decode(raw)
        else:
            async with self._decoding:
                # large answers that came together are parsed one after another; before each, the
                # loop passes a few times so that the requests the answers parsed so far let go (a
                # chain's next batch) reach the wire first: the portal then works while this client
                # parses, instead of waiting until all of them are parsed
                for _ in range(_SEND_PASSES):
                    await asyncio.sleep(0)
                payload = self._decode(raw)
        if isinstance(payload, Mapping) and "error" in payload:
            raise error_from_response(status, payload, method)
        answered = isinstance(payload, Mapping) and "result" in payload
        if not answered and not 400 <= status < 500:  # a 4xx status says enough (401, 403, 429)
            said = self.auth.secrets.redact(excerpt(raw))
            raise UnexpectedAnswer(status, content_type, len(raw), said, method=method)
        if status >= 400:
            raise error_from_response(status, None, method)
        return payload

    def _decode(self, raw: bytes) -> Any:
        """The decoded body, or ``None`` when it is not JSON (an HTML page, a cut body)."""
        started = time.thread_time()
        try:
            payload, parser = self._decoder(raw)
        except ValueError:
            payload, parser = None, "invalid"
        stats = self.stats
        stats.json_cpu_seconds += time.thread_time() - started
        stats.json_bodies[parser] += 1
        stats.json_bytes += len(raw)
        return payload


def _forget(session: aiohttp.ClientSession) -> None:
    """Mark a closed loop's session closed without awaiting it: its connections ended with the loop
    (``_close`` only marks a connector whose loop is closed; otherwise both warn when collected)."""
    connector = session.connector
    session.detach()
    if connector is not None:
        connector._close()


def _unknown(method: str, error: BitrixError, sent_at: float) -> OutcomeUnknown:
    """What a write leaves whose attempt at *sent_at* may have run, when its request gives up."""
    log.warning("%s may have run on the portal (%s); its outcome is unknown", method, _cause(error))
    return OutcomeUnknown(method, str(error), sent_at=sent_at)


def _reason(error: aiohttp.ClientConnectorError) -> str:
    """What the system said, without the URL: ``Connection refused``, ``Name or service not known``,
    a TLS verification failure."""
    cause = error.os_error
    if cause.errno and cause.errno > 0 and not isinstance(cause, (ssl_module.SSLError, socket.gaierror)):
        return os.strerror(cause.errno)  # asyncio's own text repeats the address
    return cause.strerror or str(cause) or type(error).__name__


def _cause(error: BitrixError) -> str:
    if isinstance(error, TransportError):
        return error.cause or "transport"
    if isinstance(error, BitrixAPIError):
        return (error.code or str(error.status)).lower()
    return type(error).__name__
