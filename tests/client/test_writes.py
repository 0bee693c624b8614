"""Which methods write, and one write under faults: sent again only when it provably did not run."""

from __future__ import annotations

import asyncio

import pytest

from bitrix24_provider.client import (
    BitrixAsync,
    ClientSettings,
    InvalidParams,
    OutcomeUnknown,
    QueryLimitExceeded,
    RetryPolicy,
    ServerError,
    TransportError,
)
from bitrix24_provider.client.writes import is_write, may_have_run, writes

from .conftest import MakePortal, Portal

#: ambiguous faults: before the call runs (the client cannot tell) and after it ran
AMBIGUOUS = ["server_error", "drop", "html", "truncated", "server_error_after", "drop_after", "slow_after"]
AFTER = {"truncated", "server_error_after", "drop_after", "slow_after"}


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("crm.deal.list", False),
        ("crm.item.get", False),
        ("tasks.task.getFields", False),
        ("crm.deal.fields", False),
        ("user.search", False),
        ("disk.folder.getchildren", False),
        ("department.get", False),
        ("CRM.Deal.List", False),
        ("profile", False),
        ("server.time", False),
        ("user.current", False),
        ("crm.deal.add", True),
        ("crm.deal.update", True),
        ("crm.item.delete", True),
        ("crm.deal.productrows.set", True),
        ("event.offline.get", True),  # empties the queue it reads
        ("some.unknown.method", True),
        ("batch", True),
    ],
)
def test_reads_are_known_everything_else_writes(method: str, expected: bool) -> None:
    assert is_write(method) is expected


def test_a_batch_writes_when_any_command_does() -> None:
    assert not writes(["crm.deal.list", "crm.deal.get"])
    assert writes(["crm.deal.list", "crm.deal.update"])


@pytest.mark.parametrize(
    ("error", "ran"),
    [
        (TransportError("timeout", method="m", cause="timeout"), True),
        (TransportError("reset", method="m", cause="connection"), True),
        (TransportError("not JSON", method="m", cause="html", status=200), True),
        (ServerError("INTERNAL_SERVER_ERROR", "boom", "m", 500), True),
        (ServerError("", "", "m", 504), True),
        (TransportError("refused", method="m", cause="connect"), False),
        (QueryLimitExceeded("QUERY_LIMIT_EXCEEDED", "Too many requests", "m", 503), False),
        (InvalidParams("", "ID is not defined or invalid.", "m", 400), False),
    ],
)
def test_which_failures_may_have_run(error: Exception, ran: bool) -> None:
    assert may_have_run(error) is ran  # type: ignore[arg-type]


def fast(**settings: object) -> ClientSettings:
    """A client that retries at once and gives up on an answer after 0.2 s."""
    retry = RetryPolicy(max_attempts=3, base=0.001, cap=0.002)
    return ClientSettings(request_timeout=0.2, retry=retry, **settings)  # type: ignore[arg-type]


async def settled(portal: Portal) -> None:
    """Wait until the portal has finished every request (a slow answer runs on after a timeout)."""
    while portal.emulator.portal.counters.in_flight:
        await asyncio.sleep(0.01)


async def deals_titled(portal: Portal, title: str) -> int:
    await settled(portal)
    await portal.configure(faults={knob: 0.0 for knob in AMBIGUOUS})
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        rows = await bx.get_all("crm.deal.list", {"filter": {"TITLE": title}, "select": ["ID"]})
    return len(rows)


@pytest.mark.parametrize("knob", AMBIGUOUS)
async def test_a_write_is_not_sent_again_after_an_ambiguous_failure(
    make_portal: MakePortal, knob: str
) -> None:
    portal: Portal = await make_portal(deals=5, faults={knob: 1.0, "slow_seconds": 1.0})
    async with BitrixAsync(portal.webhook, verbose=False, settings=fast()) as bx:
        with pytest.raises(OutcomeUnknown) as raised:
            await bx.call("crm.deal.add", {"fields": {"TITLE": "once"}})
        with pytest.raises(OutcomeUnknown):
            await bx.call("crm.deal.add", {"fields": {"TITLE": "raw"}}, raw=True)
    assert (raised.value.method, raised.value.index) == ("crm.deal.add", None)
    assert raised.value.sent_at is not None
    await settled(portal)
    assert (await portal.stats())["http_requests"] == 2  # one request per call, never repeated
    assert await deals_titled(portal, "once") == int(knob in AFTER)


@pytest.mark.parametrize("knob", AMBIGUOUS)
async def test_a_read_is_retried_under_the_same_faults(make_portal: MakePortal, knob: str) -> None:
    portal: Portal = await make_portal(deals=5, faults={knob: 1.0, "slow_seconds": 1.0})
    deal = (await portal.ids())[0]
    async with BitrixAsync(portal.webhook, verbose=False, settings=fast()) as bx:
        with pytest.raises((TransportError, ServerError)):
            await bx.call("crm.deal.get", {"id": deal})
    await settled(portal)
    assert (await portal.stats())["http_requests"] == 3  # every attempt of the budget


async def test_retry_unknown_repeats_a_write_under_the_attempt_budget(make_portal: MakePortal) -> None:
    portal: Portal = await make_portal(deals=5, faults={"server_error_after": 1.0})
    deal = (await portal.ids())[0]
    async with BitrixAsync(portal.webhook, verbose=False, settings=fast()) as bx:
        with pytest.raises(OutcomeUnknown, match="INTERNAL_SERVER_ERROR"):
            await bx.call("crm.deal.update", {"id": deal, "fields": {"TITLE": "again"}}, retry_unknown=True)
        await portal.configure(faults={"server_error_after": 0.0})
        assert await bx.call("crm.deal.update", {"id": deal, "fields": {"TITLE": "done"}}, retry_unknown=True)
    assert (await portal.stats())["commands_by_method"]["crm.deal.update"] == 3 + 1


async def test_a_write_that_could_not_connect_is_sent_again(make_portal: MakePortal) -> None:
    portal: Portal = await make_portal(deals=5)
    webhook = portal.webhook
    await portal.emulator.stop()  # nothing listens on the port: every connection is refused
    async with BitrixAsync(webhook, verbose=False, settings=fast()) as bx:
        with pytest.raises(TransportError) as raised:
            await bx.call("crm.deal.add", {"fields": {"TITLE": "never sent"}})
        outcomes = await bx.call("crm.deal.add", [{"fields": {"TITLE": "x"}}] * 3, return_errors=True)
    assert raised.value.cause == "connect" and not isinstance(raised.value, OutcomeUnknown)
    assert bx.stats.retries["connect"] == 2 + 2  # both calls used the whole attempt budget
    assert all(isinstance(o, TransportError) and o.cause == "connect" for o in outcomes)
