"""The Bitrix24 hook: reads an Airflow connection and builds a configured Bitrix24 client.

All HTTP, throttling, batching and paging live in :mod:`bitrix24_provider.client`; this module only
turns a connection into client arguments, persists rotated OAuth tokens, and offers a few
conveniences (pandas frames, a connection test and the cheap "changed since" probe shared by the
sensor and the trigger).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from bitrix24_provider.client import Bitrix, BitrixAsync
from bitrix24_provider.client.redact import register_secret, scrub
from bitrix24_provider.hooks.changes import ChangeCheck, normalize_watermark
from bitrix24_provider.hooks.connection import (
    CONN_TYPE,
    Bitrix24ConnectionConfig,
    extra_text,
    parse_connection,
)
from bitrix24_provider.hooks.connection_check import code_in_host_advice, explain_failure, warn_code_in_host
from bitrix24_provider.hooks.connection_form import field_label, hook_field_behaviour
from bitrix24_provider.hooks.oauth_tokens import (
    OAuthReauthorizationRequired,
    StoredTokens,
    newer_tokens,
    reauthorization_required,
    starting_tokens,
)
from bitrix24_provider.hooks.token_store import TokenStore

if TYPE_CHECKING:
    import pandas as pd

    from bitrix24_provider.client.throttle import ThrottleState

__all__ = [
    "Bitrix24ConnectionConfig",
    "Bitrix24Hook",
    "ChangeCheck",
    "OAuthReauthorizationRequired",
    "normalize_watermark",
    "parse_connection",
]


def _mask(*secrets: str | None) -> None:
    """Register secrets with the client's redaction and with Airflow's log masker."""
    register_secret(*secrets)
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - Airflow < 3.1
        return
    for secret in secrets:
        if secret:
            mask_secret(secret)


async def _amask(*secrets: str | None) -> None:
    register_secret(*secrets)
    try:
        from airflow.sdk.log import amask_secret
    except ImportError:  # pragma: no cover - Airflow < 3.1
        return
    for secret in secrets:
        if secret:
            await amask_secret(secret)


class Bitrix24Hook(BaseHook):
    """Interact with a Bitrix24 portal through :class:`~bitrix24_provider.client.Bitrix`.

    The connection is read lazily, on the first call that needs it. Webhook connections give the
    portal URL in *host*, the webhook's user id in *login* and its code in *password*, where Airflow
    masks and encrypts it. A full webhook URL in *host* still works, but Airflow shows *host* in
    clear text and stores it unencrypted: the hook then logs a warning naming the fix, once per task
    try. OAuth connections (extra ``auth_type=oauth``) give the portal in *host* and ``client_id``,
    ``client_secret``, ``refresh_token`` (and optionally ``access_token`` and ``oauth_server``) in
    the extras.

    **OAuth token rotation.** Bitrix24 hands out a new refresh token with every refresh and the old
    one stops working, so the rotated pair has to outlive the run. In Airflow 3 a task or a trigger
    cannot write a connection (the execution API only reads them), but it can write Variables. So:

    * the connection stays the source of the client id and secret and of the *first* refresh token;
    * after every refresh the new pair goes to the Variable ``bitrix24_oauth_token_<conn_id>``
      (JSON: refresh and access token, expiry, a growing ``generation``, and the fingerprint of the
      connection token the chain started from; the name holds "token", so Airflow masks it). Outside
      the task runtime, where the metadata database is reachable, a connection stored there is
      updated too;
    * a hook starts from the Variable while the connection still holds the token the chain started
      from; a new refresh token in the connection (a re-authorization) starts a new chain;
    * when the token server rejects the refresh token (``invalid_grant``), another task has
      usually rotated it: the hook reads the Variable (and the connection) again, waiting a few
      seconds for a concurrent writer, and goes on with the newer pair. Only when there is none does
      it raise :class:`~bitrix24_provider.hooks.oauth_tokens.OAuthReauthorizationRequired` (an
      ``AuthError``), which asks for a new authorization;
    * triggers and async tasks reach the Variable and the connection row only from a worker thread
      (``asyncio.to_thread``); the event loop never waits on them.

    Tokens are registered with Airflow's secrets masker and the client's redaction as soon as they
    are read or issued; they never reach logs, exception texts, XComs or rendered fields.

    :param bitrix24_conn_id: the Airflow connection id.
    :param client_kwargs: extra keyword arguments of the client (``time_scale``, ``batch_size``,
        ``max_concurrent_requests`` through ``settings``...); they override the connection's, also
        the fields given in ``settings`` (``{"settings": {"plan": "enterprise"}}`` beats the
        connection's plan). ``settings`` may be a dict of
        :class:`~bitrix24_provider.client.ClientSettings` fields (its ``retry``, ``connect_retry``,
        ``unexpected_answer_retry`` dicts of :class:`~bitrix24_provider.client.RetryPolicy` fields),
        so the value stays JSON-serialisable for triggers.
    """

    conn_name_attr = "bitrix24_conn_id"
    default_conn_name = "bitrix24_default"
    conn_type = CONN_TYPE
    hook_name = "Bitrix24"

    #: Pauses between re-reads of the stored tokens after an ``invalid_grant`` (a concurrent
    #: process may have rotated the token and not yet stored the new one).
    token_reload_pauses: tuple[float, ...] = (0.2, 0.4, 0.8, 1.6)

    def __init__(
        self,
        bitrix24_conn_id: str = default_conn_name,
        client_kwargs: dict[str, Any] | None = None,
        *,
        logger_name: str | None = None,
    ) -> None:
        super().__init__(logger_name=logger_name)
        self.bitrix24_conn_id = bitrix24_conn_id
        self.client_kwargs: dict[str, Any] = dict(client_kwargs or {})
        self._config: Bitrix24ConnectionConfig | None = None
        self._client: Bitrix | None = None
        self._store = TokenStore(bitrix24_conn_id, self.log)
        self._tokens: StoredTokens | None = None  # the newest link of the OAuth token chain
        self._rejected: set[str] = set()  # refresh tokens the token server turned down

    # -- connection -------------------------------------------------------------------------

    @staticmethod
    def _config_from(conn: Any, extra: Mapping[str, Any]) -> Bitrix24ConnectionConfig:
        return parse_connection(
            conn.conn_id,
            host=conn.host,
            login=conn.login,
            password=conn.password,
            schema=conn.schema,
            port=conn.port,
            extra=extra,
        )

    @property
    def config(self) -> Bitrix24ConnectionConfig:
        """The parsed connection (read once per hook, with the latest rotated OAuth tokens)."""
        if self._config is None:
            conn = self.get_connection(self.bitrix24_conn_id)
            config = self._config_from(conn, conn.extra_dejson)
            _mask(*config.secrets)
            warn_code_in_host(config, self.log)
            if config.auth_type == "oauth":
                config = self._start_chain(config, self._store.load())
                _mask(*config.secrets)
            self._config = config
        return self._config

    async def aget_config(self) -> Bitrix24ConnectionConfig:
        """Async twin of :attr:`config`; only uses async connection access (safe in triggers)."""
        if self._config is None:
            conn = await self._aget_connection()
            extra = await self._aget_extra(conn)
            config = self._config_from(conn, extra)
            await _amask(*config.secrets)
            warn_code_in_host(config, self.log)
            if config.auth_type == "oauth":
                config = self._start_chain(config, await asyncio.to_thread(self._store.load))
                await _amask(*config.secrets)
            self._config = config
        return self._config

    async def _aget_connection(self) -> Any:
        try:
            from airflow.providers.common.compat.connection import get_async_connection
        except ImportError:  # pragma: no cover - common-compat is missing
            return await self.aget_connection(self.bitrix24_conn_id)
        return await get_async_connection(self.bitrix24_conn_id, hook=self)

    @staticmethod
    async def _aget_extra(conn: Any) -> dict[str, Any]:
        try:
            from airflow.providers.common.compat.connection import get_async_extra_dejson
        except ImportError:  # pragma: no cover - common-compat is missing
            if hasattr(conn, "aextra_dejson"):
                return dict(await conn.aextra_dejson())
            return dict(conn.extra_dejson)
        return dict(await get_async_extra_dejson(conn))

    # -- clients ----------------------------------------------------------------------------

    def get_client(self) -> Bitrix:
        """The synchronous client of this connection (built once per hook; :meth:`close` it)."""
        if self._client is None:
            config = self.config
            self._client = Bitrix(
                **config.client_arguments(self._on_refresh, self._on_invalid_grant, self.client_kwargs)
            )
        return self._client

    def get_conn(self) -> Bitrix:
        """Airflow's generic accessor: the same as :meth:`get_client`."""
        return self.get_client()

    async def aget_client(self) -> BitrixAsync:
        """A new async client of this connection; the caller owns it (``async with``).

        Uses only async connection and Variable access, so it is safe inside triggers and async
        tasks.
        """
        config = await self.aget_config()
        return BitrixAsync(
            **config.client_arguments(self._aon_refresh, self._aon_invalid_grant, self.client_kwargs)
        )

    def close(self) -> None:
        """Close the cached synchronous client (its HTTP session and event loop thread)."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> Bitrix24Hook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- OAuth token rotation ----------------------------------------------------------------
    #
    # The sync callbacks run on the sync client's private event loop thread (blocking it is fine);
    # the async ones run on the caller's loop and push every store access to a worker thread.

    def _start_chain(
        self, config: Bitrix24ConnectionConfig, stored: StoredTokens | None
    ) -> Bitrix24ConnectionConfig:
        """Start from the stored pair when it descends from the connection's token."""
        assert config.refresh_token
        tokens, from_store = starting_tokens(config.refresh_token, config.access_token, stored)
        self._tokens = tokens
        if not from_store:
            if stored is not None:
                self.log.info(
                    "Connection %s holds a new refresh token; it replaces the tokens in Variable %s",
                    self.bitrix24_conn_id,
                    self._store.key,
                )
            return config
        self.log.info(
            "Using the rotated OAuth tokens of connection %s from Variable %s (generation %s)",
            self.bitrix24_conn_id,
            self._store.key,
            tokens.generation,
        )
        return replace(config, refresh_token=tokens.refresh_token, access_token=tokens.usable_access_token())

    def _use(self, tokens: StoredTokens) -> None:
        self._tokens = tokens
        if self._config is not None:
            self._config = replace(
                self._config,
                refresh_token=tokens.refresh_token,
                access_token=tokens.access_token or self._config.access_token,
            )

    def _rotate(self, body: Mapping[str, Any]) -> StoredTokens:
        assert self._tokens is not None, "OAuth callbacks come from clients built by this hook"
        tokens = self._tokens.rotated(body)
        self._use(tokens)
        return tokens

    def _on_refresh(self, body: Mapping[str, Any]) -> None:
        tokens = self._rotate(body)
        _mask(tokens.refresh_token, tokens.access_token)
        self._stored(*self._store.save(tokens))

    async def _aon_refresh(self, body: Mapping[str, Any]) -> None:
        tokens = self._rotate(body)
        await _amask(tokens.refresh_token, tokens.access_token)
        self._stored(*await asyncio.to_thread(self._store.save, tokens))

    def _stored(self, tokens: StoredTokens, places: list[str]) -> None:
        if self._tokens is not None and self._tokens.refresh_token == tokens.refresh_token:
            self._tokens = tokens  # the origin may have moved to the connection row
        if places:
            self.log.info(
                "Stored the rotated OAuth tokens of connection %s (generation %s) in %s",
                self.bitrix24_conn_id,
                tokens.generation,
                " and ".join(places),
            )
            return
        self.log.warning(
            "The OAuth refresh token of connection %s was rotated but could not be persisted: neither "
            "Variable %s nor the connection could be written. Bitrix24 replaces the refresh token on "
            "every refresh, so later runs may fail to authenticate; if they do, re-authorize the "
            "application and update the connection.",
            self.bitrix24_conn_id,
            self._store.key,
        )

    def _on_invalid_grant(self, rejected: str) -> dict[str, str]:
        """The client's ``on_invalid_grant``: a newer pair from the store, or the typed error."""
        self._rejected.add(rejected)
        for pause in (*self.token_reload_pauses, None):
            newer = newer_tokens(
                self._store.load(), self._connection_refresh_token(), self._tokens, self._rejected
            )
            if newer is not None:
                _mask(newer.refresh_token, newer.access_token)
                return self._adopt(newer)
            if pause is None:
                break
            time.sleep(pause)
        raise reauthorization_required(self.bitrix24_conn_id, self._store.key)

    async def _aon_invalid_grant(self, rejected: str) -> dict[str, str]:
        """Async twin of :meth:`_on_invalid_grant`."""
        self._rejected.add(rejected)
        for pause in (*self.token_reload_pauses, None):
            stored = await asyncio.to_thread(self._store.load)
            connection_refresh = await self._aconnection_refresh_token()
            newer = newer_tokens(stored, connection_refresh, self._tokens, self._rejected)
            if newer is not None:
                await _amask(newer.refresh_token, newer.access_token)
                return self._adopt(newer)
            if pause is None:
                break
            await asyncio.sleep(pause)
        raise reauthorization_required(self.bitrix24_conn_id, self._store.key)

    def _adopt(self, tokens: StoredTokens) -> dict[str, str]:
        self._use(tokens)
        self.log.info(
            "The OAuth refresh token of connection %s was already rotated elsewhere; continuing with "
            "the newer one (generation %s)",
            self.bitrix24_conn_id,
            tokens.generation,
        )
        return tokens.pair()

    def _connection_refresh_token(self) -> str | None:
        try:
            conn = self.get_connection(self.bitrix24_conn_id)
            return extra_text(conn.extra_dejson, "refresh_token")
        except Exception:
            return None

    async def _aconnection_refresh_token(self) -> str | None:
        try:
            conn = await self._aget_connection()
            return extra_text(await self._aget_extra(conn), "refresh_token")
        except Exception:
            return None

    # -- data -------------------------------------------------------------------------------

    def get_df(
        self, method: str, params: Mapping[str, Any] | None = None, limit: int | None = None
    ) -> pd.DataFrame:
        """Every row of a list method as a :class:`pandas.DataFrame` (at most ``limit`` rows).

        A non-list method's result becomes a one-row frame (a dict) or a frame of its rows (a list).
        """
        import pandas as pd

        result = self.get_client().get_all(method, params, limit)
        if isinstance(result, Mapping):
            return pd.DataFrame([dict(result)])
        if not result:
            return pd.DataFrame(columns=_select_columns(params))
        return pd.DataFrame.from_records(list(result))

    def iter_df_chunks(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        chunk_rows: int = 10_000,
        *,
        limit: int | None = None,
    ) -> Iterator[pd.DataFrame]:
        """Stream a list method as DataFrames of ``chunk_rows`` rows (the last one may be shorter).

        Pages are consumed as they arrive; memory holds one chunk plus the pages in flight.
        Nothing is yielded for an empty list.
        """
        import pandas as pd

        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows!r}")
        buffer: list[dict[str, Any]] = []
        for page in self.get_client().iter_all(method, params, limit):
            buffer.extend(page)
            while len(buffer) >= chunk_rows:
                chunk, buffer = buffer[:chunk_rows], buffer[chunk_rows:]
                yield pd.DataFrame.from_records(chunk)
        if buffer:
            yield pd.DataFrame.from_records(buffer)

    def check_changes(
        self,
        method: str,
        watermark: str | datetime,
        cursor_field: str = "DATE_MODIFY",
        filter: Mapping[str, Any] | None = None,
        call_params: Mapping[str, Any] | None = None,
        lag: float = 5.0,
    ) -> dict[str, Any] | None:
        """``{"watermark", "newest", "count"}`` of the records changed after ``watermark``, or
        ``None``; the returned ``watermark`` stays ``lag`` seconds behind the portal's time of the check.

        One ``start=-1`` list call; see :class:`ChangeCheck`.
        """
        check = ChangeCheck(method, cursor_field, normalize_watermark(watermark), filter, call_params, lag)
        answer = self.get_client().request(method, check.params())
        return check.evaluate(answer)

    @staticmethod
    async def acheck_changes(client: BitrixAsync, check: ChangeCheck) -> dict[str, Any] | None:
        """Async twin of :meth:`check_changes` on a client from :meth:`aget_client`."""
        answer = await client.request(check.method, check.params())
        return check.evaluate(answer)

    def redact(self, text: str) -> str:
        """``text`` with this connection's secrets and anything secret-shaped masked."""
        return scrub(text, self._config.secrets if self._config is not None else ())

    # -- Airflow UI -------------------------------------------------------------------------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form's standard fields on Airflow 3.1; 3.2+ reads the declarative form of
        ``get_provider_info()`` instead (see :mod:`~bitrix24_provider.hooks.connection_form`)."""
        return hook_field_behaviour()

    def test_connection(self) -> tuple[bool, str]:
        """Call the read-only ``profile`` method; a failure names the field to fix, and the message
        never contains a secret.

        With OAuth, a refresh during the test rotates the refresh token; it is stored like any
        other refresh (see the class docstring).
        """
        try:
            config = self.config
            arguments = config.client_arguments(self._on_refresh, self._on_invalid_grant, self.client_kwargs)
            with Bitrix(**arguments) as client:
                profile = client.call("profile")
        except Exception as error:
            return False, explain_failure(error, self._config)
        user = profile.get("ID") if isinstance(profile, Mapping) else None
        where = scrub(config.portal_url, config.secrets)
        message = f"Connection successfully tested: {where} answered as user {user}"
        if config.code_in_host:
            advice = code_in_host_advice(config)
            message += f". The webhook code is in {field_label('host')}, where Airflow shows it: {advice}"
        return True, message

    # -- throttle state ---------------------------------------------------------------------

    def export_throttle_state(self) -> ThrottleState:
        """The client's throttle state, JSON-serialisable (e.g. for ``task_state_store``)."""
        return self.get_client().export_throttle_state()

    def restore_throttle_state(self, state: Mapping[str, Any]) -> None:
        """Continue from a state saved by :meth:`export_throttle_state` (a previous try)."""
        self.get_client().restore_throttle_state(state)


def _select_columns(params: Mapping[str, Any] | None) -> list[str] | None:
    select = (params or {}).get("select")
    if isinstance(select, (list, tuple)) and select and all(isinstance(s, str) for s in select):
        columns = [s for s in select if "*" not in s]
        return columns or None
    return None
