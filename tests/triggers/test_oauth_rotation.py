"""OAuth token rotation inside a trigger: the trigger runs the way ``dag.test()`` runs triggers
(Airflow's in-process supervisor, so Variables go through the execution API), and every message to
the supervisor is watched for being sent from a thread that runs an event loop."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from bitrix24_provider.hooks.bitrix24 import Bitrix24Hook
from bitrix24_provider.hooks.oauth_tokens import fingerprint
from bitrix24_provider.triggers.bitrix24 import Bitrix24ChangeTrigger
from tests.conftest import airflow_at_least
from tests.hooks.rotation_support import fresh_variable, refresh_grant, store_tokens, stored_tokens
from tests.hooks.support import emulator_stats, newest, oauth_extra, running, set_conn

__all__ = ["fresh_variable"]

CONN_ID = "bitrix24_oauth_trigger"

pytestmark = pytest.mark.usefixtures("fresh_variable")


@pytest.fixture
def supervisor_messages(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every message the code under test sends to the (in-process) supervisor, with the thread."""
    from airflow.sdk.execution_time.supervisor import InProcessSupervisorComms

    seen: list[dict[str, Any]] = []
    send = InProcessSupervisorComms.send

    def watched(self: InProcessSupervisorComms, msg: Any) -> Any:
        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        seen.append(
            {"type": type(msg).__name__, "on_event_loop": on_loop, "thread": threading.current_thread()}
        )
        return send(self, msg)

    monkeypatch.setattr(InProcessSupervisorComms, "send", watched)
    return seen


def warm_up_execution_api() -> None:
    """The in-process execution API's first request takes seconds: not inside a trigger's deadline."""
    from airflow.sdk.execution_time.supervisor import InProcessTestSupervisor

    InProcessTestSupervisor._api_client().variables.get("bitrix24_warm_up")


def run_trigger(trigger: Bitrix24ChangeTrigger) -> Any:
    """Run ``trigger`` the way ``dag.test()`` does: Airflow's in-process supervisor."""
    from airflow.sdk.execution_time.supervisor import InProcessTestSupervisor

    return InProcessTestSupervisor.run_trigger_in_process(
        trigger=trigger, ti=SimpleNamespace(id=uuid.uuid4())
    )


@airflow_at_least("3.3", "the in-process trigger runner these tests drive")
def test_the_trigger_refreshes_and_stores_the_rotated_tokens_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
    supervisor_messages: list[dict[str, Any]],
    capfd: pytest.CaptureFixture[str],
) -> None:
    warm_up_execution_api()
    # access tokens live 20 portal seconds = 1 real second; the trigger polls for 3.5 s
    with running(token_lifetime=20, time_scale=20) as portal:
        set_conn(monkeypatch, CONN_ID, host=portal.base_url, extra=oauth_extra(portal))
        trigger = Bitrix24ChangeTrigger(
            "crm.deal.list",
            newest(portal),  # nothing changes after it: the trigger polls until its deadline
            bitrix24_conn_id=CONN_ID,
            poke_interval=0.3,
            end_time=time.time() + 3.5,
            client_kwargs={"time_scale": 20},
        )
        event = run_trigger(trigger)
        assert event is not None and event.payload["status"] == "timeout"
        refreshes = emulator_stats(portal)["oauth_refreshes"]
        assert refreshes >= 3  # the first access token, then again whenever it expired while polling
        stored = stored_tokens(CONN_ID)
        assert stored is not None and stored["generation"] == refreshes

        # every rotated pair went to the API server, never from the trigger's event loop thread
        puts = [m for m in supervisor_messages if m["type"] == "PutVariable"]
        assert len(puts) == refreshes
        assert supervisor_messages and not [m for m in supervisor_messages if m["on_event_loop"]]
        assert all(m["thread"] is not threading.main_thread() for m in supervisor_messages)

        # the stored pair is the live one: the connection's token is spent, a new hook goes on
        assert refresh_grant(portal, portal.config.refresh_token)["error"] == "invalid_grant"
        with Bitrix24Hook(CONN_ID) as later:
            assert later.test_connection()[0] is True

    output = "".join(capfd.readouterr())
    for secret in (stored["refresh_token"], stored["access_token"], portal.config.client_secret):
        assert secret not in output
        assert secret not in repr(event.payload)


def store_after_rejection(portal: Any, tokens: dict[str, Any]) -> None:
    """Store ``tokens`` as the other task would, once the portal has rejected a stale refresh token."""
    for _ in range(600):
        if emulator_stats(portal)["oauth_rejected_refreshes"]:
            break
        time.sleep(0.05)
    store_tokens(CONN_ID, tokens)


@airflow_at_least("3.3", "the in-process trigger runner these tests drive")
def test_the_trigger_takes_over_a_token_another_task_rotated_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
    supervisor_messages: list[dict[str, Any]],
    capfd: pytest.CaptureFixture[str],
) -> None:
    warm_up_execution_api()
    with running() as portal:  # tokens live an hour: only the takeover needs a new token here
        set_conn(monkeypatch, CONN_ID, host=portal.base_url, extra=oauth_extra(portal))
        origin = fingerprint(portal.config.refresh_token)
        # an earlier task rotated the connection's token and stored the new refresh token
        first = refresh_grant(portal, portal.config.refresh_token)
        store_tokens(CONN_ID, {"refresh_token": first["refresh_token"], "generation": 1, "origin": origin})
        # another task rotates that one just before the trigger needs it, and stores the pair only
        # after the portal turned the trigger's stale token down (an event, not a wall-clock delay)
        second = refresh_grant(portal, first["refresh_token"])
        later = {**second, "generation": 2, "origin": origin}
        writer = threading.Thread(target=store_after_rejection, args=(portal, later))
        writer.start()
        trigger = Bitrix24ChangeTrigger(
            "crm.deal.list",
            newest(portal),
            bitrix24_conn_id=CONN_ID,
            poke_interval=0.2,
            end_time=time.time() + 5,
        )
        try:
            event = run_trigger(trigger)
        finally:
            writer.join()
        assert event is not None and event.payload["status"] == "timeout"
        # the trigger was turned down with the stored token, waited for the writer and went on with
        # the other task's access token: no rotation of its own
        assert emulator_stats(portal)["oauth_refreshes"] == 2
        assert refresh_grant(portal, first["refresh_token"])["error"] == "invalid_grant"
        assert supervisor_messages and not [m for m in supervisor_messages if m["on_event_loop"]]

    output = "".join(capfd.readouterr())
    assert "already rotated elsewhere" in output
    for secret in (first["refresh_token"], second["refresh_token"], second["access_token"]):
        assert secret not in output
