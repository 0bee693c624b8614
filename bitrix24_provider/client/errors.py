"""The client's exception tree (Bitrix24's error answers are mapped onto it in :mod:`.error_codes`).

::

    BitrixError                         base of everything the client raises
    ├── BitrixAPIError                  the portal answered with {"error", "error_description"}
    │   ├── QueryLimitExceeded          503 QUERY_LIMIT_EXCEEDED: request-rate bucket full   (retryable)
    │   ├── OperationTimeLimit          429 OPERATION_TIME_LIMIT: method's 10-min budget used
    │   │                               (retryable once operating_reset_at has passed)
    │   ├── ServerError                 5xx, INTERNAL_SERVER_ERROR, ...                      (retryable)
    │   ├── AuthError                   401-type: NO_AUTH_FOUND, authorization_error, ...
    │   │   ├── TokenExpired            expired_token: refresh the OAuth token and call again
    │   │   ├── InvalidToken            invalid_token
    │   │   ├── InvalidCredentials      INVALID_CREDENTIALS: wrong or revoked webhook
    │   │   └── InsufficientScope       insufficient_scope: webhook/app lacks the method's scope
    │   ├── MethodNotFound              ERROR_METHOD_NOT_FOUND
    │   ├── AccessDenied                ACCESS_DENIED, WRONG_AUTH_TYPE, "" + "Access denied." ...
    │   ├── InvalidParams               INVALID_ARG_VALUE, ERROR_ARGUMENT, "" + "... must be array." ...
    │   └── NotFound                    NOT_FOUND, "" + "Not found"
    ├── TransportError                  network failure, timeout, dropped connection          (retryable)
    │   ├── PortalUnreachable           nothing answered at the portal's address; nothing was sent
    │   └── UnexpectedAnswer            an answer that is not the portal's JSON (HTML, cut body)
    ├── OutcomeUnknown                  a write failed in a way that does not say whether it ran
    ├── InvalidArgument                 an argument of a client method is unusable, raised before any
    │   │                               request (also a ``ValueError``)
    │   ├── ArgumentTypeError           ... because of its type (also a ``TypeError``)
    │   └── InvalidItem                 an item of ``call()`` is unusable
    ├── IncompleteResultError           a listing could not prove it fetched everything
    ├── SharedThrottleError             the shared throttle's store (lock files, Redis) cannot be used
    └── BatchError                      some commands of a batch failed (key -> error) or have an
                                        unknown outcome (key -> OutcomeUnknown); fast_bitrix24's
                                        ``ErrorInServerResponseException`` is another name for it

Every class carries a ``retryable`` class attribute: ``True`` means the same request may succeed if
simply sent again later (the caller still owns *when*: an :class:`OperationTimeLimit` must wait for
the method's ``operating_reset_at``, see :mod:`bitrix24_provider.client.throttle`). ``permanent``
says whether any later attempt (a retried task, a re-executed run) can succeed: never after
authentication, permission, unknown-method, parameter and argument errors, nor after a write whose
outcome is unknown (another attempt may write twice); the rest may pass later. ``retry_after`` is
the wait in real seconds before another attempt can succeed, when the client knows it: an
:class:`OperationTimeLimit` the client gives up on carries the time until the method's budget
resets, from the client's own throttle state. Authentication,
permission, method and parameter errors are never retryable; :class:`TokenExpired` is handled by
refreshing the token, not by retrying. :class:`PortalUnreachable` and :class:`UnexpectedAnswer`
are retried under small budgets of their own that all requests of a client share
(:mod:`bitrix24_provider.client.retry`): they say something about the portal, not about one request.
A write is sent again only after failures that prove it did not run
(:func:`bitrix24_provider.client.writes.may_have_run`); otherwise it ends as :class:`OutcomeUnknown`.

All texts are passed through :func:`~bitrix24_provider.client.redact.scrub`, so webhook codes and
tokens do not leak through ``str(exc)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar

from .redact import scrub

__all__ = [
    "AccessDenied",
    "ArgumentTypeError",
    "AuthError",
    "BatchError",
    "BitrixAPIError",
    "BitrixError",
    "ErrorInServerResponseException",
    "IncompleteResultError",
    "InsufficientScope",
    "InvalidArgument",
    "InvalidCredentials",
    "InvalidItem",
    "InvalidParams",
    "InvalidToken",
    "MethodNotFound",
    "NotFound",
    "OperationTimeLimit",
    "OutcomeUnknown",
    "PortalUnreachable",
    "QueryLimitExceeded",
    "ServerError",
    "SharedThrottleError",
    "TokenExpired",
    "TransportError",
    "UnexpectedAnswer",
    "is_retryable",
]


class BitrixError(Exception):
    """Base class of every error raised by the Bitrix24 client."""

    #: Whether sending the same request again later may succeed.
    retryable: ClassVar[bool] = False
    #: Whether no later attempt (a retried task) can succeed.
    permanent: ClassVar[bool] = False
    #: Real seconds to wait before another attempt can succeed, when the client knows it.
    retry_after: float | None = None


class BitrixAPIError(BitrixError):
    """The portal answered with an error envelope ``{"error": code, "error_description": text}``.

    :param code: Bitrix's ``error`` value as sent (may be ``""``; classic CRM methods send no code).
    :param description: Bitrix's ``error_description``.
    :param method: the REST method that failed (for a batch command: the command's method).
    :param status: the HTTP status, or ``None`` for a command inside a ``batch`` (those carry none).
    :param extra: further keys of the error body (e.g. ``argument`` for ``ERROR_ARGUMENT``).
    """

    def __init__(
        self,
        code: str,
        description: str,
        method: str = "",
        status: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.code = code
        self.description = scrub(description)
        self.method = method
        self.status = status
        self.extra: dict[str, Any] = dict(extra or {})
        super().__init__(self._text())

    def _text(self) -> str:
        where = f", HTTP {self.status}" if self.status is not None else ""
        description = self.description or "(no error description)"
        return f"{self.method or '<unknown method>'}: error {self.code!r}{where}: {description}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.code, self.description, self.method, self.status, self.extra))


class QueryLimitExceeded(BitrixAPIError):
    """HTTP 503 ``QUERY_LIMIT_EXCEEDED``: the portal's request-rate bucket is full. Retry later."""

    retryable = True


class OperationTimeLimit(BitrixAPIError):
    """HTTP 429 ``OPERATION_TIME_LIMIT``: the method used up its execution-time budget.

    Retryable, but only after the method's ``operating_reset_at`` (the error body carries no timing;
    use the last successful response's ``time`` block). When the client gives up on the block it sets
    ``retry_after``: real seconds until the method may run again, from its operating budget.
    """

    retryable = True

    def __reduce__(self) -> tuple[Any, ...]:
        rebuild, args = super().__reduce__()[:2]
        return (rebuild, args, {"retry_after": self.retry_after})


class ServerError(BitrixAPIError):
    """A 5xx answer or a server-side failure code (``INTERNAL_SERVER_ERROR``...). Transient."""

    retryable = True


class AuthError(BitrixAPIError):
    """Authentication failed (no or unusable credentials)."""

    permanent = True


class TokenExpired(AuthError):
    """``expired_token``: the OAuth access token expired; refresh it and repeat the call."""


class InvalidToken(AuthError):
    """``invalid_token``: the portal does not know the access token."""


class InvalidCredentials(AuthError):
    """``INVALID_CREDENTIALS``: wrong, revoked or expired webhook."""


class InsufficientScope(AuthError):
    """``insufficient_scope``: the webhook or application lacks the scope of the method."""


class MethodNotFound(BitrixAPIError):
    """``ERROR_METHOD_NOT_FOUND``: no such method (or it is not available on this portal)."""

    permanent = True


class AccessDenied(BitrixAPIError):
    """The caller is authenticated but not allowed to do this."""

    permanent = True


class InvalidParams(BitrixAPIError):
    """The request's parameters were rejected (bad id, filter, field value, batch shape...)."""

    permanent = True


class NotFound(BitrixAPIError):
    """The addressed record (or smart process) does not exist."""


class TransportError(BitrixError):
    """The request did not produce a usable Bitrix answer: connection failure, timeout, TLS error,
    a dropped connection. Transient.

    :param message: what went wrong, in words.
    :param method: the REST method being called.
    :param cause: a short description of the underlying error (scrubbed of secrets).
    :param status: the HTTP status, when a response was received at all.
    """

    retryable = True

    def __init__(self, message: str, *, method: str = "", cause: str = "", status: int | None = None) -> None:
        self.message = scrub(message)
        self.method = method
        self.cause = scrub(cause)
        self.status = status
        super().__init__(self._text())

    def _text(self) -> str:
        parts = [f"{self.method or '<unknown method>'}: {self.message}"]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.cause:
            parts.append(self.cause)
        return ": ".join(parts)

    def __reduce__(self) -> tuple[Any, ...]:
        rebuild = partial(type(self), method=self.method, cause=self.cause, status=self.status)
        return (rebuild, (self.message,))


def _after(attempts: int, elapsed: float) -> str:
    return f" after {attempts} attempts in {elapsed:.1f} s" if attempts > 1 else ""


class PortalUnreachable(TransportError):
    """Nothing answered at the portal's address: connection refused, unknown host name, no route.
    The request was not sent. Retried under ``ClientSettings.connect_retry``, attempts shared by all
    requests of a client.

    :param host: the portal's host (never the webhook path).
    :param port: its port.
    :param reason: what the operating system said, e.g. ``Connection refused``.
    :param attempts: the attempts made before giving up (shared by the client's requests).
    :param elapsed: seconds from the first failed attempt to the last.
    """

    def __init__(
        self,
        host: str,
        port: int | None,
        reason: str,
        *,
        method: str = "",
        attempts: int = 1,
        elapsed: float = 0.0,
    ) -> None:
        self.host = host
        self.port = port
        self.reason = scrub(reason)
        self.attempts = attempts
        self.elapsed = elapsed
        where = host if port is None else f"{host}:{port}"
        message = f"cannot connect to {where} ({self.reason}){_after(attempts, elapsed)}"
        super().__init__(message, method=method, cause="connect")

    def _text(self) -> str:
        return f"{self.method or '<unknown method>'}: {self.message}"

    def after(self, attempts: int, elapsed: float) -> PortalUnreachable:
        """The same failure, saying how many attempts were made over how long."""
        return type(self)(
            self.host, self.port, self.reason, method=self.method, attempts=attempts, elapsed=elapsed
        )

    def __reduce__(self) -> tuple[Any, ...]:
        rebuild = partial(type(self), method=self.method, attempts=self.attempts, elapsed=self.elapsed)
        return (rebuild, (self.host, self.port, self.reason))


class UnexpectedAnswer(TransportError):
    """Something answered, but not with the portal's JSON: an HTML page (a proxy's error page, a
    login form), another non-JSON body, a JSON body cut short, JSON without ``result`` or
    ``error``. Retried under ``ClientSettings.unexpected_answer_retry``, attempts shared by all
    requests of a client. ``cause`` is ``html`` for an HTML page, else ``malformed_body``.

    :param status: the HTTP status.
    :param content_type: the answer's ``Content-Type``.
    :param size: the body's length in bytes.
    :param excerpt: what the body says: an HTML page's title or the first characters (scrubbed).
    :param attempts: the attempts made before giving up (shared by the client's requests).
    :param elapsed: seconds from the first failed attempt to the last.
    """

    status: int

    def __init__(
        self,
        status: int,
        content_type: str,
        size: int,
        excerpt: str,
        *,
        method: str = "",
        attempts: int = 1,
        elapsed: float = 0.0,
    ) -> None:
        self.content_type = content_type
        self.size = size
        self.excerpt = scrub(excerpt)
        self.attempts = attempts
        self.elapsed = elapsed
        kind = "html" if "html" in content_type.lower() else "malformed_body"
        media_type = content_type.split(";", 1)[0].strip() or "(no content type)"
        message = (
            f"HTTP {status} {media_type}, {size} bytes, not a Bitrix24 answer: "
            f'"{self.excerpt}"{_after(attempts, elapsed)}'
        )
        super().__init__(message, method=method, cause=kind, status=status)

    def _text(self) -> str:
        return f"{self.method or '<unknown method>'}: {self.message}"

    def after(self, attempts: int, elapsed: float) -> UnexpectedAnswer:
        """The same failure, saying how many attempts were made over how long."""
        return type(self)(
            self.status,
            self.content_type,
            self.size,
            self.excerpt,
            method=self.method,
            attempts=attempts,
            elapsed=elapsed,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        rebuild = partial(type(self), method=self.method, attempts=self.attempts, elapsed=self.elapsed)
        return (rebuild, (self.status, self.content_type, self.size, self.excerpt))


class OutcomeUnknown(BitrixError):
    """A write failed after it was sent in a way that does not say whether the portal ran it: a
    timeout or a dropped connection once the request went out, a 5xx, an HTML or cut answer. It is
    not sent again (that may write twice) unless the caller declared it safe to repeat.

    :param method: the REST method (for an item of ``call()`` or a command of a batch: its method).
    :param cause: what went wrong, in words (scrubbed of secrets).
    :param index: the item's position in the input of ``call()``, when it is one.
    :param sent_at: when the request went out, on the client's clock (monotonic portal seconds);
        after the portal's request cap has passed since then, the request no longer runs.
    """

    permanent = True

    def __init__(
        self, method: str, cause: str, *, index: int | None = None, sent_at: float | None = None
    ) -> None:
        self.method = method
        self.cause = scrub(cause)
        self.index = index
        self.sent_at = sent_at
        item = f" (item {index})" if index is not None else ""
        super().__init__(
            f"{method or '<unknown method>'}{item}: outcome unknown, the portal may have run it: {self.cause}"
        )

    def for_item(self, method: str, index: int | None) -> OutcomeUnknown:
        """The same failure, reported for one item (or command) of the request."""
        return OutcomeUnknown(method, self.cause, index=index, sent_at=self.sent_at)

    def __reduce__(self) -> tuple[Any, ...]:
        return (partial(type(self), index=self.index, sent_at=self.sent_at), (self.method, self.cause))


class InvalidArgument(BitrixError, ValueError):
    """An argument of a client method cannot be used as given (an empty or malformed method name,
    ``params`` of the wrong shape, an empty or nested ID list...); raised before any request, except
    ``list_and_get``'s ``ID_field_name`` when the rows of the list turn out not to have it.

    :param function: the client method, e.g. ``get_all``.
    :param argument: which argument, e.g. ``params['filter']`` or ``ID_list[3]``.
    :param message: what is wrong with it (scrubbed of secrets).
    """

    permanent = True

    def __init__(self, function: str, argument: str, message: str) -> None:
        self.function = function
        self.argument = scrub(argument)
        self.message = scrub(message)
        super().__init__(self._text())

    def _text(self) -> str:
        return f"{self.function}(): {self.argument} {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.function, self.argument, self.message))


class ArgumentTypeError(InvalidArgument, TypeError):
    """An :class:`InvalidArgument` of the wrong type (a number for the method name, ``None`` for
    ``select``...); also a ``TypeError``."""


class InvalidItem(InvalidArgument):
    """An item of ``call()`` cannot be sent as given; raised before any request.

    :param index: the item's position in the input.
    :param message: what is wrong with it (scrubbed of secrets).
    """

    def __init__(self, index: int, message: str) -> None:
        self.index = index
        super().__init__("call", f"items[{index}]", message)

    def _text(self) -> str:
        return f"item {self.index}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.index, self.message))


class IncompleteResultError(BitrixError):
    """A listing could not prove that it received every record.

    :param method: the list method.
    :param expected: how many records the portal announced (``total``), if known.
    :param received: how many records were received.
    :param missing_ids: an inclusive ID range known not to be covered, e.g. ``(5001, 5050)``.
    :param detail: anything else worth saying (which page, which command).
    """

    def __init__(
        self,
        method: str,
        *,
        expected: int | None = None,
        received: int | None = None,
        missing_ids: tuple[int, int] | None = None,
        detail: str = "",
    ) -> None:
        self.method = method
        self.expected = expected
        self.received = received
        self.missing_ids = missing_ids
        self.detail = scrub(detail)
        what: list[str] = []
        if expected is not None and received is not None:
            what.append(f"expected {expected} records, received {received} ({expected - received} missing)")
        elif received is not None:
            what.append(f"received {received} records")
        if missing_ids is not None:
            what.append(f"IDs {missing_ids[0]}..{missing_ids[1]} were not covered")
        if self.detail:
            what.append(self.detail)
        super().__init__(f"{method}: incomplete result: " + ("; ".join(what) or "completeness not proven"))

    def __reduce__(self) -> tuple[Any, ...]:
        rebuild = partial(
            type(self),
            expected=self.expected,
            received=self.received,
            missing_ids=self.missing_ids,
            detail=self.detail,
        )
        return (rebuild, (self.method,))


class SharedThrottleError(BitrixError):
    """The shared throttle's store could not be used (Redis: unreachable, refused the login,
    answered with an error; lock files: a directory that cannot be written or that another user
    owns, a lock held for too long). Not retried by the client: without the shared state the client
    would overrun the portal together with the other clients sharing it.

    :param message: what went wrong, in words (scrubbed of secrets).
    :param url: the store's URL with its password masked.
    """

    def __init__(self, message: str, *, url: str = "") -> None:
        self.message = scrub(message)
        self.url = url
        super().__init__(f"shared throttle {url}: {self.message}" if url else self.message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (partial(type(self), url=self.url), (self.message,))


class BatchError(BitrixError):
    """Commands of a ``batch`` (or items of ``call()``, keyed ``c<index>``) failed or have an unknown
    outcome; it carries every command's outcome.

    :param errors: command key → the command's error (the portal refused it, or its request failed
        in a way that proves it did not run).
    :param results: command key → result of the commands that succeeded, so they are not lost.
    :param unknown: command key → :class:`OutcomeUnknown` of the writes that may or may not have run.
    """

    def __init__(
        self,
        errors: Mapping[str, BitrixError],
        results: Mapping[str, Any] | None = None,
        unknown: Mapping[str, OutcomeUnknown] | None = None,
    ) -> None:
        self.errors: dict[str, BitrixError] = dict(errors)
        self.results: dict[str, Any] = dict(results or {})
        self.unknown: dict[str, OutcomeUnknown] = dict(unknown or {})
        total = len(self.errors) + len(self.results) + len(self.unknown)
        listed = [*self.errors.items(), *self.unknown.items()]
        shown = "; ".join(f"[{key}] {err}" for key, err in listed[:5])
        more = f"; and {len(listed) - 5} more" if len(listed) > 5 else ""
        unknown_part = f", {len(self.unknown)} with an unknown outcome" if self.unknown else ""
        super().__init__(f"batch: {len(self.errors)} of {total} commands failed{unknown_part}: {shown}{more}")

    @property
    def retryable_keys(self) -> list[str]:
        """Keys of the failed commands whose errors are transient."""
        return [key for key, err in self.errors.items() if err.retryable]

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.errors, self.results, self.unknown))


#: fast_bitrix24's name (``fast_bitrix24.server_response``) for commands of a batch the portal refused
ErrorInServerResponseException = BatchError


def is_retryable(error: BaseException) -> bool:
    """Whether *error* is a client error that may go away when the request is repeated later."""
    return isinstance(error, BitrixError) and error.retryable
