#!/bin/bash
# The quick update's speed figures in docs/speed.md ("The fraction of the matmul limit"), one
# after another; run it on an idle machine. Writes each row's JSON and text to $1
# (default bench-quick/). About 15 minutes on a 2-core CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:-bench-quick}"); mkdir -p "$OUT"
B=(.venv/bin/python -m agents.bench)
row() { local name=$1; shift; "${B[@]}" "$@" --json "$OUT/$name.json" | tee "$OUT/$name.txt"; }
pair() {  # two runs at once, one thread each
  local name=$1; shift
  for i in 1 2; do "${B[@]}" "$@" --set train.threads=1 --json "$OUT/${name}_$i.json" \
    > "$OUT/${name}_$i.txt" & done
  wait; cat "$OUT/${name}"_[12].txt
}
# eager, one run x 2 threads (issue 45's command)
row eager --rows matmul update-quick update-v3-quick update-paper --reps 3
# compiled: with an empty inductor cache, then a warm one, then eager again
export TORCHINDUCTOR_CACHE_DIR="$OUT/inductor"
rm -rf "$TORCHINDUCTOR_CACHE_DIR"
row compiled_cold --rows update-quick update-v3-quick --reps 5 --set train.compile=true
row compiled_warm --rows update-quick update-v3-quick --reps 5 --set train.compile=true
row eager_again --rows update-quick update-v3-quick --reps 5
# the thread layout: two runs x one thread at once
pair layout --rows update-quick --reps 5
# the main job's shape (batch 8, one thread per run, two at once), eager then compiled
pair main_eager --rows update-quick --reps 5 --set replay.batch_size=8
"${B[@]}" --rows update-quick --reps 1 --set replay.batch_size=8 --set train.threads=1 \
  --set train.compile=true > /dev/null  # fills the cache for these shapes
pair main_compiled --rows update-quick --reps 5 --set replay.batch_size=8 --set train.compile=true
# where the time goes
row breakdown_2threads --rows update-quick update-v3-quick --reps 3 --breakdown
row breakdown_1thread --rows update-quick update-v3-quick --reps 3 --breakdown \
  --set replay.batch_size=8 --set train.threads=1
