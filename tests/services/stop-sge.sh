#!/usr/bin/env bash
# stop-sge.sh DIR
#
# Stops the Grid Engine cell that start-sge.sh DIR started:
#   1. deletes every job of the cell while the qmaster still answers, and
#      waits (at most 15 s) for them to leave qstat;
#   2. stops sge_execd, then sge_qmaster, each by the pid file in DIR's spool
#      and only if that pid is a live process of the expected name (SIGTERM;
#      the qmaster takes ~5 s for its "controlled shutdown"; SIGKILL after
#      the grace time);
#   3. kills what of this cell outlived its execd: sge_shepherd processes whose
#      working directory lies in DIR/spool, with their jobs' process groups
#      (after a normal stop there are none).
# DIR (cell, spool, accounting file) is kept; remove it yourself.
# Idempotent: nothing running -> nothing done, exit 0.
set -uo pipefail

log() { echo "stop-sge: $*" >&2; }

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
[ -d "$1" ] || { log "no such dir $1: nothing to stop"; exit 0; }
DIR=$(cd "$1" && pwd -P)
SPOOL=$DIR/spool
SGEBIN=/usr/lib/gridengine   # by path: PATH may hold Torque-style qstat/qdel
if [ -f "$DIR/env.sh" ]; then
    # shellcheck disable=SC1091
    . "$DIR/env.sh"
fi
export SGE_ROOT=$DIR/sgeroot SGE_CELL=default

# gone PID: no such process, or only a zombie (PID 1 reaps lazily here).
gone() { [ ! -r "/proc/$1/stat" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }

# pid_of PIDFILE NAME: print the pid if it is a live process called NAME.
pid_of() {
    local pid
    [ -s "$1" ] || return 1
    pid=$(tr -dc 0-9 <"$1")
    [ -n "$pid" ] && ! gone "$pid" || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
    echo "$pid"
}

# stop_pid PID NAME GRACE: SIGTERM, wait up to GRACE s, then SIGKILL.
stop_pid() {
    local pid=$1 name=$2 grace=$3 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < grace * 5; i++)); do
        gone "$pid" && { log "$name ($pid) stopped"; return 0; }
        sleep 0.2
    done
    log "$name ($pid) ignored SIGTERM for ${grace}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 25; i++)); do gone "$pid" && return 0; sleep 0.2; done
    log "WARNING: $name ($pid) is still there"
}

delete_jobs() {
    [ -x "$SGEBIN/qstat" ] || return 0
    local jobs i
    jobs=$(timeout 10 "$SGEBIN/qstat" -u '*' 2>/dev/null | awk 'NR > 2 { print $1 }' | sort -u | tr '\n' ' ')
    [ -n "${jobs// /}" ] || return 0
    log "deleting jobs: $jobs"
    # shellcheck disable=SC2086  # one argument per job id
    timeout 10 "$SGEBIN/qdel" -f $jobs >/dev/null 2>&1 || true
    for ((i = 0; i < 50; i++)); do
        [ -z "$(timeout 5 "$SGEBIN/qstat" -u '*' 2>/dev/null)" ] && break
        sleep 0.3
    done
}

QPID=$(pid_of "$SPOOL/qmaster/qmaster.pid" sge_qmaster || true)
[ -n "$QPID" ] && delete_jobs
for pidfile in "$SPOOL"/execd/*/execd.pid; do
    [ -e "$pidfile" ] || continue
    if pid=$(pid_of "$pidfile" sge_execd); then stop_pid "$pid" sge_execd 15; fi
done
[ -n "$QPID" ] && stop_pid "$QPID" sge_qmaster 30

# Orphaned shepherds: their cwd is the job's directory under our execd spool;
# their job is a child in its own process group.
for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    case "$(cat "$p/comm" 2>/dev/null)" in sge_shepherd*) ;; *) continue ;; esac
    cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
    case "$cwd" in "$SPOOL"/*) ;; *) continue ;; esac
    for c in /proc/[0-9]*; do
        [ "$(awk '{print $4}' "$c/stat" 2>/dev/null)" = "$pid" ] || continue
        log "killing job process group ${c#/proc/} of orphaned shepherd $pid"
        kill -KILL -- "-${c#/proc/}" 2>/dev/null || kill -KILL "${c#/proc/}" 2>/dev/null
    done
    stop_pid "$pid" sge_shepherd 2
done
exit 0
