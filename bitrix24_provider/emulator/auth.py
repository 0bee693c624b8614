"""Webhook and OAuth authentication of the portal, and the OAuth token server (contract §1.4-1.5)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from .config import EmulatorConfig
from .errors import RestError


@dataclass(frozen=True)
class Principal:
    auth_type: str  # "webhook" | "oauth"
    user_id: int
    credential: str  # the key the operating limiter bills to (never the secret itself)


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:12]


class OAuthServer:
    """Access tokens that expire after ``token_lifetime`` portal seconds; refresh tokens rotate."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self._access: dict[str, float] = {}  # token -> expires at (portal time)
        self._refresh: set[str] = {config.refresh_token}
        self.refreshes = 0
        self.rejected_refreshes = 0  # refresh tokens turned down as unknown or spent

    def issue(self, now: float) -> dict[str, Any]:
        access, refresh = secrets.token_hex(16), secrets.token_hex(16)
        self._access[access] = now + self.config.token_lifetime
        self._refresh.add(refresh)
        return {"access_token": access, "refresh_token": refresh}

    def refresh(self, params: dict[str, Any], now: float, portal_url: str) -> dict[str, Any]:
        if params.get("grant_type") != "refresh_token":
            raise RestError("invalid_request", "Unsupported grant_type", 400)
        if (
            params.get("client_id") != self.config.client_id
            or params.get("client_secret") != self.config.client_secret
        ):
            raise RestError("invalid_client", "Invalid client credentials", 400)
        old = params.get("refresh_token")
        if not isinstance(old, str) or old not in self._refresh:
            self.rejected_refreshes += 1
            raise RestError("invalid_grant", "Invalid refresh token", 400)
        self._refresh.discard(old)
        pair = self.issue(now)
        self.refreshes += 1
        return {
            **pair,
            "expires": int(now + self.config.token_lifetime),
            "expires_in": int(self.config.token_lifetime),
            "client_endpoint": f"{portal_url}/rest/",
            "server_endpoint": f"{portal_url}/oauth/rest/",
            "domain": "oauth.emulator.local",
            "member_id": hashlib.md5(portal_url.encode()).hexdigest(),
            "scope": "crm,task,user",
            "status": "L",
            "user_id": self.config.user_id,
        }

    def authenticate(self, token: str | None, now: float) -> Principal:
        if not token:
            raise RestError("NO_AUTH_FOUND", "Wrong authorization data", 401)
        expires = self._access.get(token)
        if expires is None:
            raise RestError("invalid_token", "Unable to get application by token", 401)
        if now >= expires:
            raise RestError("expired_token", "The access token provided has expired.", 401)
        return Principal("oauth", self.config.user_id, f"app:{self.config.client_id}")

    def reset(self) -> None:
        self._access.clear()
        self._refresh = {self.config.refresh_token}


def authenticate_webhook(config: EmulatorConfig, user: str, code: str) -> Principal:
    if user != str(config.user_id) or not secrets.compare_digest(code, config.webhook_code):
        raise RestError("INVALID_CREDENTIALS", "Invalid request credentials", 401)
    return Principal("webhook", config.user_id, f"webhook:{_fingerprint(code)}")
