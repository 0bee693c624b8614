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
    rows_in_flight=st.none() | st.integers(min_value=1, max_value=1_000_000),
)


def test_a_large_export_gets_what_the_bucket_takes_a_small_one_few_chains() -> None:
    assert chain_count(FAST) == 47  # 2,001 pages: 81 chains of 25 would do, the bucket takes 47
    assert chain_count(replace(FAST, rows=500_000)) == 47
    assert chain_count(replace(FAST, rows=20_000)) == 17  # 401 pages, 25 a chain
    assert chain_count(replace(FAST, rows=2_000)) == 2
    assert chain_count(replace(FAST, rows=120)) == 1
    assert chain_count(replace(FAST, cap=16)) == 16  # max_parallel_chains caps it
    # a 1 s round trip: a chain's pages must outweigh it (32 pages of 32 ms)
    assert chain_count(replace(FAST, rows=20_000, round_trip=1.0)) == math.ceil(401 / 33)


def test_a_large_export_holds_no_more_rows_than_the_memory_bound() -> None:
    # the bucket drains at once (a portal without limits, or a clock fast-forwarded a million times):
    # 1M rows would take 801 chains of 25 pages, each holding up to two batches
    unlimited = replace(FAST, rows=1_000_000, bucket_free=10_000, drain_rate=10_000)
    assert chain_count(unlimited) == 801
    assert chain_count(replace(unlimited, rows_in_flight=125_000)) == 25  # 2 batches of 2,500 rows each
    # an export that fits the bound is not limited by it (it cannot hold more rows than it has)
    assert chain_count(replace(FAST, rows_in_flight=125_000)) == 47


def test_the_bucket_and_the_budget_lower_it() -> None:
    # after a 503 the bucket counts as full and drains at half the rate: what drains in one round
    assert chain_count(replace(FAST, bucket_free=0, drain_rate=1)) == 1
    slow = replace(FAST, bucket_free=0, drain_rate=1, page_seconds=0.08, overhead_seconds=0.1)
    assert chain_count(slow) == 2  # slower pages: more drains while a round of 43 pages runs
    # 30 s of operating time left pays for 37 chains of 25 pages of 32 ms (wanted: 81)
    assert chain_count(replace(FAST, operating_left=30.0)) == 37
    # a shared bucket that others filled: what is left of it
    assert chain_count(replace(FAST, bucket_free=12.7)) == 12


@given(paces)
def test_the_rule_stays_within_every_limit(pace: Pace) -> None:
    n = chain_count(pace)
    assert n >= 1
    if pace.cap is not None:
        assert n <= pace.cap
    if pace.rows_in_flight is not None and pace.rows > pace.rows_in_flight and n > 1:
        assert n * 2 * pace.batch_size * 50 <= pace.rows_in_flight  # two batches a chain fit
    pages = math.ceil(pace.rows / 50) + 1
    assert n <= max(1, math.ceil(pages / math.ceil(pace.batch_size / 2)))  # half a batch a chain at least
    if pace.bucket_free >= 1 and n > 1:  # no more than the bucket takes now, or drains in one round
        per_chain = min(pace.batch_size, math.ceil(pages / n))
        rounds = per_chain * pace.page_seconds + pace.overhead_seconds + pace.round_trip
        assert n <= max(math.floor(pace.bucket_free), pace.drain_rate * rounds + 1)


@given(paces, st.floats(min_value=1, max_value=10))
def test_more_rows_and_a_freer_bucket_never_mean_fewer_chains(pace: Pace, factor: float) -> None:
    n = chain_count(pace)
    unbounded = replace(pace, operating_left=None)
    if chain_count(replace(unbounded, rows=pace.rows * factor)) < chain_count(unbounded):
        # more rows can only lose chains to a shorter round trip term, never to the bucket's slots
        assert chain_count(replace(unbounded, rows=pace.rows * factor)) >= math.floor(pace.bucket_free)
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
    """A bucket of 3 requests draining 1 a second is full after the first two requests: the chains
    are what drains while one round runs, so the portal's reported page time decides (32 ms a page
    against 400 ms). The emulator reports its costs without waiting for them (``simulate_cost``
    off); the bucket's drain since then (real time) adds a slot only after a second."""
    settings = ClientSettings(request_pool_size=3, requests_per_second=1.0)
    fast: Portal = await make_portal(deals=3_000)
    slow_costs = {"base": 0.2, "per_row": 0.004, "batch_overhead": 0.0, "per_request": 0.1}
    slow: Portal = await make_portal(deals=3_000, costs=slow_costs)
    fast_chains, fast_stats = await _chains(fast, settings)
    slow_chains, slow_stats = await _chains(slow, settings)
    # 61 pages, 25 a chain at least: 3 chains wanted; a round of 21 pages drains 0.7 requests (fast)
    # or 8.5 (slow)
    assert fast_chains < slow_chains == 3
    assert "503" not in fast_stats["http_by_status"] and "503" not in slow_stats["http_by_status"]


async def test_an_export_larger_than_the_memory_bound_runs_fewer_chains(make_portal: MakePortal) -> None:
    """6,000 rows in batches of 5 pages: dozens of chains of 3 pages without a bound; a bound of
    1,000 rows in flight (two batches of 250 rows a chain) leaves 2."""
    # a portal each: the second export would find the bucket (shared on this machine) spent
    free, _ = await _chains(
        await make_portal(deals=6_000), ClientSettings(batch_size=5, max_rows_in_flight=None)
    )
    bound, _ = await _chains(
        await make_portal(deals=6_000), ClientSettings(batch_size=5, max_rows_in_flight=1_000)
    )
    assert free > 2 and bound == 2


async def test_an_export_has_a_request_in_flight_for_every_chain(make_portal: MakePortal) -> None:
    """~25 chains (30k rows) against 16 requests in flight by default (and 20 connections): the export
    widens both, and every chain's batch is at the portal at once (each takes 0.6 real s there)."""
    portal: Portal = await make_portal(
        deals=30_000, simulate_cost=True, time_scale=2.0, costs={"base": 0.05, "per_row": 0.0}
    )
    chains, stats = await _chains(portal, ClientSettings(time_scale=2.0))
    assert chains > 20
    assert stats["max_in_flight"] == chains
