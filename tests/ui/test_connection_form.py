"""The Bitrix24 connection form, checked in a real browser.

A real ``airflow api-server`` (own throwaway AIRFLOW_HOME and SQLite metadata database, simple auth
manager in all-admins mode) serves the Airflow 3 UI on 127.0.0.1; Debian's headless Chromium, driven
by Playwright's sync API with ``executable_path`` (no browser download), opens Add Connection, picks
"Bitrix24", checks the relabelled standard fields and the declarative extra fields with their
widgets, and saves a connection. The REST API and the metadata database then confirm what was stored.

Screenshots, the api-server log and the browser console go to ``.artifacts/ui/`` (git-ignored).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".artifacts" / "ui"


def _find_chromium() -> str | None:
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


CHROMIUM = _find_chromium()
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

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
]
HEALTH_TIMEOUT_S = 120.0
UI_TIMEOUT_MS = 20_000

CONN_ID = "bitrix24_ui_test"
PORTAL_URL = "https://example.bitrix24.com"
USER_ID = "1"
WEBHOOK_CODE = "secretcode123"
REDIS_PASSWORD = "redispw-4711"
SHARED_THROTTLE_DSN = f"redis://:{REDIS_PASSWORD}@redis.example:6379/0"

EXTRA_KEYS = {
    "auth_type",
    "client_id",
    "client_secret",
    "refresh_token",
    "oauth_server",
    "plan",
    "requests_per_second",
    "request_pool_size",
    "verify_ssl",
    "ca_bundle",
    "shared_throttle_dsn",
}
EXTRA_LABELS = {
    "auth_type": "Auth type",
    "client_id": "OAuth client ID",
    "client_secret": "OAuth client secret",
    "refresh_token": "OAuth refresh token",
    "oauth_server": "OAuth token server",
    "plan": "Bitrix24 plan",
    "requests_per_second": "Requests per second",
    "request_pool_size": "Request pool size",
    "verify_ssl": "Verify SSL",
    "ca_bundle": "CA bundle",
    "shared_throttle_dsn": "Shared throttle (Redis URL)",
}

# No proxies for the loopback calls, whatever the environment says.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class ApiServer:
    base_url: str
    home: Path
    fernet_key: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _get_json(url: str, token: str | None = None, timeout: float = 10.0) -> Any:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    with _HTTP.open(request, timeout=timeout) as response:
        return json.loads(response.read())


def _server_env(home: Path, base_url: str, fernet_key: str) -> dict[str, str]:
    # Drop the test session's Airflow settings (tests/conftest.py points them at its own home).
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    (home / "dags").mkdir()
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": fernet_key,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),  # long enough for HS512
            "AIRFLOW__API__BASE_URL": base_url,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the api-server's own process group, SIGKILL it if it lingers."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    # Workers the server forked share its process group; make sure none survive it.
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    return ARTIFACTS


@pytest.fixture(scope="module")
def api_server(artifacts: Path) -> Iterator[ApiServer]:
    from cryptography.fernet import Fernet

    home = Path(tempfile.mkdtemp(prefix="b24-ui-airflow-home-"))
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    fernet_key = Fernet.generate_key().decode()
    env = _server_env(home, base_url, fernet_key)
    log_path = artifacts / "api-server.log"
    airflow = [sys.executable, "-m", "airflow"]
    try:
        with log_path.open("wb") as log:
            log.write(b"$ airflow db migrate\n")
            log.flush()
            migrate = subprocess.run(
                [*airflow, "db", "migrate"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=180,
                check=False,
            )
            if migrate.returncode != 0:
                pytest.fail(f"airflow db migrate failed ({migrate.returncode}):\n{_tail(log_path)}")
            log.write(f"\n$ airflow api-server -H 127.0.0.1 -p {port} -w 1\n".encode())
            log.flush()
            proc = subprocess.Popen(
                [*airflow, "api-server", "-H", "127.0.0.1", "-p", str(port), "-w", "1"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + HEALTH_TIMEOUT_S
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"api-server exited with {proc.returncode}:\n{_tail(log_path)}")
                with suppress(OSError, ValueError):
                    health = _get_json(f"{base_url}/api/v2/monitor/health", timeout=2)
                    if health.get("metadatabase", {}).get("status") == "healthy":
                        break
                if time.monotonic() > deadline:
                    pytest.fail(f"api-server not healthy after {HEALTH_TIMEOUT_S:.0f} s:\n{_tail(log_path)}")
                time.sleep(0.5)
            yield ApiServer(base_url=base_url, home=home, fernet_key=fernet_key)
        finally:
            _stop(proc)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _field_root(dialog: Locator, name: str) -> Locator:
    """The labelled row (Chakra ``Field.Root``) that holds the input named ``name``."""
    return dialog.locator("[data-scope=field][data-part=root]").filter(
        has=dialog.page.locator(f"[name='{name}']")
    )


def _pick(page: Page, combobox: Locator, option: str) -> None:
    """Choose ``option`` in a react-select (its placeholder div intercepts clicks, hence ``force``)."""
    combobox.click(force=True)
    page.keyboard.type(option)
    page.get_by_role("option", name=option, exact=True).click()


def _shot(target: Page | Locator, path: Path) -> Path:
    target.screenshot(path=str(path), animations="disabled")
    return path


def _drive_form(page: Page, base_url: str, artifacts: Path) -> list[Path]:
    expect = pw.expect
    shots: list[Path] = []

    page.goto(f"{base_url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Add Connection", exact=True)).to_be_visible()

    _pick(page, dialog.get_by_role("combobox").first, "Bitrix24")

    # Standard fields: relabelled, with placeholders; the password field is masked.
    host = dialog.get_by_label("Portal URL or webhook URL", exact=True)
    login = dialog.get_by_label("User ID", exact=True)
    password = dialog.get_by_label("Webhook code", exact=True)
    for field, name in ((host, "host"), (login, "login"), (password, "password")):
        expect(field).to_be_visible()
        expect(field).to_have_attribute("name", name)
    expect(host).to_have_attribute("placeholder", re.compile(r"example\.bitrix24\.com"))
    expect(password).to_have_attribute("type", "password")
    # Hidden by ui-field-behaviour: no schema, no port, and no unrelabelled "Host"/"Login".
    for hidden in ("schema", "port"):
        expect(dialog.locator(f"[name='{hidden}']")).to_have_count(0)
    for label in ("Schema", "Port", "Host", "Login", "Password"):
        expect(dialog.get_by_label(label, exact=True)).to_have_count(0)

    dialog.locator("input[name='connection_id']").fill(CONN_ID)
    host.fill(PORTAL_URL)
    login.fill(USER_ID)
    password.fill(WEBHOOK_CODE)
    expect(dialog.locator("input[name='connection_id']")).to_have_value(CONN_ID)
    shots.append(_shot(dialog, artifacts / "01_add_connection_standard_fields.png"))

    # Extra fields (the accordion collapses "Standard Fields" when this one opens).
    dialog.get_by_text("Extra Fields", exact=True).click()
    expect(dialog.locator("[name='element_ca_bundle']")).to_be_visible()
    for key, label in EXTRA_LABELS.items():
        root = _field_root(dialog, f"element_{key}")
        expect(root).to_have_count(1)
        expect(root.locator("label").first).to_have_text(re.compile(rf"^\s*{re.escape(label)}(?!\w)"))

    # Auth type and plan: dropdowns (react-select) listing the enum, its default selected. The menu
    # is closed by choosing an option (Escape would close the whole dialog): auth type keeps its
    # default, plan changes to "enterprise" so the test proves extras are saved from the form.
    for key, default, options, choice in (
        ("auth_type", "webhook", ("webhook", "oauth"), "webhook"),
        ("plan", "standard", ("standard", "enterprise"), "enterprise"),
    ):
        root = _field_root(dialog, f"element_{key}")
        value = root.locator(f"[name='element_{key}']")
        expect(root.get_by_role("combobox")).to_have_count(1)
        expect(value).to_have_value(default)
        root.get_by_role("combobox").click(force=True)
        for option in options:
            expect(page.get_by_role("option", name=option, exact=True)).to_be_visible()
        page.get_by_role("option", name=choice, exact=True).click()
        expect(page.get_by_role("option")).to_have_count(0)
        expect(value).to_have_value(choice)

    # Secrets are masked inputs with a show/hide button.
    for key in ("client_secret", "refresh_token", "shared_throttle_dsn"):
        root = _field_root(dialog, f"element_{key}")
        expect(root.locator(f"input[name='element_{key}']")).to_have_attribute("type", "password")
        expect(root.get_by_role("button", name="Show value")).to_have_count(1)
    # Plain text inputs; the token server shows its default.
    for key in ("client_id", "oauth_server", "ca_bundle"):
        expect(dialog.locator(f"input[name='element_{key}']")).not_to_have_attribute("type", "password")
    expect(dialog.locator("input[name='element_oauth_server']")).to_have_value(
        "https://oauth.bitrix.info/oauth/token/"
    )
    # Numbers are spin buttons; Verify SSL is a switch, on by default.
    for key in ("requests_per_second", "request_pool_size"):
        expect(_field_root(dialog, f"element_{key}").get_by_role("spinbutton")).to_have_count(1)
    verify_ssl = dialog.locator("input[name='element_verify_ssl']")
    expect(verify_ssl).to_have_attribute("type", "checkbox")
    expect(verify_ssl).to_be_checked()
    expect(_field_root(dialog, "element_verify_ssl").locator("[data-scope=switch]").first).to_be_visible()

    dialog.locator("input[name='element_shared_throttle_dsn']").fill(SHARED_THROTTLE_DSN)
    shots.append(_shot(dialog, artifacts / "02_add_connection_extra_fields.png"))

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
    shots.append(_shot(page, artifacts / "03_connection_list_saved.png"))

    # The webhook code is never shown on the list page, neither now nor after a fresh load.
    assert WEBHOOK_CODE not in page.locator("body").inner_text()
    page.reload()
    expect(page.get_by_role("row").filter(has_text=CONN_ID)).to_have_count(1)
    assert WEBHOOK_CODE not in page.locator("body").inner_text()
    assert WEBHOOK_CODE not in page.content()
    assert REDIS_PASSWORD not in page.content()
    return shots


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert len(data) > 5_000, f"{path} is suspiciously small ({len(data)} bytes)"


def test_add_bitrix24_connection_in_browser(api_server: ApiServer, artifacts: Path) -> None:
    console: list[str] = []
    with pw.sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="b24-chromium-") as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,  # a fresh --user-data-dir
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 2000},
        )
        try:
            context.set_default_timeout(UI_TIMEOUT_MS)
            pw.expect.set_options(timeout=UI_TIMEOUT_MS)
            page = context.new_page()
            page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
            page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
            try:
                shots = _drive_form(page, api_server.base_url, artifacts)
            except Exception:
                with suppress(Exception):
                    page.screenshot(path=str(artifacts / "failure.png"), full_page=True)
                raise
        finally:
            (artifacts / "browser-console.log").write_text("\n".join(console) + "\n")
            context.close()

    for shot in shots:
        _assert_png(shot)

    # What the REST API reports.
    token = _get_json(f"{api_server.base_url}/auth/token")["access_token"]
    conn = _get_json(f"{api_server.base_url}/api/v2/connections/{CONN_ID}", token=token)
    assert conn["conn_type"] == "bitrix24"
    assert conn["host"] == PORTAL_URL
    assert conn["login"] == USER_ID
    assert conn["schema"] is None
    assert conn["port"] is None
    assert conn["password"] != WEBHOOK_CODE  # masked by the API ("***")
    extra = json.loads(conn["extra"])
    assert set(extra) == EXTRA_KEYS, "extra fields must be stored as plain keys"
    assert not [key for key in extra if key.startswith("extra__")]
    assert extra["auth_type"] == "webhook"
    assert extra["plan"] == "enterprise"
    assert extra["verify_ssl"] is True
    assert extra["oauth_server"] == "https://oauth.bitrix.info/oauth/token/"
    assert extra["shared_throttle_dsn"] == "***"  # a name Airflow's masker knows ("dsn")

    # What the metadata database holds: the webhook code, Fernet-encrypted.
    from cryptography.fernet import Fernet

    with sqlite3.connect(api_server.home / "airflow.db") as db:
        stored = db.execute(
            "SELECT password, is_encrypted FROM connection WHERE conn_id = ?", (CONN_ID,)
        ).fetchone()
    assert stored is not None
    assert stored[1], "the password column must be encrypted"
    assert WEBHOOK_CODE not in stored[0]
    assert Fernet(api_server.fernet_key.encode()).decrypt(stored[0].encode()).decode() == WEBHOOK_CODE
    with sqlite3.connect(api_server.home / "airflow.db") as db:
        (stored_extra,) = db.execute("SELECT extra FROM connection WHERE conn_id = ?", (CONN_ID,)).fetchone()
    assert REDIS_PASSWORD not in stored_extra, "the extra column must be encrypted"
    decrypted = json.loads(Fernet(api_server.fernet_key.encode()).decrypt(stored_extra.encode()))
    assert decrypted["shared_throttle_dsn"] == SHARED_THROTTLE_DSN
