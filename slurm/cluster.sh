#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for the tests and for trying the SLURM
# path on a laptop: munge, MariaDB + slurmdbd (accounting: submitit polls sacct), slurmctld and
# slurmd, loopback only, no cgroup plugins (they fail in containers), no systemd.
#
#   bash slurm/cluster.sh start    install what is missing, configure, start, wait until idle
#   bash slurm/cluster.sh stop     cancel jobs, stop the daemons by the PIDs start recorded
#   bash slurm/cluster.sh status   print sinfo, exit 0 if the node is usable
#
# Must run as root. Idempotent: `start` on a running cluster just reports it ready.
set -euo pipefail
NODE=localhost          # the hostname is not localhost, so slurmd runs with -N localhost
PIDS=/run/hd-slurm      # PIDs of the daemons we started; stop never kills by name
LOGS=/var/log/slurm
CONF=/etc/slurm
KILLWAIT=${SLURM_KILLWAIT:-5}   # submitit workers ignore SIGTERM; don't hold a CPU 30 s
say() { echo "[slurm] $*"; }
die() { echo "[slurm] error: $*" >&2; exit 1; }

running() {  # running NAME: its recorded PID is alive and is that program
  local f=$PIDS/$1.pid
  [ -s "$f" ] && [ "$(cat "/proc/$(cat "$f")/comm" 2>/dev/null)" = "$1" ]
}

retry() {  # retry SECONDS CMD...: poll until CMD succeeds
  local n=$(($1 * 10)); shift
  until "$@" >/dev/null 2>&1; do n=$((n - 1)); [ $n -gt 0 ] || return 1; sleep 0.1; done
}

adopt() {  # adopt NAME PIDFILE: wait for the daemon's own pidfile and record its PID
  retry 60 bash -c "[ -s $2 ] && [ \"\$(cat /proc/\$(cat $2)/comm 2>/dev/null)\" = $1 ]" \
    || die "$1 did not start (see $LOGS)"
  cp "$2" "$PIDS/$1.pid"
  say "$1 started (pid $(cat "$PIDS/$1.pid"))"
}

install_packages() {
  local missing=() p
  for p in munge slurmctld slurmd slurm-client slurmdbd mariadb-server; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  say "installing ${missing[*]}"
  local policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then  # keep package scripts from starting services
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    policy=1
  fi
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
    --no-install-recommends "${missing[@]}" >"$LOGS.apt.log" 2>&1 \
    || { cat "$LOGS.apt.log" >&2; die "apt-get install failed"; }
  [ $policy = 1 ] && rm -f /usr/sbin/policy-rc.d
  return 0
}

