#!/usr/bin/env bash
# Remakes docs/img/tensorboard.png, the dashboard groups in docs/training.md: a smoke run that
# logs to TensorBoard, TensorBoard on a free port, and headless Chromium's screenshot of its
# Scalars page. A manual step (CI has no browser): needs `apt-get install chromium`.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromium >/dev/null || { echo "error: needs chromium (apt-get install chromium)" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill "${tb_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
.venv/bin/python -m agents.train --task dmc/cartpole-swingup --preset smoke --quiet \
  --out "$work/cartpole-swingup fixed s0" --set train.steps=1500 --set train.log_every=100 \
  --set train.eval_every=300 --set train.probe_every=5 --set log.outputs=jsonl,tensorboard
port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])')
.venv/bin/python -m tensorboard.main --logdir "$work" --port "$port" >"$work/tb.log" 2>&1 &
tb_pid=$!
for _ in $(seq 60); do curl -sf "http://localhost:$port" >/dev/null && break; sleep 1; done
chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,1560 --force-device-scale-factor=0.6 \
  --virtual-time-budget=15000 --screenshot="$PWD/docs/img/tensorboard.png" \
  "http://localhost:$port/#scalars" 2>/dev/null
echo "wrote docs/img/tensorboard.png"
