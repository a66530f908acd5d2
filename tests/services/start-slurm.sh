#!/usr/bin/env bash
# start-slurm.sh DIR
#
# Brings up a real single-node Slurm cluster (Debian's slurm-wlm) for the
# DPDispatcher tests, by hand: no systemd, no /etc/slurm, no system munged.
# Everything (config, munge key and socket, state, spool, logs, pid files)
# lives in DIR, so several clusters can coexist if their ports differ.
#
# Usage:
#     eval "$(bash tests/services/start-slurm.sh /tmp/dpd-slurm)"
#     sbatch --wrap hostname; squeue; sacct -c
#     bash tests/services/stop-slurm.sh /tmp/dpd-slurm
#
# stdout carries only `export ...` lines (for eval); progress goes to stderr.
# Idempotent: if the daemons of DIR are already up with the same config, it
# only checks them and prints the exports again. If the generated slurm.conf
# differs from the running one, the daemons of DIR are restarted.
#
# Environment (all optional):
#   SLURMCTLD_PORT       slurmctld port, default 6817
#   SLURMD_PORT          slurmd port, default 6818
#   SLURM_MIN_JOB_AGE    seconds a finished job stays in squeue, default 2
#                        (Slurm's own default is 300, far too slow to test the
#                        "job has left the queue" path)
#   SLURM_CPUS           CPUs of the node, default $(nproc); a larger number
#                        oversubscribes the machine (to run more 1-CPU jobs)
#   SLURM_MEM_MB         RealMemory of the node, default 90% of MemTotal
#   SLURM_START_TIMEOUT  seconds to wait for each daemon, default 60
#
# Accounting storage is "none": plain `sacct` fails with "accounting storage
# is disabled"; `sacct -c` reads the job completion file DIR/jobcomp.txt.
set -euo pipefail

log() { echo "start-slurm: $*" >&2; }
die() { echo "start-slurm: ERROR: $*" >&2; exit 1; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

[ $# -eq 1 ] || die "usage: $0 DIR"
[ "$(id -u)" -eq 0 ] || die "must run as root (munged, slurmctld and slurmd run as root)"
mkdir -p "$1"
DIR=$(cd "$1" && pwd -P)
case "$DIR" in *[[:space:]]*) die "DIR must not contain white space: $DIR" ;; esac
# mktemp -d makes 0700 dirs; non-root Slurm clients need to read slurm.conf
# and reach the munge socket inside.
chmod 0755 "$DIR"

CTLD_PORT=${SLURMCTLD_PORT:-6817}
SLURMD_PORT=${SLURMD_PORT:-6818}
MIN_JOB_AGE=${SLURM_MIN_JOB_AGE:-2}
HW_CPUS=$(nproc)
NCPUS=${SLURM_CPUS:-$HW_CPUS}
TIMEOUT=${SLURM_START_TIMEOUT:-60}
# Slurm names the node after the short host name; it need not resolve,
# because every address below is given explicitly as 127.0.0.1.
NODE=$(hostname -s)
[ -n "$NODE" ] || die "empty short host name"

CONF=$DIR/slurm.conf
MUNGE_SOCK=$DIR/munge/munge.socket.2

# ------------------------------------------------------------------ helpers

# alive PIDFILE NAME: the pid in PIDFILE is a live process called NAME.
# PID 1 on these machines reaps orphans lazily, so a killed daemon may stay a
# zombie for a while: read the state from /proc/PID/stat, `kill -0` is not
# enough. Checking the name guards against a recycled pid.
alive() {
    local pidfile=$1 name=$2 pid
    [ -s "$pidfile" ] || return 1
    pid=$(tr -dc 0-9 <"$pidfile")
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]
}

# wait_for SECONDS COMMAND...: poll COMMAND every 0.2 s until it succeeds.
wait_for() {
    local end=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.2
    done
}

port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

install_packages() {
    local missing=0 cmd
    for cmd in slurmctld slurmd sbatch squeue sinfo sacct munged munge unmunge; do
        command -v "$cmd" >/dev/null 2>&1 || missing=1
    done
    [ "$missing" = 1 ] || return 0
    log "installing slurm-wlm and munge with apt-get (once per machine)..."
    local t0=$SECONDS
    # Package maintainer scripts would start the *system* munged/slurmd via
    # /etc/init.d unless a policy-rc.d forbids it. Debian container images
    # ship one that does; add one for the install only if there is none.
    local guard=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        guard=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$guard"
        chmod 0755 "$guard"
    fi
    local rc=0
    {
        export DEBIAN_FRONTEND=noninteractive
        apt-get -q -o DPkg::Lock::Timeout=120 update >&2 &&
            apt-get -q -y -o DPkg::Lock::Timeout=120 install --no-install-recommends \
                slurm-wlm munge >&2
    } || rc=$?
    [ -z "$guard" ] || rm -f "$guard"
    [ "$rc" = 0 ] || die "apt-get install slurm-wlm munge failed"
    log "installed in $((SECONDS - t0)) s"
}

default_mem_mb() {
    # 90% of the physical memory: RealMemory above what slurmd detects would
    # make slurmctld drain the node ("Low RealMemory").
    awk '/^MemTotal:/ { printf "%d\n", $2 / 1024 * 0.9 }' /proc/meminfo
}

