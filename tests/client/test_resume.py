"""Resuming a keyset export from per-range positions (``on_ranges`` / ``ranges``)."""

from __future__ import annotations

import itertools

import pytest

from bitrix24_provider.client import BitrixAsync, ClientSettings

from .conftest import MakePortal, Portal

IdRanges = list[tuple[int, int | None]]
SETTINGS = ClientSettings(max_parallel_chains=4, batch_size=5)


def covered(value: int, ranges: IdRanges) -> int | None:
    """Index of the ``(after, upto]`` range holding ``value``."""
    for n, (after, upto) in enumerate(ranges):
        if after < value and (upto is None or value <= upto):
            return n
    return None


async def test_ranges_are_reported_before_their_pages(make_portal: MakePortal) -> None:
    portal: Portal = await make_portal(deals=3000)
    reports: list[IdRanges | None] = []
    async with BitrixAsync(portal.webhook, verbose=False, settings=SETTINGS) as bx:
        source = bx.iter_all("crm.deal.list", {"select": ["ID"]}, on_ranges=reports.append)
        pages = [page async for page in source]
    assert reports[0] == [(0, None)]  # the whole id space, before the first page
    split = reports[1]
    assert split is not None and len(split) == 4
    first_page_end = int(pages[0][-1]["ID"])
    assert split[0][0] == first_page_end and split[-1][1] is None
    for (_, upto), (after, _) in itertools.pairwise(split):
        assert upto == after  # contiguous, disjoint
    later = [int(r["ID"]) for page in pages[1:] for r in page]
    assert all(covered(i, split) is not None for i in later)


async def test_a_stopped_export_resumes_from_its_ranges(make_portal: MakePortal) -> None:
    portal: Portal = await make_portal(deals=6000)
    ranges: IdRanges = []

    def track(reported: IdRanges | None) -> None:
        assert reported is not None
        ranges[:] = reported

    seen: list[int] = []
    async with BitrixAsync(portal.webhook, verbose=False, settings=SETTINGS) as bx:
        async for page in bx.iter_all("crm.deal.list", {"select": ["ID", "TITLE"]}, on_ranges=track):
            seen.extend(int(r["ID"]) for r in page)
            if len(seen) >= 2000:
                break  # the first "try" stops here; everything seen counts as stored
    assert len(ranges) == 4
    positions = [
        (max([i for i in seen if covered(i, ranges) == n], default=after), upto)
        for n, (after, upto) in enumerate(ranges)
    ]
    assert sum(1 for (after, _), (pos, _) in zip(ranges, positions, strict=True) if pos > after) >= 2

    await portal.reset()
    resumed: list[int] = []
    async with BitrixAsync(portal.webhook, verbose=False, settings=SETTINGS) as bx:
        async for page in bx.iter_all("crm.deal.list", {"select": ["ID", "TITLE"]}, ranges=positions):
            resumed.extend(int(r["ID"]) for r in page)
    everything = seen + resumed
    assert sorted(everything) == await portal.ids()
    assert len(everything) == len(set(everything)), "a row came twice"
    # the resumed export read only the rest (plus one page of newest ids to size its chains)
    assert (await portal.stats())["rows_served"] <= 6000 - len(seen) + 50


async def test_a_resumed_range_is_split_again_for_parallel_chains(make_portal: MakePortal) -> None:
    portal: Portal = await make_portal(deals=5000)
    ids = await portal.ids()
    reports: list[IdRanges | None] = []
    async with BitrixAsync(portal.webhook, verbose=False, settings=SETTINGS) as bx:
        rows = await _collect(bx, ranges=[(ids[99], None)], on_ranges=reports.append)
    assert rows == ids[100:]
    assert len(reports) == 1 and reports[0] is not None and len(reports[0]) == 4


async def test_finished_ranges_cost_one_request_each(make_portal: MakePortal) -> None:
    portal: Portal = await make_portal(deals=3000)
    ids = await portal.ids()
    gap = next(k for k in range(len(ids) - 1) if ids[k + 1] - ids[k] >= 2)
    # a bounded range read up to its last row (its end is no row id) and the open range at the end
    finished = [(ids[gap], ids[gap + 1] - 1), (ids[-1], None)]
    async with BitrixAsync(portal.webhook, verbose=False, settings=SETTINGS) as bx:
        assert await _collect(bx, ranges=finished) == []
    stats = await portal.stats()
    assert stats["http_requests"] == 1 + 2  # the newest-ids probe, then one direct call per range
    assert stats["rows_served"] == 50  # the probe's page of ids


async def test_an_offset_fallback_reports_no_ranges(make_portal: MakePortal) -> None:
    portal: Portal = await make_portal(deals=300, no_keyset_methods=["crm.deal.list"])
    reports: list[IdRanges | None] = []
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        rows = await _collect(bx, on_ranges=reports.append)
    assert rows == await portal.ids()
    assert reports[-1] is None  # progress cannot be kept by id ranges


@pytest.mark.parametrize(
    ("params", "ranges", "message"),
    [
        ({}, [(10, None), (5, 20)], "overlap"),
        ({}, [(1, None), (50, None)], "overlap"),
        ({}, [("x", None)], "integer ids"),
        ({"order": {"TITLE": "ASC"}}, [(0, None)], "pages by offset"),
    ],
)
async def test_bad_resume_ranges_are_refused(
    make_portal: MakePortal, params: dict[str, object], ranges: list[object], message: str
) -> None:
    portal: Portal = await make_portal(deals=10)
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        with pytest.raises(ValueError, match=message):
            await _collect(bx, params=params, ranges=ranges)
    assert (await portal.stats())["http_requests"] == 0


async def _collect(bx: BitrixAsync, params: dict[str, object] | None = None, **kwargs: object) -> list[int]:
    rows = []
    async for page in bx.iter_all("crm.deal.list", {"select": ["ID"], **(params or {})}, **kwargs):  # type: ignore[arg-type]
        rows.extend(int(r["ID"]) for r in page)
    return sorted(rows)
