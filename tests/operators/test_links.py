"""The "Bitrix24 list" extra link: the entity's list in the portal, for every method family, resolved
from the task's connection and never carrying a secret."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bitrix24_provider.operators.bitrix24 import Bitrix24CallOperator, Bitrix24GetAllOperator
from bitrix24_provider.operators.links import Bitrix24ListLink, entity_list_url

PORTAL = "https://acme.bitrix24.com"
CODE = "s3cr3twebhookcode42"
CONN_ID = "b24_link"

FAMILIES = [
    ("crm.deal.list", None, None, None, "/crm/deal/list/"),
    ("crm.lead.list", None, None, None, "/crm/lead/list/"),
    ("crm.contact.update", None, None, None, "/crm/contact/list/"),
    ("CRM.Company.List", None, None, None, "/crm/company/list/"),
    ("crm.quote.list", None, None, None, "/crm/quote/list/"),
    ("crm.item.list", {"entityTypeId": 1032}, None, None, "/crm/type/1032/list/category/0/"),
    ("crm.item.list", {"entityTypeId": "31"}, None, None, "/crm/type/31/list/category/0/"),
    ("crm.item.list", {"entityTypeId": 2}, None, None, "/crm/deal/list/"),
    ("crm.item.update", None, [{"entityTypeId": 1032, "id": 1}, {"entityTypeId": 1032, "id": 2}], None,
     "/crm/type/1032/list/category/0/"),
    ("crm.item.update", None, [{"entityTypeId": 1032}, {"entityTypeId": 1040}], None, "/crm/"),
    ("crm.item.list", None, None, None, "/crm/"),
    ("crm.activity.list", None, None, None, "/crm/"),
    ("tasks.task.list", None, None, "7", "/company/personal/user/7/tasks/"),
    ("tasks.task.list", None, None, None, "/"),
    ("user.get", None, None, "7", "/company/"),
    ("profile", None, None, "7", "/"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "call_params", "items", "user", "path"),
    FAMILIES,
    ids=[
        "deal", "lead", "contact-write", "company-case", "quote", "smart-process", "smart-invoice",
        "item-of-a-classic-entity", "items-of-one-type", "items-of-two-types", "item-without-type",
        "other-crm", "tasks", "tasks-without-user", "users", "other",
    ],
)  # fmt: skip
def test_entity_list_url(method, call_params, items, user, path):
    assert entity_list_url(PORTAL, method, call_params, items, user) == PORTAL + path


def test_a_portal_below_a_path_keeps_it():
    assert (
        entity_list_url("http://127.0.0.1:8765/b24/", "crm.deal.list")
        == "http://127.0.0.1:8765/b24/crm/deal/list/"
    )


def link_of(monkeypatch: pytest.MonkeyPatch, operator: Any, **conn: Any) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "bitrix24", **conn}))
    (link,) = operator.operator_extra_links
    assert isinstance(link, Bitrix24ListLink)
    assert link.name == "Bitrix24 list"
    url: str = link.get_link(operator, ti_key=None)
    return url


def get_all(method: str = "crm.deal.list", **kwargs: Any) -> Bitrix24GetAllOperator:
    return Bitrix24GetAllOperator(
        task_id="export", method=method, bitrix24_conn_id=CONN_ID, df_callable=print, **kwargs
    )


class TestLinkOfATask:
    def test_documented_layout(self, monkeypatch):
        url = link_of(monkeypatch, get_all(), host=PORTAL, login="7", password=CODE)
        assert url == f"{PORTAL}/crm/deal/list/"

    def test_a_code_in_host_never_reaches_the_link(self, monkeypatch):
        url = link_of(monkeypatch, get_all("tasks.task.list"), host=f"{PORTAL}/rest/7/{CODE}/")
        assert url == f"{PORTAL}/company/personal/user/7/tasks/"
        assert CODE not in url and "/rest/" not in url

    def test_bare_host_schema_and_port(self, monkeypatch):
        url = link_of(
            monkeypatch, get_all(), host="127.0.0.1", schema="http", port=8765, login="1", password=CODE
        )
        assert url == "http://127.0.0.1:8765/crm/deal/list/"

    def test_smart_process_of_a_get_all(self, monkeypatch):
        operator = get_all("crm.item.list", call_params={"entityTypeId": 1032})
        assert link_of(monkeypatch, operator, host=PORTAL, login="1", password=CODE) == (
            f"{PORTAL}/crm/type/1032/list/category/0/"
        )

    def test_items_of_a_call(self, monkeypatch):
        items = [{"entityTypeId": 1032, "id": n, "fields": {"title": "x"}} for n in range(3)]
        operator = Bitrix24CallOperator(
            task_id="write", method="crm.item.update", items=items, bitrix24_conn_id=CONN_ID
        )
        assert link_of(monkeypatch, operator, host=PORTAL, login="1", password=CODE) == (
            f"{PORTAL}/crm/type/1032/list/category/0/"
        )

    def test_oauth_carries_no_secret(self, monkeypatch):
        extra = {"auth_type": "oauth", "client_id": "app", "client_secret": CODE, "refresh_token": CODE + "r"}
        url = link_of(monkeypatch, get_all("crm.lead.list"), host=PORTAL, extra=extra)
        assert url == f"{PORTAL}/crm/lead/list/"

    def test_an_incomplete_connection_still_names_its_portal(self, monkeypatch):
        assert link_of(monkeypatch, get_all(), host=PORTAL, login="1") == f"{PORTAL}/crm/deal/list/"

    def test_no_portal_no_link(self, monkeypatch):
        assert link_of(monkeypatch, get_all(), login="1", password=CODE) == ""
        monkeypatch.delenv(f"AIRFLOW_CONN_{CONN_ID.upper()}")
        (link,) = get_all().operator_extra_links
        assert link.get_link(get_all(), ti_key=None) == ""  # no such connection
