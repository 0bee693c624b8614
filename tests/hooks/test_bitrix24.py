"""Bitrix24Hook against the bundled emulator over real HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pandas as pd
import pytest

from bitrix24_provider.client import Bitrix, BitrixAsync, ClientSettings, InvalidCredentials
from bitrix24_provider.hooks.bitrix24 import (
    Bitrix24Hook,
    ChangeCheck,
    normalize_watermark,
    parse_connection,
)
from bitrix24_provider.hooks.connection import webhook_connection_fields
from tests.conftest import airflow_at_least
from tests.hooks.support import (
    CONN_ID,
    NO_RETRY,
    emulator_ids,
    emulator_stats,
    issue_token,
    newest,
    oauth_extra,
    rest,
    running,
    set_conn,
    webhook_conn,
)

WRONG_CODE = "wrongcode0123456789"


@pytest.fixture
def portal():
    with running() as emulator:
        yield emulator


def deal_ids(hook: Bitrix24Hook) -> list[int]:
    return sorted(int(i) for i in hook.get_df("crm.deal.list", {"select": ["ID"]})["ID"])


class TestConnectionForms:
    """Every supported way of filling in the connection reaches the portal."""

    def test_init_is_lazy(self, monkeypatch):
        monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_CONN", raising=False)
        hook = Bitrix24Hook("no_such_conn", client_kwargs={"time_scale": 2})
        assert hook.bitrix24_conn_id == "no_such_conn"
        assert hook.client_kwargs == {"time_scale": 2}
        assert hook._config is None and hook._client is None
        with pytest.raises(Exception, match="no_such_conn"):
            hook.get_client()

    def test_class_identity(self):
        assert Bitrix24Hook.conn_name_attr == "bitrix24_conn_id"
        assert Bitrix24Hook.default_conn_name == "bitrix24_default"
        assert Bitrix24Hook.conn_type == "bitrix24"
        assert Bitrix24Hook.hook_name == "Bitrix24"
        assert Bitrix24Hook().bitrix24_conn_id == "bitrix24_default"

    def test_full_webhook_url_in_host_ignores_login_and_password(self, monkeypatch, portal):
        set_conn(monkeypatch, host=portal.webhook_url, login="999", password="ignored")
        with Bitrix24Hook() as hook:
            assert hook.config.auth_type == "webhook"
            assert hook.config.webhook_url == portal.webhook_url
            assert deal_ids(hook) == sorted(emulator_ids(portal))

    def test_portal_url_login_password(self, monkeypatch, portal):
        set_conn(monkeypatch, host=portal.base_url, login="1", password=portal.config.webhook_code)
        with Bitrix24Hook() as hook:
            assert hook.config.endpoint == portal.webhook_url
            assert deal_ids(hook) == sorted(emulator_ids(portal))

    def test_a_webhook_url_split_into_the_documented_fields(self, monkeypatch, portal):
        fields = webhook_connection_fields(portal.webhook_url)
        assert fields == {"host": portal.base_url, "login": "1", "password": portal.config.webhook_code}
        set_conn(monkeypatch, **fields)
        with Bitrix24Hook() as hook:
            assert hook.config.endpoint == portal.webhook_url
            assert (hook.config.user_id, hook.config.code_in_host) == ("1", False)
        https = webhook_connection_fields("https://acme.bitrix24.com/b24/rest/7/code/")
        assert https == {"host": "acme.bitrix24.com/b24", "login": "7", "password": "code"}
        with pytest.raises(ValueError, match="not a webhook URL"):
            webhook_connection_fields(portal.base_url)

    def test_bare_host_with_http_schema_and_port(self, monkeypatch, portal):
        set_conn(
            monkeypatch,
            host="127.0.0.1",
            port=portal.port,
            schema="http",
            login="1",
            password=portal.config.webhook_code,
        )
        with Bitrix24Hook() as hook:
            assert hook.config.portal_url == portal.base_url
            assert len(deal_ids(hook)) == 200

    def test_scheme_in_host_and_port_field(self, monkeypatch, portal):
        set_conn(
            monkeypatch,
            host="http://127.0.0.1",
            port=portal.port,
            login="1",
            password=portal.config.webhook_code,
        )
        with Bitrix24Hook() as hook:
            assert hook.config.endpoint == portal.webhook_url
            assert hook.test_connection()[0] is True

    def test_uri_form_with_string_extras(self, monkeypatch, portal):
        code = portal.config.webhook_code
        uri = (
            f"bitrix24://1:{code}@127.0.0.1:{portal.port}/http"
            "?plan=enterprise&requests_per_second=3.5&request_pool_size=100&verify_ssl=false"
        )
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", uri)
        with Bitrix24Hook() as hook:
            config = hook.config
            assert (config.plan, config.requests_per_second, config.request_pool_size) == (
                "enterprise",
                3.5,
                100,
            )
            assert config.verify_ssl is False and config.ssl is False
            settings = hook.get_client().aio.settings
            assert settings.plan == "enterprise"
            assert settings.bucket() == (100.0, 3.5)
            assert len(deal_ids(hook)) == 200

    def test_airflow2_prefixed_extras(self, monkeypatch, portal):
        extra = {f"extra__bitrix24__{key}": value for key, value in oauth_extra(portal).items()}
        set_conn(monkeypatch, host=portal.base_url, extra=extra)
        with Bitrix24Hook() as hook:
            assert hook.config.auth_type == "oauth"
            assert deal_ids(hook) == sorted(emulator_ids(portal))

    def test_defaults_and_ca_bundle(self, monkeypatch, tmp_path):
        bundle = tmp_path / "ca.pem"
        set_conn(
            monkeypatch,
            host="acme.bitrix24.com",
            login="7",
            password="abc",
            extra={"ca_bundle": str(bundle), "plan": None, "requests_per_second": "", "verify_ssl": True},
        )
        hook = Bitrix24Hook()
        config = hook.config
        assert config.endpoint == "https://acme.bitrix24.com/rest/7/abc/"
        assert (config.plan, config.requests_per_second, config.request_pool_size) == ("standard", None, None)
        assert config.ssl == str(bundle)
        assert "abc" not in repr(config)

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"host": "https://acme.bitrix24.com", "login": "1"}, r"Webhook code \(password\)"),
            ({}, "has no host"),
            ({"host": "ftp://acme.bitrix24.com/rest/1/s3cr3tcode/"}, "http"),
            (
                {"host": "https://acme.bitrix24.com", "extra": {"auth_type": "oauth", "client_id": "x"}},
                r"OAuth client secret \(client_secret\), OAuth refresh token \(refresh_token\)",
            ),
            (
                {"host": "https://a.b", "login": "1", "password": "s3cr3tcode", "extra": {"auth_type": "x"}},
                "auth_type",
            ),
            (
                {"host": "https://a.b", "login": "1", "password": "s3cr3tcode", "extra": {"plan": "gold"}},
                "plan",
            ),
            (
                {
                    "host": "https://a.b",
                    "login": "1",
                    "password": "s3cr3tcode",
                    "extra": {"verify_ssl": "maybe"},
                },
                "verify_ssl",
            ),
            (
                {
                    "host": "https://a.b",
                    "login": "1",
                    "password": "s3cr3tcode",
                    "extra": {"requests_per_second": "x"},
                },
                "requests_per_second",
            ),
        ],
        ids=["no-password", "no-host", "bad-scheme", "oauth-missing", "auth-type", "plan", "bool", "number"],
    )
    def test_invalid_connections_fail_without_secrets(self, monkeypatch, fields, message):
        set_conn(monkeypatch, **fields)
        with pytest.raises(ValueError, match=message) as info:
            Bitrix24Hook().get_client()
        assert "s3cr3tcode" not in str(info.value)

    def test_parse_connection_infers_oauth_from_its_extras(self):
        config = parse_connection(
            "c",
            "https://acme.bitrix24.com/",
            extra={"client_id": "a", "client_secret": "b", "refresh_token": "c"},
        )
        assert config.auth_type == "oauth"
        assert config.endpoint == "https://acme.bitrix24.com/rest/"
        assert config.oauth_server == "https://oauth.bitrix.info/oauth/token/"


class TestOAuth:
    def test_first_token_comes_from_a_refresh(self, monkeypatch, portal, airflow_db, capfd):
        set_conn(monkeypatch, host=portal.base_url, extra=oauth_extra(portal))
        original = portal.config.refresh_token
        with Bitrix24Hook() as hook:
            assert deal_ids(hook) == sorted(emulator_ids(portal))
            assert emulator_stats(portal)["oauth_refreshes"] == 1
            rotated = hook.config.refresh_token
            assert rotated and rotated != original
            assert hook.config.access_token
        logged = "".join(capfd.readouterr())
        # an environment-variable connection cannot be updated: the Variable keeps the new pair
        assert f"Stored the rotated OAuth tokens of connection {CONN_ID} (generation" in logged
        assert f"in Variable bitrix24_oauth_token_{CONN_ID}" in logged
        for secret in (rotated, original, hook.config.access_token, portal.config.client_secret):
            assert secret not in logged

    def test_access_token_from_extras_is_used_first(self, monkeypatch, portal):
        pair = issue_token(portal)
        extra = oauth_extra(portal, access_token=pair["access_token"], refresh_token=pair["refresh_token"])
        set_conn(monkeypatch, host=portal.base_url, extra=extra)
        with Bitrix24Hook() as hook:
            assert hook.test_connection()[0] is True
            assert len(deal_ids(hook)) == 200
        assert emulator_stats(portal)["oauth_refreshes"] == 0

    def test_token_expiring_mid_use_is_refreshed_and_rotated(self, monkeypatch):
        with running(token_lifetime=40, time_scale=20) as portal:  # tokens live 2 real seconds
            set_conn(monkeypatch, host=portal.base_url, extra=oauth_extra(portal))
            with Bitrix24Hook(client_kwargs={"time_scale": 20}) as hook:
                assert len(deal_ids(hook)) == 200
                first = hook.config.refresh_token
                time.sleep(2.5)
                assert len(deal_ids(hook)) == 200
                assert emulator_stats(portal)["oauth_refreshes"] == 2
                assert hook.get_client().stats.token_refreshes >= 1
                assert hook.config.refresh_token not in (first, portal.config.refresh_token)

    def test_rotated_tokens_are_written_back_to_the_metadata_db(self, monkeypatch, portal, airflow_db, capfd):
        from airflow.models.connection import Connection as DbConnection
        from airflow.utils.session import create_session
        from sqlalchemy import delete, select

        conn_id = "bitrix24_oauth_in_db"
        monkeypatch.delenv(f"AIRFLOW_CONN_{conn_id.upper()}", raising=False)
        monkeypatch.setenv("_AIRFLOW_PROCESS_CONTEXT", "server")  # the secrets chain includes the DB
        with create_session() as session:
            session.execute(delete(DbConnection).where(DbConnection.conn_id == conn_id))
            session.add(
                DbConnection(
                    conn_id=conn_id,
                    conn_type="bitrix24",
                    host=portal.base_url,
                    extra=json.dumps(oauth_extra(portal, plan="standard")),
                )
            )
        try:
            with Bitrix24Hook(conn_id) as hook:
                assert deal_ids(hook) == sorted(emulator_ids(portal))
                rotated, access = hook.config.refresh_token, hook.config.access_token
            with create_session() as session:
                row = session.scalar(select(DbConnection).where(DbConnection.conn_id == conn_id))
                stored = json.loads(row.get_extra())
            assert stored["refresh_token"] == rotated != portal.config.refresh_token
            assert stored["access_token"] == access
            assert stored["plan"] == "standard"  # other extras are kept
            logged = "".join(capfd.readouterr())
            assert f"in connection {conn_id} and Variable bitrix24_oauth_token_{conn_id}" in logged
            assert rotated not in logged and access not in logged
            # A new hook (a later task) reads the stored token; the original one is spent.
            with Bitrix24Hook(conn_id) as later:
                assert later.config.refresh_token == rotated
                assert later.test_connection()[0] is True
        finally:
            with create_session() as session:
                session.execute(delete(DbConnection).where(DbConnection.conn_id == conn_id))

    def test_async_client_refreshes_and_remembers_the_rotated_token(
        self, monkeypatch, portal, airflow_db, capfd
    ):
        set_conn(monkeypatch, host=portal.base_url, extra=oauth_extra(portal))
        hook = Bitrix24Hook()

        async def run() -> tuple[int, int]:
            async with await hook.aget_client() as client:
                first = len(await client.get_all("crm.deal.list", {"select": ["ID"]}))
            async with await hook.aget_client() as client:  # a second client reuses the rotated token
                second = len(await client.get_all("crm.deal.list", {"select": ["ID"]}))
            return first, second

        assert asyncio.run(run()) == (200, 200)
        assert emulator_stats(portal)["oauth_refreshes"] == 1
        assert hook.config.refresh_token != portal.config.refresh_token
        logged = "".join(capfd.readouterr())
        assert "Stored the rotated OAuth tokens" in logged and hook.config.refresh_token not in logged


class TestData:
    def test_get_df_equals_the_portal(self, monkeypatch, portal):
        webhook_conn(monkeypatch, portal)
        with Bitrix24Hook() as hook:
            df = hook.get_df("crm.deal.list", {"select": ["ID", "TITLE"]})
            assert isinstance(df, pd.DataFrame)
            assert set(df.columns) == {"ID", "TITLE"}
            assert sorted(int(i) for i in df["ID"]) == sorted(emulator_ids(portal))
            assert len(hook.get_df("crm.deal.list", {"select": ["ID"]}, limit=30)) == 30

    def test_get_df_empty_and_non_list(self, monkeypatch, portal):
        webhook_conn(monkeypatch, portal)
        with Bitrix24Hook() as hook:
            empty = hook.get_df("crm.deal.list", {"select": ["ID", "TITLE"], "filter": {"ID": -5}})
            assert empty.empty and list(empty.columns) == ["ID", "TITLE"]
            profile = hook.get_df("profile")
            assert len(profile) == 1 and str(profile["ID"][0]) == "1"

    def test_iter_df_chunks_streams_the_portal_in_chunks(self, monkeypatch, portal):
        webhook_conn(monkeypatch, portal)
        with Bitrix24Hook() as hook:
            chunks = hook.iter_df_chunks("crm.deal.list", {"select": ["ID", "DATE_MODIFY"]}, chunk_rows=70)
            assert not isinstance(chunks, (list, pd.DataFrame))
            frames = list(chunks)
            assert [len(f) for f in frames] == [70, 70, 60]
            ids = [int(i) for f in frames for i in f["ID"]]
            assert len(ids) == len(set(ids))
            assert sorted(ids) == sorted(emulator_ids(portal))
            assert all(set(f.columns) == {"ID", "DATE_MODIFY"} for f in frames)

    def test_iter_df_chunks_stops_early_and_handles_empty(self, monkeypatch, portal):
        webhook_conn(monkeypatch, portal)
        with Bitrix24Hook() as hook:
            chunks = hook.iter_df_chunks("crm.deal.list", {"select": ["ID"]}, chunk_rows=50)
            assert len(next(chunks)) == 50
            chunks.close()  # abandoning the stream closes the export cleanly
            assert list(hook.iter_df_chunks("crm.deal.list", {"filter": {"ID": -1}})) == []
            with pytest.raises(ValueError, match="chunk_rows"):
                next(hook.iter_df_chunks("crm.deal.list", chunk_rows=0))
            # the hook still works after an abandoned stream
            assert len(hook.get_df("crm.deal.list", {"select": ["ID"]}, limit=10)) == 10

    def test_get_client_is_cached_and_typed(self, monkeypatch, portal):
        webhook_conn(monkeypatch, portal)
        hook = Bitrix24Hook()
        client = hook.get_client()
        assert isinstance(client, Bitrix)
        assert hook.get_client() is client is hook.get_conn()
        hook.close()
        assert hook.get_client() is not client
        hook.close()

    def test_aget_client_uses_async_access_and_client_kwargs(self, monkeypatch, portal):
        webhook_conn(monkeypatch, portal)
        hook = Bitrix24Hook(
            client_kwargs={"time_scale": 5, "settings": {"batch_size": 10, "retry": {"base": 0.1}}}
        )

        async def run() -> tuple[BitrixAsync, int]:
            async with await hook.aget_client() as client:
                return client, len(await client.get_all("crm.deal.list", {"select": ["ID"]}))

        client, rows = asyncio.run(run())
        assert isinstance(client, BitrixAsync) and rows == 200
        assert client.settings.time_scale == 5
        assert client.settings.batch_size == 10
        assert client.settings.retry.base == 0.1

    @airflow_at_least("3.3.2", "before it common-compat reads connections through a sync call in a thread")
    def test_aget_client_never_uses_sync_connection_access(self, monkeypatch, portal):
        """Triggers must not block the event loop: only ``aget_connection`` may be used."""
        webhook_conn(monkeypatch, portal)

        def forbidden(cls, conn_id):
            raise AssertionError("sync get_connection called from async code")

        monkeypatch.setattr(Bitrix24Hook, "get_connection", classmethod(forbidden))
        hook = Bitrix24Hook()

        async def run() -> int:
            async with await hook.aget_client() as client:
                return len(await client.get_all("crm.deal.list", {"select": ["ID"]}, limit=10))

        assert asyncio.run(run()) == 10

    def test_throttle_state_round_trip(self, monkeypatch, portal):
        webhook_conn(monkeypatch, portal)
        with Bitrix24Hook() as hook:
            hook.get_df("crm.deal.list", {"select": ["ID"]})
            state = hook.export_throttle_state()
            assert json.loads(json.dumps(state)) == state
            assert "crm.deal.list" in state["budget"]["methods"]
        with Bitrix24Hook() as later:
            later.restore_throttle_state(state)
            assert later.export_throttle_state()["budget"]["methods"].keys() >= {"crm.deal.list"}


class TestClientKwargsBeatTheConnection:
    """``client_kwargs`` settings win over the connection's; what they leave out comes from it."""

    EXTRA = {"plan": "standard", "requests_per_second": 3}

    @pytest.mark.parametrize("settings", [{"plan": "enterprise"}, ClientSettings(plan="enterprise")])
    def test_sync_client(self, monkeypatch, portal, settings):
        set_conn(monkeypatch, host=portal.webhook_url, extra=self.EXTRA)
        with Bitrix24Hook(client_kwargs={"settings": settings}) as hook:
            bucket = hook.get_client().aio.throttle.bucket
            assert (bucket.capacity, bucket.drain_rate) == (
                250,
                3,
            )  # enterprise's size, the connection's rate

    def test_async_client(self, monkeypatch, portal):
        set_conn(monkeypatch, host=portal.webhook_url, extra=self.EXTRA)
        hook = Bitrix24Hook(client_kwargs={"settings": {"plan": "enterprise", "requests_per_second": 4}})

        async def run() -> tuple[float, float]:
            async with await hook.aget_client() as client:
                return client.throttle.bucket.capacity, client.throttle.bucket.drain_rate

        assert asyncio.run(run()) == (250, 4)

    def test_connection_test(self, monkeypatch, portal, redis_url, redis_prefix):
        import redis

        set_conn(monkeypatch, host=portal.webhook_url, extra={**self.EXTRA, "shared_throttle_dsn": redis_url})
        settings = {"plan": "enterprise", "shared_throttle_prefix": redis_prefix}
        assert Bitrix24Hook(client_kwargs={"settings": settings}).test_connection()[0] is True
        with redis.Redis.from_url(redis_url) as store:  # the shared bucket's key names the plan
            assert [key.decode() for key in store.scan_iter(f"{redis_prefix}:bucket:*")] == [
                f"{redis_prefix}:bucket:127.0.0.1:{portal.port}:enterprise"
            ]


