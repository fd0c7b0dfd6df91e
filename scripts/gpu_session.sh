#!/usr/bin/env bash
# What a session with a lent GPU runs, one stage per device call (each well inside the call's
# 10 minutes). Build .kit/ here first (scripts/device_kit.sh), then call the device tool with
#   command: bash scripts/gpu_session.sh STAGE     carry: [".kit"]
# Stages, in order:
#   check   CUDA tests (graphed vs eager; fp16 with its scalers), then agents.bench
#           update/act/matmul rows in fp32 and bf16, eager and graphed, and fp16 eager,
#           DreamerV3's update, and the official wmlib-torch at the same shapes
#           (../shared/tools/peer-bench) in the same call                     (~7 min)
#   loop    env, loop rows at the paper preset with N envs, serial and overlapped
#           (train.overlap), K concurrent runs (~6 min)
#   curves  dreamer_check --preset gpu for up to $CURVE_S seconds (default 500); the runs
#           resume on the next call while the machine is still warm (results/ stays there)
# Everything lands in $OUT: log.txt (the whole output), results.tar.gz (bench JSONs, or the
# runs' metrics without their replay), and a short table printed last.
set -uo pipefail
stage=${1:?usage: scripts/gpu_session.sh check|loop|curves}
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/gpu-out}
mkdir -p "$out" "$out/json"
exec > >(tee -a "$out/log.txt") 2>&1

# The machine is bare: GL loaders for MuJoCo's EGL rendering, the simulator packages.
for f in .kit/gl/*.deb; do dpkg -x "$f" /; done
ldconfig
if [ ! -d /tmp/site ]; then
  mkdir -p /tmp/site && tar -xzf .kit/site.tar.gz -C /tmp/site
fi
export PYTHONPATH=/tmp/site:$PWD MUJOCO_GL=egl PYOPENGL_PLATFORM=egl PYTHONUNBUFFERED=1
vendor=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
[ -f "$vendor" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$vendor
py=python3
echo "== $(date -u +%FT%TZ) stage $stage on $(nvidia-smi --query-gpu=name,driver_version \
  --format=csv,noheader), torch $($py -c 'import torch; print(torch.__version__)'), \
commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"

bench() {  # name, then agents.bench arguments; each row set is cut at ${BENCH_S:-150} s
  local name=$1; shift
  echo "-- bench $name: $*"
  timeout "${BENCH_S:-150}" $py -m agents.bench --json "$out/json/$name.json" "$@" \
    || echo "-- bench $name: exit $? (124: cut at the time limit)"
}

case $stage in
  check)
    $py -m pytest -q -p no:cacheprovider tests/run/test_cuda.py
    # harmony: the official bench times HarmonyDream's update; ours the same, side by side
    cuda=(--set train.device=cuda --set weighting.name=harmony)
    for prec in fp32 bf16 fp16; do  # fp16: the DreamerV2 paper presets' (train.precision=auto)
      for graphs in false true; do
        [ "$prec" = fp16 ] && [ "$graphs" = true ] && continue  # refused: the scaler syncs
        bench "update-$prec-graphs_$graphs" --rows update-paper act --reps 10 "${cuda[@]}" \
          --set train.precision=$prec --set train.cuda_graphs=$graphs
      done
    done
    bench matmul --rows matmul --reps 10 "${cuda[@]}"
    bench update-v3 --rows update-v3-paper --reps 10 "${cuda[@]}" --set train.cuda_graphs=true
    if [ -d .kit/peer/wmlib-torch ]; then
      for fp16 in 0 1; do
        echo "-- official wmlib-torch, batch 50 x 50, fp16 $fp16"
        (cd .kit/peer/wmlib-torch && $py ../bench_wmlib.py --preset metaworld --batch 50 \
          --length 50 --device cuda --iters 10 --fp16 $fp16 --out "$out/json/official-fp16_$fp16.json")
      done
    fi
    ;;
  loop)
    cuda=(--set train.device=cuda --set train.cuda_graphs=true --set train.precision=bf16)
    export BENCH_S=80  # 5 rows x 80 s + the concurrent row's 120 s: inside the call's 10 min
    bench env --rows env --reps 1
    for n in 1 4; do
      bench "loop-paper-envs_$n" --rows loop --loop-preset paper "${cuda[@]}" \
        --set env.num_envs=$n
    done
    # train.overlap: the envs step while the GPU trains (acting one update behind)
    for n in 4 8; do
      bench "loop-paper-envs_$n-overlap" --rows loop --loop-preset paper "${cuda[@]}" \
        --set env.num_envs=$n --set train.overlap=true
    done
    BENCH_S=120 bench concurrent-4 --rows concurrent --concurrent 4 --loop-preset paper \
      "${cuda[@]}" --set env.num_envs=2 --set train.overlap=true
    ;;
  curves)
    timeout -s INT "${CURVE_S:-500}" $py -m study.run dreamer_check --preset gpu \
      --results results --workers "${WORKERS:-6}" --no-progress
    echo "study.run exit $? (124/130: stopped at the time limit; the runs resume next call)"
    # metrics, configs and states only: the replay stays on the machine
    tar -czf "$out/results.tar.gz" --exclude='replay' --exclude='ckpt.pt*' results
    ;;
  *)
    echo "unknown stage $stage: check, loop or curves" >&2
    exit 2
    ;;
esac
[ "$stage" != curves ] && tar -czf "$out/results.tar.gz" -C "$out" json
rm -rf "$out/json"

echo "== summary ($stage)"
$py - "$out/results.tar.gz" <<'EOF'
import json, sys, tarfile
with tarfile.open(sys.argv[1]) as tar:
    for m in tar.getmembers():
        if not m.name.endswith(".json") or "/studies/" in m.name:
            continue
        data = json.load(tar.extractfile(m))
        for r in data.get("rows", []):
            figs = ", ".join(f"{k} {v:.3g}" for k, v in r.items() if isinstance(v, float))
            print(f"{m.name.split('/')[-1][:-5]:<28} {r['row']:<10} {r['shape'][:40]:<40} {figs}")
        if "full_train_step_s_median" in data:
            print(f"{m.name.split('/')[-1][:-5]:<28} official  full update "
                  f"{data['full_train_step_s_median']:.4f} s")
EOF
