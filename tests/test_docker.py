"""No Docker engine runs here, so the files under docker/ are checked by parsing them."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

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
