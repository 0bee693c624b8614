"""The exception tree: classes, texts, retryability, scrubbing, pickling (contract §2)."""

from __future__ import annotations

import pickle
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from bitrix24_provider.client import errors as e
from bitrix24_provider.client.error_codes import error_from_response
from bitrix24_provider.client.errors import is_retryable
from bitrix24_provider.client.redact import SECRETS, register_secret

from .conftest import Portal

WEBHOOK = "https://portal.bitrix24.com/rest/7/s3cr3tw3bh00kc0de/crm.deal.list"


def body(code: str, description: str = "some text", **extra: Any) -> dict[str, Any]:
    return {"error": code, "error_description": description, **extra}


def test_str_shows_method_code_status_and_description() -> None:
    err = error_from_response(400, body("NOT_FOUND", "Item not found"), "crm.item.get")
    assert str(err) == "crm.item.get: error 'NOT_FOUND', HTTP 400: Item not found"
    empty = error_from_response(None, body("", "Not found"), "crm.deal.get")
    assert str(empty) == "crm.deal.get: error '': Not found"
    html = error_from_response(502, None, "batch")
    assert str(html) == "batch: error '', HTTP 502: (no error description)"


def test_extra_keys_and_odd_values_are_kept() -> None:
    err = error_from_response(400, body("ERROR_ARGUMENT", "bad", argument="id"), "m")
    assert err.extra == {"argument": "id"}
    odd = error_from_response(400, {"error": 0, "error_description": None}, "m")
    assert odd.code == "0"
    assert odd.description == ""


RETRYABLE = {
    e.QueryLimitExceeded: True,
    e.OperationTimeLimit: True,
    e.ServerError: True,
    e.TransportError: True,
    e.PortalUnreachable: True,
    e.UnexpectedAnswer: True,
    e.BitrixAPIError: False,
    e.AuthError: False,
    e.TokenExpired: False,
    e.InvalidToken: False,
    e.InvalidCredentials: False,
    e.InsufficientScope: False,
    e.MethodNotFound: False,
    e.AccessDenied: False,
    e.InvalidParams: False,
    e.NotFound: False,
    e.IncompleteResultError: False,
    e.BatchError: False,
    e.OutcomeUnknown: False,
    e.InvalidItem: False,
    e.InvalidArgument: False,
    e.ArgumentTypeError: False,
}


@pytest.mark.parametrize(("cls", "retryable"), RETRYABLE.items(), ids=lambda v: getattr(v, "__name__", v))
def test_retryable_is_a_class_attribute(cls: type[e.BitrixError], retryable: bool) -> None:
    assert cls.retryable is retryable
    assert issubclass(cls, e.BitrixError)


#: what no later attempt (a retried task) can fix; the rest may pass later
PERMANENT = {
    e.AuthError,
    e.TokenExpired,
    e.InvalidToken,
    e.InvalidCredentials,
    e.InsufficientScope,
    e.MethodNotFound,
    e.AccessDenied,
    e.InvalidParams,
    e.OutcomeUnknown,
    e.InvalidArgument,
    e.InvalidItem,
    e.ArgumentTypeError,
}


@pytest.mark.parametrize("cls", RETRYABLE, ids=lambda v: v.__name__)
def test_permanent_is_a_class_attribute(cls: type[e.BitrixError]) -> None:
    assert cls.permanent is (cls in PERMANENT)
    assert not (cls.permanent and cls.retryable)


def test_an_operating_block_keeps_its_wait_through_pickling() -> None:
    error = e.OperationTimeLimit("OPERATION_TIME_LIMIT", "Method is blocked", "crm.deal.list", 429)
    assert error.retry_after is None
    error.retry_after = 12.5
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is e.OperationTimeLimit and copy.retry_after == 12.5 and str(copy) == str(error)


def test_hierarchy() -> None:
    cls: type[e.BitrixError]
    for cls in (e.TokenExpired, e.InvalidToken, e.InvalidCredentials, e.InsufficientScope):
        assert issubclass(cls, e.AuthError)
    for cls in (
        e.QueryLimitExceeded,
        e.OperationTimeLimit,
        e.ServerError,
        e.AuthError,
        e.MethodNotFound,
        e.AccessDenied,
        e.InvalidParams,
        e.NotFound,
    ):
        assert issubclass(cls, e.BitrixAPIError)
    for cls in (e.TransportError, e.IncompleteResultError, e.BatchError, e.OutcomeUnknown, e.InvalidArgument):
        assert not issubclass(cls, e.BitrixAPIError)
    assert issubclass(e.InvalidItem, e.InvalidArgument) and issubclass(e.InvalidItem, ValueError)
    assert issubclass(e.ArgumentTypeError, e.InvalidArgument) and issubclass(e.ArgumentTypeError, TypeError)
    for cls in (e.PortalUnreachable, e.UnexpectedAnswer):
        assert issubclass(cls, e.TransportError)


