"""Helpers of the Dagster tests: resources for an emulator and a target, materialization results."""

from __future__ import annotations

from typing import Any

import dagster as dg

from bitrix24_provider.dagster import Bitrix24Destination, Bitrix24Resource
from bitrix24_provider.emulator import Emulator
from tests.staging._support import SqlTarget


def resources(portal: Emulator, target: SqlTarget, **bitrix24: Any) -> dict[str, Any]:
    return {
        "bitrix24": Bitrix24Resource(webhook_url=portal.webhook_url, **bitrix24),
        "destination": Bitrix24Destination(url=target.url, schema=target.schema),
    }


def materializations(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    """``{"bitrix24/deals": {metadata key: value}}`` of a run."""
    found: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        found[materialization.asset_key.to_user_string()] = {
            k: v.value for k, v in materialization.metadata.items()
        }
    return found


def checks(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], bool]:
    return {
        (e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()
    }


def event_log(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> list[str]:
    """Every line of the run's event log: ``context.log`` lines, forwarded log records and the
    serialized events (with their metadata and errors)."""
    lines = []
    for entry in instance.all_logs(result.run_id):
        lines.append(entry.user_message or "")
        if entry.dagster_event is not None:
            lines.append(repr(entry.dagster_event))
    return lines
