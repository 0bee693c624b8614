"""One step of the Bitrix24 assets: a run failing mid-export re-executed resumes and ends exact;
bad input fails with one typed error before the target changes; secrets stay out of the event log."""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from bitrix24_provider.client.errors import InvalidCredentials, MethodNotFound, ServerError
from bitrix24_provider.dagster import Bitrix24Entity, Bitrix24Resource, build_bitrix24_assets
from bitrix24_provider.staging.errors import StagingConfigError, UnknownFieldError
from bitrix24_provider.sync.resume import ResumePoint
from tests.dagster import jobs
from tests.dagster.support import event_log, materializations, resources
from tests.operators.test_resume import PROBE_ROWS, break_portal_when, outside, parallel_ranges
from tests.staging._support import SqlTarget, configure, reset_counters, seeded_ids, stats


def _checkpoint(target: SqlTarget) -> tuple[ResumePoint, tuple[str, ...]] | None:
    """The resume point in ``_bitrix24_resume`` and its key (pipeline, run, step)."""
    engine = sa.create_engine(target.url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("_bitrix24_resume", schema=target.schema):
                return None
            row = conn.exec_driver_sql(
                f"SELECT checkpoint, dag_id, run_id, task_id FROM {target.qualified('_bitrix24_resume')}"
            ).first()
    finally:
        engine.dispose()
    if row is None:
        return None
    return ResumePoint.from_json(json.loads(row[0])), tuple(row[1:])


def _user_error(result: Any) -> Any:
    """The user code's error of a failed step (Dagster wraps it)."""
    error = result.get_step_failure_events()[0].step_failure_data.error
    assert error is not None
    return error.cause or error


def _environment(monkeypatch: pytest.MonkeyPatch, portal: Any, target: SqlTarget) -> None:
    monkeypatch.setenv("B24_DAGSTER_WEBHOOK", portal.webhook_url)
    monkeypatch.setenv("B24_DAGSTER_URL", target.url)
    monkeypatch.setenv("B24_DAGSTER_SCHEMA", target.schema or "main")


def test_a_failed_run_re_executed_resumes_and_ends_exact(make_portal, sql_target, monkeypatch):
    portal = make_portal(deals=7000, simulate_cost=True)
    _environment(monkeypatch, portal, sql_target)
    job = dg.reconstructable(jobs.load_deals)
    watcher = break_portal_when(
        portal, lambda: _checkpoint(sql_target) is not None, {"faults": {"server_error": 1.0}}
    )
    with dg.instance_for_test() as instance:
        with dg.execute_job(job, instance) as failed:
            assert not failed.success
            assert _user_error(failed).cls_name == ServerError.__name__
        watcher.join()
        stored = _checkpoint(sql_target)
        assert stored is not None
        checkpoint, key = stored
        assert key == ("load_deals", failed.run_id, "bitrix24/deals")
        ranges = parallel_ranges(checkpoint)
        assert "deals" not in sql_target.tables()  # nothing published
        assert checkpoint.position is not None
        staged = sql_target.ids(checkpoint.position.staging)
        assert 0 < len(staged) < 7000

        configure(portal, {"faults": {"server_error": 0.0}})
        reset_counters(portal)
        options = dg.ReexecutionOptions.from_failure(failed.run_id, instance)
        with dg.execute_job(job, instance, reexecution_options=options) as again:
            assert again.success
            found = materializations(again)["bitrix24/deals"]
            lines = event_log(instance, again)
    ids = seeded_ids(portal)
    assert found["bitrix24/resumed"] is True
    assert found["dagster/row_count"] == found["bitrix24/rows_loaded"] == 7000
    assert sql_target.ids("deals") == ids  # exact: no row lost, none twice
    committed = outside(ids, ranges)
    assert stats(portal)["rows_served"] <= len(ids) - len(committed) + PROBE_ROWS
    assert _checkpoint(sql_target) is None
    assert not [t for t in sql_target.tables() if t.startswith("_b24stg_")]
    assert any("Read 7,000 rows" in line for line in lines)


@pytest.mark.parametrize(
    ("entity", "error"),
    [
        (Bitrix24Entity("crm.nothing.list", "deals"), MethodNotFound),
        (Bitrix24Entity("crm.deal.list", "deals", select=["ID", "TITEL"]), UnknownFieldError),
    ],
    ids=["unknown-method", "bad-select"],
)
def test_bad_input_raises_one_typed_error_and_leaves_the_target(make_portal, sql_target, entity, error):
    portal = make_portal(deals=300)
    good = build_bitrix24_assets([Bitrix24Entity("crm.deal.list", "deals")])
    dg.materialize([good], resources=resources(portal, sql_target))
    before = (
        sql_target.tables(),
        sql_target.count("deals"),
        sql_target.rows(_ROWS.format(sql_target.qualified("deals"))),
    )
    reset_counters(portal)
    with pytest.raises(error):
        dg.materialize([build_bitrix24_assets([entity])], resources=resources(portal, sql_target))
    after = (
        sql_target.tables(),
        sql_target.count("deals"),
        sql_target.rows(_ROWS.format(sql_target.qualified("deals"))),
    )
    assert after == before
    assert stats(portal)["rows_served"] == 0  # no list request was sent


_ROWS = 'SELECT "ID", "TITLE" FROM {} ORDER BY "ID"'


def test_a_wrong_webhook_fails_before_anything_is_written(make_portal, sqlite_target):
    portal = make_portal(deals=50)
    wrong = portal.webhook_url.replace(portal.config.webhook_code, "wrongcode12345")
    assets = build_bitrix24_assets([Bitrix24Entity("crm.deal.list", "deals")])
    with pytest.raises(InvalidCredentials):
        dg.materialize(
            [assets],
            resources={**resources(portal, sqlite_target), "bitrix24": Bitrix24Resource(webhook_url=wrong)},
        )
    assert sqlite_target.tables() == set()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "either webhook_url or portal"),
        ({"portal": "example.bitrix24.com"}, "user_id"),
        ({"portal": "example.bitrix24.com", "auth_type": "oauth", "client_id": "app"}, "client_secret"),
        ({"webhook_url": "https://example.bitrix24.com/rest/1/code/", "plan": "gold"}, "plan"),
    ],
)
def test_an_incomplete_resource_is_a_config_error(make_portal, sqlite_target, settings, message):
    portal = make_portal(deals=5)
    assets = build_bitrix24_assets([Bitrix24Entity("crm.deal.list", "deals")])
    with pytest.raises(StagingConfigError, match=message):
        dg.materialize(
            [assets], resources={**resources(portal, sqlite_target), "bitrix24": Bitrix24Resource(**settings)}
        )
    assert stats(portal)["http_requests"] == 0
    assert sqlite_target.tables() == set()


