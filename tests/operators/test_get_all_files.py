"""Bitrix24GetAllOperator into Parquet, CSV and DataFrame callables."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from bitrix24_provider.operators.bitrix24 import Bitrix24GetAllOperator
from bitrix24_provider.staging.errors import UnknownFieldError
from tests.staging._support import configure, make_context, seeded_ids, stats


def test_parquet_output_is_typed_and_complete(make_portal, tmp_path):
    portal = make_portal(deals=1200)
    path = tmp_path / "out" / "deals.parquet"
    summary = Bitrix24GetAllOperator(
        task_id="export", method="crm.deal.list", select=["*", "UF_*"], output_path=str(path), chunk_rows=500
    ).execute(make_context())
    assert summary["rows"] == 1200 and summary["target"] == str(path) and summary["resumable"] is False
    table = pq.read_table(path)
    schema = {field.name: str(field.type) for field in table.schema}
    assert schema["ID"] == "int64"
    assert schema["OPPORTUNITY"] == "double"
    assert schema["DATE_MODIFY"] == "timestamp[us, tz=UTC]"
    assert schema["BEGINDATE"] == "date32[day]"
    assert schema["OPENED"] == "bool"
    assert schema["UF_CRM_1719812400105"] == "bool"
    assert sorted(table.column("ID").to_pylist()) == seeded_ids(portal)
    assert not [p for p in path.parent.iterdir() if p.name != "deals.parquet"]  # no spool left


@pytest.mark.parametrize("name", ["deals.csv", "deals.csv.gz"])
def test_csv_output(make_portal, tmp_path, name):
    portal = make_portal(deals=700)
    path = tmp_path / name
    summary = Bitrix24GetAllOperator(
        task_id="export", method="crm.deal.list", select=["ID", "TITLE", "DATE_MODIFY"], output_path=str(path)
    ).execute(make_context())
    frame = pd.read_csv(path)
    assert list(frame.columns) == ["ID", "TITLE", "DATE_MODIFY"]
    assert sorted(frame["ID"]) == seeded_ids(portal) and summary["rows"] == 700


def test_a_failed_export_leaves_the_previous_file(make_portal, tmp_path):
    portal = make_portal(deals=6000, simulate_cost=True)
    path = tmp_path / "deals.parquet"
    path.write_bytes(b"previous")

    def break_portal_after_first_chunk() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(path.parent.glob(".deals.parquet.*/part-*")):
                configure(portal, {"faults": {"server_error": 1.0}})
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=break_portal_after_first_chunk)
    watcher.start()
    op = Bitrix24GetAllOperator(
        task_id="export",
        method="crm.deal.list",
        output_path=str(path),
        chunk_rows=500,
        client_kwargs={
            "settings": {"max_parallel_chains": 1, "retry": {"max_attempts": 2, "base": 0.01, "cap": 0.02}}
        },
    )
    with pytest.raises(Exception, match=r"500|server|Internal"):
        op.execute(make_context())
    watcher.join()
    assert path.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deals.parquet"]


def test_df_callable_gets_typed_chunks(make_portal):
    portal = make_portal(deals=1100)
    chunks: list[pd.DataFrame] = []
    summary = Bitrix24GetAllOperator(
        task_id="export",
        method="crm.deal.list",
        select=["ID", "TITLE", "OPPORTUNITY", "DATE_MODIFY", "CLOSED"],
        df_callable=chunks.append,
        chunk_rows=500,
    ).execute(make_context())
    assert [len(c) for c in chunks] == [500, 500, 100]
    frame = pd.concat(chunks)
    assert sorted(frame["ID"]) == seeded_ids(portal) and summary["rows"] == 1100
    assert str(frame["ID"].dtype) == "Int64"
    assert str(frame["OPPORTUNITY"].dtype) == "Float64"
    assert str(frame["CLOSED"].dtype) == "boolean"
    assert str(frame["DATE_MODIFY"].dtype) == "datetime64[us, UTC]"
    assert summary["target"] == "df_callable"


def test_df_callable_with_data_interval(make_portal):
    from datetime import datetime, timezone

    make_portal(deals=400)
    chunks: list[pd.DataFrame] = []
    start, end = datetime(2023, 1, 1, tzinfo=timezone.utc), datetime(2024, 1, 1, tzinfo=timezone.utc)
    Bitrix24GetAllOperator(
        task_id="export",
        method="crm.deal.list",
        select=["ID"],
        cursor_field="DATE_MODIFY",
        use_data_interval=True,
        lag=0,
        df_callable=chunks.append,
    ).execute(make_context(data_interval=(start, end)))
    frame = pd.concat(chunks)
    assert len(frame) and frame["DATE_MODIFY"].between(start, end, inclusive="left").all()


def test_file_outputs_cannot_merge(tmp_path: Path):
    with pytest.raises(ValueError, match="needs a SQL target"):
        Bitrix24GetAllOperator(
            task_id="x",
            method="crm.deal.list",
            output_path=str(tmp_path / "a.csv"),
            write_disposition="merge",
        )
    with pytest.raises(ValueError, match="needs use_data_interval=True"):
        Bitrix24GetAllOperator(
            task_id="x", method="crm.deal.list", df_callable=print, cursor_field="DATE_MODIFY"
        )


def test_an_unknown_field_leaves_the_previous_file(make_portal, tmp_path: Path):
    portal = make_portal(deals=100)
    path = tmp_path / "deals.csv"
    path.write_bytes(b"previous")
    chunks: list[pd.DataFrame] = []
    for destination in ({"output_path": str(path)}, {"df_callable": chunks.append}):
        with pytest.raises(UnknownFieldError, match=r"filter key 'STAGE' is not a field of crm\.deal"):
            Bitrix24GetAllOperator(
                task_id="export", method="crm.deal.list", filter={"STAGE": "WON"}, **destination
            ).execute(make_context())
    commands = stats(portal)["commands_by_method"]
    assert commands["crm.deal.fields"] == 2 and "crm.deal.list" not in commands
    assert path.read_bytes() == b"previous" and sorted(p.name for p in tmp_path.iterdir()) == ["deals.csv"]
    assert chunks == []
