"""``BitrixAsync`` reading: keyset export by default, offset where needed, streaming, limits."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from bitrix24_provider.client import BitrixAsync, ClientSettings

from .conftest import MakePortal, Portal


async def test_get_all_returns_every_deal_exactly_once_with_few_requests(portal: Portal) -> None:
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        rows = await bx.get_all("crm.deal.list", {"select": ["ID", "TITLE"]})
    ids = [int(r["ID"]) for r in rows]
    assert sorted(ids) == await portal.ids("deal")
    assert len(ids) == len(set(ids))
    stats = await portal.stats()
    # 60 pages: a probe page, a newest-id probe, then chained pages inside batches
    assert stats["http_requests"] <= 8
    assert bx.stats.rows == 3000


async def test_keyset_mode_never_asks_the_server_to_count(portal: Portal) -> None:
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        await bx.get_all("crm.deal.list", {"select": ["ID"]})
    stats = await portal.stats()
    # a counted page would have cost per_counted_row * 3000 on top of base + rows
    assert stats["server_seconds"] < stats["commands"] * 0.012 + stats["rows_served"] * 0.0004 + 1e-6


@pytest.mark.parametrize(
    ("method", "params", "entity", "id_field"),
    [
        ("crm.lead.list", {}, "lead", "ID"),
        ("crm.item.list", {"entityTypeId": 1032, "select": ["id", "title"]}, "item", "id"),
        ("tasks.task.list", {"select": ["ID", "TITLE"]}, "task", "id"),
        ("user.get", {}, "user", "ID"),
        ("crm.company.list", {"select": ["TITLE"]}, "company", "ID"),
    ],
)
async def test_every_family_is_complete(
    portal: Portal, method: str, params: dict[str, object], entity: str, id_field: str
) -> None:
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        rows = await bx.get_all(method, params)
    assert sorted(int(r[id_field]) for r in rows) == await portal.ids(entity)


async def test_custom_order_uses_offset_paging_and_is_complete(portal: Portal) -> None:
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        rows = await bx.get_all(
            "crm.deal.list", {"select": ["ID", "DATE_MODIFY"], "order": {"DATE_MODIFY": "DESC"}}
        )
    assert sorted(int(r["ID"]) for r in rows) == await portal.ids("deal")
    dates = [r["DATE_MODIFY"] for r in rows[:50]]
    assert dates == sorted(dates, reverse=True)


async def test_id_bounds_in_the_filter_are_respected(portal: Portal) -> None:
    ids = await portal.ids("deal")
    low, high = ids[100], ids[2000]
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        rows = await bx.get_all("crm.deal.list", {"select": ["ID"], "filter": {">=ID": low, "<ID": high}})
    assert sorted(int(r["ID"]) for r in rows) == ids[100:2000]


async def test_filter_on_other_fields_is_applied_to_every_page(portal: Portal) -> None:
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        opened = await bx.get_all("crm.deal.list", {"select": ["ID", "OPENED"], "filter": {"OPENED": True}})
        closed = await bx.get_all("crm.deal.list", {"select": ["ID", "OPENED"], "filter": {"OPENED": False}})
    assert opened and closed
    assert {r["OPENED"] for r in opened} == {"Y"}  # True travels as "Y" on every page
    assert {r["OPENED"] for r in closed} == {"N"}
    assert len(opened) + len(closed) == 3000


async def test_select_without_id_still_pages(portal: Portal) -> None:
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        rows = await bx.get_all("crm.deal.list", {"select": ["TITLE"]})
    assert len({r["ID"] for r in rows}) == 3000


async def test_iter_all_streams_pages_and_limit_stops_early(portal: Portal) -> None:
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        sizes = [len(page) async for page in bx.iter_all("crm.deal.list", {"select": ["ID"]})]
        assert max(sizes) <= 50
        assert sum(sizes) == 3000
        await portal.reset()
        limited = await bx.get_all("crm.deal.list", {"select": ["ID"]}, limit=120)
    assert len(limited) == 120
    stats = await portal.stats()
    assert stats["rows_served"] < 3000


async def test_small_and_empty_lists(make_portal: MakePortal) -> None:
    portal: Portal = await make_portal(deals=37, leads=0)
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        assert len(await bx.get_all("crm.deal.list")) == 37
        assert await bx.get_all("crm.lead.list") == []
    assert (await portal.stats())["http_requests"] == 2


async def test_non_list_methods_return_their_result(portal: Portal) -> None:
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        fields = await bx.get_all("crm.deal.fields")
    assert fields["ID"]["type"] == "integer"


async def test_start_is_rejected(portal: Portal) -> None:
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        with pytest.raises(ValueError, match="start"):
            await bx.get_all("crm.deal.list", {"start": 50})


async def test_parallel_chains_split_a_large_table(make_portal: MakePortal) -> None:
    portal: Portal = await make_portal(deals=12_000, simulate_cost=True, time_scale=10.0)
    settings = ClientSettings(max_parallel_chains=4, time_scale=10.0)
    async with BitrixAsync(portal.webhook, verbose=False, settings=settings) as bx:
        rows = await bx.get_all("crm.deal.list", {"select": ["ID"]})
    assert sorted(int(r["ID"]) for r in rows) == await portal.ids("deal")
    assert (await portal.stats())["max_in_flight"] >= 2


async def test_a_chain_asks_for_its_next_batch_before_a_slow_reader_takes_the_pages(
    make_portal: MakePortal,
) -> None:
    # one chain of 3-page batches; the reader takes three pages, then stops (a slow SQL write)
    portal: Portal = await make_portal(deals=2000)
    settings = ClientSettings(max_parallel_chains=1, batch_size=3)
    async with BitrixAsync(portal.webhook, verbose=False, settings=settings) as bx:
        pages = bx.iter_all("crm.deal.list", {"select": ["ID"]})
        taken = [await anext(pages) for _ in range(3)]
        await asyncio.sleep(0.3)
        requests = (await portal.stats())["http_requests"]
        await pages.aclose()
    # page 1 came alone, page 2 with the newest ids; the chain's batch 1 (pages 3-5) went out
    # while the reader took page 2, batch 2 before batch 1's pages waited for room in the reader's
    # queue (two pages), and batch 3 before batch 2's: the portal works while the reader is busy
    assert [len(p) for p in taken] == [50, 50, 50]
    assert requests == 2 + 3


async def test_a_batch_sent_ahead_that_fails_unseen_leaves_no_unretrieved_error(
    make_portal: MakePortal,
) -> None:
    portal: Portal = await make_portal(deals=2000)
    settings = ClientSettings(max_parallel_chains=1, batch_size=3)
    unhandled: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: unhandled.append(context))
    async with BitrixAsync(portal.webhook, verbose=False, settings=settings) as bx:
        pages = bx.iter_all("crm.deal.list", {"select": ["ID"]})
        for _ in range(2):  # the first page, then the chain's first
            await anext(pages)
        await portal.configure(webhook_code="revoked0000000000")  # the batches sent from now fail
        await anext(pages)  # the chain moves on and sends its next batch ahead
        await asyncio.sleep(0.3)  # the reader is busy; the batch sent ahead fails meanwhile
        await pages.aclose()
    gc.collect()
    await asyncio.sleep(0)
    assert unhandled == []


async def test_chains_ask_for_few_pages_past_their_ends(make_portal: MakePortal) -> None:
    # the ids have gaps, so the split's estimate of rows per chain is off; each chain sizes its
    # last batch from the density of the ids it has read, and the commands past a chain's short
    # page (answered, but wasted server work) stay at a few per chain (27 in all before, 13 now)
    portal: Portal = await make_portal(deals=30_000)
    settings = ClientSettings(max_parallel_chains=4)
    async with BitrixAsync(portal.webhook, verbose=False, settings=settings) as bx:
        rows = await bx.get_all("crm.deal.list", {"select": ["ID"]})
    ids = await portal.ids("deal")
    assert sorted(int(r["ID"]) for r in rows) == ids
    assert (ids[-1] - ids[0] + 1) / len(ids) > 1.05  # gaps indeed
    pages = len(ids) // 50 + 4  # full pages, plus the first and the short page of every chain
    commands = (await portal.stats())["commands"]
    assert commands - 1 - pages <= 4 * 4  # minus the newest-id probe


async def test_a_method_that_refuses_the_id_cursor_falls_back_to_offset(make_portal: MakePortal) -> None:
    portal: Portal = await make_portal(deals=420, no_keyset_methods=["crm.deal.list"])
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        rows = await bx.get_all("crm.deal.list", {"select": ["ID"]})
        assert bx.stats.retries["keyset_fallback"] == 1
    assert sorted(int(r["ID"]) for r in rows) == await portal.ids()


async def test_progress_bar_when_verbose(portal: Portal, capsys: pytest.CaptureFixture[str]) -> None:
    async with BitrixAsync(portal.webhook, verbose=True) as bx:
        await bx.get_all("crm.deal.list", {"select": ["ID"]})
    assert "crm.deal.list" in capsys.readouterr().err
