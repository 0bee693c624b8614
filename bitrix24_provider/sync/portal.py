"""How the engine reaches the portal: a client and its throttle state, nothing else.

:class:`Portal` is all the engine needs from an orchestrator's connection: the client to send the
load's requests with, and the client's throttle state to keep with a resume point and restore on the
next try. :class:`ClientPortal` is the one over a ready client; the Airflow operator wraps the hook's
client in it, the Dagster resource its own.
"""

from __future__ import annotations

import logging
from typing import Protocol

from ..client.errors import BitrixError
from ..client.sync_client import Bitrix
from ..client.throttle import ThrottleState

__all__ = ["ClientPortal", "Portal"]

log = logging.getLogger(__name__)


class Portal(Protocol):
    def client(self) -> Bitrix:
        """The client the load sends its requests with (the same one on every call)."""
        ...

    def throttle_state(self) -> ThrottleState | None:
        """The client's throttle state now (None when it cannot be read)."""
        ...

    def restore_throttle_state(self, state: ThrottleState) -> None:
        """Continue from a state of an earlier try; a ``ValueError``/``KeyError``/``TypeError`` when
        it is unusable (the engine then ignores it)."""
        ...


class ClientPortal:
    """A :class:`Portal` over a sync client (closing it stays with the caller)."""

    def __init__(self, client: Bitrix) -> None:
        self._client = client

    def client(self) -> Bitrix:
        return self._client

    def throttle_state(self) -> ThrottleState | None:
        for _ in range(3):
            try:
                return self._client.export_throttle_state()
            except RuntimeError:  # a dict changed size while the client's thread updated it
                continue
            except BitrixError as error:  # the shared throttle's store cannot be read
                log.warning("Cannot read the throttle state: %s", error)
                return None
        return None

    def restore_throttle_state(self, state: ThrottleState) -> None:
        self._client.restore_throttle_state(state)
