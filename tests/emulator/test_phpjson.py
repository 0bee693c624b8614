"""PHP ``json_encode`` quirks of the emulator's responses (contract §5.3)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitrix24_provider.emulator.phpjson import dumps, phpize

REAL_RESPONSES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "real-responses"


def real_response(name: str) -> Any:
    """A captured real response, read in place (the files are never copied into the repo)."""
    path = REAL_RESPONSES / name
    if not path.is_file():
        pytest.skip(f"reference data not available: {path}")
    return json.loads(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------------
# phpize


def test_empty_map_is_an_empty_list() -> None:
    assert phpize({}) == []
    assert dumps({"result_error": {}, "result": {}}) == b'{"result_error":[],"result":[]}'


def test_keys_zero_to_n_minus_one_in_order_make_a_list() -> None:
    assert phpize({"0": "a", "1": "b"}) == ["a", "b"]
    assert phpize({0: "a", 1: "b", 2: "c"}) == ["a", "b", "c"]
    assert phpize({0: "a", "1": "b"}) == ["a", "b"]


@pytest.mark.parametrize(
    "value",
    [
        {"1": "a", "0": "b"},  # out of order
        {"0": "a", "2": "b"},  # gap
        {"1": "a"},  # does not start at 0
        {"35943": {"ID": "35943"}},
        {"00": "a"},  # not a canonical integer key
        {"0": "a", "x": "b"},
    ],
)
def test_other_maps_stay_objects_with_string_keys(value: dict[Any, Any]) -> None:
    assert phpize(value) == {str(key): item for key, item in value.items()}


def test_object_key_order_is_kept() -> None:
    assert dumps({"b": 1, "a": 2, "10": 3, "2": 4}) == b'{"b":1,"a":2,"10":3,"2":4}'


def test_keys_php_would_merge_are_merged() -> None:
    assert phpize({1: "a", "1": "b", "x": "c"}) == {"1": "b", "x": "c"}
    assert phpize({True: "t", None: "n", 2.7: "f"}) == {"1": "t", "": "n", "2": "f"}


def test_conversion_is_recursive() -> None:
    value = {"a": [{"0": "x"}, {}], "b": ({"k": {}},), "c": {"0": {"1": "y"}}}
    assert phpize(value) == {"a": [["x"], []], "b": [{"k": []}], "c": [{"1": "y"}]}


def test_lists_stay_lists() -> None:
    assert phpize([]) == []
    assert phpize([{"0": 1}, [{}]]) == [[1], [[]]]


def test_scalars_are_unchanged() -> None:
    for value in ("", "0", 0, -7, True, False, None, 1.5):
        assert phpize(value) == value
        assert type(phpize(value)) is type(value)


# --------------------------------------------------------------------------------------------------
# dumps


def test_dumps_is_compact_utf8_bytes() -> None:
    out = dumps({"NAME": "Новая заявка", "list": [1, 2], "flag": True, "none": None})
    assert isinstance(out, bytes)
    assert out == '{"NAME":"Новая заявка","list":[1,2],"flag":true,"none":null}'.encode()


def test_dumps_escapes_what_json_requires() -> None:
    assert json.loads(dumps({"s": 'a"b\\c\n\x00\u2028'})) == {"s": 'a"b\\c\n\x00\u2028'}


def test_floats_keep_full_precision() -> None:
    values = [1653126089.336395, 0.005920886993408203, 1.831031084060669, 0.1 + 0.2, 1e-7, 1.5e300]
    out = dumps(values)
    assert json.loads(out) == values
    assert b"1653126089.336395" in out


def test_integral_floats_are_written_without_fraction_like_php() -> None:
    assert dumps([1.0, 0.0, -3.0, 1e15]) == b"[1,0,-3,1000000000000000]"
    assert dumps([1e300]) == b"[1e+300]"


def test_nan_and_infinity_are_written_as_zero() -> None:
    assert dumps([math.nan, math.inf, -math.inf]) == b"[0,0,0]"


def test_lone_surrogates_do_not_crash() -> None:
    assert dumps({"s": "a\ud800b"}) == b'{"s":"a?b"}'


# --------------------------------------------------------------------------------------------------
# Shapes captured from real portals


def test_batch_of_one_with_label_0_matches_the_real_shape() -> None:
    real = real_response("crm_dealcategory_stage_list_batch_of_one.json")
    stages = real["result"]["result"][0]
    time = real["result"]["result_time"][0]
    emulated = {
        "result": {
            "result": {"0": stages},
            "result_error": {},
            "result_total": {},
            "result_next": {},
            "result_time": {"0": time},
        },
        "time": real["time"],
    }
    assert json.loads(dumps(emulated)) == real
    assert isinstance(phpize(emulated)["result"]["result"], list)


def test_mixed_success_and_errors_matches_the_real_shape() -> None:
    real = real_response("crm_get_batch_mix_success_and_errors.json")
    errors = real["result"]["result_error"]
    emulated = {
        "result": {
            "result": {"35943": {"ID": "35943"}},
            "result_error": {"0": errors[0], "1": errors[1]},
            "result_total": {},
            "result_next": {},
            "result_time": {"35943": real["result"]["result_time"]["35943"]},
        },
        "time": real["time"],
    }
    assert json.loads(dumps(emulated)) == real
    shaped = phpize(emulated)["result"]
    assert shaped["result"] == {"35943": {"ID": "35943"}}
    assert shaped["result_error"] == [
        {"error": "", "error_description": "ID is not defined or invalid."},
        {"error": "", "error_description": "Not found"},
    ]
    assert shaped["result_total"] == shaped["result_next"] == []


def test_real_responses_are_fixed_points() -> None:
    """Whatever PHP wrote is already in PHP shape: no ``{}`` and no object keyed 0..n-1."""
    if not REAL_RESPONSES.is_dir():
        pytest.skip(f"reference data not available: {REAL_RESPONSES}")
    files = sorted(REAL_RESPONSES.glob("*.json"))
    assert files
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        assert phpize(data) == data, path.name
        assert json.loads(dumps(data)) == data, path.name


# --------------------------------------------------------------------------------------------------
# Properties


_KEYS = st.text(max_size=4) | st.integers(0, 5).map(str) | st.integers(0, 5)
_DATA = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=4),
    max_leaves=20,
)


def no_php_lists_left(value: Any) -> bool:
    """No empty object and no object keyed "0".."n-1" in order."""
    if isinstance(value, dict):
        keys = list(value)
        if keys == [str(index) for index in range(len(keys))]:
            return False
        return all(no_php_lists_left(item) for item in value.values())
    if isinstance(value, list):
        return all(no_php_lists_left(item) for item in value)
    return True


@given(_DATA)
def test_dumps_never_raises_and_round_trips_phpize(value: Any) -> None:
    out = dumps(value)
    decoded = json.loads(out)
    assert decoded == phpize(value)
    assert no_php_lists_left(decoded)


@given(_DATA)
def test_phpize_is_idempotent(value: Any) -> None:
    once = phpize(value)
    assert phpize(once) == once
