"""The ``/_emulator/`` endpoints (counters, reset, runtime config, seeded ids, token issue) and the
in-process test hooks."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import PortalClient


async def test_counters_and_reset(portal: PortalClient) -> None:
    await portal.call("crm.deal.list", {"start": -1})
    await portal.call("batch", {"cmd": {"a": "crm.lead.list?start=-1", "b": "crm.deal.list?start=-1"}})
    await portal.call("no.such")
    stats = (await portal.get("/_emulator/stats")).body
    assert stats["http_by_status"] == {"200": 2, "404": 1}
    assert stats["http_requests"] == 3
    assert stats["commands_by_method"] == {"crm.deal.list": 2, "crm.lead.list": 1}
    assert stats["rows_served"] == 150
    assert stats["bucket_high_water"] == pytest.approx(3, abs=0.2)
    reset = await portal.post("/_emulator/reset")
    assert reset.body == {"result": True}
    stats = (await portal.get("/_emulator/stats")).body
    assert stats["http_requests"] == 0 and stats["rows_served"] == 0 and stats["bucket_high_water"] == 0


async def test_config_read_masks_secrets_and_rejects_unknown_keys(portal: PortalClient) -> None:
    config = (await portal.get("/_emulator/config")).body
    assert config["webhook_code"] == "***" and config["client_secret"] == "***"
    assert config["plan"] == "standard"
    bad = await portal.post("/_emulator/config", {"no_such_knob": 1})
    assert bad.status == 400
    assert "no_such_knob" in bad.body["error_description"]
    changed = (await portal.post("/_emulator/config", {"operating_limit": 10})).body
    assert changed["operating_limit"] == 10


async def test_seeded_ids_have_gaps_and_follow_writes(portal: PortalClient) -> None:
    ids = (await portal.get("/_emulator/ids/deal")).body["ids"]
    assert len(ids) == 230
    assert ids == sorted(ids)
    assert ids[-1] - ids[0] + 1 > len(ids)  # gaps like a real portal
    await portal.call("crm.deal.delete", {"id": ids[0]})
    assert (await portal.get("/_emulator/ids/deal")).body["ids"][0] == ids[1]
    assert (await portal.get("/_emulator/ids/nosuch")).status == 404


async def test_test_hooks_see_every_command_and_write_at_chosen_moments(portal: PortalClient) -> None:
    """``before_command`` sees batch sub-commands with their references resolved; ``apply`` writes
    from the portal's side; ``clock.advance`` places that write later on the portal's clock."""
    emulated = portal.emulator.portal
    seen: list[tuple[str, Any]] = []
    ids = (await portal.get("/_emulator/ids/deal")).body["ids"]

    def hook(method: str, params: Any) -> None:
        seen.append((method, params.get("filter")))
        if len(seen) == 2:  # between the two pages of the batch
            emulated.clock.advance(3600)
            emulated.apply("crm.deal.update", {"id": ids[-1], "fields": {"TITLE": "from the portal"}})

    emulated.before_command = hook
    page = "crm.deal.list?order[ID]=ASC&select[]=ID&select[]=TITLE&select[]=DATE_MODIFY&start=-1"
    reply = await portal.call(
        "batch",
        {"halt": 0, "cmd": {"a": f"{page}&filter[>ID]=0", "b": f"{page}&filter[>ID]=$result[a][49][ID]"}},
    )
    emulated.before_command = None
    assert [m for m, _ in seen] == ["crm.deal.list", "crm.deal.list"]
    assert seen[1][1] == {">ID": str(ids[49])}  # the reference, resolved
    got = (await portal.call("crm.deal.get", {"id": ids[-1]})).body["result"]
    assert got["TITLE"] == "from the portal"
    assert got["DATE_MODIFY"] > reply.body["result"]["result"]["a"][0]["DATE_MODIFY"]
    moved = reply.body["time"]["start"]
    assert (await portal.call("server.time")).body["time"]["start"] >= moved + 3600
