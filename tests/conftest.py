"""Session-wide test setup.

Airflow reads its configuration when first imported, so its environment is set here, before any
test module can import it: a throwaway AIRFLOW_HOME with a SQLite metadata database, no examples,
unit-test mode and the example DAGs folder.
"""

from __future__ import annotations

import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_HOME = tempfile.mkdtemp(prefix="b24-airflow-home-")
os.environ.setdefault("AIRFLOW_HOME", _HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags_examples"))
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_HOME}/airflow.db")
os.environ.setdefault("AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP", r"bitrix24_provider\..*")

POSTGRES_DSN = os.environ.get("B24_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("B24_TEST_REDIS", "redis://127.0.0.1:6379/0")


def airflow_at_least(version: str, why: str) -> pytest.MarkDecorator:
    """Skip a test on Airflow versions older than *version* (the provider supports 3.1+; some
    features need later versions)."""
    import airflow
    from packaging.version import Version

    current = airflow.__version__
    return pytest.mark.skipif(
        Version(current) < Version(version), reason=f"needs Airflow {version}+ ({why}); this is {current}"
    )


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """The local PostgreSQL (trust auth, database ``test``); skips with a reason when it is down."""
    if not _port_open("127.0.0.1", 5432):
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432 (CI starts it in .ci/run)")
    return POSTGRES_DSN


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated Airflow metadata database (only the tests that run tasks need it)."""
    from airflow.utils import db

    db.initdb()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The local Redis (no password, db 0); skips with a reason when it is down or ``redis`` is missing."""
    pytest.importorskip("redis", reason="the 'redis' package is not installed (extra [redis])")
    if not _port_open("127.0.0.1", 6379):
        pytest.skip("Redis is not running on 127.0.0.1:6379 (CI starts it in .ci/run)")
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test alone; its keys are deleted afterwards."""
    import redis

    prefix = f"b24test-{uuid.uuid4().hex[:12]}"
    yield prefix
    with redis.Redis.from_url(redis_url) as client:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)


@pytest.fixture(autouse=True)
def throttle_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The lock files the clients of one test share their throttle in (the default shared throttle):
    a directory of the test alone, so that no test meets the bucket another left (emulator ports are
    reused)."""
    directory = tmp_path_factory.mktemp("throttle")
    monkeypatch.setenv("BITRIX24_THROTTLE_DIR", str(directory))
    return directory
