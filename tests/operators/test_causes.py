"""What a failed operator says last (``operators.causes``): the typed error, Bitrix24's code and
the connection field to check, in the task log and, on Python 3.11+, after the traceback."""

from __future__ import annotations

import json
import re
import sys

import pytest

from bitrix24_provider.client.errors import (
    AccessDenied,
    InsufficientScope,
    InvalidCredentials,
    InvalidParams,
    InvalidToken,
    MethodNotFound,
    PortalUnreachable,
    UnexpectedAnswer,
)
from bitrix24_provider.hooks.oauth_tokens import reauthorization_required
from bitrix24_provider.operators.bitrix24 import (
    Bitrix24CallError,
    Bitrix24CallOperator,
    Bitrix24GetAllOperator,
)
from bitrix24_provider.operators.causes import failure_hint
from bitrix24_provider.staging.errors import StagingConfigError
from tests.staging._support import make_context

FAILED = re.compile(r"\[error *\] (Failed: .*?) +\[airflow\.task\.operators\.bitrix24_provider")


@pytest.mark.parametrize(
    ("error", "field"),
    [
        (
            InvalidCredentials("INVALID_CREDENTIALS", "Invalid request credentials", "crm.deal.list", 401),
            "Webhook code (password)",
        ),
        (
            InvalidToken("invalid_token", "Unable to authenticate", "crm.deal.list", 401),
            "OAuth client secret",
        ),
        (reauthorization_required("b24", "bitrix24_oauth_token_b24"), "OAuth refresh token"),
        (
            InsufficientScope(
                "insufficient_scope", "The request requires higher privileges", "crm.deal.list", 401
            ),
            "scope",
        ),
        (AccessDenied("ACCESS_DENIED", "Access denied.", "crm.deal.list", 403), "scope"),
        (PortalUnreachable("portal.example", 443, "Name or service not known"), "Portal URL (host)"),
        (UnexpectedAnswer(200, "text/html", 182, "502 Bad Gateway"), "Portal URL (host)"),
        (MethodNotFound("ERROR_METHOD_NOT_FOUND", "Method not found!", "crm.nope.list", 404), "method name"),
    ],
)
def test_the_hint_names_what_to_check(error, field):
    hint = failure_hint(error, "b24")
    assert field in hint
    if field != "method name":
        assert "connection 'b24'" in hint


@pytest.mark.parametrize(
    "error",
    [
        InvalidParams("INVALID_ARG_VALUE", "bad filter", "crm.deal.list", 400),
        StagingConfigError("select ..."),
    ],
)
def test_errors_that_name_their_cause_get_no_hint(error):
    assert failure_hint(error, "b24") == ""


def test_a_refused_webhook_ends_the_log_with_the_code_and_the_fields(
    make_portal, tmp_path, monkeypatch, capfd
):
    portal = make_portal(deals=10)
    wrong = portal.webhook_url.replace(portal.config.webhook_code, "wrongcode4711")
    monkeypatch.setenv("AIRFLOW_CONN_BITRIX24_DEFAULT", json.dumps({"conn_type": "bitrix24", "host": wrong}))
    operator = Bitrix24GetAllOperator(
        task_id="export", method="crm.deal.list", output_path=str(tmp_path / "d.csv")
    )
    with pytest.raises(InvalidCredentials) as failure:
        operator.execute(make_context())

    out = capfd.readouterr().out
    (line,) = FAILED.findall(out)
    assert line == (
        "Failed: InvalidCredentials: crm.deal.fields: error 'INVALID_CREDENTIALS', HTTP 401: Invalid request "
        "credentials. Check connection 'bitrix24_default': Webhook code (password), User ID (login) and "
        "Portal URL (host); the portal refused them."
    )
    if sys.version_info >= (3, 11):  # printed after the error's own line at the end of the traceback
        assert failure.value.__notes__ == [line.split(". ", 1)[1]]
    assert "wrongcode4711" not in out


def test_an_unreachable_portal_names_the_host_field(monkeypatch, capfd):
    """Every item of the call failed the same way: the task's error sums them up, the hint is about
    the first one."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_B24_GONE",
        json.dumps({"conn_type": "bitrix24", "host": "http://127.0.0.1:9/rest/1/gonecode42/"}),
    )
    operator = Bitrix24CallOperator(
        task_id="call",
        method="crm.deal.update",
        items=[{"id": 1, "fields": {"TITLE": "x"}}],
        bitrix24_conn_id="b24_gone",
        client_kwargs={"time_scale": 50},
    )
    with pytest.raises(Bitrix24CallError, match="PortalUnreachable") as failure:
        operator.execute(make_context())
    (line,) = FAILED.findall(capfd.readouterr().out)
    assert line.startswith(
        "Failed: Bitrix24CallError: crm.deal.update: 1 of 1 items failed: #0 PortalUnreachable: batch: "
        "cannot connect to 127.0.0.1:9"
    )
    hint = "Check the Portal URL (host) of connection 'b24_gone' and that this worker can reach it."
    assert line.endswith(hint)
    if sys.version_info >= (3, 11):
        assert failure.value.__notes__ == [hint]
    assert "gonecode42" not in line
