#!/usr/bin/env bash
# Runs the whole test suite from a fresh clone: installs uv from PyPI when it is missing,
# builds the environment from uv.lock and runs pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -m uv --version >/dev/null 2>&1; then
    python3 -m pip install --quiet uv
fi
python3 -m uv sync --locked --compile-bytecode --quiet
exec python3 -m uv run --locked --no-sync pytest "$@"
