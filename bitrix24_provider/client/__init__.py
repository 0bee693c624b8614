"""An async-first Bitrix24 REST client with fast_bitrix24's API, built to hold the portal's limits.

Imports nothing from Airflow.
"""

from .async_client import BitrixAsync
from .auth import OAuthCredentials
from .errors import (
    AccessDenied,
    ArgumentTypeError,
    AuthError,
    BatchError,
    BitrixAPIError,
    BitrixError,
    ErrorInServerResponseException,
    IncompleteResultError,
    InvalidArgument,
    InvalidCredentials,
    InvalidItem,
    InvalidParams,
    InvalidToken,
    MethodNotFound,
    NotFound,
    OperationTimeLimit,
    OutcomeUnknown,
    PortalUnreachable,
    QueryLimitExceeded,
    ServerError,
    SharedThrottleError,
    TokenExpired,
    TransportError,
    UnexpectedAnswer,
)
from .retry import RetryPolicy
from .settings import ClientSettings
from .sync_client import Bitrix

__all__ = [
    "AccessDenied",
    "ArgumentTypeError",
    "AuthError",
    "BatchError",
    "Bitrix",
    "BitrixAPIError",
    "BitrixAsync",
    "BitrixError",
    "ClientSettings",
    "ErrorInServerResponseException",
    "IncompleteResultError",
    "InvalidArgument",
    "InvalidCredentials",
    "InvalidItem",
    "InvalidParams",
    "InvalidToken",
    "MethodNotFound",
    "NotFound",
    "OAuthCredentials",
    "OperationTimeLimit",
    "OutcomeUnknown",
    "PortalUnreachable",
    "QueryLimitExceeded",
    "RetryPolicy",
    "ServerError",
    "SharedThrottleError",
    "TokenExpired",
    "TransportError",
    "UnexpectedAnswer",
]
