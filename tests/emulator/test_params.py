"""The emulator's PHP-faithful request parameter parsing (contract §1.2, §1.3, §5.1, §5.5)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitrix24_provider.emulator.params import (
    MAX_INPUT_NESTING_LEVEL,
    array_merge,
    array_replace,
    as_list,
    merge_form_fields,
    merge_request_params,
    parse_batch_command,
    parse_str,
)

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

# --------------------------------------------------------------------------------------------------
# Test-local helpers


def http_build_query(data: dict[str, Any]) -> str:
    """PHP ``http_build_query`` for nested dicts/lists of strings (empty containers are dropped)."""
    pairs: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            items: Any = value.items()
        elif isinstance(value, list):
            items = ((str(index), item) for index, item in enumerate(value))
        else:
            pairs.append(f"{prefix}={quote_plus(value)}")
            return
        for key, item in items:
            walk(f"{prefix}%5B{quote_plus(key)}%5D", item)

    for key, value in data.items():
        walk(quote_plus(key), value)
    return "&".join(pairs)


def php_array(value: Any) -> Any:
    """Lists as PHP arrays (``{"0": ..., "1": ...}``), recursively."""
    if isinstance(value, list):
        value = {str(index): item for index, item in enumerate(value)}
    if isinstance(value, dict):
        return {key: php_array(item) for key, item in value.items()}
    return value


def as_form_values(value: Any) -> Any:
    """What the same data looks like after a form/query round trip: PHP arrays of strings."""
    value = php_array(value)
    if isinstance(value, dict):
        return {key: as_form_values(item) for key, item in value.items()}
    return str(value)


def post(body: bytes | str, content_type: str | None, query: str = "") -> dict[str, Any]:
    raw = body.encode() if isinstance(body, str) else body
    return merge_request_params(query, content_type, raw, "POST")


# --------------------------------------------------------------------------------------------------
# Contract §1.3: bracket notation


def test_contract_list_call() -> None:
    query = "filter[>ID]=5&filter[STAGE_ID]=WON&order[ID]=ASC&select[]=ID&select[]=TITLE&start=0"
    assert parse_str(query) == {
        "filter": {">ID": "5", "STAGE_ID": "WON"},
        "order": {"ID": "ASC"},
        "select": {"0": "ID", "1": "TITLE"},
        "start": "0",
    }


def test_contract_nested_fields() -> None:
    query = "fields[TITLE]=My%20company&fields[PHONE][0][VALUE]=112233&fields[PHONE][0][VALUE_TYPE]=WORK"
    assert parse_str(query) == {
        "fields": {"TITLE": "My company", "PHONE": {"0": {"VALUE": "112233", "VALUE_TYPE": "WORK"}}}
    }


def test_contract_positional_parameters() -> None:
    assert parse_str("0=123&1[POST_MESSAGE]=text") == {"0": "123", "1": {"POST_MESSAGE": "text"}}


def test_explicit_index_is_the_same_as_append() -> None:
    assert parse_str("select[0]=ID&select[1]=TITLE") == parse_str("select[]=ID&select[]=TITLE")


def test_encoded_key_as_the_python_sdk_sends_it() -> None:
    assert parse_str("filter[%3E%3DPRICE]=15") == {"filter": {">=PRICE": "15"}}


def test_brackets_may_be_percent_encoded() -> None:
    assert parse_str("order%5BID%5D=ASC&select%5B%5D=ID") == {"order": {"ID": "ASC"}, "select": {"0": "ID"}}


def test_the_three_encodings_of_one_call_are_equivalent() -> None:
    # As in contract §1.3, except that the "=" of ">=" in the key is encoded (see the next test).
    get = merge_request_params(
        "order[ID]=ASC&filter[>ID]=100&filter[>%3DDATE_MODIFY]=2024-08-01T00:00:00%2B03:00"
        "&select[]=ID&select[]=DATE_MODIFY&start=-1",
        None,
        b"",
        "GET",
    )
    form = post(
        "order%5BID%5D=ASC&filter%5B%3EID%5D=100&filter%5B%3E%3DDATE_MODIFY%5D=2024-08-01T00%3A00%3A00"
        "%2B03%3A00&select%5B0%5D=ID&select%5B1%5D=DATE_MODIFY&start=-1",
        FORM,
    )
    as_json = post(
        '{"order":{"ID":"ASC"},"filter":{">ID":100,">=DATE_MODIFY":"2024-08-01T00:00:00+03:00"},'
        '"select":["ID","DATE_MODIFY"],"start":-1}',
        JSON,
    )
    assert get == form
    assert as_form_values(as_json) == get
    assert as_json["start"] == -1  # JSON keeps its types
    assert as_json["filter"][">ID"] == 100
    for params in (get, form, as_json):
        assert as_list(params["select"]) == ["ID", "DATE_MODIFY"]
        assert params["filter"][">=DATE_MODIFY"] == "2024-08-01T00:00:00+03:00"


def test_raw_equals_sign_inside_a_key_splits_the_pair() -> None:
    # PHP splits a pair at its first "=", so the contract's literal GET example
    # "filter[>=DATE_MODIFY]=..." reaches the server as an unclosed name "filter[>" (-> "filter_>").
    params = parse_str("filter[>ID]=100&filter[>=DATE_MODIFY]=2024-08-01T00:00:00%2B03:00")
    assert params == {"filter": {">ID": "100"}, "filter_>": "DATE_MODIFY]=2024-08-01T00:00:00+03:00"}
    assert parse_batch_command("crm.deal.list?filter[<=ID]=5")[1] == {"filter_<": "ID]=5"}
    assert parse_batch_command("crm.deal.list?filter[%3C%3DID]=5")[1] == {"filter": {"<=ID": "5"}}


def test_bare_plus_is_a_space_and_2b_is_a_plus() -> None:
    params = parse_str("a=2024-08-01T00:00:00+03:00&b=2024-08-01T00:00:00%2B03:00")
    assert params == {"a": "2024-08-01T00:00:00 03:00", "b": "2024-08-01T00:00:00+03:00"}


def test_encoded_ampersand_and_equals_stay_inside_the_value() -> None:
    assert parse_str("filter[TITLE]=A%26B%3DC&x=1") == {"filter": {"TITLE": "A&B=C"}, "x": "1"}


def test_bad_percent_sequences_are_kept() -> None:
    assert parse_str("a=100%&b=%zz&c=%4") == {"a": "100%", "b": "%zz", "c": "%4"}


def test_percent_decoded_bytes_are_read_as_utf8() -> None:
    assert parse_str("t=%D0%9D%D0%BE%D0%B2%D0%B0%D1%8F&bad=%FF") == {"t": "Новая", "bad": "\ufffd"}


def test_appends_continue_after_the_largest_integer_key() -> None:
    params = parse_str("a[]=x&a[]=y&a[5]=z&a[]=w&a[2]=v&a[]=u")
    assert params == {"a": {"0": "x", "1": "y", "5": "z", "6": "w", "2": "v", "7": "u"}}


def test_appends_after_string_and_non_canonical_keys() -> None:
    params = parse_str("a[x]=1&a[]=2&a[07]=3&a[-0]=4&a[]=5")
    assert params == {"a": {"x": "1", "0": "2", "07": "3", "-0": "4", "1": "5"}}


def test_append_of_nested_arrays() -> None:
    params = parse_str("rows[][ID]=1&rows[][ID]=2&rows[1][NAME]=b")
    assert params == {"rows": {"0": {"ID": "1"}, "1": {"ID": "2", "NAME": "b"}}}


def test_append_when_the_index_space_is_exhausted_is_dropped() -> None:
    assert parse_str("a[9223372036854775807]=1&a[]=2") == {"a": {"9223372036854775807": "1"}}


def test_later_duplicates_override() -> None:
    assert parse_str("a=1&b=2&a=3") == {"a": "3", "b": "2"}
    assert parse_str("f[x]=1&f[x]=2") == {"f": {"x": "2"}}


def test_scalar_and_array_replace_each_other() -> None:
    assert parse_str("a=1&a[b]=2") == {"a": {"b": "2"}}
    assert parse_str("a[b]=2&a=1") == {"a": "1"}
    assert parse_str("a[b]=1&a[b][c]=2") == {"a": {"b": {"c": "2"}}}


def test_pair_without_equals_has_an_empty_value() -> None:
    assert parse_str("a&b=&c=1") == {"a": "", "b": "", "c": "1"}


def test_only_the_first_equals_splits() -> None:
    assert parse_str("a=b=c") == {"a": "b=c"}


def test_empty_names_and_segments_are_skipped() -> None:
    assert parse_str("&&=1&[x]=2&+=3&a=4&") == {"a": "4"}


def test_dots_and_spaces_in_the_top_level_name_become_underscores() -> None:
    assert parse_str("a.b=1&c+d=2&e[f.g h]=3") == {"a_b": "1", "c_d": "2", "e": {"f.g h": "3"}}


def test_leading_spaces_of_a_name_are_dropped() -> None:
    assert parse_str("+a=1&%20%20b[c]=2") == {"a": "1", "b": {"c": "2"}}


def test_unclosed_bracket_at_top_level_becomes_underscore() -> None:
    assert parse_str("a[b=1") == {"a_b": "1"}
    assert parse_str("a.x[b.c[d e=1") == {"a_x_b_c_d_e": "1"}


def test_unclosed_bracket_deeper_down_is_ignored() -> None:
    assert parse_str("a[b][c=1") == {"a": {"b": "1"}}


def test_text_after_a_closing_bracket_is_ignored() -> None:
    assert parse_str("a[b]c[d]=1&x[]]=2") == {"a": {"b": "1"}, "x": {"0": "2"}}


def test_a_single_space_between_brackets_is_an_append() -> None:
    assert parse_str("a[ ]=1&a[ b]=2") == {"a": {"0": "1", " b": "2"}}


def test_nul_ends_a_name_but_not_a_value() -> None:
    assert parse_str("a%00b=1&c[d%00e]=2&v=x%00y") == {"a": "1", "c_d": "2", "v": "x\x00y"}


def test_result_references_pass_through_as_text() -> None:
    params = parse_str("filter[>ID]=$result[p0][49][ID]&id=$result[one][ID]")
    assert params == {"filter": {">ID": "$result[p0][49][ID]"}, "id": "$result[one][ID]"}


def test_nesting_up_to_the_php_limit_is_kept() -> None:
    name = "a" + "[k]" * MAX_INPUT_NESTING_LEVEL
    value: Any = parse_str(f"{name}=deep")["a"]
    for _ in range(MAX_INPUT_NESTING_LEVEL - 1):
        value = value["k"]
    assert value == {"k": "deep"}


def test_nesting_over_the_php_limit_drops_the_whole_variable() -> None:
    too_deep = "a" + "[k]" * (MAX_INPUT_NESTING_LEVEL + 1)
    assert parse_str(f"a[x]=1&{too_deep}=2&b=3") == {"b": "3"}
    assert parse_str(f"{too_deep}=2&a[x]=1") == {"a": {"x": "1"}}


def test_absurd_nesting_does_not_crash() -> None:
    assert parse_str("a" + "[" * 100_000 + "=1") == {"a_" + "_" * 99_999: "1"}
    assert parse_str("a" + "[x]" * 100_000 + "=1") == {}


def test_many_appends_stay_fast() -> None:
    params = parse_str("&".join(f"select[]=F{i}" for i in range(20_000)))
    assert as_list(params["select"]) == [f"F{i}" for i in range(20_000)]


def test_bytes_input() -> None:
    assert parse_str(b"a=%D0%AF&b=\xff") == {"a": "Я", "b": "\ufffd"}


# --------------------------------------------------------------------------------------------------
# as_list, array_merge, array_replace


def test_as_list() -> None:
    assert as_list(["a", "b"]) == ["a", "b"]
    assert as_list({"0": "a", "1": "b"}) == ["a", "b"]
    assert as_list({"1": "b", "0": "a"}) == ["a", "b"]
    assert as_list({0: "a", 1: "b"}) == ["a", "b"]
    assert as_list({}) == []
    assert as_list({"0": "a", "2": "b"}) is None
    assert as_list({"00": "a"}) is None
    assert as_list({"x": "a"}) is None
    assert as_list("ID") is None
    assert as_list(None) is None


def test_array_merge_renumbers_integer_keys() -> None:
    assert array_merge({"5": "a", "x": "1"}, {"0": "b", "x": "2", "7": "c"}) == {
        "0": "a",
        "x": "2",
        "1": "b",
        "2": "c",
    }


def test_array_replace_is_top_level_only() -> None:
    assert array_replace({"f": {"a": "1"}, "x": "1"}, {"f": {"b": 2}}) == {"f": {"b": 2}, "x": "1"}


# --------------------------------------------------------------------------------------------------
# Contract §1.2: merging query string and body


def test_get_ignores_the_body() -> None:
    assert merge_request_params("a=1", FORM, b"b=2", "GET") == {"a": "1"}
    assert merge_request_params("a=1", JSON, b'{"b":2}', "PUT") == {"a": "1"}


def test_form_body_replaces_query_at_top_level_only() -> None:
    params = post("filter[b]=2&x=body", FORM, query="filter[a]=1&x=query&auth=t")
    assert params == {"filter": {"b": "2"}, "x": "body", "auth": "t"}


def test_json_body_replaces_query_at_top_level_only() -> None:
    params = post('{"filter":{"b":2},"x":"body"}', JSON, query="filter[a]=1&x=query&auth=t")
    assert params == {"filter": {"b": 2}, "x": "body", "auth": "t"}


def test_json_keeps_types() -> None:
    params = post('{"id":5,"ok":true,"no":null,"f":1.5,"l":[1,"2"],"d":{"k":[]}}', JSON)
    assert params == {"id": 5, "ok": True, "no": None, "f": 1.5, "l": [1, "2"], "d": {"k": []}}


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        " application/json ",
    ],
)
def test_json_content_type_parameters_are_ignored(content_type: str) -> None:
    assert post('{"id":5}', content_type) == {"id": 5}


def test_json_content_type_is_matched_case_sensitively_like_bitrix() -> None:
    # CRestUtil::getRequestData compares the string exactly; anything else goes through parse_str.
    assert post('{"id":5}', "Application/JSON") == {'{"id":5}': ""}


def test_json_sent_as_form_is_misparsed_as_a_key() -> None:
    body = '{"order":{"ID":"ASC"},"start":0}'
    assert post(body, FORM) == {body: ""}
    assert post(body, "text/plain") == {body: ""}
    assert post(body, None) == {body: ""}


def test_json_with_brackets_sent_as_form() -> None:
    assert post('{"select":["ID"]}', FORM) == {'{"select":': {'"ID"': ""}}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"{",
        b'{"a":1,}',
        b"{'a':1}",
        b'{"a":NaN}',
        b'{"a":Infinity}',
        b'{"a":"\\ud800"}',
        b'{"a":"\xff"}',
        b'\xef\xbb\xbf{"a":1}',
        b"5",
        b'"text"',
        b"null",
        b"true",
        b"[" * 100_000,
    ],
)
def test_undecodable_or_scalar_json_gives_no_body_params(body: bytes) -> None:
    assert post(body, JSON, query="q=1") == {"q": "1"}


def test_json_depth_limit_is_php_default() -> None:
    assert post(b'{"a":' + b"[" * 511 + b"]" * 511 + b"}", JSON) != {}
    assert post(b'{"a":' + b"[" * 512 + b"]" * 512 + b"}", JSON) == {}


def test_json_surrounding_whitespace_is_trimmed() -> None:
    assert post(b'\n\t {"a":1} \r\n\x00', JSON) == {"a": 1}


def test_json_top_level_list_is_a_positional_array() -> None:
    assert post('[123, {"POST_MESSAGE": "text"}]', JSON) == {"0": 123, "1": {"POST_MESSAGE": "text"}}


def test_json_big_integers_become_floats_like_php() -> None:
    params = post('{"a": 9223372036854775807, "b": 9223372036854775808, "c": -9223372036854775808}', JSON)
    assert params == {"a": 9223372036854775807, "b": 9.223372036854776e18, "c": -9223372036854775808}
    assert isinstance(params["b"], float)


def test_other_content_types_parse_the_trimmed_raw_body() -> None:
    assert post("a=1&b[]=2\n", "text/plain") == {"a": "1", "b": {"0": "2"}}
    assert post(b"a=\xff", "application/octet-stream") == {"a": "\ufffd"}


def test_form_fields_are_not_trimmed() -> None:
    assert post("a=1\n", FORM) == {"a": "1\n"}


def test_form_content_type_is_matched_case_insensitively_like_php() -> None:
    assert post("a=1", "Application/X-WWW-Form-Urlencoded; charset=UTF-8") == {"a": "1"}


def test_integer_top_level_keys_are_renumbered_by_bitrix_array_merge() -> None:
    assert merge_request_params("5=x&a=1", None, b"", "GET") == {"0": "x", "a": "1"}
    assert post("0=b", FORM, query="0=a") == {"0": "a", "1": "b"}
    assert post('{"0":"b"}', JSON, query="0=a") == {"0": "b"}


def multipart(fields: list[tuple[str, str, str | None]], boundary: str = "XyZ") -> tuple[str, bytes]:
    """Build a multipart/form-data body from (name, value, filename) triples."""
    chunks = []
    for name, value, filename in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        chunks.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n{value}\r\n")
    body = ("".join(chunks) + f"--{boundary}--\r\n").encode()
    return f"multipart/form-data; boundary={boundary}", body


def test_multipart_fields_use_bracket_notation() -> None:
    content_type, body = multipart(
        [
            ("fields[TITLE]", "Новая сделка", None),
            ("поле", "значение", None),
            ("select[]", "ID", None),
            ("select[]", "TITLE", None),
            ("x", "a%26b", None),
            ("file", "binary", "f.bin"),
        ]
    )
    params = post(body, content_type, query="x=q&auth=t")
    assert params == {
        "x": "a%26b",  # multipart values are not url-decoded
        "auth": "t",
        "fields": {"TITLE": "Новая сделка"},
        "поле": "значение",
        "select": {"0": "ID", "1": "TITLE"},
    }


def test_multipart_transfer_encoding_is_ignored_like_php() -> None:
    body = (
        b'--B\r\nContent-Disposition: form-data; name="a"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        b'SGk=\r\n--B\r\nContent-Disposition: form-data; name="b"\r\n\r\nline1\r\nline2\r\n--B--\r\n'
    )
    assert post(body, "multipart/form-data; boundary=B") == {"a": "SGk=", "b": "line1\r\nline2"}


def test_broken_multipart_gives_the_query_only() -> None:
    assert post(b"garbage", "multipart/form-data; boundary=XyZ", query="a=1") == {"a": "1"}
    assert post(b"garbage", "multipart/form-data", query="a=1") == {"a": "1"}


def test_merge_form_fields() -> None:
    query = parse_str("a=q&b=q&5=x")
    fields = [("a", "f"), ("c[d][]", "1"), ("c[d][]", "2"), ("e%5Bf%5D", "raw"), ("0", "y")]
    assert merge_form_fields(query, fields) == {
        "a": "f",
        "b": "q",
        "0": "x",
        "c": {"d": {"0": "1", "1": "2"}},
        "e%5Bf%5D": "raw",
        "1": "y",
    }


# --------------------------------------------------------------------------------------------------
# Contract §5.1 / §5.5: batch commands


CONTRACT_BATCH_CMD = {
    "p0": "crm.deal.list?order[ID]=ASC&filter[>ID]=0&select[]=ID&select[]=DATE_MODIFY&start=-1",
    "p1": "crm.deal.list?order[ID]=ASC&filter[>ID]=$result[p0][49][ID]"
    "&select[]=ID&select[]=DATE_MODIFY&start=-1",
    "one": "crm.deal.get?id=12345",
}


def test_contract_batch_commands() -> None:
    assert parse_batch_command(CONTRACT_BATCH_CMD["p1"]) == (
        "crm.deal.list",
        {
            "order": {"ID": "ASC"},
            "filter": {">ID": "$result[p0][49][ID]"},
            "select": {"0": "ID", "1": "DATE_MODIFY"},
            "start": "-1",
        },
    )
    assert parse_batch_command(CONTRACT_BATCH_CMD["one"]) == ("crm.deal.get", {"id": "12345"})


def test_batch_cmd_in_json_form_and_query_gives_the_same_commands() -> None:
    cmd = {
        **CONTRACT_BATCH_CMD,
        "amp": "crm.deal.list?filter[TITLE]=A%26B&filter[>%3DDATE_MODIFY]=2024-08-01T00:00:00%2B03:00",
    }
    as_json = post(json.dumps({"halt": 0, "cmd": cmd}), JSON)
    # In a query/form the cmd strings are encoded a second time (%26 -> %2526).
    encoded = "halt=0&" + "&".join(f"cmd%5B{key}%5D={quote(value, safe='')}" for key, value in cmd.items())
    assert "A%2526B" in encoded
    as_form = post(encoded, FORM)
    as_query = merge_request_params(encoded, None, b"", "GET")
    for params in (as_form, as_query):
        assert params["cmd"] == cmd
        assert params["halt"] == "0"
    assert as_json["halt"] == 0
    assert parse_batch_command(as_form["cmd"]["amp"]) == (
        "crm.deal.list",
        {"filter": {"TITLE": "A&B", ">=DATE_MODIFY": "2024-08-01T00:00:00+03:00"}},
    )


def test_batch_cmd_encoded_only_once_in_a_form_loses_the_ampersand() -> None:
    params = post("cmd[a]=crm.deal.list%3Ffilter%5BTITLE%5D%3DA%26B", FORM)
    assert params["cmd"]["a"] == "crm.deal.list?filter[TITLE]=A&B"
    assert parse_batch_command(params["cmd"]["a"])[1] == {"filter": {"TITLE": "A"}, "B": ""}


@pytest.mark.parametrize(
    ("cmd", "method", "params"),
    [
        ("crm.dealcategory.stage.list?ID=2&", "crm.dealcategory.stage.list", {"ID": "2"}),
        ("user.current", "user.current", {}),
        ("user.current?", "user.current", {}),
        ("user.get?0", "user.get", {}),  # "0" is a falsy query in PHP
        ("user.get?00", "user.get", {"00": ""}),
        ("/crm.deal.get.json?id=1", "crm.deal.get", {"id": "1"}),
        ("crm.deal.get.json", "crm.deal.get", {}),
        ("CRM.Deal.Get?ID=1", "CRM.Deal.Get", {"ID": "1"}),
        ("crm.deal.list?filter[TITLE]=a#b&start=50", "crm.deal.list", {"filter": {"TITLE": "a"}}),
        ("crm.deal.list?filter[TITLE]=a%23b", "crm.deal.list", {"filter": {"TITLE": "a#b"}}),
        ("crm.deal.list?f=a\nb&g=\x7f", "crm.deal.list", {"f": "a_b", "g": "_"}),
        ("crm.deal.list?f=2024-08-01T00:00:00+03:00", "crm.deal.list", {"f": "2024-08-01T00:00:00 03:00"}),
        ("crm.deal.list?f=a:b:c", "crm.deal.list", {"f": "a:b:c"}),
        ("crm.deal.list?", "crm.deal.list", {}),
        ("?id=1", "", {"id": "1"}),
        ("", "", {}),
        (":", "", {}),
        ("//crm.deal.get?id=1", "", {"id": "1"}),
        ("crm.deal.get:99999", "", {}),  # parse_url fails: port out of range
        ("crm.deal.get:99999?id=1", "99999", {"id": "1"}),  # "scheme" crm.deal.get, path 99999
        ("crm.deal.get:x?id=1", "x", {"id": "1"}),
    ],
)
def test_batch_command_parse_url_semantics(cmd: str, method: str, params: dict[str, Any]) -> None:
    assert parse_batch_command(cmd) == (method, params)


def test_batch_command_from_bytes() -> None:
    assert parse_batch_command(b"crm.deal.get?id=\xff") == ("crm.deal.get", {"id": "\ufffd"})


# --------------------------------------------------------------------------------------------------
# Property tests


_TOP_KEY = st.text(st.characters(exclude_characters=" .[]\x00", codec="utf-8"), min_size=1, max_size=6)
_SUB_KEY = st.text(st.characters(exclude_characters="]\x00", codec="utf-8"), min_size=1, max_size=6).filter(
    lambda key: key != " "
)
_VALUE = st.text(max_size=8)
_NESTED = st.recursive(
    _VALUE,
    lambda children: (
        st.lists(children, min_size=1, max_size=3)
        | st.dictionaries(_SUB_KEY, children, min_size=1, max_size=3)
    ),
    max_leaves=12,
)
_DATA = st.dictionaries(_TOP_KEY, _NESTED, max_size=4)
_CONTENT_TYPES = st.sampled_from(
    [
        None,
        JSON,
        "application/json; charset=utf-8",
        FORM,
        "multipart/form-data; boundary=XyZ",
        "multipart/form-data",
        "text/plain",
        "",
    ]
) | st.text(max_size=40)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=15,
)


def only_strings_and_dicts(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(key, str) and only_strings_and_dicts(item) for key, item in value.items())
    return isinstance(value, str)


@given(st.text())
def test_parse_str_never_raises_on_text(text: str) -> None:
    assert only_strings_and_dicts(parse_str(text))


@given(st.binary())
def test_parse_str_never_raises_on_bytes(data: bytes) -> None:
    assert only_strings_and_dicts(parse_str(data))


@given(st.text(alphabet="a[]=&% .+0-9x\x00", max_size=60))
def test_parse_str_never_raises_on_bracket_soup(text: str) -> None:
    assert only_strings_and_dicts(parse_str(text))


@settings(max_examples=300)
@given(
    st.text(),
    _CONTENT_TYPES,
    st.binary() | st.text().map(str.encode),
    st.sampled_from(["GET", "POST", "PUT"]),
)
def test_merge_request_params_never_raises(
    query: str, content_type: str | None, body: bytes, method: str
) -> None:
    assert isinstance(merge_request_params(query, content_type, body, method), dict)


@given(st.lists(st.tuples(st.text(), st.text()), max_size=8))
def test_merge_form_fields_never_raises(fields: list[tuple[str, str]]) -> None:
    assert only_strings_and_dicts(merge_form_fields({}, fields))


@given(st.text() | st.binary())
def test_parse_batch_command_never_raises(cmd: str | bytes) -> None:
    method, params = parse_batch_command(cmd)
    assert isinstance(method, str)
    assert only_strings_and_dicts(params)


@given(_JSON)
def test_json_bodies_round_trip(value: Any) -> None:
    params = post(json.dumps(value), JSON)
    if isinstance(value, dict):
        assert params == value
    elif isinstance(value, list):
        assert params == {str(index): item for index, item in enumerate(value)}
    else:
        assert params == {}


@given(_DATA)
def test_http_build_query_round_trip(data: dict[str, Any]) -> None:
    assert parse_str(http_build_query(data)) == php_array(data)


@given(_DATA)
def test_form_body_round_trip(data: dict[str, Any]) -> None:
    assert post(http_build_query(data), FORM) == array_merge(php_array(data))


@given(
    st.from_regex(r"[a-z]+(\.[a-z]+){0,3}", fullmatch=True), _DATA, st.sampled_from(["json", "form", "query"])
)
def test_batch_command_round_trip(method: str, data: dict[str, Any], transport: str) -> None:
    cmd = f"{method}?{http_build_query(data)}"
    if transport == "json":
        received = post(json.dumps({"cmd": {"k": cmd}}), JSON)
    elif transport == "form":
        received = post(http_build_query({"cmd": {"k": cmd}}), FORM)
    else:
        received = merge_request_params(http_build_query({"cmd": {"k": cmd}}), None, b"", "GET")
    assert received["cmd"]["k"] == cmd
    assert parse_batch_command(received["cmd"]["k"]) == (method, php_array(data))
