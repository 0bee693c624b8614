"""``batch``: limits, halt, the five result maps, PHP JSON quirks and ``$result`` references (§5)."""

from __future__ import annotations

from .conftest import PortalClient


async def test_five_maps_and_php_empty_maps(portal: PortalClient) -> None:
    reply = await portal.call("batch", {"halt": 0, "cmd": {"a": "crm.deal.list?start=0", "b": "profile"}})
    assert reply.status == 200
    result = reply.body["result"]
    assert set(result) == {"result", "result_error", "result_total", "result_next", "result_time"}
    assert result["result_error"] == []  # an empty PHP map is serialised as a list
    assert result["result_total"] == {"a": 230}
    assert result["result_next"] == {"a": 50}
    assert set(result["result_time"]) == {"a", "b"}
    assert "time" in reply.body


async def test_more_than_50_commands(portal: PortalClient) -> None:
    cmd = {f"c{i:02d}": "profile" for i in range(53)}
    result = (await portal.call("batch", {"cmd": cmd})).body["result"]
    assert len(result["result"]) == 50
    assert set(result["result_error"]) == {"c50", "c51", "c52"}
    assert result["result_error"]["c51"] == {
        "error": "ERROR_BATCH_LENGTH_EXCEEDED",
        "error_description": "Max batch length exceeded",
    }


async def test_halt_stops_at_the_first_error(portal: PortalClient) -> None:
    cmd = {"ok": "profile", "bad": "crm.deal.get?id=99999999", "after": "profile"}
    halted = (await portal.call("batch", {"halt": 1, "cmd": cmd})).body["result"]
    assert list(halted["result"]) == ["ok"]
    assert halted["result_error"] == {"bad": {"error": "", "error_description": "Not found"}}
    assert "after" not in halted["result_time"]
    go_on = (await portal.call("batch", {"halt": 0, "cmd": cmd})).body["result"]
    assert set(go_on["result"]) == {"ok", "after"}


async def test_numeric_keys_become_lists(portal: PortalClient) -> None:
    """A JSON array of commands has keys 0..n-1, which PHP serialises as arrays (real capture)."""
    reply = await portal.call("batch", {"cmd": ["crm.deal.get?id=abc", "crm.deal.get?id=99999999"]})
    result = reply.body["result"]
    assert result["result"] == []
    assert result["result_error"] == [
        {"error": "", "error_description": "ID is not defined or invalid."},
        {"error": "", "error_description": "Not found"},
    ]


async def test_non_contiguous_numeric_keys_stay_an_object(portal: PortalClient) -> None:
    ids = (await portal.get("/_emulator/ids/deal")).body["ids"]
    cmd = {str(ids[3]): f"crm.deal.get?id={ids[3]}"}
    result = (await portal.call("batch", {"cmd": cmd})).body["result"]
    assert list(result["result"]) == [str(ids[3])]


async def test_nested_batch_is_not_allowed(portal: PortalClient) -> None:
    result = (await portal.call("batch", {"cmd": {"x": "batch?cmd[a]=profile"}})).body["result"]
    assert result["result_error"]["x"]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"


async def test_unknown_method_inside_batch(portal: PortalClient) -> None:
    result = (await portal.call("batch", {"cmd": {"x": "no.such"}})).body["result"]
    assert result["result_error"]["x"]["error"] == "ERROR_METHOD_NOT_FOUND"


