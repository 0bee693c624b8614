"""Bitrix24's error answers mapped onto the exception tree (contract §1.4-1.5, §2.3)."""

from __future__ import annotations

from typing import Any

import pytest

from bitrix24_provider.client import errors as e
from bitrix24_provider.client.error_codes import error_from_response


def body(code: str, description: str = "some text", **extra: Any) -> dict[str, Any]:
    return {"error": code, "error_description": description, **extra}


@pytest.mark.parametrize(
    ("status", "response", "cls"),
    [
        (503, body("QUERY_LIMIT_EXCEEDED", "Too many requests"), e.QueryLimitExceeded),
        (
            429,
            body("OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit."),
            e.OperationTimeLimit,
        ),
        (401, body("expired_token", "The access token provided has expired."), e.TokenExpired),
        (401, body("invalid_token", "Unable to get application by token"), e.InvalidToken),
        (401, body("INVALID_CREDENTIALS", "Invalid request credentials"), e.InvalidCredentials),
        (403, body("INVALID_CREDENTIALS", "Invalid request credentials"), e.InvalidCredentials),
        (401, body("NO_AUTH_FOUND", "Wrong authorization data"), e.AuthError),
        (401, body("insufficient_scope", "The request requires higher privileges"), e.InsufficientScope),
        (401, body("authorization_error", "Unable to authorize user"), e.AuthError),
        (400, body("invalid_grant"), e.AuthError),
        (404, body("ERROR_METHOD_NOT_FOUND", "Method not found!"), e.MethodNotFound),
        (403, body("ACCESS_DENIED", "Access denied!"), e.AccessDenied),
        (
            403,
            body("WRONG_AUTH_TYPE", "Current authorization type is denied for this method"),
            e.AccessDenied,
        ),
        (403, body("user_access_error"), e.AccessDenied),
        (503, body("OVERLOAD_LIMIT", "REST API is blocked due to overload."), e.AccessDenied),
        (
            400,
            body("INVALID_ARG_VALUE", "Invalid filter: field 'X' is not allowed in filter"),
            e.InvalidParams,
        ),
        (400, body("ERROR_ARGUMENT", "Argument 'id' is null or empty", argument="id"), e.InvalidParams),
        (400, body("NOT_FOUND", "Element not found"), e.NotFound),
        (500, body("INTERNAL_SERVER_ERROR", "Internal server error"), e.ServerError),
        (400, body("", "Not found"), e.NotFound),
        (400, body("", "ID is not defined or invalid."), e.InvalidParams),
        (400, body("", "Parameter 'fields' must be array."), e.InvalidParams),
        (400, body("", "Parameter 'filter' must be array."), e.InvalidParams),
        (400, body("", "Access denied."), e.AccessDenied),
        (400, body("", 'Invalid value for the "Currency" field'), e.InvalidParams),
        (None, body("", "Not found"), e.NotFound),
        (None, body("ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded"), e.InvalidParams),
        (None, body("OPERATION_TIME_LIMIT"), e.OperationTimeLimit),
        (None, body("insufficient_scope"), e.InsufficientScope),
    ],
    ids=lambda v: repr(v)[:60],
)
def test_error_codes_map_to_classes(status: int | None, response: dict[str, Any], cls: type) -> None:
    err = error_from_response(status, response, "crm.deal.get")
    assert type(err) is cls
    assert err.code == response["error"]
    assert err.description == response["error_description"]
    assert err.status == status
    assert err.method == "crm.deal.get"


@pytest.mark.parametrize("code", ["query_limit_exceeded", "Query_Limit_Exceeded", " QUERY_LIMIT_EXCEEDED "])
def test_codes_are_case_insensitive(code: str) -> None:
    assert type(error_from_response(503, body(code), "m")) is e.QueryLimitExceeded


@pytest.mark.parametrize(
    ("status", "response", "cls"),
    [
        (500, None, e.ServerError),
        (502, {"unexpected": "shape"}, e.ServerError),
        (503, None, e.ServerError),
        (504, body("SOMETHING_NEW"), e.ServerError),
        (500, body("ERROR_CORE", "SQL query error!"), e.ServerError),
        (401, None, e.AuthError),
        (401, body("SOMETHING_NEW"), e.AuthError),
        (403, None, e.AccessDenied),
        (429, None, e.QueryLimitExceeded),
        (404, None, e.BitrixAPIError),
        (400, None, e.BitrixAPIError),
        (400, body("ERROR_CORE", "exception text"), e.BitrixAPIError),
        (400, body("0", "Invalid sorting key (internal error)"), e.BitrixAPIError),
        (None, body("SOMETHING_NEW"), e.BitrixAPIError),
    ],
    ids=lambda v: repr(v)[:40],
)
def test_unknown_codes_fall_back_on_status(status: int | None, response: Any, cls: type) -> None:
    assert type(error_from_response(status, response, "m")) is cls
