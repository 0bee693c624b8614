"""What a failed operator says last: the typed error, Bitrix24's code and, when a connection's
field is the likely cause, which one.

Airflow prints the traceback after the operator has given up, and a user reads the log from its end.
So the operators log one line (``Failed: InvalidCredentials: crm.deal.fields: error
'INVALID_CREDENTIALS', HTTP 401: ... Check connection 'bitrix24_default': ...``) and, on Python 3.11+,
attach the hint to the exception as a note, which the traceback prints after the error's own line.
"""

from __future__ import annotations

from typing import Any

from bitrix24_provider.client.errors import (
    AccessDenied,
    AuthError,
    InsufficientScope,
    InvalidToken,
    MethodNotFound,
    OperationTimeLimit,
    PortalUnreachable,
    SharedThrottleError,
    TokenExpired,
    UnexpectedAnswer,
)
from bitrix24_provider.client.redact import scrub

__all__ = ["failure_hint", "report_failure"]

_OAUTH_CODES = {"invalid_grant", "invalid_client", "invalid_token", "expired_token"}


def failure_hint(error: BaseException, conn_id: str) -> str:
    """What to check for *error*, naming the connection field ("" when the error says it all)."""
    conn = f"connection {conn_id!r}"
    if isinstance(error, (InsufficientScope, AccessDenied)):
        return (
            f"The webhook or application of {conn} lacks the permission for this method: grant its "
            "scope in the portal (the webhook's or application's settings)."
        )
    if isinstance(error, (InvalidToken, TokenExpired)) or (
        isinstance(error, AuthError) and error.code in _OAUTH_CODES
    ):
        return (
            f"Check the OAuth fields of {conn}: OAuth client ID, OAuth client secret and OAuth "
            "refresh token (authorize the application again for a new refresh token)."
        )
    if isinstance(error, AuthError):
        return (
            f"Check {conn}: Webhook code (password), User ID (login) and Portal URL (host); the "
            "portal refused them."
        )
    if isinstance(error, PortalUnreachable):
        return f"Check the Portal URL (host) of {conn} and that this worker can reach it."
    if isinstance(error, UnexpectedAnswer):
        return (
            f"The Portal URL (host) of {conn} answers with something else than Bitrix24's REST API "
            "(a proxy or login page?): check it."
        )
    if isinstance(error, MethodNotFound):
        return "The portal does not know this method: check the operator's method name."
    if isinstance(error, OperationTimeLimit):
        return "The method used up its operating-time budget on the portal; a retry waits for its reset."
    if isinstance(error, SharedThrottleError):
        if error.url.startswith("file:"):
            return (
                f"The lock-file shared throttle ({error.url}) cannot be used: check the directory, or set "
                f"the Shared throttle of {conn} to a Redis URL or none."
            )
        return f"Check the Shared throttle (Redis URL) of {conn} and that Redis is reachable."
    return ""


def report_failure(log: Any, error: BaseException, conn_id: str, cause: BaseException | None = None) -> None:
    """Log the cause of a failed task as one line on *log* (the operator's logger) and attach the
    hint to *error* (Python 3.11+). *cause*: the error the hint is about, when *error* sums up
    several (the first failed item of a call)."""
    hint = failure_hint(cause if cause is not None else error, conn_id)
    text = scrub(str(error)) or "(no message)"
    log.error("Failed: %s: %s%s%s", type(error).__name__, text, ". " if hint else "", hint)
    if hint and hasattr(error, "add_note"):
        error.add_note(hint)
