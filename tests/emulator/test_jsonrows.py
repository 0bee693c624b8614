"""Rows kept as JSON read back row by row exactly as they were written."""

from __future__ import annotations

import orjson
import pytest

from bitrix24_provider.emulator.jsonrows import JsonRows, plain

TRICKY = ['},{"ID":"x"', "\\", '\\"', "},{", '{"ID":', "Ромашка", "", "\n}", '"}, {"ID":']


@pytest.mark.parametrize("count", [0, 1, 2, 3, 7, 50])
def test_every_row_reads_back(count: int) -> None:
    rows = [
        {"ID": str(i), "TITLE": TRICKY[i % len(TRICKY)], "NONE": None, "UF": [TRICKY[-i % len(TRICKY)], "b"]}
        for i in range(count)
    ]
    page = JsonRows(orjson.dumps(rows), count, "ID")
    assert len(page) == count
    assert list(page) == rows
    assert [page[i] for i in range(count)] == rows
    assert [page[-i] for i in range(1, count + 1)] == rows[::-1]
    assert page[1:3] == rows[1:3]
    for index in (count, -count - 1):
        with pytest.raises(IndexError):
            page[index]


def test_plain_reads_rows_back_anywhere() -> None:
    rows = [{"ID": "1"}, {"ID": "2"}]
    page = JsonRows(orjson.dumps(rows), 2, "ID")
    assert plain({"a": page, "b": [page, (page,)], "c": "x", 1: 2}) == {
        "a": rows,
        "b": [rows, [rows]],
        "c": "x",
        1: 2,
    }
