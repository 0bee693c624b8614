"""The number of keyset chains follows from what the portal reports: the rule as a pure function, and
an export over HTTP that splits wider on a portal whose pages cost more."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bitrix24_provider.client import BitrixAsync
from bitrix24_provider.client.concurrency import Pace, chain_count
from bitrix24_provider.client.settings import ClientSettings

from .conftest import MakePortal, Portal

#: the bundled emulator's default costs as the client sees them: a page of 50 full rows 32 ms, 30 ms
#: per batch, a fresh standard-plan bucket (49 usable slots, two of them taken by the first requests)
FAST = Pace(
    rows=100_000, page_seconds=0.032, overhead_seconds=0.03, round_trip=0.01, bucket_free=47, drain_rate=2
)

paces = st.builds(
    Pace,
    rows=st.floats(min_value=0, max_value=5_000_000),
    page_seconds=st.floats(min_value=0, max_value=5),
    overhead_seconds=st.floats(min_value=0, max_value=1),
    round_trip=st.floats(min_value=0, max_value=2),
    bucket_free=st.floats(min_value=-5, max_value=300),
    drain_rate=st.floats(min_value=0.1, max_value=10),
    operating_left=st.none() | st.floats(min_value=-100, max_value=600),
    batch_size=st.integers(min_value=1, max_value=50),
    cap=st.none() | st.integers(min_value=1, max_value=100),
)


def test_a_large_export_gets_one_batch_round_of_chains() -> None:
    assert chain_count(FAST) == math.ceil((100_000 / 50 + 1) / 50) == 41
    assert chain_count(replace(FAST, rows=20_000)) == 9
    assert chain_count(replace(FAST, rows=120)) == 1
    assert chain_count(replace(FAST, cap=16)) == 16  # max_parallel_chains caps it


def test_the_bucket_and_the_budget_lower_it() -> None:
    # 500k rows want 201 batches; 47 free slots and 2/s while a 1.65 s batch runs allow 50
    assert chain_count(replace(FAST, rows=500_000)) == 50
    # after a 503 the bucket counts as full and drains at half the rate: what drains in one batch
    assert chain_count(replace(FAST, bucket_free=0, drain_rate=1)) == 1
    slow = replace(FAST, bucket_free=0, drain_rate=1, page_seconds=0.08, overhead_seconds=0.1)
    assert chain_count(slow) == 4  # slower pages: more drains while a batch runs
    # 30 s of operating time left pays for 18 batches of 50 pages of 32 ms
    assert chain_count(replace(FAST, operating_left=30.0)) == 18


@given(paces)
def test_the_rule_stays_within_every_limit(pace: Pace) -> None:
    n = chain_count(pace)
    assert n >= 1
    if pace.cap is not None:
        assert n <= pace.cap
    rounds = math.ceil((math.ceil(pace.rows / 50) + 1) / pace.batch_size)
    assert n <= max(1, rounds)
    assert n <= max(1, math.floor(max(0.0, pace.bucket_free) + pace.drain_rate * pace.batch_seconds))


@given(paces, st.floats(min_value=1, max_value=10))
def test_more_rows_slower_pages_and_a_freer_bucket_never_mean_fewer_chains(pace: Pace, factor: float) -> None:
    n = chain_count(pace)
    assert chain_count(replace(pace, rows=pace.rows * factor)) >= n
    assert chain_count(replace(pace, round_trip=pace.round_trip * factor, operating_left=None)) >= min(
        n, chain_count(replace(pace, operating_left=None))
    )
    assert chain_count(replace(pace, bucket_free=pace.bucket_free + factor)) >= n
    if pace.operating_left is not None:
        assert chain_count(replace(pace, operating_left=pace.operating_left / factor)) <= n


async def _chains(portal: Portal, settings: ClientSettings) -> tuple[int, Any]:
    reported: list[list[Any]] = []
    rows: list[Any] = []
    async with BitrixAsync(portal.webhook, verbose=False, settings=settings) as bx:
        async for page in bx.iter_all("crm.deal.list", {"select": ["ID"]}, on_ranges=reported.append):
            rows.extend(page)
    assert sorted(int(r["ID"]) for r in rows) == await portal.ids()
    return len(reported[-1]), await portal.stats()


async def test_a_portal_with_slower_pages_gets_more_chains(make_portal: MakePortal) -> None:
    """A small bucket (6 requests, 2/s) limits the chains to what drains while one batch runs: the
    portal's reported page time (32 ms against 80 ms a page, 30 ms against 100 ms a batch) decides.
    The emulator reports its costs without waiting for them (``simulate_cost`` off)."""
    settings = ClientSettings(request_pool_size=6)
    fast: Portal = await make_portal(deals=20_000)
    slow_costs = {"base": 0.03, "per_row": 0.001, "batch_overhead": 0.0, "per_request": 0.1}
    slow: Portal = await make_portal(deals=20_000, costs=slow_costs)
    fast_chains, fast_stats = await _chains(fast, settings)
    slow_chains, slow_stats = await _chains(slow, settings)
    # 6 - 1 headroom - 2 requests sent = 3 free (and what drained since), plus 2/s x 1.65 s of a
    # fast batch (6), or 2/s x 4.1 s of a slow one (11): then one batch round of 8 or 9 (the estimate)
    assert fast_chains == 6 and slow_chains in (8, 9)
    assert "503" not in fast_stats["http_by_status"] and "503" not in slow_stats["http_by_status"]
