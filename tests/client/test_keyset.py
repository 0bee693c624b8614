"""Keyset exports that add chains as answers arrive (``client.keyset``): when the split at the start
guessed too few rows, the chains' own ids correct it, over HTTP against the emulator."""

from __future__ import annotations

import itertools

from bitrix24_provider.client import BitrixAsync, ClientSettings

from .conftest import MakePortal, Portal

IdRanges = list[tuple[int, int | None]]


async def sparse_ends(make_portal: MakePortal, deals: int = 12_000, end: int = 3_000) -> Portal:
    """A table whose oldest and newest ``end`` rows were mostly deleted (one in 30 kept): both ends,
    which the export's first split reads, say the table holds a few hundred rows; its middle holds
    thousands."""
    portal: Portal = await make_portal(deals=deals)
    ids = await portal.ids()
    table = portal.emulator.portal.store.table("deal")
    for n, rid in enumerate(ids):
        if (n < end or n >= len(ids) - end) and n % 30:
            table.delete(rid)
    return portal


def disjoint(ranges: IdRanges) -> bool:
    return (
        all(upto == after for (_, upto), (after, _) in itertools.pairwise(ranges)) and ranges[-1][1] is None
    )


async def test_chains_are_added_when_a_chains_own_ids_show_more_rows(make_portal: MakePortal) -> None:
    portal = await sparse_ends(make_portal)
    expected = await portal.ids()
    reports: list[IdRanges] = []
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        source = bx.iter_all("crm.deal.list", {"select": ["ID"]}, on_ranges=lambda r: reports.append(r or []))
        got = [int(row["ID"]) for page in [page async for page in source] for row in page]
        stats = bx.stats
    assert sorted(got) == expected and len(got) == len(set(got)), "every row once"
    first_split = reports[1]
    assert len(first_split) <= 2  # both ends said a few hundred rows
    # the chains found the dense middle and were cut in two (how often depends on which answers
    # come first; 2 on a quiet machine)
    assert stats.chain_splits >= 1 and stats.chains == len(first_split) + stats.chain_splits
    assert len(reports[-1]) == stats.chains
    assert all(disjoint(r) for r in reports[1:])
    assert reports[-1][0][0] == first_split[0][0]  # the same id space, cut finer


async def test_an_export_stopped_after_a_split_resumes_without_loss_or_repeats(
    make_portal: MakePortal,
) -> None:
    portal = await sparse_ends(make_portal)
    ranges: IdRanges = []
    seen: list[int] = []
    async with BitrixAsync(portal.webhook, verbose=False, settings=ClientSettings(batch_size=10)) as bx:
        source = bx.iter_all(
            "crm.deal.list", {"select": ["ID"]}, on_ranges=lambda r: ranges.__setitem__(slice(None), r or [])
        )
        async for page in source:
            seen.extend(int(r["ID"]) for r in page)
            if bx.stats.chain_splits and len(seen) >= 3_000:
                break  # everything seen counts as stored
    assert bx.stats.chain_splits
    positions = []
    for after, upto in ranges:
        inside = [i for i in seen if after < i and (upto is None or i <= upto)]
        positions.append((max(inside, default=after), upto))
    resumed: list[int] = []
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        async for page in bx.iter_all("crm.deal.list", {"select": ["ID"]}, ranges=positions):
            resumed.extend(int(r["ID"]) for r in page)
    everything = seen + resumed
    assert sorted(everything) == await portal.ids()
    assert len(everything) == len(set(everything)), "a row came twice"


async def test_an_export_whose_split_was_right_adds_no_chain(make_portal: MakePortal) -> None:
    portal: Portal = await make_portal(deals=12_000)
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        rows = await bx.get_all("crm.deal.list", {"select": ["ID"]})
        assert len(rows) == 12_000
        assert bx.stats.chain_splits == 0 and bx.stats.retries["split_overlap"] == 0
