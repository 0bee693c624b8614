"""Recorded answers fitted to the request a client actually sent (for :mod:`fb24_replay`).

fast_bitrix24's recorded answers were captured for fast_bitrix24's own requests. Another client asks in
another form or order, so each answer is fitted to the request, the same way for every client and
without inventing data:

* **A whole recorded list export** (a first page with ``next``/``total``, then batches with the
  remaining pages, all rows present) becomes a :class:`Table` that answers any page request over those
  rows: ``start`` offsets, ``start=-1``, ``>ID``/``<=ID`` bounds, ``order`` by ID ascending or
  descending, ``$result[...]`` references inside a batch. ``select`` and other filters are not
  applied: the rows are what the portal returned for the recorded query.
* **Any other answer** is fitted by :func:`fit`: a batch answer is relabelled onto the labels of the
  batch sent (the same label; else a label equal to a command's ID parameter, as fast_bitrix24's
  ``get_by_ID`` labels them; else by position), commands it has no answer for are left out (as in a
  batch the portal emptied); a batch answer of one command answers a direct call of it (an error as
  HTTP 400); a direct answer answers a batch of one command.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bitrix24_provider.emulator.params import parse_batch_command
from bitrix24_provider.emulator.references import resolve

_MAPS = ("result", "result_error", "result_total", "result_next", "result_time")
_BOUNDS: dict[str, Callable[[int, int], bool]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "=": lambda a, b: a == b,
    "": lambda a, b: a == b,
}
Body = dict[str, Any]
#: ``(HTTP status, body)``
Answer = tuple[int, Any]


def fit(body: Any, method: str, params: Mapping[str, Any]) -> Answer:
    """The recorded ``body`` as the answer to the request actually sent (see the module doc)."""
    if not isinstance(body, dict):
        return 200, body
    recorded = _batch_maps(body)
    if method.lower() == "batch":
        commands = batch_commands(params)
        if recorded is not None:
            return 200, _relabel(body, recorded, commands)
        if len(commands) == 1 and ("result" in body or "error" in body):
            return 200, _as_batch(body, commands[0][0])
        return 200, body
    if recorded is not None:
        labels = _labels(recorded)
        if len(labels) == 1:
            return _as_direct(body, recorded, labels[0])
    return (400 if "error" in body and "result" not in body else 200), body


def batch_commands(params: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """``(label, method, params)`` of each command of a batch request, in order."""
    cmd = _get(params, "cmd")
    pairs = cmd.items() if isinstance(cmd, Mapping) else enumerate(cmd) if isinstance(cmd, list) else []
    return [(str(label), *parse_batch_command(str(text))) for label, text in pairs]


def _batch_maps(body: Body) -> dict[str, dict[str, Any]] | None:
    """A batch answer's five maps keyed by label (PHP lists read as labels 0, 1, ...), or None."""
    inner = body.get("result")
    if not isinstance(inner, dict) or "result" not in inner:
        return None
    maps: dict[str, dict[str, Any]] = {}
    for name in _MAPS:
        value = inner.get(name, [])
        if isinstance(value, list):
            value = {str(i): v for i, v in enumerate(value)}
        if not isinstance(value, dict):
            return None
        maps[name] = {str(k): v for k, v in value.items()}
    return maps


