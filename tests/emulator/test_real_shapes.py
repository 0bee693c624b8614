"""The emulator's responses hold the shapes of responses captured from real portals.

The captures live in ``../shared/reference/real-responses/`` beside the repository and are read
from there (never copied); the tests skip when that folder is absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import PortalClient

CAPTURES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "real-responses"


def capture(name: str) -> Any:
    path = CAPTURES / name
    if not path.exists():
        pytest.skip(f"real responses not available at {CAPTURES}")
    return json.loads(path.read_text(encoding="utf-8"))


def type_name(value: Any) -> str:
    return type(value).__name__


def assert_time_block_like(ours: dict[str, Any], real: dict[str, Any]) -> None:
    assert set(real) <= set(ours), set(real) - set(ours)
    for key, value in real.items():
        if key == "operating":  # int 0 or float in captures
            assert isinstance(ours[key], int | float)
        else:
            assert type_name(ours[key]) == type_name(value), key
    assert ours["date_start"][-6] in "+-"  # ISO 8601 with offset


def assert_common_keys_same_types(ours: dict[str, Any], real: dict[str, Any], *, nullable: bool) -> None:
    common = set(ours) & set(real)
    assert len(common) >= min(len(real), 3), common
    for key in common:
        if nullable and (ours[key] is None or real[key] is None):
            continue
        assert type_name(ours[key]) == type_name(real[key]), (key, ours[key], real[key])


async def test_classic_lead_record(portal: PortalClient) -> None:
    real = capture("call_single_success.json")["result"]["result"]["order0"]
    ids = (await portal.get("/_emulator/ids/lead")).body["ids"]
    ours = (await portal.call("crm.lead.get", {"id": ids[0]})).body["result"]
    assert len(set(ours) & set(real)) >= 30
    assert_common_keys_same_types(ours, real, nullable=True)
    assert all(v is None or isinstance(v, str | list | dict) for v in ours.values())


async def test_classic_list_page_and_batch_envelope(portal: PortalClient) -> None:
    pages = capture("crm_lead_list_several_pages_success.json")
    first_real, batch_real = pages[0], pages[1]
    first = (await portal.call("crm.lead.list", {"select": ["ID", "TITLE"], "start": 0})).body
    assert set(first) == set(first_real)
    assert first["next"] == first_real["next"] == 50
    assert_time_block_like(first["time"], first_real["time"])
    assert set(first["result"][0]) == set(first_real["result"][0])
    cmd = {f"cmd{i}": f"crm.lead.list?select[]=ID&select[]=TITLE&start={50 * (i + 1)}" for i in range(2)}
    batch = (await portal.call("batch", {"halt": 0, "cmd": cmd})).body
    assert set(batch) == set(batch_real)
    assert set(batch["result"]) == set(batch_real["result"])
    real_time = next(iter(batch_real["result"]["result_time"].values()))
    assert_time_block_like(batch["result"]["result_time"]["cmd0"], real_time)
    assert type_name(batch["result"]["result_next"]["cmd0"]) == "int"
    assert type_name(batch["result"]["result_total"]["cmd0"]) == "int"


async def test_crm_item_list(portal: PortalClient) -> None:
    real = capture("crm_item_list.json")
    ours = (await portal.call("crm.item.list", {"entityTypeId": 1032, "start": 0})).body
    assert set(ours) >= {"result", "total", "time"}
    assert list(ours["result"]) == ["items"]
    assert type_name(ours["result"]["items"][0]["id"]) == type_name(real["result"]["items"][0]["id"]) == "int"
    assert isinstance(ours["result"]["items"][0]["title"], str)


async def test_tasks_list(portal: PortalClient) -> None:
    real = capture("get_all_tasks.json")[0]
    ours = (await portal.call("tasks.task.list", {"start": 0})).body
    assert list(ours["result"]) == list(real["result"]) == ["tasks"]
    assert set(ours) == set(real)
    row_real, row = real["result"]["tasks"][0], ours["result"]["tasks"][0]
    assert_common_keys_same_types(row, row_real, nullable=True)
    assert isinstance(row["id"], str)


async def test_fields_description(portal: PortalClient) -> None:
    real = capture("crm_lead_fields_success.json")["result"]
    ours = (await portal.call("crm.lead.fields")).body["result"]
    assert {"ID", "TITLE"} <= set(ours)
    for name in ("ID", "TITLE"):
        assert set(real[name]) <= set(ours[name]) | {"isDynamic", "isImmutable"}
        assert ours[name]["type"] == real[name]["type"]
    assert any(name.startswith("UF_CRM_") for name in ours)


async def test_add_in_batch_returns_a_bare_integer(portal: PortalClient) -> None:
    real = capture("crm_contact_add_batch.json")
    ours = (
        await portal.call(
            "batch", {"halt": 0, "cmd": {"order0000000000": "crm.contact.add?fields[NAME]=Test"}}
        )
    ).body
    assert type_name(ours["result"]["result"]["order0000000000"]) == "int"
    assert ours["result"]["result_error"] == real["result"]["result_error"] == []
    assert ours["result"]["result_total"] == real["result"]["result_total"] == []
    real_time = real["result"]["result_time"]["order0000000000"]
    assert_time_block_like(ours["result"]["result_time"]["order0000000000"], real_time)


async def test_empty_list_in_batch(portal: PortalClient) -> None:
    real = capture("batch_list_empty.json")["result"]
    ours = (
        await portal.call(
            "batch", {"cmd": {"order0000000000": "crm.lead.list?filter[ID]=-5&select[]=ID&start=0"}}
        )
    ).body["result"]
    assert ours["result"] == real["result"]
    assert ours["result_total"] == real["result_total"]
    assert ours["result_next"] == real["result_next"] == []


async def test_batch_of_one_with_key_zero_is_a_list(portal: PortalClient) -> None:
    real = capture("crm_dealcategory_stage_list_batch_of_one.json")["result"]
    ours = (await portal.call("batch", {"cmd": {"0": "profile"}})).body["result"]
    assert type_name(ours["result"]) == type_name(real["result"]) == "list"
    assert type_name(ours["result_time"]) == type_name(real["result_time"]) == "list"
