"""The replay portal: fast_bitrix24's mocked answers served over HTTP on 127.0.0.1.

fast_bitrix24's offline tests hand a client a fake request handler (``bx.srh = MockSRH(answers)``)
whose ``single_request`` (or ``request_attempt``) returns canned answers in order. Here the client,
ours or fast_bitrix24 itself, sends real HTTP requests to this server instead, and the server asks
that same handler object for each answer (:class:`Route`), fitted to the request actually sent
(:mod:`fb24_answers`).

A handler that answers nothing (fast_bitrix24's dummy ``https://google.com/path``) gets
``400 NO_PORTAL``, and the request is counted in :attr:`ReplayServer.unanswered`: the suite expects
those calls to fail before any request. fast_bitrix24's ``TokenRejectedError`` raised by a handler is
answered as ``401 expired_token``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from aiohttp import web
from fb24_answers import Answer, Table, error, fit

from bitrix24_provider.emulator.params import merge_request_params

HOST = "127.0.0.1"
WEBHOOK_CODE = "replaywebhook000"


def is_local(url: str) -> bool:
    """Whether a webhook points at this machine (the emulator); others are never contacted."""
    return url.split("://", 1)[-1].startswith((f"{HOST}:", f"{HOST}/", "localhost:", "localhost/"))


@dataclass
class Route:
    """One client's way to the replay portal. ``srh`` is the test's request handler object (it may
    be replaced or patched at any time); ``base`` is the handler class whose own ``single_request``
    and ``request_attempt`` answer nothing."""

    key: str
    base_url: str
    srh: Any
    base: type
    _tables: dict[int, tuple[Any, Table | None]] = field(default_factory=dict)

    @property
    def webhook(self) -> str:
        return f"{self.base_url}/{self.key}/rest/1/{WEBHOOK_CODE}/"

    @property
    def endpoint(self) -> str:
        """The REST endpoint for ``token_func`` clients."""
        return f"{self.base_url}/{self.key}/rest/"

    def table(self) -> Table | None:
        recording = getattr(self.srh, "response", None)
        cached = self._tables.get(id(recording))
        if cached is None or cached[0] is not recording:
            cached = (recording, Table.of(recording))
            self._tables[id(recording)] = cached
        return cached[1]

    def source(self) -> Callable[[str, Mapping[str, Any]], Any] | None:
        """The handler's answering method: a class overriding ``single_request``, or a
        ``request_attempt`` overridden by a class or patched onto the object; None: no answers."""
        srh, base = self.srh, self.base
        single = getattr(type(srh), "single_request", None)
        if single is not None and single is not getattr(base, "single_request", None):
            return lambda method, params: single(srh, method, params)
        attempt = getattr(type(srh), "request_attempt", None)
        if "request_attempt" in vars(srh) or attempt is not getattr(base, "request_attempt", None):
            return lambda method, params: srh.request_attempt(method, params)
        return None


class ReplayServer:
    """An aiohttp server on 127.0.0.1 in a daemon thread, shared by every client of a test session."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        #: ``method`` of each request that reached a handler without answers (see the module doc)
        self.unanswered: list[str] = []
        #: HTTP requests answered, for the report
        self.requests = 0
        self._keys = count(1)
        self._base_url: str | None = None
        self._lock = threading.Lock()

    def route(self, srh: Any, base: type) -> Route:
        base_url = self._start()
        route = Route(f"r{next(self._keys)}", base_url, srh, base)
        self.routes[route.key] = route
        return route

    def take_unanswered(self) -> list[str]:
        taken, self.unanswered = self.unanswered, []
        return taken

    def _start(self) -> str:
        with self._lock:
            if self._base_url is None:
                ready: list[str] = []
                started = threading.Event()
                threading.Thread(target=self._serve, args=(ready, started), daemon=True).start()
                started.wait(timeout=30)
                self._base_url = ready[0]
            return self._base_url

    def _serve(self, ready: list[str], started: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{key}/rest/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, HOST, 0)
        loop.run_until_complete(site.start())
        ready.append(f"http://{HOST}:{runner.addresses[0][1]}")
        started.set()
        loop.run_forever()

    async def _handle(self, request: web.Request) -> web.Response:
        route = self.routes[request.match_info["key"]]
        tail = request.match_info["tail"]
        method = tail.removeprefix(f"1/{WEBHOOK_CODE}/").removesuffix(".json")
        params = merge_request_params(
            request.rel_url.raw_query_string,
            request.headers.get("Content-Type"),
            await request.read(),
            request.method,
        )
        params.pop("auth", None)
        self.requests += 1
        status, body = await self._answer(route, method, params)
        text = json.dumps(body, ensure_ascii=False, default=_jsonable)
        return web.Response(text=text, status=status, content_type="application/json")

    async def _answer(self, route: Route, method: str, params: dict[str, Any]) -> Answer:
        table = route.table()
        if table is not None:
            return 200, table.answer(method, params)
        source = route.source()
        if source is None:
            self.unanswered.append(method)
            return 400, error("NO_PORTAL", "fast_bitrix24's dummy client has no portal behind it")
        try:
            body = source(method, params)
            if inspect.isawaitable(body):
                body = await body
        except Exception as exc:
            if type(exc).__name__ == "TokenRejectedError":
                return 401, error("expired_token", "The access token provided has expired.")
            return 400, error("NO_RECORDED_ANSWER", f"the test's handler raised {type(exc).__name__}: {exc}")
        return fit(body, method, params)


def _jsonable(value: Any) -> Any:
    """Sets (a stub's ``{"ok"}``) go out as lists."""
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


REPLAY = ReplayServer()
