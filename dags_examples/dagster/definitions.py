"""The four CRM entities as Dagster assets: deals and leads incremental (merge on ``ID`` by
``DATE_MODIFY``, watermark in the destination), contacts and companies full (atomic replace).

Settings come from the environment, read when a step runs (``dg.EnvVar``; the UI shows only the
names): ``BITRIX24_WEBHOOK_URL`` (``https://<portal>/rest/<user>/<code>/``) and
``BITRIX24_DESTINATION_URL`` (a SQLAlchemy URL, e.g. ``sqlite:///b24.db``).
``bash scripts/dagster_demo.sh`` runs them against the bundled emulator.

    dagster dev -f dags_examples/dagster/definitions.py
    dagster asset materialize -f dags_examples/dagster/definitions.py --select '*'
"""

from __future__ import annotations

import dagster as dg

from bitrix24_provider.dagster import (
    Bitrix24Destination,
    Bitrix24Entity,
    Bitrix24Resource,
    build_bitrix24_assets,
)
from bitrix24_provider.dagster.sensor import build_bitrix24_change_sensor

ENTITIES = [
    Bitrix24Entity("crm.deal.list", "b24_deals", cursor_field="DATE_MODIFY", select=["*", "UF_*"]),
    Bitrix24Entity("crm.lead.list", "b24_leads", cursor_field="DATE_MODIFY", select=["*", "UF_*"]),
    Bitrix24Entity("crm.contact.list", "b24_contacts"),
    Bitrix24Entity("crm.company.list", "b24_companies"),
]

crm_assets = build_bitrix24_assets(ENTITIES, name="bitrix24_crm")

defs = dg.Definitions(
    assets=[crm_assets],
    jobs=[dg.define_asset_job("bitrix24_crm_load", selection=dg.AssetSelection.assets(crm_assets))],
    sensors=[build_bitrix24_change_sensor(crm_assets, name="bitrix24_crm_changes")],
    resources={
        "bitrix24": Bitrix24Resource(webhook_url=dg.EnvVar("BITRIX24_WEBHOOK_URL")),
        "destination": Bitrix24Destination(url=dg.EnvVar("BITRIX24_DESTINATION_URL")),
    },
)