def test_is_retryable() -> None:
    assert is_retryable(e.TransportError("timeout", method="m"))
    assert is_retryable(error_from_response(503, body("QUERY_LIMIT_EXCEEDED"), "m"))
    assert not is_retryable(error_from_response(401, body("expired_token"), "m"))
    assert not is_retryable(TimeoutError())


def test_transport_error_text_and_secret_scrubbing() -> None:
    err = e.TransportError(
        "response is not JSON",
        method="crm.deal.list",
        cause=f"ContentTypeError: 200, url={WEBHOOK}?auth=t0k3nvalue&start=0",
        status=200,
    )
    text = str(err)
    assert text.startswith("crm.deal.list: response is not JSON: HTTP 200: ContentTypeError")
    assert "s3cr3tw3bh00kc0de" not in text
    assert "t0k3nvalue" not in text
    assert "/rest/7/***/crm.deal.list" in text
    assert "s3cr3tw3bh00kc0de" not in err.cause


def test_the_shared_budget_errors_say_what_came_back_and_how_often() -> None:
    refused = e.PortalUnreachable("127.0.0.1", 9, "Connection refused", method="crm.deal.list")
    assert str(refused) == "crm.deal.list: cannot connect to 127.0.0.1:9 (Connection refused)"
    assert str(refused.after(3, 1.44)) == (
        "crm.deal.list: cannot connect to 127.0.0.1:9 (Connection refused) after 3 attempts in 1.4 s"
    )
    page = e.UnexpectedAnswer(200, "text/html; charset=utf-8", 182, "502 Bad Gateway", method="crm.deal.list")
    assert (
        str(page) == 'crm.deal.list: HTTP 200 text/html, 182 bytes, not a Bitrix24 answer: "502 Bad Gateway"'
    )
    assert (page.cause, page.status, page.content_type) == ("html", 200, "text/html; charset=utf-8")
    assert e.UnexpectedAnswer(200, "application/json", 5, '{"res').cause == "malformed_body"


@pytest.fixture
def registered() -> Iterator[str]:
    secret = "r3gist3r3d-s3cr3t"
    register_secret(secret)
    yield secret
    SECRETS.discard(secret)


def test_registered_secrets_never_reach_exception_texts(registered: str) -> None:
    api = error_from_response(400, body("", f"cannot use {registered} here"), "m")
    transport = e.TransportError(f"failed with {registered}", cause=registered)
    incomplete = e.IncompleteResultError("m", detail=f"page {registered}")
    unknown = e.OutcomeUnknown("crm.deal.add", f"timeout at {WEBHOOK} with {registered}", index=3)
    item = e.InvalidItem(2, f"bad key {registered}")
    argument = e.ArgumentTypeError("get_all", f"params['{registered}']", f"got str {registered!r}")
    batch = e.BatchError({"p0": api}, unknown={"p1": unknown})
    unreachable = e.PortalUnreachable("portal.example", 443, f"refused {registered}")
    unexpected = e.UnexpectedAnswer(200, "text/html", 9, f"<title>{registered}")
    for err in (api, transport, incomplete, unknown, item, argument, batch, unreachable, unexpected):
        assert registered not in str(err)
        assert registered not in repr(err)


def test_incomplete_result_error_says_what_is_missing() -> None:
    full = e.IncompleteResultError("crm.deal.list", expected=120, received=100, missing_ids=(51, 100))
    assert str(full) == (
        "crm.deal.list: incomplete result: expected 120 records, received 100 (20 missing); "
        "IDs 51..100 were not covered"
    )
    assert (full.expected, full.received, full.missing_ids) == (120, 100, (51, 100))
    partial = e.IncompleteResultError("tasks.task.list", received=7, detail="chain stopped at cmd_3")
    assert str(partial) == "tasks.task.list: incomplete result: received 7 records; chain stopped at cmd_3"
    assert str(e.IncompleteResultError("m")) == "m: incomplete result: completeness not proven"


