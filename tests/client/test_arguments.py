"""Bad arguments fail before any request, with one typed error naming the argument (issue #10).

Every case runs against the emulator over real HTTP and checks that the portal saw no request at all
(``/_emulator/stats``), where the client without these checks sent one or more (and often retried).
fast_bitrix24's own ``TestErrors`` cases are among them, marked ``fb``.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.request import urlopen

import pytest

from bitrix24_provider.client import (
    ArgumentTypeError,
    Bitrix,
    BitrixAsync,
    InvalidArgument,
    InvalidItem,
)
from bitrix24_provider.emulator import Emulator, EmulatorConfig

from .conftest import MakePortal, Portal

SECRET = "s3cr3tw3bh00kc0de"


@dataclass(frozen=True)
class Case:
    """``bx.<function>(*args, **kwargs)`` raises *error* naming *argument*; *says* is in its text."""

    function: str
    args: tuple[Any, ...]
    error: type[InvalidArgument]
    argument: str
    says: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    async def run(self, bx: BitrixAsync) -> None:
        if self.function == "iter_all":
            async for _ in bx.iter_all(*self.args, **self.kwargs):
                pass
            return
        if self.function == "slow":
            bx.slow(*self.args)
            return
        run: Callable[..., Awaitable[Any]] = getattr(bx, self.function)
        await run(*self.args, **self.kwargs)

    def __str__(self) -> str:
        return f"{self.function}-{self.argument}-{self.says[:24]}"


DEALS = "crm.deal.list"
CASES = [
    # method names (fb: get_all("") and get_all(123))
    Case("get_all", ("",), InvalidArgument, "method", "is empty"),
    Case("get_all", (123,), ArgumentTypeError, "method", "got int 123"),
    Case("get_all", ("   ",), InvalidArgument, "method", "is empty"),
    Case("get_all", ("crm deal list",), InvalidArgument, "method", "not a method name"),
    Case("get_all", ("crm.deal.list?select[]=ID",), InvalidArgument, "method", "not a method name"),
    Case("get_all", ("crm..deal",), InvalidArgument, "method", "not a method name"),
    Case("get_all", ("batch",), InvalidArgument, "method", "call_batch"),
    Case("iter_all", ("",), InvalidArgument, "method", "is empty"),
    Case("get_by_ID", (None, [1]), ArgumentTypeError, "method", "got NoneType"),
    Case("call", ("", {"id": 1}), InvalidArgument, "method", "is empty"),
    Case("call", (" crm.deal.get/", {"id": 1}), InvalidArgument, "method", "not a method name"),
    Case("call", ("batch", [{"cmd": {}}]), InvalidArgument, "method", "call_batch"),
    Case("call", (5, {"id": 1}), ArgumentTypeError, "method", "got int"),
    # params of lists (fb: select None, filter 3, also for task.elapseditem.getlist)
    Case("get_all", (DEALS, {"select": None}), ArgumentTypeError, "params['select']", "list of field names"),
    Case("get_all", (DEALS, {"select": "ID"}), ArgumentTypeError, "params['select']", "got str 'ID'"),
    Case("get_all", (DEALS, {"select": ["ID", 5]}), ArgumentTypeError, "params['select'][1]", "field name"),
    Case("get_all", (DEALS, {"filter": 3}), ArgumentTypeError, "params['filter']", "mapping such as"),
    Case(
        "get_all", ("task.elapseditem.getlist", {"filter": 3}), ArgumentTypeError, "params['filter']", "int 3"
    ),
    Case("get_all", (DEALS, {"FILTER": [">ID", 5]}), ArgumentTypeError, "params['FILTER']", "mapping"),
    Case("get_all", (DEALS, {"order": "ID"}), ArgumentTypeError, "params['order']", "{'ID': 'ASC'}"),
    Case("get_all", (DEALS, {"start": 50}), InvalidArgument, "params['start']", "pages by itself"),
    Case("iter_all", (DEALS, {"Start": 0}), InvalidArgument, "params['Start']", "pages by itself"),
    Case("get_all", (DEALS, ["ID"]), ArgumentTypeError, "params", "mapping of parameters"),
    Case("get_all", (DEALS, {5: "x"}), InvalidArgument, "params", "has the key 5"),
    Case("get_all", (DEALS, {"filter": {"ID": {1, 2}}}), ArgumentTypeError, "params", "cannot send a set"),
    Case(
        "get_all",
        (DEALS, {"filter": {">DATE_MODIFY": datetime(2026, 1, 1)}}),
        ArgumentTypeError,
        "params",
        "naive",
    ),
    Case(
        "get_all", (DEALS, {"filter": {"OPPORTUNITY": float("nan")}}), InvalidArgument, "params", "non-finite"
    ),
    Case("get_all", (DEALS, None, 0), InvalidArgument, "limit", "positive int"),
    Case("iter_all", (DEALS, None, "10"), InvalidArgument, "limit", "positive int"),
    # ID lists (fb: get_by_ID("_", 123) and get_by_ID("_", [["a"]]))
    Case("get_by_ID", ("crm.deal.get", 123), ArgumentTypeError, "ID_list", "collection of ids"),
    Case("get_by_ID", ("crm.deal.get", [["a"]]), ArgumentTypeError, "ID_list[0]", "got list"),
    Case("get_by_ID", ("crm.deal.get", [1, (2,)]), ArgumentTypeError, "ID_list[1]", "got tuple"),
    Case("get_by_ID", ("crm.deal.get", [1, 2.5]), ArgumentTypeError, "ID_list[1]", "got float"),
    Case("get_by_ID", ("crm.deal.get", [1, True]), ArgumentTypeError, "ID_list[1]", "got bool"),
    Case("get_by_ID", ("crm.deal.get", [1, ""]), ArgumentTypeError, "ID_list[1]", "non-empty str"),
    Case("get_by_ID", ("crm.deal.get", "123"), ArgumentTypeError, "ID_list", "got str"),
    Case("get_by_ID", ("crm.deal.get", []), InvalidArgument, "ID_list", "is empty"),
    Case("get_by_ID", ("crm.deal.get", ()), InvalidArgument, "ID_list", "is empty"),
    Case("get_by_ID", ("crm.deal.get", [1], ""), ArgumentTypeError, "ID_field_name", "field name"),
    Case(
        "get_by_ID", ("crm.deal.get", [1], "ID", {"id": 7}), InvalidArgument, "params['id']", "from ID_list"
    ),
    Case(
        "get_by_ID", ("crm.deal.get", [1], "ID", {"select": 5}), ArgumentTypeError, "params['select']", "list"
    ),
    # list_and_get
    Case("list_and_get", ("crm.deal.list",), InvalidArgument, "method_branch", "must not end in"),
    Case("list_and_get", ("crm.deal",), ArgumentTypeError, "filter", "mapping such as", {"filter": 5}),
    Case("list_and_get", ("crm.deal", 7), ArgumentTypeError, "ID_field_name", "field name"),
    # items of call() (fb: call("_", {}) raises; call("crm.deal.list", []) returned ())
    Case("call", ("crm.deal.add", []), InvalidArgument, "items", "is empty"),
    Case("call", ("crm.deal.add", ()), InvalidArgument, "items", "is empty"),
    Case("call", ("crm.deal.add", {}), InvalidArgument, "items", "is empty"),
    Case("call", ("crm.deal.list", []), InvalidArgument, "items", "is empty"),
    Case("call", ("crm.deal.add", "TITLE=x"), ArgumentTypeError, "items", "got str"),
    Case("call", ("crm.deal.add", 5), ArgumentTypeError, "items", "got int"),
    Case("call", ("crm.deal.add", [{"fields": {"TITLE": "a"}}, 5]), InvalidItem, "items[1]", "got int 5"),
    Case("call", ("crm.deal.add", [{"fields": {"TITLE": "a"}}, [1]]), InvalidItem, "items[1]", "got list"),
    Case(
        "call", ("crm.deal.add", ({"fields": {"TAGS": {"a"}}},)), InvalidItem, "items[0]", "cannot send a set"
    ),
    Case("call", ("crm.deal.add", {"fields": {"X": b"\x00"}}), InvalidItem, "items[0]", "bytes"),
    Case(
        "call",
        ("tasks.task.add", [{"fields": {"A": 1}}]),
        InvalidArgument,
        "external_key",
        "not with",
        {"external_key": "A"},
    ),
    # raw=True: a mapping or a list of positional parameters, sendable as JSON
    Case("call", ("task.commentitem.add", 5), ArgumentTypeError, "items", "positional", {"raw": True}),
    Case("call", ("task.commentitem.add", {"x": {1}}), ArgumentTypeError, "items", "JSON", {"raw": True}),
    Case("call", ("crm.deal.add", {"x": float("inf")}), InvalidArgument, "items", "JSON", {"raw": True}),
    Case(
        "call",
        ("crm.deal.add", {"fields": {}}),
        InvalidArgument,
        "external_key",
        "not raw=True",
        {"raw": True, "external_key": "ORIGIN_ID"},
    ),
    Case("call", ("",), InvalidArgument, "method", "is empty", {"raw": True}),
    # batch commands (fb: call_batch({}) raises a ValueError)
    Case("call_batch", ({},), ArgumentTypeError, "params['cmd']", "got NoneType"),
    Case("call_batch", ({"cmd": {}},), InvalidArgument, "params['cmd']", "is empty"),
    Case("call_batch", (["crm.deal.list"],), ArgumentTypeError, "params", "mapping such as"),
    Case(
        "call_batch",
        ({"cmd": ["crm.deal.list"]},),
        ArgumentTypeError,
        "params['cmd']",
        "key -> 'method?query'",
    ),
    Case("call_batch", ({"cmd": {"a": 5}},), ArgumentTypeError, "params['cmd']['a']", "command such as"),
    Case("call_batch", ({"cmd": {"a": "crm deal?x=1"}},), InvalidArgument, "method", "not a method name"),
    Case("call_batch", ({"cmd": {"a": "batch?cmd[x]=y"}},), InvalidArgument, "method", "call_batch"),
    Case("call_batch", ({"cmd": {"a|b": DEALS}},), InvalidArgument, "params['cmd']", "batch command key"),
    Case(
        "call_batch",
        ({"cmd": {1: DEALS, "1": DEALS}},),
        InvalidArgument,
        "params['cmd']['1']",
        "key of its own",
    ),
    Case("call_batch", ({"cmd": {None: DEALS}},), InvalidArgument, "params['cmd'][None]", "key of its own"),
    Case(
        "call_batch", ({"halt": 2, "cmd": {"a": DEALS}},), ArgumentTypeError, "params['halt']", "0, 1, True"
    ),
    Case("call_batch", ({"cmds": {"a": DEALS}},), InvalidArgument, "params", "'halt' and 'cmd'"),
    # slow()
    Case("slow", (0,), InvalidArgument, "max_concurrent_requests", "at least 1"),
    Case("slow", ("2",), InvalidArgument, "max_concurrent_requests", "at least 1"),
    Case("slow", (True,), InvalidArgument, "max_concurrent_requests", "at least 1"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_bad_arguments_fail_before_any_request(make_portal: MakePortal, case: Case) -> None:
    portal: Portal = await make_portal(deals=3)
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        with pytest.raises(InvalidArgument) as raised:
            await case.run(bx)
    error = raised.value
    assert type(error) is case.error, error
    assert (error.function, error.argument) == (case.function, case.argument), error
    assert case.says in str(error)
    assert str(error).startswith(f"{case.function}(): {case.argument} ") or case.error is InvalidItem
    assert bx.stats.http_requests == 0
    assert (await portal.stats())["http_requests"] == 0


def test_the_errors_are_value_and_type_errors_as_fast_bitrix24_users_catch_them() -> None:
    assert issubclass(InvalidArgument, ValueError) and not issubclass(InvalidArgument, TypeError)
    assert issubclass(ArgumentTypeError, TypeError) and issubclass(ArgumentTypeError, ValueError)
    assert issubclass(InvalidItem, InvalidArgument)
    for error in (
        InvalidArgument("get_all", "params['start']", "is not accepted"),
        ArgumentTypeError("get_by_ID", "ID_list[0]", "must be an id"),
        InvalidItem(3, "must be a mapping"),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert (type(copy), str(copy), vars(copy)) == (type(error), str(error), vars(error))


async def test_a_webhook_given_as_the_method_is_not_repeated_in_the_error(portal: Portal) -> None:
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        with pytest.raises(InvalidArgument) as raised:
            await bx.get_all(f"https://portal.bitrix24.com/rest/7/{SECRET}/crm.deal.list")
    assert SECRET not in str(raised.value) and SECRET not in repr(raised.value)
    assert (await portal.stats())["http_requests"] == 0


def test_the_sync_client_checks_the_same_before_any_request() -> None:
    with (
        Emulator(EmulatorConfig(deals=3, simulate_cost=False)).in_thread() as portal,
        Bitrix(portal.webhook_url, verbose=False) as bx,
    ):
        with pytest.raises(TypeError, match=r"get_by_ID\(\): ID_list\[0\]"):
            bx.get_by_ID("crm.deal.get", [["a"]])
        with pytest.raises(ValueError, match=r"call\(\): items is empty"):
            bx.call("crm.deal.add", [])
        with pytest.raises(ValueError, match=r"iter_all\(\): params\['start'\]"):
            list(bx.iter_all(DEALS, {"start": 0}))
        with pytest.raises(ValueError, match="max_concurrent_requests"):
            bx.slow(0)
        with urlopen(f"{portal.base_url}/_emulator/stats") as answer:
            assert json.load(answer)["http_requests"] == 0


async def test_empty_collections_raise_and_empty_iterators_are_nothing_to_do(portal: Portal) -> None:
    """fast_bitrix24 refuses empty ``items`` and ``ID_list`` collections; an empty generator (a filter
    that kept nothing) is not refused there, and here it calls nothing."""
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        with pytest.raises(InvalidArgument, match="items is empty"):
            await bx.call("crm.deal.add", [])
        with pytest.raises(InvalidArgument, match="ID_list is empty"):
            await bx.get_by_ID("crm.deal.get", [])
        assert await bx.call("crm.deal.add", iter([])) == ()
        assert await bx.get_by_ID("crm.deal.get", (i for i in [])) == {}
    assert (await portal.stats())["http_requests"] == 0


@pytest.mark.parametrize(
    ("arguments", "argument", "says"),
    [
        ({"webhook": 123}, "webhook", "as a str, got int"),
        ({"webhook": None}, "webhook", "is missing"),
        (
            {"webhook": f"https://portal.bitrix24.com/rst/7/{SECRET}/"},
            "webhook",
            "at portal.bitrix24.com is not",
        ),
        ({"token_func": lambda: "token"}, "token_func", "async function"),
        ({"verbose": "yes"}, "verbose", "True, False or None"),
        ({"request_pool_size": -1}, "request_pool_size", "positive number"),
        ({"requests_per_second": "2"}, "requests_per_second", "positive number"),
        ({"batch_size": 0}, "batch_size", "from 1 to 50"),
        ({"batch_size": 51}, "batch_size", "from 1 to 50"),
        ({"operating_time_limit": True}, "operating_time_limit", "positive number"),
        ({"client": "session"}, "client", "aiohttp.ClientSession"),
        ({"ssl": 1}, "ssl", "ssl.SSLContext"),
        ({"plan": "gold"}, "plan", "['enterprise', 'standard']"),
        ({"settings": {"plan": "enterprise"}}, "settings", "ClientSettings"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
async def test_constructor_arguments_are_checked(
    portal: Portal, arguments: dict[str, Any], argument: str, says: str
) -> None:
    given = {"webhook": portal.webhook, "verbose": False, **arguments}
    for cls in (BitrixAsync, Bitrix):
        with pytest.raises(InvalidArgument) as raised:
            cls(**given)
        assert raised.value.argument == argument
        assert says in str(raised.value)
        assert SECRET not in str(raised.value)
    assert (await portal.stats())["http_requests"] == 0
