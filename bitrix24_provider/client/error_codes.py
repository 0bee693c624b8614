"""Bitrix24's error answers mapped onto the client's exception tree (:mod:`.errors`).

The ``error`` code decides first (case-insensitively; classic CRM methods send an empty code, which
their ``error_description`` classifies), then the HTTP status. Sources: contract §1.4, §1.5, §2.3.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import (
    AccessDenied,
    AuthError,
    BitrixAPIError,
    InsufficientScope,
    InvalidCredentials,
    InvalidParams,
    InvalidToken,
    MethodNotFound,
    NotFound,
    OperationTimeLimit,
    QueryLimitExceeded,
    ServerError,
    TokenExpired,
)

__all__ = ["error_from_response"]

#: Bitrix ``error`` codes (lower-cased) → class. Sources: contract §1.4, §1.5, §2.3.
_BY_CODE: dict[str, type[BitrixAPIError]] = {
    "query_limit_exceeded": QueryLimitExceeded,
    "operation_time_limit": OperationTimeLimit,
    "internal_server_error": ServerError,
    "error_unexpected_answer": ServerError,
    "expired_token": TokenExpired,
    "invalid_token": InvalidToken,
    "invalid_credentials": InvalidCredentials,
    "insufficient_scope": InsufficientScope,
    "invalid_scope": InsufficientScope,
    "no_auth_found": AuthError,
    "authorization_error": AuthError,
    "application_not_found": AuthError,
    "error_oauth": AuthError,
    "not_installed": AuthError,
    "invalid_grant": AuthError,  # token server: refresh token expired or wrong → re-authorize
    "invalid_client": AuthError,
    "wrong_client": AuthError,
    "error_method_not_found": MethodNotFound,
    "access_denied": AccessDenied,
    "wrong_auth_type": AccessDenied,
    "user_access_error": AccessDenied,
    "allowed_only_intranet_user": AccessDenied,
    "method_confirm_waiting": AccessDenied,
    "method_confirm_denied": AccessDenied,
    "payment_required": AccessDenied,
    "portal_deleted": AccessDenied,
    "overload_limit": AccessDenied,  # a manual block by Bitrix support, not a transient overload
    "invalid_arg_value": InvalidParams,
    "error_argument": InvalidParams,
    "error_batch_length_exceeded": InvalidParams,
    "error_batch_method_not_allowed": InvalidParams,
    "not_found": NotFound,
}

#: Descriptions that classify errors sent with an empty code by classic CRM methods (§2.3).
_BY_DESCRIPTION: tuple[tuple[re.Pattern[str], type[BitrixAPIError]], ...] = (
    (re.compile(r"not found\.?", re.IGNORECASE), NotFound),
    (re.compile(r"id is not defined or invalid\.?", re.IGNORECASE), InvalidParams),
    (re.compile(r"parameter '[^']*' must be array\.?", re.IGNORECASE), InvalidParams),
    (re.compile(r"access denied.*", re.IGNORECASE | re.DOTALL), AccessDenied),
)


def _class_for(code: str | None, description: str, status: int | None) -> type[BitrixAPIError]:
    """*code* ``None`` means the body held no Bitrix error object at all (e.g. an HTML page)."""
    known = _BY_CODE.get(code.strip().lower()) if code else None
    if known is not None:
        return known
    if code == "":
        for pattern, cls in _BY_DESCRIPTION:
            if pattern.fullmatch(description.strip()):
                return cls
    if status is not None:
        if status >= 500:
            return ServerError
        if status == 401:
            return AuthError
        if status == 403:
            return AccessDenied
        if status == 429:  # without OPERATION_TIME_LIMIT: a proxy's rate limit, treat as rate-type
            return QueryLimitExceeded
    if code == "" and status in (None, 400):
        return InvalidParams  # classic CRM validation messages ("Invalid value for ... field")
    return BitrixAPIError


def _text(value: object) -> str:
    return "" if value is None else str(value)


def error_from_response(status: int | None, body: Mapping[str, Any] | None, method: str) -> BitrixAPIError:
    """Build the exception for an error answer.

    The Bitrix ``error`` code decides first (case-insensitively; an empty code is classified by its
    ``error_description``), then the HTTP *status* (``None`` for commands inside a batch). *body* is
    the decoded JSON, or ``None`` when the body was not a JSON object (an HTML error page).
    Unknown combinations give a plain, non-retryable :class:`BitrixAPIError`.
    """
    if isinstance(body, Mapping) and "error" in body:
        code = _text(body.get("error"))
        description = _text(body.get("error_description"))
        extra = {k: v for k, v in body.items() if k not in ("error", "error_description")}
        cls = _class_for(code, description, status)
    else:  # no Bitrix error object: the status alone decides
        code, description, extra = "", "", {}
        cls = _class_for(None, description, status)
    return cls(code, description, method=method, status=status, extra=extra)
