"""Helpers of the OAuth token rotation tests: the stored Variable read straight from the metadata
database, and the portal's token server asked directly (the sources of truth)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from bitrix24_provider.emulator import Emulator


def stored_tokens(conn_id: str) -> dict[str, Any] | None:
    """The JSON in Variable ``bitrix24_oauth_token_<conn_id>``, read with the ORM."""
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.scalar(select(Variable).where(Variable.key == f"bitrix24_oauth_token_{conn_id}"))
        return None if row is None else dict(json.loads(row.val))


def store_tokens(conn_id: str, tokens: dict[str, Any]) -> None:
    """Write Variable ``bitrix24_oauth_token_<conn_id>`` as another process would have: its row, with
    the ORM (``airflow.models.Variable.set`` is deprecated and, called from a thread of a task or
    trigger runner, would go through this process's supervisor instead)."""
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    key = f"bitrix24_oauth_token_{conn_id}"
    with create_session() as session:
        row = session.scalar(select(Variable).where(Variable.key == key))
        if row is None:
            session.add(Variable(key=key, val=json.dumps(tokens)))
        else:
            row.set_val(json.dumps(tokens))


def delete_stored_tokens(conn_id: str) -> None:
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    with create_session() as session:
        session.execute(delete(Variable).where(Variable.key == f"bitrix24_oauth_token_{conn_id}"))


@pytest.fixture
def fresh_variable(request: pytest.FixtureRequest, airflow_db: None) -> Iterator[None]:
    """No stored tokens for the test module's ``CONN_ID`` before and after the test."""
    conn_id = request.module.CONN_ID
    delete_stored_tokens(conn_id)
    yield
    delete_stored_tokens(conn_id)


def refresh_grant(emulator: Emulator, refresh_token: str) -> dict[str, Any]:
    """Ask the portal's token server for a refresh (spends ``refresh_token`` when it is accepted)."""
    config = emulator.config
    query = urllib.parse.urlencode(
        {
            "grant_type": "refresh_token",
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "refresh_token": refresh_token,
        }
    )
    try:
        with urllib.request.urlopen(f"{emulator.token_url}?{query}", timeout=30) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as error:
        return dict(json.loads(error.read()))
