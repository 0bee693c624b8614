"""The Dagster resources: the portal (``Bitrix24Resource``) and the database the loads write into
(``Bitrix24Destination``). Give secrets as ``dg.EnvVar("...")``: Dagster then keeps only the
variable's name in run configuration and the UI."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from bitrix24_provider.client.redact import register_secret, scrub
from bitrix24_provider.hooks.connection import Bitrix24ConnectionConfig, parse_connection
from bitrix24_provider.staging.database import Database
from bitrix24_provider.staging.errors import StagingConfigError
from bitrix24_provider.staging.identifiers import check_identifier

from .session import PortalSession
from .token_table import TokenTable

__all__ = ["Bitrix24Destination", "Bitrix24Resource"]

#: how the settings are named in messages (the Airflow connection's labels do not apply)
_NAME = "bitrix24 resource"


class Bitrix24Resource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """A Bitrix24 portal, with the fields of the Airflow ``bitrix24`` connection.

    Webhook: ``webhook_url`` (``https://<portal>/rest/<user>/<code>/``), or ``portal`` + ``user_id``
    + ``webhook_code``. OAuth: ``portal``, ``client_id``, ``client_secret``, ``refresh_token``; rotated
    refresh tokens are stored in the destination database (``_bitrix24_oauth_tokens``).
    """

    webhook_url: str | None = Field(default=None, description="https://<portal>/rest/<user>/<code>/ (secret)")
    portal: str | None = Field(default=None, description="The portal, e.g. example.bitrix24.com")
    user_id: str | None = Field(default=None, description="The webhook's user id")
    webhook_code: str | None = Field(default=None, description="The webhook's code (secret)")
    auth_type: str | None = Field(default=None, description="webhook or oauth (default: by the fields)")
    client_id: str | None = None
    client_secret: str | None = Field(default=None, description="OAuth client secret (secret)")
    refresh_token: str | None = Field(default=None, description="OAuth refresh token (secret)")
    oauth_server: str | None = None
    plan: str = Field(default="standard", description="standard or enterprise (the portal's rate limits)")
    requests_per_second: float | None = None
    request_pool_size: float | None = None
    verify_ssl: bool = True
    ca_bundle: str | None = None
    shared_throttle_dsn: str | None = Field(
        default=None, description="redis:// URL: share the request budget with every client of the portal"
    )
    client_settings: dict[str, Any] | None = Field(
        default=None, description="ClientSettings fields, e.g. {batch_size: 50, max_parallel_chains: 4}"
    )

    def connection_config(self) -> Bitrix24ConnectionConfig:
        """The settings resolved as the Airflow hook resolves a connection; a bad or incomplete set is
        a :class:`StagingConfigError` that never repeats a secret."""
        extra = {
            "auth_type": self.auth_type,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
            "oauth_server": self.oauth_server,
            "plan": self.plan,
            "requests_per_second": self.requests_per_second,
            "request_pool_size": self.request_pool_size,
            "verify_ssl": self.verify_ssl,
            "ca_bundle": self.ca_bundle,
            "shared_throttle_dsn": self.shared_throttle_dsn,
        }
        given = [name for name in ("webhook_url", "portal") if getattr(self, name)]
        if len(given) != 1:
            raise StagingConfigError(
                f"{_NAME}: give either webhook_url or portal (with user_id and webhook_code, or OAuth)"
            )
        register_secret(self.webhook_code, self.client_secret, self.refresh_token)
        try:
            return parse_connection(
                _NAME,
                self.webhook_url or self.portal,
                login=self.user_id,
                password=self.webhook_code,
                extra={k: v for k, v in extra.items() if v is not None},
            )
        except ValueError as error:
            message = str(error).replace("Portal URL (host)", "portal").replace("User ID (login)", "user_id")
            message = message.replace("Webhook code (password)", "webhook_code")
            raise StagingConfigError(scrub(message)) from None

    def session(
        self, destination: Bitrix24Destination | None = None, db: Database | None = None
    ) -> PortalSession:
        """A client for one step (close it); OAuth tokens rotate into *destination*'s database."""
        config = self.connection_config()
        tokens = None
        if config.auth_type == "oauth" and destination is not None and db is not None:
            tokens = TokenTable(db, destination.schema, config.portal_url, config.client_id or "")
        kwargs: dict[str, Any] = {}
        if self.client_settings:
            kwargs["settings"] = dict(self.client_settings)
        return PortalSession(config, kwargs, tokens)

    def load(
        self, context: dg.AssetExecutionContext, destination: Bitrix24Destination
    ) -> Iterator[dg.MaterializeResult[Any]]:
        """Load the step's selected entities into *destination*: one ``MaterializeResult`` (with
        its checks) per asset, progress lines in the event log."""
        from .step import load_selected

        yield from load_selected(context, self, destination)


with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message='Field name "schema"')

    class Bitrix24Destination(dg.ConfigurableResource):  # type: ignore[type-arg]
        """The database the loads write into: a SQLAlchemy ``url`` (SQLite and PostgreSQL are tested;
        PostgreSQL loads pages with COPY) and an optional ``schema`` for the tables and the state."""

        url: str = Field(
            description="SQLAlchemy URL, e.g. sqlite:///b24.db or postgresql+psycopg://... (secret)"
        )
        schema: str | None = Field(  # type: ignore[assignment]
            default=None, description="Schema of the tables (default: the URL's)"
        )

        def database(self) -> Database:
            """A new :class:`Database` on this URL (dispose it)."""
            if self.schema is not None:
                check_identifier(self.schema, "schema")
            try:
                engine = sa.create_engine(self.url)
            except (sa.exc.ArgumentError, ImportError, ValueError) as error:
                raise StagingConfigError(
                    f"destination url is not a usable SQLAlchemy URL ({type(error).__name__})"
                ) from None
            return Database(engine)
