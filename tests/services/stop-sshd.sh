#!/usr/bin/env bash
# stop-sshd.sh DIR
#
# Stops the sshd that start-sshd.sh DIR PORT started, and the sessions it
# serves. Only the pid in DIR/sshd.pid is trusted, and only if it is a live
# sshd (or sshd-dpdtotp) whose command line names DIR/sshd_config. Its
# descendants (one sshd per connection, then the user's commands) are
# collected first; all get SIGTERM, then SIGKILL after 5 s.
# Keys, config and the test user are kept, so a restart keeps the same host
# keys (known_hosts stays valid). Idempotent: nothing running -> exit 0.
set -uo pipefail

log() { echo "stop-sshd: $*" >&2; }

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
[ -d "$1" ] || { log "no such dir $1: nothing to stop"; exit 0; }
DIR=$(cd "$1" && pwd -P)

# gone PID: no such process, or only a zombie (PID 1 here reaps lazily).
gone() { [ ! -r "/proc/$1/stat" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }

# our_pid: the pid of DIR/sshd.pid if it is our live sshd.
our_pid() {
    local pid
    [ -s "$DIR/sshd.pid" ] || return 1
    pid=$(tr -dc 0-9 <"$DIR/sshd.pid")
    [ -n "$pid" ] && ! gone "$pid" || return 1
    case "$(cat "/proc/$pid/comm" 2>/dev/null)" in sshd | sshd-dpdtotp) ;; *) return 1 ;; esac
    { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$DIR/sshd_config" || return 1
    echo "$pid"
}

# descendants PID: every live process below PID, from the ppid links in /proc.
descendants() {
    local frontier=$1 next p ppid f
    while [ -n "$frontier" ]; do
        next=""
        for p in /proc/[0-9]*; do
            ppid=$(awk '{print $4}' "$p/stat" 2>/dev/null) || continue
            for f in $frontier; do
                if [ "$ppid" = "$f" ]; then
                    echo "${p#/proc/}"
                    next="$next ${p#/proc/}"
                fi
            done
        done
        frontier=${next# }
    done
}

if ! pid=$(our_pid); then
    log "the sshd of $DIR is not running"
    rm -f "$DIR/sshd.pid"
    exit 0
fi

kids=$(descendants "$pid" | tr '\n' ' ')
log "stopping sshd $pid${kids:+ and its sessions: $kids}"
# shellcheck disable=SC2086  # one argument per pid
kill -TERM "$pid" $kids 2>/dev/null
left=""
for ((i = 0; i < 25; i++)); do
    left=""
    for p in $pid $kids; do gone "$p" || left="$left $p"; done
    [ -z "$left" ] && break
    sleep 0.2
done
if [ -n "$left" ]; then
    log "still there after 5 s:$left -> SIGKILL"
    # shellcheck disable=SC2086
    kill -KILL $left 2>/dev/null
fi
rm -f "$DIR/sshd.pid"
log "stopped"
exit 0
