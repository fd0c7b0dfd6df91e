#!/usr/bin/env bash
# Set up (idempotent), run the main job -- Finding 1 at the small (quick) preset, locally --
# and execute the report notebooks. finding2's runs are a subset of finding1's at every preset,
# so its report (state probe, filmstrip) comes at no extra training cost.
# Extra arguments go to study.run, e.g. `bash scripts/main.sh --preset smoke` for a
# minutes-long end-to-end check, or `--executor slurm --wait` on a cluster.
# STUDIES="finding1 finding2 finding3 harmony" bash scripts/main.sh runs and reports those.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
results=results
args=("$@")
for i in "${!args[@]}"; do
  if [[ "${args[$i]}" == "--results" ]]; then results="${args[$((i + 1))]}"; fi
  if [[ "${args[$i]}" == --results=* ]]; then results="${args[$i]#--results=}"; fi
done
studies=(${STUDIES:-finding1 finding2})
for study in "${studies[@]}"; do
  .venv/bin/python -m study.run "$study" "$@"
done
for study in "${studies[@]}"; do
  .venv/bin/python -m study.status "$study" --results "$results"
  # Without finished runs (e.g. SLURM jobs still queued) the report says so; run it later.
  .venv/bin/python -m study.report "$study" --results "$results" \
    || echo "report not produced yet: python -m study.report $study --results $results"
done
