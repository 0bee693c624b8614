"""Writes under faults: a portal that fails some requests, a client that gives up quickly, and the
portal's own account of what was written (its counters and data) to hold the outcomes against."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from bitrix24_provider.client import BitrixAsync, BitrixError, ClientSettings, OutcomeUnknown, RetryPolicy

from .conftest import MakePortal, Portal

SEEDS = range(20)
ITEMS = 300
BATCH = 10  # 30 batches per call: every seed meets the faults several times
#: ambiguous faults after the call ran, and before it (the client cannot tell them apart)
AFTER = ("truncated", "server_error_after", "drop_after", "slow_after")
BEFORE = ("server_error", "drop", "html")
TIME_SCALE = 1000.0  # the portal's 60 s request cap passes in 0.06 s


def faulty(knob: str = "", **changes: Any) -> ClientSettings:
    """Quick retries, the settle wait fast-forwarded; against ``slow_after`` a timeout that gives up
    on a slow answer (any answer may come that late on a busy machine: elsewhere 5 s)."""
    retry = RetryPolicy(max_attempts=4, base=0.001, cap=0.002)
    settings: dict[str, Any] = {
        "batch_size": BATCH,
        "request_timeout": 0.25 if knob == "slow_after" else 5.0,
        "retry": retry,
        "time_scale": TIME_SCALE,
    }
    return ClientSettings(**{**settings, **changes})


async def faulty_portal(make_portal: MakePortal, seed: int, **faults: Any) -> Portal:
    """A small portal whose requests fail with the given probabilities (answers late by 0.5 s)."""
    portal: Portal = await make_portal(
        deals=5,
        leads=0,
        contacts=0,
        companies=0,
        items=0,
        tasks=0,
        time_scale=TIME_SCALE,
        faults={**faults, "seed": seed, "slow_seconds": 0.5},
    )
    return portal


def titles(marker: str) -> list[str]:
    return [f"{marker} #{n}" for n in range(ITEMS)]


async def portal_truth(portal: Portal, marker: str) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """The portal's stats of the call, then (faults off) the ids of the deals of each title."""
    while portal.emulator.portal.counters.in_flight:  # slow answers finish after the client gave up
        await asyncio.sleep(0.01)
    stats = await portal.stats()
    await portal.configure(faults={knob: 0.0 for knob in (*AFTER, *BEFORE, "query_limit")})
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        rows = await bx.get_all("crm.deal.list", {"filter": {"%TITLE": marker}, "select": ["ID", "TITLE"]})
    made: dict[str, list[int]] = {}
    for row in rows:
        made.setdefault(row["TITLE"], []).append(int(row["ID"]))
    return stats, made


def truthful(
    outcomes: Sequence[Any], made: dict[str, list[int]], expected: Sequence[str]
) -> tuple[list[int], list[int], list[int]]:
    """The positions that succeeded, failed and are unknown, after checking them against the
    portal: nothing exists twice, a succeeded add exists once with the id it returned, a failed one
    does not exist, an unknown one at most once."""
    assert len(outcomes) == len(expected)
    assert all(len(ids) == 1 for ids in made.values()), {t: ids for t, ids in made.items() if len(ids) > 1}
    assert set(made) <= set(expected)
    unknown = [n for n, o in enumerate(outcomes) if isinstance(o, OutcomeUnknown)]
    failed = [n for n, o in enumerate(outcomes) if isinstance(o, BitrixError) and n not in unknown]
    succeeded = [n for n, o in enumerate(outcomes) if not isinstance(o, BitrixError)]
    assert len(succeeded) + len(failed) + len(unknown) == len(expected)
    for n in succeeded:
        result = outcomes[n]
        found = result["id"] if isinstance(result, dict) else result  # crm.item.add: the item
        assert made.get(expected[n]) == [found], (n, result)
    assert not [n for n in failed if expected[n] in made]
    assert all(outcomes[n].index == n for n in unknown)
    return succeeded, failed, unknown
