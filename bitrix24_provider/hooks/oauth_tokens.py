"""The rotating OAuth token pair of a Bitrix24 connection as it is kept between runs.

Bitrix24 replaces the refresh token on every refresh, so the pair a connection was created with is
spent after the first refresh. The newest pair is kept in an Airflow Variable (see
:mod:`bitrix24_provider.hooks.token_store`) as JSON: the tokens, the access token's expiry, a
``generation`` that grows with every rotation and ``origin``, the SHA-256 of the connection's refresh
token the chain of rotations started from. A stored pair is used only while the connection still
holds that token (or the stored one itself); once somebody puts a new refresh token into the
connection (a re-authorization), the connection wins and a new chain starts.

Nothing here imports Airflow.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from bitrix24_provider.client import AuthError

__all__ = [
    "VARIABLE_PREFIX",
    "OAuthReauthorizationRequired",
    "StoredTokens",
    "fingerprint",
    "newer_tokens",
    "reauthorization_required",
    "starting_tokens",
    "variable_key",
]

#: Variables holding rotated tokens are named ``bitrix24_oauth_token_<conn_id>``. The name contains
#: "token", so Airflow masks the value in the UI and in logs.
VARIABLE_PREFIX = "bitrix24_oauth_token_"

#: An access token this close to its expiry is not worth handing out.
_EXPIRY_MARGIN = 60.0


def variable_key(conn_id: str) -> str:
    """The Variable that keeps the rotated tokens of connection ``conn_id``."""
    return VARIABLE_PREFIX + conn_id


def fingerprint(refresh_token: str) -> str:
    """A one-way fingerprint of a refresh token (kept instead of the token itself)."""
    return hashlib.sha256(refresh_token.encode()).hexdigest()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return float(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class StoredTokens:
    """One link of a connection's chain of rotated tokens. Secrets are left out of ``repr``.

    :param refresh_token: the newest refresh token (the only one the token server still accepts).
    :param access_token: the access token issued with it, if known.
    :param expires_at: when the access token expires (Unix time), if known.
    :param generation: how many rotations were stored before this one (grows by one each time).
    :param origin: :func:`fingerprint` of the connection's refresh token the chain started from.
    :param updated_at: when this pair was stored (Unix time).
    """

    refresh_token: str = field(repr=False)
    access_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None
    generation: int = 0
    origin: str = ""
    updated_at: float | None = None

    @classmethod
    def from_connection(
        cls, refresh_token: str, access_token: str | None = None, generation: int = 0
    ) -> StoredTokens:
        """The start of a chain: the connection's own tokens."""
        return cls(refresh_token, access_token, generation=generation, origin=fingerprint(refresh_token))

    def rotated(self, body: Mapping[str, Any], now: float | None = None) -> StoredTokens:
        """The next link, from a token server response (``access_token``, ``refresh_token``,
        ``expires_in`` or ``expires``). The expiry is counted on the local clock from
        ``expires_in`` when given, so a skewed clock does not matter."""
        now = time.time() if now is None else now
        lifetime = _number(body.get("expires_in"))
        expires = now + lifetime if lifetime is not None else _number(body.get("expires"))
        return StoredTokens(
            refresh_token=str(body.get("refresh_token") or self.refresh_token),
            access_token=str(body.get("access_token") or "") or None,
            expires_at=expires,
            generation=self.generation + 1,
            origin=self.origin,
            updated_at=now,
        )

    def descends_from(self, refresh_token: str) -> bool:
        """Whether this chain started from (or still is) the connection's ``refresh_token``."""
        return refresh_token == self.refresh_token or fingerprint(refresh_token) == self.origin

    def usable_access_token(self, now: float | None = None) -> str | None:
        """The access token, unless it is known to expire within a minute."""
        now = time.time() if now is None else now
        if self.expires_at is not None and self.expires_at - _EXPIRY_MARGIN <= now:
            return None
        return self.access_token

    def pair(self) -> dict[str, str]:
        """``{"refresh_token", "access_token"}`` as the client's ``on_invalid_grant`` returns it.

        The access token goes along even when it may have expired: it was usually issued moments
        ago by the process that rotated the refresh token, and an expired one only costs one
        ``expired_token`` answer before a normal refresh.
        """
        access = self.access_token
        return {"refresh_token": self.refresh_token, **({"access_token": access} if access else {})}

    def to_json(self) -> str:
        return json.dumps(
            {
                "refresh_token": self.refresh_token,
                "access_token": self.access_token,
                "expires_at": self.expires_at,
                "generation": self.generation,
                "origin": self.origin,
                "updated_at": self.updated_at,
            }
        )

    @classmethod
    def from_json(cls, raw: str) -> StoredTokens:
        """Parse :meth:`to_json` output; ``ValueError`` (without the value) if it is not that."""
        try:
            data = json.loads(raw)
        except (TypeError, ValueError):
            raise ValueError("not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("refresh_token"), str):
            raise ValueError("no refresh_token")
        generation = data.get("generation")
        access = data.get("access_token")
        return cls(
            refresh_token=data["refresh_token"],
            access_token=access if isinstance(access, str) and access else None,
            expires_at=_number(data.get("expires_at")),
            generation=generation if isinstance(generation, int) and not isinstance(generation, bool) else 0,
            origin=str(data.get("origin") or ""),
            updated_at=_number(data.get("updated_at")),
        )


def starting_tokens(
    connection_refresh: str, connection_access: str | None, stored: StoredTokens | None
) -> tuple[StoredTokens, bool]:
    """The pair to start from, and whether it is the stored one.

    The stored pair wins while it descends from the connection's refresh token; otherwise (no
    stored pair, or the connection got a new refresh token since) the connection's pair starts a new
    chain whose generations continue after the stored ones.
    """
    if stored is not None and stored.descends_from(connection_refresh):
        return stored, True
    generation = stored.generation if stored is not None else 0
    return StoredTokens.from_connection(connection_refresh, connection_access, generation), False


def newer_tokens(
    stored: StoredTokens | None,
    connection_refresh: str | None,
    current: StoredTokens | None,
    rejected: Collection[str],
) -> StoredTokens | None:
    """After an ``invalid_grant``: a pair whose refresh token was not turned down yet.

    That is the stored pair (another process rotated the token and stored the new one), else a
    refresh token put into the connection during the run, but never the token a chain started from
    (the first rotation spent it).
    """
    if stored is not None and stored.refresh_token not in rejected:
        return stored
    if not connection_refresh or connection_refresh in rejected:
        return None
    chains = [chain for chain in (stored, current) if chain is not None]
    if fingerprint(connection_refresh) in {chain.origin for chain in chains}:
        return None
    generation = max((chain.generation for chain in chains), default=0)
    return StoredTokens.from_connection(connection_refresh, generation=generation)


class OAuthReauthorizationRequired(AuthError):
    """Bitrix24 rejected the refresh token (``invalid_grant``) and no newer one is stored anywhere:
    the application has to be authorized again and the new refresh token put into the connection."""


def reauthorization_required(conn_id: str, key: str) -> OAuthReauthorizationRequired:
    return OAuthReauthorizationRequired(
        "invalid_grant",
        f"Bitrix24 rejected the OAuth refresh token of connection {conn_id!r} and neither the "
        f"Variable {key!r} nor the connection holds a newer one. Authorize the application again "
        "and put the new refresh token into the connection's refresh_token extra; the next run "
        "starts from it.",
        "oauth/token",
        400,
    )
