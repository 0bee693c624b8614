"""Answer bodies read by ``orjson`` exactly as by ``json.loads``; both decoders export the same rows
and retry the same broken bodies; bodies that are not JSON are summed up in a few words.

Speed is not tested here: ``bench/`` measures it (``ours`` against ``ours:json_decoder=json``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bitrix24_provider.client import BitrixAsync, ClientSettings
from bitrix24_provider.client.decoding import decode_json, decode_orjson, excerpt
from bitrix24_provider.client.stats import Stats

from .conftest import MakePortal, Portal

DECODERS = ["orjson", "json"]

#: bodies orjson reads as json does: it decodes them itself
PLAIN = {
    "php empty maps": b'{"result":{"result":[],"result_error":[],"result_total":[],"result_next":[],'
    b'"result_time":[]},"time":{"start":1732780800.123456,"duration":0.0012}}',
    "utf-8 text": '{"result":[{"TITLE":"Сделка «ёлка» 😀","X":"\\"q\\" \\\\ \\/"}]}'.encode(),
    "escaped text": b'{"result":"\\u0421\\u0434\\u0435\\u043b\\u043a\\u0430 \\ud83d\\ude00 \\u0000"}',
    "numbers": b'{"result":[0,-0,-0.0,0.1,1E2,1e-400,5e-324,1.7976931348623157e308,'
    b"999999999999999999,-999999999999999999,123456789012345678]}",
    "duplicate keys": b'{"result":1,"result":2}',
    "a short digit run in a string": b'{"result":{"UF_CRM_1719812400101":"79161234567890"}}',
}

#: bodies orjson would read differently (or reject while json accepts them): json decodes them
HANDED_TO_JSON = {
    "integer beyond 64 bits": b'{"result":{"id":123456789012345678901234567890}}',
    "just above 2**64-1": b'{"result":18446744073709551616}',
    "just below -2**63": b'{"result":-9223372036854775809}',
    "19 digits inside a string": b'{"result":"1234567890123456789"}',
    "64-bit limits (19-20 digits)": b'{"result":[9223372036854775807,-9223372036854775808,'
    b"18446744073709551615]}",
    "byte-order mark": b'\xef\xbb\xbf{"result":1}',
    "utf-16": '{"result":"ё"}'.encode("utf-16"),
    "NaN and Infinity": b'{"result":[NaN,Infinity,-Infinity]}',
    "beyond the float range": b'{"result":1e400}',
    "unpaired surrogate escape": b'{"result":"\\ud800"}',
}

NOT_JSON = {
    "html page": b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head></html>",
    "cut body": '{"result":{"result":{"c0":[{"ID":"1","TITLE":"Сде'.encode(),
    "cut inside a character": '{"result":"Сделка"}'.encode()[:14],
    "empty": b"",
    "trailing garbage": b'{"result":1} <br>',
    "invalid utf-8": b'{"result":"\xff"}',
}


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types all the way down (1 != 1.0 here; NaN equals NaN)."""
    return repr(a) == repr(b)


@pytest.mark.parametrize("raw", PLAIN.values(), ids=PLAIN.keys())
def test_orjson_decodes_plain_bodies_itself_and_as_json_does(raw: bytes) -> None:
    value, parser = decode_orjson(raw)
    assert parser == "orjson"
    assert same(value, json.loads(raw))


@pytest.mark.parametrize("raw", HANDED_TO_JSON.values(), ids=HANDED_TO_JSON.keys())
def test_bodies_orjson_would_read_differently_go_to_json(raw: bytes) -> None:
    value, parser = decode_orjson(raw)
    assert parser == "json"
    assert same(value, json.loads(raw))


def test_the_one_difference_orjson_parses_nesting_that_exhausts_json_recursion() -> None:
    raw = b"[" * 1020 + b"]" * 1020
    with pytest.raises(RecursionError):
        json.loads(raw)
    value, parser = decode_orjson(raw)
    assert parser == "orjson"
    depth = 1
    while value:
        (value,) = value
        depth += 1
    assert depth == 1020


@pytest.mark.parametrize("raw", NOT_JSON.values(), ids=NOT_JSON.keys())
@pytest.mark.parametrize("decode", [decode_orjson, decode_json], ids=DECODERS)
def test_a_body_that_is_not_json_raises_value_error(decode: Any, raw: bytes) -> None:
    # both ValueError subclasses, which the transport turns into a retried TransportError
    with pytest.raises((json.JSONDecodeError, UnicodeDecodeError)):
        decode(raw)


