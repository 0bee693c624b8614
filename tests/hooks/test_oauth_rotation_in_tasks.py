"""OAuth token rotation inside real Airflow task runs: ``dag.test()`` runs the task through the Task
SDK against the in-process execution API, where a task can write Variables but not connections.
The connection is an environment variable, which nothing could update anyway."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from tests.dag_runs import load_dag, returned, use_test_dags
from tests.hooks.rotation_support import fresh_variable, refresh_grant, stored_tokens
from tests.hooks.support import emulator_stats, oauth_extra, running, set_conn

__all__ = ["fresh_variable"]

CONN_ID = "bitrix24_oauth_rotation"
DEALS = 1000

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("fresh_variable")]


@pytest.fixture(autouse=True)
def test_dags_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    use_test_dags(monkeypatch)


def test_a_later_run_authenticates_with_the_token_an_earlier_run_rotated(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # access tokens live 40 portal seconds = 2 real seconds; the task pauses 2.5 s mid-export
    with running(deals=DEALS, token_lifetime=40, time_scale=20) as portal:
        set_conn(monkeypatch, CONN_ID, host=portal.base_url, extra=oauth_extra(portal))
        dag = load_dag("bitrix24_oauth_rotation")
        conf = {"pause": 2.5, "time_scale": 20}
        original = portal.config.refresh_token

        first = dag.test(run_conf=conf)
        assert str(first.state) == "success"
        summary = returned(first, "export")
        assert summary["rows"] == summary["distinct_ids"] == DEALS
        assert summary["token_refreshes"] >= 1  # the access token expired in the middle of the export
        after_first = stored_tokens(CONN_ID)
        assert after_first is not None
        assert after_first["generation"] == emulator_stats(portal)["oauth_refreshes"] == 2
        # Bitrix24 accepts only the newest refresh token; the connection's is spent
        assert refresh_grant(portal, original)["error"] == "invalid_grant"

        second = dag.test(run_conf=conf, logical_date=datetime.now(timezone.utc))
        assert str(second.state) == "success"
        assert returned(second, "export")["rows"] == DEALS
        after_second = stored_tokens(CONN_ID)
        assert after_second is not None
        assert after_second["generation"] == emulator_stats(portal)["oauth_refreshes"] >= 3
        assert after_second["refresh_token"] != after_first["refresh_token"]
        assert refresh_grant(portal, after_first["refresh_token"])["error"] == "invalid_grant"

    output = "".join(capfd.readouterr())
    assert "Stored the rotated OAuth tokens of connection bitrix24_oauth_rotation" in output
    assert "Using the rotated OAuth tokens of connection bitrix24_oauth_rotation" in output
    secrets = [original, portal.config.client_secret]
    secrets += [
        tokens[name] for tokens in (after_first, after_second) for name in ("refresh_token", "access_token")
    ]
    for secret in secrets:
        assert secret not in output
        assert secret not in json.dumps(summary)
