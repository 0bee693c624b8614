"""OAuth token rotation between hooks outside the task runtime (the Variable lives in the metadata
database here): racing hooks, a spent token, a re-authorized connection, an unreadable Variable."""

from __future__ import annotations

import asyncio
import pickle
import time

import pytest

from bitrix24_provider.client import AuthError
from bitrix24_provider.hooks.bitrix24 import Bitrix24Hook, OAuthReauthorizationRequired
from bitrix24_provider.hooks.oauth_tokens import fingerprint
from bitrix24_provider.operators.retry import decide
from tests.hooks.rotation_support import fresh_variable, refresh_grant, store_tokens, stored_tokens
from tests.hooks.support import emulator_stats, issue_token, oauth_extra, running, set_conn

__all__ = ["fresh_variable"]

CONN_ID = "bitrix24_oauth_race"
SCALED = {"time_scale": 20}

pytestmark = pytest.mark.usefixtures("fresh_variable")


def rows(hook: Bitrix24Hook) -> int:
    return len(hook.get_df("crm.deal.list", {"select": ["ID"]}))


def test_two_hooks_on_one_connection_take_over_each_others_rotations(monkeypatch, capfd):
    # access tokens live 40 portal seconds = 2 real seconds
    with running(token_lifetime=40, time_scale=20) as portal:
        set_conn(monkeypatch, CONN_ID, host=portal.base_url, extra=oauth_extra(portal))
        with Bitrix24Hook(CONN_ID, SCALED) as a, Bitrix24Hook(CONN_ID, SCALED) as b:
            assert a.config.refresh_token == b.config.refresh_token == portal.config.refresh_token
            assert rows(a) == 200  # a spends the connection's refresh token
            assert rows(b) == 200  # b is turned down, reads a's pair from the Variable, goes on with it
            assert emulator_stats(portal)["oauth_refreshes"] == 1  # ...without rotating it again
            time.sleep(2.5)
            assert rows(b) == 200  # both access tokens expired: b rotates first
            assert rows(a) == 200  # a is turned down and takes b's pair
            assert emulator_stats(portal)["oauth_refreshes"] == 2
            assert a.config.refresh_token == b.config.refresh_token
        stored = stored_tokens(CONN_ID)
        assert stored is not None and stored["generation"] == 2
        assert stored["refresh_token"] == a.config.refresh_token
        with Bitrix24Hook(CONN_ID) as later:
            assert later.test_connection()[0] is True
    output = "".join(capfd.readouterr())
    assert "already rotated elsewhere" in output
    for secret in (stored["refresh_token"], stored["access_token"], portal.config.refresh_token):
        assert secret not in output


def test_racing_async_clients_always_end_with_a_working_token(monkeypatch):
    # access tokens live 20 portal seconds = 1 real second; two hooks keep calling for 4 seconds
    with running(token_lifetime=20, time_scale=20) as portal:
        set_conn(monkeypatch, CONN_ID, host=portal.base_url, extra=oauth_extra(portal))

        async def keep_calling(hook: Bitrix24Hook, until: float) -> int:
            calls = 0
            async with await hook.aget_client() as client:
                while time.monotonic() < until:
                    assert len(await client.get_all("crm.deal.list", {"select": ["ID"]})) == 200
                    calls += 1
                    await asyncio.sleep(0.1)
            return calls

        async def race() -> list[int]:
            until = time.monotonic() + 4
            hooks = [Bitrix24Hook(CONN_ID, SCALED) for _ in range(3)]
            return list(await asyncio.gather(*(keep_calling(hook, until) for hook in hooks)))

        assert all(calls >= 5 for calls in asyncio.run(race()))
        refreshes = emulator_stats(portal)["oauth_refreshes"]
        assert refreshes >= 3
        stored = stored_tokens(CONN_ID)
        assert stored is not None and stored["generation"] == refreshes  # no rotation was lost
        with Bitrix24Hook(CONN_ID) as later:
            assert later.test_connection()[0] is True


def test_a_spent_token_with_nothing_newer_asks_for_a_new_authorization(monkeypatch, capfd):
    with running() as portal:
        assert "access_token" in refresh_grant(portal, portal.config.refresh_token)  # spent elsewhere
        set_conn(monkeypatch, CONN_ID, host=portal.base_url, extra=oauth_extra(portal))
        started = time.monotonic()
        with Bitrix24Hook(CONN_ID) as hook, pytest.raises(OAuthReauthorizationRequired) as raised:
            rows(hook)
        waited = time.monotonic() - started
        error = raised.value
        assert isinstance(error, AuthError) and error.code == "invalid_grant"
        assert f"connection {CONN_ID!r}" in str(error)
        assert f"Variable 'bitrix24_oauth_token_{CONN_ID}'" in str(error)
        assert "Authorize the application again" in str(error)
        assert sum(Bitrix24Hook.token_reload_pauses) <= waited < 15  # it waited for a concurrent writer
        assert decide(error)[0] == "fail"  # the operators' retry policy does not retry it
        assert type(pickle.loads(pickle.dumps(error))) is OAuthReauthorizationRequired
        status, message = Bitrix24Hook(CONN_ID).test_connection()
        assert status is False and "OAuthReauthorizationRequired" in message
    output = "".join(capfd.readouterr()) + str(error) + message
    for secret in (portal.config.refresh_token, portal.config.client_secret):
        assert secret not in output


def test_a_new_refresh_token_in_the_connection_starts_a_new_chain(monkeypatch):
    with running() as portal:
        set_conn(monkeypatch, CONN_ID, host=portal.base_url, extra=oauth_extra(portal))
        with Bitrix24Hook(CONN_ID) as hook:
            assert rows(hook) == 200
        old_chain = stored_tokens(CONN_ID)
        assert old_chain is not None and old_chain["generation"] == 1
        # the application is authorized again and the new refresh token put into the connection
        reauthorized = issue_token(portal)["refresh_token"]
        extra = oauth_extra(portal, refresh_token=reauthorized)
        set_conn(monkeypatch, CONN_ID, host=portal.base_url, extra=extra)
        with Bitrix24Hook(CONN_ID) as hook:
            assert hook.config.refresh_token == reauthorized
            assert rows(hook) == 200
        new_chain = stored_tokens(CONN_ID)
        assert new_chain is not None
        assert new_chain["generation"] == 2  # generations keep growing across chains
        assert new_chain["origin"] == fingerprint(reauthorized)
        # the old chain was left alone: its refresh token was never spent
        assert "access_token" in refresh_grant(portal, old_chain["refresh_token"])


def test_an_unreadable_variable_is_ignored(monkeypatch, capfd):
    store_tokens(CONN_ID, {"something": "else"})
    with running() as portal:
        set_conn(monkeypatch, CONN_ID, host=portal.base_url, extra=oauth_extra(portal))
        with Bitrix24Hook(CONN_ID) as hook:
            assert rows(hook) == 200
        stored = stored_tokens(CONN_ID)
        assert stored is not None and stored["generation"] == 1
    assert "does not hold Bitrix24 OAuth tokens" in "".join(capfd.readouterr())