class TestTestConnection:
    def test_ok(self, monkeypatch, portal):
        webhook_conn(monkeypatch, portal)
        status, message = Bitrix24Hook().test_connection()
        assert status is True
        assert portal.base_url in message
        assert portal.config.webhook_code not in message

    @pytest.mark.parametrize("form", ["login-password", "webhook-url"])
    def test_wrong_code_fails_with_a_redacted_message(self, monkeypatch, portal, capfd, form):
        if form == "webhook-url":
            set_conn(monkeypatch, host=f"{portal.base_url}/rest/1/{WRONG_CODE}/")
        else:
            set_conn(monkeypatch, host=portal.base_url, login="1", password=WRONG_CODE)
        status, message = Bitrix24Hook().test_connection()
        assert status is False
        assert "INVALID_CREDENTIALS" in message
        assert WRONG_CODE not in message
        assert WRONG_CODE not in "".join(capfd.readouterr())

    def test_unreachable_portal_fails_with_a_redacted_message(self, monkeypatch, portal):
        port = portal.port
        set_conn(monkeypatch, host=f"http://127.0.0.1:{port + 1 if port < 65535 else 1}/rest/1/{WRONG_CODE}/")
        status, message = Bitrix24Hook(client_kwargs=NO_RETRY).test_connection()
        assert status is False
        assert "PortalUnreachable: profile: cannot connect to 127.0.0.1:" in message
        assert WRONG_CODE not in message

    def test_wrong_code_raises_a_client_error_on_calls(self, monkeypatch, portal):
        set_conn(monkeypatch, host=portal.base_url, login="1", password=WRONG_CODE)
        with Bitrix24Hook() as hook, pytest.raises(InvalidCredentials) as info:
            hook.get_df("crm.deal.list")
        assert WRONG_CODE not in str(info.value)
        assert hook.redact(f"{portal.base_url}/rest/1/{WRONG_CODE}/x") == f"{portal.base_url}/rest/1/***/x"


