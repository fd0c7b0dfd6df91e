#!/usr/bin/env bash
# One-shot setup for a fresh machine: Debian packages for headless MuJoCo rendering (when
# missing and when we are root), a venv at .venv, CPU torch first where there is no CUDA
# (an unpinned torch would pull a multi-GB CUDA build), then the project with its test extras.
# Idempotent: re-running it is cheap.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
for p in libegl1 libegl-mesa0 libgl1-mesa-dri libosmesa6; do
  dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] installing Debian packages: ${need_pkgs[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  else
    echo "[setup] warning: missing ${need_pkgs[*]} and not root; headless rendering may fail" >&2
  fi
fi

# pip on some machines lists local wheel folders that may be absent; those warnings are noise.
quiet_pip() { "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2); }

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
quiet_pip .venv/bin/python -m pip install -q --upgrade pip >/dev/null
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    quiet_pip .venv/bin/pip install -q "torch>=2.1,<3"
  else
    quiet_pip .venv/bin/pip install -q "torch==2.13.0"   # CPU build
  fi
fi
extras=${SETUP_EXTRAS:-test}
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)-$extras
if [ ! -f "$stamp" ]; then
  quiet_pip .venv/bin/pip install -q -e ".[${extras}]"
  .venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
  touch "$stamp"
fi
echo "[setup] ok: $(.venv/bin/python -c 'import torch,mujoco,metaworld,dm_control;print("torch",torch.__version__,"mujoco",mujoco.__version__)')"
