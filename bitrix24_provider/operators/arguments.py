"""Argument handling shared by the operators: defaults, templated values, the retry policy."""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bitrix24_provider.client.families import family_of
from bitrix24_provider.operators.retry import default_retry_policy
from bitrix24_provider.staging.errors import StagingConfigError

if TYPE_CHECKING:
    pass


class _Default:
    """Marks an argument left to its documented default."""

    def __repr__(self) -> str:
        return "<default>"


DEFAULT: Any = _Default()


def templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def family_key(method: Any) -> tuple[str, ...]:
    if not isinstance(method, str) or templated(method):
        return ("ID",)
    return (family_of(method).response_id,)


def as_key(value: Any, argument: str = "primary_key") -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise ValueError(f"{argument} must be a field name or a list of field names, got {value!r}")


def as_lag(value: Any, argument: str = "lag") -> timedelta:
    """A non-negative duration from a timedelta or seconds."""
    if isinstance(value, timedelta):
        lag = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        lag = timedelta(seconds=value)
    else:
        raise ValueError(f"{argument} must be a timedelta or seconds, got {value!r}")
    if lag < timedelta(0):
        raise ValueError(f"{argument} must not be negative, got {value!r}")
    return lag


def decode(value: Any, argument: str, kinds: tuple[type, ...]) -> Any:
    """A rendered template value: as is when of *kinds*, else parsed from JSON or a Python literal
    (templates render to strings unless the DAG renders native objects)."""
    if value is None or isinstance(value, kinds):
        return value
    if isinstance(value, str):
        for parse in (json.loads, ast.literal_eval):
            try:
                parsed = parse(value)
            except (ValueError, SyntaxError, TypeError):
                continue
            if isinstance(parsed, kinds):
                return parsed
    raise StagingConfigError(f"{argument} must be a {' or '.join(k.__name__ for k in kinds)}, got {value!r}")


def with_retry_policy(kwargs: dict[str, Any], retry_policy: Any) -> dict[str, Any]:
    """*kwargs* with the operator's retry policy: the default one unless the DAG gives another; on
    Airflow < 3.3, whose operators take none, the default and ``None`` are left out."""
    default = default_retry_policy()
    if retry_policy is DEFAULT:
        retry_policy = default
    if retry_policy is None and default is None:
        return kwargs
    return {**kwargs, "retry_policy": retry_policy}
