"""Deletions from offline events (``deletions_from="events"``) over the emulator's HTTP with an OAuth
application: deletes arrive without a key scan, and a crash between the commit and the clear replays
the events harmlessly."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from bitrix24_provider.client import Bitrix, OAuthCredentials
from bitrix24_provider.client.errors import BitrixError
from bitrix24_provider.emulator import Emulator
from bitrix24_provider.staging.database import Database
from bitrix24_provider.staging.deletions import DELETED_AT
from bitrix24_provider.staging.errors import StagingConfigError
from bitrix24_provider.staging.identifiers import TableName
from bitrix24_provider.sync import ClientPortal, LoadRun, LoadSpec, RunIdentity, SqlDestination, run_load
from tests.staging._support import SqlTarget, seeded_ids, stats


def spec(mode: str, **overrides: Any) -> LoadSpec:
    options: dict[str, Any] = {
        "select": ["ID", "TITLE", "DATE_MODIFY"],
        "write_disposition": "merge",
        "primary_key": ("ID",),
        "cursor_field": "DATE_MODIFY",
        "deletions": mode,
        "deletions_from": "events",
    }
    return LoadSpec("crm.deal.list", **{**options, **overrides})


def oauth_client(emulator: Emulator) -> Bitrix:
    config = emulator.config
    fresh = emulator.portal.oauth.issue(emulator.portal.clock.now())["refresh_token"]  # they rotate
    return Bitrix(
        oauth=OAuthCredentials(
            endpoint=emulator.oauth_url,
            client_id=config.client_id,
            client_secret=config.client_secret,
            refresh_token=fresh,
            oauth_server=emulator.token_url,
        )
    )


def load(emulator: Emulator, target: SqlTarget, load_spec: LoadSpec, client: Bitrix | None = None) -> Any:
    destination = SqlDestination(
        Database(sa.create_engine(target.url)), TableName.checked("deals", target.schema), target.conn_id
    )
    bx = client or oauth_client(emulator)
    try:
        return run_load(
            load_spec, ClientPortal(bx), destination, LoadRun(RunIdentity("t", "p", "r", "deals"))
        )
    finally:
        destination.database.dispose()
        bx.close()


def delete(emulator: Emulator, ids: list[int]) -> None:
    for rid in ids:
        emulator.portal.apply("crm.deal.delete", {"id": rid})


def test_deletes_arrive_from_events_without_a_key_scan(make_portal, sql_target):
    emulator = make_portal(deals=200)
    assert load(emulator, sql_target, spec("hard")).rows == 200
    delete(emulator, seeded_ids(emulator)[:10])
    served = stats(emulator)["rows_served"]
    summary = load(emulator, sql_target, spec("hard"))
    assert sql_target.ids("deals") == seeded_ids(emulator)
    assert summary.rows_hard_deleted == 10 and not summary.reconciled
    assert stats(emulator)["rows_served"] - served < 20  # no listing of the 190 ids
    assert emulator.portal.events.queue == {}  # confirmed after the commit


def test_a_crash_between_commit_and_clear_replays_harmlessly(make_portal, sql_target):
    emulator = make_portal(deals=200)
    load(emulator, sql_target, spec("soft"))
    ids = seeded_ids(emulator)
    delete(emulator, ids[:10])
    emulator.portal.reconfigure({"failing_methods": ["event.offline.clear"]})
    with pytest.raises(BitrixError):
        load(emulator, sql_target, spec("soft"))  # the merge committed, the clear failed
    flagged = sql_target.rows(
        f'SELECT "ID", "{DELETED_AT}" FROM {sql_target.qualified("deals")} WHERE "{DELETED_AT}" IS NOT NULL'
    )
    assert sorted(int(r[0]) for r in flagged) == ids[:10]
    assert len(emulator.portal.events.queue) == 10  # reserved, not cleared
    emulator.portal.reconfigure({"failing_methods": []})
    emulator.portal.clock.advance(60)
    delete(emulator, ids[10:13])
    summary = load(emulator, sql_target, spec("soft"))
    again = sql_target.rows(
        f'SELECT "ID", "{DELETED_AT}" FROM {sql_target.qualified("deals")} WHERE "{DELETED_AT}" IS NOT NULL'
    )
    assert sorted(int(r[0]) for r in again) == ids[:13]
    assert set(flagged) <= set(again)  # the replayed events kept their first time
    assert summary.rows_marked_deleted == 3
    assert emulator.portal.events.queue == {}
    assert sql_target.rows(f"SELECT pending_events FROM {sql_target.qualified('_bitrix24_sync_state')}") == [
        ("[]",)
    ]


def test_without_confirm_mode_the_events_are_read_and_cleared_at_once(make_portal, sqlite_target, caplog):
    emulator = make_portal(deals=100, offline_extended=False)
    load(emulator, sqlite_target, spec("hard"))
    delete(emulator, seeded_ids(emulator)[:4])
    with caplog.at_level("WARNING"):
        summary = load(emulator, sqlite_target, spec("hard"))
    assert summary.rows_hard_deleted == 4 and sqlite_target.ids("deals") == seeded_ids(emulator)
    assert "lost" in caplog.text


def test_webhooks_cannot_read_events_and_nothing_is_written(make_portal, sqlite_target):
    emulator = make_portal(deals=50)
    with pytest.raises(BitrixError, match=r"WRONG_AUTH_TYPE|authorization type"):
        load(emulator, sqlite_target, spec("hard"), Bitrix(emulator.webhook_url))
    assert "deals" not in sqlite_target.tables()
    with pytest.raises(StagingConfigError, match="deletions"):
        LoadSpec("crm.deal.list", deletions_from="events")


def test_the_key_scan_stays_the_periodic_safety_net_for_lost_events(make_portal, sql_target):
    emulator = make_portal(deals=200)
    daily = spec("hard", reconcile_every=timedelta(days=1))
    first = load(emulator, sql_target, daily)
    assert first.rows == 200 and first.reconciled  # never reconciled before: the scan runs
    lost = seeded_ids(emulator)[:5]
    delete(emulator, lost)
    emulator.portal.events.queue.clear()  # events the portal never kept (purged, or before the binding)
    heard = seeded_ids(emulator)[:3]
    delete(emulator, heard)

    second = load(emulator, sql_target, daily)  # within the day: events only
    assert not second.reconciled and second.rows_hard_deleted == 3
    assert set(lost) <= set(sql_target.ids("deals"))

    emulator.portal.clock.advance(2 * 24 * 3600)
    third = load(emulator, sql_target, daily)  # a day later: the scan finds what the events missed
    assert third.reconciled and third.rows_hard_deleted == 5
    assert sql_target.ids("deals") == seeded_ids(emulator)
    assert emulator.portal.events.queue == {}
