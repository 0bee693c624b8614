"""Watermark times: ISO 8601 strings with an offset at 1-second resolution, as the portal sends them,
compared as instants. The stored watermark is the largest cursor value loaded, never later than the
moment its export began (see :mod:`bitrix24_provider.sync.incremental`)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any


def parse_time(value: Any) -> datetime | None:
    """An aware datetime from an ISO 8601 string or datetime (naive values are taken as UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def format_time(moment: datetime) -> str:
    """ISO 8601 with offset, whole seconds: ``2024-08-30T14:29:00+02:00``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.replace(microsecond=0).isoformat(timespec="seconds")


def earlier(a: str | None, b: str | None) -> str | None:
    """The earlier of two watermarks (compared as instants, returned as sent); None counts as unknown."""
    ta, tb = parse_time(a), parse_time(b)
    if ta is None:
        return b if tb is not None else None
    if tb is None:
        return a
    return b if tb < ta else a


def next_high_water(previous: str | None, loaded: str | None, started_at: str | None) -> str | None:
    """The watermark to store after a load: the largest cursor value loaded so far (*previous* or
    *loaded*), capped at *started_at*, the portal time at which this export began."""
    return earlier(later(previous, loaded), started_at)


def later(a: str | None, b: str | None) -> str | None:
    """The later of two watermarks (compared as instants, returned as sent)."""
    ta, tb = parse_time(a), parse_time(b)
    if ta is None:
        return b if tb is not None else None
    if tb is None:
        return a
    return b if tb > ta else a
