#!/usr/bin/env bash
# The two README commands on a truly fresh machine: a minimal Debian root (debootstrap minbase
# with python3, git and ca-certificates only), the project cloned into it from this checkout's
# HEAD (a git bundle), then, inside it (chroot), as root:
#   venv-probe  python3 -m venv .venv, which must fail there (no python3-venv) and leave the
#               half-made .venv that scripts/setup.sh has to detect and rebuild
#   setup       bash scripts/setup.sh (Debian packages, .venv, torch, the project)
#   main        bash scripts/main.sh --preset smoke
#   test        bash scripts/test.sh TESTS (a named fast subset by default; --full: all of it)
# It prints each step's time and exits non-zero on any failure. Not part of CI (too slow).
#
#   bash scripts/fresh_machine.sh [--wheels DIR] [--suite bookworm|trixie] [--full]
#                                 [--root DIR] [--keep] [--mode auto|debootstrap|namespace]
#
# --wheels DIR  binds DIR into the root as pip's find-links (e.g. a CPU torch wheel), so setup
#               need not fetch PyPI's multi-GB CUDA torch where download.pytorch.org is out of
#               reach. Without it the root sees no local wheels, as a fresh machine would.
# --mode        debootstrap (the default where it can run) or namespace: where debootstrap
#               cannot run, a private mount namespace with an overlay of this machine's own root
#               in which every package outside Debian's base (priority required/important, plus
#               python3, git, ca-certificates) is purged, pip's configuration and any pyenv are
#               hidden. Writes go to the overlay, never to this machine.
# Needs root and the Debian archive and PyPI over the network; this machine's local CA
# certificates (/usr/local/share/ca-certificates) are copied in and pip is pointed at them.
# Docs: docs/fresh_machine.md.
set -euo pipefail
{ # the whole script is read before it runs: editing it during a run cannot break that run
REPO=$(cd "$(dirname "$0")/.." && pwd)
suite=bookworm wheels="" full=0 keep=0 mode=auto
root=/var/tmp/hd-fresh-$$
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# tests/study/test_slurm.py is not in it: its srun steps hang in a debootstrap root (open;
# docs/fresh_machine.md). Add it back once they run there.
SUBSET=(tests/test_setup.py tests/envs tests/run/test_videos.py tests/test_layout.py
        tests/test_docs.py tests/algorithm/test_equivalence_v3.py)
while [ $# -gt 0 ]; do
  case $1 in
    --wheels) wheels=$(cd "$2" && pwd); shift 2 ;;
    --suite) suite=$2; shift 2 ;;
    --root) root=$2; shift 2 ;;
    --full) full=1; shift ;;
    --keep) keep=1; shift ;;
    --mode) mode=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ {print} /^set -euo/ {exit}' "$0"; exit 0 ;;
    *) echo "[fresh] unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
