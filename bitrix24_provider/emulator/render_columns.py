"""Classic CRM rendering of whole columns: what :func:`.values.classic_renderer` does value by value,
as one list comprehension per field of a list page.

Dates skip ``datetime``: the local day's ``YYYY-MM-DDT`` is cached, ``HH:MM:`` and ``SS+03:00`` come
from two small tables (a table of all 86,400 seconds is faster in a micro-benchmark but slower in
the server, where its 5 MB do not stay in the CPU caches).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import lru_cache
from typing import Any, Final

from .fieldspec import Field
from .values import format_dt, offset_seconds, php_float, render_classic

ColumnRenderer = Callable[[list[Any], str], list[Any]]

_DAY: Final = 86400
_UNIX_ORDINAL: Final = date(1970, 1, 1).toordinal()
_MAX_DAYS: Final = 100_000
_days: dict[int, str] = {}


_HOURS_MINUTES: Final = tuple(f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60))


@lru_cache(maxsize=64)
def _seconds(offset: str) -> tuple[str, ...]:
    suffix = format_dt(0, offset)[19:]
    return tuple(f"{s:02d}{suffix}" for s in range(60))


def _day(days: int) -> str:
    if len(_days) >= _MAX_DAYS:
        _days.clear()
    text = _days[days] = date.fromordinal(days + _UNIX_ORDINAL).isoformat() + "T"
    return text


def iso_column(values: list[Any], offset: str, empty: Any) -> list[Any]:
    """:func:`.values.format_dt` of every value, ``empty`` for None."""
    shift, days, hm, ss, day = offset_seconds(offset), _days, _HOURS_MINUTES, _seconds(offset), _DAY
    out: list[Any] = []
    for v in values:
        if v is None:
            out.append(empty)
            continue
        t = v + shift
        d = t // day
        s = t - d * day
        try:
            out.append((days.get(d) or _day(d)) + hm[s // 60] + ss[s % 60])
        except TypeError:  # not an int (stored values are): what format_dt makes of it
            out.append(format_dt(v, offset))
    return out


@lru_cache(maxsize=4)
def _date_texts(offset: str) -> dict[Any, str]:
    """Rendered ``date`` fields by value (few distinct days), per offset."""
    return {None: ""}


def _days_only(values: list[Any], offset: str) -> list[Any]:
    """:func:`_dates` for ``date`` fields, whose values repeat (UTC midnights)."""
    texts = _date_texts(offset)
    get, out = texts.get, []
    for v in values:
        text = get(v)
        if text is None:
            if len(texts) >= _MAX_DAYS:
                texts.clear()
                texts[None] = ""
            text = texts[v] = iso_column([v], offset, "")[0]
        out.append(text)
    return out


def _same(values: list[Any], offset: str) -> list[Any]:
    return values


def _ints(values: list[Any], offset: str) -> list[Any]:
    return [None if v is None else str(v) for v in values]


def _dates(values: list[Any], offset: str) -> list[Any]:
    return iso_column(values, offset, "")


def _flags(values: list[Any], offset: str) -> list[Any]:
    return [None if v is None else "Y" if v else "N" for v in values]


def _uf_flags(values: list[Any], offset: str) -> list[Any]:
    return [None if v is None else "1" if v else "0" for v in values]


def _amounts(values: list[Any], offset: str) -> list[Any]:
    return [None if v is None else f"{v:.2f}" for v in values]


def _uf_floats(values: list[Any], offset: str) -> list[Any]:
    return [None if v is None else php_float(v) for v in values]


_BY_KIND: dict[tuple[str, bool], ColumnRenderer] = {
    ("int", False): _ints,
    ("int", True): _ints,
    ("date", False): _dates,
    ("date", True): _dates,
    ("bool", False): _flags,
    ("bool", True): _uf_flags,
    ("float", False): _amounts,
    ("float", True): _uf_floats,
}


@lru_cache(maxsize=4096)
def classic_column(f: Field) -> ColumnRenderer:
    """:func:`.values.render_classic` for a column of ``f`` (one function per kind of single field,
    so that a page can render a column shared by two fields once)."""
    if f.multiple or f.kind == "multifield":
        return lambda values, offset: [render_classic(f, v, offset) for v in values]
    if f.type == "date":
        return _days_only
    return _BY_KIND.get((f.kind, f.uf), _same)
