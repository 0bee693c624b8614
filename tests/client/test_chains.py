"""Keyset chains ask for a chained page only after one their estimate says will be full, so that
neither reading of a reference past a short page (contract §5.5: no row meets it, or the condition
is dropped and the command reads from the lowest id on) serves rows nobody asked for."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitrix24_provider.client import BitrixAsync
from bitrix24_provider.client.chains import Newest, batch_pages, rows_left
from bitrix24_provider.client.settings import ClientSettings

from .conftest import MakePortal, Portal

READINGS = ["no_rows", "from_lowest_id"]


@given(st.floats(min_value=-10, max_value=10_000), st.integers(min_value=1, max_value=50))
def test_a_batch_chains_only_after_pages_the_estimate_fills(rows: float, batch_size: int) -> None:
    pages = batch_pages(rows, batch_size)
    assert 1 <= pages <= batch_size
    # every page but the last is followed by a chained one: the estimate must fill it
    assert (pages - 1) * 50 <= max(0.0, rows)
    # and the batch reaches past the estimate unless the batch size stops it
    assert pages == batch_size or pages * 50 > rows


def test_the_probe_counts_exactly_what_it_saw() -> None:
    full = Newest.of(list(range(1000, 1100, 2)), after=10)  # 50 ids: a full probe page
    assert full.top == 1098 and full.known_from == 999
    assert full.rows(1050, None, density=0.5) == 24  # all above the cursor were seen
    assert full.rows(899, None, density=0.5) == 50 + 50  # 100 ids below them at half density
    assert full.rows(899, 1000, density=0.5) == 1 + 50
    short = Newest.of([500, 400, 300], after=10)  # fewer than a page: nothing else exists
    assert short.known_from == 10 and short.rows(10, None, density=1.0) == 3
    assert short.rows(350, None, density=1.0) == 2


def test_a_chain_trusts_the_density_of_its_own_ids() -> None:
    newest = Newest.of(list(range(10_000, 10_050)), after=0)
    # 100 rows read over 200 ids: half density up to the probe's ids, then its 50 ids
    assert rows_left(5_000.0, 0, None, newest, 200, 100) == (9_999 - 200) * 0.5 + 50
    assert rows_left(5_000.0, 0, 1_200, None, 200, 100) == 500
    assert rows_left(300.0, 0, None, None, 0, 0) == 300  # nothing read yet: the split's estimate


async def _export(portal: Portal, params: dict[str, Any], settings: ClientSettings | None = None) -> Any:
    await portal.reset()
    rows: list[Any] = []
    ranges: list[Any] = [[]]
    async with BitrixAsync(portal.webhook, verbose=False, settings=settings) as bx:
        async for page in bx.iter_all("crm.deal.list", params, on_ranges=ranges.append):
            rows.extend(page)
    stats = await portal.stats()
    stats["chains"] = len(ranges[-1])
    return rows, stats


@pytest.mark.parametrize("reading", READINGS)
async def test_a_small_incremental_run_serves_only_its_rows(make_portal: MakePortal, reading: str) -> None:
    """151 rows changed, scattered over 3,000 ids: nothing is chained after a page that may be short,
    so both readings serve the same rows: the export's and the probe's ids."""
    portal: Portal = await make_portal(deals=3_000, short_page_reference=reading)
    emulated = portal.emulator.portal
    ids = await portal.ids()
    emulated.clock.advance(3600)
    since = emulated.clock.now()
    changed = ids[::19][:151]
    for rid in changed:
        emulated.apply("crm.deal.update", {"id": rid, "fields": {"TITLE": "changed"}})
    params = {"select": ["ID", "DATE_MODIFY"], "filter": {">=DATE_MODIFY": since_iso(emulated, since)}}
    rows, stats = await _export(portal, params)
    assert sorted(int(r["ID"]) for r in rows) == changed
    probe = 50
    assert stats["rows_served"] == 151 + probe
    assert stats["commands"] <= math.ceil(151 / 50) + 1 + 1  # the pages, the probe, one page past


def since_iso(emulated: Any, instant: float) -> str:
    return emulated._iso(instant)


@pytest.mark.parametrize("reading", READINGS)
@pytest.mark.parametrize("deals", [120, 2_000, 20_000])
async def test_a_load_is_served_about_its_rows_under_either_reading(
    make_portal: MakePortal, reading: str, deals: int
) -> None:
    portal: Portal = await make_portal(deals=deals, short_page_reference=reading)
    rows, stats = await _export(portal, {"select": ["ID"]})
    assert sorted(int(r["ID"]) for r in rows) == await portal.ids()
    pages = math.ceil((deals + 1) / 50)
    chains = max(1, stats["chains"])
    extra = stats["rows_served"] - deals - 50  # beyond the rows and the probe's ids
    wasted = stats["commands"] - pages - 1  # commands beyond the pages and the probe
    # at most one page's estimate wrong per chain; before, 4 chained pages after the first page
    # and one or two past every chain's end
    assert 0 <= wasted <= chains
    if reading == "no_rows":
        assert extra == 0
    else:
        assert extra <= 50 * wasted


@pytest.mark.parametrize("reading", READINGS)
async def test_a_list_of_two_pages_is_never_chained(make_portal: MakePortal, reading: str) -> None:
    portal: Portal = await make_portal(deals=90, short_page_reference=reading)
    rows, stats = await _export(portal, {"select": ["ID"]})
    assert len(rows) == 90
    assert (stats["http_requests"], stats["commands"], stats["rows_served"]) == (2, 3, 90 + 40)
