#!/usr/bin/env bash
# Set up (idempotent), lint, and run the whole test suite (what CI runs: .ci/run calls it).
# As root it also apt-installs and starts a local SLURM cluster (slurm/cluster.sh) for the SLURM
# tests and leaves its daemons running; `bash slurm/cluster.sh stop` stops them.
# Two pytest sessions: the DreamerV3 equivalence harness (marker `jax`) loads JAX into its
# process, after which any fork (subprocess, multiprocessing) may deadlock, so it runs alone,
# after the rest. Extra arguments go to both sessions (e.g. a test path); exit 1 if either fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check agents study analyses tests notebooks
# The SLURM tests need the local cluster; starting it needs root (they skip, saying why, if not).
if [ "$(id -u)" = 0 ]; then bash slurm/cluster.sh start >/dev/null || echo "[test] SLURM cluster did not start" >&2; fi
pytest=(.venv/bin/python -m pytest -q -rs --durations=15)
rc=0
"${pytest[@]}" -m "not jax" "$@" || rc=$?
[ $rc = 5 ] && rc=0   # 5: nothing collected (the arguments named JAX tests only)
jax_rc=0
if [ $# -gt 0 ]; then
  "${pytest[@]}" -m jax "$@" || jax_rc=$?
else
  "${pytest[@]}" -m jax tests/algorithm/test_equivalence_v3.py || jax_rc=$?
fi
[ $jax_rc = 5 ] && jax_rc=0
if [ $rc != 0 ] || [ $jax_rc != 0 ]; then
  echo "[test] FAILED: main session exit $rc, JAX session exit $jax_rc" >&2
  exit 1
fi
