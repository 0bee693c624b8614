"""Backoff per request (:class:`RetryPolicy`, :class:`RetryBudget`); the budgets a client's requests
share are tested over HTTP in ``test_failures.py``."""

from __future__ import annotations

from typing import Any

import pytest

from bitrix24_provider.client.errors import (
    InvalidParams,
    OperationTimeLimit,
    QueryLimitExceeded,
    ServerError,
    TransportError,
)
from bitrix24_provider.client.retry import RetryPolicy


def test_full_jitter_backoff() -> None:
    policy = RetryPolicy(max_attempts=10, base=0.5, cap=8.0)
    assert [policy.delay(n, 0.999999) for n in range(6)] == pytest.approx([0.5, 1, 2, 4, 8, 8], rel=1e-5)
    assert policy.delay(3, 0.5) == 2.0
    assert policy.delay(10_000, 0.5) == 4.0  # no overflow
    assert policy.delay(2, 0.0) == 0.0


def test_retry_budget_is_per_request() -> None:
    policy = RetryPolicy(max_attempts=3, base=1.0, cap=10.0)
    draws = iter([0.5, 0.5, 0.5, 0.5])
    first = policy.start(rng=lambda: next(draws))
    second = policy.start(rng=lambda: 0.25)
    assert first.next_delay(QueryLimitExceeded("QUERY_LIMIT_EXCEEDED", "Too many requests")) == 0.5
    assert first.next_delay(TransportError("timeout")) == 1.0
    assert first.remaining == 1
    assert first.next_delay(ServerError("", "boom", status=500)) is None  # attempts used up
    # another request is not affected by the first one's failures
    assert second.remaining == 3
    assert second.next_delay(OperationTimeLimit("OPERATION_TIME_LIMIT", "blocked"), at_least=30) == 30
    assert second.next_delay(InvalidParams("", "Not array")) is None  # never retried
    assert second.next_delay(ValueError("not ours")) is None


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"base": -1}, {"cap": -1}, {"multiplier": 0.5}])
def test_retry_policy_validates(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="need max_attempts"):
        RetryPolicy(**kwargs)
