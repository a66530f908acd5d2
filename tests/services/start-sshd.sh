#!/usr/bin/env bash
# start-sshd.sh DIR PORT
#
# Runs a private OpenSSH server for the DPDispatcher tests on 127.0.0.1:PORT,
# next to (never instead of) any system sshd: /etc/ssh/sshd_config and
# /etc/pam.d/sshd are neither read nor touched. Config, host keys, client
# keys, known_hosts, log and pid file live in DIR.
#
# Usage:
#     eval "$(bash tests/services/start-sshd.sh /tmp/dpd-sshd 2222)"
#     ssh -i "$SSHD_KEY" -o UserKnownHostsFile="$SSHD_KNOWN_HOSTS" \
#         -p "$SSHD_PORT" root@127.0.0.1 true
#     bash tests/services/stop-sshd.sh /tmp/dpd-sshd
#
# What it sets up:
#   * root: public-key login only, with DIR/client_key (no passphrase) or
#     DIR/client_key_enc (passphrase in $SSHD_KEY_PASSPHRASE);
#   * a test user (default dpdtest, created once per machine): the same keys,
#     or its password ($SSHD_PASSWORD);
#   * DIR/known_hosts with the host keys for [127.0.0.1]:PORT and
#     [localhost]:PORT, for clients that check host keys (they should).
#
# With SSHD_TOTP=1 the test user must answer keyboard-interactive prompts
# "Password: " (pam_unix) then "Verification code: " (pam_google_authenticator,
# RFC 6238 TOTP, secret in $SSHD_TOTP_SECRET), alone or after a public key;
# a key alone is not enough. root still logs in by key. PAM picks its service
# by program name, so that instance runs as DIR/sshd-dpdtotp (a hard link or
# copy of sshd) with the private service /etc/pam.d/sshd-dpdtotp. Use a
# separate DIR (and PORT) for it.
#
# Several instances (different DIR and PORT) can run at once, e.g. one as a
# jump host for another (AllowTcpForwarding yes).
#
# stdout carries only `export ...` lines (for eval), also kept in DIR/env.sh;
# progress goes to stderr. Idempotent: if the sshd of DIR already runs with
# the same config it is left alone (keys are made once per DIR).
#
# Environment (all optional):
#   SSHD_TOTP            1 = password + TOTP code for the test user (above)
#   SSHD_TEST_USER       default dpdtest
#   SSHD_TEST_PASSWORD   default: random, made once per machine and kept in
#                        /var/lib/dpdispatcher-tests/ (the user is machine-
#                        wide, so all instances must agree on it)
#   SSHD_VAR_PREFIX      name prefix of the exported variables, default SSHD
#                        (e.g. JUMP gives JUMP_PORT, JUMP_KEY, ... so that a
#                        jump host and a target can both be eval'ed)
#   SSHD_START_TIMEOUT   seconds to wait for the port, default 30
set -euo pipefail

