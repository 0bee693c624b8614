"""What a Bitrix24 connection's user is told about its fields.

* A webhook code kept in *host* (a full webhook URL there) still works, but Airflow shows *host* in
  the Connections list, its REST API and CLI listings, and stores it unencrypted. The hook says so
  once per task try (:func:`warn_code_in_host`), naming the fix, in the task's log.
* ``test_connection`` (the UI's Test button) turns a failure into a sentence naming the field to fix
  as the form labels it (:func:`explain_failure`).

Messages never contain a secret.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any

import aiohttp

from bitrix24_provider.client.errors import (
    AuthError,
    InvalidCredentials,
    PortalUnreachable,
    SharedThrottleError,
    TransportError,
    UnexpectedAnswer,
)
from bitrix24_provider.client.redact import scrub
from bitrix24_provider.hooks.connection import Bitrix24ConnectionConfig, host_field
from bitrix24_provider.hooks.connection_form import field_label

__all__ = ["code_in_host_advice", "explain_failure", "warn_code_in_host"]

_warned: set[tuple[Any, ...]] = set()
_warned_lock = threading.Lock()


def _task_try() -> tuple[Any, ...] | None:
    """The running task instance try, or ``None`` outside a task (a script, the triggerer)."""
    try:
        from airflow.sdk import get_current_context

        ti = get_current_context()["ti"]
    except Exception:  # no Airflow, no task context
        return None
    return (ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number)


def code_in_host_advice(config: Bitrix24ConnectionConfig) -> str:
    """How to move the webhook code of a connection out of *host*."""
    return (
        f"edit connection {config.conn_id}: {field_label('host')} {host_field(config.portal_url)}, "
        f"{field_label('login')} {config.user_id}, {field_label('password')} the code"
    )


def warn_code_in_host(config: Bitrix24ConnectionConfig, log: Any) -> bool:
    """Log one warning per task try (per process outside tasks) and connection whose webhook code
    sits in *host*; ``True`` when it was logged now."""
    if not config.code_in_host:
        return False
    key = (config.conn_id, _task_try())
    with _warned_lock:
        if key in _warned:
            return False
        _warned.add(key)
    log.warning(
        "Connection %s keeps the webhook code in %s, which Airflow shows in clear text (the Connections "
        "list, its REST API, `airflow connections list --show-values`) and stores unencrypted. It keeps "
        "working; to keep the code secret, %s.",
        config.conn_id,
        field_label("host"),
        code_in_host_advice(config),
    )
    return True


def _tls_failure(error: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, (ssl.SSLError, ssl.CertificateError, aiohttp.ClientSSLError)):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _hint(error: BaseException, config: Bitrix24ConnectionConfig) -> str | None:
    """The field a failure points to, as a sentence; ``None`` when it points to none."""
    host = f"{field_label('host')} {config.portal_url}"
    code = getattr(error, "code", None)
    if isinstance(error, SharedThrottleError):
        if error.url.startswith("file:"):  # the default: lock files of this machine
            return f"the lock-file shared throttle cannot be used: check {field_label('shared_throttle_dsn')}"
        return f"{field_label('shared_throttle_dsn')} cannot be used"
    if isinstance(error, TransportError) and _tls_failure(error):
        return (
            f"the TLS certificate of {host} was not accepted: check {field_label('host')} (https or "
            f"http), {field_label('ca_bundle')} or {field_label('verify_ssl')}"
        )
    if isinstance(error, PortalUnreachable):
        return f"nothing answers at {host}: check {field_label('host')}"
    if isinstance(error, UnexpectedAnswer):
        return f"{host} answers, but not as a Bitrix24 REST API: check {field_label('host')}"
    if config.auth_type == "oauth" and isinstance(error, AuthError):
        if code == "invalid_client":
            return f"{field_label('client_id')} or {field_label('client_secret')} is wrong"
        if code == "invalid_grant":
            return (
                f"{field_label('refresh_token')} was rejected: authorize the application again and put "
                "the new refresh token there"
            )
        return None
    if isinstance(error, InvalidCredentials):
        if config.code_in_host:
            return f"the user id or code in {field_label('host')} is wrong"
        return f"{field_label('login')} or {field_label('password')} is wrong"
    return None


def explain_failure(error: BaseException, config: Bitrix24ConnectionConfig | None) -> str:
    """``<what to fix> (<error type>: <error text>)`` for a failed connection test, scrubbed of the
    connection's secrets. Errors reading the connection (``ValueError``) name their field already."""
    secrets = config.secrets if config is not None else ()
    text = scrub(f"{type(error).__name__}: {error}", secrets)
    hint = _hint(error, config) if config is not None else None
    return f"{hint} ({text})" if hint else text
