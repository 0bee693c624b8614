"""One ``airflow api-server`` for all browser tests of this package (it takes ~20 s to start)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from tests.ui.support import (
    ARTIFACTS,
    HEALTH_TIMEOUT_S,
    ApiServer,
    free_port,
    get_json,
    server_env,
    stop,
    tail,
)


@pytest.fixture(scope="package")
def artifacts() -> Path:
    """Screenshots, the api-server log and the browser consoles go to ``.artifacts/ui/`` (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    return ARTIFACTS


@pytest.fixture(scope="package")
def api_server(artifacts: Path) -> Iterator[ApiServer]:
    from cryptography.fernet import Fernet

    home = Path(tempfile.mkdtemp(prefix="b24-ui-airflow-home-"))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    fernet_key = Fernet.generate_key().decode()
    env = server_env(home, base_url, fernet_key)
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
                pytest.fail(f"airflow db migrate failed ({migrate.returncode}):\n{tail(log_path)}")
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
                    pytest.fail(f"api-server exited with {proc.returncode}:\n{tail(log_path)}")
                with suppress(OSError, ValueError):
                    health = get_json(f"{base_url}/api/v2/monitor/health", timeout=2)
                    if health.get("metadatabase", {}).get("status") == "healthy":
                        break
                if time.monotonic() > deadline:
                    pytest.fail(f"api-server not healthy after {HEALTH_TIMEOUT_S:.0f} s:\n{tail(log_path)}")
                time.sleep(0.5)
            yield ApiServer(base_url=base_url, home=home, fernet_key=fernet_key, env=env)
        finally:
            stop(proc)
    finally:
        shutil.rmtree(home, ignore_errors=True)
