"""How field names are spelled in requests and rows, per list family."""

from __future__ import annotations

from bitrix24_provider.sync.incremental import CursorField
from bitrix24_provider.sync.spelling import camel_to_upper, fields_call, upper_to_camel


def test_task_name_spellings():
    assert upper_to_camel("CHANGED_DATE") == "changedDate"
    assert upper_to_camel("UF_CRM_TASK") == "ufCrmTask"
    assert camel_to_upper("changedDate") == "CHANGED_DATE"
    assert CursorField.for_method("tasks.task.list", "CHANGED_DATE") == CursorField(
        "CHANGED_DATE", "changedDate"
    )
    assert CursorField.for_method("tasks.task.list", "changedDate") == CursorField(
        "CHANGED_DATE", "changedDate"
    )
    assert CursorField.for_method("crm.item.list", "updatedTime") == CursorField("updatedTime", "updatedTime")


def test_the_fields_method_of_a_list_method():
    assert fields_call("crm.deal.list", {}) == ("crm.deal.fields", {})
    assert fields_call("crm.item.list", {"entityTypeId": 1032}) == ("crm.item.fields", {"entityTypeId": 1032})
    assert fields_call("tasks.task.list", {}) == ("tasks.task.getfields", {})
    assert fields_call("user.get", {}) == ("user.fields", {})
    assert fields_call("server.time", {}) is None
