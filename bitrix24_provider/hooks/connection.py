"""A Bitrix24 Airflow connection resolved into client arguments.

The connection form (:mod:`.connection_form`) puts the portal URL in *host*, the webhook's user id
and code in *login* / *password*, and everything else in the extras (plain keys from the Airflow 3
UI, ``extra__bitrix24__<name>`` from older UIs). A full webhook URL in *host* still works
(``code_in_host``). Errors name the field to fix as the form labels it. Nothing here imports Airflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import quote, urlsplit

from bitrix24_provider.client import ClientSettings, OAuthCredentials, RetryPolicy
from bitrix24_provider.client.auth import DEFAULT_OAUTH_SERVER
from bitrix24_provider.client.redact import scrub
from bitrix24_provider.hooks.connection_form import field_label

__all__ = [
    "CONN_TYPE",
    "Bitrix24ConnectionConfig",
    "client_options",
    "extra_text",
    "host_field",
    "parse_connection",
    "portal_url_of",
    "webhook_connection_fields",
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


def extra_text(extra: Mapping[str, Any], name: str) -> str | None:
    """A text extra field, stripped; ``None`` when missing or empty."""
    return _as_str(_extra(extra, name))


_DSN_SCHEMES = ("redis", "rediss", "unix", "file")


def _as_dsn(value: Any, conn_id: str) -> str | None:
    """The shared throttle's Redis URL, ``file:///<directory>`` or ``none``; the error never repeats
    it (it may hold a password)."""
    dsn = _as_str(value)
    if dsn is not None and dsn.lower() != "none" and urlsplit(dsn).scheme not in _DSN_SCHEMES:
        raise ValueError(
            f"Bitrix24 connection {conn_id!r}: shared_throttle_dsn must be a redis://, rediss:// or "
            "unix:// URL, file:///<directory> or none"
        )
    return dsn


@dataclass(frozen=True)
class Bitrix24ConnectionConfig:
    """What a Bitrix24 connection resolves to. Secrets are left out of ``repr``.

    :param conn_id: the Airflow connection id.
    :param auth_type: ``webhook`` or ``oauth``.
    :param portal_url: ``scheme://host[:port][/prefix]`` of the portal, without ``/rest/``.
    :param webhook_url: the incoming webhook URL (webhook auth only).
    :param user_id: the webhook's user id (webhook auth only).
    :param code_in_host: the webhook code came from *host* (a full webhook URL there), where Airflow
        shows it and stores it unencrypted, instead of from *password*.
    :param client_id, client_secret, refresh_token, access_token, oauth_server: OAuth settings.
    :param plan, requests_per_second, request_pool_size: rate-limit settings of the client.
    :param verify_ssl, ca_bundle: TLS verification.
    :param shared_throttle_dsn: a Redis URL: share the request bucket and operating pauses with every
        client of the portal using that Redis (other tasks, workers); ``file:///<directory>``: with
        the clients of this machine through lock files there; ``none``: per client; ``None``: with
        the clients of this machine through lock files in the default directory.
    """

    conn_id: str
    auth_type: str
    portal_url: str
    webhook_url: str | None = field(default=None, repr=False)
    user_id: str | None = None
    code_in_host: bool = False
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

    def client_arguments(
        self,
        on_refresh: Any = None,
        on_invalid_grant: Any = None,
        client_kwargs: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Keyword arguments of :class:`~bitrix24_provider.client.Bitrix` for this connection.

        *client_kwargs* (see :func:`client_options`) override the connection: its arguments, and the
        fields its ``settings`` give (``plan``, ``requests_per_second``...), beat the connection's
        values; what they leave out comes from the connection.
        """
        options = client_options(client_kwargs)
        given = _given_settings(client_kwargs)
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
        return {**{k: v for k, v in kwargs.items() if k not in given}, **options}


def _split_host(host: str, schema: str | None, port: int | None) -> tuple[str, str, list[str]]:
    """``(scheme://netloc, path prefix before /rest, path segments after /rest)`` of ``host``."""
    text = host.strip()
    if "://" not in text:
        scheme = (schema or "").strip().lower()
        text = f"{scheme if scheme in ('http', 'https') else 'https'}://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{field_label('host')} must be a portal such as example.bitrix24.com (https) or "
            f"http://host:port, got {scrub(host)!r}"
        )
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


