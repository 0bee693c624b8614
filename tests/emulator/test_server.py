"""Routes, authentication, request encodings and envelopes over real HTTP (contract §1-§2)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from .conftest import PortalClient


async def test_webhook_route_variants_reach_the_method(portal: PortalClient) -> None:
    base = portal.emulator.webhook_url
    for suffix in ("crm.deal.list", "crm.deal.list.json", "crm.deal.list/", "CRM.DEAL.LIST.json/"):
        reply = await portal.request("GET", base + suffix)
        assert reply.status == 200, suffix
        assert isinstance(reply.body["result"], list)
        assert reply.headers["Content-Type"].startswith("application/json")
        assert reply.headers["Access-Control-Allow-Origin"] == "*"


async def test_wrong_webhook_code_is_401_invalid_credentials(portal: PortalClient) -> None:
    url = f"{portal.emulator.base_url}/rest/1/wrongcode/crm.deal.list"
    reply = await portal.request("POST", url, json_body={})
    assert reply.status == 401
    assert reply.body == {"error": "INVALID_CREDENTIALS", "error_description": "Invalid request credentials"}
    wrong_user = await portal.request(
        "POST", portal.emulator.webhook_url.replace("/rest/1/", "/rest/2/") + "profile"
    )
    assert wrong_user.status == 401


async def test_unknown_method_is_404(portal: PortalClient) -> None:
    reply = await portal.call("crm.nosuch.method")
    assert reply.status == 404
    assert reply.body == {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}
    assert "time" not in reply.body


async def test_success_envelope_has_time_block(portal: PortalClient) -> None:
    reply = await portal.call("crm.deal.list", {"start": 0})
    body = reply.body
    assert body["next"] == 50
    assert body["total"] == 230
    time_block = body["time"]
    for key in ("start", "finish", "duration", "processing", "date_start", "date_finish", "operating"):
        assert key in time_block
    assert isinstance(time_block["start"], float)
    assert time_block["date_start"].endswith("+03:00")


async def test_three_encodings_are_equivalent(portal: PortalClient) -> None:
    """The contract's §1.3 example: GET query, form POST and JSON POST give the same answer."""
    base = portal.emulator.webhook_url + "crm.deal.list"
    query = (
        "order[ID]=ASC&filter[>ID]=100&filter[%3E%3DDATE_MODIFY]=2000-01-01T00:00:00%2B03:00"
        "&select[]=ID&select[]=DATE_MODIFY&start=-1"
    )
    by_get = await portal.request("GET", f"{base}.json?{query}")
    form = "&".join(
        f"{quote(k, safe='')}={quote(v, safe='')}"
        for k, v in [
            ("order[ID]", "ASC"),
            ("filter[>ID]", "100"),
            ("filter[>=DATE_MODIFY]", "2000-01-01T00:00:00+03:00"),
            ("select[0]", "ID"),
            ("select[1]", "DATE_MODIFY"),
            ("start", "-1"),
        ]
    )
    by_form = await portal.request(
        "POST", base, data=form, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    by_json = await portal.call(
        "crm.deal.list",
        {
            "order": {"ID": "ASC"},
            "filter": {">ID": 100, ">=DATE_MODIFY": "2000-01-01T00:00:00+03:00"},
            "select": ["ID", "DATE_MODIFY"],
            "start": -1,
        },
    )
    results = [r.body["result"] for r in (by_get, by_form, by_json)]
    assert results[0] == results[1] == results[2]
    assert len(results[0]) == 50
    assert all(int(row["ID"]) > 100 for row in results[0])
    assert set(results[0][0]) == {"ID", "DATE_MODIFY"}
    assert by_json.body["total"] == 0 and "next" not in by_json.body


async def test_json_body_without_json_content_type_is_misparsed(portal: PortalClient) -> None:
    body = '{"select": ["ID"], "start": -1}'
    as_text = await portal.request(
        "POST",
        portal.emulator.webhook_url + "crm.deal.list",
        data=body,
        headers={"Content-Type": "text/plain"},
    )
    assert as_text.status == 200
    assert set(as_text.body["result"][0]) != {"ID"}  # the select was not understood
    assert as_text.body["total"] == 230  # nor the start


async def test_broken_json_body_means_no_parameters(portal: PortalClient) -> None:
    reply = await portal.request(
        "POST",
        portal.emulator.webhook_url + "crm.deal.list",
        data='{"start": -1',
        headers={"Content-Type": "application/json"},
    )
    assert reply.status == 200
    assert reply.body["total"] == 230


async def test_body_overrides_query_string(portal: PortalClient) -> None:
    url = portal.emulator.webhook_url + "crm.deal.list?start=50"
    reply = await portal.request("POST", url, json_body={"start": 100})
    assert reply.body["next"] == 150


@pytest.mark.parametrize(("start", "first_index"), [(0, 0), (49, 0), (75, 50), (200, 200)])
async def test_start_is_floored_to_a_page(portal: PortalClient, start: int, first_index: int) -> None:
    everything = await portal.call("crm.deal.list", {"select": ["ID"], "order": {"ID": "ASC"}, "start": 0})
    page = await portal.call("crm.deal.list", {"select": ["ID"], "order": {"ID": "ASC"}, "start": start})
    all_ids = [r["ID"] for r in everything.body["result"]]
    if first_index < 50:
        assert page.body["result"][0]["ID"] == all_ids[first_index]
    assert page.body.get("next") == (first_index + 50 if first_index + 50 < 230 else None)


async def test_last_page_has_no_next(portal: PortalClient) -> None:
    reply = await portal.call("crm.deal.list", {"start": 200})
    assert len(reply.body["result"]) == 30
    assert "next" not in reply.body
    assert reply.body["total"] == 230


async def test_unicode_and_special_characters_round_trip(portal: PortalClient) -> None:
    title = "Сделка & co + 100% #1 = ok"
    added = await portal.call("crm.deal.add", {"fields": {"TITLE": title}})
    assert added.status == 200
    new_id = added.body["result"]
    assert isinstance(new_id, int)
    url = portal.emulator.webhook_url + "crm.deal.get?" + f"id={new_id}"
    got = await portal.request("GET", url)
    assert got.body["result"]["TITLE"] == title
    form = await portal.request(
        "POST",
        portal.emulator.webhook_url + "crm.deal.update",
        data=f"id={new_id}&fields[TITLE]={quote(title + '!', safe='')}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.body["result"] is True
    got = await portal.call("crm.deal.get", {"id": new_id})
    assert got.body["result"]["TITLE"] == title + "!"


async def test_classic_errors_have_empty_code(portal: PortalClient) -> None:
    missing = await portal.call("crm.deal.get", {"id": 99999999})
    assert missing.status == 400
    assert missing.body == {"error": "", "error_description": "Not found"}
    invalid = await portal.call("crm.deal.get", {"id": "abc"})
    assert invalid.body == {"error": "", "error_description": "ID is not defined or invalid."}


async def test_multipart_form_is_accepted(portal: PortalClient) -> None:
    import aiohttp

    form = aiohttp.MultipartWriter("form-data")
    for name, value in (("select[]", "ID"), ("start", "-1")):
        part = form.append(value)
        part.set_content_disposition("form-data", name=name)
    reply = await portal.request("POST", portal.emulator.webhook_url + "crm.deal.list", data=form)
    assert reply.status == 200
    assert set(reply.body["result"][0]) == {"ID"}
