"""What another attempt can fix, read from the typed errors and their causes."""

from __future__ import annotations

from bitrix24_provider.client.errors import (
    BatchError,
    IncompleteResultError,
    InvalidParams,
    OperationTimeLimit,
    OutcomeUnknown,
    ServerError,
)
from bitrix24_provider.staging.errors import ColumnPolicyError, IntervalNotOverError
from bitrix24_provider.sync.failures import is_operating_block, is_permanent, retry_after


def blocked(seconds: float | None) -> OperationTimeLimit:
    error = OperationTimeLimit("OPERATION_TIME_LIMIT", "Method is blocked", "crm.deal.list", 429)
    error.retry_after = seconds
    return error


def test_permanence_comes_from_the_error_classes():
    assert is_permanent(InvalidParams("INVALID_ARG_VALUE", "bad", "crm.deal.list", 400))
    assert is_permanent(OutcomeUnknown("crm.deal.add", "timeout"))
    assert is_permanent(ColumnPolicyError("deals", ["X"]))
    assert not is_permanent(ServerError("INTERNAL_SERVER_ERROR", "", "crm.deal.list", 500))
    assert not is_permanent(IncompleteResultError("crm.deal.list"))  # a later try may get every row


def test_causes_count():
    wrapped = RuntimeError("wrapped")
    wrapped.__cause__ = InvalidParams("INVALID_ARG_VALUE", "bad", "crm.deal.list", 400)
    assert is_permanent(wrapped)
    inside = BatchError({"c0": blocked(3.0)}, {"c1": []})
    assert is_operating_block(inside) and not is_permanent(inside)
    assert retry_after(inside) == 3.0


def test_the_wait_before_a_retry_is_carried_by_the_error():
    assert retry_after(blocked(None)) is None  # unknown: the retry policy uses its default
    assert retry_after(blocked(2.5)) == 2.5
    assert (
        retry_after(IntervalNotOverError("2026-01-01T00:00:00+00:00", "2025-12-31T23:59:30+00:00", 30)) == 30
    )
    assert retry_after(ServerError("INTERNAL_SERVER_ERROR", "", "x", 500)) is None