write_config() {
    local mem=${SLURM_MEM_MB:-$(default_mem_mb)}
    local overrides=""
    # More CPUs than the hardware has: slurmd must trust the config instead
    # of its own detection, or the node is drained as "Low socket*core*thread".
    if [ "$NCPUS" -gt "$HW_CPUS" ]; then overrides="SlurmdParameters=config_overrides"; fi
    cat >"$CONF.new" <<EOF
# Generated by tests/services/start-slurm.sh; rewritten on every start.
ClusterName=dpdtest
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
# The tests run as root, so the daemons do too; jobs may be submitted by root.
SlurmUser=root
SlurmdUser=root
# Private munged (own key and socket): the system munge is never touched.
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCK
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No systemd/cgroup delegation here: track job processes through /proc.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# Allocate single CPUs (not whole cores or the whole node) and do not count
# memory, so several 1-CPU jobs run side by side.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
# Start short jobs at once (the default batch_sched_delay of 3 s makes them
# crawl) and let finished jobs leave squeue quickly.
SchedulerParameters=batch_sched_delay=0
MinJobAge=$MIN_JOB_AGE
KillWait=5
InactiveLimit=0
# No slurmdbd: plain sacct exits 1; "sacct -c" reads the completion log.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.txt
$overrides
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$NCPUS RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=batch Nodes=$NODE MaxTime=INFINITE State=UP
EOF
    if [ -f "$CONF" ] && cmp -s "$CONF.new" "$CONF"; then
        rm -f "$CONF.new"
        return 0
    fi
    if alive "$DIR/slurmctld.pid" slurmctld || alive "$DIR/slurmd.pid" slurmd; then
        log "slurm.conf changed: restarting the daemons of $DIR"
        bash "$HERE/stop-slurm.sh" "$DIR" >&2
    fi
    mv -f "$CONF.new" "$CONF"
}

munge_ok() { munge -n -S "$MUNGE_SOCK" | unmunge -S "$MUNGE_SOCK"; }

start_munged() {
    # munged refuses a key readable by others and a socket dir it considers
    # insecure; 0755 dir + 0400 key satisfy it.
    install -d -m 0755 "$DIR/munge"
    if [ ! -s "$DIR/munge/munge.key" ]; then
        dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
    fi
    chmod 0400 "$DIR/munge/munge.key"
    if alive "$DIR/munge/munged.pid" munged; then
        log "munged already running (pid $(cat "$DIR/munge/munged.pid"))"
    else
        rm -f "$MUNGE_SOCK" "$MUNGE_SOCK.lock"
        log "starting munged"
        munged --socket="$MUNGE_SOCK" --key-file="$DIR/munge/munge.key" \
            --pid-file="$DIR/munge/munged.pid" --seed-file="$DIR/munge/munged.seed" \
            --log-file="$DIR/log/munged.log" --num-threads=2 \
            </dev/null >>"$DIR/log/munged.out" 2>&1 \
            || die "munged failed; see $DIR/log/munged.log"
    fi
    wait_for "$TIMEOUT" munge_ok || die "munged does not answer on $MUNGE_SOCK; see $DIR/log/munged.log"
}

ctld_up() { timeout 10 scontrol ping | grep -q 'is UP'; }

start_slurmctld() {
    if alive "$DIR/slurmctld.pid" slurmctld; then
        log "slurmctld already running (pid $(cat "$DIR/slurmctld.pid"))"
    else
        port_busy "$CTLD_PORT" && die "port $CTLD_PORT is taken (another cluster? set SLURMCTLD_PORT)"
        log "starting slurmctld on port $CTLD_PORT"
        # -i: ignore unreadable state files (e.g. from another Slurm version).
        slurmctld -f "$CONF" -i </dev/null >>"$DIR/log/slurmctld.out" 2>&1 \
            || die "slurmctld failed; see $DIR/log/slurmctld.log"
    fi
    wait_for "$TIMEOUT" ctld_up || die "slurmctld not up after ${TIMEOUT}s; see $DIR/log/slurmctld.log"
}

start_slurmd() {
    if alive "$DIR/slurmd.pid" slurmd; then
        log "slurmd already running (pid $(cat "$DIR/slurmd.pid"))"
        return 0
    fi
    port_busy "$SLURMD_PORT" && die "port $SLURMD_PORT is taken (set SLURMD_PORT)"
    log "starting slurmd on port $SLURMD_PORT as node $NODE"
    slurmd -f "$CONF" -N "$NODE" </dev/null >>"$DIR/log/slurmd.out" 2>&1 \
        || die "slurmd failed; see $DIR/log/slurmd.log"
}

# node_state: e.g. "idle", "mix", "down*" as sinfo shows it (one line per
# partition, all the same).
node_state() { timeout 10 sinfo -h -N -n "$NODE" -o '%t' | head -1; }

node_ready() {
    case "$(node_state)" in
        idle | mix | alloc) return 0 ;;
        down* | drain* | drng*)
            # e.g. "not responding" left over in the state of an earlier run
            timeout 10 scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
            return 1 ;;
        *) return 1 ;;
    esac
}

# ------------------------------------------------------------------ main

T0=$SECONDS
install_packages
mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
export SLURM_CONF=$CONF
write_config
start_munged
start_slurmctld
start_slurmd
wait_for "$TIMEOUT" node_ready \
    || die "node $NODE not idle after ${TIMEOUT}s (state: $(node_state 2>&1)); see $DIR/log/slurmd.log"

echo "export SLURM_CONF=$CONF" >"$DIR/env.sh"
log "ready in $((SECONDS - T0)) s: node $NODE ($NCPUS CPUs) idle, partitions debug (default) and batch"
cat "$DIR/env.sh"
