"""``build_bitrix24_change_sensor``: the Dagster counterpart of ``Bitrix24ChangeSensor``.

Each tick asks, per incremental entity, one cheap list call "did anything change after the
watermark?" (:class:`~bitrix24_provider.hooks.changes.ChangeCheck`: ``start=-1``, newest first, only
the id and the cursor) and requests one run of the assets whose entity changed. The watermarks live
in the sensor's cursor (JSON, per asset key); each stays ``lag`` behind the portal's time of the
check, so an edit in the same second is seen again by the next tick. The loads keep their own
watermark in the destination, so a run requested for a change also picks up anything older it missed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import dagster as dg

from bitrix24_provider.hooks.changes import ChangeCheck, normalize_watermark

from .entity import Bitrix24Entity
from .resources import Bitrix24Destination, Bitrix24Resource
from .translator import ENTITY_METADATA

__all__ = ["build_bitrix24_change_sensor"]

#: the watermark of an entity the sensor has not checked yet: every record counts as changed
EPOCH = "2000-01-01T00:00:00+00:00"


def _entities(assets: dg.AssetsDefinition) -> dict[dg.AssetKey, Bitrix24Entity]:
    found = {}
    for key, spec in assets.specs_by_key.items():
        raw = spec.metadata.get(ENTITY_METADATA)
        if raw is not None:
            entity = Bitrix24Entity.from_json(str(raw))
            if entity.cursor_field:
                found[key] = entity
    return found


def build_bitrix24_change_sensor(
    assets: dg.AssetsDefinition,
    *,
    name: str = "bitrix24_changes",
    asset_keys: Sequence[dg.AssetKey] | None = None,
    start: str | None = None,
    lag: float = 5.0,
    minimum_interval_seconds: int = 60,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """A sensor over the incremental entities of *assets* (those with a ``cursor_field``).

    :param asset_keys: watch only these (default: every incremental entity of *assets*).
    :param start: the first watermark (ISO 8601; default: any record counts, so the first tick
        requests every watched asset).
    :param lag: seconds the stored watermark stays behind the portal's time of the check.
    """
    watched = _entities(assets)
    if asset_keys is not None:
        unknown = [k.to_user_string() for k in asset_keys if k not in watched]
        if unknown:
            raise ValueError(
                f"not incremental Bitrix24 assets of {assets.node_def.name}: {', '.join(unknown)}"
            )
        watched = {k: watched[k] for k in asset_keys}
    if not watched:
        raise ValueError("the sensor needs at least one Bitrix24 entity with a cursor_field")
    first = normalize_watermark(start) if start is not None else EPOCH

    @dg.sensor(
        name=name,
        asset_selection=list(watched),
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description="Requests a run of the Bitrix24 assets whose records changed since the last tick",
    )
    def _sensor(
        context: dg.SensorEvaluationContext, bitrix24: Bitrix24Resource, destination: Bitrix24Destination
    ) -> dg.SensorResult | dg.SkipReason:
        marks: dict[str, Any] = json.loads(context.cursor) if context.cursor else {}
        # OAuth: a refresh rotates the token, which must go where the assets' runs read it from
        db = destination.database() if bitrix24.connection_config().auth_type == "oauth" else None
        session = bitrix24.session(destination, db)
        changed: list[dg.AssetKey] = []
        try:
            client = session.get_client()
            for key, entity in watched.items():
                label = key.to_user_string()
                check = ChangeCheck(
                    entity.method,
                    str(entity.cursor_field),
                    str(marks.get(label) or first),
                    entity.filter,
                    entity.request_params,
                    lag,
                )
                found = check.evaluate(client.request(entity.method, check.params()))
                if found is not None:
                    changed.append(key)
                    marks[label] = found["watermark"]
                    context.log.info(
                        "%s: %s changed record(s), the newest at %s", label, found["count"], found["newest"]
                    )
        finally:
            session.close()
            if db is not None:
                db.dispose()
        cursor = json.dumps(marks, sort_keys=True)
        if not changed:
            return dg.SkipReason("No Bitrix24 record changed since the last check")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"{name}:{cursor}", asset_selection=changed)], cursor=cursor
        )

    return _sensor
