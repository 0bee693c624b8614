"""OAuth through the resource: the rotated refresh token is kept in the destination database, so the
next run starts from it (the configured one is spent after the first refresh)."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from bitrix24_provider.dagster import (
    Bitrix24Destination,
    Bitrix24Entity,
    Bitrix24Resource,
    build_bitrix24_assets,
)
from bitrix24_provider.hooks.oauth_tokens import OAuthReauthorizationRequired
from tests.dagster.support import event_log, materializations
from tests.hooks.rotation_support import refresh_grant

ASSETS = build_bitrix24_assets([Bitrix24Entity("crm.contact.list", "contacts")])


def oauth(portal, refresh_token: str | None = None) -> Bitrix24Resource:
    config = portal.config
    return Bitrix24Resource(
        portal=portal.base_url,
        client_id=config.client_id,
        client_secret=config.client_secret,
        refresh_token=refresh_token or config.refresh_token,
        oauth_server=portal.token_url,
    )


def stored(target) -> list[tuple[int, dict]]:
    return [
        (int(g), json.loads(t))
        for g, t in target.rows('SELECT generation, tokens FROM "_bitrix24_oauth_tokens"')
    ]


def test_rotated_refresh_tokens_persist_in_the_destination(make_portal, sqlite_target):
    portal = make_portal(deals=5, contacts=60)
    destination = Bitrix24Destination(url=sqlite_target.url)
    instance = dg.DagsterInstance.ephemeral()
    first = dg.materialize(
        [ASSETS], resources={"bitrix24": oauth(portal), "destination": destination}, instance=instance
    )
    assert materializations(first)["bitrix24/contacts"]["dagster/row_count"] == 60
    [(generation, tokens)] = stored(sqlite_target)
    assert generation == 1 and tokens["refresh_token"] != portal.config.refresh_token

    # the configured token was spent by the first run's refresh: the second run starts from the stored one
    second = dg.materialize(
        [ASSETS], resources={"bitrix24": oauth(portal), "destination": destination}, instance=instance
    )
    assert second.success
    [(generation, newer)] = stored(sqlite_target)
    assert generation >= 1 and "refresh_token" in newer
    assert "error" in refresh_grant(portal, portal.config.refresh_token)  # spent indeed
    text = "\n".join(event_log(instance, first) + event_log(instance, second))
    for secret in (portal.config.client_secret, portal.config.refresh_token, tokens["refresh_token"]):
        assert secret not in text


def test_a_spent_token_with_nothing_stored_asks_for_a_new_authorization(make_portal, sqlite_target):
    portal = make_portal(deals=5, contacts=10)
    assert "access_token" in refresh_grant(portal, portal.config.refresh_token)  # spent elsewhere
    resources = {"bitrix24": oauth(portal), "destination": Bitrix24Destination(url=sqlite_target.url)}
    with pytest.raises(OAuthReauthorizationRequired, match="authorize the application again"):
        dg.materialize([ASSETS], resources=resources)
    assert "contacts" not in sqlite_target.tables()
