"""Secrets never reach logs or exception texts."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bitrix24_provider.client.redact import (
    MASK,
    SECRETS,
    SecretRegistry,
    SecretsFilter,
    redact,
    redact_url,
    register_secret,
    scrub,
)

CODE = "k9x7w2hook0code1"
TOKEN = "ydtj8pho532wydb5ixk78ol7uqlb7sch"


def test_redact_masks_every_occurrence_and_encoded_forms() -> None:
    secret = "a+b/c=d"
    text = f"raw {secret}, again {secret}, encoded a%2Bb%2Fc%3Dd, form a%2Bb%2Fc%3Dd"
    assert redact(text, [secret]) == f"raw {MASK}, again {MASK}, encoded {MASK}, form {MASK}"


def test_redact_prefers_the_longest_secret_and_ignores_empty_ones() -> None:
    assert redact("token abcdef", ["abc", "abcdef", "", None or ""]) == f"token {MASK}"
    assert redact("nothing here", []) == "nothing here"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            f"https://p.bitrix24.com/rest/1/{CODE}/crm.deal.list.json?start=0",
            f"https://p.bitrix24.com/rest/1/{MASK}/crm.deal.list.json?start=0",
        ),
        (f"https://p.bitrix24.com/rest/1/{CODE}/", f"https://p.bitrix24.com/rest/1/{MASK}/"),
        (f"https://p.bitrix24.com/rest/1/{CODE}", f"https://p.bitrix24.com/rest/1/{MASK}"),
        (f"http://127.0.0.1:8080/rest/admin/{CODE}/batch", f"http://127.0.0.1:8080/rest/admin/{MASK}/batch"),
        (
            f"https://p.bitrix24.com/rest/crm.deal.list?auth={TOKEN}&start=0",
            f"https://p.bitrix24.com/rest/crm.deal.list?auth={MASK}&start=0",
        ),
        ("https://p.bitrix24.com/rest/crm.deal.list/", "https://p.bitrix24.com/rest/crm.deal.list/"),
        (
            f"https://oauth.bitrix.info/oauth/token/?grant_type=refresh_token&client_id=app.1"
            f"&client_secret=S3CR3T&refresh_token={TOKEN}",
            f"https://oauth.bitrix.info/oauth/token/?grant_type=refresh_token&client_id=app.1"
            f"&client_secret={MASK}&refresh_token={MASK}",
        ),
        (f"/rest/x?ACCESS_TOKEN={TOKEN}#frag", f"/rest/x?ACCESS_TOKEN={MASK}#frag"),
        (f"/handler?auth[access_token]={TOKEN}&x=1", f"/handler?auth[access_token]={MASK}&x=1"),
        (f"/h?auth%5Bapplication_token%5D={TOKEN}", f"/h?auth%5Bapplication_token%5D={MASK}"),
        ("/rest/x?author=me&oauth=1", "/rest/x?author=me&oauth=1"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_scrub_handles_free_text_json_reprs_and_bearer_tokens() -> None:
    text = (
        f"POST url=https://p.bitrix24.com/rest/1/{CODE}/batch?auth={TOKEN} failed; "
        f'body {{"access_token": "{TOKEN}", "refresh_token":"r-{TOKEN}", "domain": "p"}} '
        f"repr {{'client_secret': 'qw\\'erty', 'x': 1}} "
        f"Authorization: Bearer {TOKEN}"
    )
    out = scrub(text)
    assert TOKEN not in out
    assert CODE not in out
    assert "qw" not in out
    assert "erty" not in out
    assert f"{{'client_secret': '{MASK}', 'x': 1}}" in out
    assert '"domain": "p"' in out
    assert f"Bearer {MASK}" in out
    assert f'"access_token": "{MASK}"' in out


def test_scrub_uses_extra_and_registered_secrets() -> None:
    assert scrub("id 12345 pw hunter2", ["hunter2"]) == f"id 12345 pw {MASK}"
    register_secret("zz-global-zz")
    try:
        assert scrub("uses zz-global-zz") == f"uses {MASK}"
    finally:
        SECRETS.discard("zz-global-zz")
    assert scrub("uses zz-global-zz") == "uses zz-global-zz"


def test_secret_registry() -> None:
    registry = SecretRegistry(["one"])
    registry.add("two", None, "")
    assert "two" in registry
    assert len(registry) == 2
    assert registry.redact("one two three") == f"{MASK} {MASK} three"
    registry.discard("one")
    assert registry.redact("one two") == f"one {MASK}"


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO, SecretsFilter]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    secrets_filter = SecretsFilter([CODE])
    handler.addFilter(secrets_filter)
    logger = logging.getLogger("test_redact.parent")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield logger, stream, secrets_filter
    finally:
        logger.removeHandler(handler)


def test_filter_masks_message_and_args(capture: tuple[logging.Logger, io.StringIO, SecretsFilter]) -> None:
    logger, stream, _ = capture
    logger.info("calling %s with %r", f"https://p/rest/1/{CODE}/crm.deal.list", {"auth": TOKEN})
    logger.getChild("child").warning("webhook code is %s", CODE)  # propagated to the parent's handler
    out = stream.getvalue()
    assert CODE not in out
    assert TOKEN not in out
    assert "test_redact.parent.child WARNING webhook code is ***" in out


def test_filter_masks_tracebacks_and_stack(
    capture: tuple[logging.Logger, io.StringIO, SecretsFilter],
) -> None:
    logger, stream, secrets_filter = capture
    secrets_filter.add(TOKEN)
    try:
        raise RuntimeError(f"request with {TOKEN} failed")
    except RuntimeError:
        logger.exception("boom", stack_info=True)
    out = stream.getvalue()
    assert "Traceback" in out
    assert "RuntimeError: request with *** failed" in out
    assert TOKEN not in out


def test_filter_survives_broken_format_strings(
    capture: tuple[logging.Logger, io.StringIO, SecretsFilter],
) -> None:
    logger, stream, _ = capture
    logger.error("broken %d", CODE)
    assert CODE not in stream.getvalue()


def test_filter_uses_the_global_registry_unless_told_not_to() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "value %s", ("glob4l-s3cret",), None)
    register_secret("glob4l-s3cret")
    try:
        assert SecretsFilter(registry=None).filter(record)
        assert record.getMessage() == "value glob4l-s3cret"
        assert SecretsFilter().filter(record)
        assert record.getMessage() == f"value {MASK}"
        assert record.args is None
    finally:
        SECRETS.discard("glob4l-s3cret")
