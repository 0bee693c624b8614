"""Golden responses: a representative set of requests whose answers must stay byte-identical.

Every body is compared byte for byte except the values of ``time`` blocks (they hold the clock);
:func:`normalise` blanks those. ``READS`` only read; ``WRITES`` change rows (non-ASCII text, a lone
surrogate, odd floats, multi-fields, deletes, adds) so that ``READS`` run again afterwards serve
updated, deleted and added rows.

``golden_digests.json`` holds the digests of ``READS`` on a fresh emulator (``SETTINGS``), recorded
from the code before the fast list path existed::

    python -m tests.emulator.golden --write    # after a deliberate change of the emulated data
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bitrix24_provider.emulator import Emulator

from ..emulator_support import start_emulator

DIGESTS = Path(__file__).with_name("golden_digests.json")
#: The emulator the recorded digests belong to (enough rows for chained pages, fast clock so that
#: the bucket never refuses a request).
SETTINGS: dict[str, Any] = {
    "deals": 230,
    "leads": 120,
    "contacts": 60,
    "companies": 40,
    "items": 80,
    "tasks": 70,
    "users": 25,
    "time_scale": 1000.0,
    "plan": "enterprise",
}
_TIME_BLOCK = re.compile(rb'\{"start":[^{}]*\}')

FULL = "crm.deal.list?order[ID]=ASC&start=-1&filter[>ID]="


@dataclass(frozen=True)
class Req:
    name: str
    method: str  # REST method (webhook path)
    body: Any = None  # JSON body (POST); None with ``query`` means GET
    query: str = ""  # raw query string for GET requests


def _chain(label: str, count: int, first: str, select: str = "") -> dict[str, str]:
    """``count`` keyset pages, each starting after the last ID of the previous one."""
    cmd = {f"{label}0": f"{FULL}{first}{select}"}
    for i in range(1, count):
        cmd[f"{label}{i}"] = f"{FULL}$result[{label}{i - 1}][49][ID]{select}"
    return cmd


READS: tuple[Req, ...] = (
    Req("deal_list_full_p0", "crm.deal.list", {"start": 0}),
    Req("deal_list_full_p4", "crm.deal.list", {"start": 200}),
    Req("deal_list_keyset", "crm.deal.list", {"order": {"ID": "ASC"}, "filter": {">ID": 0}, "start": -1}),
    Req(
        "deal_list_keyset_tail",
        "crm.deal.list",
        {"order": {"ID": "ASC"}, "filter": {">ID": 300}, "start": -1},
    ),
    Req(
        "deal_list_select_few",
        "crm.deal.list",
        {"select": ["ID", "TITLE", "OPPORTUNITY", "DATE_MODIFY"], "start": 50},
    ),
    Req("deal_list_star_uf", "crm.deal.list", {"select": ["*", "UF_*"], "order": {"ID": "DESC"}, "start": 0}),
    Req("deal_list_star", "crm.deal.list", {"select": ["*"], "filter": {"STAGE_ID": "WON"}, "start": 0}),
    Req("deal_list_uf", "crm.deal.list", {"select": ["UF_*", "ID"], "filter": {">OPPORTUNITY": 100000}}),
    Req("deal_list_uf_multiple", "crm.deal.list", {"select": ["ID", "UF_CRM_1719812400106"], "start": 0}),
    Req("deal_list_unknown_select", "crm.deal.list", {"select": ["NOPE"], "start": 0}),
    Req("deal_list_order_title", "crm.deal.list", {"order": {"TITLE": "DESC"}, "select": ["ID", "TITLE"]}),
    Req(
        "deal_list_get_query",
        "crm.deal.list.json",
        None,
        "select[]=ID&select[]=TITLE&select[]=CLOSEDATE&start=100",
    ),
    Req("deal_get", "crm.deal.get", {"id": 14}),
    Req("deal_get_missing", "crm.deal.get", {"id": 999999}),
    Req("deal_fields", "crm.deal.fields", {}),
    Req(
        "lead_list_multi", "crm.lead.list", {"select": ["ID", "TITLE", "NAME", "PHONE", "EMAIL"], "start": 0}
    ),
    Req("lead_list_full", "crm.lead.list", {"start": 50}),
    Req("contact_list_multi", "crm.contact.list", {"select": ["*", "PHONE", "EMAIL", "UF_*"], "start": 0}),
    Req("contact_list_phone_only", "crm.contact.list", {"select": ["PHONE"], "start": 0}),
    Req("company_list_full", "crm.company.list", {"order": {"ID": "ASC"}, "filter": {">ID": 0}, "start": -1}),
    Req("item_list_full", "crm.item.list", {"entityTypeId": 1032, "start": 0}),
    Req(
        "item_list_select",
        "crm.item.list",
        {"entityTypeId": 1032, "select": ["id", "title", "opportunity", "ufCrm5_1719812800502"]},
    ),
    Req(
        "item_list_deals",
        "crm.item.list",
        {"entityTypeId": 2, "order": {"id": "ASC"}, "filter": {">id": 0}, "start": -1},
    ),
    Req(
        "item_list_original_uf", "crm.item.list", {"entityTypeId": 2, "useOriginalUfNames": "Y", "start": 50}
    ),
    Req("task_list_full", "tasks.task.list", {"start": 0}),
    Req(
        "task_list_select",
        "tasks.task.list",
        {"select": ["ID", "TITLE", "DEADLINE", "STATUS"], "order": {"ID": "ASC"}},
    ),
    Req("user_get", "user.get", {}),
    Req("user_get_select", "user.get", {"select": ["ID", "NAME", "UF_*"], "ACTIVE": True}),
    Req("batch_chain_full", "batch", {"halt": 0, "cmd": _chain("p", 6, "0")}),
    Req("batch_chain_fifty", "batch", {"halt": 0, "cmd": _chain("c", 50, "0")}),
    Req(
        "batch_chain_select",
        "batch",
        {"halt": 0, "cmd": _chain("s", 4, "100", "&select[]=ID&select[]=TITLE&select[]=UF_*")},
    ),
    Req(
        "batch_mixed",
        "batch",
        {
            "halt": 0,
            "cmd": {
                "d": "crm.deal.list?start=0&select[]=*&select[]=UF_*",
                "l": "crm.lead.list?select[]=ID&select[]=PHONE&select[]=EMAIL"
                "&start=-1&order[ID]=ASC&filter[>ID]=0",
                "i": "crm.item.list?entityTypeId=1032&start=-1&order[id]=ASC&filter[>id]=0",
                "t": "tasks.task.list?start=0",
                "u": "user.get?start=0",
                "g": "crm.deal.get?id=$result[d][3][ID]",
                "x": "crm.nothing.list",
                "e": "crm.deal.get?id=0",
            },
        },
    ),
    Req(
        "batch_whole_references",
        "batch",
        {
            "halt": 0,
            "cmd": {
                "a": f"{FULL}0&select[]=ID&select[]=TITLE",
                "b": "crm.deal.list?filter[ID]=$result[a]&select[]=ID",
                "c": f"{FULL}$result[a][0][ID]&select[]=ID",
                "d": f"{FULL}$result[a][7][ID]",
                "e": "crm.deal.list?filter[<ID]=$result[zz][3]&select[]=ID&start=0",
                "f": "crm.deal.list?filter[TITLE]=$result[a][-1][TITLE]&select[]=ID&start=0",
            },
        },
    ),
    Req(
        "batch_list_keys",
        "batch",
        {"cmd": ["crm.deal.list?start=0&select[]=ID", "crm.deal.list?start=50", "crm.deal.get?id=0"]},
    ),
)

WRITES: tuple[Req, ...] = (
    Req(
        "w_deal_update_text",
        "crm.deal.update",
        {
            "id": 14,
            "fields": {
                "TITLE": 'Сделка "№1" \\ tab\t nl\n 😀 \u2028 \x01 \x7f end',
                "OPPORTUNITY": "1234.5",
                "UF_CRM_1719812400101": "Ромашка",
                "UF_CRM_1719812400102": 1e-7,
                "UF_CRM_1719812400103": "2030-01-02T03:04:05+05:00",
                "UF_CRM_1719812400104": 47,
                "UF_CRM_1719812400105": "Y",
                "UF_CRM_1719812400106": ["a", "ü", ""],
                "COMMENTS": "<b>bold</b> & 'quotes'",
            },
        },
    ),
    Req(
        "w_deal_update_floats",
        "crm.deal.update",
        {
            "id": 16,
            "fields": {
                "OPPORTUNITY": 1e20,
                "UF_CRM_1719812400102": 0.30000000000000004,
                "PROBABILITY": 33,
                "CLOSEDATE": "2031-12-31",
                "CONTACT_ID": "",
            },
        },
    ),
    Req(
        "w_deal_update_surrogate", "crm.deal.update", {"id": 10, "fields": {"TITLE": "lone \ud83d surrogate"}}
    ),
    Req("w_deal_delete", "crm.deal.delete", {"id": 15}),
    Req(
        "w_deal_add",
        "crm.deal.add",
        {"fields": {"TITLE": "Новая сделка", "OPPORTUNITY": 99.99, "UF_CRM_1719812400102": 12.0}},
    ),
    Req(
        "w_contact_update",
        "crm.contact.update",
        {
            "id": 8,
            "fields": {
                "NAME": "Jürgen",
                "PHONE": [{"VALUE": "+49 30 1234", "VALUE_TYPE": "MOBILE"}, {"VALUE": "+49 30 5678"}],
                "EMAIL": [{"VALUE": "j@example.de", "VALUE_TYPE": "HOME"}],
            },
        },
    ),
    Req("w_lead_update", "crm.lead.update", {"id": 2, "fields": {"TITLE": "Лид ✓", "PHONE": []}}),
    Req("w_company_delete", "crm.company.delete", {"id": 7}),
    Req(
        "w_item_update",
        "crm.item.update",
        {"entityTypeId": 1032, "id": 10, "fields": {"title": "Заказ ✓", "opportunity": 5e-7}},
    ),
    Req(
        "w_deal_item_update",
        "crm.item.update",
        {"entityTypeId": 2, "id": 17, "fields": {"title": "через item", "opportunity": 250.5}},
    ),
    Req(
        "w_task_update",
        "tasks.task.update",
        {"taskId": 4, "fields": {"TITLE": 'Задача "x"', "DEADLINE": "2030-05-06T07:08:09+03:00"}},
    ),
)


def normalise(body: bytes) -> bytes:
    """The body with every ``time`` block emptied (its values hold the clock)."""
    return _TIME_BLOCK.sub(b"{}", body)


async def send(session: aiohttp.ClientSession, emulator: Emulator, req: Req) -> tuple[int, bytes]:
    """One request over HTTP; (status, body with ``time`` blocks emptied)."""
    url = emulator.webhook_url + req.method
    if req.body is None:
        async with session.get(f"{url}?{req.query}") as resp:
            return resp.status, normalise(await resp.read())
    async with session.post(url, json=req.body) as resp:
        return resp.status, normalise(await resp.read())


def digest(status: int, body: bytes) -> str:
    return hashlib.sha256(str(status).encode() + b"\n" + body).hexdigest()


async def record(reqs: tuple[Req, ...] = READS, **settings: Any) -> dict[str, tuple[int, bytes]]:
    """The answers to ``reqs`` from a fresh emulator (``SETTINGS`` unless given)."""
    emulator = await start_emulator(**(settings or SETTINGS))
    try:
        async with aiohttp.ClientSession() as session:
            return {req.name: await send(session, emulator, req) for req in reqs}
    finally:
        await emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.emulator.golden", description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"(re)write {DIGESTS.name}")
    parser.add_argument("--dump", type=Path, help="also write the normalised bodies into this directory")
    args = parser.parse_args()
    answers = asyncio.run(record())
    digests = {name: digest(status, body) for name, (status, body) in answers.items()}
    if args.dump:
        args.dump.mkdir(parents=True, exist_ok=True)
        for name, (status, body) in answers.items():
            (args.dump / f"{name}.{status}.json").write_bytes(body)
    if args.write:
        DIGESTS.write_text(json.dumps(digests, indent=1) + "\n")
    else:
        known = json.loads(DIGESTS.read_text())
        for name, value in digests.items():
            print(("ok  " if known.get(name) == value else "DIFF"), name)


if __name__ == "__main__":
    main()