def portal_url_of(host: str, schema: str | None = None, port: int | None = None) -> str:
    """``scheme://host[:port][/prefix]`` of the portal a connection's *host* names, without the
    ``/rest/...`` part of a webhook URL (so never its code) and without user info."""
    base, prefix, _ = _split_host(host, schema, port)
    return base + prefix


def host_field(portal_url: str) -> str:
    """What goes into *host* for a portal: without ``https://`` (the default), which Airflow's
    ``connections list --hide-sensitive`` needs to mask the password in the connection's URI."""
    return portal_url.removeprefix("https://")


def webhook_connection_fields(webhook_url: str) -> dict[str, str]:
    """The connection fields of a webhook URL ``https://<portal>/rest/<user>/<code>/``, with the code
    in *password* where Airflow masks and encrypts it: ``{"host", "login", "password"}``."""
    base, prefix, after = _split_host(webhook_url, None, None)
    if len(after) < 2:
        raise ValueError("not a webhook URL: expected https://<portal>/rest/<user>/<code>/")
    return {"host": host_field(base + prefix), "login": after[0], "password": after[1]}


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

    Webhook auth: ``host`` is the portal (``https://portal.bitrix24.com`` or a bare host name, then
    ``schema`` picks http or https, https by default), ``login`` the webhook's user id and
    ``password`` its code. A full webhook URL ``https://portal/rest/<user>/<code>/`` in ``host``
    works too (login and password are then ignored; ``code_in_host`` is set). With
    ``auth_type=oauth`` the portal part of ``host`` gives the REST endpoint ``<portal>/rest/`` and
    the OAuth settings come from the extras. Errors name the field to fix and never contain secrets.
    """
    extra = extra or {}
    if not host or not str(host).strip():
        raise ValueError(
            f"Bitrix24 connection {conn_id!r} has no host: put the portal's address in "
            f"{field_label('host')}, e.g. example.bitrix24.com"
        )
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
                f"{', '.join(field_label(name) for name in missing)}"
            )
        return Bitrix24ConnectionConfig(
            **common,
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh_token,
            access_token=_as_str(_extra(extra, "access_token")),
            oauth_server=_as_str(_extra(extra, "oauth_server")) or DEFAULT_OAUTH_SERVER,
        )
    code_in_host = len(after) >= 2  # a full webhook URL: /rest/<user>/<code>/
    if code_in_host:
        user, code = _as_str(after[0]), _as_str(after[1])
    else:
        user, code = _as_str(login), _as_str(password)
    missing = [name for name, value in (("login", user), ("password", code)) if not value]
    if missing:
        raise ValueError(
            f"Bitrix24 connection {conn_id!r} lacks the webhook's "
            f"{' and '.join(field_label(name) for name in missing)}: a webhook "
            f"https://<portal>/rest/<user>/<code>/ goes into the connection as {field_label('host')} "
            f"<portal>, {field_label('login')} <user> and {field_label('password')} <code>"
        )
    assert user and code
    webhook = f"{portal_url}/rest/{quote(user, safe='')}/{quote(code, safe='')}/"
    return Bitrix24ConnectionConfig(**common, webhook_url=webhook, user_id=user, code_in_host=code_in_host)


#: the :class:`ClientSettings` fields that take a :class:`RetryPolicy`
_POLICIES = ("retry", "connect_retry", "unexpected_answer_retry")


def client_options(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """``client_kwargs`` with JSON-friendly spellings turned into objects: ``settings`` may be a
    dict of :class:`ClientSettings` fields, whose ``retry``, ``connect_retry`` and
    ``unexpected_answer_retry`` may be dicts of :class:`RetryPolicy` fields."""
    options = dict(raw or {})
    settings = options.get("settings")
    if isinstance(settings, Mapping):
        values = dict(settings)
        for name in _POLICIES:
            if isinstance(values.get(name), Mapping):
                values[name] = RetryPolicy(**values[name])
        options["settings"] = ClientSettings(**values)
    options.setdefault("verbose", False)
    return options


def _given_settings(raw: Mapping[str, Any] | None) -> set[str]:
    """The :class:`ClientSettings` fields ``client_kwargs`` set: the keys of a ``settings`` dict, or
    the fields of a ``ClientSettings`` object that differ from the defaults."""
    written = (raw or {}).get("settings")
    if isinstance(written, Mapping):
        return set(written)
    if isinstance(written, ClientSettings):
        default = ClientSettings()
        return {f.name for f in fields(written) if getattr(written, f.name) != getattr(default, f.name)}
    return set()
