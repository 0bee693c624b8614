"""``Bitrix24LoadCollectionComponent``: the Bitrix24 loads as a YAML component (Dagster components).

``defs.yaml``::

    type: bitrix24_provider.dagster.component.Bitrix24LoadCollectionComponent
    attributes:
      bitrix24:
        webhook_url: {env: BITRIX24_WEBHOOK_URL}
        plan: standard
      destination:
        url: {env: BITRIX24_DESTINATION_URL}
      entities:
        - {method: crm.deal.list, table: deals, cursor_field: DATE_MODIFY}
        - {method: crm.contact.list, table: contacts}
      sensor: true

A setting written ``{env: NAME}`` becomes ``dg.EnvVar("NAME")``: Dagster reads it when the step runs
and shows only the variable's name. (``"{{ env.NAME }}"`` would resolve when the definitions load,
and the value would be shown with the resource's configuration.)

Registered for ``dg list components`` through the ``dagster_dg_cli.registry_modules`` entry point.
No ``from __future__ import annotations`` in this module: Dagster resolves the component's fields
from their runtime annotations.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from .assets import build_bitrix24_assets
from .entity import DEFAULT_LAG, Bitrix24Entity
from .resources import Bitrix24Destination, Bitrix24Resource
from .sensor import build_bitrix24_change_sensor

__all__ = ["Bitrix24EntityModel", "Bitrix24LoadCollectionComponent"]


class Bitrix24EntityModel(dg.Model):
    """One entity of the component (the fields of :class:`Bitrix24Entity`)."""

    method: str
    table: str
    write_disposition: str | None = None
    primary_key: list[str] | None = None
    cursor_field: str | None = None
    select: list[str] | None = None
    filter: dict[str, Any] | None = None
    request_params: dict[str, Any] | None = None
    lag: float = DEFAULT_LAG
    column_policy: str = "add"
    chunk_rows: int = 2500
    deletions: str | None = None
    max_deletions: int | float = 0.10
    reconcile_every: float | None = None
    deletions_from: str = "scan"
    description: str | None = None

    def entity(self) -> Bitrix24Entity:
        return Bitrix24Entity(**self.model_dump())


def _settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """``{env: NAME}`` values as ``dg.EnvVar(NAME)``."""
    resolved: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, Mapping) and set(value) == {"env"}:
            resolved[name] = dg.EnvVar(str(value["env"]))
        else:
            resolved[name] = value
    return resolved


class Bitrix24LoadCollectionComponent(dg.Component, dg.Model, dg.Resolvable):
    """Bitrix24 lists loaded into a SQL database: one subsettable multi-asset, its checks, the
    resources ``bitrix24`` and ``destination``, and optionally a change sensor."""

    bitrix24: dict[str, Any]
    destination: dict[str, Any]
    entities: list[Bitrix24EntityModel]
    name: str = "bitrix24_assets"
    group_name: str | None = "bitrix24"
    pool: str | None = "bitrix24"
    sensor: bool | int = False

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        assets = build_bitrix24_assets(
            [model.entity() for model in self.entities],
            name=self.name,
            group_name=self.group_name,
            pool=self.pool,
        )
        sensors = []
        if self.sensor is not False and any(model.cursor_field for model in self.entities):
            interval = 60 if self.sensor is True else int(self.sensor)
            sensors.append(
                build_bitrix24_change_sensor(
                    assets, name=f"{self.name}_changes", minimum_interval_seconds=interval
                )
            )
        return dg.Definitions(
            assets=[assets],
            sensors=sensors,
            resources={
                "bitrix24": Bitrix24Resource(**_settings(self.bitrix24)),
                "destination": Bitrix24Destination(**_settings(self.destination)),
            },
        )
