"""Writes and lookups in batches: input order, per-item errors, resume after operating blocks."""

from __future__ import annotations

import pytest

from bitrix24_provider.client import BatchError, BitrixAsync, ClientSettings, NotFound

from .conftest import MakePortal, Portal


async def test_call_many_keeps_input_order(portal: Portal) -> None:
    titles = [f"deal {n}" for n in range(120)]
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        new_ids = await bx.call("crm.deal.add", [{"fields": {"TITLE": t}} for t in titles])
        got = await bx.get_by_ID("crm.deal.get", list(new_ids))
    assert isinstance(new_ids, tuple)
    assert len(new_ids) == 120
    assert [got[i]["TITLE"] for i in new_ids] == titles
    assert (await portal.stats())["http_requests"] == 6  # 3 batches to add, 3 to read


async def test_errors_raise_or_stay_in_place(portal: Portal) -> None:
    ids = await portal.ids()
    items = [{"id": ids[0]}, {"id": 999_999_999}, {"id": ids[1]}]
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        with pytest.raises(BatchError) as raised:
            await bx.call("crm.deal.get", items)
        mixed = await bx.call("crm.deal.get", items, return_errors=True)
    assert list(raised.value.errors) == ["c1"]
    assert isinstance(mixed[1], NotFound)
    assert mixed[0]["ID"] == str(ids[0])
    assert mixed[2]["ID"] == str(ids[1])


async def test_operating_block_in_the_middle_of_writes_resumes_exactly_the_blocked(
    make_portal: MakePortal,
) -> None:
    portal: Portal = await make_portal(
        deals=10,
        simulate_cost=True,
        time_scale=500.0,
        operating_limit=3.0,
        operating_window=60.0,
        costs={"base": 0.05, "per_write": 0.25},
    )
    settings = ClientSettings(time_scale=500.0, operating_time_limit=3.0, operating_window=60.0)
    async with BitrixAsync(portal.webhook, verbose=False, settings=settings) as bx:
        new_ids = await bx.call("crm.deal.add", [{"fields": {"TITLE": f"w{n}"}} for n in range(40)])
    assert len(set(new_ids)) == 40
    assert len(await portal.ids()) == 50  # every add ran exactly once
    assert bx.stats.retries["operation_time_limit"] > 0


async def test_call_batch_and_list_and_get(portal: Portal) -> None:
    ids = await portal.ids("company")
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        result = await bx.call_batch(
            {
                "halt": 0,
                "cmd": {
                    "one": f"crm.company.get?id={ids[0]}",
                    "two": "crm.company.list?select[]=ID&start=-1",
                },
            }
        )
        everything = await bx.list_and_get("crm.company")
        some = await bx.list_and_get("crm.company", filter={"<=ID": ids[9]})
        with pytest.raises(BatchError):
            await bx.call_batch({"cmd": {"bad": "crm.company.get?id=0"}})
    assert result["one"]["ID"] == str(ids[0])
    assert len(result["two"]) == 40
    assert sorted(int(k) for k in everything) == ids
    assert len(some) == 10


async def test_raw_call_returns_the_whole_answer(portal: Portal) -> None:
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        answer = await bx.call("crm.deal.list", {"select": ["ID"], "start": 0}, raw=True)
    assert answer["total"] == 3000
    assert "time" in answer
