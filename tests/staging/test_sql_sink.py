"""The SQL sink on real SQLite and PostgreSQL: staging, atomic publish, merge, column policies,
state in the same transaction."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from bitrix24_provider.staging.columns import Column
from bitrix24_provider.staging.database import Database
from bitrix24_provider.staging.errors import ColumnDropError, ColumnPolicyError, MissingKeyError
from bitrix24_provider.staging.identifiers import TableName
from bitrix24_provider.staging.sink import Progress
from bitrix24_provider.staging.sql_sink import SqlSink
from bitrix24_provider.staging.sync_state import StateKey

KINDS = {
    "ID": "integer",
    "TITLE": "text",
    "OPPORTUNITY": "double",
    "OPENED": "boolean",
    "DATE_MODIFY": "datetime",
    "BEGINDATE": "date",
    "UF_CRM_TAGS": "json",
}


def deal(i: int, *, title: str | None = None, modified: str = "2024-01-01T10:00:00+03:00", **extra: Any):
    return {
        "ID": str(i),
        "TITLE": title or f"deal {i}",
        "OPPORTUNITY": f"{i}.50",
        "OPENED": "Y" if i % 2 else "N",
        "DATE_MODIFY": modified,
        "BEGINDATE": "2024-01-01T03:00:00+03:00",
        "UF_CRM_TAGS": ["a", str(i)],
        **extra,
    }


def sink_for(
    target, table: str, disposition: str = "replace", policy: str = "add", selected=None, **kwargs: Any
) -> SqlSink:
    db = Database(sa.create_engine(target.url))
    name = TableName.checked(table, target.schema)
    sink = SqlSink(
        db,
        name,
        disposition=disposition,
        key=("ID",),
        column_policy=policy,
        kinds=KINDS,
        state_key=StateKey(name.label, "crm.deal.list", "DATE_MODIFY"),
        cursor_column="DATE_MODIFY",
        **kwargs,
    )
    sink.check_target(selected)
    sink.start(None)
    return sink


def load(target, table, rows_chunks, disposition="replace", policy="add", max_cursor=None, **kwargs: Any):
    sink = sink_for(target, table, disposition, policy, **kwargs)
    try:
        for rows in rows_chunks:
            sink.write(rows)
        return sink.finish(Progress(max_cursor=max_cursor))
    except BaseException:
        sink.abort(keep=False)
        raise
    finally:
        sink.db.dispose()


def test_replace_creates_a_typed_table(sql_target):
    finished = load(sql_target, "deals", [[deal(1), deal(2)], [deal(3)]])
    assert finished.rows == 3
    assert sql_target.ids("deals") == [1, 2, 3]
    types = sql_target.column_types("deals")
    if sql_target.kind == "postgres":
        assert types == {
            "ID": "BIGINT",
            "TITLE": "TEXT",
            "OPPORTUNITY": "DOUBLE PRECISION",
            "OPENED": "BOOLEAN",
            "DATE_MODIFY": "TIMESTAMP WITH TIME ZONE",
            "BEGINDATE": "DATE",
            "UF_CRM_TAGS": "JSONB",
        }
        row = sql_target.rows(
            f'SELECT "OPENED", "DATE_MODIFY" = TIMESTAMPTZ \'2024-01-01T07:00:00Z\', "UF_CRM_TAGS"->>1 '
            f'FROM {sql_target.qualified("deals")} WHERE "ID" = 3'
        )[0]
        assert row == (True, True, "3")
    else:
        assert types["ID"] == "INTEGER" and types["OPPORTUNITY"] == "REAL" and types["DATE_MODIFY"] == "TEXT"
        row = sql_target.rows(
            'SELECT "OPENED", "DATE_MODIFY", "BEGINDATE", "UF_CRM_TAGS" FROM "deals" WHERE "ID" = 3'
        )[0]
        assert row == (1, "2024-01-01T10:00:00+03:00", "2024-01-01", '["a","3"]')
    # no staging table left behind
    assert not [t for t in sql_target.tables() if t.startswith("_b24stg_")]


def test_target_is_untouched_until_finish_and_after_abort(sql_target):
    load(sql_target, "deals", [[deal(1), deal(2)]])
    sink = sink_for(sql_target, "deals")
    sink.write([deal(10), deal(11), deal(12)])
    assert sql_target.ids("deals") == [1, 2]  # staged, not published
    sink.abort(keep=False)
    sink.db.dispose()
    assert sql_target.ids("deals") == [1, 2]
    assert not [t for t in sql_target.tables() if t.startswith("_b24stg_")]


def test_readers_never_see_a_half_replaced_table(sql_target):
    load(sql_target, "deals", [[deal(i) for i in range(1, 101)]])
    sink = sink_for(sql_target, "deals")
    for start in range(1000, 1500, 100):
        sink.write([deal(i) for i in range(start, start + 100)])
    seen: list[Any] = []
    stop = threading.Event()
    engine = sa.create_engine(
        sql_target.url, connect_args={"timeout": 30} if sql_target.kind == "sqlite" else {}
    )

    def read() -> None:
        while not stop.is_set():
            try:
                with engine.connect() as conn:
                    seen.append(
                        conn.exec_driver_sql(f"SELECT COUNT(*) FROM {sql_target.qualified('deals')}").scalar()
                    )
            except Exception as error:  # a missing table would show up here
                seen.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.2)
    sink.finish(Progress())
    time.sleep(0.2)
    stop.set()
    reader.join()
    sink.db.dispose()
    engine.dispose()
    assert set(seen) <= {100, 500}, [s for s in seen if s not in (100, 500)][:3]
    assert 100 in seen and 500 in seen


def test_append_adds_rows(sql_target):
    load(sql_target, "deals", [[deal(1), deal(2)]], "append")
    load(sql_target, "deals", [[deal(2), deal(3)]], "append")
    assert sql_target.ids("deals") == [1, 2, 2, 3]


def test_merge_upserts_and_dedupes_inside_the_load(sql_target):
    load(sql_target, "deals", [[deal(1), deal(2), deal(3)]], "merge")
    load(
        sql_target,
        "deals",
        [
            [
                deal(2, title="newer", modified="2024-02-02T00:00:00+03:00"),
                deal(2, title="older", modified="2024-01-05T00:00:00+03:00"),  # same key, lower cursor
                deal(4),
            ],
            [deal(4, title="last seen")],  # repeated in a later chunk: the last one wins
        ],
        "merge",
        max_cursor="2024-02-02T00:00:00+03:00",
    )
    rows = dict(sql_target.rows(f'SELECT "ID", "TITLE" FROM {sql_target.qualified("deals")}'))
    assert rows == {1: "deal 1", 2: "newer", 3: "deal 3", 4: "last seen"}
    assert sql_target.state("deals") == [("crm.deal.list", "DATE_MODIFY", "2024-02-02T00:00:00+03:00", 2)]


def test_merge_into_a_table_without_unique_key(sql_target):
    sql_target.execute(f'CREATE TABLE {sql_target.qualified("deals")} ("ID" BIGINT, "TITLE" TEXT)')
    sql_target.execute(f"INSERT INTO {sql_target.qualified('deals')} VALUES (1, 'old'), (5, 'keep')")
    load(sql_target, "deals", [[{"ID": "1", "TITLE": "new"}, {"ID": "2", "TITLE": "two"}]], "merge")
    assert dict(sql_target.rows(f'SELECT "ID", "TITLE" FROM {sql_target.qualified("deals")}')) == {
        1: "new",
        2: "two",
        5: "keep",
    }


def test_merge_needs_the_key_in_the_target(sql_target):
    sql_target.execute(f'CREATE TABLE {sql_target.qualified("deals")} ("TITLE" TEXT)')
    with pytest.raises(MissingKeyError, match="has no column"):
        sink_for(sql_target, "deals", "merge")


@pytest.mark.parametrize("disposition", ["merge", "append", "replace"])
def test_column_policies(sql_target, disposition):
    load(sql_target, "deals", [[deal(1)]], disposition)
    with_new = [deal(2, UF_CRM_NEW="x")]

    with pytest.raises(ColumnPolicyError, match="UF_CRM_NEW"):
        load(sql_target, "deals", [with_new], disposition, "fail")
    assert sql_target.ids("deals") == [1]
    assert "UF_CRM_NEW" not in sql_target.column_types("deals")

    finished = load(sql_target, "deals", [with_new], disposition, "ignore")
    assert finished.columns_ignored == ["UF_CRM_NEW"]
    assert "UF_CRM_NEW" not in sql_target.column_types("deals")

    finished = load(sql_target, "deals", [[deal(3, UF_CRM_NEW="y")]], disposition, "add")
    assert finished.columns_added == ["UF_CRM_NEW"]
    assert sql_target.column_types("deals")["UF_CRM_NEW"] == "TEXT"
    values = dict(sql_target.rows(f'SELECT "ID", "UF_CRM_NEW" FROM {sql_target.qualified("deals")}'))
    assert values[3] == "y"


def test_replace_with_ignore_keeps_the_old_shape(sql_target):
    load(sql_target, "deals", [[deal(1, UF_CRM_OLD="o")]])
    load(sql_target, "deals", [[deal(2, UF_CRM_NEW="n")]], policy="ignore")
    types = sql_target.column_types("deals")
    assert "UF_CRM_OLD" in types and "UF_CRM_NEW" not in types
    assert sql_target.ids("deals") == [2]


def test_a_replace_that_drops_columns_fails_at_publish_unless_allowed(sql_target):
    load(sql_target, "deals", [[deal(1, UF_CRM_OLD="o")]], max_cursor="2024-01-01T10:00:00+03:00")
    before_state = sql_target.state("deals")
    with pytest.raises(ColumnDropError, match="would drop column\\(s\\) UF_CRM_OLD of"):
        load(sql_target, "deals", [[deal(2)]], max_cursor="2030-01-01T00:00:00+00:00")
    assert sql_target.ids("deals") == [1] and "UF_CRM_OLD" in sql_target.column_types("deals")
    assert sql_target.state("deals") == before_state
    assert not [t for t in sql_target.tables() if t.startswith("_b24stg_")]

    load(sql_target, "deals", [[deal(2)]], allow_column_drop=True)
    assert sql_target.ids("deals") == [2] and "UF_CRM_OLD" not in sql_target.column_types("deals")


def test_a_selected_column_no_row_carries_is_kept_empty_not_dropped(sql_target):
    """Bitrix24 leaves out empty multi-fields: an explicit select of ``PHONE`` where no row has one
    keeps the target's ``PHONE`` column (empty) instead of failing as a dropped column."""
    load(sql_target, "deals", [[deal(1, PHONE=[{"VALUE": "+1"}])]])
    selected = ["ID", "TITLE", "OPPORTUNITY", "OPENED", "DATE_MODIFY", "BEGINDATE", "UF_CRM_TAGS", "PHONE"]
    load(sql_target, "deals", [[deal(2)]], selected=selected)
    assert sql_target.ids("deals") == [2] and "PHONE" in sql_target.column_types("deals")
    assert sql_target.rows(f'SELECT "PHONE" FROM {sql_target.qualified("deals")}') == [(None,)]


