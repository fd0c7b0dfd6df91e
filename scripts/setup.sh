#!/usr/bin/env bash
# One-shot setup for a fresh machine (bare Debian 12 or 13 with Python >= 3.10 included):
# Debian packages for headless MuJoCo rendering and python3-venv (when missing and when we are
# root), a venv at .venv (a half-made one is rebuilt), CPU torch first where there is no CUDA
# (an unpinned torch would pull a multi-GB CUDA build): from pip's find-links if a CPU wheel is
# there, else PyTorch's CPU index, else PyPI (saying so), then the project with its test extras.
# Idempotent and quiet: re-running it is cheap. scripts/fresh_machine.sh proves it on a bare root.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the headless-rendering libraries (scripts/debian-packages.txt, the one list)
# and, for a Debian python, its venv module (python3-venv is not in a bare Debian).
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || { echo "[setup] error: $PY not found; install Python >= 3.10" >&2; exit 1; }
pyver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || { echo "[setup] error: $PY is Python $pyver; the project needs >= 3.10" >&2; exit 1; }
want_pkgs=($(sed -e 's/#.*//' scripts/debian-packages.txt))
if command -v dpkg >/dev/null && dpkg -S "$(readlink -f "$(command -v "$PY")")" >/dev/null 2>&1; then
  want_pkgs+=(python3-venv "python$pyver-venv")
fi
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
need_pkgs=()
if command -v dpkg-query >/dev/null; then
  for p in "${want_pkgs[@]}"; do installed "$p" || need_pkgs+=("$p"); done
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] installing Debian packages: ${need_pkgs[*]}"
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    known=()  # a name this release lacks is reported, not fatal
    for p in "${need_pkgs[@]}"; do
      if apt-cache show "$p" >/dev/null 2>&1; then known+=("$p")
      else echo "[setup] warning: this Debian has no package $p" >&2; fi
    done
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
      --no-install-recommends "${known[@]}" >/tmp/hd-setup-apt.log 2>&1 \
      || { cat /tmp/hd-setup-apt.log >&2; echo "[setup] error: apt-get install failed" >&2; exit 1; }
  else
    echo "[setup] warning: missing ${need_pkgs[*]} and not root; headless rendering" \
      "(or creating .venv) may fail" >&2
  fi
fi

# pip on some machines lists local wheel folders that may be absent; those warnings are noise.
quiet_pip() { "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2); }

# A half-made .venv (python3-venv was missing, or an interrupted run) is rebuilt.
venv_ok() { [ -x .venv/bin/python ] && [ -x .venv/bin/pip ] && .venv/bin/python -c "import pip" 2>/dev/null; }
if ! venv_ok; then
  [ -e .venv ] && echo "[setup] .venv is incomplete (no working pip); rebuilding it"
  rm -rf .venv
  "$PY" -m venv .venv || { rm -rf .venv; echo "[setup] error: $PY -m venv failed" \
    "(on Debian: apt-get install python3-venv)" >&2; exit 1; }
  venv_ok || { rm -rf .venv; echo "[setup] error: .venv has no working pip" >&2; exit 1; }
fi
quiet_pip .venv/bin/python -m pip install -q --upgrade pip >/dev/null
TORCH_CPU=2.13.0   # the CPU build on machines without CUDA
TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
cpu_wheel_local() {  # a CPU build of torch through pip's configured find-links (no index)
  .venv/bin/pip install --dry-run --no-index --no-deps -q --report - "torch==$TORCH_CPU" \
    2>/dev/null | .venv/bin/python -c \
    'import json,sys; sys.exit("+cpu" not in json.load(sys.stdin)["install"][0]["metadata"]["version"])' \
    2>/dev/null
}
reachable() {  # reachable URL: answers over HTTPS within 10 s (pip's CA file, the system's, certifi's)
  .venv/bin/python - "$1" >/dev/null 2>&1 <<'PYEOF'
import os, ssl, sys, urllib.error, urllib.request
from pip._vendor import certifi
for cafile in (os.environ.get("PIP_CERT"), None, certifi.where()):
    try:
        urllib.request.urlopen(sys.argv[1], timeout=10,
                               context=ssl.create_default_context(cafile=cafile))
        sys.exit(0)
    except urllib.error.URLError as e:
        if not isinstance(e.reason, ssl.SSLError):
            break  # no route, no name, a timeout: no other CA file helps
    except OSError:
        break
sys.exit(1)
PYEOF
}
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    quiet_pip .venv/bin/pip install -q "torch>=2.1,<3"
  elif cpu_wheel_local; then
    quiet_pip .venv/bin/pip install -q "torch==$TORCH_CPU"   # the CPU wheel from find-links
  elif reachable "$TORCH_CPU_INDEX/torch/"; then
    quiet_pip .venv/bin/pip install -q --extra-index-url "$TORCH_CPU_INDEX" "torch==$TORCH_CPU+cpu"
  else
    echo "[setup] $TORCH_CPU_INDEX unreachable: installing torch==$TORCH_CPU from PyPI," \
      "its CUDA build (a 0.5 GB wheel that pulls roughly 3 GB of NVIDIA CUDA libraries)"
    quiet_pip .venv/bin/pip install -q "torch==$TORCH_CPU"
  fi
fi
extras=${SETUP_EXTRAS:-test}
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)-$extras
if [ ! -f "$stamp" ]; then
  # setuptools' "Editable installation" banner is noise: the output goes to a log, shown on failure.
  .venv/bin/pip install -q -e ".[${extras}]" >.venv/install.log 2>&1 \
    || { cat .venv/install.log >&2; echo "[setup] error: pip install failed" >&2; exit 1; }
  .venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
  touch "$stamp"
fi
echo "[setup] ok: $(.venv/bin/python -c 'import torch,mujoco,metaworld,dm_control;print("torch",torch.__version__,"mujoco",mujoco.__version__)')"
