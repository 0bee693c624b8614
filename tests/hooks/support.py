"""Helpers shared by the hook, sensor and trigger tests: connections as environment variables and
plain-HTTP questions to the emulator (the source of truth), no mocks of our own code."""

from __future__ import annotations

import json
import secrets
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from bitrix24_provider.emulator import Emulator, EmulatorConfig, Faults
from bitrix24_provider.hooks.connection import webhook_connection_fields

CONN_ID = "bitrix24_default"
#: Client settings that give up on the first transient failure (keeps failure tests fast).
NO_RETRY: dict[str, Any] = {
    "settings": {name: {"max_attempts": 1} for name in ("retry", "connect_retry", "unexpected_answer_retry")}
}


def make_config(**settings: Any) -> EmulatorConfig:
    settings.setdefault("simulate_cost", False)
    # every portal its own first refresh token, as in real life: the tokens a hook stores for a
    # connection (Variable bitrix24_oauth_token_<conn_id>) never match another test's portal
    settings.setdefault("refresh_token", f"emulatorrefresh{secrets.token_hex(8)}")
    settings.setdefault("deals", 200)
    if isinstance(settings.get("faults"), dict):
        settings["faults"] = Faults(**settings["faults"])
    return EmulatorConfig(**settings)


@contextmanager
def running(**settings: Any) -> Iterator[Emulator]:
    """An emulator on a background thread (for synchronous hook code)."""
    with Emulator(make_config(**settings)).in_thread() as emulator:
        yield emulator


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str = CONN_ID, **fields: Any) -> None:
    """Define an Airflow connection through ``AIRFLOW_CONN_<ID>`` (JSON form keeps types)."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "bitrix24", **fields}))


def webhook_conn(monkeypatch: pytest.MonkeyPatch, emulator: Emulator, conn_id: str = CONN_ID) -> None:
    """The emulator's webhook in the documented layout (the code in password)."""
    set_conn(monkeypatch, conn_id, **webhook_connection_fields(emulator.webhook_url))


def oauth_extra(emulator: Emulator, **more: Any) -> dict[str, Any]:
    config = emulator.config
    return {
        "auth_type": "oauth",
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "refresh_token": config.refresh_token,
        "oauth_server": emulator.token_url,
        **more,
    }


def _get(url: str, data: bytes | None = None) -> Any:
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def emulator_ids(emulator: Emulator, entity: str = "deal") -> list[int]:
    return list(_get(f"{emulator.base_url}/_emulator/ids/{entity}")["ids"])


def emulator_stats(emulator: Emulator) -> dict[str, Any]:
    return dict(_get(f"{emulator.base_url}/_emulator/stats"))


def configure(emulator: Emulator, **changes: Any) -> None:
    _get(f"{emulator.base_url}/_emulator/config", json.dumps(changes).encode())


def issue_token(emulator: Emulator) -> dict[str, Any]:
    return dict(_get(f"{emulator.base_url}/_emulator/oauth/issue", b"{}"))


def rest(emulator: Emulator, method: str, params: dict[str, Any] | None = None) -> Any:
    """One webhook call of the emulator, JSON in and out (to drive or inspect the portal)."""
    return _get(f"{emulator.webhook_url}{method}.json", json.dumps(params or {}).encode())


def newest(
    emulator: Emulator, method: str = "crm.deal.list", cursor: str = "DATE_MODIFY", **params: Any
) -> str:
    """The newest cursor value of a list method, asked directly."""
    id_field = "id" if cursor[:1].islower() else "ID"
    query = {**params, "order": {cursor: "DESC"}, "select": [id_field, cursor], "start": -1}
    answer = rest(emulator, method, query)
    result = answer["result"]
    rows = result if isinstance(result, list) else next(v for v in result.values() if isinstance(v, list))
    row = rows[0]
    for key, value in row.items():
        if key.replace("_", "").lower() == cursor.replace("_", "").lower():
            return str(value)
    raise AssertionError(f"no {cursor} in {row}")
