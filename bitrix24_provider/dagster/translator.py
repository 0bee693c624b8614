"""``Bitrix24Translator``: how an entity becomes an asset (key, group, description, metadata, kinds).
Subclass it and override a method to change one of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from .entity import Bitrix24Entity

__all__ = ["ENTITY_METADATA", "Bitrix24Translator"]

#: the metadata entry that carries the entity to the step (JSON)
ENTITY_METADATA = "bitrix24/entity"


class Bitrix24Translator:
    def get_asset_key(self, entity: Bitrix24Entity) -> dg.AssetKey:
        """Default ``["bitrix24", <table>]``."""
        return dg.AssetKey(["bitrix24", entity.table])

    def get_group_name(self, entity: Bitrix24Entity, default: str | None) -> str | None:
        return default

    def get_description(self, entity: Bitrix24Entity) -> str:
        if entity.description:
            return entity.description
        how = f"incremental on {entity.cursor_field}, " if entity.cursor_field else ""
        return f"Bitrix24 {entity.method} loaded into {entity.table} ({how}{entity.write_disposition})"

    def get_metadata(self, entity: Bitrix24Entity) -> Mapping[str, Any]:
        return {
            "bitrix24/method": entity.method,
            "bitrix24/write_disposition": entity.write_disposition,
            **({"bitrix24/cursor_field": entity.cursor_field} if entity.cursor_field else {}),
        }

    def get_kinds(self, entity: Bitrix24Entity) -> set[str]:
        return {"bitrix24", "sql"}

    def get_tags(self, entity: Bitrix24Entity) -> Mapping[str, str]:
        return {}

    def get_asset_spec(self, entity: Bitrix24Entity, group_name: str | None = None) -> dg.AssetSpec:
        return dg.AssetSpec(
            key=self.get_asset_key(entity),
            group_name=self.get_group_name(entity, group_name),
            description=self.get_description(entity),
            metadata={**self.get_metadata(entity), ENTITY_METADATA: entity.to_json()},
            kinds=self.get_kinds(entity),
            tags=self.get_tags(entity),
            skippable=True,
        )
