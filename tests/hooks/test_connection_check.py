"""What a Bitrix24 connection's user is told, against the emulator over real HTTP: one warning per task
try for a webhook code kept in host, and which field a failed connection test points to."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from bitrix24_provider.hooks.bitrix24 import Bitrix24Hook
from tests.dag_runs import load_dag, use_test_dags
from tests.hooks.support import NO_RETRY, oauth_extra, running, set_conn

WARNING = "keeps the webhook code in Portal URL (host)"
WRONG = "wrongcode0123456789"


@pytest.fixture(scope="module")
def portal():
    with running(deals=120) as emulator:
        yield emulator


def fresh_conn_id() -> str:
    """Warnings are remembered per process: every test its own connection."""
    return f"b24_check_{uuid.uuid4().hex[:10]}"


class TestCodeInHostWarning:
    def test_outside_tasks_once_per_process_whatever_the_hooks_and_requests(self, monkeypatch, portal, capfd):
        conn_id = fresh_conn_id()
        set_conn(monkeypatch, conn_id, host=portal.webhook_url)
        for _ in range(3):
            with Bitrix24Hook(conn_id) as hook:
                assert len(hook.get_df("crm.deal.list", {"select": ["ID"]})) == 120  # it keeps working
                hook.get_df("crm.lead.list", {"select": ["ID"]})
        output = "".join(capfd.readouterr())
        assert output.count(WARNING) == 1
        line = next(line for line in output.splitlines() if WARNING in line)
        assert (
            f"edit connection {conn_id}: Portal URL (host) {portal.base_url}, User ID (login) 1, "
            "Webhook code (password) the code" in line
        )
        assert portal.config.webhook_code not in output

    async def test_the_async_client_warns_too(self, monkeypatch, portal, capfd):
        conn_id = fresh_conn_id()
        set_conn(monkeypatch, conn_id, host=portal.webhook_url)
        for _ in range(2):
            async with await Bitrix24Hook(conn_id).aget_client() as client:
                await client.call("profile")
        assert "".join(capfd.readouterr()).count(WARNING) == 1

    def test_the_documented_layout_does_not_warn(self, monkeypatch, portal, capfd):
        conn_id = fresh_conn_id()
        set_conn(monkeypatch, conn_id, host=portal.base_url, login="1", password=portal.config.webhook_code)
        with Bitrix24Hook(conn_id) as hook:
            hook.get_df("crm.deal.list", {"select": ["ID"]})
        assert WARNING not in "".join(capfd.readouterr())

    @pytest.mark.slow
    def test_in_tasks_once_per_task(self, monkeypatch, portal, airflow_db, capfd):
        """dag.test() runs both tasks in this one process: the warning is per task, not per process."""
        use_test_dags(monkeypatch)
        set_conn(monkeypatch, "bitrix24_code_in_host", host=portal.webhook_url)
        dag_run = load_dag("bitrix24_code_in_host").test()
        assert str(dag_run.state) == "success"
        output = "".join(capfd.readouterr())
        warnings = [line for line in output.splitlines() if WARNING in line]
        assert len(warnings) == 2, warnings
        assert portal.config.webhook_code not in output


def _oauth(portal: Any, **more: Any) -> dict[str, Any]:
    return {"host": portal.base_url, "extra": oauth_extra(portal, **more)}


FAILURES = {
    "wrong-code": (
        lambda p: {"host": p.base_url, "login": "1", "password": WRONG},
        "User ID (login) or Webhook code (password) is wrong (InvalidCredentials:",
    ),
    "wrong-code-in-host": (
        lambda p: {"host": f"{p.base_url}/rest/1/{WRONG}/"},
        "the user id or code in Portal URL (host) is wrong (InvalidCredentials:",
    ),
    "no-code": (
        lambda p: {"host": p.base_url, "login": "1"},
        "lacks the webhook's Webhook code (password)",
    ),
    "no-user": (
        lambda p: {"host": p.base_url, "password": WRONG},
        "lacks the webhook's User ID (login)",
    ),
    "nothing-listening": (
        lambda p: {
            "host": f"http://127.0.0.1:{p.port + 1 if p.port < 65535 else 1}",
            "login": "1",
            "password": WRONG,
        },
        "nothing answers at Portal URL (host) http://127.0.0.1:",
    ),
    "https-on-http": (
        lambda p: {"host": p.base_url.replace("http://", "https://"), "login": "1", "password": WRONG},
        "was not accepted: check Portal URL (host) (https or http), CA bundle (ca_bundle) or Verify SSL",
    ),
    "oauth-client-secret": (
        lambda p: _oauth(p, client_secret=WRONG),
        "OAuth client ID (client_id) or OAuth client secret (client_secret) is wrong",
    ),
    "oauth-refresh-token": (
        lambda p: _oauth(p, refresh_token=WRONG),
        "OAuth refresh token (refresh_token) was rejected",
    ),
    "oauth-missing": (
        lambda p: {"host": p.base_url, "extra": {"auth_type": "oauth", "client_id": "x"}},
        "lacks the extra field(s) OAuth client secret (client_secret), OAuth refresh token (refresh_token)",
    ),
}


class TestTestConnectionNamesTheField:
    @pytest.mark.parametrize("case", list(FAILURES), ids=list(FAILURES))
    def test_failures(self, monkeypatch, portal, case):
        fields, expected = FAILURES[case]
        conn_id = fresh_conn_id()
        set_conn(monkeypatch, conn_id, **fields(portal))
        hook = Bitrix24Hook(conn_id, client_kwargs=NO_RETRY)
        hook.token_reload_pauses = ()  # no stored newer token to wait for
        status, message = hook.test_connection()
        assert status is False
        assert expected in message
        for secret in (WRONG, portal.config.webhook_code, portal.config.client_secret):
            assert secret not in message

    def test_an_html_answer_points_to_the_portal_url(self, monkeypatch):
        with running(faults={"html": 1.0}) as html:
            conn_id = fresh_conn_id()
            set_conn(monkeypatch, conn_id, host=html.base_url, login="1", password=html.config.webhook_code)
            status, message = Bitrix24Hook(conn_id, client_kwargs=NO_RETRY).test_connection()
            assert status is False
            assert f"Portal URL (host) {html.base_url} answers, but not as a Bitrix24 REST API" in message

    def test_an_unusable_shared_throttle(self, monkeypatch, portal):
        pytest.importorskip("redis", reason="the 'redis' package is not installed (extra [redis])")
        conn_id = fresh_conn_id()
        extra = {"shared_throttle_dsn": "redis://:redispw-4711@127.0.0.1:1/0"}
        set_conn(
            monkeypatch,
            conn_id,
            host=portal.base_url,
            login="1",
            password=portal.config.webhook_code,
            extra=extra,
        )
        status, message = Bitrix24Hook(conn_id).test_connection()
        assert status is False
        assert (
            "Shared throttle (Redis URL) (shared_throttle_dsn) cannot be used (SharedThrottleError:"
            in message
        )
        assert "redispw-4711" not in message

    def test_an_unusable_lock_file_directory(self, monkeypatch, portal, tmp_path):
        (tmp_path / "a-file").write_text("")  # the directory cannot be created: a file is in the way
        conn_id = fresh_conn_id()
        extra = {"shared_throttle_dsn": f"file://{tmp_path}/a-file/throttle"}
        set_conn(
            monkeypatch,
            conn_id,
            host=portal.base_url,
            login="1",
            password=portal.config.webhook_code,
            extra=extra,
        )
        status, message = Bitrix24Hook(conn_id).test_connection()
        assert status is False
        hint = "the lock-file shared throttle cannot be used: check Shared throttle (Redis URL) ("
        assert hint in message

    def test_none_keeps_each_task_on_its_own_throttle(self, monkeypatch, portal):
        conn_id = fresh_conn_id()
        set_conn(monkeypatch, conn_id, host=portal.webhook_url, extra={"shared_throttle_dsn": "none"})
        with Bitrix24Hook(conn_id) as hook:
            assert type(hook.get_client().aio.throttle).__name__ == "Throttle"  # not SharedThrottle
            status, _ = hook.test_connection()
        assert status is True

    def test_success_with_the_code_in_host_says_where_to_move_it(self, monkeypatch, portal):
        conn_id = fresh_conn_id()
        set_conn(monkeypatch, conn_id, host=portal.webhook_url)
        status, message = Bitrix24Hook(conn_id).test_connection()
        assert status is True
        assert message.startswith(f"Connection successfully tested: {portal.base_url} answered as user 1")
        assert "The webhook code is in Portal URL (host), where Airflow shows it" in message
        assert "Webhook code (password) the code" in message
        assert portal.config.webhook_code not in message

    def test_success_with_the_documented_layout_says_nothing_more(self, monkeypatch, portal):
        conn_id = fresh_conn_id()
        set_conn(monkeypatch, conn_id, host=portal.base_url, login="1", password=portal.config.webhook_code)
        assert Bitrix24Hook(conn_id).test_connection() == (
            True,
            f"Connection successfully tested: {portal.base_url} answered as user 1",
        )
