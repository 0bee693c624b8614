#!/usr/bin/env bash
# The Dagster demo from a fresh clone: installs uv from PyPI when missing, builds the environment from
# uv.lock (it holds Dagster), starts the bundled portal emulator (unless BITRIX24_WEBHOOK_URL points at
# a real portal), materializes the four CRM assets of dags_examples/dagster/definitions.py with
# `dagster asset materialize` into a local SQLite database and prints what it loaded. Extra arguments
# go to scripts/dagster_demo.py (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -m uv --version >/dev/null 2>&1; then
    echo "Installing uv from PyPI ..."
    python3 -m pip install --quiet uv
fi
echo "Installing the locked environment into .venv with uv (a minute or two the first time) ..."
python3 -m uv sync --locked --compile-bytecode --quiet
exec python3 -m uv run --locked --no-sync python scripts/dagster_demo.py "$@"
