"""Adds with an external key: items checked before any request, adds with an unknown outcome looked
up after the portal's request cap and sent again only when not found (no duplicates, all succeed)."""

from __future__ import annotations

from typing import Any

import pytest

from bitrix24_provider.client import BitrixAsync, InvalidItem, OutcomeUnknown, RetryPolicy, TransportError

from .conftest import MakePortal, Portal
from .writes_support import AFTER, BEFORE, ITEMS, SEEDS, faulty, faulty_portal, portal_truth, titles, truthful


def keyed(marker: str) -> list[dict[str, Any]]:
    return [{"fields": {"TITLE": t, "ORIGIN_ID": f"{marker}-{n}"}} for n, t in enumerate(titles(marker))]


A, B = {"fields": {"ORIGIN_ID": "a"}}, {"fields": {"ORIGIN_ID": "b"}}


@pytest.mark.parametrize(
    ("items", "index", "message"),
    [
        ([A, {"fields": {"TITLE": "no key"}}], 1, r"needs a non-empty fields\[ORIGIN_ID\]"),
        ([A, B, {"fields": {"ORIGIN_ID": " "}}], 2, r"needs a non-empty fields\[ORIGIN_ID\]"),
        ([{"fields": {"ORIGIN_ID": True}}], 0, r"needs a non-empty fields\[ORIGIN_ID\]"),
        ([{"TITLE": "no fields"}], 0, r"needs a non-empty fields\[ORIGIN_ID\]"),
        (
            [{"fields": {"ORIGIN_ID": 7}}, A, {"fields": {"ORIGIN_ID": "7"}}],
            2,
            "'7' is also the key of item 0",
        ),
    ],
)
async def test_bad_items_are_refused_before_any_request(
    portal: Portal, items: list[dict[str, Any]], index: int, message: str
) -> None:
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        with pytest.raises(InvalidItem, match=message) as raised:
            await bx.call("crm.deal.add", items, external_key="ORIGIN_ID")
    assert raised.value.index == index and str(raised.value).startswith(f"item {index}: ")
    assert (await portal.stats())["http_requests"] == 0


async def test_external_key_needs_an_add_it_can_look_up(portal: Portal) -> None:
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        with pytest.raises(InvalidItem, match=r"item 0: crm\.item\.add needs the item's entityTypeId"):
            await bx.call("crm.item.add", [{"fields": {"xmlId": "a"}}], external_key="xmlId")
        with pytest.raises(ValueError, match=r"crm\.item\.add and the classic CRM adds"):
            await bx.call(
                "crm.deal.update", [{"id": 1, "fields": {"ORIGIN_ID": "a"}}], external_key="ORIGIN_ID"
            )
        with pytest.raises(ValueError, match=r"not with 'tasks\.task\.add'"):
            await bx.call("tasks.task.add", [A], external_key="ORIGIN_ID")
        with pytest.raises(ValueError, match="external_key needs items, not raw=True"):
            await bx.call("crm.deal.add", A, raw=True, external_key="ORIGIN_ID")
        with pytest.raises(ValueError, match="external_key must be a field name"):
            await bx.call("crm.deal.add", [A], external_key=" ")
    assert (await portal.stats())["http_requests"] == 0


@pytest.mark.parametrize("seed", SEEDS)
async def test_every_add_exists_once_and_succeeds(make_portal: MakePortal, seed: int) -> None:
    knob = (*AFTER, *BEFORE)[seed % 7]
    portal = await faulty_portal(make_portal, seed, **{knob: 0.2}, methods=["batch"])
    # up to 10 rounds: an add refused in every one (0.2**10) would be reported failed, truthfully
    settings = faulty(knob, retry=RetryPolicy(max_attempts=10, base=0.001, cap=0.002))
    async with BitrixAsync(portal.webhook, verbose=False, settings=settings) as bx:
        outcomes = await bx.call("crm.deal.add", keyed("zq-ek"), return_errors=True, external_key="ORIGIN_ID")
    stats, made = await portal_truth(portal, "zq-ek")
    succeeded, _, _ = truthful(outcomes, made, titles("zq-ek"))
    assert len(succeeded) == len(made) == ITEMS
    assert stats["commands_by_method"]["crm.deal.add"] == ITEMS  # every add ran exactly once
    assert stats["faults"]  # the faults struck: some adds were looked up


