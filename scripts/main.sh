#!/usr/bin/env bash
# Set up (idempotent), run the main job -- Finding 1 at the small (quick) preset, locally --
# and execute its report notebook. Extra arguments go to study.run, e.g.
# `bash scripts/main.sh --preset smoke` for a minutes-long end-to-end check, or
# `--executor slurm --wait` on a cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
results=results
args=("$@")
for i in "${!args[@]}"; do
  if [[ "${args[$i]}" == "--results" ]]; then results="${args[$((i + 1))]}"; fi
  if [[ "${args[$i]}" == --results=* ]]; then results="${args[$i]#--results=}"; fi
done
.venv/bin/python -m study.run finding1 "$@"
.venv/bin/python -m study.status finding1 --results "$results"
# Without finished runs (e.g. SLURM jobs still queued) the report says so; run it again later.
.venv/bin/python -m study.report finding1 --results "$results" \
  || echo "report not produced yet: python -m study.report finding1 --results $results"
