"""Column kinds, value conversion, name spellings, identifiers."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitrix24_provider.staging.columns import (
    KINDS,
    convert,
    convert_column,
    infer_kind,
)
from bitrix24_provider.staging.errors import InvalidIdentifierError, ValueConversionError
from bitrix24_provider.staging.identifiers import TableName, check_identifier, quote, staging_name


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("42", "integer", 42),
        ("", "integer", None),
        (False, "integer", None),
        ("1851000.00", "double", 1851000.0),
        ("Y", "boolean", True),
        ("N", "boolean", False),
        ("0", "boolean", False),
        (1, "boolean", True),
        ("2022-08-06T18:10:24+03:00", "datetime", "2022-08-06T18:10:24+03:00"),
        ("", "datetime", None),
        ("2022-01-04T03:00:00+03:00", "date", "2022-01-04"),
        ("04.01.2022", "date", "2022-01-04"),
        (["a", "b"], "json", '["a","b"]'),
        ({"k": 1}, "text", '{"k":1}'),
        (7, "text", "7"),
    ],
)
def test_convert(value, kind, expected):
    assert convert(value, kind, "c") == expected


@pytest.mark.parametrize(("value", "kind"), [("abc", "integer"), ("x", "boolean"), ("soon", "datetime")])
def test_convert_refuses_values_that_do_not_fit(value, kind):
    with pytest.raises(ValueConversionError, match="column 'c' is typed"):
        convert(value, kind, "c")


def test_infer_kind():
    assert infer_kind([1, None, 2]) == "integer"
    assert infer_kind([1, 2.5]) == "double"
    assert infer_kind([True]) == "boolean"
    assert infer_kind([[1]]) == "json"
    assert infer_kind(["1"]) == "text"
    assert infer_kind([None]) == "text"


@pytest.mark.parametrize("name", ["deals; DROP TABLE x", "1deals", "", "a" * 64, "my-table", 'x"y', None, 5])
def test_table_names_must_be_simple_identifiers(name):
    with pytest.raises(InvalidIdentifierError, match="target_table must be a simple SQL identifier"):
        TableName.checked(name)


def test_identifiers_are_quoted():
    assert quote('we"ird') == '"we""ird"'
    assert TableName.checked("deals", "crm").sql == '"crm"."deals"'
    assert check_identifier("_ok_1", "x") == "_ok_1"
    name = staging_name("t" * 63, "token")
    assert len(name) <= 63 and name.startswith("_b24stg_")


def test_json_values_stay_json():
    assert json.loads(convert([{"VALUE": "+1"}], "json", "PHONE")) == [{"VALUE": "+1"}]


_SAMPLES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "",
            " ",
            "Y",
            "N",
            "y",
            "n",
            "1",
            "0",
            "true",
            "no",
            "12",
            " 12 ",
            "-3",
            "1.5",
            "1e3",
            "nan",
            "inf",
            "1_000",
            "٣",
            "²",
            "2024-08-30T14:29:00+02:00",
            "2024-08-30T14:29:00Z",
            " 2024-08-30T14:29:00+03:00",
            "2024-08-30",
            "2024-02-30",
            "2024-13-01",
            "0000-01-01",
            "2024-08-3\u0661",
            "30.08.2024",
            "not a date",
        ]
    ),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(max_examples=400, deadline=None)
@given(kind=st.sampled_from(KINDS), values=st.lists(_SAMPLES, max_size=8))
def test_a_column_converts_like_each_value(kind, values):
    """The inline fast paths of convert_column give exactly what convert gives, or fail the same way."""
    expected: list[object] = []
    failure = None
    for value in values:
        try:
            expected.append(convert(value, kind, "C"))
        except ValueConversionError as error:
            failure = error
            break
    if failure is not None:
        with pytest.raises(ValueConversionError):
            convert_column(values, kind, "C")
        return
    converted = convert_column(values, kind, "C")
    assert converted == expected
    assert [type(v) for v in converted] == [type(v) for v in expected]
