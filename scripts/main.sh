#!/usr/bin/env bash
# Set up (idempotent) and run the main job: Finding 1 at the small (quick) preset, locally.
# Extra arguments go to study.run, e.g. `bash scripts/main.sh --preset smoke` for a minutes-long
# end-to-end check, or `--executor slurm` on a cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m study.run finding1 "$@"
.venv/bin/python -m study.status finding1
