"""A job Dagster can reconstruct (for re-execution): settings come from the environment
(``B24_DAGSTER_WEBHOOK``, ``B24_DAGSTER_URL``, ``B24_DAGSTER_SCHEMA``: ``main`` on SQLite), all
through ``EnvVar``."""

from __future__ import annotations

import dagster as dg

from bitrix24_provider.dagster import (
    Bitrix24Destination,
    Bitrix24Entity,
    Bitrix24Resource,
    build_bitrix24_assets,
)

#: four parallel chains of batches of 10 pages: a 7,000-row export takes several rounds of requests
SMALL_BATCHES = {
    "batch_size": 10,
    "max_parallel_chains": 4,
    "retry": {"max_attempts": 2, "base": 0.01, "cap": 0.02},
}
CHUNK_ROWS = 500

DEALS = Bitrix24Entity("crm.deal.list", "deals", chunk_rows=CHUNK_ROWS)
DEALS_KEY = dg.AssetKey(["bitrix24", "deals"])


def definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=[build_bitrix24_assets([DEALS])],
        jobs=[dg.define_asset_job("load_deals", selection=[DEALS_KEY], executor_def=dg.in_process_executor)],
        resources={
            "bitrix24": Bitrix24Resource(
                webhook_url=dg.EnvVar("B24_DAGSTER_WEBHOOK"), client_settings=SMALL_BATCHES
            ),
            # EnvVar: Dagster caches the reconstructed job, so plain os.environ reads would stick
            "destination": Bitrix24Destination(
                url=dg.EnvVar("B24_DAGSTER_URL"), schema=dg.EnvVar("B24_DAGSTER_SCHEMA")
            ),
        },
    )


def load_deals() -> dg.JobDefinition:
    return definitions().resolve_job_def("load_deals")
