"""The one parameter encoder: scalars, PHP bracket form, percent-encoding, batch commands.

The property tests feed the encoder's output to the emulator's PHP ``parse_str`` / ``parse_url``
port and check that it reads back exactly the structure that was meant.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitrix24_provider.client.encoding import (
    MAX_DEPTH,
    batch_command,
    batch_params,
    encode_params,
    encode_value,
    to_form,
    to_json,
    to_query,
)

MSK = timezone(timedelta(hours=3))


@pytest.fixture(scope="module")
def php() -> ModuleType:
    """The emulator's PHP parameter parser (written independently of the client)."""
    module: ModuleType = pytest.importorskip("bitrix24_provider.emulator.params")
    return module


class Color(str, enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


# --------------------------------------------------------------------------------------------- scalars


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "Y"),
        (False, "N"),
        (None, ""),
        (0, "0"),
        (-17, "-17"),
        (10**20, "100000000000000000000"),
        (1.5, "1.5"),
        (0.1, "0.1"),
        (Decimal("19999.990"), "19999.990"),
        (Decimal("1E+2"), "100"),
        ("", ""),
        ("Привет", "Привет"),
        (Color.RED, "red"),
        (Level.HIGH, "3"),
        (datetime(2024, 8, 1, 0, 0, tzinfo=MSK), "2024-08-01T00:00:00+03:00"),
        (datetime(2024, 8, 1, 12, 30, 5, tzinfo=timezone.utc), "2024-08-01T12:30:05+00:00"),
        (date(2024, 8, 1), "2024-08-01"),
    ],
    ids=repr,
)
def test_scalars(value: Any, expected: str) -> None:
    assert encode_value(value) == expected


def test_naive_datetime_is_rejected_with_a_clear_message() -> None:
    with pytest.raises(TypeError, match="naive datetime"):
        encode_value(datetime(2024, 8, 1))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), Decimal("NaN"), Decimal("-Infinity")])
def test_non_finite_numbers_are_rejected(value: Any) -> None:
    with pytest.raises(ValueError, match="non-finite"):
        encode_value(value)


@pytest.mark.parametrize("value", [b"x", object(), 1j])
def test_unknown_scalars_are_rejected(value: Any) -> None:
    with pytest.raises(TypeError, match="cannot encode"):
        encode_value(value)


@pytest.mark.parametrize("value", [{1, 2}, frozenset({1}), b"bytes", bytearray(b"x")])
def test_unordered_or_binary_containers_are_rejected(value: Any) -> None:
    with pytest.raises(TypeError, match="cannot send"):
        encode_params({"ids": value})


# ------------------------------------------------------------------------------------ bracket form


def test_bracket_form() -> None:
    params = {
        "filter": {">ID": 5, "STAGE_ID": "WON", "@ID": (1, 2)},
        "select": ["ID", "TITLE"],
        "fields": {"PHONE": [{"VALUE": "112233", "VALUE_TYPE": "WORK"}]},
        "start": -1,
        0: 123,
    }
    assert encode_params(params) == [
        ("filter[>ID]", "5"),
        ("filter[STAGE_ID]", "WON"),
        ("filter[@ID][0]", "1"),
        ("filter[@ID][1]", "2"),
        ("select[0]", "ID"),
        ("select[1]", "TITLE"),
        ("fields[PHONE][0][VALUE]", "112233"),
        ("fields[PHONE][0][VALUE_TYPE]", "WORK"),
        ("start", "-1"),
        ("0", "123"),
    ]


def test_contract_example_form_body_is_reproduced_exactly() -> None:
    """The form body of contract §1.3 (select as explicit indexes), byte for byte."""
    params = {
        "order": {"ID": "ASC"},
        "filter": {">ID": 100, ">=DATE_MODIFY": datetime(2024, 8, 1, tzinfo=MSK)},
        "select": ["ID", "DATE_MODIFY"],
        "start": -1,
    }
    assert to_form(params) == (
        b"order%5BID%5D=ASC&filter%5B%3EID%5D=100&filter%5B%3E%3DDATE_MODIFY%5D="
        b"2024-08-01T00%3A00%3A00%2B03%3A00&select%5B0%5D=ID&select%5B1%5D=DATE_MODIFY&start=-1"
    )


def test_empty_containers_are_omitted_like_http_build_query() -> None:
    params = {"filter": {}, "select": [], "fields": {"A": [], "B": {"C": {}}}, "keep": [[], "x"]}
    assert encode_params(params) == [("keep[1]", "x")]
    assert to_query({"filter": {}}) == ""


