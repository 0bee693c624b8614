"""Bitrix24ChangeSensor: pokes against the emulator, deferral, and the trigger event mapping."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pendulum
import pytest
from airflow.sdk import DAG, PokeReturnValue
from airflow.sdk.exceptions import AirflowException

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow < 3.2
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]

from bitrix24_provider.sensors.bitrix24 import AirflowSensorTimeout, Bitrix24ChangeSensor
from bitrix24_provider.triggers.bitrix24 import Bitrix24ChangeTrigger
from tests.hooks.support import NO_RETRY, emulator_ids, newest, rest, running, set_conn, webhook_conn

OLD = "2024-01-01T00:00:00+03:00"
FUTURE = "2099-01-01T00:00:00+00:00"
WRONG_CODE = "wrongsensorcode0042"


@pytest.fixture(scope="module")
def portal():
    with running() as emulator:
        yield emulator


@pytest.fixture
def conn(monkeypatch, portal):
    webhook_conn(monkeypatch, portal)
    return portal


def sensor(**kwargs) -> Bitrix24ChangeSensor:
    kwargs.setdefault("task_id", "wait_for_deals")
    kwargs.setdefault("method", "crm.deal.list")
    return Bitrix24ChangeSensor(**kwargs)


class TestPoke:
    def test_poke_true_returns_the_summary(self, conn):
        result = sensor(watermark=OLD).poke({})
        assert isinstance(result, PokeReturnValue) and result.is_done
        assert result.xcom_value["newest"] == newest(conn)
        assert result.xcom_value["watermark"] <= result.xcom_value["newest"]
        assert 1 <= result.xcom_value["count"] <= 50
        assert set(result.xcom_value) == {"watermark", "newest", "count"}

    def test_poke_false_when_nothing_changed(self, conn):
        assert sensor(watermark=newest(conn)).poke({}) is False
        assert sensor(watermark=FUTURE).poke({}) is False

    def test_poke_sees_a_real_update(self, conn):
        top = newest(conn)
        s = sensor(watermark=top)
        assert s.poke({}) is False
        deal = emulator_ids(conn)[7]
        assert rest(conn, "crm.deal.update", {"id": deal, "fields": {"TITLE": "sensor"}})["result"] is True
        result = s.poke({})
        assert result and result.xcom_value["newest"] == newest(conn) and result.xcom_value["count"] == 1
        # the update happened just now: the next wait starts lag (5 s) before the check, not after it
        assert top <= result.xcom_value["watermark"] < result.xcom_value["newest"]

    @pytest.mark.parametrize("lag", [30, 0], ids=["lag", "no-lag"])
    def test_an_edit_committed_late_is_seen_by_the_next_wait(self, lag):
        """A user saves deal A just before the check; another save, B, carries a modification time
        20 s earlier but commits after the check (a slow transaction; the portal's clock is moved back
        for it). A wait that starts from the handed-on watermark must see B. With ``lag=0`` the
        watermark is the newest change itself, which is what the sensor handed on before: B is lost."""
        with running() as portal:
            deal_a, deal_b = emulator_ids(portal)[3:5]
            with pytest.MonkeyPatch.context() as mp:
                webhook_conn(mp, portal)
                rest(portal, "crm.deal.update", {"id": deal_a, "fields": {"TITLE": "A"}})
                first = sensor(watermark=OLD, lag=lag).poke({})
                assert first and first.xcom_value["newest"] == newest(portal)
                portal.portal.clock.advance(-20)
                rest(portal, "crm.deal.update", {"id": deal_b, "fields": {"TITLE": "B"}})
                portal.portal.clock.advance(20)
                second = sensor(watermark=first.xcom_value["watermark"], lag=lag).poke({})
        if lag:
            assert second and second.xcom_value["count"] >= 1
        else:
            assert second is False

    def test_crm_item_and_filters(self, conn):
        s = sensor(
            method="crm.item.list",
            cursor_field="updatedTime",
            call_params={"entityTypeId": 2},
            filter={"id": -1},
            watermark=OLD,
        )
        assert s.poke({}) is False
        s.filter = None
        assert s.poke({})

    def test_poke_mode_execute_returns_the_summary(self, conn):
        s = sensor(watermark=OLD, deferrable=False, poke_interval=0.1, timeout=5)
        summary = s.execute({})
        assert summary["newest"] == newest(conn)

    def test_poke_mode_times_out(self, conn):
        s = sensor(watermark=FUTURE, deferrable=False, poke_interval=0.1, timeout=0.3)
        with pytest.raises(AirflowSensorTimeout):
            s.execute({})

    def test_wrong_code_fails_without_the_code(self, monkeypatch, portal, capfd):
        set_conn(monkeypatch, host=portal.base_url, login="1", password=WRONG_CODE)
        with pytest.raises(Exception, match="INVALID_CREDENTIALS") as info:
            sensor(watermark=OLD).poke({})
        assert WRONG_CODE not in str(info.value)
        assert WRONG_CODE not in "".join(capfd.readouterr())

    def test_empty_or_bad_watermark(self, conn):
        with pytest.raises(AirflowException, match="watermark is empty"):
            sensor(watermark="").poke({})
        with pytest.raises(AirflowException, match="ISO 8601"):
            sensor(watermark="last tuesday").poke({})


class TestTemplates:
    def test_template_fields(self):
        fields = Bitrix24ChangeSensor.template_fields
        assert {"bitrix24_conn_id", "method", "filter", "call_params", "watermark"} <= set(fields)
        assert "params" not in fields  # reserved by BaseOperator; call_params carries API parameters

    def test_watermark_from_a_ts_template(self, conn):
        with DAG("b24_sensor_templates", schedule=None, start_date=pendulum.datetime(2024, 1, 1)):
            s = sensor(
                watermark="{{ data_interval_start | ts }}",
                bitrix24_conn_id="{{ var_conn }}",
                filter={">ID": "{{ min_id }}"},
            )
        start = pendulum.datetime(2024, 6, 1, 12, 30, tz="Europe/Moscow")
        s.render_template_fields({"data_interval_start": start, "var_conn": "bitrix24_default", "min_id": 0})
        assert s.watermark == "2024-06-01T12:30:00+03:00"
        assert s.bitrix24_conn_id == "bitrix24_default"
        assert s.filter == {">ID": "0"}
        result = s.poke({})
        assert result and result.xcom_value["newest"] == newest(conn)

    def test_datetime_watermark(self, conn):
        assert sensor(watermark=pendulum.datetime(2099, 1, 1, tz="UTC")).poke({}) is False


class TestDeferrable:
    def test_default_comes_from_config(self):
        assert sensor(watermark=OLD).deferrable is False  # [operators] default_deferrable is False

    def test_defers_with_the_full_hook_configuration(self, conn):
        client_kwargs = {"time_scale": 1.0, "settings": {"retry": {"max_attempts": 2}}}
        s = sensor(
            watermark=FUTURE,
            deferrable=True,
            poke_interval=7,
            timeout=600,
            filter={"STAGE_ID": "WON"},
            call_params={"x": 1},
            client_kwargs=client_kwargs,
            lag=timedelta(seconds=3),
        )
        before = time.time()
        with pytest.raises(TaskDeferred) as info:
            s.execute({})
        deferred = info.value
        assert deferred.method_name == "execute_complete"
        assert deferred.timeout is not None and deferred.timeout >= timedelta(seconds=600)
        trigger = deferred.trigger
        assert isinstance(trigger, Bitrix24ChangeTrigger)
        _, kwargs = trigger.serialize()
        assert before + 600 <= kwargs.pop("end_time") <= time.time() + 600
        assert kwargs == {
            "method": "crm.deal.list",
            "watermark": "2099-01-01T00:00:00+00:00",
            "cursor_field": "DATE_MODIFY",
            "filter": {"STAGE_ID": "WON"},
            "call_params": {"x": 1},
            "bitrix24_conn_id": "bitrix24_default",
            "poke_interval": 7.0,
            "client_kwargs": client_kwargs,
            "lag": 3.0,
        }
        json.dumps(kwargs)  # the triggerer stores it

    def test_defers_when_the_first_poke_fails_transiently(self, monkeypatch):
        with running(faults={"server_error": 1.0}) as failing:
            webhook_conn(monkeypatch, failing)
            s = sensor(watermark=OLD, deferrable=True, client_kwargs=NO_RETRY)
            with pytest.raises(TaskDeferred) as info:
                s.execute({})
        assert isinstance(info.value.trigger, Bitrix24ChangeTrigger)

    def test_auth_errors_fail_before_deferring(self, monkeypatch, portal):
        set_conn(monkeypatch, host=portal.base_url, login="1", password=WRONG_CODE)
        with pytest.raises(Exception, match="INVALID_CREDENTIALS"):
            sensor(watermark=OLD, deferrable=True).execute({})

    def test_no_deferral_when_the_first_poke_succeeds(self, conn):
        summary = sensor(watermark=OLD, deferrable=True).execute({})
        assert summary["newest"] == newest(conn)


class TestExecuteComplete:
    def test_changed(self):
        event = {
            "status": "changed",
            "watermark": "2024-05-01T09:59:55+03:00",
            "newest": "2024-05-01T10:00:00+03:00",
            "count": 3,
        }
        assert sensor(watermark=OLD).execute_complete({}, event) == {
            "watermark": "2024-05-01T09:59:55+03:00",
            "newest": "2024-05-01T10:00:00+03:00",
            "count": 3,
        }

    def test_error(self):
        event = {"status": "error", "message": "crm.deal.list: InvalidCredentials: profile: error 401"}
        with pytest.raises(AirflowException, match=r"checking crm\.deal\.list for changes failed: .*Invalid"):
            sensor(watermark=OLD).execute_complete({}, event)

    def test_timeout(self):
        with pytest.raises(AirflowSensorTimeout, match=r"no crm\.deal\.list record changed after"):
            sensor(watermark=OLD).execute_complete({}, {"status": "timeout", "watermark": OLD})

    @pytest.mark.parametrize("event", [None, {}, {"status": "odd"}], ids=["none", "empty", "unknown"])
    def test_unexpected(self, event):
        with pytest.raises(AirflowException):
            sensor(watermark=OLD).execute_complete({}, event)
