"""Where requests go and how they are authenticated: an incoming webhook, or an OAuth application
whose access token is refreshed on ``expired_token`` and whose rotated tokens are handed back.

Bitrix24 replaces the refresh token on every refresh. When several processes share one
application, another one may have spent the refresh token this client holds; the token server then
answers ``invalid_grant``, and ``OAuthCredentials.on_invalid_grant`` may hand over the newer pair
that process stored."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from .error_codes import error_from_response
from .errors import AuthError, TransportError
from .redact import SecretRegistry, redact_url

DEFAULT_OAUTH_SERVER = "https://oauth.bitrix.info/oauth/token/"

#: Called with the new token response after every refresh, to persist the rotated refresh token.
TokenCallback = Callable[[Mapping[str, Any]], Awaitable[None] | None]
#: fast_bitrix24's ``token_func``: an async function returning a fresh access token.
TokenFunc = Callable[[], Awaitable[str]]
#: Called with the refresh token the token server rejected (``invalid_grant``); returns a newer pair
#: ``{"refresh_token": ..., "access_token": ...}`` (the access token is optional) to go on with, or
#: ``None`` to let the ``invalid_grant`` error through. It may also raise an error of its own.
TokenReload = Callable[[str], Awaitable[Mapping[str, Any] | None] | Mapping[str, Any] | None]

#: How many newer pairs ``on_invalid_grant`` may hand over within one refresh.
MAX_TOKEN_RELOADS = 3


def normalize_webhook(url: str) -> str:
    """A webhook or REST endpoint URL with a trailing slash; validated without echoing secrets."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or "/rest/" not in parts.path + "/":
        raise ValueError(
            f"not a Bitrix24 REST URL: {redact_url(url)!r} (expected https://<portal>/rest/<user>/<code>/)"
        )
    return url if url.endswith("/") else url + "/"


def webhook_secret(url: str) -> str | None:
    """The webhook code in ``.../rest/<user>/<code>/``, if the URL has one."""
    path = [p for p in urlsplit(url).path.split("/") if p]
    if len(path) >= 3 and path[-3] == "rest":
        return path[-1]
    return None


@dataclass
class OAuthCredentials:
    """An OAuth application's credentials. ``endpoint`` is the portal's REST URL
    (``client_endpoint``, e.g. ``https://portal.bitrix24.com/rest/``).

    ``on_refresh`` receives the token response after every refresh (persist the rotated refresh
    token there); ``on_invalid_grant`` is asked for a newer pair when the refresh token was rejected
    (see :data:`TokenReload`).
    """

    endpoint: str
    client_id: str
    client_secret: str
    refresh_token: str
    access_token: str | None = None
    oauth_server: str = DEFAULT_OAUTH_SERVER
    on_refresh: TokenCallback | None = None
    on_invalid_grant: TokenReload | None = None


class Auth:
    """Builds request URLs and parameters; refreshes OAuth tokens once for all waiting requests."""

    def __init__(
        self,
        secrets: SecretRegistry,
        webhook: str | None = None,
        oauth: OAuthCredentials | None = None,
        token_func: TokenFunc | None = None,
    ) -> None:
        if (webhook is None) == (oauth is None):
            raise ValueError("give either a webhook URL or OAuth credentials")
        if token_func is not None and not inspect.iscoroutinefunction(token_func):
            raise ValueError("token_func must be an async function")
        self.secrets = secrets
        self.oauth = oauth
        self.token_func = token_func
        self.base = normalize_webhook(webhook if webhook is not None else oauth.endpoint)  # type: ignore[union-attr]
        secrets.add(webhook_secret(self.base))
        if oauth is not None:
            secrets.add(oauth.client_secret, oauth.refresh_token, oauth.access_token)
        self._token: str | None = oauth.access_token if oauth is not None else None
        self._generation = 0
        self._lock = asyncio.Lock()
        self.refreshes = 0

    @property
    def needs_token(self) -> bool:
        return self.oauth is not None or self.token_func is not None

    def url(self, method: str) -> str:
        return self.base + method

    def rebind(self) -> None:
        """A new refresh lock for a new event loop (see :meth:`.Transport.bind`)."""
        self._lock = asyncio.Lock()

    async def params(self) -> tuple[dict[str, str], int]:
        """Auth parameters for one request, and the token generation they belong to."""
        if not self.needs_token:
            return {}, self._generation
        if self._token is None:
            await self.refresh(self._generation)
        assert self._token is not None
        return {"auth": self._token}, self._generation

    async def refresh(self, generation: int, session: aiohttp.ClientSession | None = None) -> None:
        """Get a new access token unless another request already did since ``generation``."""
        async with self._lock:
            if generation != self._generation and self._token is not None:
                return
            if self.token_func is not None:
                token = await self.token_func()
            elif self.oauth is not None and session is not None:
                token = await self._refresh_oauth(session)
            elif self.oauth is not None:
                async with aiohttp.ClientSession() as own:
                    token = await self._refresh_oauth(own)
            else:
                raise AuthError("expired_token", "no way to refresh the token", "oauth")
            self.secrets.add(token)
            self._token = token
            self._generation += 1
            self.refreshes += 1

    async def _refresh_oauth(self, session: aiohttp.ClientSession) -> str:
        oauth = self.oauth
        assert oauth is not None
        reloads = 0
        while True:
            try:
                return await self._request_token(session, oauth)
            except AuthError as error:
                if error.code != "invalid_grant" or oauth.on_invalid_grant is None:
                    raise
                if reloads >= MAX_TOKEN_RELOADS:
                    raise
                reloads += 1
                newer = oauth.on_invalid_grant(oauth.refresh_token)
                if inspect.isawaitable(newer):
                    newer = await newer
                refresh = str(newer.get("refresh_token") or "") if newer else ""
                if not refresh or refresh == oauth.refresh_token:
                    raise
                access = str(newer.get("access_token") or "") if newer else ""
                self.secrets.add(refresh, access)
                oauth.refresh_token = refresh
                if access and access not in (self._token, oauth.access_token):
                    oauth.access_token = access  # already issued to the other process: no new rotation
                    return access

    async def _request_token(self, session: aiohttp.ClientSession, oauth: OAuthCredentials) -> str:
        query = {
            "grant_type": "refresh_token",
            "client_id": oauth.client_id,
            "client_secret": oauth.client_secret,
            "refresh_token": oauth.refresh_token,
        }
        try:
            async with session.get(oauth.oauth_server, params=query) as response:
                status = response.status
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            raise TransportError(
                self.secrets.redact(f"token refresh failed: {error}"),
                method="oauth/token",
                cause=type(error).__name__,
            ) from None
        if status != 200 or not isinstance(body, Mapping) or "access_token" not in body:
            raise error_from_response(status, body if isinstance(body, Mapping) else None, "oauth/token")
        self.secrets.add(str(body["access_token"]), str(body.get("refresh_token", "")))
        oauth.access_token = str(body["access_token"])
        oauth.refresh_token = str(body.get("refresh_token") or oauth.refresh_token)
        if oauth.on_refresh is not None:
            outcome = oauth.on_refresh(dict(body))
            if inspect.isawaitable(outcome):
                await outcome
        return oauth.access_token
