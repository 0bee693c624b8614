"""fast_bitrix24's ``server_response`` names.

``ErrorInServerResponseException`` (the portal answered with errors) is ours ``BitrixAPIError`` for
one call or ``BatchError`` for the commands of a batch: catching the pair catches what it caught.
``ServerResponseParser`` is fast_bitrix24's private parser; nothing of ours matches it, and the one
test that calls it is left out of the suite.
"""

from __future__ import annotations

from typing import Any

from bitrix24_provider import client

ErrorInServerResponseException: Any = getattr(
    client, "ErrorInServerResponseException", (client.BitrixAPIError, client.BatchError)
)


class ServerResponseParser:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("fast_bitrix24's private ServerResponseParser has no equivalent here")
