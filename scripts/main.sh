#!/usr/bin/env bash
# Set up (idempotent) and run the main job: one quick-preset HarmonyDream run on Meta-world
# Lever Pull. (Becomes `python -m study.run finding1` once the study runner lands.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m agents.train --task metaworld/lever-pull --weighting harmony --seed 0 \
    --preset quick --out results/runs/lever-pull-harmony-quick-s0 "$@"