async def test_smart_process_items_with_xml_id(make_portal: MakePortal) -> None:
    portal = await faulty_portal(make_portal, 2, drop_after=0.3, server_error=0.3, methods=["batch"])
    items = [{"entityTypeId": 1032, "fields": {"title": f"i{n}", "xmlId": f"x-{n}"}} for n in range(60)]
    async with BitrixAsync(portal.webhook, verbose=False, settings=faulty()) as bx:
        outcomes = await bx.call("crm.item.add", items, external_key="xmlId")
        await portal.configure(faults={"drop_after": 0.0, "server_error": 0.0})
        rows = await bx.get_all(
            "crm.item.list", {"entityTypeId": 1032, "filter": {"%xmlId": "x-"}, "select": ["id", "xmlId"]}
        )
    ids = {row["xmlId"]: row["id"] for row in rows}
    assert len(rows) == len(ids) == 60
    assert [o["id"] for o in outcomes] == [ids[f"x-{n}"] for n in range(60)]  # unwrapped, looked up too
    assert {o["xmlId"] for o in outcomes if "title" not in o}  # some were looked up


async def test_a_failed_lookup_leaves_the_outcome_unknown(make_portal: MakePortal) -> None:
    portal = await faulty_portal(make_portal, 0, drop_after=1.0)  # every request runs, no answer comes
    async with BitrixAsync(portal.webhook, verbose=False, settings=faulty()) as bx:
        outcomes = await bx.call(
            "crm.deal.add", keyed("zq-lf")[:30], return_errors=True, external_key="ORIGIN_ID"
        )
    stats, made = await portal_truth(portal, "zq-lf")
    assert all(isinstance(o, OutcomeUnknown) for o in outcomes)
    assert len(made) == stats["commands_by_method"]["crm.deal.add"] == 30  # each ran once, none again


async def test_an_add_still_missing_after_the_last_round_failed(make_portal: MakePortal) -> None:
    # every add is refused before it runs, with a 500 the client cannot tell from a crash after it
    portal = await faulty_portal(make_portal, 0, server_error=1.0, methods=["crm.deal.add"])
    async with BitrixAsync(portal.webhook, verbose=False, settings=faulty()) as bx:
        with pytest.raises(
            TransportError, match="not added: no record has ORIGIN_ID 'zq-m-0' after 4 attempts"
        ):
            await bx.call("crm.deal.add", keyed("zq-m")[0], external_key="ORIGIN_ID")
    stats, made = await portal_truth(portal, "zq-m")
    assert not made
    assert stats["faults"] == {"server_error": 4}  # one add per round
    assert stats["commands_by_method"]["crm.deal.list"] >= 4  # a lookup after each


async def test_the_lookup_waits_until_the_portal_request_cap_has_passed(make_portal: MakePortal) -> None:
    # every batch of adds waits 30 portal seconds before it runs (0.3 s on a 100x clock); the client
    # gives up on it after 10 portal seconds and must not look for the adds before the 60 s cap
    portal: Portal = await make_portal(
        deals=5, time_scale=100.0, faults={"slow": 1.0, "slow_seconds": 0.3, "methods": ["batch"]}
    )
    settings = faulty(time_scale=100.0, request_timeout=0.1)
    async with BitrixAsync(portal.webhook, verbose=False, settings=settings) as bx:
        outcomes = await bx.call("crm.deal.add", keyed("zq-cap")[:20], external_key="ORIGIN_ID")
    stats, made = await portal_truth(portal, "zq-cap")
    succeeded, _, _ = truthful(outcomes, made, titles("zq-cap")[:20])
    assert len(succeeded) == len(made) == 20
    assert stats["commands_by_method"]["crm.deal.add"] == 20  # found by the lookup, none added again
