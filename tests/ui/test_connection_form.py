"""The Bitrix24 connection form, checked in a real browser.

Headless Chromium opens Add Connection on a real api-server (``conftest.py``), picks "Bitrix24",
checks the relabelled standard fields (Portal URL, User ID, Webhook code), the extra fields in their
sections (none marked required) with their widgets, and saves a webhook connection in the documented
layout. The list page, the edit dialog, the REST API and the metadata database then show that the
webhook code is never in clear text.

On Airflow 3.1 (no declarative extra fields) the standard fields come from the hook's
``get_ui_field_behaviour`` and the extras go into the Extra Fields JSON; the extra-field checks are
skipped there. Screenshots go to ``.artifacts/ui/``.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.ui.support import (
    ApiServer,
    assert_png,
    browser_page,
    field_root,
    find_chromium,
    get_json,
    pick,
    shot,
)

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

CHROMIUM = find_chromium()
if CHROMIUM is None:
    pytest.skip(
        "Chromium is not installed (/usr/bin/chromium; on Debian: apt-get install chromium)",
        allow_module_level=True,
    )
pw = pytest.importorskip(
    "playwright.sync_api",
    reason="the Python 'playwright' package is not installed (the browser itself is Debian's chromium)",
)

pytestmark = pytest.mark.slow

CONN_ID = "bitrix24_ui_test"
PORTAL_URL = "example.bitrix24.com"  # https is the default
USER_ID = "1"
WEBHOOK_CODE = "secretcode123"
REDIS_PASSWORD = "redispw-4711"
SHARED_THROTTLE_DSN = f"redis://:{REDIS_PASSWORD}@redis.example:6379/0"

#: the accordion sections of the extra fields, with their fields and labels, in the form's order
SECTIONS = {
    "Extra Fields": {"auth_type": "Auth type"},
    "OAuth (auth type oauth only)": {
        "client_id": "OAuth client ID",
        "client_secret": "OAuth client secret",
        "refresh_token": "OAuth refresh token",
        "oauth_server": "OAuth token server",
    },
    "Limits, TLS and shared throttle (optional)": {
        "plan": "Bitrix24 plan",
        "requests_per_second": "Requests per second",
        "request_pool_size": "Request pool size",
        "verify_ssl": "Verify SSL",
        "ca_bundle": "CA bundle",
        "shared_throttle_dsn": "Shared throttle (Redis URL)",
    },
}
EXTRA_KEYS = {key for fields in SECTIONS.values() for key in fields}


def _declarative_form() -> bool:
    import airflow
    from packaging.version import Version

    return Version(airflow.__version__) >= Version("3.2")


def _standard_fields(page: Page, dialog: Locator, artifacts: Path) -> Path:
    expect = pw.expect
    host = dialog.get_by_label("Portal URL", exact=True)
    login = dialog.get_by_label("User ID", exact=True)
    password = dialog.get_by_label("Webhook code", exact=True)
    for field, name in ((host, "host"), (login, "login"), (password, "password")):
        expect(field).to_be_visible()
        expect(field).to_have_attribute("name", name)
    # the placeholders lead to the documented layout: a portal, not a webhook URL, in host
    expect(host).to_have_attribute("placeholder", "example.bitrix24.com")
    expect(login).to_have_attribute("placeholder", "1")
    expect(password).to_have_attribute("placeholder", re.compile(r"/rest/1/<code>/"))
    expect(password).to_have_attribute("type", "password")
    # Hidden: no schema, no port, and no unrelabelled "Host"/"Login"/"Password".
    for hidden in ("schema", "port"):
        expect(dialog.locator(f"[name='{hidden}']")).to_have_count(0)
    for label in ("Schema", "Port", "Host", "Login", "Password"):
        expect(dialog.get_by_label(label, exact=True)).to_have_count(0)

    dialog.locator("input[name='connection_id']").fill(CONN_ID)
    host.fill(PORTAL_URL)
    login.fill(USER_ID)
    password.fill(WEBHOOK_CODE)
    expect(dialog.locator("input[name='connection_id']")).to_have_value(CONN_ID)
    return shot(dialog, artifacts / "01_add_connection_standard_fields.png")


def _extra_fields(page: Page, dialog: Locator, artifacts: Path) -> list[Path]:
    """Each section in turn (the accordion collapses the others when one opens)."""
    expect = pw.expect
    shots = []
    for number, (section, fields) in enumerate(SECTIONS.items(), start=2):
        dialog.get_by_text(section, exact=True).click()
        for key, label in fields.items():
            root = field_root(dialog, f"element_{key}")
            expect(root).to_be_visible()
            expect(root.locator("label").first).to_have_text(re.compile(rf"^\s*{re.escape(label)}\s*$"))
            # no extra field is marked required: what they need depends on the auth type
            expect(root.locator("label[data-required]")).to_have_count(0)
        if section == "Extra Fields":
            root = field_root(dialog, "element_auth_type")
            expect(root).to_contain_text("Portal URL, User ID and Webhook code above are all it needs")
        if section.startswith("OAuth"):
            for key in ("client_secret", "refresh_token"):
                root = field_root(dialog, f"element_{key}")
                expect(root.locator(f"input[name='element_{key}']")).to_have_attribute("type", "password")
                expect(root.get_by_role("button", name="Show value")).to_have_count(1)
            expect(dialog.locator("input[name='element_client_id']")).not_to_have_attribute(
                "type", "password"
            )
            expect(dialog.locator("input[name='element_oauth_server']")).to_have_value(
                "https://oauth.bitrix.info/oauth/token/"
            )
        if section.startswith("Limits"):
            # plan: a dropdown listing the enum, its default selected; choose "enterprise" so the test
            # proves extras are saved from the form (Escape would close the whole dialog)
            root = field_root(dialog, "element_plan")
            value = root.locator("[name='element_plan']")
            expect(value).to_have_value("standard")
            root.get_by_role("combobox").click(force=True)
            for option in ("standard", "enterprise"):
                expect(page.get_by_role("option", name=option, exact=True)).to_be_visible()
            page.get_by_role("option", name="enterprise", exact=True).click()
            expect(value).to_have_value("enterprise")
            for key in ("requests_per_second", "request_pool_size"):
                expect(field_root(dialog, f"element_{key}").get_by_role("spinbutton")).to_have_count(1)
            verify_ssl = dialog.locator("input[name='element_verify_ssl']")
            expect(verify_ssl).to_have_attribute("type", "checkbox")
            expect(verify_ssl).to_be_checked()
            dsn = dialog.locator("input[name='element_shared_throttle_dsn']")
            expect(dsn).to_have_attribute("type", "password")
            dsn.fill(SHARED_THROTTLE_DSN)
        slug = re.sub(r"\W", "", section.split()[0].lower())
        shots.append(shot(dialog, artifacts / f"0{number}_add_connection_{slug}.png"))
    # only Connection ID and Connection Type are required
    expect(dialog.locator("label[data-required]")).to_have_count(2)
    return shots


def _drive_form(page: Page, base_url: str, artifacts: Path) -> list[Path]:
    expect = pw.expect
    page.goto(f"{base_url}/")  # Airflow 3.1 logs in on the first load and then lands on the home page
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
    page.goto(f"{base_url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Add Connection", exact=True)).to_be_visible()
    pick(page, dialog.get_by_role("combobox").first, "Bitrix24")

    shots = [_standard_fields(page, dialog, artifacts)]
    if _declarative_form():
        shots += _extra_fields(page, dialog, artifacts)

    save = dialog.get_by_role("button", name="Save")
    expect(save).to_be_enabled()
    save.click()
    expect(page.get_by_text("Connection has been successfully created")).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)
    row = page.get_by_role("row").filter(has_text=CONN_ID)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("bitrix24")
    expect(row).to_contain_text(PORTAL_URL)
    page.set_viewport_size({"width": 1400, "height": 900})
    shots.append(shot(page, artifacts / "05_connection_list_saved.png"))

    # The webhook code is never shown on the list page, neither now nor after a fresh load...
    assert WEBHOOK_CODE not in page.locator("body").inner_text()
    page.reload()
    row = page.get_by_role("row").filter(has_text=CONN_ID)
    expect(row).to_have_count(1)
    assert WEBHOOK_CODE not in page.locator("body").inner_text()
    assert WEBHOOK_CODE not in page.content()
    assert REDIS_PASSWORD not in page.content()
    # ...nor in the edit dialog of the saved connection.
    row.get_by_role("button", name="Edit Connection").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Portal URL", exact=True)).to_have_value(PORTAL_URL)
    page.set_viewport_size({"width": 1400, "height": 2000})
    shots.append(shot(dialog, artifacts / "06_edit_connection.png"))
    assert WEBHOOK_CODE not in page.content()
    for field in dialog.locator("input").all():
        assert WEBHOOK_CODE not in (field.input_value() or "")
    return shots


def test_add_bitrix24_connection_in_browser(api_server: ApiServer, artifacts: Path) -> None:
    assert CHROMIUM is not None
    with browser_page(CHROMIUM, artifacts, "connection-form") as page:
        shots = _drive_form(page, api_server.base_url, artifacts)
    for path in shots:
        assert_png(path)

    # What the REST API reports.
    conn = get_json(f"{api_server.base_url}/api/v2/connections/{CONN_ID}", token=api_server.token())
    assert conn["conn_type"] == "bitrix24"
    assert (conn["host"], conn["login"], conn["schema"], conn["port"]) == (PORTAL_URL, USER_ID, None, None)
    assert conn["password"] != WEBHOOK_CODE  # masked by the API ("***")
    assert WEBHOOK_CODE not in json.dumps(conn)

    # What the metadata database holds: the webhook code, Fernet-encrypted.
    from cryptography.fernet import Fernet

    fernet = Fernet(api_server.fernet_key.encode())
    with sqlite3.connect(api_server.home / "airflow.db") as db:
        password, encrypted, stored_extra = db.execute(
            "SELECT password, is_encrypted, extra FROM connection WHERE conn_id = ?", (CONN_ID,)
        ).fetchone()
    assert encrypted, "the password column must be encrypted"
    assert WEBHOOK_CODE not in password
    assert fernet.decrypt(password.encode()).decode() == WEBHOOK_CODE
    if _declarative_form():
        extra = json.loads(conn["extra"])
        assert set(extra) == EXTRA_KEYS, "extra fields must be stored as plain keys"
        assert (extra["auth_type"], extra["plan"], extra["verify_ssl"]) == ("webhook", "enterprise", True)
        assert extra["oauth_server"] == "https://oauth.bitrix.info/oauth/token/"
        assert extra["shared_throttle_dsn"] == "***"  # a name Airflow's masker knows ("dsn")
        assert REDIS_PASSWORD not in stored_extra, "the extra column must be encrypted"
        decrypted = json.loads(fernet.decrypt(stored_extra.encode()))
        assert decrypted["shared_throttle_dsn"] == SHARED_THROTTLE_DSN
