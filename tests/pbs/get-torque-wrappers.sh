#!/usr/bin/env bash
# get-torque-wrappers.sh DIR
#
# Puts Slurm's Torque compatibility wrappers (qsub, qstat, qdel, ... from Debian's
# slurm-wlm-torque) in DIR/usr/bin WITHOUT installing the package: slurm-wlm-torque
# conflicts with gridengine-client (both ship qsub/qstat), which the SGE tests need
# on the same machine. The wrappers are perl scripts over libslurm-perl; they find
# sbatch next to themselves, so callers link them into a directory beside sbatch
# (tests/pbs/conftest.py does).
#
# Idempotent: prints DIR/usr/bin and exits 0 if the wrappers are already there.
# Installs libslurm-perl, libslurmdb-perl and libswitch-perl if missing (needs root);
# downloads the slurm-wlm-torque of the installed slurm-client's version.
set -euo pipefail

die() { echo "get-torque-wrappers: ERROR: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: $0 DIR"
DIR=$1
if [ -x "$DIR/usr/bin/qsub" ] && grep -q sbatch "$DIR/usr/bin/qsub"; then
    echo "$DIR/usr/bin"
    exit 0
fi
command -v sbatch >/dev/null || die "sbatch not found: install slurm-wlm first (tests/services/start-slurm.sh does)"
VERSION=$(dpkg-query -W -f='${Version}' slurm-client 2>/dev/null) || die "slurm-client is not installed"

missing=()
for pkg in libslurm-perl libslurmdb-perl libswitch-perl; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || die "needs root to install ${missing[*]}"
    echo "get-torque-wrappers: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing[@]}" >&2 \
        || { apt-get update >&2 && apt-get install -y --no-install-recommends "${missing[@]}" >&2; } \
        || die "could not install ${missing[*]}"
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
# apt-get download runs as the _apt user where it can: give it a directory it may write
chmod 0777 "$WORK"
apt-get download "slurm-wlm-torque=$VERSION" >&2 \
    || { apt-get update >&2 && apt-get download "slurm-wlm-torque=$VERSION" >&2; } \
    || die "could not download slurm-wlm-torque $VERSION"
mkdir -p "$DIR"
dpkg-deb -x slurm-wlm-torque_*.deb "$DIR"
[ -x "$DIR/usr/bin/qsub" ] || die "no usr/bin/qsub in the package"
echo "$DIR/usr/bin"
