"""The stored token pair: its JSON, its rotation and which pair a hook starts from."""

from __future__ import annotations

import json

import pytest

from bitrix24_provider.hooks.oauth_tokens import (
    StoredTokens,
    fingerprint,
    newer_tokens,
    starting_tokens,
    variable_key,
)


def test_json_round_trip_and_no_secrets_in_repr():
    tokens = StoredTokens("r" * 32, "a" * 32, 1_800_000_000.5, 7, fingerprint("x"), 1_799_999_000.0)
    assert StoredTokens.from_json(tokens.to_json()) == tokens
    assert "r" * 32 not in repr(tokens) and "a" * 32 not in repr(tokens)


@pytest.mark.parametrize(
    "raw", ["not json", "[]", json.dumps({"access_token": "a"}), json.dumps({"refresh_token": 5})]
)
def test_anything_else_is_refused_without_quoting_it(raw):
    with pytest.raises(ValueError, match=r"not JSON|no refresh_token") as raised:
        StoredTokens.from_json(raw)
    assert raw not in str(raised.value)


def test_rotation_counts_generations_and_expiry_on_the_local_clock():
    start = StoredTokens.from_connection("first", "access0")
    assert (start.generation, start.origin) == (0, fingerprint("first"))
    body = {"access_token": "access1", "refresh_token": "second", "expires": 1, "expires_in": 3600}
    rotated = start.rotated(body, now=1000.0)
    assert (rotated.refresh_token, rotated.access_token, rotated.generation) == ("second", "access1", 1)
    assert (rotated.expires_at, rotated.updated_at, rotated.origin) == (4600.0, 1000.0, start.origin)
    assert rotated.usable_access_token(now=4500.0) == "access1"
    assert rotated.usable_access_token(now=4550.0) is None  # within a minute of its expiry
    assert rotated.pair() == {"refresh_token": "second", "access_token": "access1"}
    assert start.rotated({"access_token": "a", "refresh_token": "b", "expires": 99.0}).expires_at == 99.0


def test_the_stored_pair_is_used_while_it_descends_from_the_connection():
    stored = StoredTokens.from_connection("first").rotated({"access_token": "a2", "refresh_token": "third"})
    assert starting_tokens("first", None, stored) == (stored, True)  # the chain's origin
    assert starting_tokens("third", None, stored) == (stored, True)  # written back to the connection
    tokens, from_store = starting_tokens("fresh", "a9", stored)  # a re-authorized connection
    assert not from_store
    assert (tokens.refresh_token, tokens.access_token, tokens.generation) == ("fresh", "a9", 1)
    assert tokens.origin == fingerprint("fresh")
    assert starting_tokens("first", None, None) == (StoredTokens.from_connection("first"), False)


def test_after_invalid_grant_only_a_pair_not_yet_turned_down_is_offered():
    current = StoredTokens.from_connection("first").rotated({"access_token": "a1", "refresh_token": "second"})
    assert newer_tokens(None, "first", current, {"second"}) is None  # the chain's first token is spent
    stored = current.rotated({"access_token": "a2", "refresh_token": "third"})
    assert newer_tokens(stored, "first", current, {"second"}) == stored  # rotated by another process
    assert newer_tokens(stored, "first", current, {"second", "third"}) is None
    fresh = newer_tokens(stored, "fresh", current, {"second", "third"})  # put into the connection meanwhile
    assert fresh is not None and (fresh.refresh_token, fresh.generation) == ("fresh", 2)
    assert newer_tokens(None, "fresh", None, {"fresh"}) is None


def test_the_variable_name_is_masked_by_airflow():
    from airflow.sdk._shared.secrets_masker.secrets_masker import should_hide_value_for_key

    assert variable_key("bitrix24_default") == "bitrix24_oauth_token_bitrix24_default"
    assert should_hide_value_for_key(variable_key("bitrix24_default"))
