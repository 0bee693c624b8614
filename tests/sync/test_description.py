"""The ``.fields`` answer of each family, read from the emulator over HTTP: kinds, names, answer time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bitrix24_provider.client import Bitrix
from bitrix24_provider.client.errors import MethodNotFound, ServerError
from bitrix24_provider.client.retry import RetryPolicy
from bitrix24_provider.client.settings import ClientSettings
from bitrix24_provider.emulator import CostModel
from bitrix24_provider.staging.errors import FieldsAnswerError, StagingConfigError
from bitrix24_provider.sync.description import (
    describe,
    described_columns,
    read_answer,
    required_fields_call,
    selected_rows,
)
from bitrix24_provider.sync.spelling import fields_call
from tests.staging._support import stats

#: four attempts with backoff sleeps of up to 5 portal seconds, run 1000 times faster
FAST_RETRIES = {
    "time_scale": 1000,
    "settings": ClientSettings(retry=RetryPolicy(max_attempts=4, base=1.0, cap=5.0)),
}


@pytest.fixture
def portal(make_portal):
    return make_portal(deals=20, items=20, tasks=20, users=5)


@pytest.fixture
def client(portal):
    with Bitrix(portal.webhook_url) as bx:
        yield bx


def test_deal_fields_give_typed_columns_including_uf(client):
    kinds = describe(client, "crm.deal.list", {}).kinds
    assert kinds["ID"] == "integer"
    assert kinds["OPPORTUNITY"] == "double"
    assert kinds["DATE_MODIFY"] == "datetime"
    assert kinds["BEGINDATE"] == "date"
    assert kinds["OPENED"] == "boolean"  # char Y/N
    assert kinds["STAGE_ID"] == "text"  # crm_status
    assert kinds["CONTACT_IDS"] == "json"  # isMultiple
    custom = {name: kind for name, kind in kinds.items() if name.startswith("UF_")}
    assert sorted(custom.values()) == ["boolean", "datetime", "double", "json", "text", "text"]


def test_classic_names_match_in_any_case(client):
    description = describe(client, "crm.deal.list", {})
    assert description.subject == "crm.deal" and description.names[0] == "ID"
    assert description.row_name("DATE_MODIFY") == description.row_name("date_modify") == "DATE_MODIFY"
    assert description.row_name("NO_SUCH_FIELD") is None
    assert description.is_mask("*") and description.is_mask("uf_*") and not description.is_mask("UF_CRM_*")


def test_item_fields_are_keyed_by_the_camel_case_row_names(client):
    description = describe(client, "crm.item.list", {"entityTypeId": 1032})
    kinds = description.kinds
    assert kinds["id"] == "integer"
    assert kinds["updatedTime"] == "datetime"
    assert kinds["observers"] == "json"
    uf = [name for name in kinds if name.startswith("ufCrm")]
    assert uf and description.subject == "crm.item (entityTypeId 1032)"
    # the upperName spellings return the camelCase row fields; no case folding for crm.item
    assert description.row_name("UPDATED_TIME") == "updatedTime"
    assert description.row_name(uf[0].replace("ufCrm", "UF_CRM_")) == uf[0]
    assert description.row_name("updatedtime") is None
    assert description.is_mask("*") and not description.is_mask("UF_*")


def test_item_rows_keep_original_uf_names_when_asked(client):
    description = describe(client, "crm.item.list", {"entityTypeId": 1032, "useOriginalUfNames": "Y"})
    uf = sorted(name for name in description.kinds if name.startswith("UF_CRM_"))
    assert uf and not [name for name in description.kinds if name.startswith("ufCrm")]
    camel = "ufCrm" + uf[0][len("UF_CRM_") :]
    assert description.row_name(camel) == description.row_name(uf[0]) == uf[0]
    assert selected_rows(description, ["id", camel], "crm.item.list") == ["id", uf[0]]


def test_task_fields_are_renamed_to_the_row_spelling(client):
    description = describe(client, "tasks.task.list", {})
    assert description.kinds["changedDate"] == "datetime"
    assert description.kinds["id"] == "integer"
    assert description.kinds["ufCrmTask"] == "json"  # type array
    assert description.row_name("CHANGED_DATE") == description.row_name("changedDate") == "changedDate"
    assert description.is_filter_only("real_status") and not description.is_filter_only("TITLE")
    # tasks rows carry group and subStatus whatever the select
    assert selected_rows(description, ["ID", "TITLE"], "tasks.task.list") == [
        "id",
        "title",
        "group",
        "subStatus",
    ]


def test_user_fields_give_names_without_types(client):
    description = describe(client, "user.get", {})
    assert description.kinds == {}
    assert description.row_name("uf_department") == "UF_DEPARTMENT"


def test_answered_at_is_the_portal_time_the_fields_answer_started(make_portal):
    # every call takes 5 portal seconds (0.5 s at time_scale 10): the start is told from the finish
    portal = make_portal(
        deals=5, utc_offset="-05:00", time_scale=10, simulate_cost=True, costs=CostModel(base=5.0)
    )
    with Bitrix(portal.webhook_url, time_scale=10) as bx:
        before = stats(portal)["portal_time"]
        answered_at = describe(bx, "crm.deal.list", {}).answered_at
        after = stats(portal)["portal_time"]
    assert answered_at.utcoffset() == timedelta(hours=-5)
    assert answered_at.microsecond == 0
    # whole seconds, floored: not after the portal started answering, 5 s before it finished
    assert int(before) <= answered_at.timestamp() <= after - 5


def test_a_failing_fields_call_raises_the_client_error_after_its_retries(make_portal, caplog):
    portal = make_portal(deals=5, failing_methods=["crm.deal.fields"])
    with Bitrix(portal.webhook_url, **FAST_RETRIES) as bx, pytest.raises(ServerError) as failure:
        describe(bx, "crm.deal.list", {})
    assert stats(portal)["commands_by_method"] == {"crm.deal.fields": 4}
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "crm.deal.fields failed" in errors[0]
    assert portal.config.webhook_code not in errors[0] + str(failure.value)


def test_an_unknown_fields_method_raises(client, portal):
    with pytest.raises(MethodNotFound):
        describe(client, "crm.nothing.list", {})
    assert stats(portal)["http_by_status"] == {"404": 1}  # not retried


def test_a_method_without_a_fields_method_needs_column_types_values(client, portal):
    with pytest.raises(StagingConfigError, match=r"profile.*column_types='values'"):
        describe(client, "profile", {})
    assert stats(portal)["http_requests"] == 0


def test_fields_call_names():
    assert fields_call("crm.deal.list", {}) == ("crm.deal.fields", {})
    assert fields_call("crm.item.list", {"entityTypeId": 7}) == ("crm.item.fields", {"entityTypeId": 7})
    assert fields_call("tasks.task.list", {}) == ("tasks.task.getfields", {})
    assert fields_call("user.get", {}) == ("user.fields", {})
    assert fields_call("profile", {}) is None
    assert required_fields_call("crm.item.list", {}) == ("crm.item.fields", {})


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({"result": {"ID": {"type": "integer"}}}, "no time.date_start"),
        ({"result": {"ID": {"type": "integer"}}, "time": {"date_start": "2026-05-14T10:26:32"}}, "offset"),
        ({"result": {}, "time": {"date_start": "2026-05-14T10:26:32+02:00"}}, "describes no field"),
        ({"result": [], "time": {"date_start": "2026-05-14T10:26:32+02:00"}}, "describes no field"),
    ],
)
def test_an_answer_without_time_or_fields_is_refused(answer, problem):
    with pytest.raises(FieldsAnswerError, match=problem):
        read_answer("crm.deal.list", {}, "crm.deal.fields", answer)


def test_read_answer_takes_the_time_as_sent():
    answer = {"result": {"ID": {"type": "integer"}}, "time": {"date_start": "2026-05-14T10:26:32+02:00"}}
    moment = read_answer("crm.deal.list", {}, "crm.deal.fields", answer).answered_at
    assert moment == datetime(2026, 5, 14, 8, 26, 32, tzinfo=timezone.utc)


def test_described_columns_of_an_empty_export(client):
    description = describe(client, "tasks.task.list", {})
    columns = described_columns(description, ["ID", "CHANGED_DATE"], "tasks.task.list")
    assert [(c.name, c.kind) for c in columns] == [("id", "integer"), ("changedDate", "datetime")]
    assert [c.name for c in described_columns(None, ["ID", "CHANGED_DATE"], "tasks.task.list")] == [
        "id",
        "changedDate",
    ]
    assert described_columns(None, ["*"], "crm.deal.list") == []
