#!/usr/bin/env bash
# Set up (idempotent), lint, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check agents study analyses tests notebooks
# The SLURM tests need the local cluster; starting it needs root (they skip, saying why, if not).
if [ "$(id -u)" = 0 ]; then bash slurm/cluster.sh start >/dev/null || echo "[test] SLURM cluster did not start" >&2; fi
.venv/bin/python -m pytest -q "$@"
