"""Secrets in Airflow's CLI and at rest, with a Fernet key set, checked with the real ``airflow`` CLI
and the metadata database's rows (and its raw bytes):

* the connection layout the README documents keeps the webhook code out of host, login and extras,
  so listings that hide secrets never show it; a code in host is shown and stored in clear;
* a task run (``airflow dags test``) stores the rotated OAuth tokens in an encrypted Variable, and
  the database holds no OAuth secret or token in clear.

A LocalExecutor run under ``airflow standalone`` stored the same rows the same way (checked by hand;
too slow for the suite).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.dag_runs import TEST_DAGS
from tests.hooks.support import oauth_extra, running

pytestmark = pytest.mark.slow

CODE = "s3cr3twebhookcode4711"
PORTAL = "acme.bitrix24.com"
OAUTH_CONN = "bitrix24_oauth_rotation"  # the connection tests/dags/bitrix24_oauth_rotation.py reads


@dataclass(frozen=True)
class Home:
    """A throwaway Airflow home with its own SQLite metadata database and Fernet key."""

    path: Path
    env: dict[str, str]
    fernet_key: str

    def airflow(self, *argv: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *argv],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"airflow {' '.join(argv)}: {done.stderr[-3000:]}"
        return done.stdout

    def import_connections(self, connections: dict[str, dict[str, Any]]) -> None:
        """``airflow connections import``: unlike ``add --conn-json``, it leaves the secrets out of the
        audit log (which keeps only the file's path)."""
        path = self.path / "connections.json"
        path.write_text(json.dumps(connections))
        self.airflow("connections", "import", str(path))
        path.unlink()

    def rows(self, sql: str, *args: Any) -> list[Any]:
        with sqlite3.connect(self.path / "airflow.db") as db:
            return db.execute(sql, args).fetchall()

    def raw(self) -> bytes:
        """Every byte of the metadata database, free pages included."""
        return (self.path / "airflow.db").read_bytes()

    def decrypt(self, text: str) -> str:
        from cryptography.fernet import Fernet

        return Fernet(self.fernet_key.encode()).decrypt(text.encode()).decode()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    from cryptography.fernet import Fernet

    path = tmp_path_factory.mktemp("airflow-home")
    key = Fernet.generate_key().decode()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(path),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{path}/airflow.db",
            "AIRFLOW__CORE__FERNET_KEY": key,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(TEST_DAGS),
            "PYTHONPATH": str(REPO),
        }
    )
    airflow_home = Home(path, env, key)
    airflow_home.airflow("db", "migrate")
    return airflow_home


def readme_connection() -> dict[str, Any]:
    """The README's ``AIRFLOW_CONN_BITRIX24_DEFAULT`` example, its placeholders filled in."""
    readme = (REPO / "README.md").read_text()
    match = re.search(r"export AIRFLOW_CONN_BITRIX24_DEFAULT='(.*?)'", readme, re.DOTALL)
    assert match, "the README shows no AIRFLOW_CONN_BITRIX24_DEFAULT example"
    example = match.group(1)
    for placeholder, value in (
        ("<portal>.bitrix24.com", PORTAL),
        ("<user id>", "1"),
        ("<webhook code>", CODE),
    ):
        example = example.replace(placeholder, value)
    connection: dict[str, Any] = json.loads(example)
    assert CODE in json.dumps(connection), "the example holds no webhook code"
    return connection


def test_the_documented_layout_keeps_the_code_out_of_listings(home: Home) -> None:
    from airflow.cli import cli_config

    home.import_connections(
        {
            "b24_documented": readme_connection(),
            "b24_in_host": {"conn_type": "bitrix24", "host": f"https://{PORTAL}/rest/1/{CODE}in/"},
        }
    )
    (got,) = json.loads(home.airflow("connections", "get", "b24_documented", "-o", "json"))
    # Airflow's CLI prints the password (and the URI made from it) to whoever may run it...
    assert got["password"] == CODE
    # ...but nothing else of the documented layout carries the code
    shown = {k: v for k, v in got.items() if k not in ("password", "get_uri")}
    assert CODE not in json.dumps(shown)
    assert (got["host"], got["login"]) == (PORTAL, "1")
    (in_host,) = json.loads(home.airflow("connections", "get", "b24_in_host", "-o", "json"))
    assert CODE in in_host["host"]

    if hasattr(cli_config, "ARG_CONN_LIST_HIDE_SENSITIVE"):  # Airflow 3.3+
        listed = home.airflow("connections", "list", "--show-values", "--hide-sensitive", "-o", "json")
        rows = {row["conn_id"]: row for row in json.loads(listed)}
        assert CODE not in json.dumps(rows["b24_documented"])
        assert CODE + "in" in json.dumps(rows["b24_in_host"])  # host is no secret field

    ((password, encrypted, host),) = home.rows(
        "SELECT password, is_encrypted, host FROM connection WHERE conn_id = 'b24_documented'"
    )
    assert encrypted and home.decrypt(password) == CODE
    assert CODE not in host
    ((stored_host,),) = home.rows("SELECT host FROM connection WHERE conn_id = 'b24_in_host'")
    assert CODE + "in" in stored_host  # stored in clear
    assert (CODE + "in").encode() in home.raw()
    raw = home.raw().replace((CODE + "in").encode(), b"")
    assert CODE.encode() not in raw


def test_a_task_run_stores_the_rotated_oauth_tokens_encrypted(home: Home) -> None:
    with running(deals=300, token_lifetime=40, time_scale=20) as portal:
        extra = oauth_extra(portal)
        home.import_connections(
            {OAUTH_CONN: {"conn_type": "bitrix24", "host": portal.base_url, "extra": extra}}
        )
        conf = json.dumps({"pause": 2.5, "time_scale": 20})
        home.airflow("dags", "test", "bitrix24_oauth_rotation", "-c", conf)

    ((value, encrypted),) = home.rows(
        "SELECT val, is_encrypted FROM variable WHERE key = ?", f"bitrix24_oauth_token_{OAUTH_CONN}"
    )
    assert encrypted, "the OAuth token Variable must be stored encrypted"
    tokens = json.loads(home.decrypt(value))
    assert tokens["generation"] >= 2  # the task rotated the token at least once
    ((extras, extra_encrypted),) = home.rows(
        "SELECT extra, is_extra_encrypted FROM connection WHERE conn_id = ?", OAUTH_CONN
    )
    assert extra_encrypted and json.loads(home.decrypt(extras))["client_secret"] == extra["client_secret"]

    raw = home.raw()
    for secret in (
        extra["client_secret"],
        extra["refresh_token"],
        tokens["refresh_token"],
        tokens["access_token"],
    ):
        assert secret.encode() not in raw
