"""Every row exactly once, even when everything goes wrong at once.

Twenty seeded runs against a portal that answers 5 % of requests with 503, 2 % with 500, drops
1 % of connections, slows some responses, silently empties 5 % of batches, expires OAuth tokens
every 30 portal seconds and blocks the method on its operating limit in the middle of the export.
"""

from __future__ import annotations

import pytest

from bitrix24_provider.client import BitrixAsync, ClientSettings, OAuthCredentials

from .conftest import MakePortal, Portal

SCALE = 100.0


@pytest.mark.parametrize("seed", range(20))
async def test_exact_id_set_under_faults(make_portal: MakePortal, seed: int) -> None:
    portal: Portal = await make_portal(
        deals=6000,
        seed=seed,
        simulate_cost=True,
        time_scale=SCALE,
        token_lifetime=30.0,
        operating_limit=4.0,
        operating_window=60.0,
        costs={"base": 0.05, "per_row": 0.0004},
        faults={
            "query_limit": 0.05,
            "server_error": 0.02,
            "drop": 0.01,
            "slow": 0.03,
            "slow_seconds": 0.05,
            "silent_empty": 0.05,
            "seed": seed,
        },
    )
    config = portal.emulator.config
    oauth = OAuthCredentials(
        endpoint=portal.emulator.oauth_url,
        client_id=config.client_id,
        client_secret=config.client_secret,
        refresh_token=config.refresh_token,
        oauth_server=portal.emulator.token_url,
    )
    settings = ClientSettings(
        time_scale=SCALE, operating_time_limit=4.0, operating_window=60.0, max_parallel_chains=4, batch_size=5
    )
    async with BitrixAsync(oauth=oauth, verbose=False, settings=settings) as bx:
        rows = await bx.get_all("crm.deal.list", {"select": ["ID", "TITLE"]})
    ids = [int(r["ID"]) for r in rows]
    assert len(ids) == len(set(ids)), "duplicates"
    assert sorted(ids) == await portal.ids()
    stats = await portal.stats()
    assert sum(stats["faults"].values()) >= 2, "the run saw (almost) no faults"
    assert stats["oauth_refreshes"] >= 1
    assert bx.stats.retries["operation_time_limit"] > 0 or bx.stats.operating_wait_seconds > 0
