"""Deleted records through the Dagster assets: ``Bitrix24Entity(deletions=...)`` reconciles like the
Airflow operator (the engine's own tests cover the modes in depth, tests/sync/test_deletions.py)."""

from __future__ import annotations

import dagster as dg

from bitrix24_provider.dagster import Bitrix24Entity, build_bitrix24_assets
from tests.dagster.support import materializations, resources
from tests.staging._support import rest, seeded_ids


def test_soft_deletions_flag_what_the_portal_deleted_and_report_it(make_portal, sqlite_target):
    portal = make_portal(deals=300)
    deals = Bitrix24Entity("crm.deal.list", "deals", cursor_field="DATE_MODIFY", lag=0, deletions="soft")
    assets = build_bitrix24_assets([deals])
    assert dg.materialize([assets], resources=resources(portal, sqlite_target)).success
    gone = seeded_ids(portal)[10:17]
    for deal_id in gone:
        rest(portal, "crm.deal.delete", {"id": deal_id})

    second = dg.materialize([assets], resources=resources(portal, sqlite_target))
    found = materializations(second)["bitrix24/deals"]
    assert found["bitrix24/reconciled"] is True
    assert found["bitrix24/rows_marked_deleted"] == len(gone)
    assert found["bitrix24/rows_hard_deleted"] == 0
    flagged = {
        int(r[0])
        for r in sqlite_target.rows('SELECT "ID" FROM deals WHERE "_bitrix24_deleted_at" IS NOT NULL')
    }
    assert flagged == set(gone)


def test_an_entity_refuses_deletions_the_engine_cannot_apply() -> None:
    import pytest

    from bitrix24_provider.staging.errors import StagingConfigError

    with pytest.raises(StagingConfigError, match="deletions"):
        Bitrix24Entity("crm.deal.list", "deals", deletions="sometimes")
