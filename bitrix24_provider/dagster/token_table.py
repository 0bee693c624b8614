"""Rotated OAuth tokens kept in the destination database (Dagster has no Variables).

Bitrix24 replaces the refresh token on every refresh, so the one a resource was configured with is
spent after the first refresh. The newest pair goes to ``_bitrix24_oauth_tokens`` next to the
loaded tables, one row per (portal, client id), as the JSON of
:class:`~bitrix24_provider.hooks.oauth_tokens.StoredTokens`; the chain rules (a new refresh token in
the configuration starts a new chain) are the Airflow hook's. Whoever can read the destination
database can read the tokens: grant it as you would the configuration's secrets.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timezone

from sqlalchemy import text

from bitrix24_provider.hooks.oauth_tokens import StoredTokens
from bitrix24_provider.staging.database import Database
from bitrix24_provider.staging.dialects import run
from bitrix24_provider.staging.identifiers import TableName

__all__ = ["TOKEN_TABLE", "TokenTable"]

TOKEN_TABLE = "_bitrix24_oauth_tokens"

log = logging.getLogger(__name__)


class TokenTable:
    """The stored pair of one OAuth application on one portal.

    :param key: names the chain without revealing anything: the SHA-256 of portal and client id.
    """

    def __init__(self, db: Database, schema: str | None, portal_url: str, client_id: str) -> None:
        self.db = db
        self.table = TableName(TOKEN_TABLE, schema)
        self.key = hashlib.sha256(f"{portal_url}\n{client_id}".encode()).hexdigest()

    def load(self) -> StoredTokens | None:
        with self.db.begin() as conn:
            if not self.db.exists(conn, self.table):
                return None
            row = conn.execute(
                text(f"SELECT tokens FROM {self.table.sql} WHERE chain = :k"), {"k": self.key}
            ).first()
        if row is None:
            return None
        try:
            return StoredTokens.from_json(str(row[0]))
        except ValueError:
            log.warning("Ignoring an unreadable row of %s", self.table.label)
            return None

    def save(self, tokens: StoredTokens) -> None:
        """Store *tokens* unless a later generation is stored already (another process rotated)."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self.db.begin() as conn:
            run(
                conn,
                f"CREATE TABLE IF NOT EXISTS {self.table.sql} "
                "(chain TEXT PRIMARY KEY, generation BIGINT NOT NULL, tokens TEXT NOT NULL, updated_at TEXT)",
            )
            params = {"k": self.key, "g": tokens.generation, "t": tokens.to_json(), "u": now}
            updated = conn.execute(
                text(
                    f"UPDATE {self.table.sql} SET generation = :g, tokens = :t, updated_at = :u "
                    "WHERE chain = :k AND generation <= :g"
                ),
                params,
            )
            if updated.rowcount == 0:
                exists = conn.execute(
                    text(f"SELECT 1 FROM {self.table.sql} WHERE chain = :k"), {"k": self.key}
                ).first()
                if exists is None:
                    conn.execute(
                        text(
                            f"INSERT INTO {self.table.sql} (chain, generation, tokens, updated_at) "
                            "VALUES (:k, :g, :t, :u)"
                        ),
                        params,
                    )