def _labels(maps: dict[str, dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(label for name in _MAPS for label in maps[name]))


def _relabel(body: Body, recorded: dict[str, dict[str, Any]], commands: list[Any]) -> Body:
    """The recorded answers put under the labels of the batch sent; commands the recording has no
    answer for are left out, as a batch the portal emptied leaves them out."""
    unused = _labels(recorded)
    chosen: dict[str, str] = {}
    for label, _, _ in commands:
        if label in unused:
            chosen[label] = label
            unused.remove(label)
    for label, _, sub in commands:
        if label not in chosen:
            ids = sorted(sub.items(), key=lambda kv: not str(kv[0]).lower().endswith("id"))
            hit = next((str(v) for _, v in ids if isinstance(v, str | int) and str(v) in unused), None)
            if hit is not None:
                chosen[label] = hit
                unused.remove(hit)
    rest = [label for label, _, _ in commands if label not in chosen]
    chosen.update(zip(rest, sorted(unused, key=_position), strict=False))
    inner = body["result"]
    fitted = {
        name: _php_map({label: recorded[name][r] for label, r in chosen.items() if r in recorded[name]})
        for name in _MAPS
        if name in inner
    }
    return {**body, "result": fitted}


def _position(label: str) -> tuple[int, int]:
    """fast_bitrix24's generated labels (``order0000000001``, ``cmd3``) in their numeric order."""
    digits = re.search(r"(\d+)$", label)
    return (0, int(digits.group(1))) if digits else (1, 0)


def _as_direct(body: Body, recorded: dict[str, dict[str, Any]], label: str) -> Answer:
    if label in recorded["result_error"]:
        return 400, recorded["result_error"][label]
    direct: Body = {"result": recorded["result"].get(label)}
    if label in recorded["result_next"]:
        direct["next"] = recorded["result_next"][label]
    if label in recorded["result_total"]:
        direct["total"] = recorded["result_total"][label]
    direct["time"] = recorded["result_time"].get(label, body.get("time"))
    return 200, direct


def _as_batch(body: Body, label: str) -> Body:
    one = {
        "result": {label: body["result"]} if "result" in body else {},
        "result_error": {label: error(body["error"], body.get("error_description", ""))}
        if "error" in body
        else {},
        "result_total": {label: body["total"]} if "total" in body else {},
        "result_next": {label: body["next"]} if "next" in body else {},
        "result_time": {label: body["time"]} if "time" in body else {},
    }
    return {"result": {name: _php_map(value) for name, value in one.items()}, "time": body.get("time")}


@dataclass
class Table:
    """The rows of a recorded list export, answering page requests in the recorded shape."""

    rows: list[Any]
    ids: list[int]
    id_key: str
    #: ``{"tasks": [...]}``-style wrapper key of each page; None for a bare list
    wrapper: str | None
    page: int
    time: Any

    @classmethod
    def of(cls, recording: Any) -> Table | None:
        if not isinstance(recording, list) or len(recording) < 2 or not isinstance(recording[0], dict):
            return None
        first = recording[0]
        if _batch_maps(first) is not None or "next" not in first or "total" not in first:
            return None
        wrapper, rows = _page_rows(first.get("result"))
        if rows is None or not rows:
            return None
        rows = list(rows)
        for body in recording[1:]:
            maps = _batch_maps(body) if isinstance(body, dict) else None
            if maps is None or maps["result_error"]:
                return None
            for label in sorted(maps["result"], key=_position):
                key, page = _page_rows(maps["result"][label])
                if page is None or key != wrapper:
                    return None
                rows.extend(page)
        id_key = next((k for k in rows[0] if str(k).lower() == "id"), None)
        if len(rows) != first["total"] or id_key is None:
            return None
        ids = [int(row[id_key]) for row in rows]
        return cls(rows, ids, id_key, wrapper, len(_page_rows(first["result"])[1] or []), first.get("time"))

    def answer(self, method: str, params: Mapping[str, Any]) -> Body:
        if method.lower() != "batch":
            value, total, next_ = self._page(params)
            return {"result": value, **_counts(next_, total), "time": self.time}
        maps: dict[str, dict[str, Any]] = {name: {} for name in ("result", "error", "total", "next", "time")}
        for label, _, sub in batch_commands(params):
            value, total, next_ = self._page(resolve(sub, maps))
            maps["result"][label] = value
            if total is not None:
                maps["total"][label] = total
            if next_ is not None:
                maps["next"][label] = next_
            maps["time"][label] = self.time
        inner = {f"result{'' if name == 'result' else '_' + name}": _php_map(m) for name, m in maps.items()}
        return {"result": {name: inner[name] for name in _MAPS}, "time": self.time}

    def _page(self, params: Mapping[str, Any]) -> tuple[Any, int | None, int | None]:
        picked = list(range(len(self.rows)))
        filter_ = _get(params, "filter")
        for key, value in (filter_ or {}).items() if isinstance(filter_, Mapping) else ():
            op, name = re.fullmatch(r"([<>=!%@]*)(.*)", str(key)).groups()  # type: ignore[union-attr]
            if name.lower() == "id" and op in _BOUNDS:
                # a reference past a short page resolves to the page itself: no row matches it
                bound = (
                    int(value) if isinstance(value, str | int) and str(value).lstrip("-").isdigit() else None
                )
                picked = [i for i in picked if bound is not None and _BOUNDS[op](self.ids[i], bound)]
        order = _get(params, "order")
        if isinstance(order, Mapping) and any(
            str(k).lower() == "id" and str(v).upper() == "DESC" for k, v in order.items()
        ):
            picked.reverse()
        start = int(_get(params, "start") or 0)
        if start < 0:
            return self._wrap(picked[: self.page]), None, None
        chunk = picked[start : start + self.page]
        next_ = start + self.page if start + self.page < len(picked) else None
        return self._wrap(chunk), len(picked), next_

    def _wrap(self, picked: list[int]) -> Any:
        rows = [self.rows[i] for i in picked]
        return rows if self.wrapper is None else {self.wrapper: rows}


def _page_rows(result: Any) -> tuple[str | None, list[Any] | None]:
    """``(wrapper key, rows)`` of one list page: a bare list or a one-key object holding a list."""
    if isinstance(result, list):
        return None, result
    if isinstance(result, dict) and len(result) == 1:
        ((key, value),) = result.items()
        if isinstance(value, list):
            return str(key), value
    return None, None


def _counts(next_: int | None, total: int | None) -> Body:
    return {
        **({"next": next_} if next_ is not None else {}),
        **({"total": total} if total is not None else {}),
    }


def _get(params: Mapping[str, Any], name: str) -> Any:
    """A top-level parameter by name in any letter case (fast_bitrix24's tests write ``FILTER``)."""
    return next((v for k, v in params.items() if str(k).lower() == name), None)


def _php_map(value: dict[str, Any]) -> Any:
    """As PHP's ``json_encode`` writes an array: ``[]`` when empty, a list for keys 0..n-1."""
    if not value:
        return []
    if list(value) == [str(i) for i in range(len(value))]:
        return list(value.values())
    return value


def error(code: str, description: str) -> Body:
    """A Bitrix24 error answer."""
    return {"error": code, "error_description": description}
