#!/usr/bin/env bash
# apt-install.sh PACKAGE...
#
# Installs those of the Debian PACKAGEs that are not installed yet, without
# starting their system services (the tests start private instances of their
# own). Nothing missing -> no apt-get call at all, exit 0. The one place that
# installs system packages for the tests: start-slurm.sh, start-sshd.sh and
# .ci/run call it. Needs root and a Debian mirror.
#
# stdout stays empty (the start scripts' stdout is for eval); progress and
# apt-get's output go to stderr.
#
# Environment (optional):
#   APT_TIMEOUT   seconds for each apt-get call, default 600
set -euo pipefail

log() { echo "apt-install: $*" >&2; }
die() { echo "apt-install: ERROR: $*" >&2; exit 1; }

[ $# -gt 0 ] || die "usage: $0 PACKAGE..."

missing=()
for pkg in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
[ ${#missing[@]} -gt 0 ] || exit 0

[ "$(id -u)" -eq 0 ] || die "must run as root to install ${missing[*]} (or install them by hand)"
command -v apt-get >/dev/null 2>&1 || die "no apt-get on this machine: install ${missing[*]} by hand"

APT_TIMEOUT=${APT_TIMEOUT:-600}
log "installing ${missing[*]} with apt-get (once per machine)..."
T0=$SECONDS

# Package maintainer scripts would start the *system* daemons (munged, slurmd,
# sshd) through /etc/init.d unless a policy-rc.d forbids it. Debian container
# images ship one that does; add one for the install only if there is none.
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    guard=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$guard"
    chmod 0755 "$guard"
    trap 'rm -f "$guard"' EXIT
fi

export DEBIAN_FRONTEND=noninteractive
timeout "$APT_TIMEOUT" apt-get -q -o DPkg::Lock::Timeout=120 update >&2 \
    || die "apt-get update failed (or took more than ${APT_TIMEOUT}s)"
timeout "$APT_TIMEOUT" apt-get -q -y -o DPkg::Lock::Timeout=120 install --no-install-recommends "${missing[@]}" >&2 \
    || die "apt-get install ${missing[*]} failed (or took more than ${APT_TIMEOUT}s)"
log "installed ${missing[*]} in $((SECONDS - T0)) s"
