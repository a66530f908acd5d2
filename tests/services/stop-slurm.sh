#!/usr/bin/env bash
# stop-slurm.sh DIR
#
# Stops the test cluster that start-slurm.sh DIR started:
#   1. cancels its jobs while slurmctld still answers (bounded wait);
#   2. stops slurmd, slurmctld and munged, each by the pid file in DIR and
#      only if that pid is a live process of the expected name
#      (SIGTERM, then SIGKILL after 10 s);
#   3. kills what of this cluster outlived slurmd: slurmstepd processes that
#      hold DIR/log/slurmd.log open and job scripts under DIR/spool, with
#      their process groups (after a normal stop there are none).
# DIR (config, logs, jobcomp.txt, state) is kept; remove it yourself.
# Idempotent: nothing running -> nothing done, exit 0.
set -uo pipefail

log() { echo "stop-slurm: $*" >&2; }

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
[ -d "$1" ] || { log "no such dir $1: nothing to stop"; exit 0; }
DIR=$(cd "$1" && pwd -P)
export SLURM_CONF=$DIR/slurm.conf

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

# stop_pid PID NAME [GRACE]: SIGTERM, wait up to GRACE s, then SIGKILL.
stop_pid() {
    local pid=$1 name=$2 grace=${3:-10} i
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

cancel_jobs() {
    pid_of "$DIR/slurmctld.pid" slurmctld >/dev/null && [ -f "$SLURM_CONF" ] || return 0
    local jobs i
    jobs=$(timeout 10 squeue -h -o %A 2>/dev/null | tr '\n' ' ')
    [ -n "${jobs// /}" ] || return 0
    log "cancelling jobs: $jobs"
    # shellcheck disable=SC2086  # one argument per job id
    timeout 10 scancel $jobs 2>/dev/null || true
    # Without slurmd nobody can end them: kill_leftovers does, no wait here.
    pid_of "$DIR/slurmd.pid" slurmd >/dev/null || return 0
    for ((i = 0; i < 75; i++)); do
        [ -z "$(timeout 5 squeue -h -t running,completing -o %A 2>/dev/null)" ] && break
        sleep 0.2
    done
}

stop_daemons() {
    local entry name pidfile pid
    # reverse start order: slurmd, slurmctld, munged
    for entry in "slurmd:$DIR/slurmd.pid" "slurmctld:$DIR/slurmctld.pid" "munged:$DIR/munge/munged.pid"; do
        name=${entry%%:*}
        pidfile=${entry#*:}
        if pid=$(pid_of "$pidfile" "$name"); then stop_pid "$pid" "$name"; fi
    done
}

# kill_group PGID: SIGTERM the process group, SIGKILL what is left after 1 s.
kill_group() {
    kill -TERM -- "-$1" 2>/dev/null || return 0
    sleep 1
    kill -KILL -- "-$1" 2>/dev/null || true
}

# holds_slurmd_log /proc/PID: the process has DIR/log/slurmd.log open.
holds_slurmd_log() {
    local fd
    for fd in "$1"/fd/*; do
        [ "$(readlink "$fd" 2>/dev/null)" = "$DIR/log/slurmd.log" ] && return 0
    done
    return 1
}

# Jobs whose slurmd died before them (or that scancel could not reach) keep
# running under their slurmstepd. Find them by what points into DIR:
#   * slurmstepd overwrites its own environment and command line, but keeps
#     slurmd's log file DIR/log/slurmd.log open;
#   * batch scripts run as DIR/spool/jobNNNNN/slurm_script, each the leader
#     of its own process group.
# After a normal stop there are none.
kill_leftovers() {
    local p pid child pgid
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        [ "$(cat "$p/comm" 2>/dev/null)" = slurmstepd ] || continue
        gone "$pid" && continue
        holds_slurmd_log "$p" || continue
        # its job processes first, so they are not reparented and forgotten
        for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
            pgid=$(awk '{print $5}' "/proc/$child/stat" 2>/dev/null) || continue
            [ "$pgid" = "$child" ] || continue
            log "killing job process group $pgid of orphaned slurmstepd $pid"
            kill_group "$pgid"
        done
        # an orphaned slurmstepd ignores SIGTERM: short grace
        stop_pid "$pid" slurmstepd 2
    done
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        case "$({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null)" in
            *"$DIR/spool/job"*/slurm_script*) ;;
            *) continue ;;
        esac
        gone "$pid" && continue
        pgid=$(awk '{print $5}' "$p/stat" 2>/dev/null) || continue
        [ "$pgid" = "$pid" ] || continue
        log "killing orphaned job process group $pgid"
        kill_group "$pgid"
    done
}

cancel_jobs
stop_daemons
kill_leftovers
exit 0
