"""The one place the Dagster assets call the load: an entity, a portal session and a database in,
the engine's :class:`~bitrix24_provider.sync.LoadSummary` out. No Dagster here."""

from __future__ import annotations

from datetime import datetime

from bitrix24_provider.staging.database import Database
from bitrix24_provider.staging.identifiers import TableName
from bitrix24_provider.sync import ClientPortal, LoadRun, LoadSummary, RunIdentity, SqlDestination, run_load

from .entity import Bitrix24Entity
from .session import PortalSession

__all__ = ["run_entity_load", "target_of"]


def target_of(entity: Bitrix24Entity, schema: str | None) -> TableName:
    return TableName.checked(entity.table, schema)


def run_entity_load(
    entity: Bitrix24Entity,
    session: PortalSession,
    db: Database,
    schema: str | None,
    identity: RunIdentity,
    data_interval: tuple[datetime, datetime] | None = None,
) -> LoadSummary:
    """Load *entity* into ``schema.table`` of *db*; raises the load's typed error (the target is then
    as before)."""
    spec = entity.to_spec(use_data_interval=data_interval is not None)
    destination = SqlDestination(db, target_of(entity, schema))
    return run_load(spec, ClientPortal(session.get_client()), destination, LoadRun(identity, data_interval))
