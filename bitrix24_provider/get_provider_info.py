"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

The connection form is declarative (Airflow >= 3.2): ``ui-field-behaviour`` relabels the standard
fields and ``conn-fields`` describes the extra fields with JSON Schema. Airflow stores the extra
fields as plain keys of ``Connection.extra``; :class:`~bitrix24_provider.hooks.bitrix24.Bitrix24Hook`
also reads the Airflow 2 spelling ``extra__bitrix24__<name>``.
"""

from __future__ import annotations

from typing import Any

from bitrix24_provider import __version__

INTEGRATION = "Bitrix24"
DEFAULT_OAUTH_SERVER = "https://oauth.bitrix.info/oauth/token/"


def _conn_fields() -> dict[str, Any]:
    return {
        "auth_type": {
            "label": "Auth type",
            "description": "webhook: an incoming webhook (Portal URL + User ID + Webhook code, or the full "
            "webhook URL in Portal URL); oauth: an OAuth application (client id/secret + refresh token).",
            "schema": {"type": "string", "enum": ["webhook", "oauth"], "default": "webhook"},
        },
        "client_id": {
            "label": "OAuth client ID",
            "description": "The application's client_id (auth type oauth only).",
            "schema": {"type": ["string", "null"]},
        },
        "client_secret": {
            "label": "OAuth client secret",
            "description": "The application's client_secret (auth type oauth only).",
            "schema": {"type": ["string", "null"], "format": "password"},
        },
        "refresh_token": {
            "label": "OAuth refresh token",
            "description": "The first refresh token. Bitrix24 rotates it on every refresh; the hook keeps "
            "the newest one in the Variable bitrix24_oauth_token_<conn_id>. Put a new token here after "
            "re-authorizing the application.",
            "schema": {"type": ["string", "null"], "format": "password"},
        },
        "oauth_server": {
            "label": "OAuth token server",
            "description": "Where refresh tokens are exchanged for access tokens.",
            "schema": {"type": ["string", "null"], "default": DEFAULT_OAUTH_SERVER},
        },
        "plan": {
            "label": "Bitrix24 plan",
            "description": "Sets the client's rate-limit defaults: standard (bucket 50, 2 requests/s) or "
            "enterprise (bucket 250, 5 requests/s).",
            "schema": {"type": "string", "enum": ["standard", "enterprise"], "default": "standard"},
        },
        "requests_per_second": {
            "label": "Requests per second",
            "description": "Overrides the plan's drain rate of the request bucket (empty: plan default).",
            "schema": {"type": ["number", "null"], "minimum": 0.01},
        },
        "request_pool_size": {
            "label": "Request pool size",
            "description": "Overrides the plan's request bucket size (empty: plan default).",
            "schema": {"type": ["number", "null"], "minimum": 1},
        },
        "verify_ssl": {
            "label": "Verify SSL",
            "description": "Verify the portal's TLS certificate.",
            "schema": {"type": "boolean", "default": True},
        },
        "ca_bundle": {
            "label": "CA bundle",
            "description": "Path of a CA bundle file to verify the portal's certificate with (empty: the "
            "system store).",
            "schema": {"type": ["string", "null"]},
        },
        "shared_throttle_dsn": {
            "label": "Shared throttle (Redis URL)",
            "description": "e.g. redis://:password@host:6379/0. Every task whose connection names the same "
            "Redis shares one request bucket per portal and the operating-limit pauses, instead of one per "
            "task: use it when several tasks or DAGs call this portal at once (needs the [redis] extra). "
            "Empty: per task.",
            "schema": {"type": ["string", "null"], "format": "password"},
        },
    }


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-bitrix24",
        "name": "Bitrix24",
        "description": "Bitrix24 CRM REST API: batched, throttled exports and writes.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://apidocs.bitrix24.com/",
                "tags": ["software"],
            }
        ],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": ["bitrix24_provider.hooks.bitrix24"]}],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "bitrix24_provider.operators.bitrix24",
                    "bitrix24_provider.operators.get_all",
                    "bitrix24_provider.operators.call",
                ],
            }
        ],
        "sensors": [
            {"integration-name": INTEGRATION, "python-modules": ["bitrix24_provider.sensors.bitrix24"]}
        ],
        "triggers": [
            {"integration-name": INTEGRATION, "python-modules": ["bitrix24_provider.triggers.bitrix24"]}
        ],
        "connection-types": [
            {
                "connection-type": "bitrix24",
                "hook-class-name": "bitrix24_provider.hooks.bitrix24.Bitrix24Hook",
                "hook-name": "Bitrix24",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "extra"],
                    "relabeling": {
                        "host": "Portal URL or webhook URL",
                        "login": "User ID",
                        "password": "Webhook code",
                    },
                    "placeholders": {
                        "host": "https://example.bitrix24.com or https://example.bitrix24.com/rest/1/code/",
                        "login": "1",
                        "password": "webhook code (empty for OAuth or a full webhook URL)",
                        "client_id": "local.0123456789abcd.01234567",
                        "ca_bundle": "/etc/ssl/certs/ca-certificates.crt",
                        "shared_throttle_dsn": "redis://:password@redis:6379/0",
                    },
                },
                "conn-fields": _conn_fields(),
            }
        ],
    }