def test_to_query_percent_encodes_everything_but_unreserved() -> None:
    query = to_query({"v": "a+b&c=d#e%f g?h/é~._-", "k": {"x y+z&": 1}})
    assert query == "v=a%2Bb%26c%3Dd%23e%25f%20g%3Fh%2F%C3%A9~._-&k%5Bx%20y%2Bz%26%5D=1"


@pytest.mark.parametrize("key", ["", "a.b", "a b", " a", "a[b", "a\x00"])
def test_unrepresentable_top_level_names_are_rejected(key: str) -> None:
    with pytest.raises(ValueError, match="top-level parameter name"):
        encode_params({key: 1})


@pytest.mark.parametrize("key", ["", " ", "a]b", "x\x00"])
def test_unrepresentable_nested_keys_are_rejected(key: str) -> None:
    with pytest.raises(ValueError, match="nested key"):
        encode_params({"fields": {key: 1}})


@pytest.mark.parametrize("params", [{1: "a", "1": "b"}, {"f": {0: "a", "0": "b"}}])
def test_keys_colliding_on_the_wire_are_rejected(params: Mapping[Any, Any]) -> None:
    with pytest.raises(ValueError, match="two keys"):
        encode_params(params)


@pytest.mark.parametrize("key", [True, 1.5, None, (1,)])
def test_key_types(key: Any) -> None:
    with pytest.raises(TypeError, match="keys must be str or int"):
        encode_params({"f": {key: 1}})


def test_params_must_be_a_mapping() -> None:
    with pytest.raises(TypeError, match="mapping"):
        encode_params([("a", 1)])  # type: ignore[arg-type]


def test_nesting_limit_follows_php() -> None:
    value: Any = "leaf"
    for _ in range(MAX_DEPTH):
        value = [value]
    assert encode_params({"a": value})[0][0] == "a" + "[0]" * MAX_DEPTH
    with pytest.raises(ValueError, match="nested deeper"):
        encode_params({"a": [value]})


# ------------------------------------------------------------------------------------------- batch


def test_batch_command_shape() -> None:
    assert batch_command("crm.deal.get", {"id": 12345}) == "crm.deal.get?id=12345"
    assert batch_command("user.current") == "user.current"
    assert batch_command("user.current", {"x": []}) == "user.current"


@pytest.mark.parametrize("method", ["", "crm.deal.list?x=1", "a#b", "http://evil", "crm deal", "a/b"])
def test_batch_command_rejects_bad_method_names(method: str) -> None:
    with pytest.raises(ValueError, match="invalid method name"):
        batch_command(method, {})


def test_batch_params_sends_halt_as_int_and_checks_keys() -> None:
    cmd = {"p0": batch_command("crm.deal.get", {"id": 1})}
    assert batch_params(cmd) == {"halt": 0, "cmd": cmd}
    assert batch_params(cmd, halt=True)["halt"] == 1
    assert "halt=0" in to_query(batch_params(cmd)).split("&")
    for good in (
        "0",
        "12",
        "a-b",
        "cmd_1.x",
    ):  # numeric keys come back by position (tests/client/test_shapes.py)
        assert list(batch_params({good: "user.current"})["cmd"]) == [good]
    for bad in ("", "a|b", "p[0]", "a b", "$x"):
        with pytest.raises(ValueError, match="batch command key"):
            batch_params({bad: "user.current"})


def test_booleans_and_none_are_identical_in_direct_and_batch_form(php: ModuleType) -> None:
    params = {"filter": {"UF_FLAG": True, "OPENED": False, "UF_EMPTY": None}, "params": {"IMPORT": True}}
    direct = php.parse_str(to_query(params))
    method, in_batch = php.parse_batch_command(batch_command("crm.deal.list", params))
    assert method == "crm.deal.list"
    assert (
        direct
        == in_batch
        == {
            "filter": {"UF_FLAG": "Y", "OPENED": "N", "UF_EMPTY": ""},
            "params": {"IMPORT": "Y"},
        }
    )
    # and in a form-encoded batch body, after the second round of encoding
    body = php.parse_str(to_form(batch_params({"p0": batch_command("crm.deal.list", params)})).decode())
    assert php.parse_batch_command(body["cmd"]["p0"])[1] == direct


def test_result_reference_survives_both_encodings(php: ModuleType) -> None:
    ref = "$result[p0][49][ID]"
    cmd = batch_command("crm.deal.list", {"filter": {">ID": ref}, "order": {"ID": "ASC"}, "start": -1})
    assert "$" not in cmd
    assert "[" not in cmd
    assert php.parse_batch_command(cmd) == (
        "crm.deal.list",
        {"filter": {">ID": ref}, "order": {"ID": "ASC"}, "start": "-1"},
    )
    body = to_query(batch_params({"p0": "crm.deal.list", "p1": cmd}))
    assert "%2524result%255Bp0%255D%255B49%255D%255BID%255D" in body  # twice encoded in a form body
    parsed = php.parse_str(body)
    assert parsed == {"halt": "0", "cmd": {"p0": "crm.deal.list", "p1": cmd}}
    assert php.parse_batch_command(parsed["cmd"]["p1"])[1]["filter"][">ID"] == ref


