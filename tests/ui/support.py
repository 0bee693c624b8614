"""Helpers of the browser tests: a real ``airflow api-server`` and Debian's headless Chromium.

The api-server has its own throwaway AIRFLOW_HOME with a SQLite metadata database, a Fernet key and
the simple auth manager in all-admins mode; it serves the Airflow 3 UI on 127.0.0.1. Playwright's
sync API drives Chromium through ``executable_path`` (no browser download).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".artifacts" / "ui"
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

# No proxies for the loopback calls, whatever the environment says.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def find_chromium() -> str | None:
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@dataclass(frozen=True)
class ApiServer:
    base_url: str
    home: Path
    fernet_key: str
    env: dict[str, str]

    def airflow(self, *argv: str, more_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run the ``airflow`` CLI on the server's home and metadata database."""
        return subprocess.run(
            [sys.executable, "-m", "airflow", *argv],
            env={**self.env, **(more_env or {})},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def token(self) -> str:
        token: str = get_json(f"{self.base_url}/auth/token")["access_token"]
        return token


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def get_json(url: str, token: str | None = None, timeout: float = 10.0) -> Any:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    with _HTTP.open(request, timeout=timeout) as response:
        return json.loads(response.read())


def server_env(home: Path, base_url: str, fernet_key: str) -> dict[str, str]:
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


def stop(proc: subprocess.Popen[bytes]) -> None:
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


def field_root(dialog: Locator, name: str) -> Locator:
    """The labelled row (Chakra ``Field.Root``) that holds the input named ``name``."""
    return dialog.locator("[data-scope=field][data-part=root]").filter(
        has=dialog.page.locator(f"[name='{name}']")
    )


def pick(page: Page, combobox: Locator, option: str) -> None:
    """Choose ``option`` in a react-select (its placeholder div intercepts clicks, hence ``force``)."""
    combobox.click(force=True)
    page.keyboard.type(option)
    page.get_by_role("option", name=option, exact=True).click()


def shot(target: Page | Locator, path: Path) -> Path:
    target.screenshot(path=str(path), animations="disabled")
    return path


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert len(data) > 5_000, f"{path} is suspiciously small ({len(data)} bytes)"


@contextmanager
def browser_page(chromium: str, artifacts: Path, name: str) -> Iterator[Page]:
    """A page of a fresh headless Chromium; its console goes to ``<name>-console.log`` and a failure
    leaves ``<name>-failure.png``."""
    from playwright.sync_api import expect, sync_playwright

    console: list[str] = []
    with sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="b24-chromium-") as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,  # a fresh --user-data-dir
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 2000},
        )
        try:
            context.set_default_timeout(UI_TIMEOUT_MS)
            expect.set_options(timeout=UI_TIMEOUT_MS)
            page = context.new_page()
            page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
            page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
            try:
                yield page
            except Exception:
                with suppress(Exception):
                    page.screenshot(path=str(artifacts / f"{name}-failure.png"), full_page=True)
                raise
        finally:
            (artifacts / f"{name}-console.log").write_text("\n".join(console) + "\n")
            context.close()
