#!/usr/bin/env bash
# start-sge.sh DIR
#
# Brings up a real single-host Grid Engine cell (Debian's gridengine-*
# packages, Son of Grid Engine 8.1.9) for the DPDispatcher tests, by hand: no
# systemd, and the package's own cell (/var/lib/gridengine/default) is neither
# created nor touched. Everything (SGE_ROOT with the cell, Berkeley DB spool,
# qmaster and execd spools, logs, accounting file) lives in DIR.
#
# Usage:
#     eval "$(bash tests/services/start-sge.sh /tmp/dpd-sge)"
#     echo hostname | qsub -terse; qstat -xml; qacct -j 1
#     bash tests/services/stop-sge.sh /tmp/dpd-sge
#
# What it sets up:
#   * sge_qmaster and sge_execd on this host, both as root (bootstrap
#     admin_user none); global min_uid/min_gid 0, since the tests submit as root;
#   * one queue all.q with $SGE_SLOTS slots, load_thresholds NONE (a busy
#     2-core machine would otherwise put the queue in alarm state and no job
#     would ever start), shell /bin/bash;
#   * parallel environments smp, mpi and make ($pe_slots, 9999 slots);
#   * a scheduler that runs every second (the default 15 s makes jobs crawl);
#   * accounting on, flushed at once (accounting_flush_time=00:00:00), so
#     `qacct -j ID` knows a job as soon as it left qstat.
#
# stdout carries only `export ...` lines (for eval), also kept in DIR/env.sh;
# progress goes to stderr. Idempotent: a running cell of DIR is only checked
# and its exports printed again. Every wait is bounded; on failure it exits
# non-zero saying what did not start and which log to read.
#
# Environment (all optional):
#   SGE_QMASTER_PORT   qmaster port, default 6444
#   SGE_EXECD_PORT     execd port, default 6445
#   SGE_SLOTS          slots of all.q, default 8 (oversubscribes small machines:
#                      the tests' jobs mostly sleep); applied when DIR's cell
#                      is configured, i.e. on the first start in DIR
#   SGE_START_TIMEOUT  seconds to wait for each daemon, default 60
set -euo pipefail

log() { echo "start-sge: $*" >&2; }
die() { echo "start-sge: ERROR: $*" >&2; exit 1; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

[ $# -eq 1 ] || die "usage: $0 DIR"
[ "$(id -u)" -eq 0 ] || die "must run as root (sge_qmaster and sge_execd run as root here)"
mkdir -p "$1"
DIR=$(cd "$1" && pwd -P)
case "$DIR" in *[[:space:]]*) die "DIR must not contain white space: $DIR" ;; esac
# mktemp -d makes 0700 dirs; job shells and clients read the cell below it
chmod 0755 "$DIR"

QPORT=${SGE_QMASTER_PORT:-6444}
EPORT=${SGE_EXECD_PORT:-6445}
SLOTS=${SGE_SLOTS:-8}
TIMEOUT=${SGE_START_TIMEOUT:-60}
HOST=$(hostname)
# Grid Engine's own binaries, called by path: other qsub/qstat (Torque-style
# wrappers) may come first on PATH.
SGEBIN=/usr/lib/gridengine

export SGE_ROOT=$DIR/sgeroot SGE_CELL=default SGE_QMASTER_PORT=$QPORT SGE_EXECD_PORT=$EPORT
COMMON=$SGE_ROOT/$SGE_CELL/common
SPOOL=$DIR/spool
QPID=$SPOOL/qmaster/qmaster.pid

# ------------------------------------------------------------------ helpers

# alive PIDFILE NAME: the pid in PIDFILE is a live process called NAME (PID 1
# reaps lazily here: a killed daemon may linger as a zombie, read /proc).
alive() {
    local pidfile=$1 name=$2 pid
    [ -s "$pidfile" ] || return 1
    pid=$(tr -dc 0-9 <"$pidfile")
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]
}

# wait_for SECONDS COMMAND...: poll COMMAND every 0.3 s until it succeeds.
wait_for() {
    local end=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.3
    done
}

