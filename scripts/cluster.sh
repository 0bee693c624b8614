#!/usr/bin/env bash
# A real Airflow 3 CeleryExecutor deployment on this machine: installs the locked environment, then
# scripts/cluster.py starts the emulator, Airflow's API server, scheduler, DAG processor, triggerer and
# two Celery workers (Redis 127.0.0.1:6379 as broker and shared throttle, PostgreSQL 127.0.0.1:5432 as
# metadata and staging database), runs the example DAGs, checks the staging tables against the
# emulator, prints one JSON summary line and stops everything it started.
#   bash scripts/cluster.sh                                                     # the full-load DAG
#   bash scripts/cluster.sh --dags bitrix24_full_load,bitrix24_incremental_deals  # two DAGs at once
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -m uv --version >/dev/null 2>&1; then
    python3 -m pip install --quiet uv
fi
python3 -m uv sync --locked --compile-bytecode --quiet
exec python3 -m uv run --locked --no-sync python scripts/cluster.py "$@"