start_munge() {
  install -d -o munge -g munge -m 0700 /etc/munge /var/log/munge
  install -d -o munge -g munge -m 0711 /var/lib/munge
  install -d -o munge -g munge -m 0755 /run/munge
  [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key && chmod 0600 /etc/munge/munge.key
  running munged && return
  rm -f /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged
  adopt munged /run/munge/munged.pid
  retry 30 bash -c 'munge -n | unmunge' || die "munge does not authenticate"
}

write_slurm_conf() {  # prints 1 if the file changed
  local hw new ctld=localhost addr
  hw=$(slurmd -C | head -1 | sed -E 's/^NodeName=[^ ]+ //')
  # With No(Ctld)InAddrAny slurmctld and slurmd listen on the address the host name resolves to,
  # which Debian's installer maps to 127.0.1.1, not localhost's 127.0.0.1: talk to them there.
  addr=$(getent ahostsv4 "$(hostname)" | awk 'NR == 1 {print $1}') || addr=""
  [ -n "$addr" ] && [ "$addr" != 127.0.0.1 ] && ctld="localhost($addr)"
  new=$(mktemp)
  cat > "$new" <<CONF
ClusterName=hdlocal
SlurmctldHost=$ctld
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
ReturnToService=2
KillWait=$KILLWAIT
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
NodeName=$NODE NodeAddr=${addr:-127.0.0.1} $hw State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
  mkdir -p "$CONF" /var/spool/slurmctld /var/spool/slurmd
  if cmp -s "$new" "$CONF/slurm.conf"; then rm -f "$new"; echo 0
  else install -m 0644 "$new" "$CONF/slurm.conf"; rm -f "$new"; echo 1; fi
}

start_accounting() {
  install -d -o mysql -g mysql -m 0755 /run/mysqld
  [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  if ! running mariadbd; then
    rm -f /run/mysqld/mysqld.pid
    # Unix socket only (no TCP); mariadbd does not daemonise itself.
    setsid /usr/sbin/mariadbd --user=mysql --pid-file=/run/mysqld/mysqld.pid \
      --skip-networking </dev/null >>"$LOGS/mariadbd.log" 2>&1 &
    adopt mariadbd /run/mysqld/mysqld.pid
  fi
  retry 60 mariadb-admin ping || die "MariaDB does not answer"
  mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm-local';
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
  cat > "$CONF/slurmdbd.conf" <<CONF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
PidFile=/run/slurmdbd.pid
LogFile=$LOGS/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurm-local
StorageLoc=slurm_acct_db
CONF
  chmod 0600 "$CONF/slurmdbd.conf"  # slurmdbd refuses a readable config
  if ! running slurmdbd; then
    rm -f /run/slurmdbd.pid
    slurmdbd
    adopt slurmdbd /run/slurmdbd.pid
  fi
  retry 60 sacctmgr -n show cluster || die "slurmdbd does not answer"
}

stop_one() {
  running "$1" || { rm -f "$PIDS/$1.pid"; return 0; }
  local pid; pid=$(cat "$PIDS/$1.pid")
  kill -TERM "$pid"
  retry 30 bash -c "[ ! -d /proc/$pid ]" || kill -KILL "$pid"
  rm -f "$PIDS/$1.pid"
  say "$1 stopped"
}

node_state() { sinfo -h -n "$NODE" -o '%T' 2>/dev/null; }

start() {
  [ "$(id -u)" = 0 ] || die "must run as root"
  install_packages
  mkdir -p "$PIDS" "$LOGS"
  start_munge
  local changed; changed=$(write_slurm_conf)
  start_accounting
  if [ "$changed" = 1 ]; then stop_one slurmd; stop_one slurmctld; fi
  if ! running slurmctld; then
    rm -f /run/slurmctld.pid; slurmctld; adopt slurmctld /run/slurmctld.pid
  fi
  retry 60 bash -c 'scontrol ping | grep -q UP' || die "slurmctld does not answer"
  local since; since=$(date +%s)
  if ! running slurmd; then
    rm -f /run/slurmd.pid; slurmd -N "$NODE"; adopt slurmd /run/slurmd.pid
  else
    since=0
  fi
  # slurmctld restores the old node state: wait for this slurmd to register, then for idle.
  registered() {
    local t; t=$(scontrol show node -o "$NODE" | grep -o 'SlurmdStartTime=[^ ]*' | cut -d= -f2)
    [ -n "$t" ] && [ "$t" != None ] && [ "$(date -d "$t" +%s)" -ge $((since - 1)) ]
  }
  retry 60 registered || die "slurmd did not register"
  local i st
  for i in $(seq 600); do
    st=$(node_state || true)
    case "$st" in
      idle|mixed|allocated) sinfo; say "ready"; return 0 ;;
      down*|drain*|fail*) scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 0.1
  done
  die "node $NODE is '$st', not idle (see $LOGS)"
}

stop() {
  [ "$(id -u)" = 0 ] || die "must run as root"
  if running slurmctld && [ -n "$(squeue -h -o %A 2>/dev/null)" ]; then
    scancel $(squeue -h -o %A | sort -u)
    retry 30 bash -c '[ -z "$(squeue -h -o %A)" ]' || true
  fi
  for name in slurmd slurmctld slurmdbd mariadbd munged; do stop_one "$name"; done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) sinfo && case "$(node_state)" in idle|mixed|allocated) exit 0 ;; *) exit 1 ;; esac ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
