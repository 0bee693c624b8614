"""No Docker engine runs here, so the files under docker/ are checked by parsing them."""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomllib
import yaml

from bitrix24_provider.emulator.__main__ import parse_args

DOCKER = Path(__file__).resolve().parents[1] / "docker"


def dockerfile_instructions() -> list[tuple[str, str]]:
    lines = (DOCKER / "Dockerfile").read_text().splitlines()
    out = []
    for line in lines:
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest))
    return out


def test_dockerfile_copies_what_the_package_needs_and_installs_from_the_lock() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0][0] == "FROM"
    copied = " ".join(rest for word, rest in instructions if word == "COPY")
    # everything the wheel is built from (pyproject's license-files and wheel packages)
    for needed in (
        "pyproject.toml",
        "uv.lock",
        "README.md",
        "LICENSE",
        "bitrix24_provider",
        "airflow_provider_bitrix24",
        "dags_examples",  # the wheel's airflow_provider_bitrix24/example_dags (force-include)
    ):
        assert needed in copied
        assert (DOCKER.parent / needed).exists()
    assert any(word == "RUN" and "--locked" in rest for word, rest in instructions)


def test_dockerfile_command_runs_the_emulator_cli_with_valid_arguments() -> None:
    cmd = next(rest for word, rest in instructions_of("CMD"))
    shell = json.loads(cmd)[-1]  # exec form: ["sh", "-c", "..."]
    emulator = shell.split("exec ", 1)[1].replace("${EMULATOR_DEALS:-20000}", "20000")
    argv = shlex.split(emulator)
    assert argv[1:3] == ["-m", "bitrix24_provider.emulator"]
    args = parse_args(argv[3:])
    assert args.port == 8766 and args.deals == 20000


def instructions_of(word: str) -> list[tuple[str, str]]:
    return [(w, rest) for w, rest in dockerfile_instructions() if w == word]


def test_compose_file_builds_the_emulator_and_binds_loopback() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    emulator = compose["services"]["emulator"]
    assert (DOCKER / emulator["build"]["context"] / emulator["build"]["dockerfile"]).resolve().exists()
    for service in compose["services"].values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port


# -- the CeleryExecutor topology: docker/compose.celery.yaml against scripts/cluster.py --------------


def _cluster_module() -> object:
    import importlib.util

    spec = importlib.util.spec_from_file_location("cluster", DOCKER.parent / "scripts" / "cluster.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("cluster", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _celery_compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.celery.yaml").read_text())


def test_celery_compose_runs_every_component_the_native_script_runs() -> None:
    cluster: Any = _cluster_module()
    services = _celery_compose()["services"]
    commands = {name: service.get("command") for name, service in services.items()}
    for component in cluster.COMPONENTS:
        assert [component] in commands.values(), component
    workers = [s for s in services.values() if s.get("command", [])[:2] == ["celery", "worker"]]
    assert len(workers) == 1
    assert workers[0]["deploy"]["replicas"] == cluster.parse_args([]).workers
    queue = workers[0]["command"][workers[0]["command"].index("-q") + 1]
    assert workers[0]["environment"]["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] == queue
    assert ["db", "migrate"] in commands.values()
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
        for needed in service.get("depends_on", {}):
            assert needed in services, (name, needed)


def test_celery_compose_sets_the_same_airflow_configuration_as_the_native_script() -> None:
    cluster: Any = _cluster_module()
    from bitrix24_provider.hooks.connection import webhook_connection_fields

    env = _celery_compose()["services"]["airflow-scheduler"]["environment"]
    emulator_url = "http://emulator:8765/rest/1/emulatorwebhook0/"
    native = cluster.airflow_env(
        8080, "postgresql://postgres@postgres:5432/staging", webhook_connection_fields(emulator_url)
    )
    # AIRFLOW_HOME is the image's ENV; everything else is set in both places
    assert set(env) == set(native) - {"AIRFLOW_HOME"}
    for key in (
        "AIRFLOW__CORE__EXECUTOR",
        "AIRFLOW__CORE__LOAD_EXAMPLES",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC",
        "AIRFLOW__API__PORT",
    ):
        assert env[key] == native[key], key
    for key in (
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__RESULT_BACKEND",
    ):
        assert urlsplit(env[key]).scheme == urlsplit(native[key]).scheme, key  # same drivers
    assert urlsplit(env["AIRFLOW__CELERY__BROKER_URL"]).path == f"/{cluster.BROKER_DB}"
    assert urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]).path == "/execution/"
    # the Bitrix24 connection: the emulator's webhook and the shared throttle in Redis, as natively
    conn, native_conn = (
        json.loads(env["AIRFLOW_CONN_BITRIX24_DEFAULT"]),
        json.loads(native["AIRFLOW_CONN_BITRIX24_DEFAULT"]),
    )
    assert {k: conn[k] for k in ("conn_type", "host", "login", "password")} == {
        k: native_conn[k] for k in ("conn_type", "host", "login", "password")
    }
    assert set(conn["extra"]) == set(native_conn["extra"])
    assert urlsplit(conn["extra"]["shared_throttle_dsn"]).path == f"/{cluster.THROTTLE_DB}"
    assert urlsplit(env["AIRFLOW_CONN_BITRIX24_STAGING"]).scheme == "postgresql"
    # the API secrets come from the environment, never from the file
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"].startswith("${")
    assert env["AIRFLOW__API__SECRET_KEY"].startswith("${")


def test_airflow_image_installs_the_locked_dependencies_and_the_provider_wheel() -> None:
    text = (DOCKER / "airflow.Dockerfile").read_text()
    assert "uv export --locked" in text and "--no-dev" in text
    extras = set(re.findall(r"--extra (\w+)", text))
    assert {"airflow", "postgres", "celery", "redis"} <= extras
    declared = tomllib.loads((DOCKER.parent / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert extras <= set(declared)
    assert "uv build --wheel" in text and "/wheels/*.whl" in text
    assert 'ENTRYPOINT ["airflow"]' in text
    init = (DOCKER / "initdb" / "01-staging.sql").read_text()
    staging = urlsplit(_celery_compose()["x-airflow"]["environment"]["AIRFLOW_CONN_BITRIX24_STAGING"]).path
    assert f"CREATE DATABASE {staging.strip('/')};" in init
