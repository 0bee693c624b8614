"""Where rotated OAuth tokens are kept (``hooks.token_store``), outside the task runtime: the
Variable's row in the metadata database, written without the deprecated ``Variable.set``."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

from bitrix24_provider.hooks.oauth_tokens import StoredTokens
from bitrix24_provider.hooks.token_store import TokenStore
from tests.hooks.rotation_support import delete_stored_tokens, stored_tokens

CONN_ID = "b24_token_store"


@pytest.fixture
def no_deprecated_variable_set(airflow_db: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Airflow's ``airflow.models.Variable.set`` (deprecated for the SDK's) refuses to run."""
    from airflow.models.variable import Variable

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("airflow.models.Variable.set is deprecated; the provider must not call it")

    monkeypatch.setattr(Variable, "set", staticmethod(refuse))
    delete_stored_tokens(CONN_ID)
    yield
    delete_stored_tokens(CONN_ID)


@pytest.mark.usefixtures("no_deprecated_variable_set")
def test_tokens_are_stored_and_replaced_in_the_variable_row():
    store = TokenStore(CONN_ID)
    first = StoredTokens.from_connection("refresh-one", "access-one")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        _, places = store.save(first)
        assert places == [f"Variable bitrix24_oauth_token_{CONN_ID}"]
        second = first.rotated(
            {"refresh_token": "refresh-two", "access_token": "access-two", "expires_in": 3600}
        )
        store.save(second)

    row = stored_tokens(CONN_ID)
    assert row is not None and row["refresh_token"] == "refresh-two" and row["generation"] == 1
    loaded = store.load()
    assert loaded is not None and loaded.refresh_token == "refresh-two"
