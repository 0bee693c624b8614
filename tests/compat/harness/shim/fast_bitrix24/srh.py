"""fast_bitrix24's request handler, reduced to what its tests use on it.

Tests subclass it (``MockSRH``) or patch it to answer requests: the replay portal asks an overridden
``single_request``, or an overridden or patched ``request_attempt``, for the answer to each HTTP request
our client sends. This base answers nothing.
"""

from __future__ import annotations

from typing import Any


class TokenRejectedError(Exception):
    """fast_bitrix24's signal that the portal rejected the token; raised by a test's handler, the
    replay portal answers ``401 expired_token``."""


class ServerRequestHandler:
    def __init__(
        self,
        webhook: str | None,
        token_func: Any = None,
        respect_velocity_policy: bool = True,
        request_pool_size: int = 50,
        requests_per_second: float = 2.0,
        operating_time_limit: int = 480,
        client: Any = None,
        ssl: bool = True,
    ) -> None:
        self.webhook = webhook
        self.token_func = token_func
        self.respect_velocity_policy = respect_velocity_policy
        self.request_pool_size = request_pool_size
        self.requests_per_second = requests_per_second
        self.operating_time_limit = operating_time_limit
        self.client = client
        self.ssl = ssl

    async def single_request(self, method: str, params: Any = None) -> Any:
        raise NotImplementedError("no portal: a test overrides this to answer")

    async def request_attempt(self, method: str, params: Any = None) -> Any:
        raise NotImplementedError("no portal: a test overrides or patches this to answer")