def test_an_unknown_decoder_is_rejected() -> None:
    with pytest.raises(ValueError, match="json_decoder"):
        ClientSettings(json_decoder="ujson")  # type: ignore[arg-type]


async def _export(
    portal: Portal, decoder: str, method: str, params: dict[str, Any]
) -> tuple[list[dict[str, Any]], Stats]:
    settings = ClientSettings(json_decoder=decoder)  # type: ignore[arg-type]
    async with BitrixAsync(portal.webhook, verbose=False, settings=settings) as bx:
        rows = await bx.get_all(method, params)
    return rows, bx.stats


@pytest.mark.parametrize(
    ("method", "params", "id_field"),
    [
        ("crm.deal.list", {}, "ID"),  # full rows: strings, nulls, non-ASCII text
        ("crm.item.list", {"entityTypeId": 2}, "id"),  # typed: ints, floats, lists
        ("tasks.task.list", {}, "id"),
    ],
)
async def test_both_decoders_export_the_same_rows(
    portal: Portal, method: str, params: dict[str, Any], id_field: str
) -> None:
    runs = {name: await _export(portal, name, method, params) for name in DECODERS}
    rows = {name: sorted(got, key=lambda r: int(r[id_field])) for name, (got, _) in runs.items()}
    assert len(rows["orjson"]) > 100
    assert same(rows["orjson"], rows["json"])
    for name, (_, stats) in runs.items():  # each export was decoded by the parser it asked for
        assert dict(stats.json_bodies) == {name: stats.http_requests}
        assert stats.json_bytes > 0


async def test_big_integers_and_text_come_back_exact_with_each_decoder(make_portal: MakePortal) -> None:
    portal: Portal = await make_portal(deals=300)
    big = 123456789012345678901234567890
    title = 'Сделка «ёлка» 😀 "q" \\ / \t'
    first, second = (await portal.ids("deal"))[:2]
    async with BitrixAsync(portal.webhook, verbose=False, settings=ClientSettings(json_decoder="json")) as bx:
        await bx.call("crm.item.update", {"entityTypeId": 2, "id": first, "fields": {"assignedById": big}})
        await bx.call("crm.item.update", {"entityTypeId": 2, "id": second, "fields": {"title": title}})
    for name in DECODERS:
        rows, stats = await _export(portal, name, "crm.item.list", {"entityTypeId": 2})
        by_id = {row["id"]: row for row in rows}
        assert len(by_id) == 300
        assert type(by_id[first]["assignedById"]) is int
        assert by_id[first]["assignedById"] == big
        assert by_id[second]["title"] == title
        if name == "orjson":  # the body with the big integer went to json, the rest to orjson
            assert stats.json_bodies["json"] >= 1
            assert stats.json_bodies["orjson"] >= 1


@pytest.mark.parametrize(("knob", "cause"), [("html", "html"), ("truncated", "malformed_body")])
@pytest.mark.parametrize("decoder", DECODERS)
async def test_broken_bodies_are_retried_and_the_export_is_complete(
    make_portal: MakePortal, decoder: str, knob: str, cause: str
) -> None:
    portal: Portal = await make_portal(deals=3000, faults={knob: 0.3, "seed": 5})
    settings = ClientSettings(json_decoder=decoder, max_parallel_chains=4)  # type: ignore[arg-type]
    async with BitrixAsync(portal.webhook, verbose=False, time_scale=1000.0, settings=settings) as bx:
        rows = await bx.get_all("crm.deal.list")
    assert sorted(int(r["ID"]) for r in rows) == await portal.ids("deal")
    assert bx.stats.retries[cause] > 0
    assert set(bx.stats.retries) <= {cause, "missing_command", "corrupt_page"}
    assert bx.stats.json_bodies["invalid"] == bx.stats.retries[cause]
    assert bx.stats.json_bodies[decoder] == bx.stats.http_requests - bx.stats.retries[cause]


def test_an_excerpt_is_the_pages_title_or_the_bodys_start() -> None:
    page = b"<html><head>\n<TITLE lang=en>\n  503 Service\n Unavailable </TITLE></head><body>...</body>"
    assert excerpt(page) == "503 Service Unavailable"
    assert excerpt(b'{"result": [{"ID": "1",\n "TITLE": "x') == '{"result": [{"ID": "1", "TITLE": "x'
    long = excerpt(b"x" * 500 + "ё".encode())
    assert len(long) == 80 and long.endswith("...")
    assert excerpt(b"\xff\xfe broken") == "\ufffd\ufffd broken"
