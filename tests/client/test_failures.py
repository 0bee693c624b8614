"""Typed errors, no retries where retrying cannot help, and secrets kept out of messages."""

from __future__ import annotations

import logging
import pickle
import socket

import pytest

from bitrix24_provider.client import (
    AuthError,
    BatchError,
    BitrixAsync,
    InvalidParams,
    MethodNotFound,
    NotFound,
    PortalUnreachable,
    UnexpectedAnswer,
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
            await bx.call("crm.nosuch.method")
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
            await bx.call("profile")
        first = bx.stats.http_requests
        assert first == bx.settings.retry.max_attempts
        await portal.configure(faults={"server_error": 0.0})
        assert await bx.call("profile")  # a fresh request gets a fresh budget
    assert raised.type.__name__ == "ServerError"


@pytest.mark.parametrize("knob", ["html", "truncated", "drop"])
async def test_broken_bodies_and_connections_are_retried(make_portal: MakePortal, knob: str) -> None:
    portal: Portal = await make_portal(deals=500, faults={knob: 0.5, "seed": 11})
    # batches of five pages: enough requests (four) that faults striking half of them strike some
    async with BitrixAsync(portal.webhook, verbose=False, time_scale=1000.0, batch_size=5) as bx:
        rows = await bx.get_all("crm.deal.list", {"select": ["ID"]})
    assert sorted(int(r["ID"]) for r in rows) == await portal.ids()
    assert sum(bx.stats.retries.values()) > 0


def _closed_port() -> int:
    """A port of 127.0.0.1 where nothing listens (bound, read, closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_nothing_listening_fails_after_the_connect_budget(caplog: pytest.LogCaptureFixture) -> None:
    port = _closed_port()
    caplog.set_level(logging.DEBUG)
    async with BitrixAsync(f"http://127.0.0.1:{port}/rest/1/portalcode4711/", time_scale=1000.0) as bx:
        with pytest.raises(PortalUnreachable) as raised:
            await bx.get_all("crm.deal.list")
    attempts = bx.settings.connect_retry.max_attempts
    assert attempts < bx.settings.retry.max_attempts
    assert bx.stats.http_requests == attempts
    assert bx.stats.retries == {"connect": attempts - 1}
    text = str(raised.value)
    assert text.startswith(
        f"crm.deal.list: cannot connect to 127.0.0.1:{port} (Connection refused) after {attempts} "
    )
    assert (raised.value.host, raised.value.port, raised.value.attempts) == ("127.0.0.1", port, attempts)
    assert str(pickle.loads(pickle.dumps(raised.value))) == text
    assert "portalcode4711" not in text + caplog.text


async def test_parallel_requests_share_the_connect_budget() -> None:
    items = [{"id": n} for n in range(1000)]  # 20 batches sent together
    async with BitrixAsync(
        f"http://127.0.0.1:{_closed_port()}/rest/1/portalcode4711/", time_scale=1000.0
    ) as bx:
        with pytest.raises(BatchError) as raised:  # every item's outcome: the same failure
            await bx.call("crm.deal.get", items)
        errors = raised.value.errors.values()
        assert len(errors) == 1000 and all(isinstance(error, PortalUnreachable) for error in errors)
        assert "after 3 attempts" in str(next(iter(errors)))
        # the first attempts in flight when the first one failed, then the budget's retries (one
        # request at a time) instead of 3 attempts for each of the 20 batches
        assert bx.stats.http_requests <= bx.settings.requests_in_flight() + 2


@pytest.mark.parametrize(
    ("knob", "content_type", "said"),
    [("html", "text/html", '"502 Bad Gateway"'), ("truncated", "application/json", '"{"result":')],
)
async def test_answers_that_are_not_the_portals_fail_after_their_budget(
    make_portal: MakePortal, knob: str, content_type: str, said: str
) -> None:
    portal: Portal = await make_portal(deals=50, faults={knob: 1.0})
    async with BitrixAsync(portal.webhook, verbose=False, time_scale=1000.0) as bx:
        with pytest.raises(UnexpectedAnswer) as raised:
            await bx.get_all("crm.deal.list")
    attempts = bx.settings.unexpected_answer_retry.max_attempts
    assert attempts < bx.settings.retry.max_attempts
    assert (await portal.stats())["http_requests"] == attempts
    assert f"crm.deal.list: HTTP 200 {content_type}, " in str(raised.value)
    assert f"bytes, not a Bitrix24 answer: {said}" in str(raised.value)
    assert f"after {attempts} attempts in " in str(raised.value)
    assert raised.value.status == 200 and raised.value.attempts == attempts
    assert str(pickle.loads(pickle.dumps(raised.value))) == str(raised.value)


async def test_parallel_requests_share_the_unexpected_answer_budget(make_portal: MakePortal) -> None:
    portal: Portal = await make_portal(deals=50, faults={"html": 1.0})
    async with BitrixAsync(portal.webhook, verbose=False, time_scale=1000.0) as bx:
        with pytest.raises(BatchError) as raised:
            await bx.call("crm.deal.get", [{"id": n} for n in range(1000)])
        assert all(isinstance(error, UnexpectedAnswer) for error in raised.value.errors.values())
        assert (await portal.stats())["http_requests"] <= bx.settings.requests_in_flight() + 4
        await portal.configure(faults={"html": 0.0})
        assert await bx.call("profile")  # a request started after the client gave up begins anew


async def test_a_gateway_timeout_page_is_an_unexpected_answer(make_portal: MakePortal) -> None:
    # the portal's front end answers 504 with an HTML page when a request runs past its time limit
    portal: Portal = await make_portal(
        deals=50, simulate_cost=True, time_scale=1000.0, request_timeout=1.0, costs={"base": 2.0}
    )
    async with BitrixAsync(portal.webhook, verbose=False, time_scale=1000.0) as bx:
        with pytest.raises(UnexpectedAnswer, match=r'HTTP 504 text/html, .* "504 Gateway Time-out" after 5 '):
            await bx.call("crm.deal.list", {"start": -1}, raw=True)
    assert (await portal.stats())["http_by_status"] == {"504": 5}


def test_bad_webhook_url_is_rejected_without_echoing_the_code() -> None:
    with pytest.raises(ValueError, match="not a Bitrix24 REST URL") as raised:
        BitrixAsync("ftp://portal.example/rest/1/supersecret/")
    assert "supersecret" not in str(raised.value)
