"""LoadSpec: validated once, typed errors before any request, the list request's parameters."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import timedelta

import pytest

from bitrix24_provider.staging.errors import StagingConfigError
from bitrix24_provider.sync import LoadSpec
from bitrix24_provider.sync.spec import family_key


def test_params_add_select_filter_cursor_and_key():
    spec = LoadSpec(
        "crm.deal.list",
        request_params={"order": {"ID": "ASC"}, "filter": {"CATEGORY_ID": 0}},
        select=["TITLE"],
        filter={"STAGE_ID": "WON"},
        primary_key=("ID",),
        cursor_field=" DATE_MODIFY ",
        write_disposition="merge",
    )
    assert spec.params == {
        "order": {"ID": "ASC"},
        "filter": {"CATEGORY_ID": 0, "STAGE_ID": "WON"},
        "select": ["TITLE", "ID", "DATE_MODIFY"],
    }
    assert spec.cursor_field == "DATE_MODIFY"
    assert spec.cursor is not None and spec.cursor.request == "DATE_MODIFY"
    assert spec.select == ("TITLE",)
    spec.params["select"].append("X")  # a copy: the spec stays as built
    assert spec.params["select"] == ["TITLE", "ID", "DATE_MODIFY"]


def test_tasks_spell_the_cursor_for_requests_and_rows():
    spec = LoadSpec("tasks.task.list", select=["TITLE"], primary_key=("id",), cursor_field="changedDate")
    assert spec.cursor is not None
    assert (spec.cursor.request, spec.cursor.response) == ("CHANGED_DATE", "changedDate")
    assert spec.params["select"] == ["TITLE", "ID", "CHANGED_DATE"]


def test_a_wildcard_select_is_sent_as_given():
    assert LoadSpec("crm.deal.list", select=["*", "UF_*"], primary_key=("ID",)).params == {
        "select": ["*", "UF_*"]
    }


def test_the_spec_is_frozen():
    spec = LoadSpec("crm.deal.list")
    with pytest.raises(FrozenInstanceError):
        spec.method = "crm.lead.list"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": " "}, "method must be a Bitrix24 list method name"),
        ({"method": "crm.deal.list", "select": "TITLE"}, "select must be a list of field names"),
        ({"method": "crm.deal.list", "filter": ["x"]}, "filter must be a mapping"),
        ({"method": "crm.deal.list", "request_params": {"start": 50}}, "must not contain 'start'"),
        ({"method": "crm.deal.list", "write_disposition": "upsert"}, "write_disposition must be one of"),
        ({"method": "crm.deal.list", "write_disposition": "merge"}, "needs a primary_key"),
        ({"method": "crm.deal.list", "column_policy": "drop"}, "column_policy must be one of"),
        ({"method": "crm.deal.list", "column_types": "guess"}, "column_types must be one of"),
        ({"method": "crm.deal.list", "chunk_rows": 0}, "chunk_rows must be a positive integer"),
        ({"method": "crm.deal.list", "lag": timedelta(seconds=-1)}, "lag must be a non-negative"),
        ({"method": "crm.deal.list", "progress_interval": -1}, "progress_interval must be non-negative"),
        ({"method": "crm.deal.list", "use_data_interval": True}, "needs a cursor_field"),
        ({"method": "crm.deal.list", "primary_key": ("ID", "")}, "primary_key must be"),
        ({"method": "crm.deal.list", "resumable": "yes"}, "resumable must be True or False"),
        ({"method": "crm.deal.list", "filter": {"ID": object()}}, "the parameters cannot be sent"),
        ({"method": "server.time"}, "column_types='fields' needs the .fields method"),
    ],
)
def test_bad_input_is_one_typed_error(kwargs, message):
    with pytest.raises(StagingConfigError, match=message):
        LoadSpec(**kwargs)


def test_values_typed_loads_need_no_fields_method():
    assert LoadSpec("server.time", column_types="values").params == {}


def test_family_keys():
    assert family_key("crm.deal.list") == ("ID",)
    assert family_key("crm.item.list") == ("id",)
    assert family_key("tasks.task.list") == ("id",)
