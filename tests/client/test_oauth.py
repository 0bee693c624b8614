"""Built-in OAuth: first token from the refresh token, refresh on expiry, rotated tokens handed
back; fast_bitrix24's ``token_func`` still works."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from bitrix24_provider.client import AuthError, BitrixAsync

from .conftest import MakePortal, Portal


async def test_tokens_are_refreshed_on_expiry_and_rotated(make_portal: MakePortal) -> None:
    # an access token lives 3600 portal seconds = 0.36 real seconds here
    portal: Portal = await make_portal(deals=2000, time_scale=10_000.0, token_lifetime=3600.0)
    saved: list[Mapping[str, Any]] = []
    oauth = portal.oauth(saved.append)
    async with BitrixAsync(oauth=oauth, verbose=False) as bx:
        first = await bx.get_all("crm.deal.list", {"select": ["ID"]})
        await asyncio.sleep(0.5)
        second = await bx.get_all("crm.deal.list", {"select": ["ID"]})
    assert len(first) == len(second) == 2000
    assert len(saved) >= 2
    assert saved[-1]["refresh_token"] == oauth.refresh_token != portal.emulator.config.refresh_token
    assert bx.stats.token_refreshes >= 1
    for token in saved:
        assert token["access_token"] not in repr(bx.stats.as_dict())


async def test_a_revoked_refresh_token_is_an_auth_error(portal: Portal) -> None:
    oauth = portal.oauth()
    oauth.refresh_token = "revoked"
    async with BitrixAsync(oauth=oauth, verbose=False) as bx:
        with pytest.raises(AuthError) as raised:
            await bx.call("profile")
    assert raised.value.code == "invalid_grant"
    assert "revoked" not in str(raised.value)


async def test_a_token_rotated_elsewhere_is_taken_over_on_invalid_grant(portal: Portal) -> None:
    # "a" and "b" start from the same refresh token; "a" spends it first
    first = portal.oauth()
    async with BitrixAsync(oauth=first, verbose=False) as a:
        await a.call("profile")
    asked: list[str] = []

    def newer(rejected: str) -> Mapping[str, Any]:
        asked.append(rejected)
        return {"refresh_token": first.refresh_token}  # what "a" would have stored

    second = portal.oauth()
    second.on_invalid_grant = newer
    async with BitrixAsync(oauth=second, verbose=False) as b:
        assert (await b.call("profile"))["ID"]
    assert asked == [portal.emulator.config.refresh_token]
    assert (await portal.stats())["oauth_refreshes"] == 2  # "b" went on with "a"'s refresh token
    assert second.refresh_token not in (first.refresh_token, portal.emulator.config.refresh_token)


async def test_a_handed_over_access_token_is_used_without_another_rotation(portal: Portal) -> None:
    first = portal.oauth()
    async with BitrixAsync(oauth=first, verbose=False) as a:
        await a.call("profile")

    async def newer(rejected: str) -> Mapping[str, Any]:
        return {"refresh_token": first.refresh_token, "access_token": first.access_token}

    second = portal.oauth()
    second.on_invalid_grant = newer
    async with BitrixAsync(oauth=second, verbose=False) as b:
        assert (await b.call("profile"))["ID"]
    assert (await portal.stats())["oauth_refreshes"] == 1
    assert (second.refresh_token, second.access_token) == (first.refresh_token, first.access_token)


async def test_invalid_grant_goes_through_when_nothing_newer_is_handed_over(portal: Portal) -> None:
    class Reauthorize(AuthError):
        pass

    def nothing(rejected: str) -> None:
        return None

    def same(rejected: str) -> Mapping[str, Any]:
        return {"refresh_token": rejected}

    def refuse(rejected: str) -> None:
        raise Reauthorize("invalid_grant", "authorize again", "oauth/token")

    for reload, expected in ((nothing, AuthError), (same, AuthError), (refuse, Reauthorize)):
        oauth = portal.oauth()
        oauth.refresh_token = "revoked"
        oauth.on_invalid_grant = reload
        async with BitrixAsync(oauth=oauth, verbose=False) as bx:
            with pytest.raises(expected) as raised:
                await bx.call("profile")
        assert raised.value.code == "invalid_grant"
        assert type(raised.value) is expected


async def test_token_func_is_called_first_and_after_expiry(make_portal: MakePortal) -> None:
    # tokens live 3600 portal s = 1.8 s here: long enough for the first call even on a busy machine
    portal: Portal = await make_portal(deals=10, time_scale=2_000.0)
    calls = 0

    async def token_func() -> str:
        nonlocal calls
        calls += 1
        async with portal.session.post(f"{portal.emulator.base_url}/_emulator/oauth/issue") as resp:
            return str((await resp.json())["access_token"])

    async with BitrixAsync(portal.emulator.oauth_url, token_func=token_func, verbose=False) as bx:
        await bx.call("profile")
        await asyncio.sleep(2.0)
        await bx.call("profile")
    assert calls == 2


def test_token_func_must_be_async() -> None:
    with pytest.raises(ValueError, match="async"):
        BitrixAsync("https://portal.example/rest/", token_func=lambda: "x")  # type: ignore[arg-type]
