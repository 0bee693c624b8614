"""fast_bitrix24's result shapes (issue #10): what its users index into works the same here.

Each test names the fast_bitrix24 behaviour it mirrors (its source ``server_response.py``,
``user_request.py``, or its own tests ``tests/test_server_responses.py`` / ``test_sync.py``), and
the deliberate differences where fast_bitrix24's shape is a bug.
"""

from __future__ import annotations

import numpy
import pytest

from bitrix24_provider.client import BitrixAsync, ErrorInServerResponseException

from .conftest import MakePortal, Portal

ITEM = 1032  # the emulator's smart process


@pytest.fixture
async def small(make_portal: MakePortal) -> Portal:
    portal: Portal = await make_portal(deals=5, leads=60, items=5, tasks=3)
    return portal


async def test_a_single_key_answer_is_unwrapped(small: Portal) -> None:
    """``extract_from_single_response``: ``{"item": {...}}`` gives the item (fast_bitrix24's
    test_crm_add_item), ``{"task": {...}}`` the task, ``{"items": [...]}`` the rows."""
    items, tasks, deals = await small.ids("item"), await small.ids("task"), await small.ids("deal")
    async with BitrixAsync(small.webhook, verbose=False) as bx:
        added = await bx.call("crm.item.add", {"entityTypeId": ITEM, "fields": {"title": "new"}})
        item = await bx.call("crm.item.get", {"entityTypeId": ITEM, "id": items[0]})
        task = await bx.call("tasks.task.get", {"taskId": tasks[0]})
        rows = await bx.call("crm.item.list", {"entityTypeId": ITEM, "select": ["id"]})
        deal = await bx.call("crm.deal.get", {"id": deals[0]})  # several keys: as it is
        new_deal = await bx.call("crm.deal.add", {"fields": {"TITLE": "x"}})
    assert added != "item" and added["title"] == "new" and "id" in added
    assert item["id"] == items[0]
    assert str(task["id"]) == str(tasks[0])
    assert [row["id"] for row in rows] == [*items, added["id"]]
    assert deal["ID"] == str(deals[0])
    assert isinstance(new_deal, int)


async def test_many_items_give_one_unwrapped_result_each_in_input_order(small: Portal) -> None:
    """A tuple in input order (fast_bitrix24: completion order, and a list for single-key answers);
    a write keeps one outcome per item even when each is a list (fast_bitrix24 flattens
    ``crm.item.delete``'s ``[]``s into one empty list)."""
    async with BitrixAsync(small.webhook, verbose=False) as bx:
        added = await bx.call(
            "crm.item.add", [{"entityTypeId": ITEM, "fields": {"title": f"t{n}"}} for n in range(60)]
        )
        deleted = await bx.call("crm.item.delete", [{"entityTypeId": ITEM, "id": a["id"]} for a in added[:3]])
    assert isinstance(added, tuple)
    assert [a["title"] for a in added] == [f"t{n}" for n in range(60)]
    assert deleted == ([], [], [])


async def test_a_list_method_over_many_items_gives_one_flat_list(small: Portal) -> None:
    """``extract_from_batch_response`` chains the lists of a list method called per item
    (fast_bitrix24's test_call_list_empty); ``return_errors=True`` keeps one result per item."""
    deals, items = await small.ids("deal"), await small.ids("item")
    wanted = [deals[3], deals[0], deals[2]]
    async with BitrixAsync(small.webhook, verbose=False) as bx:
        rows = await bx.call("crm.deal.list", [{"filter": {"ID": i}, "select": ["ID"]} for i in wanted])
        item_rows = await bx.call(
            "crm.item.list",
            [{"entityTypeId": ITEM, "filter": {"id": i}, "select": ["id"]} for i in items[:2]],
        )
        nothing = {"filter": {"ID": 999_999_999}, "select": ["ID"]}
        none_of_many = await bx.call("crm.lead.list", (nothing,))
        none_of_one = await bx.call("crm.lead.list", nothing)
        per_item = await bx.call(
            "crm.deal.list", [{"filter": {"ID": i}} for i in wanted[:2]], return_errors=True
        )
    assert [row["ID"] for row in rows] == [str(i) for i in wanted]
    assert [row["id"] for row in item_rows] == items[:2]
    assert none_of_many == none_of_one == []
    assert [[row["ID"] for row in result] for result in per_item] == [[str(i)] for i in wanted[:2]]