def test_secrets_stay_out_of_the_event_log_and_metadata(make_portal, sqlite_target, monkeypatch):
    portal = make_portal(deals=120)
    code = portal.config.webhook_code
    wrong_code = "wrongsecret98765"
    assets = build_bitrix24_assets([Bitrix24Entity("crm.deal.list", "deals")])
    instance = dg.DagsterInstance.ephemeral()
    monkeypatch.setenv("B24_SECRET_WEBHOOK", portal.webhook_url)
    env_resources = {
        **resources(portal, sqlite_target),
        "bitrix24": Bitrix24Resource(webhook_url=dg.EnvVar("B24_SECRET_WEBHOOK")),
    }
    good = dg.materialize([assets], resources=env_resources, instance=instance)
    assert good.success and sqlite_target.count("deals") == 120
    monkeypatch.setenv("B24_SECRET_WEBHOOK", portal.webhook_url.replace(code, wrong_code))
    bad = dg.materialize([assets], resources=env_resources, instance=instance, raise_on_error=False)
    assert not bad.success
    texts: list[str] = []
    for result in (good, bad):
        texts += event_log(instance, result)
        run = instance.get_run_by_id(result.run_id)
        assert run is not None
        texts.append(json.dumps(run.run_config, default=str))
        texts += [repr(m) for m in materializations(result).values()]
    failure = _user_error(bad)
    assert failure.cls_name == "InvalidCredentials"
    texts.append(failure.to_string())
    joined = "\n".join(texts)
    assert "InvalidCredentials" in joined and "Read 120 rows" in joined  # the log was captured
    assert code not in joined
    assert wrong_code not in joined
