"""The default ``retry_policy`` of the Bitrix24 operators (Airflow 3.3+).

* Authentication, permission, unknown-method and parameter errors (``AuthError``, ``AccessDenied``,
  ``MethodNotFound``, ``InvalidParams``, ``InvalidArgument``) and the operators' own configuration
  errors fail the task at once: another try cannot fix them (each error class says so in
  ``permanent``; :mod:`bitrix24_provider.sync.failures` reads it from the error and its causes).
  Those include a missing ``bitrix24_conn_id`` or ``sql_conn_id`` connection, a connection type
  whose provider is not installed, a ``sql_conn_id`` that is not a SQL connection, and arguments,
  connection fields or ``client_kwargs`` our checks reject: the operators read them as
  :class:`~bitrix24_provider.staging.errors.StagingConfigError` (:mod:`.connections`) before the
  first request.
* So do writes whose outcome is unknown (``OutcomeUnknown``) and every ``AirflowFailException``
  (:class:`~bitrix24_provider.operators.call.Bitrix24WriteError`: a call task that has written
  fails without retries, since another try would send every item again).
* ``OPERATION_TIME_LIMIT`` (the method's server-time budget is used up) retries after the budget
  resets: the error's ``retry_after``, which the client sets from its own throttle state (the
  portal's ``operating_reset_at``) when it gives up on the block, else ``operating_delay`` (the
  portal's 10-minute window).
* Other failures that know when to come back (``retry_after``: a data interval that is not over on
  the portal's clock yet) retry after that delay.
* Anything else keeps the task's own ``retries``/``retry_delay``.

On Airflow before 3.3 there is no retry policy: :data:`Bitrix24RetryPolicy` is None there and the
operators fall back to plain retries.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

try:
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # Airflow < 3.2
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef]

from bitrix24_provider.sync.failures import is_operating_block, is_permanent, retry_after

if TYPE_CHECKING:
    from airflow.sdk.definitions.retry_policy import RetryDecision, RetryPolicy

try:
    from airflow.sdk import RetryDecision as _RetryDecision
    from airflow.sdk import RetryPolicy as _RetryPolicy
except ImportError:  # pragma: no cover - Airflow < 3.3
    _RetryDecision = None  # type: ignore[assignment,misc]
    _RetryPolicy = None  # type: ignore[assignment,misc]

#: the portal's operating-time window
OPERATING_WINDOW = timedelta(minutes=10)


def decide(
    exception: BaseException, operating_delay: timedelta = OPERATING_WINDOW
) -> tuple[str, timedelta | None, str | None]:
    """``(action, delay, reason)`` for *exception*: ``fail``, ``retry`` (after *delay*) or ``default``."""
    if isinstance(exception, AirflowFailException):
        return "fail", None, f"{type(exception).__name__} must not be retried"
    if is_permanent(exception):
        return "fail", None, f"{type(exception).__name__} cannot be fixed by retrying"
    if is_operating_block(exception):
        seconds = retry_after(exception)
        delay = timedelta(seconds=seconds + 1.0) if seconds is not None else operating_delay
        return "retry", delay, "the method's operating-time budget is used up; retrying after it resets"
    seconds = retry_after(exception)
    if seconds is not None:
        return "retry", timedelta(seconds=seconds + 1.0), f"{type(exception).__name__}: {exception}"
    return "default", None, None


if _RetryPolicy is not None:

    class Bitrix24RetryPolicy(_RetryPolicy):
        """Fail fast on permanent Bitrix24 errors, wait out operating-time blocks."""

        def __init__(self, operating_delay: timedelta = OPERATING_WINDOW) -> None:
            self.operating_delay = operating_delay

        def evaluate(
            self,
            exception: BaseException,
            try_number: int,
            max_tries: int,
            context: Any = None,
        ) -> RetryDecision:
            action, delay, reason = decide(exception, self.operating_delay)
            if action == "fail":
                return _RetryDecision.fail(reason=reason)
            if action == "retry":
                return _RetryDecision.retry(delay=delay, reason=reason)
            return _RetryDecision.default()

        def serialize(self) -> dict[str, Any]:
            return {"operating_delay": self.operating_delay.total_seconds()}

        @classmethod
        def deserialize(cls, data: dict[str, Any]) -> RetryPolicy:
            return cls(
                timedelta(seconds=float(data.get("operating_delay", OPERATING_WINDOW.total_seconds())))
            )

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Bitrix24RetryPolicy) and other.operating_delay == self.operating_delay

        def __hash__(self) -> int:
            return hash(self.operating_delay)

        def __repr__(self) -> str:
            return f"Bitrix24RetryPolicy(operating_delay={self.operating_delay!r})"

else:  # pragma: no cover - Airflow < 3.3
    Bitrix24RetryPolicy = None  # type: ignore[assignment,misc]


def default_retry_policy() -> RetryPolicy | None:
    """A :data:`Bitrix24RetryPolicy`, or None where Airflow has no retry policies."""
    if Bitrix24RetryPolicy is None:  # pragma: no cover - Airflow < 3.3
        return None
    return Bitrix24RetryPolicy()