class TestChangeCheck:
    @pytest.mark.parametrize(
        ("method", "cursor", "call_params"),
        [
            ("crm.deal.list", "DATE_MODIFY", None),
            ("crm.item.list", "updatedTime", {"entityTypeId": 2}),
            ("tasks.task.list", "CHANGED_DATE", None),
        ],
        ids=["classic", "crm-item", "tasks"],
    )
    def test_check_changes(self, monkeypatch, portal, method, cursor, call_params):
        webhook_conn(monkeypatch, portal)
        top = newest(portal, method, cursor, **(call_params or {}))
        with Bitrix24Hook() as hook:
            assert hook.check_changes(method, top, cursor, call_params=call_params) is None
            found = hook.check_changes(method, "2024-01-01T00:00:00+03:00", cursor, call_params=call_params)
            assert found is not None
            assert found["newest"] == top
            assert found["watermark"] <= top
            assert 1 <= found["count"] <= 50

    def test_a_real_update_is_seen(self, monkeypatch, portal):
        webhook_conn(monkeypatch, portal)
        top = newest(portal)
        deal = emulator_ids(portal)[3]
        with Bitrix24Hook() as hook:
            assert hook.check_changes("crm.deal.list", top) is None
            assert (
                rest(portal, "crm.deal.update", {"id": deal, "fields": {"TITLE": "moved"}})["result"] is True
            )
            found = hook.check_changes("crm.deal.list", top)
            assert found is not None and found["count"] == 1 and found["newest"] == newest(portal)
            # a user filter narrows the check
            assert hook.check_changes("crm.deal.list", top, filter={"!ID": deal}) is None

    def test_query_shape(self):
        check = ChangeCheck(
            "tasks.task.list", "CHANGED_DATE", "2024-01-01T00:00:00+00:00", {"GROUP_ID": 1}, {"x": 1}
        )
        assert check.params() == {
            "x": 1,
            "filter": {"GROUP_ID": 1, ">CHANGED_DATE": "2024-01-01T00:00:00+00:00"},
            "order": {"CHANGED_DATE": "DESC"},
            "select": ["ID", "CHANGED_DATE"],
            "start": -1,
        }
        item = ChangeCheck("crm.item.list", "updatedTime", "2024-01-01T00:00:00", None, {"entityTypeId": 2})
        assert item.params()["select"] == ["id", "updatedTime"]

    def test_rows_at_or_before_the_watermark_do_not_count(self):
        check = ChangeCheck("crm.deal.list", "DATE_MODIFY", "2024-05-01T12:00:00+03:00")
        rows: list[dict[str, Any]] = [
            {"ID": "1", "DATE_MODIFY": "2024-05-01T12:00:00+03:00"},
            {"ID": "2", "DATE_MODIFY": "2024-05-01T09:00:01+00:00"},
            {"ID": "3", "DATE_MODIFY": "2024-05-01T08:00:00+00:00"},
        ]
        checked = {"date_start": "2024-05-01T12:30:00+03:00"}
        assert check.evaluate({"result": rows, "time": checked}) == {
            "watermark": "2024-05-01T09:00:01+00:00",
            "newest": "2024-05-01T09:00:01+00:00",
            "count": 1,
        }
        assert check.evaluate({"result": [], "time": checked}) is None
        with pytest.raises(ValueError, match="cursor field"):
            check.evaluate({"result": [{"ID": "1"}], "time": checked})

    @pytest.mark.parametrize(
        ("checked", "watermark"),
        [
            ("2024-05-01T12:30:00+03:00", "2024-05-01T09:00:01+00:00"),  # long after the change
            ("2024-05-01T09:00:03+00:00", "2024-05-01T08:59:58+00:00"),  # 2 s after it: lag (5 s) first
            ("2024-05-01T08:00:02+00:00", "2024-05-01T11:00:00+03:00"),  # never before the start
            (None, "2024-05-01T08:59:56+00:00"),  # no time block: newest - lag
        ],
        ids=["old-change", "fresh-change", "floor", "no-time-block"],
    )
    def test_the_handed_on_watermark_stays_lag_behind_the_check(self, checked, watermark):
        check = ChangeCheck("crm.deal.list", "DATE_MODIFY", "2024-05-01T11:00:00+03:00", lag=5)
        answer: dict[str, Any] = {"result": [{"ID": "2", "DATE_MODIFY": "2024-05-01T09:00:01+00:00"}]}
        if checked is not None:
            answer["time"] = {"date_start": checked}
        assert check.evaluate(answer)["watermark"] == watermark

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("2024-05-01T10:00:00+00:00", "2024-05-01T10:00:00+00:00"),
            ("2024-05-01T10:00:00.123456+03:00", "2024-05-01T10:00:00+03:00"),
            ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00+00:00"),
            ("2024-05-01 10:00:00", "2024-05-01T10:00:00"),
            ("2024-05-01", "2024-05-01T00:00:00"),
        ],
        ids=["offset", "fraction", "zulu", "naive", "date"],
    )
    def test_normalize_watermark(self, value, expected):
        assert normalize_watermark(value) == expected

    def test_normalize_watermark_datetimes(self):
        import pendulum

        assert normalize_watermark(pendulum.datetime(2024, 5, 1, 10, tz="UTC")) == "2024-05-01T10:00:00+00:00"
        with pytest.raises(ValueError, match="ISO 8601"):
            normalize_watermark("yesterday")
