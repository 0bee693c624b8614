"""The Bitrix24 connection form, one definition for every Airflow version the provider supports.

The form leads to the layout that keeps secrets in secret fields: the portal in *host*
(``example.bitrix24.com``; https is the default, ``http://`` only for a plain-HTTP portal), the
webhook's user id in *login* and its code in *password* (masked in the UI and the REST API,
Fernet-encrypted in the metadata database), OAuth secrets in masked extras. A full webhook URL in
*host* still works, but Airflow shows *host* everywhere and stores it unencrypted. (A scheme in
*host* also defeats ``airflow connections list --hide-sensitive``: it masks the password in the
connection's URI only when *host* has none.)

* Airflow 3.2+ reads :func:`field_behaviour` and :func:`conn_fields` from ``get_provider_info()``
  without importing the hook.
* Airflow 3.1 asks the hook's ``get_ui_field_behaviour()`` (:func:`hook_field_behaviour`): the same
  labels and placeholders, with the extras left to the Extra JSON field.

The declarative schema cannot show or hide fields by auth type. So no extra field is marked
required (every type admits ``null``; the hook names what the chosen auth type lacks), and the
extras sit in accordion sections (``schema.section``) that say who needs them: a webhook user fills
in the three standard fields and ignores the rest. Nothing here imports Airflow or the client.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FIELD_LABELS",
    "OAUTH_SECTION",
    "TUNING_SECTION",
    "conn_fields",
    "field_behaviour",
    "field_label",
    "hook_field_behaviour",
]

DEFAULT_OAUTH_SERVER = "https://oauth.bitrix.info/oauth/token/"

#: the standard fields the form uses, by their labels in the form
FIELD_LABELS = {"host": "Portal URL", "login": "User ID", "password": "Webhook code"}

OAUTH_SECTION = "OAuth (auth type oauth only)"
TUNING_SECTION = "Limits, TLS and shared throttle (optional)"

_PLACEHOLDERS = {
    "host": "example.bitrix24.com",
    "login": "1",
    "password": "the code from https://<portal>/rest/1/<code>/ (empty for OAuth)",
}


def field_label(name: str) -> str:
    """``Portal URL (host)``: how messages name a connection field, as the form shows it."""
    label = FIELD_LABELS.get(name)
    if label is None:
        extra = conn_fields().get(name)
        label = extra["label"] if extra else None
    return f"{label} ({name})" if label else name


def _field(label: str, description: str, section: str | None = None, **schema: Any) -> dict[str, Any]:
    if section is not None:
        schema["section"] = section
    return {"label": label, "description": description, "schema": schema}


def conn_fields() -> dict[str, Any]:
    """The extra fields (``conn-fields``), stored as plain keys of ``Connection.extra``."""
    text, number, secret = ["string", "null"], ["number", "null"], {"format": "password"}
    return {
        "auth_type": _field(
            "Auth type",
            "webhook (default): Portal URL, User ID and Webhook code above are all it needs. oauth: an "
            "OAuth application; fill in the OAuth section and leave User ID and Webhook code empty.",
            type=text,
            enum=["webhook", "oauth"],
            default="webhook",
        ),
        "client_id": _field(
            "OAuth client ID",
            "The application's client_id, e.g. local.0123456789abcd.01234567.",
            OAUTH_SECTION,
            type=text,
        ),
        "client_secret": _field(
            "OAuth client secret", "The application's client_secret.", OAUTH_SECTION, type=text, **secret
        ),
        "refresh_token": _field(
            "OAuth refresh token",
            "The first refresh token. Bitrix24 rotates it on every refresh; the hook keeps the newest one "
            "in the Variable bitrix24_oauth_token_<conn_id>. Put a new token here after re-authorizing "
            "the application.",
            OAUTH_SECTION,
            type=text,
            **secret,
        ),
        "oauth_server": _field(
            "OAuth token server",
            "Where refresh tokens are exchanged for access tokens.",
            OAUTH_SECTION,
            type=text,
            default=DEFAULT_OAUTH_SERVER,
        ),
        "plan": _field(
            "Bitrix24 plan",
            "Sets the client's rate-limit defaults: standard (bucket 50, 2 requests/s) or enterprise "
            "(bucket 250, 5 requests/s).",
            TUNING_SECTION,
            type=text,
            enum=["standard", "enterprise"],
            default="standard",
        ),
        "requests_per_second": _field(
            "Requests per second",
            "Overrides the plan's drain rate of the request bucket (empty: plan default).",
            TUNING_SECTION,
            type=number,
            minimum=0.01,
        ),
        "request_pool_size": _field(
            "Request pool size",
            "Overrides the plan's request bucket size (empty: plan default).",
            TUNING_SECTION,
            type=number,
            minimum=1,
        ),
        "verify_ssl": _field(
            "Verify SSL",
            "Verify the portal's TLS certificate.",
            TUNING_SECTION,
            type=["boolean", "null"],
            default=True,
        ),
        "ca_bundle": _field(
            "CA bundle",
            "Path of a CA bundle file to verify the portal's certificate with, e.g. "
            "/etc/ssl/certs/ca-certificates.crt (empty: the system store).",
            TUNING_SECTION,
            type=text,
        ),
        "shared_throttle_dsn": _field(
            "Shared throttle (Redis URL)",
            "e.g. redis://:password@host:6379/0. Every task whose connection names the same Redis shares "
            "one request bucket per portal and the operating-limit pauses: use it when tasks on several "
            "machines call this portal at once (needs the [redis] extra). Empty: the tasks of one machine "
            "share them through lock files; none: every task has its own.",
            TUNING_SECTION,
            type=text,
            **secret,
        ),
    }


def field_behaviour() -> dict[str, Any]:
    """``ui-field-behaviour`` of Airflow 3.2+: relabelled standard fields with placeholders (the UI
    shows no placeholders of extra fields; their descriptions give examples)."""
    return {
        "hidden-fields": ["schema", "port", "extra"],
        "relabeling": dict(FIELD_LABELS),
        "placeholders": dict(_PLACEHOLDERS),
    }


def hook_field_behaviour() -> dict[str, Any]:
    """What ``get_ui_field_behaviour()`` gives Airflow 3.1: the standard fields as on 3.2+; the
    extras go into the Extra JSON field, which stays visible (3.1 has no declarative extras)."""
    return {
        "hidden_fields": ["schema", "port"],
        "relabeling": dict(FIELD_LABELS),
        "placeholders": dict(_PLACEHOLDERS),
    }
