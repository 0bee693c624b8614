"""The distribution: what the wheel holds, Airflow's example-DAG discovery with ``load_examples`` on
and off, and a fresh venv with the wheel and the newest Airflow running an example DAG.

Airflow adds an ``example_dags`` folder of every installed provider as a bundle when examples are
on; for a distribution outside ``apache-airflow-providers-*`` it imports the module named after it
(``airflow_provider_bitrix24``), and logs an ERROR with a traceback at every parse when that fails.
The CLI runs in fresh ``AIRFLOW_HOME`` folders, without this session's Airflow settings.
"""

from __future__ import annotations

import email.parser
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bitrix24_provider import __version__

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p.name for p in (REPO / "dags_examples").glob("*.py"))
BUNDLE = "airflow-provider-bitrix24-example-dags"
DISCOVERY_ERROR = "Could not load provider module"
#: what uv prints when it cannot reach the package index
OFFLINE = re.compile(r"Failed to fetch|error sending request|dns error|Could not connect|network", re.I)


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    """Run a command; its stdout and stderr together. A failure fails the test with the output."""
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        if Path(argv[0]).name == "uv" and OFFLINE.search(output):
            pytest.skip(f"uv cannot reach the package index: {output.strip().splitlines()[-1]}")
        pytest.fail(f"{' '.join(argv)} exited with {done.returncode}:\n{output[-4000:]}")
    return output


def uv(*args: str, cwd: Path) -> str:
    """uv: the one running the tests (``uv run`` sets ``UV``), else the one on PATH."""
    binary = os.environ.get("UV") or shutil.which("uv")
    if binary is None:
        pytest.skip("uv is not installed (scripts/test.sh installs it)")
    return run([binary, *args], cwd)


def airflow_env(home: Path, load_examples: bool, **extra: str) -> dict[str, str]:
    """A clean environment for the Airflow CLI: this session's AIRFLOW_* settings left out."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    (home / "dags").mkdir(parents=True, exist_ok=True)
    return {
        **env,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": str(load_examples),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        **extra,
    }


def no_errors(output: str) -> list[str]:
    """The ERROR lines of a CLI run and the provider-discovery error (empty when clean)."""
    return [line for line in output.splitlines() if "[error" in line or DISCOVERY_ERROR in line]


@pytest.mark.slow
@pytest.mark.parametrize("load_examples", [True, False], ids=["examples-on", "examples-off"])
def test_reserialize_parses_without_an_error(tmp_path, load_examples):
    """``airflow dags reserialize`` is where the discovery error shows. From a checkout the provider's
    module has no ``example_dags`` (the wheel has: see the fresh-venv test), which Airflow skips."""
    env = airflow_env(tmp_path / "home", load_examples)
    airflow = [sys.executable, "-m", "airflow"]
    run([*airflow, "db", "migrate"], tmp_path, env)
    output = run([*airflow, "dags", "reserialize"], tmp_path, env)

    assert not no_errors(output), output
    loaded = re.search(r"DAG bundles loaded: (.*?) +\[", output)
    assert loaded is not None, output
    assert ("example_dags" in loaded.group(1)) is load_examples  # Airflow's own examples: the switch works


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    uv("build", "--wheel", "--out-dir", str(out), str(REPO), cwd=out)
    (built,) = out.glob("*.whl")
    return built


def test_the_wheel_holds_the_code_the_examples_the_license_and_one_version(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"airflow_provider_bitrix24-{__version__}.dist-info"
        metadata = email.parser.Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points = archive.read(f"{info}/entry_points.txt").decode()

    assert wheel.name == f"airflow_provider_bitrix24-{__version__}-py3-none-any.whl"
    assert f"{info}/licenses/LICENSE" in names
    assert {f"airflow_provider_bitrix24/example_dags/{name}" for name in EXAMPLES} <= names
    assert {"bitrix24_provider/py.typed", "bitrix24_provider/get_provider_info.py"} <= names
    assert not [n for n in names if n.split("/")[0] in ("tests", "bench", "scripts", "docker")]
    assert metadata["Version"] == __version__
    assert metadata["License-Expression"] == "MIT"
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL"))
    assert urls["Documentation"].startswith("https://") and {"Changelog", "Issues"} <= set(urls)
    classifiers = metadata.get_all("Classifier")
    assert any(c.startswith("Development Status :: ") for c in classifiers)
    assert "Programming Language :: Python :: 3.10" in classifiers  # requires-python >= 3.10
    assert "bitrix24_provider.get_provider_info:get_provider_info" in entry_points


@pytest.fixture
def fresh_venv(wheel: Path, tmp_path: Path) -> Path:
    """A new venv with the wheel, its ``[airflow]`` extra and the newest Airflow (uv's cache keeps
    this to seconds after the first time)."""
    venv = tmp_path / "venv"
    uv("venv", "--quiet", str(venv), cwd=tmp_path)
    requirement = f"airflow-provider-bitrix24[airflow] @ {wheel.as_uri()}"
    uv("pip", "install", "--quiet", "-p", str(venv / "bin" / "python"), requirement, cwd=tmp_path)
    return venv


@pytest.fixture
def emulator_of(fresh_venv: Path, tmp_path: Path) -> Iterator[str]:
    """The emulator of the installed wheel; its webhook URL."""
    argv = [str(fresh_venv / "bin" / "python"), "-m", "bitrix24_provider.emulator", "--port", "0"]
    argv += ["--deals", "3000", "--leads", "300", "--contacts", "200", "--companies", "100"]
    process = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    try:
        assert line.startswith("READY "), line
        yield line.split(" ", 1)[1]
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_a_fresh_venv_with_the_newest_airflow_runs_an_example_dag(fresh_venv, emulator_of, tmp_path):
    """The examples come from the wheel's bundle (examples on, an empty DAGs folder); the run's log
    has progress lines. Nothing of this checkout is importable there (cwd is elsewhere)."""
    env = airflow_env(
        tmp_path / "home",
        load_examples=True,
        AIRFLOW_CONN_BITRIX24_DEFAULT=json.dumps({"conn_type": "bitrix24", "host": emulator_of}),
        AIRFLOW_CONN_BITRIX24_STAGING=json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "stage.db")}),
    )
    airflow = [str(fresh_venv / "bin" / "airflow")]
    run([*airflow, "db", "migrate"], tmp_path, env)
    parsed = run([*airflow, "dags", "reserialize", "-B", BUNDLE], tmp_path, env)
    assert not no_errors(parsed), parsed
    assert "Creating ORM DAG for bitrix24_full_load" in parsed

    output = run([*airflow, "dags", "test", "bitrix24_full_load"], tmp_path, env)
    assert "site-packages/airflow_provider_bitrix24/example_dags" in output
    assert str(REPO) not in output
    progress = re.findall(r"\] ([\d,]+ of ~[\d,]+ rows \(\d+%\), .*?) +\[bitrix24_provider", output)
    assert len(progress) >= 3, output[-4000:]
    assert re.search(r"Read 3,000 rows in [\d.]+ s, \d+ pages, \d+ requests, [\d,]+ rows/s", output)
    assert "Exported 3,000 rows to b24_deals (replace)" in output
    assert "DagRun Finished: dag_id=bitrix24_full_load" in output and "state=success" in output
