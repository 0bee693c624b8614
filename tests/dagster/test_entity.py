"""``Bitrix24Entity``: defaults and every check that needs no portal, at construction."""

from __future__ import annotations

import pytest

from bitrix24_provider.dagster import Bitrix24Entity
from bitrix24_provider.staging.errors import InvalidIdentifierError, StagingConfigError


def test_defaults_follow_the_operator():
    full = Bitrix24Entity("crm.deal.list", "deals")
    assert (full.write_disposition, full.key, full.lag) == ("replace", ("ID",), 5.0)
    incremental = Bitrix24Entity(
        "crm.item.list", "items", cursor_field="updatedTime", request_params={"entityTypeId": 1032}
    )
    assert (incremental.write_disposition, incremental.key) == ("merge", ("id",))
    assert Bitrix24Entity("crm.lead.list", "leads", primary_key="ID").key == ("ID",)


def test_json_round_trip():
    entity = Bitrix24Entity(
        "crm.deal.list",
        "deals",
        cursor_field="DATE_MODIFY",
        select=["*", "UF_*"],
        filter={">OPPORTUNITY": 10},
    )
    again = Bitrix24Entity.from_json(entity.to_json())
    assert again.to_json() == entity.to_json()
    assert again.select == ("*", "UF_*") and again.filter == {">OPPORTUNITY": 10}


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"method": " ", "table": "t"}, StagingConfigError, "method"),
        ({"method": "crm.deal.list", "table": "bad name"}, InvalidIdentifierError, "table"),
        (
            {"method": "crm.deal.list", "table": "t", "write_disposition": "upsert"},
            StagingConfigError,
            "upsert",
        ),
        (
            {
                "method": "crm.deal.list",
                "table": "t",
                "cursor_field": "DATE_MODIFY",
                "write_disposition": "replace",
            },
            StagingConfigError,
            "replace",
        ),
        (
            {"method": "crm.deal.list", "table": "t", "write_disposition": "merge", "primary_key": []},
            StagingConfigError,
            "primary_key",
        ),
        ({"method": "crm.deal.list", "table": "t", "select": "ID"}, StagingConfigError, "select"),
        ({"method": "crm.deal.list", "table": "t", "filter": ["ID"]}, StagingConfigError, "filter"),
        ({"method": "crm.deal.list", "table": "t", "lag": -1}, StagingConfigError, "lag"),
        (
            {"method": "crm.deal.list", "table": "t", "column_policy": "drop"},
            StagingConfigError,
            "column_policy",
        ),
        (
            {"method": "crm.deal.list", "table": "t", "filter": {"ID": object()}},
            StagingConfigError,
            "cannot be sent",
        ),
        ({"method": "lists.element.get", "table": "t"}, StagingConfigError, "fields"),
    ],
)
def test_bad_arguments_fail_at_construction(arguments, error, message):
    with pytest.raises(error, match=message):
        Bitrix24Entity(**arguments)
