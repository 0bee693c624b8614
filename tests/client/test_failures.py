"""Typed errors, no retries where retrying cannot help, and secrets kept out of messages."""

from __future__ import annotations

import logging

import pytest

from bitrix24_provider.client import (
    AuthError,
    BitrixAsync,
    InvalidParams,
    MethodNotFound,
    NotFound,
    TransportError,
)

from .conftest import MakePortal, Portal


async def test_wrong_webhook_fails_at_once_with_auth_error(
    portal: Portal, caplog: pytest.LogCaptureFixture
) -> None:
    code = portal.emulator.config.webhook_code
    bad = portal.webhook.replace(code, "wrongcode123")
    caplog.set_level(logging.DEBUG)
    async with BitrixAsync(bad, verbose=False) as bx:
        with pytest.raises(AuthError) as raised:
            await bx.get_all("crm.deal.list")
    assert raised.value.code == "INVALID_CREDENTIALS"
    assert raised.value.description == "Invalid request credentials"
    assert raised.value.status == 401
    assert bx.stats.http_requests == 1
    assert "wrongcode123" not in str(raised.value)
    assert "wrongcode123" not in caplog.text


async def test_unknown_method_and_bad_params_are_not_retried(portal: Portal) -> None:
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        with pytest.raises(MethodNotFound):
            await bx.call("crm.nosuch.method", {})
        with pytest.raises(InvalidParams, match="ID is not defined or invalid"):
            await bx.call("crm.deal.get", {"id": "abc"})
        with pytest.raises(NotFound) as missing:
            await bx.call("crm.deal.get", {"id": 999_999_999})
        assert missing.value.code == ""
        assert missing.value.method == "crm.deal.get"
    assert bx.stats.http_requests == 3
    assert not bx.stats.retries


async def test_transient_failures_are_retried_with_a_budget_per_request(make_portal: MakePortal) -> None:
    portal: Portal = await make_portal(deals=500, faults={"server_error": 1.0})
    async with BitrixAsync(portal.webhook, verbose=False, time_scale=1000.0) as bx:
        with pytest.raises(Exception, match=r"INTERNAL_SERVER_ERROR|Internal server error") as raised:
            await bx.call("profile", {})
        first = bx.stats.http_requests
        assert first == bx.settings.retry.max_attempts
        await portal.configure(faults={"server_error": 0.0})
        assert await bx.call("profile", {})  # a fresh request gets a fresh budget
    assert raised.type.__name__ == "ServerError"


@pytest.mark.parametrize("knob", ["html", "truncated", "drop"])
async def test_broken_bodies_and_connections_are_retried(make_portal: MakePortal, knob: str) -> None:
    portal: Portal = await make_portal(deals=500, faults={knob: 0.5, "seed": 11})
    async with BitrixAsync(portal.webhook, verbose=False, time_scale=1000.0) as bx:
        rows = await bx.get_all("crm.deal.list", {"select": ["ID"]})
    assert sorted(int(r["ID"]) for r in rows) == await portal.ids()
    assert sum(bx.stats.retries.values()) > 0


async def test_a_portal_that_never_answers_properly_raises_transport_error(make_portal: MakePortal) -> None:
    portal: Portal = await make_portal(deals=50, faults={"html": 1.0})
    async with BitrixAsync(portal.webhook, verbose=False, time_scale=1000.0) as bx:
        with pytest.raises(TransportError, match="not a Bitrix24 answer"):
            await bx.get_all("crm.deal.list")


def test_bad_webhook_url_is_rejected_without_echoing_the_code() -> None:
    with pytest.raises(ValueError, match="not a Bitrix24 REST URL") as raised:
        BitrixAsync("ftp://portal.example/rest/1/supersecret/")
    assert "supersecret" not in str(raised.value)
