"""How the replay portal fits fast_bitrix24's recorded answers to the requests another client sends
(``harness/fb24_answers.py``); the whole harness is exercised by ``test_fast_bitrix24_suite.py``."""

from __future__ import annotations

from typing import Any

from .harness.fb24_answers import Table, fit

TIME = {"start": 1.0, "finish": 1.1}


def page(first: int, last: int, **counts: int) -> dict[str, Any]:
    return {"result": {"tasks": [{"id": i} for i in range(first, last + 1)]}, **counts, "time": TIME}


def batch(results: Any, **maps: Any) -> dict[str, Any]:
    inner = {"result": results, "result_error": [], "result_total": [], "result_next": [], "result_time": []}
    return {"result": {**inner, **maps}, "time": TIME}


def ids(answer: Any) -> list[int]:
    return [row["id"] for row in answer["tasks"]]


EXPORT = [
    page(1, 50, next=50, total=120),
    batch(
        {"cmd0": page(51, 100)["result"], "cmd1": page(101, 120)["result"]},
        result_total={"cmd0": 120, "cmd1": 120},
        result_next={"cmd0": 100},
    ),
]


def test_a_whole_recorded_export_answers_any_page_request() -> None:
    table = Table.of(EXPORT)
    assert table is not None
    first = table.answer("tasks.task.list", {"start": "0"})
    assert (ids(first["result"])[-1], first["next"], first["total"]) == (50, 50, 120)
    last = table.answer("tasks.task.list", {"start": "100"})
    assert ids(last["result"]) == list(range(101, 121)) and "next" not in last
    keyset = table.answer("tasks.task.list", {"filter": {">ID": "60"}, "order": {"ID": "ASC"}, "start": "-1"})
    assert ids(keyset["result"]) == list(range(61, 111)) and "total" not in keyset
    newest = table.answer("tasks.task.list", {"order": {"ID": "DESC"}, "start": "-1"})
    assert ids(newest["result"])[0] == 120
    cmd = {
        "c0": "tasks.task.list?filter%5B%3EID%5D=0&start=-1",
        "c1": "tasks.task.list?filter%5B%3EID%5D=%24result%5Bc0%5D%5Btasks%5D%5B49%5D%5Bid%5D&start=-1",
    }
    chained = table.answer("batch", {"cmd": cmd})["result"]["result"]
    assert ids(chained["c1"]) == list(range(51, 101))


def test_an_export_missing_rows_is_served_as_recorded() -> None:
    assert Table.of([page(1, 50, next=50, total=121), EXPORT[1]]) is None
    assert Table.of([page(1, 50, next=50, total=120)]) is None


def test_a_batch_answer_goes_under_the_labels_sent() -> None:
    by_position = batch({"order0": "a", "order1": "b"})
    status, answer = fit(by_position, "batch", {"cmd": {"c0": "crm.lead.add?x=1", "c1": "crm.lead.add?x=2"}})
    assert (status, answer["result"]["result"]) == (200, {"c0": "a", "c1": "b"})
    by_id = batch({"9": "nine", "7": "seven"}, result_error={"5": {"error": "", "error_description": "x"}})
    cmd = {"i0": "crm.lead.get?ID=7", "i1": "crm.lead.get?ID=5", "i2": "crm.lead.get?ID=9"}
    _, answer = fit(by_id, "batch", {"cmd": cmd})
    assert answer["result"]["result"] == {"i0": "seven", "i2": "nine"}
    assert list(answer["result"]["result_error"]) == ["i1"]
    _, emptied = fit(batch({}), "batch", {"cmd": {"c0": "crm.deal.list?start=50"}})
    assert emptied["result"]["result"] == []


def test_one_command_answers_a_direct_call_and_the_other_way_round() -> None:
    one = batch({"order0": {"items": [1, 2]}}, result_total={"order0": 2}, result_time={"order0": TIME})
    assert fit(one, "crm.stagehistory.list", {}) == (
        200,
        {"result": {"items": [1, 2]}, "total": 2, "time": TIME},
    )
    failed = batch([], result_error={"order0": {"error": "NOT_FOUND", "error_description": "Not found"}})
    assert fit(failed, "crm.lead.get", {"ID": "1"}) == (
        400,
        {"error": "NOT_FOUND", "error_description": "Not found"},
    )
    status, wrapped = fit(
        {"result": {"task": {"id": 1}}, "time": TIME}, "batch", {"cmd": {"c0": "tasks.task.add"}}
    )
    assert (status, wrapped["result"]["result"], wrapped["result"]["result_error"]) == (
        200,
        {"c0": {"task": {"id": 1}}},
        [],
    )
