#!/usr/bin/env bash
# Build .kit/ (git-ignored): what a lent GPU machine (Python 3.12, torch there, no internet)
# needs to run scripts/gpu_session.sh, in one folder to name in the device tool's `carry`.
#   .kit/site.tar.gz  the project's simulator and runner packages that the machine lacks
#                     (cp312 wheels unpacked; dm_control without its locomotion and dog
#                     assets, which no task here uses, to stay under the 64 MiB a call may
#                     carry; no ale-py: the GPU session runs no Atari)
#   .kit/gl/*.deb     the EGL / GL loaders for headless MuJoCo rendering
#   .kit/peer/        the official wmlib-torch (for ../shared/tools/peer-bench), if a snapshot
#                     is given: scripts/device_kit.sh /path/to/HarmonyDream
# Run here, where PyPI and Debian are reachable.
set -euo pipefail
cd "$(dirname "$0")/.."
kit=.kit
rm -rf "$kit" && mkdir -p "$kit/gl"
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT

plat=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 \
         manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64 any; do
  plat+=(--platform "$p")
done
pkgs=(mujoco==3.3.0 dm_control==1.0.28 metaworld==3.1.1 gymnasium farama-notifications
      submitit dm-env dm-tree pyopengl glfw ruamel.yaml ruamel.yaml.clib torchtyping
      "typeguard<3")
echo "[kit] downloading ${#pkgs[@]} wheels for cp312"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp "${plat[@]}" -d "$tmp/whl" "${pkgs[@]}" 2> >(grep -v "^WARNING: Location" >&2)
mkdir -p "$tmp/site"
for w in "$tmp"/whl/*.whl; do python3 -m zipfile -e "$w" "$tmp/site"; done
rm -rf "$tmp/site/dm_control/locomotion" "$tmp/site/dm_control/suite/dog_assets"
tar -C "$tmp/site" -czf "$kit/site.tar.gz" .

echo "[kit] downloading the GL loaders"
o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists="$tmp/lists")
mkdir -p "$tmp/lists/partial"
apt-get "${o[@]}" update -qq
(cd "$kit/gl" && apt-get "${o[@]}" download -qq libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 \
  libglx0 libgles2)

if [ $# -ge 1 ]; then
  mkdir -p "$kit/peer"
  cp -r "$1/wmlib-torch" "$kit/peer/"
  cp ../shared/tools/peer-bench/bench_wmlib.py "$kit/peer/"
fi
du -sh "$kit" && ls "$kit"
