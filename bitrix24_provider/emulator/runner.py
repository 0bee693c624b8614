"""Starting and stopping the emulator: in the current event loop (``async with Emulator()``) or on
a background thread for synchronous code (``with Emulator().in_thread()``). It binds 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from aiohttp import web

from .config import EmulatorConfig
from .portal import Portal
from .server import build_app

HOST = "127.0.0.1"


class Emulator:
    def __init__(self, config: EmulatorConfig | None = None, port: int = 0) -> None:
        self.portal = Portal(config)
        self.config = self.portal.config
        self._port = port
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        if self._runner is None:
            raise RuntimeError("the emulator is not running")
        server = self._runner.addresses[0]
        return int(server[1])

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/rest/{self.config.user_id}/{self.config.webhook_code}/"

    @property
    def oauth_url(self) -> str:
        """The REST endpoint for OAuth calls (``client_endpoint``)."""
        return f"{self.base_url}/rest/"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth/token/"

    async def start(self) -> None:
        self._runner = web.AppRunner(
            build_app(self.portal), access_log=None, handle_signals=False, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, self._port)
        await site.start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @contextmanager
    def in_thread(self) -> Iterator[Emulator]:
        """Run on a private event loop in a daemon thread (for sync clients and Airflow tasks)."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            ready.set()
            loop.run_forever()

        thread = threading.Thread(target=serve, name="bitrix24-emulator", daemon=True)
        thread.start()
        ready.wait(timeout=60)
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout=30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
            loop.close()