log() { echo "start-sshd: $*" >&2; }
die() { echo "start-sshd: ERROR: $*" >&2; exit 1; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

[ $# -eq 2 ] || die "usage: $0 DIR PORT"
[ "$(id -u)" -eq 0 ] || die "must run as root"
PORT=$2
if ! [[ "$PORT" =~ ^[0-9]+$ ]] || [ "$PORT" -lt 1024 ] || [ "$PORT" -gt 65535 ]; then
    die "PORT must be a number in 1024..65535"
fi
mkdir -p "$1"
DIR=$(cd "$1" && pwd -P)
case "$DIR" in *[[:space:]]*) die "DIR must not contain white space: $DIR" ;; esac
# mktemp -d makes 0700 dirs; sshd reads the test user's authorized_keys
# from DIR after dropping privileges to that user.
chmod 0755 "$DIR"

TOTP=${SSHD_TOTP:-0}
TUSER=${SSHD_TEST_USER:-dpdtest}
PREFIX=${SSHD_VAR_PREFIX:-SSHD}
[[ "$PREFIX" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "SSHD_VAR_PREFIX must be a shell name"
TIMEOUT=${SSHD_START_TIMEOUT:-30}
# Machine-wide state: the test user's password and TOTP secret.
MACHINE_STATE=/var/lib/dpdispatcher-tests
PAM_SERVICE=sshd-dpdtotp
if [ "$TOTP" = 1 ]; then
    # sshd re-executes itself by argv[0]: it must be an absolute path.
    SSHD=$DIR/$PAM_SERVICE
else
    SSHD=/usr/sbin/sshd
fi

# ------------------------------------------------------------------ helpers

# sshd_pid: print the pid of the sshd of DIR if it runs. The pid must be a
# live process (PID 1 here reaps lazily: zombies count as dead, so read
# /proc/PID/stat), named sshd or sshd-dpdtotp, whose command line names our
# config (guards against a recycled pid).
sshd_pid() {
    local pid
    [ -s "$DIR/sshd.pid" ] || return 1
    pid=$(tr -dc 0-9 <"$DIR/sshd.pid")
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
    case "$(cat "/proc/$pid/comm" 2>/dev/null)" in sshd | "$PAM_SERVICE") ;; *) return 1 ;; esac
    { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$DIR/sshd_config" || return 1
    echo "$pid"
}

port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# banner_ok: the server answers with its "SSH-2.0-..." identification.
banner_ok() {
    timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT && head -c 8 <&3" 2>/dev/null | grep -q '^SSH-2.0'
}

pam_ga_module() { find /lib /usr/lib -name pam_google_authenticator.so 2>/dev/null | head -1; }

install_packages() {
    [ -x /usr/sbin/sshd ] && command -v ssh-keygen >/dev/null 2>&1 && [ -n "$(pam_ga_module)" ] \
        && command -v ss >/dev/null 2>&1 && return 0
    # apt-install.sh keeps the system sshd from starting; stdout stays empty
    bash "$HERE/apt-install.sh" openssh-server libpam-google-authenticator iproute2 \
        || die "could not install openssh-server and libpam-google-authenticator"
}

make_keys() {
    local t
    # Host keys: ed25519 and ecdsa are instant to make; rsa for old clients.
    for t in ed25519 ecdsa rsa; do
        [ -s "$DIR/ssh_host_${t}_key" ] ||
            ssh-keygen -q -t "$t" -N '' -C "dpdtest-sshd-host" -f "$DIR/ssh_host_${t}_key"
    done
    chmod 0600 "$DIR"/ssh_host_*_key
    [ -s "$DIR/client_key" ] ||
        ssh-keygen -q -t ed25519 -N '' -C "dpdtest-client" -f "$DIR/client_key"
    if [ ! -s "$DIR/client_key_enc" ]; then
        (umask 077 && head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$DIR/client_key_enc.passphrase")
        ssh-keygen -q -t ed25519 -N "$(cat "$DIR/client_key_enc.passphrase")" \
            -C "dpdtest-client-encrypted" -f "$DIR/client_key_enc"
    fi
    chmod 0600 "$DIR/client_key" "$DIR/client_key_enc"

    # Both client keys for root and the test user. sshd reads the file as
    # the user logging in, hence world-readable (they are public keys).
    install -d -m 0755 "$DIR/authorized_keys"
    cat "$DIR/client_key.pub" "$DIR/client_key_enc.pub" >"$DIR/authorized_keys/root"
    cp "$DIR/authorized_keys/root" "$DIR/authorized_keys/$TUSER"
    chmod 0644 "$DIR/authorized_keys/"*

    # known_hosts: every host key under both names a client may use.
    : >"$DIR/known_hosts.new"
    for t in ed25519 ecdsa rsa; do
        echo "[127.0.0.1]:$PORT,[localhost]:$PORT $(cut -d' ' -f1,2 "$DIR/ssh_host_${t}_key.pub")" >>"$DIR/known_hosts.new"
    done
    mv -f "$DIR/known_hosts.new" "$DIR/known_hosts"
}

setup_test_user() {
    if ! id "$TUSER" >/dev/null 2>&1; then
        log "creating test user $TUSER"
        useradd -m -s /bin/bash "$TUSER"
    fi
    install -d -m 0700 "$MACHINE_STATE"
    local pwfile=$MACHINE_STATE/$TUSER.password
    if [ -n "${SSHD_TEST_PASSWORD:-}" ]; then
        (umask 077 && printf '%s' "$SSHD_TEST_PASSWORD" >"$pwfile")
    elif [ ! -s "$pwfile" ]; then
        (umask 077 && head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20 >"$pwfile")
    fi
    PASSWORD=$(cat "$pwfile")
    # Set it every time: cheap, and repairs a password changed by hand.
    printf '%s:%s\n' "$TUSER" "$PASSWORD" | chpasswd
}

setup_totp() {
    TOTP_SECRET=""
    [ "$TOTP" = 1 ] || return 0
    # One secret per user and machine, like the password: every TOTP
    # instance shares /etc/pam.d/$PAM_SERVICE, which names this file.
    install -d -m 0700 "$MACHINE_STATE/totp"
    local secret_file=$MACHINE_STATE/totp/$TUSER
    if [ ! -s "$secret_file" ]; then
        # 160 random bits in base32 (pyotp wants at least 112). The second
        # line is pam_google_authenticator's option line: time-based codes.
        # No DISALLOW_REUSE / RATE_LIMIT: tests log in several times within
        # one 30 s step with the same code.
        (umask 077 && {
            head -c 20 /dev/urandom | base32 | tr -d '=\n'
            printf '\n" TOTP_AUTH\n'
        } >"$secret_file")
    fi
    # With user=root below, the module reads the file as root, and insists
    # that root owns it and nobody else can read it.
    chown root:root "$secret_file"
    chmod 0600 "$secret_file"
    TOTP_SECRET=$(head -1 "$secret_file")

    cat >"/etc/pam.d/$PAM_SERVICE.new" <<EOF
# Written by DPDispatcher's tests/services/start-sshd.sh (SSHD_TOTP=1) for its
# private test sshd, which runs as "$PAM_SERVICE". Not used by the system sshd.
auth     required pam_unix.so
auth     required pam_google_authenticator.so secret=$MACHINE_STATE/totp/\${USER} user=root
account  required pam_permit.so
session  required pam_permit.so
EOF
    mv -f "/etc/pam.d/$PAM_SERVICE.new" "/etc/pam.d/$PAM_SERVICE"

    # PAM names the service after the program (basename of argv[0]), hence
    # a differently named sshd. A hard link costs nothing; DIR may be on
    # another file system, then a copy. Refreshed if sshd was upgraded.
    if ! cmp -s /usr/sbin/sshd "$SSHD"; then
        rm -f "$SSHD"
        ln /usr/sbin/sshd "$SSHD" 2>/dev/null || cp /usr/sbin/sshd "$SSHD"
    fi
}

write_config() {
    local sftp=/usr/lib/openssh/sftp-server
    [ -x "$sftp" ] || sftp=internal-sftp
    {
        cat <<EOF
# Generated by DPDispatcher's tests/services/start-sshd.sh; rewritten on
# every start.
ListenAddress 127.0.0.1:$PORT
PidFile $DIR/sshd.pid
HostKey $DIR/ssh_host_ed25519_key
HostKey $DIR/ssh_host_ecdsa_key
HostKey $DIR/ssh_host_rsa_key
AuthorizedKeysFile $DIR/authorized_keys/%u
# DIR may sit below /tmp (mode 1777), which StrictModes would reject.
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PermitEmptyPasswords no
UseDNS no
AllowTcpForwarding yes
AllowAgentForwarding no
X11Forwarding no
PrintMotd no
PrintLastLog no
# Tests open many connections and channels at once.
MaxStartups 100
MaxSessions 100
LogLevel VERBOSE
Subsystem sftp $sftp
EOF
        if [ "$TOTP" = 1 ]; then
            cat <<EOF
# Password and one-time code through the private PAM service $PAM_SERVICE.
UsePAM yes
PasswordAuthentication no
KbdInteractiveAuthentication yes
Match User $TUSER
    AuthenticationMethods publickey,keyboard-interactive keyboard-interactive
EOF
        else
            cat <<EOF
# No PAM: the stock stack (pam_loginuid, pam_systemd, ...) has nothing to
# talk to here; without PAM sshd checks /etc/shadow itself.
UsePAM no
PasswordAuthentication yes
KbdInteractiveAuthentication no
EOF
        fi
    } >"$DIR/sshd_config.new"

    if [ -f "$DIR/sshd_config" ] && cmp -s "$DIR/sshd_config.new" "$DIR/sshd_config"; then
        rm -f "$DIR/sshd_config.new"
        return 0
    fi
    if sshd_pid >/dev/null; then
        log "sshd_config changed: restarting the sshd of $DIR"
        bash "$HERE/stop-sshd.sh" "$DIR" >&2
    fi
    mv -f "$DIR/sshd_config.new" "$DIR/sshd_config"
}

start_sshd() {
    # Privilege-separation dir compiled into Debian's sshd; normally made by
    # systemd's RuntimeDirectory or the init script, neither of which runs
    # here. Even "sshd -t" refuses to run without it.
    install -d -m 0755 /run/sshd
    "$SSHD" -t -f "$DIR/sshd_config" || die "sshd -t rejected $DIR/sshd_config"
    local pid
    if pid=$(sshd_pid); then
        log "sshd already running (pid $pid) on 127.0.0.1:$PORT"
    else
        port_busy "$PORT" && die "port $PORT is already taken on this machine"
        rm -f "$DIR/sshd.pid"
        log "starting $(basename "$SSHD") on 127.0.0.1:$PORT"
        # sshd daemonises itself and writes DIR/sshd.pid.
        "$SSHD" -f "$DIR/sshd_config" -E "$DIR/sshd.log" </dev/null >/dev/null 2>&1 \
            || die "sshd failed to start; see $DIR/sshd.log"
    fi
    local end=$((SECONDS + TIMEOUT))
    until banner_ok && sshd_pid >/dev/null; do
        [ "$SECONDS" -lt "$end" ] || die "sshd not answering on 127.0.0.1:$PORT after ${TIMEOUT}s; see $DIR/sshd.log"
        sleep 0.1
    done
}

write_env() {
    local p=$PREFIX
    {
        echo "export ${p}_HOST=127.0.0.1"
        echo "export ${p}_PORT=$PORT"
        echo "export ${p}_DIR=$DIR"
        echo "export ${p}_USER=$TUSER"
        # %q: a password from SSHD_TEST_PASSWORD may need quoting for eval
        printf 'export %s_PASSWORD=%q\n' "$p" "$PASSWORD"
        echo "export ${p}_KEY=$DIR/client_key"
        echo "export ${p}_KEY_ENC=$DIR/client_key_enc"
        echo "export ${p}_KEY_PASSPHRASE=$(cat "$DIR/client_key_enc.passphrase")"
        echo "export ${p}_KNOWN_HOSTS=$DIR/known_hosts"
        echo "export ${p}_TOTP_SECRET=$TOTP_SECRET"
    } >"$DIR/env.sh"
}

# ------------------------------------------------------------------ main

T0=$SECONDS
install_packages
make_keys
setup_test_user
setup_totp
write_config
start_sshd
write_env
log "ready in $((SECONDS - T0)) s on 127.0.0.1:$PORT (root and $TUSER by key; $TUSER by password$([ "$TOTP" = 1 ] && echo ' + TOTP code'))"
cat "$DIR/env.sh"
