"""OAuth: token transports, expiry, refresh rotation and the token server's errors (§1.4-1.5)."""

from __future__ import annotations

import asyncio

from .conftest import MakePortal, PortalClient


async def _issue(portal: PortalClient) -> dict[str, str]:
    reply = await portal.post("/_emulator/oauth/issue")
    assert reply.status == 200
    return reply.body  # type: ignore[no-any-return]


async def test_access_token_in_auth_param_access_token_param_and_bearer(portal: PortalClient) -> None:
    token = (await _issue(portal))["access_token"]
    url = portal.emulator.oauth_url + "crm.deal.list"
    by_auth = await portal.request("POST", url, json_body={"auth": token, "start": -1})
    by_query = await portal.request("GET", url + ".json?access_token=" + token)
    by_bearer = await portal.request(
        "POST", url, json_body={"start": -1}, headers={"Authorization": f"Bearer {token}"}
    )
    assert by_auth.status == by_query.status == by_bearer.status == 200
    assert by_auth.body["result"] == by_bearer.body["result"]


async def test_missing_and_unknown_tokens(portal: PortalClient) -> None:
    url = portal.emulator.oauth_url + "crm.deal.list"
    none = await portal.request("POST", url, json_body={})
    assert (none.status, none.body["error"]) == (401, "NO_AUTH_FOUND")
    unknown = await portal.request("POST", url, json_body={"auth": "garbage"})
    assert (unknown.status, unknown.body["error"]) == (401, "invalid_token")


async def test_token_expires_after_its_lifetime_and_refresh_rotates(make_portal: MakePortal) -> None:
    # 1 portal hour passes in 0.36 real seconds
    portal: PortalClient = await make_portal(deals=10, time_scale=10_000.0, token_lifetime=3600.0)
    config = portal.emulator.config
    pair = await _issue(portal)
    url = portal.emulator.oauth_url + "profile"
    assert (await portal.request("POST", url, json_body={"auth": pair["access_token"]})).status == 200
    await asyncio.sleep(0.45)
    expired = await portal.request("POST", url, json_body={"auth": pair["access_token"]})
    assert expired.status == 401
    assert expired.body == {
        "error": "expired_token",
        "error_description": "The access token provided has expired.",
    }
    refresh = {
        "grant_type": "refresh_token",
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "refresh_token": pair["refresh_token"],
    }
    new = await portal.request("GET", portal.emulator.token_url, params=refresh)
    assert new.status == 200
    assert new.body["expires_in"] == 3600
    assert new.body["client_endpoint"] == portal.emulator.oauth_url
    assert new.body["refresh_token"] != pair["refresh_token"]
    assert (await portal.request("POST", url, json_body={"auth": new.body["access_token"]})).status == 200
    reused = await portal.request("GET", portal.emulator.token_url, params=refresh)
    assert (reused.status, reused.body["error"]) == (400, "invalid_grant")
    stats = await portal.get("/_emulator/stats")
    assert stats.body["oauth_refreshes"] == 1


async def test_token_server_rejects_a_wrong_client_secret(portal: PortalClient) -> None:
    config = portal.emulator.config
    reply = await portal.request(
        "POST",
        portal.emulator.token_url,
        data={
            "grant_type": "refresh_token",
            "client_id": config.client_id,
            "client_secret": "nope",
            "refresh_token": config.refresh_token,
        },
    )
    assert (reply.status, reply.body["error"]) == (400, "invalid_client")


async def test_configured_refresh_token_works_once(portal: PortalClient) -> None:
    config = portal.emulator.config
    params = {
        "grant_type": "refresh_token",
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "refresh_token": config.refresh_token,
    }
    first = await portal.request("POST", portal.emulator.token_url, data=params)
    assert first.status == 200 and first.body["access_token"]
    assert (await portal.request("POST", portal.emulator.token_url, data=params)).status == 400
