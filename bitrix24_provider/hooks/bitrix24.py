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
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from airflow.sdk import BaseHook

from bitrix24_provider.client import Bitrix, BitrixAsync, ClientSettings, OAuthCredentials, RetryPolicy
from bitrix24_provider.client.auth import DEFAULT_OAUTH_SERVER
from bitrix24_provider.client.families import family_of
from bitrix24_provider.client.listing import rows_of
from bitrix24_provider.client.redact import register_secret, scrub
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

CONN_TYPE = "bitrix24"
_EXTRA_PREFIX = f"extra__{CONN_TYPE}__"
_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off"})


# ---------------------------------------------------------------------------------------------
# Connection parsing


def _extra(extra: Mapping[str, Any], name: str) -> Any:
    """An extra field as a plain key (Airflow 3 UI) or ``extra__bitrix24__<name>`` (Airflow 2 UI).

    Empty strings count as missing (the UI stores untouched text fields as ``""`` or ``null``).
    """
    for key in (name, _EXTRA_PREFIX + name):
        value = extra.get(key)
        if value is not None and value != "":
            return value
    return None


def _as_bool(value: Any, name: str, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"extra field {name!r} must be a boolean, got {value!r}")


def _as_float(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"extra field {name!r} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"extra field {name!r} must be a number, got {value!r}") from None
    if number <= 0:
        raise ValueError(f"extra field {name!r} must be positive, got {value!r}")
    return number


def _as_str(value: Any) -> str | None:
    return None if value is None else str(value).strip() or None


def _as_dsn(value: Any, conn_id: str) -> str | None:
    """The shared throttle's Redis URL; the error never repeats it (it may hold a password)."""
    dsn = _as_str(value)
    if dsn is not None and urlsplit(dsn).scheme not in ("redis", "rediss", "unix"):
        raise ValueError(
            f"Bitrix24 connection {conn_id!r}: shared_throttle_dsn must be a redis://, rediss:// or "
            "unix:// URL"
        )
    return dsn


@dataclass(frozen=True)
class Bitrix24ConnectionConfig:
    """What a Bitrix24 connection resolves to. Secrets are left out of ``repr``.

    :param conn_id: the Airflow connection id.
    :param auth_type: ``webhook`` or ``oauth``.
    :param portal_url: ``scheme://host[:port][/prefix]`` of the portal, without ``/rest/``.
    :param webhook_url: the incoming webhook URL (webhook auth only).
    :param client_id, client_secret, refresh_token, access_token, oauth_server: OAuth settings.
    :param plan, requests_per_second, request_pool_size: rate-limit settings of the client.
    :param verify_ssl, ca_bundle: TLS verification.
    :param shared_throttle_dsn: a Redis URL: share the request bucket and operating pauses with every
        client of the portal using that Redis (other tasks, workers); ``None``: per client.
    """

    conn_id: str
    auth_type: str
    portal_url: str
    webhook_url: str | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    oauth_server: str = DEFAULT_OAUTH_SERVER
    plan: str = "standard"
    requests_per_second: float | None = None
    request_pool_size: float | None = None
    verify_ssl: bool = True
    ca_bundle: str | None = None
    shared_throttle_dsn: str | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        """The REST endpoint: the webhook URL, or ``<portal>/rest/`` for OAuth."""
        if self.auth_type == "webhook" and self.webhook_url:
            return self.webhook_url
        return f"{self.portal_url}/rest/"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret of the connection (to mask in logs and messages)."""
        values = [self.client_secret, self.refresh_token, self.access_token]
        if self.shared_throttle_dsn:
            values.append(urlsplit(self.shared_throttle_dsn).password)
        if self.webhook_url:
            path = [p for p in urlsplit(self.webhook_url).path.split("/") if p]
            values.append(path[-1] if path else None)
        return tuple(v for v in values if v)

    @property
    def ssl(self) -> bool | str:
        if not self.verify_ssl:
            return False
        return self.ca_bundle or True

    def client_arguments(self, on_refresh: Any = None, on_invalid_grant: Any = None) -> dict[str, Any]:
        """Keyword arguments of :class:`~bitrix24_provider.client.Bitrix` for this connection."""
        kwargs: dict[str, Any] = {
            "plan": self.plan,
            "requests_per_second": self.requests_per_second,
            "request_pool_size": self.request_pool_size,
            "ssl": self.ssl,
        }
        if self.shared_throttle_dsn:
            kwargs["shared_throttle"] = self.shared_throttle_dsn
        if self.auth_type == "oauth":
            assert self.client_id and self.client_secret and self.refresh_token
            kwargs["oauth"] = OAuthCredentials(
                endpoint=self.endpoint,
                client_id=self.client_id,
                client_secret=self.client_secret,
                refresh_token=self.refresh_token,
                access_token=self.access_token,
                oauth_server=self.oauth_server,
                on_refresh=on_refresh,
                on_invalid_grant=on_invalid_grant,
            )
        else:
            kwargs["webhook"] = self.webhook_url
        return kwargs


def _split_host(host: str, schema: str | None, port: int | None) -> tuple[str, str, list[str]]:
    """``(scheme://netloc, path prefix before /rest, path segments after /rest)`` of ``host``."""
    text = host.strip()
    if "://" not in text:
        scheme = (schema or "").strip().lower()
        text = f"{scheme if scheme in ('http', 'https') else 'https'}://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"host must be an http(s) portal or webhook URL, got {scrub(host)!r}")
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if port and parts.port is None:
        netloc = f"{netloc}:{int(port)}"
    segments = [s for s in parts.path.split("/") if s]
    if "rest" in segments:
        at = segments.index("rest")
        prefix, after = segments[:at], segments[at + 1 :]
    else:
        prefix, after = segments, []
    path = "/" + "/".join(prefix) if prefix else ""
    return f"{parts.scheme}://{netloc}", path, after


def parse_connection(
    conn_id: str,
    host: str | None,
    login: str | None = None,
    password: str | None = None,
    schema: str | None = None,
    port: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Bitrix24ConnectionConfig:
    """Resolve a Bitrix24 connection's fields.

    ``host`` is either a full webhook URL ``https://portal/rest/<user>/<code>/`` (login and password
    are then ignored) or the portal (``https://portal.bitrix24.com`` or a bare host name, then
    ``schema`` picks http or https, https by default) with the user id in ``login`` and the webhook
    code in ``password``. With ``auth_type=oauth`` the portal part of ``host`` gives the REST endpoint
    ``<portal>/rest/`` and the OAuth settings come from the extras. Error messages never contain
    secrets.
    """
    extra = extra or {}
    if not host or not str(host).strip():
        raise ValueError(f"Bitrix24 connection {conn_id!r} has no host (the portal or webhook URL)")
    base, prefix, after = _split_host(str(host), schema, port)
    portal_url = base + prefix
    client_id = _as_str(_extra(extra, "client_id"))
    refresh_token = _as_str(_extra(extra, "refresh_token"))
    auth_type = _as_str(_extra(extra, "auth_type"))
    if auth_type is None:
        auth_type = "oauth" if client_id and refresh_token else "webhook"
    auth_type = auth_type.lower()
    if auth_type not in ("webhook", "oauth"):
        raise ValueError(f"Bitrix24 connection {conn_id!r}: auth_type must be webhook or oauth")
    plan = (_as_str(_extra(extra, "plan")) or "standard").lower()
    if plan not in ("standard", "enterprise"):
        raise ValueError(f"Bitrix24 connection {conn_id!r}: plan must be standard or enterprise")
    common: dict[str, Any] = {
        "conn_id": conn_id,
        "auth_type": auth_type,
        "portal_url": portal_url,
        "plan": plan,
        "requests_per_second": _as_float(_extra(extra, "requests_per_second"), "requests_per_second"),
        "request_pool_size": _as_float(_extra(extra, "request_pool_size"), "request_pool_size"),
        "verify_ssl": _as_bool(_extra(extra, "verify_ssl"), "verify_ssl", True),
        "ca_bundle": _as_str(_extra(extra, "ca_bundle")),
        "shared_throttle_dsn": _as_dsn(_extra(extra, "shared_throttle_dsn"), conn_id),
    }
    if auth_type == "oauth":
        client_secret = _as_str(_extra(extra, "client_secret"))
        missing = [
            name
            for name, value in (
                ("client_id", client_id),
                ("client_secret", client_secret),
                ("refresh_token", refresh_token),
            )
            if not value
        ]
        if missing:
            raise ValueError(
                f"Bitrix24 connection {conn_id!r} uses OAuth but lacks the extra field(s) "
                f"{', '.join(missing)}"
            )
        return Bitrix24ConnectionConfig(
            **common,
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh_token,
            access_token=_as_str(_extra(extra, "access_token")),
            oauth_server=_as_str(_extra(extra, "oauth_server")) or DEFAULT_OAUTH_SERVER,
        )
    user: str | None
    code: str | None
    if len(after) >= 2:  # a full webhook URL: /rest/<user>/<code>/
        user, code = after[0], after[1]
    else:
        user, code = _as_str(login), _as_str(password)
    if not user or not code:
        raise ValueError(
            f"Bitrix24 connection {conn_id!r} needs a full webhook URL in host, or the portal URL "
            "in host with the user ID in login and the webhook code in password"
        )
    webhook = f"{portal_url}/rest/{quote(user, safe='')}/{quote(code, safe='')}/"
    return Bitrix24ConnectionConfig(**common, webhook_url=webhook)


def _client_options(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """``client_kwargs`` with JSON-friendly spellings turned into objects: ``settings`` may be a
    dict of :class:`ClientSettings` fields, whose ``retry`` may be a dict of :class:`RetryPolicy`."""
    options = dict(raw or {})
    settings = options.get("settings")
    if isinstance(settings, Mapping):
        values = dict(settings)
        if isinstance(values.get("retry"), Mapping):
            values["retry"] = RetryPolicy(**values["retry"])
        options["settings"] = ClientSettings(**values)
    options.setdefault("verbose", False)
    return options


# ---------------------------------------------------------------------------------------------
# "Changed since" probe (shared by the sensor and the trigger)


def _parse_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def normalize_watermark(value: str | datetime) -> str:
    """An ISO 8601 date-time as Bitrix24 filters take it: ``YYYY-MM-DDTHH:MM:SS+HH:MM``.

    Accepts ``datetime`` objects (pendulum included) and ISO strings, also with a ``Z`` or an offset
    (``{{ data_interval_start | ts }}``). Fractions of a second are dropped, which keeps ``>`` exact
    because Bitrix24 stores whole seconds. A value without an offset stays without one (the portal
    then reads it in its own time zone).
    """
    parsed = _parse_datetime(value)
    if parsed is None:
        raise ValueError(f"watermark must be an ISO 8601 date-time, got {value!r}")
    return parsed.replace(microsecond=0).isoformat()


def _squash(name: str) -> str:
    return name.replace("_", "").lower()


@dataclass(frozen=True)
class ChangeCheck:
    """One cheap list call answering "did any record change after the watermark?".

    The call asks for one page without counting (``start=-1``) of the records whose cursor field is
    after the watermark, newest first, selecting only the id and the cursor field; the first row
    then carries the newest change. ``count`` is the number of changed records on that page, so at
    most 50.

    :param method: a list method (``crm.deal.list``, ``crm.item.list``, ``tasks.task.list``...).
    :param cursor_field: ``DATE_MODIFY`` (classic CRM), ``updatedTime`` (``crm.item.list``, with
        ``entityTypeId`` in ``call_params``), ``CHANGED_DATE`` (tasks; the answer names it
        ``changedDate``, which is found automatically).
    :param watermark: changes strictly after this date-time count.
    :param filter: further filter conditions (the cursor condition is added to them).
    :param call_params: further request parameters, e.g. ``{"entityTypeId": 1032}``.
    """

    method: str
    cursor_field: str
    watermark: str
    filter: Mapping[str, Any] | None = None
    call_params: Mapping[str, Any] | None = None

    def params(self) -> dict[str, Any]:
        id_field = family_of(self.method).request_id
        if self.cursor_field[:1].islower():  # camelCase APIs (crm.item.list) name the id "id"
            id_field = "id"
        return {
            **dict(self.call_params or {}),
            "filter": {**dict(self.filter or {}), f">{self.cursor_field}": self.watermark},
            "order": {self.cursor_field: "DESC"},
            "select": [id_field, self.cursor_field],
            "start": -1,
        }

    def _cursor(self, row: Mapping[str, Any]) -> Any:
        if self.cursor_field in row:
            return row[self.cursor_field]
        # tasks filter by CHANGED_DATE but answer changedDate; compare names without case and "_"
        wanted = _squash(self.cursor_field)
        for key, value in row.items():
            if _squash(str(key)) == wanted:
                return value
        raise ValueError(
            f"{self.method} returned rows without the cursor field {self.cursor_field!r}; "
            "check cursor_field (crm.item.list uses updatedTime, tasks.task.list CHANGED_DATE)"
        )

    def evaluate(self, result: Any) -> dict[str, Any] | None:
        """``{"watermark": newest cursor value, "count": n}``, or ``None`` when nothing changed.

        Rows whose cursor is not after the watermark are not counted (a portal ignoring an unknown
        filter field would otherwise report every record as changed).
        """
        rows = rows_of(result, family_of(self.method)) if result else []
        bound = _parse_datetime(self.watermark)
        newest: tuple[datetime, str] | None = None
        count = 0
        for row in rows:
            raw = self._cursor(row)
            moment = _parse_datetime(raw)
            if moment is None:
                continue
            if bound is not None and (moment.tzinfo is None) == (bound.tzinfo is None) and moment <= bound:
                continue
            count += 1
            if newest is None or _later(moment, newest[0]):
                newest = (moment, str(raw))
        if newest is None:
            return None
        return {"watermark": newest[1], "count": count}


def _later(a: datetime, b: datetime) -> bool:
    if (a.tzinfo is None) != (b.tzinfo is None):
        return False
    return a > b


# ---------------------------------------------------------------------------------------------
# The hook


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
    full webhook URL in *host*, or the portal in *host* plus the user id in *login* and the webhook
    code in *password*. OAuth connections (extra ``auth_type=oauth``) give the portal in *host* and
    ``client_id``, ``client_secret``, ``refresh_token`` (and optionally ``access_token`` and
    ``oauth_server``) in the extras.

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
        ``max_concurrent_requests`` through ``settings``...); they override the connection's.
        ``settings`` may be a dict of :class:`~bitrix24_provider.client.ClientSettings` fields (its
        ``retry`` a dict of :class:`~bitrix24_provider.client.RetryPolicy` fields), so the value
        stays JSON-serialisable for triggers.
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
            arguments = config.client_arguments(self._on_refresh, self._on_invalid_grant)
            self._client = Bitrix(**{**arguments, **_client_options(self.client_kwargs)})
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
        arguments = config.client_arguments(self._aon_refresh, self._aon_invalid_grant)
        return BitrixAsync(**{**arguments, **_client_options(self.client_kwargs)})

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
            return _as_str(_extra(conn.extra_dejson, "refresh_token"))
        except Exception:
            return None

    async def _aconnection_refresh_token(self) -> str | None:
        try:
            conn = await self._aget_connection()
            return _as_str(_extra(await self._aget_extra(conn), "refresh_token"))
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
    ) -> dict[str, Any] | None:
        """``{"watermark", "count"}`` of the records changed after ``watermark``, or ``None``.

        One ``start=-1`` list call; see :class:`ChangeCheck`.
        """
        check = ChangeCheck(method, cursor_field, normalize_watermark(watermark), filter, call_params)
        answer = self.get_client().call(method, check.params(), raw=True)
        return check.evaluate(answer.get("result"))

    @staticmethod
    async def acheck_changes(client: BitrixAsync, check: ChangeCheck) -> dict[str, Any] | None:
        """Async twin of :meth:`check_changes` on a client from :meth:`aget_client`."""
        answer = await client.call(check.method, check.params(), raw=True)
        return check.evaluate(answer.get("result"))

    def redact(self, text: str) -> str:
        """``text`` with this connection's secrets and anything secret-shaped masked."""
        return scrub(text, self._config.secrets if self._config is not None else ())

    # -- Airflow UI -------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Call the read-only ``profile`` method; the message never contains a secret.

        With OAuth, a refresh during the test rotates the refresh token; it is stored like any
        other refresh (see the class docstring).
        """
        secrets: tuple[str, ...] = ()
        try:
            config = self.config
            secrets = config.secrets
            arguments = config.client_arguments(self._on_refresh, self._on_invalid_grant)
            with Bitrix(**{**arguments, **_client_options(self.client_kwargs)}) as client:
                profile = client.call("profile")
        except Exception as error:
            secrets += self._config.secrets if self._config is not None else ()
            return False, scrub(f"{type(error).__name__}: {error}", secrets)
        user = profile.get("ID") if isinstance(profile, Mapping) else None
        where = scrub(config.portal_url, secrets)
        return True, f"Connection successfully tested: {where} answered as user {user}"

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
