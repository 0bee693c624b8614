"""``build_bitrix24_assets`` (one subsettable ``multi_asset`` for a list of entities) and the
decorator ``bitrix24_assets`` for a custom body. Resource keys: ``bitrix24`` and ``destination``.

No ``from __future__ import annotations`` here: Dagster reads the body's annotations (the context
and the resources) at definition time and needs the classes, not strings.
"""

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import dagster as dg

from .entity import Bitrix24Entity
from .resources import Bitrix24Destination, Bitrix24Resource
from .step import check_specs
from .translator import Bitrix24Translator

__all__ = ["bitrix24_assets", "build_bitrix24_assets"]


def _specs(
    entities: Sequence[Bitrix24Entity], translator: Bitrix24Translator, group_name: str | None
) -> tuple[list[dg.AssetSpec], list[dg.AssetCheckSpec]]:
    if not entities:
        raise ValueError("give at least one Bitrix24Entity")
    specs: list[dg.AssetSpec] = []
    checks: list[dg.AssetCheckSpec] = []
    for entity in entities:
        if not isinstance(entity, Bitrix24Entity):
            raise TypeError(f"entities must be Bitrix24Entity objects, got {type(entity).__name__}")
        spec = translator.get_asset_spec(entity, group_name)
        specs.append(spec)
        checks.extend(check_specs(entity, spec.key))
    keys = [s.key for s in specs]
    if len(set(keys)) != len(keys):
        raise ValueError("two entities map to the same asset key; give them different tables or a translator")
    return specs, checks


def bitrix24_assets(
    *,
    entities: Sequence[Bitrix24Entity],
    name: str = "bitrix24_assets",
    group_name: str | None = "bitrix24",
    translator: Bitrix24Translator | None = None,
    partitions_def: dg.PartitionsDefinition[Any] | None = None,
    backfill_policy: dg.BackfillPolicy | None = None,
    pool: str | None = "bitrix24",
    op_tags: dict[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """Decorate a body ``(context, bitrix24: Bitrix24Resource, destination: Bitrix24Destination)``
    that yields ``bitrix24.load(context, destination)`` (and whatever else it wants) into one
    subsettable ``multi_asset`` with an ``AssetSpec`` and checks per entity.

    :param pool: the Dagster pool the step runs in (one per portal keeps steps from overrunning it).
    """
    specs, checks = _specs(entities, translator or Bitrix24Translator(), group_name)
    return dg.multi_asset(
        specs=specs,
        check_specs=checks,
        name=name,
        can_subset=True,
        partitions_def=partitions_def,
        backfill_policy=backfill_policy,
        pool=pool,
        op_tags=op_tags,
    )


def build_bitrix24_assets(
    entities: Sequence[Bitrix24Entity],
    *,
    name: str = "bitrix24_assets",
    group_name: str | None = "bitrix24",
    translator: Bitrix24Translator | None = None,
    partitions_def: dg.PartitionsDefinition[Any] | None = None,
    pool: str | None = "bitrix24",
) -> dg.AssetsDefinition:
    """One ``multi_asset`` loading *entities*; needs the resources ``bitrix24``
    (:class:`Bitrix24Resource`) and ``destination`` (:class:`Bitrix24Destination`)."""

    @bitrix24_assets(
        entities=entities,
        name=name,
        group_name=group_name,
        translator=translator,
        partitions_def=partitions_def,
        pool=pool,
    )
    def _load(
        context: dg.AssetExecutionContext, bitrix24: Bitrix24Resource, destination: Bitrix24Destination
    ) -> Iterator[dg.MaterializeResult[Any]]:
        yield from bitrix24.load(context, destination)

    return _load