async def test_batch_params_are_case_insensitive_and_form_encoded_twice(portal: PortalClient) -> None:
    from urllib.parse import quote

    inner = "crm.deal.list?filter[%3EID]=0&select[]=ID&start=-1"
    body = "HALT=0&" + quote("CMD[first]", safe="") + "=" + quote(inner, safe="")
    reply = await portal.request(
        "POST",
        portal.emulator.webhook_url + "batch",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    rows = reply.body["result"]["result"]["first"]
    assert len(rows) == 50 and set(rows[0]) == {"ID"}


async def test_keyset_chain_with_result_references(portal: PortalClient) -> None:
    """The documented export: order ID ASC, filter >ID from the previous page's last row, start=-1."""
    base = "crm.deal.list?order[ID]=ASC&select[]=ID&start=-1&filter[>ID]="
    cmd = {"p0": base + "0"}
    for i in range(1, 6):
        cmd[f"p{i}"] = base + f"$result[p{i - 1}][49][ID]"
    result = (await portal.call("batch", {"cmd": cmd})).body["result"]
    seen = []
    for i in range(6):
        page = result["result"][f"p{i}"]
        if i < 4:
            assert len(page) == 50
        seen.extend(int(r["ID"]) for r in page[:50] if isinstance(r, dict))
        if len(page) < 50:
            break
    all_ids = (await portal.get("/_emulator/ids/deal")).body["ids"]
    assert seen == all_ids  # 230 deals: pages of 50, 50, 50, 50, 30
    assert result["result_total"] == {f"p{i}": 0 for i in range(6)}
    assert result["result_next"] == []


async def test_item_and_task_chains_use_their_wrappers(portal: PortalClient) -> None:
    item = "crm.item.list?entityTypeId=1032&order[id]=ASC&select[]=id&start=-1&filter[>id]="
    task = "tasks.task.list?order[ID]=ASC&select[]=ID&start=-1&filter[>ID]="
    cmd = {
        "i0": item + "0",
        "i1": item + "$result[i0][items][49][id]",
        "t0": task + "0",
        "t1": task + "$result[t0][tasks][49][id]",
    }
    result = (await portal.call("batch", {"cmd": cmd})).body["result"]
    items0, items1 = result["result"]["i0"]["items"], result["result"]["i1"]["items"]
    assert items1 and items1[0]["id"] > items0[-1]["id"]
    tasks0, tasks1 = result["result"]["t0"]["tasks"], result["result"]["t1"]["tasks"]
    assert tasks1 and int(tasks1[0]["id"]) > int(tasks0[-1]["id"])
    assert "i0" not in result["result_total"]  # engine methods: no total on start=-1


async def test_reference_typed_substitution_and_embedded_strings(portal: PortalClient) -> None:
    ids = (await portal.get("/_emulator/ids/deal")).body["ids"]
    cmd = {
        "get": f"crm.deal.get?id={ids[0]}",
        "same": "crm.deal.get?id=$result[get][ID]",
        "embedded": "crm.deal.list?select[]=ID&filter[TITLE]=x$result[get][TITLE]&start=-1",
        "missing_path": "crm.deal.get?id=$result[get][NO_SUCH_FIELD]",
    }
    result = (await portal.call("batch", {"cmd": cmd})).body["result"]
    assert result["result"]["same"]["ID"] == str(ids[0])
    assert result["result"]["embedded"] == []  # TITLE substituted as a string: "x<title>" matches nothing
    # a missing path resolves to the deepest value found: the whole record, which is not a valid id
    assert result["result_error"]["missing_path"]["error_description"] == "ID is not defined or invalid."


async def test_a_chain_past_its_short_page_gets_empty_pages(portal: PortalClient) -> None:
    ids = (await portal.get("/_emulator/ids/deal")).body["ids"]
    base = "crm.deal.list?select[]=ID&order[ID]=ASC&start=-1"
    cmd = {
        "c0": f"{base}&filter[>ID]={ids[-3]}",  # the last two rows: a short page
        "c1": f"{base}&filter[>ID]=$result[c0][49][ID]",  # resolves to the whole c0 list: no id
        "c2": f"{base}&filter[>ID]=$result[c1][49][ID]&filter[<=ID]={ids[-1]}",
        "c3": f"{base}&filter[<ID]=0&start=0",  # impossible, counted: total 0
    }
    result = (await portal.call("batch", {"cmd": cmd})).body["result"]
    assert [int(r["ID"]) for r in result["result"]["c0"]] == ids[-2:]
    assert result["result"]["c1"] == [] and result["result"]["c2"] == [] and result["result"]["c3"] == []
    assert result["result_error"] == []
    assert result["result_total"]["c3"] == 0


async def test_a_chain_past_its_short_page_reads_from_the_lowest_id_under_the_other_reading(
    portal: PortalClient,
) -> None:
    """``short_page_reference="from_lowest_id"``: the condition on the short reference is dropped,
    the others stay (an item filter too); nothing else changes."""
    ids = (await portal.get("/_emulator/ids/deal")).body["ids"]
    changed = (await portal.post("/_emulator/config", {"short_page_reference": "from_lowest_id"})).body
    assert changed["short_page_reference"] == "from_lowest_id"
    base = "crm.deal.list?select[]=ID&order[ID]=ASC&start=-1"
    cmd = {
        "c0": f"{base}&filter[>ID]={ids[-3]}",  # the last two rows: a short page
        "c1": f"{base}&filter[>ID]=$result[c0][49][ID]",  # no condition left: the first 50 rows
        "c2": f"{base}&filter[>ID]=$result[c0][49][ID]&filter[<ID]={ids[10]}",  # only <ID: 10 rows
        "c3": f"{base}&filter[>ID]=$result[c1][49][ID]",  # c1 was full: a plain reference
        "items": "crm.item.list?entityTypeId=1032&select[]=id&order[id]=ASC&start=-1"
        "&filter[>id]=$result[c0][49][ID]",
    }
    result = (await portal.call("batch", {"cmd": cmd})).body["result"]
    got = {key: [int(r["ID"]) for r in rows] for key, rows in result["result"].items() if key != "items"}
    assert got == {"c0": ids[-2:], "c1": ids[:50], "c2": ids[:10], "c3": ids[50:100]}
    items = (await portal.get("/_emulator/ids/item")).body["ids"]
    assert [r["id"] for r in result["result"]["items"]["items"]] == items[:50]
    assert result["result_error"] == []
    stats = (await portal.get("/_emulator/stats")).body
    assert stats["rows_served"] == 2 + 50 + 10 + 50 + 50
    bad = await portal.post("/_emulator/config", {"short_page_reference": "maybe"})
    assert bad.status == 400 and "short_page_reference" in bad.body["error_description"]
    assert (await portal.get("/_emulator/config")).body["short_page_reference"] == "from_lowest_id"


async def test_reference_to_a_failed_command(portal: PortalClient) -> None:
    cmd = {"bad": "crm.deal.get?id=99999999", "next": "crm.deal.get?id=$result[bad][ID]"}
    result = (await portal.call("batch", {"cmd": cmd})).body["result"]
    assert set(result["result_error"]) == {"bad", "next"}


async def test_next_and_total_references(portal: PortalClient) -> None:
    cmd = {"a": "crm.deal.list?select[]=ID&start=0", "b": "crm.deal.list?select[]=ID&start=$next[a]"}
    result = (await portal.call("batch", {"cmd": cmd})).body["result"]
    assert result["result_next"] == {"a": 50, "b": 100}