def test_outcome_unknown_names_the_item_and_keeps_when_it_was_sent() -> None:
    err = e.OutcomeUnknown("crm.deal.add", "batch: TimeoutError", sent_at=12.5)
    assert str(err) == "crm.deal.add: outcome unknown, the portal may have run it: batch: TimeoutError"
    item = err.for_item("crm.deal.add", 7)
    assert (item.index, item.sent_at, item.cause) == (7, 12.5, "batch: TimeoutError")
    assert str(item).startswith("crm.deal.add (item 7): outcome unknown")
    both = e.BatchError({"c0": e.InvalidParams("", "bad", "crm.deal.add")}, {"c1": 5}, unknown={"c2": item})
    assert str(both).startswith("batch: 1 of 3 commands failed, 1 with an unknown outcome: [c0] ")
    assert both.unknown == {"c2": item}


def test_batch_error_keeps_per_command_errors_and_results() -> None:
    errors = {
        f"p{i}": error_from_response(None, body("OPERATION_TIME_LIMIT" if i % 2 else "", "Not found"), "m")
        for i in range(7)
    }
    err = e.BatchError(errors, results={"ok": [1, 2]})
    assert err.errors == errors
    assert err.results == {"ok": [1, 2]}
    assert err.retryable_keys == ["p1", "p3", "p5"]
    assert str(err).startswith("batch: 7 of 8 commands failed: [p0] m: error '': Not found; [p1] m: error ")
    assert str(err).endswith("; and 2 more")


@pytest.mark.parametrize(
    "err",
    [
        error_from_response(400, body("ERROR_ARGUMENT", "bad", argument="id"), "crm.deal.get"),
        error_from_response(None, body("", "Not found"), "crm.deal.get"),
        e.TransportError("timeout", method="batch", cause="TimeoutError()", status=None),
        e.PortalUnreachable("127.0.0.1", 9, "Connection refused", method="m", attempts=3, elapsed=1.4),
        e.UnexpectedAnswer(502, "text/html", 182, "502 Bad Gateway", method="batch").after(5, 6.25),
        e.IncompleteResultError("crm.deal.list", expected=3, received=2, missing_ids=(1, 2), detail="x"),
        e.BatchError({"p0": error_from_response(None, body("", "Not found"), "m")}, {"p1": True}),
        e.OutcomeUnknown("crm.deal.add", "ServerDisconnectedError", index=4, sent_at=1.5),
        e.InvalidItem(3, "fields[ORIGIN_ID] is empty"),
        e.InvalidArgument("get_all", "params['start']", "is not accepted: get_all() pages by itself"),
        e.ArgumentTypeError("get_by_ID", "ID_list[0]", "must be an id, got list ['a']"),
        e.BatchError({}, {"c0": 1}, unknown={"c1": e.OutcomeUnknown("crm.deal.add", "timeout", index=1)}),
    ],
    ids=lambda err: type(err).__name__,
)
def test_errors_survive_pickling(err: e.BitrixError) -> None:
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is type(err)
    assert str(copy) == str(err)
    assert vars(copy).keys() == vars(err).keys()
    assert repr(vars(copy)) == repr(vars(err))


def test_client_foundation_imports_nothing_from_airflow_or_the_emulator() -> None:
    code = (
        "import sys\n"
        "import bitrix24_provider.client.errors, bitrix24_provider.client.redact\n"
        "import bitrix24_provider.client.encoding, bitrix24_provider.client.throttle\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'airflow'"
        " or m.startswith('bitrix24_provider.emulator'))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_fast_bitrix24s_name_catches_refused_commands(portal: Portal) -> None:
    """fast_bitrix24 raises ``ErrorInServerResponseException`` when the portal refused commands of a
    batch (``get_by_ID``, ``call()`` of many, ``call_batch``); catching it by that name still works."""
    from bitrix24_provider.client import BitrixAsync, ErrorInServerResponseException

    ids = await portal.ids()
    async with BitrixAsync(portal.webhook, verbose=False) as bx:
        with pytest.raises(ErrorInServerResponseException) as by_id:
            await bx.get_by_ID("crm.deal.get", [ids[0], 999_999_999])
        with pytest.raises(ErrorInServerResponseException):
            await bx.call("crm.deal.get", [{"id": ids[0]}, {"id": 0}])
        with pytest.raises(ErrorInServerResponseException):
            await bx.call_batch({"halt": 0, "cmd": {"a": "crm.deal.get?id=0"}})
    assert list(by_id.value.errors) == ["i1"] and list(by_id.value.results) == ["i0"]