def test_check_target_refuses_a_narrower_replace_before_creating_the_state_table(sql_target):
    sql_target.execute(f'CREATE TABLE {sql_target.qualified("deals")} ("ID" BIGINT, "TITLE" TEXT, "X" TEXT)')
    db = Database(sa.create_engine(sql_target.url))
    name = TableName.checked("deals", sql_target.schema)
    state = StateKey(name.label, "crm.deal.list", "")
    common: dict[str, Any] = {"key": ("ID",), "kinds": KINDS, "state_key": state}
    try:
        sink = SqlSink(db, name, disposition="replace", column_policy="add", **common)
        with pytest.raises(ColumnDropError, match="column\\(s\\) X of"):
            sink.check_target(["ID", "TITLE"])
        assert sql_target.tables() == {"deals"}
        sink.check_target(None)  # a wildcard select: checked at publish
        for allowed in (
            SqlSink(db, name, disposition="replace", column_policy="ignore", **common),
            SqlSink(db, name, disposition="replace", column_policy="add", allow_column_drop=True, **common),
            SqlSink(db, name, disposition="merge", column_policy="add", **common),
        ):
            allowed.check_target(["ID", "TITLE"])
    finally:
        db.dispose()


def test_a_failing_publish_changes_neither_target_nor_state(sql_target):
    load(sql_target, "deals", [[deal(1)]], "merge", max_cursor="2024-01-01T10:00:00+03:00")
    before_state = sql_target.state("deals")
    # the target gets a NOT NULL column the data does not fill: the merge's INSERT must fail
    sql_target.execute(
        f"ALTER TABLE {sql_target.qualified('deals')} ADD COLUMN \"REQUIRED\" TEXT NOT NULL DEFAULT 'x'"
    )
    sql_target.execute(f"UPDATE {sql_target.qualified('deals')} SET \"REQUIRED\" = 'x'")
    sink = sink_for(sql_target, "deals", "merge")
    sink.write([deal(1, title="changed", REQUIRED=None), deal(7, REQUIRED=None)])
    with pytest.raises(sa.exc.IntegrityError):
        sink.finish(Progress(max_cursor="2030-01-01T00:00:00+00:00"))
    sink.abort(keep=False)
    sink.db.dispose()
    assert sql_target.ids("deals") == [1]
    assert sql_target.rows(f'SELECT "TITLE" FROM {sql_target.qualified("deals")}') == [("deal 1",)]
    assert sql_target.state("deals") == before_state


def test_empty_export_creates_the_described_table(sql_target):
    sink = sink_for(sql_target, "empty", fallback_columns=[Column("ID", "integer"), Column("TITLE", "text")])
    assert sink.finish(Progress()).rows == 0
    sink.db.dispose()
    assert sql_target.column_types("empty").keys() == {"ID", "TITLE"}
    assert sql_target.count("empty") == 0


def test_odd_column_names_are_quoted(sql_target):
    rows = [
        {"ID": "1", "RATE_%": "5", 'SAY "HI"': "x", "a:b": "y"},
        {"ID": "2", "RATE_%": "6", 'SAY "HI"': "z", "a:b": "w"},
    ]
    load(sql_target, "odd", [rows], "merge")
    load(sql_target, "odd", [[{"ID": "2", "RATE_%": "7", 'SAY "HI"': "q", "a:b": "v"}]], "merge")
    assert set(sql_target.column_types("odd")) == {"ID", "RATE_%", 'SAY "HI"', "a:b"}
    table = sql_target.qualified("odd")
    got = sql_target.rows(f'SELECT "ID", "RATE_%", "SAY ""HI""", "a:b" FROM {table} ORDER BY 1')
    assert got == [(1, "5", "x", "y"), (2, "7", "q", "v")]
