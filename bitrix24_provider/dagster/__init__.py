"""Bitrix24 loads as Dagster assets (extra ``[dagster]``). Never imports Airflow.

Five lines::

    import dagster as dg
    from bitrix24_provider.dagster import (Bitrix24Destination, Bitrix24Entity, Bitrix24Resource,
                                           build_bitrix24_assets)

    deals = Bitrix24Entity("crm.deal.list", "deals", cursor_field="DATE_MODIFY")
    defs = dg.Definitions(
        assets=[build_bitrix24_assets([deals])],
        resources={"bitrix24": Bitrix24Resource(webhook_url=dg.EnvVar("BITRIX24_WEBHOOK_URL")),
                   "destination": Bitrix24Destination(url=dg.EnvVar("BITRIX24_DESTINATION_URL"))},
    )
"""

from bitrix24_provider.dagster.assets import bitrix24_assets, build_bitrix24_assets
from bitrix24_provider.dagster.entity import Bitrix24Entity
from bitrix24_provider.dagster.resources import Bitrix24Destination, Bitrix24Resource
from bitrix24_provider.dagster.translator import Bitrix24Translator

__all__ = [
    "Bitrix24Destination",
    "Bitrix24Entity",
    "Bitrix24Resource",
    "Bitrix24Translator",
    "bitrix24_assets",
    "build_bitrix24_assets",
]
