"""Host key verification against an OpenSSH known_hosts file.

Policies:

* ``tofu`` (default): a known host must present a key listed for it; an unknown
  host is trusted on first use and its key appended to the known_hosts file.
* ``strict``: an unknown host is refused (``strict_host_key_checking: true``).
* ``accept-any``: no check at all. Only when the user names it explicitly.

A key that differs from the one recorded is refused under every policy but
``accept-any``, with a message saying how to remove the stale entry.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from collections.abc import Sequence

import paramiko

from dpdispatcher.errors import ConfigError, DispatcherError

logger = logging.getLogger(__name__)

POLICIES = ("tofu", "strict", "accept-any")
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
SYSTEM_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"

#: known_hosts key type -> host key algorithms the server may present it with
_ALGORITHMS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")}


class HostKeyError(DispatcherError, ConnectionError):
    """The server's host key is unknown (strict checking) or differs from the recorded one."""


def known_hosts_name(hostname: str, port: int) -> str:
    return hostname if int(port) == 22 else f"[{hostname}]:{port}"


def fingerprint(key: paramiko.PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def normalize_policy(policy: str | None, strict: bool | None) -> str:
    if policy is None:
        return "strict" if strict else "tofu"
    policy = str(policy).lower().replace("_", "-")
    aliases = {"auto-add": "tofu", "trust-on-first-use": "tofu", "reject": "strict", "accept-all": "accept-any"}
    policy = aliases.get(policy, policy)
    if policy not in POLICIES:
        raise ConfigError(f"remote_profile/host_key_policy must be one of {', '.join(POLICIES)} (got {policy!r})")
    if strict and policy != "strict":
        raise ConfigError(
            f"remote_profile/strict_host_key_checking is true but host_key_policy is {policy!r}; set only one of them"
        )
    return policy


class HostKeyChecker:
    """Checks (and, on first use, records) the host keys of one known_hosts file."""

    def __init__(self, known_hosts: str | None = None, policy: str = "tofu") -> None:
        self.path = os.path.expanduser(known_hosts or DEFAULT_KNOWN_HOSTS)
        self.read_system_file = known_hosts is None
        self.policy = policy

    def _load(self) -> paramiko.HostKeys:
        keys = paramiko.HostKeys()
        paths = [self.path] + ([SYSTEM_KNOWN_HOSTS] if self.read_system_file else [])
        for path in paths:
            if os.path.isfile(path):
                try:
                    keys.load(path)
                except OSError as err:
                    logger.warning("cannot read known_hosts %s: %s", path, err)
        return keys

    def known_keys(self, hostname: str, port: int) -> dict[str, paramiko.PKey]:
        entry = self._load().lookup(known_hosts_name(hostname, port))
        return dict(entry) if entry else {}

    def preferred_algorithms(self, hostname: str, port: int, available: Sequence[str]) -> Sequence[str]:
        """``available`` reordered so that key types already recorded for the host come first (as OpenSSH does)."""
        if self.policy == "accept-any":
            return available
        known = self.known_keys(hostname, port)
        wanted = [alg for kt in known for alg in _ALGORITHMS.get(kt, (kt,))]
        first = [a for a in available if a in wanted]
        return tuple(first + [a for a in available if a not in first])

    def verify(self, hostname: str, port: int, key: paramiko.PKey) -> None:
        if self.policy == "accept-any":
            logger.debug("host key of %s not checked (host_key_policy accept-any)", hostname)
            return
        name = known_hosts_name(hostname, port)
        known = self.known_keys(hostname, port)
        if not known:
            if self.policy == "strict":
                raise HostKeyError(
                    f"host {name} is not in {self.path} and strict host key checking is on; the server offers "
                    f"{key.get_name()} key {fingerprint(key)}. If that is the right key, add it "
                    f"(e.g. `ssh -p {port} {hostname}` once and accept it, or `ssh-keyscan -p {port} {hostname} >> "
                    f"{self.path}` after checking the fingerprint), or set remote_profile/host_key_policy to 'tofu'."
                )
            self._remember(name, key)
            logger.warning(
                "host %s was unknown: trusting its %s key %s on first use and adding it to %s",
                name,
                key.get_name(),
                fingerprint(key),
                self.path,
            )
            return
        recorded = known.get(key.get_name())
        if recorded is not None and recorded.asbytes() == key.asbytes():
            return
        old = ", ".join(f"{kt} {fingerprint(k)}" for kt, k in known.items())
        raise HostKeyError(
            f"REMOTE HOST KEY HAS CHANGED for {name}: it now presents {key.get_name()} key {fingerprint(key)}, "
            f"but {self.path} records {old}. Someone could be intercepting the connection, or the host was "
            f"reinstalled. Connection refused. If you know the new key is right, remove the old entry with "
            f"`ssh-keygen -f {self.path} -R '{name}'` and connect again (the new key is then trusted on first use)."
        )

    def _remember(self, name: str, key: paramiko.PKey) -> None:
        directory = os.path.dirname(self.path)
        if directory and not os.path.isdir(directory):
            os.makedirs(directory, mode=0o700, exist_ok=True)
        line = f"{name} {key.get_name()} {key.get_base64()}\n"
        if os.path.isfile(self.path) and os.path.getsize(self.path) > 0:
            with open(self.path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    line = "\n" + line
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as f:
            f.write(line)
