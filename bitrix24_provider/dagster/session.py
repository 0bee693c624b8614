"""One materialization's Bitrix24 client, built from a resource's settings the way the Airflow hook
builds it from a connection (the same :class:`Bitrix24ConnectionConfig`), with OAuth token rotation
persisted in the destination database (:class:`TokenTable`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from bitrix24_provider.client import Bitrix
from bitrix24_provider.client.redact import register_secret
from bitrix24_provider.hooks.connection import Bitrix24ConnectionConfig
from bitrix24_provider.hooks.oauth_tokens import (
    OAuthReauthorizationRequired,
    StoredTokens,
    newer_tokens,
    starting_tokens,
)

from .token_table import TokenTable

__all__ = ["PortalSession"]

log = logging.getLogger(__name__)

#: pauses between re-reads of the stored tokens after an ``invalid_grant`` (as the hook's)
_RELOAD_PAUSES = (0.2, 0.4, 0.8, 1.6)


class PortalSession:
    """The client of one step (the load reaches it through the engine's ``ClientPortal``); :meth:`close`
    it when the step ends.

    :param tokens: where rotated OAuth tokens live (OAuth only).
    """

    def __init__(
        self,
        config: Bitrix24ConnectionConfig,
        client_kwargs: Mapping[str, Any] | None = None,
        tokens: TokenTable | None = None,
    ) -> None:
        self.config = config
        self.client_kwargs = dict(client_kwargs or {})
        self.tokens = tokens
        self._chain: StoredTokens | None = None
        self._rejected: set[str] = set()
        self._client: Bitrix | None = None
        register_secret(*config.secrets)

    def get_client(self) -> Bitrix:
        if self._client is None:
            config = self.config
            if config.auth_type == "oauth" and self.tokens is not None:
                config = self._start_chain(config)
            self._client = Bitrix(
                **config.client_arguments(self._on_refresh, self._on_invalid_grant, self.client_kwargs)
            )
        return self._client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    # -- OAuth token rotation -----------------------------------------------------------------

    def _start_chain(self, config: Bitrix24ConnectionConfig) -> Bitrix24ConnectionConfig:
        assert self.tokens is not None and config.refresh_token
        chain, from_store = starting_tokens(config.refresh_token, config.access_token, self.tokens.load())
        self._chain = chain
        if from_store:
            register_secret(chain.refresh_token, chain.access_token)
            log.info(
                "Using the rotated OAuth tokens stored in %s (generation %s)",
                self.tokens.table.label,
                chain.generation,
            )
        return replace(config, refresh_token=chain.refresh_token, access_token=chain.usable_access_token())

    def _on_refresh(self, body: Mapping[str, Any]) -> None:
        if self._chain is None or self.tokens is None:
            return
        self._chain = self._chain.rotated(body)
        register_secret(self._chain.refresh_token, self._chain.access_token)
        try:
            self.tokens.save(self._chain)
        except Exception as error:
            log.error(
                "The OAuth refresh token was rotated but could not be stored in %s (%s): the next run "
                "starts from a spent token and needs a new refresh_token",
                self.tokens.table.label,
                type(error).__name__,
            )

    def _on_invalid_grant(self, rejected: str) -> dict[str, str]:
        self._rejected.add(rejected)
        if self.tokens is not None:
            for pause in (*_RELOAD_PAUSES, None):
                newer = newer_tokens(
                    self.tokens.load(), self.config.refresh_token, self._chain, self._rejected
                )
                if newer is not None:
                    register_secret(newer.refresh_token, newer.access_token)
                    self._chain = newer
                    return newer.pair()
                if pause is not None:
                    time.sleep(pause)
        raise OAuthReauthorizationRequired(
            "invalid_grant",
            "Bitrix24 rejected the OAuth refresh token and the destination holds no newer one: authorize "
            "the application again and give the resource the new refresh_token",
            "oauth/token",
            400,
        )