async def test_get_by_id_keys_are_str_in_input_order_each_id_once(small: Portal) -> None:
    """Batch labels come back as ``str`` (``get_by_ID(..., [9])["9"]``, fast_bitrix24's
    test_task_elapseditem_getlist_mixed_types); values are the answers as they are. One id gives
    ``{id: result}`` too (fast_bitrix24: the bare result, its test_crm_company_contact_items_get)."""
    deals, items = await small.ids("deal"), await small.ids("item")
    async with BitrixAsync(small.webhook, verbose=False) as bx:
        got = await bx.get_by_ID("crm.deal.get", [deals[2], str(deals[0]), deals[2], f"{deals[2]}"])
        sent = (await small.stats())["commands_by_method"]["crm.deal.get"]
        from_numpy = await bx.get_by_ID("crm.deal.get", numpy.array(deals[:2]))
        wrapped = await bx.get_by_ID("crm.item.get", items[:2], "id", {"entityTypeId": ITEM})
        one = await bx.get_by_ID("crm.deal.get", [deals[1]])
    assert list(got) == [str(deals[2]), str(deals[0])]
    assert got[str(deals[0])]["ID"] == str(deals[0])
    assert sent == 2
    assert list(from_numpy) == [str(deals[0]), str(deals[1])]
    assert wrapped[str(items[0])]["item"]["id"] == items[0]
    assert list(one) == [str(deals[1])]


async def test_call_batch_takes_numeric_keys(small: Portal) -> None:
    """fast_bitrix24's ``call_batch({"halt": 0, "cmd": {1: "crm.lead.list"}})["1"]``. The portal
    answers a map keyed exactly 0..n-1 as a JSON list: its n-th element is key "n", also when the
    keys were given in another order and some failed."""
    deals = await small.ids("deal")
    async with BitrixAsync(small.webhook, verbose=False) as bx:
        leads = await bx.call_batch({"halt": 0, "cmd": {1: "crm.lead.list"}})
        pair = await bx.call_batch(
            {"cmd": {0: f"crm.deal.get?id={deals[0]}", 1: f"crm.deal.get?id={deals[1]}"}}
        )
        with pytest.raises(ErrorInServerResponseException) as raised:
            await bx.call_batch({"cmd": {"1": "crm.deal.get?id=0", "0": f"crm.deal.get?id={deals[2]}"}})
    assert list(leads) == ["1"] and len(leads["1"]) == 50
    assert {key: deal["ID"] for key, deal in pair.items()} == {"0": str(deals[0]), "1": str(deals[1])}
    assert {key: deal["ID"] for key, deal in raised.value.results.items()} == {"0": str(deals[2])}
    assert list(raised.value.errors) == ["1"]


async def test_get_all_of_a_single_answer_unwraps_it_too(small: Portal) -> None:
    """fast_bitrix24's ``get_all`` runs its answer through the same unwrapping."""
    async with BitrixAsync(small.webhook, verbose=False) as bx:
        item_fields = await bx.get_all("crm.item.fields", {"entityTypeId": ITEM})
        deal_fields = await bx.get_all("crm.deal.fields")
    assert "title" in item_fields and "fields" not in item_fields
    assert "TITLE" in deal_fields


async def test_slow_gives_what_fast_bitrix24s_gives(small: Portal) -> None:
    async with BitrixAsync(small.webhook, verbose=False) as bx:
        with bx.slow() as entered:
            assert entered is True
        async with bx.slow(3) as entered:
            assert entered is True