say() { echo "[fresh] $*"; }
die() { echo "[fresh] error: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mounts)"
[ -e "$root" ] && die "$root exists; pass another --root"
root=$(mkdir -p "$root" && cd "$root" && pwd)
log=$root.log        # the long output of debootstrap and the overlay purge
shopt -s nullglob
host_cas=(/usr/local/share/ca-certificates/*.crt)   # this machine's local CAs
shopt -u nullglob
T0=$(date +%s)
times=()
step() {  # step NAME CMD...: run, time, record
  local name=$1 t=$(date +%s) rc=0
  shift
  say "== $name"
  "$@" || rc=$?
  times+=("$(printf '%-11s %5d s  %s' "$name" $(($(date +%s) - t)) "$([ $rc = 0 ] && echo ok || echo "FAILED ($rc)")")")
  say "-- $name: $(($(date +%s) - t)) s, exit $rc"
  return $rc
}

# ------------------------------------------------------------------ mounts and their cleanup
mounts=()     # mount points, in the order they were made
newroot=$root # what we chroot into (the overlay's merged tree in namespace mode)
bind() {  # bind SRC DST [ro]
  mkdir -p "$2"
  mount --rbind "$1" "$2" && mount --make-rslave "$2" && mounts+=("$2")
  [ "${3:-}" = ro ] && mount -o remount,bind,ro "$2"
  return 0
}
in_root() {  # in_root CMD: a login-like root shell in the new root, none of this machine's env
  local env=(HOME=/root LANG=C.UTF-8 TERM=dumb
             PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
  [ -n "$wheels" ] && env+=(PIP_FIND_LINKS=/opt/wheels)
  # pip trusts its own CA bundle, not the system's: point it at the one with this machine's CAs
  [ ${#host_cas[@]} -gt 0 ] && env+=(PIP_CERT=/etc/ssl/certs/ca-certificates.crt)
  env -i "${env[@]}" chroot "$newroot" /bin/bash -c "$1"
}
cleanup() {
  local rc=$? i pid
  trap - EXIT INT TERM
  if [ -d "$newroot/run/hd-slurm" ] && [ -f "$newroot/root/harmonydream/slurm/cluster.sh" ]; then
    say "stopping the root's SLURM cluster (bash slurm/cluster.sh stop)"
    in_root "cd /root/harmonydream && bash slurm/cluster.sh stop" >/dev/null 2>&1 \
      || say "warning: slurm/cluster.sh stop failed"
  fi
  for pid in /proc/[0-9]*; do  # anything still running in the root was started by this script
    [ "$(readlink "$pid/root" 2>/dev/null)" = "$newroot" ] || continue
    say "ending leftover process ${pid#/proc/} ($(cat "$pid/comm" 2>/dev/null))"
    kill -9 "${pid#/proc/}" 2>/dev/null || true
  done
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    umount -R "${mounts[$i]}" 2>/dev/null || umount -lR "${mounts[$i]}" 2>/dev/null \
      || say "warning: could not unmount ${mounts[$i]}"
  done
  if grep -q " $root[/ ]" /proc/self/mounts; then
    say "warning: mounts remain under $root; not deleting it"
  elif [ $keep = 1 ]; then
    say "kept the root at $root"
  else
    rm -rf --one-file-system "$root"
  fi
  say "total $(($(date +%s) - T0)) s"
  [ ${#times[@]} -gt 0 ] && printf '[fresh]   %s\n' "${times[@]}"
  [ $rc = 0 ] && say "PASSED" || say "FAILED (exit $rc)"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ the bare root
make_debootstrap_root() {
  command -v debootstrap >/dev/null || {
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
      --no-install-recommends debootstrap >/dev/null
  }
  debootstrap --variant=minbase --include=python3,git,ca-certificates "$suite" "$root" \
    "$mirror" >"$log" 2>&1 || { tail -30 "$log" >&2; return 1; }
  # What a fresh install's apt sources hold: the release, its updates and security.
  local security=${mirror%/debian}/debian-security
  printf 'deb %s %s main\ndeb %s %s-updates main\ndeb %s %s-security main\n' \
    "$mirror" "$suite" "$mirror" "$suite" "$security" "$suite" >"$root/etc/apt/sources.list"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  # debootstrap writes no /etc/hosts; Debian's installer (and every container runtime) does, and
  # without one `localhost` does not resolve (slurm/cluster.sh's daemons talk over it).
  if [ ! -s "$root/etc/hosts" ]; then
    local name; name=$(cat "$root/etc/hostname" 2>/dev/null || hostname)
    printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost\n' "$name" \
      >"$root/etc/hosts"
  fi
  # This machine's own CA certificates (e.g. a TLS-intercepting egress proxy's), as its admin
  # would add them to any machine on this network; without them pip cannot reach PyPI here.
  if [ ${#host_cas[@]} -gt 0 ]; then
    cp "${host_cas[@]}" "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null 2>&1
  fi
}

make_namespace_root() {  # runs inside `unshare -m`: an overlay of / with the extras purged
  local img=$root/upper.img
  truncate -s 40G "$img" && mkfs.ext4 -q -F "$img" >/dev/null
  mkdir -p "$root/layer" "$root/merged"
  mount -o loop "$img" "$root/layer" && mounts+=("$root/layer")
  mkdir -p "$root/layer/upper" "$root/layer/work"
  mount -t overlay overlay -o "lowerdir=/,upperdir=$root/layer/upper,workdir=$root/layer/work" \
    "$root/merged" && mounts+=("$root/merged")
  newroot=$root/merged
  rm -rf "$newroot/etc/pip.conf" "$newroot/etc/xdg/pip" "$newroot/root/.pyenv" \
    "$newroot/root/.config/pip" "$newroot/root/.pip" "$newroot/root/harmonydream"
  mount_system
  # Keep Debian's base and what a user brings (python3, git, ca-certificates); purge the rest.
  in_root "
    set -e
    base=\$(dpkg-query -W -f='\${Package} \${Priority} \${Essential}\n' \
      | awk '\$2 == \"required\" || \$2 == \"important\" || \$3 == \"yes\" {print \$1}')
    apt-mark auto \$(dpkg-query -W -f='\${Package}\n') >/dev/null
    apt-mark manual \$base python3 git ca-certificates apt >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get -y -qq --purge autoremove
    echo \"[fresh] base root: \$(dpkg-query -W | wc -l) packages\"
  " >"$log" 2>&1 || { tail -30 "$log" >&2; return 1; }
  tail -1 "$log"
}

mount_system() {
  mkdir -p "$newroot/proc" "$newroot/sys"
  mount -t proc proc "$newroot/proc" && mounts+=("$newroot/proc")
  bind /sys "$newroot/sys"   # with /sys/fs/cgroup: slurmd will not start without it
  bind /dev "$newroot/dev"
  mount -t tmpfs tmpfs "$newroot/run" && mounts+=("$newroot/run")
  mount -t tmpfs tmpfs "$newroot/tmp" && mounts+=("$newroot/tmp")
}

clone_project() {
  git -C "$REPO" bundle create "$newroot/tmp/project.bundle" HEAD 2>/dev/null
  in_root "git -c advice.detachedHead=false clone -q /tmp/project.bundle /root/harmonydream \
    && git -C /root/harmonydream log --oneline -1"
}

if [ "$mode" = auto ]; then
  mode=namespace
  if command -v debootstrap >/dev/null || apt-cache show debootstrap >/dev/null 2>&1; then
    mode=debootstrap
  fi
fi
say "mode $mode, Debian $suite, root $root, wheels ${wheels:-none}, local CAs ${#host_cas[@]}," \
  "tests $([ $full = 1 ] && echo 'the full suite' || echo "${SUBSET[*]}")"
if [ "$mode" = debootstrap ]; then
  step debootstrap make_debootstrap_root
  mount_system
elif [ "$mode" = namespace ]; then
  # Re-run this script in a private mount namespace, where the overlay's mounts live.
  if [ -z "${HD_FRESH_IN_NS:-}" ]; then
    trap - EXIT; rmdir "$root"
    args=(--mode namespace --root "$root" --suite "$suite")
    [ -n "$wheels" ] && args+=(--wheels "$wheels")
    [ $full = 1 ] && args+=(--full)
    [ $keep = 1 ] && args+=(--keep)
    exec env HD_FRESH_IN_NS=1 unshare -m --propagation private bash "$0" "${args[@]}"
  fi
  step base-root make_namespace_root
else
  die "unknown --mode $mode"
fi
[ -n "$wheels" ] && bind "$wheels" "$newroot/opt/wheels" ro
step clone clone_project
cd_repo="cd /root/harmonydream"
step venv-probe in_root "$cd_repo && if python3 -m venv .venv >/dev/null 2>&1; then
    echo '[fresh] python3 -m venv worked: python3-venv is already there'; else
    echo '[fresh] python3 -m venv failed as on a bare Debian; .venv is left half-made:' \
      \"\$(ls .venv/bin | tr '\n' ' ')\"; fi"
step setup in_root "$cd_repo && bash scripts/setup.sh"
step setup-again in_root "$cd_repo && bash scripts/setup.sh"
step main in_root "$cd_repo && bash scripts/main.sh --preset smoke"
if [ $full = 1 ]; then
  step test in_root "$cd_repo && bash scripts/test.sh"
else
  step test in_root "$cd_repo && bash scripts/test.sh ${SUBSET[*]}"
fi
exit 0
}
