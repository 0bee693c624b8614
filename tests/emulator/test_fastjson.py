"""The orjson encoder writes exactly what the reference encoder (``phpjson.dumps``) writes."""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitrix24_provider.emulator import fastjson, phpjson
from bitrix24_provider.emulator.jsonrows import JsonRows


def same(value: Any) -> bytes:
    expected = phpjson.dumps(value)
    assert fastjson.dumps(value) == expected
    return expected


def test_every_code_point_is_escaped_like_json_dumps() -> None:
    text = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    same({"s": text, text[:300]: [text[-300:]]})


@pytest.mark.parametrize(
    "number",
    [1e16, 1e-5, 1.5e-7, 0.1 + 0.2, 1e300, 5e-324, -0.0, 2.0**53, 2.0**53 + 2, 12.0, -3.5, 1653126089.336395],
)
def test_floats_are_written_as_python_writes_them(number: float) -> None:
    assert (
        same([number, {"x": number}])
        == json.dumps(phpjson.phpize([number, {"x": number}]), separators=(",", ":")).encode()
    )


def test_non_finite_floats_and_big_ints_and_surrogates() -> None:
    same([math.nan, math.inf, -math.inf])
    same({"big": 2**64, "small": -(2**63) - 1, "edge": [2**64 - 1, -(2**63)]})
    assert same({"s": "a\ud800b", "t": ["ok"]}) == b'{"s":"a?b","t":["ok"]}'


def test_php_array_rules() -> None:
    same({"result_error": {}, "result": {"0": "a", "1": "b"}, "x": {1: "a", "1": "b"}})
    same({True: 1, None: 2, 2.7: 3, "-1": 4, "01": 5})
    same(OrderedDict([("0", {}), ("1", ())]))
    same([(), ({},), {"0": {"0": {"0": []}}}])


def test_subclasses_of_scalars() -> None:
    class Text(str):
        pass

    class Number(int):
        pass

    class Real(float):
        def __repr__(self) -> str:
            return "not used"

    same({"t": Text("x"), "n": Number(7), "r": Real(0.5), "i": Real(2.0)})


def test_what_json_cannot_write_is_refused_alike() -> None:
    for value in ({"s": {1, 2}}, {"b": b"x"}, [object()]):
        with pytest.raises(TypeError):
            phpjson.dumps(value)
        with pytest.raises(TypeError):
            fastjson.dumps(value)


def test_deep_nesting_falls_back_to_the_reference() -> None:
    value: Any = "leaf"
    for _ in range(300):  # deeper than orjson writes
        value = {"k": [value]}
    same(value)


def test_rows_already_written_go_out_as_they_are() -> None:
    rows = [{"ID": "1", "TITLE": 'Сделка "№1"\n', "EMPTY": None, "UF": ["a", ""]}] * 3
    page = JsonRows(orjson.dumps(rows), 3, "ID")
    assert fastjson.dumps({"result": page, "total": 3}) == phpjson.dumps({"result": rows, "total": 3})
    # when something else in the response needs the reference encoder, the rows are read back
    mixed = {"result": {"a": page, "b": "lone \udc80"}}
    assert fastjson.dumps(mixed) == phpjson.dumps({"result": {"a": rows, "b": "lone \udc80"}})


_KEYS = st.text(max_size=3) | st.integers(-2, 5).map(str) | st.integers(-2, 5) | st.booleans() | st.none()
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text()
    | st.text(st.characters(codec="utf-8") | st.characters(categories=["Cs"]))
)
_DATA = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(_KEYS, children, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=400)
@given(_DATA)
def test_any_value_is_written_like_the_reference(value: Any) -> None:
    same(value)
    same({"result": {"c0": value, "c1": [value]}, "time": {"start": 1.5, "duration": 0.25}})
