"""Our ``Bitrix`` / ``BitrixAsync`` with fast_bitrix24's ``srh`` attribute.

``srh`` holds a request handler (:class:`~.srh.ServerRequestHandler`, or a test's ``MockSRH``); a
client whose webhook is not on 127.0.0.1 is built on the replay portal, where that handler answers
its requests. A handler bringing a ``token_func`` rebuilds the client on the replay portal's REST
endpoint with it (fast_bitrix24 keeps ``token_func`` in the handler).
"""

from __future__ import annotations

import os
from typing import Any

from fb24_replay import REPLAY, Route, is_local

from bitrix24_provider import client

from .srh import ServerRequestHandler


class _Routing:
    """Where a shim client sends its requests, and the constructor arguments to rebuild it with."""

    def __init__(self, webhook: Any, token_func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.srh: Any = ServerRequestHandler(webhook, token_func)
        self.route: Route | None = None
        if isinstance(webhook, str) and not is_local(webhook):
            self.route = REPLAY.route(self.srh, base=ServerRequestHandler)
        self.webhook, self.token_func, self.args, self.kwargs = webhook, token_func, args, kwargs

    def arguments(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """``(args, kwargs)`` for our constructor; ``FB24_TIME_SCALE`` (the emulator's clock speed)
        becomes the throttle's ``time_scale``."""
        url = self.webhook
        if self.route is not None:
            url = self.route.endpoint if self.token_func is not None else self.route.webhook
        kwargs = dict(self.kwargs)
        if os.environ.get("FB24_TIME_SCALE"):
            kwargs.setdefault("time_scale", float(os.environ["FB24_TIME_SCALE"]))
        return (url, self.token_func, *self.args), kwargs

    def hand(self, srh: Any) -> bool:
        """Take a new handler; True when the client must be rebuilt to use it."""
        self.srh = srh
        token_func = getattr(srh, "token_func", None)
        rebuild = self.route is None or token_func is not self.token_func
        if self.route is None:
            self.route = REPLAY.route(srh, base=ServerRequestHandler)
        self.route.srh = srh
        self.token_func = token_func
        return rebuild


class BitrixAsync(client.BitrixAsync):
    def __init__(self, webhook: Any = None, token_func: Any = None, *args: Any, **kwargs: Any) -> None:
        self._fb24 = _Routing(webhook, token_func, args, kwargs)
        args_, kwargs_ = self._fb24.arguments()
        super().__init__(*args_, **kwargs_)

    @property
    def srh(self) -> Any:
        return self._fb24.srh

    @srh.setter
    def srh(self, srh: Any) -> None:
        if self._fb24.hand(srh):
            args, kwargs = self._fb24.arguments()
            client.BitrixAsync.__init__(self, *args, **kwargs)


class Bitrix(client.Bitrix):
    def __init__(self, webhook: Any = None, token_func: Any = None, *args: Any, **kwargs: Any) -> None:
        self._fb24 = _Routing(webhook, token_func, args, kwargs)
        args_, kwargs_ = self._fb24.arguments()
        super().__init__(*args_, **kwargs_)

    @property
    def srh(self) -> Any:
        return self._fb24.srh

    @srh.setter
    def srh(self, srh: Any) -> None:
        if self._fb24.hand(srh):
            args, kwargs = self._fb24.arguments()
            self.aio = client.BitrixAsync(*args, **kwargs)