def test_special_characters_survive_in_keys_and_values(php: ModuleType) -> None:
    tricky = "a+b&c=d#e%f g?h/i;j[k]l'm\"n\\o\r\np😀é"
    params = {"fields": {"TITLE": tricky, tricky.replace("]", ")"): tricky}, "v": " + "}
    expected = {"fields": {"TITLE": tricky, tricky.replace("]", ")"): tricky}, "v": " + "}
    assert php.parse_str(to_query(params)) == expected
    assert php.parse_batch_command(batch_command("crm.deal.update", params)) == ("crm.deal.update", expected)


# ---------------------------------------------------------------------------------- property tests

_nested_key = st.one_of(
    st.text(min_size=1, max_size=8).filter(lambda k: "]" not in k and "\x00" not in k and k != " "),
    st.integers(min_value=-(10**12), max_value=10**12),
)
_top_key = st.one_of(
    st.text(min_size=1, max_size=8).filter(lambda k: not any(c in k for c in "[. \x00")),
    st.integers(min_value=0, max_value=10**6),
)
_scalar = st.one_of(
    st.booleans(),
    st.none(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([timezone.utc, MSK, timezone(timedelta(hours=-5, minutes=-30))])),
)


def _wire_name(key: Any) -> str:
    return str(key)


def _distinct_on_wire(mapping: Mapping[Any, Any]) -> bool:
    return len({_wire_name(k) for k in mapping}) == len(mapping)


_value = st.recursive(
    _scalar,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(_nested_key, children, max_size=4).filter(_distinct_on_wire),
    ),
    max_leaves=12,
)
_params = st.dictionaries(_top_key, _value, max_size=5).filter(_distinct_on_wire)

_DROPPED = object()


def _meant(value: Any) -> Any:
    """What PHP should read back: strings, containers as dicts, empty containers gone."""
    if isinstance(value, Mapping):
        items = [(_wire_name(k), v) for k, v in value.items()]
    elif isinstance(value, (list, tuple)):
        items = [(str(i), v) for i, v in enumerate(value)]
    else:
        return encode_value(value)
    out = {name: _meant(v) for name, v in items}
    out = {name: v for name, v in out.items() if v is not _DROPPED}
    return out or _DROPPED


def _meant_params(params: Mapping[Any, Any]) -> dict[str, Any]:
    meant = _meant(params)
    return {} if meant is _DROPPED else meant


@settings(max_examples=300, deadline=None)
@given(params=_params)
def test_php_parse_str_reads_back_what_was_meant(php: ModuleType, params: dict[Any, Any]) -> None:
    meant = _meant_params(params)
    assert php.parse_str(to_query(params)) == meant
    assert php.parse_str(to_form(params)) == meant


@settings(max_examples=300, deadline=None)
@given(params=_params, method=st.sampled_from(["crm.deal.list", "tasks.task.list", "user.get", "batch"]))
def test_php_batch_command_reads_back_what_was_meant(
    php: ModuleType, params: dict[Any, Any], method: str
) -> None:
    meant = _meant_params(params)
    cmd = batch_command(method, params)
    assert php.parse_batch_command(cmd) == (method, meant)
    # the same command inside a form-encoded batch body (encoded a second time)
    body = php.parse_str(to_query(batch_params({"cmd_0": cmd})))
    assert body["cmd"]["cmd_0"] == cmd
    assert php.parse_batch_command(body["cmd"]["cmd_0"]) == (method, meant)


def test_raw_json_keeps_values_as_given() -> None:
    """``call(..., raw=True)``: JSON as fast_bitrix24 posts it, with times and decimals as text."""
    body = {
        "0": 5,
        "1": {"X": None, "Y": True, "Z": [1.5, "a"]},
        "at": datetime(2026, 1, 2, tzinfo=timezone.utc),
    }
    assert json.loads(to_json(body)) == {
        "0": 5,
        "1": {"X": None, "Y": True, "Z": [1.5, "a"]},
        "at": "2026-01-02T00:00:00+00:00",
    }
    assert to_json({"d": Decimal("1.50"), "t": "ё"}) == '{"d":"1.50","t":"ё"}'.encode()
    with pytest.raises(TypeError, match="naive datetime"):
        to_json({"at": datetime(2026, 1, 2)})
    with pytest.raises(TypeError, match="set"):
        to_json({"x": {1}})
    with pytest.raises(ValueError, match="Out of range float"):
        to_json({"x": float("nan")})