port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# execd_pidfile: the pid file of DIR's execd (it spools under the host name it resolved)
execd_pidfile() {
    local f
    for f in "$SPOOL"/execd/*/execd.pid; do [ -e "$f" ] && { echo "$f"; return 0; }; done
    return 1
}

install_packages() {
    [ -x "$SGEBIN/sge_qmaster" ] && [ -x "$SGEBIN/sge_execd" ] && [ -x "$SGEBIN/qsub" ] \
        && command -v ss >/dev/null 2>&1 && return 0
    # Keep the package from building its own cell in /var/lib/gridengine (it
    # would also start daemons on the default ports): ours is built below.
    echo "gridengine-common shared/gridengineconfig boolean false" | debconf-set-selections \
        || die "debconf-set-selections failed"
    bash "$HERE/apt-install.sh" gridengine-master gridengine-exec gridengine-client iproute2 \
        || die "could not install gridengine-master gridengine-exec gridengine-client"
    [ -x "$SGEBIN/sge_qmaster" ] || die "installed, but $SGEBIN/sge_qmaster is missing"
}

# ------------------------------------------------------- cell + spool (once)

make_cell() {
    [ -e "$SPOOL/spooldb/sge" ] && return 0
    log "creating the cell in $SGE_ROOT, spool in $SPOOL"
    rm -rf "$SGE_ROOT" "$SPOOL"
    mkdir -p "$COMMON" "$SPOOL/qmaster/job_scripts" "$SPOOL/execd" "$SPOOL/spooldb"
    local d
    for d in bin lib utilbin; do ln -s "/var/lib/gridengine/$d" "$SGE_ROOT/$d"; done
    ln -s /usr/share/gridengine/util "$SGE_ROOT/util"
    cat >"$COMMON/bootstrap" <<EOF
# Version: 6.2 (written by tests/services/start-sge.sh)
admin_user              none
default_domain          none
ignore_fqdn             true
spooling_method         berkeleydb
spooling_lib            libspoolb
spooling_params         $SPOOL/spooldb
binary_path             /usr/sbin
qmaster_spool_dir       $SPOOL/qmaster
security_mode           none
listener_threads        2
worker_threads          2
scheduler_threads       1
EOF
    echo "$HOST" >"$COMMON/act_qmaster"
    # 127.0.0.1 resolves back to "localhost": without the alias clients get
    # "access denied (client IP resolved to host name "localhost" ...)".
    echo "$HOST localhost" >"$COMMON/host_aliases"
    # accounting on and written at once; no reporting file (nobody reads it)
    sed -e "s@^execd_spool_dir .*@execd_spool_dir              $SPOOL/execd@" \
        -e "s@^min_uid .*@min_uid                      0@" \
        -e "s@^min_gid .*@min_gid                      0@" \
        -e "s@^reporting_params .*@reporting_params             accounting=true reporting=false flush_time=00:00:01 joblog=false sharelog=00:00:00 accounting_flush_time=00:00:00@" \
        /usr/share/gridengine/default-configuration >"$DIR/global-configuration"
    grep -q "^reporting_params .*accounting=true" "$DIR/global-configuration" \
        || die "could not switch accounting on in /usr/share/gridengine/default-configuration"
    "$SGEBIN/spoolinit" berkeleydb libspoolb "$SPOOL/spooldb" init >&2
    "$SGEBIN/spooldefaults" configuration "$DIR/global-configuration" >&2
    "$SGEBIN/spooldefaults" complexes /usr/share/gridengine/util/resources/centry >&2
    "$SGEBIN/spooldefaults" usersets /usr/share/gridengine/util/resources/usersets >&2
    "$SGEBIN/spooldefaults" managers root >&2
    rm -f "$DIR/.configured"
}

# ------------------------------------------------------------- daemons

qmaster_up() { timeout 10 "$SGEBIN/qstat" -f; }

start_qmaster() {
    if alive "$QPID" sge_qmaster; then
        log "sge_qmaster already running (pid $(cat "$QPID"))"
    else
        port_busy "$QPORT" && die "port $QPORT is taken (another Grid Engine? set SGE_QMASTER_PORT)"
        log "starting sge_qmaster on port $QPORT"
        "$SGEBIN/sge_qmaster" </dev/null >>"$DIR/qmaster.out" 2>&1 \
            || die "sge_qmaster failed; see $SPOOL/qmaster/messages and $DIR/qmaster.out"
    fi
    wait_for "$TIMEOUT" qmaster_up || die "sge_qmaster does not answer after ${TIMEOUT}s; see $SPOOL/qmaster/messages"
}

# configure (once per cell): qconf -a*/-m* open $EDITOR on a temp file, so
# the "editor" is a sed script given in $SGE_SED.
configure() {
    [ -e "$DIR/.configured" ] && return 0
    local editor=$DIR/qconf-editor.sh pe
    # shellcheck disable=SC2016  # the editor script expands these, not this one
    printf '#!/bin/sh\nexec sed -i -e "$SGE_SED" "$1"\n' >"$editor"
    chmod 0755 "$editor"
    q() { timeout 20 "$SGEBIN/qconf" "$@" >&2 || die "qconf $* failed"; }
    q -as "$HOST"
    printf 'hostname %s\nload_scaling NONE\ncomplex_values NONE\nuser_lists NONE\nxuser_lists NONE\nprojects NONE\nxprojects NONE\nusage_scaling NONE\nreport_variables NONE\n' \
        "$HOST" >"$DIR/exechost.txt"
    q -Ae "$DIR/exechost.txt"
    EDITOR=$editor SGE_SED='s/^schedule_interval .*/schedule_interval 0:0:1/;s/^flush_submit_sec .*/flush_submit_sec 1/;s/^flush_finish_sec .*/flush_finish_sec 1/' \
        q -msconf
    for pe in smp mpi make; do
        # shellcheck disable=SC2016  # $pe_slots is Grid Engine's keyword, not a shell variable
        EDITOR=$editor SGE_SED='s/^slots .*/slots 9999/;s/^allocation_rule .*/allocation_rule $pe_slots/' q -ap "$pe"
    done
    EDITOR=$editor SGE_SED="s/^qname .*/qname all.q/;s/^hostlist .*/hostlist $HOST/;s/^slots .*/slots $SLOTS/;s@^shell .*@shell /bin/bash@;s/^load_thresholds .*/load_thresholds NONE/;s/^pe_list .*/pe_list smp mpi make/" \
        q -aq
    touch "$DIR/.configured"
}

start_execd() {
    local pidfile
    pidfile=$(execd_pidfile || true)
    if [ -n "$pidfile" ] && alive "$pidfile" sge_execd; then
        log "sge_execd already running (pid $(cat "$pidfile"))"
        return 0
    fi
    port_busy "$EPORT" && die "port $EPORT is taken (set SGE_EXECD_PORT)"
    log "starting sge_execd on port $EPORT"
    "$SGEBIN/sge_execd" </dev/null >>"$DIR/execd.out" 2>&1 \
        || die "sge_execd failed; see $SPOOL/execd/*/messages and $DIR/execd.out"
}

# usable: the queue instance reports a load value and has no a/u/d/E state
queue_ok() {
    local line
    line=$(timeout 10 "$SGEBIN/qstat" -f -q all.q | grep "^all.q@") || return 1
    echo "$line" | awk '{ if ($4 == "-NA-" || NF > 5) exit 1 }'
}

# ------------------------------------------------------------------ main

T0=$SECONDS
install_packages
getent hosts "$HOST" >/dev/null || die "host name $HOST does not resolve (Grid Engine needs it, e.g. in /etc/hosts)"
make_cell
start_qmaster
configure
start_execd
wait_for "$TIMEOUT" queue_ok \
    || die "queue all.q not usable after ${TIMEOUT}s: $(timeout 10 "$SGEBIN/qstat" -f 2>&1 | tail -2); see $SPOOL/execd/*/messages"

cat >"$DIR/env.sh" <<EOF
export SGE_ROOT=$SGE_ROOT
export SGE_CELL=$SGE_CELL
export SGE_QMASTER_PORT=$QPORT
export SGE_EXECD_PORT=$EPORT
export PATH=$SGEBIN:\$PATH
EOF
log "ready in $((SECONDS - T0)) s: queue all.q@$HOST with $SLOTS slots, PEs smp mpi make, accounting in $COMMON/accounting"
cat "$DIR/env.sh"
