"""SSHContext: the job root lives on a remote host reached over SSH.

Every command and transfer of a run goes over one SSH connection (re-established
with backoff if it drops). Files travel as one tar stream per direction; on a
re-run, files whose content is already remote are not sent again.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import posixpath
import re
import shlex
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

from dargs import Argument

from dpdispatcher.base_context import BaseContext, CommandResult
from dpdispatcher.errors import ConfigError, SchedulerError
from dpdispatcher_ssh.hostkeys import normalize_policy
from dpdispatcher_ssh.remote_root import needs_remote_lookup, resolve_on_remote, split_anchor
from dpdispatcher_ssh.session import SHELL_STDIN_LIMIT, ExecResult, SSHSession
from dpdispatcher_ssh.tarstream import (
    Entry,
    OutsideRootError,
    Readable,
    Writable,
    human_size,
    safe_extract,
    write_tar,
)

logger = logging.getLogger(__name__)

#: exit code of the wrapper when the remote root cannot be entered or created
_NO_ROOT = 97
#: what the remote tar says when the remote disk or quota is full: ENOSPC, EDQUOT, or a short write
_DISK_FULL = re.compile(r"No space left on device|Disk quota exceeded|Wrote only \d+ of \d+ bytes")

# Matches whose directory leads out of the job root (through a symlink) are reported, not sent:
# tar would read them through the link. Symlinks themselves travel as symlinks (no -h).
_DOWNLOAD_SCRIPT = r"""
unset CDPATH
cd -P -- "$1" || exit 97
root=$PWD
shopt -s nullglob
files=()
i=0
while IFS= read -r -d '' p; do
  found=0
  IFS=
  for f in $p; do
    if [ -e "$f" ] || [ -L "$f" ]; then
      found=1
      case $f in */*) d=${f%/*} ;; *) d=. ;; esac
      cd -P -- "$d" 2>/dev/null
      case $PWD/ in
        "$root"/*) files+=("./$f") ;;
        *) printf 'DPD_OUTSIDE %s\t%s\n' "$f" "$PWD" >&2 ;;
      esac
      cd -- "$root"
    fi
  done
  unset IFS
  [ "$found" = 1 ] || printf 'DPD_MISSING %s\n' "$i" >&2
  i=$((i + 1))
done
[ "${#files[@]}" -gt 0 ] || exit 0
printf '%s\0' "${files[@]}" | tar -c $2 --null -T - -f -
"""

_EXISTS_SCRIPT = r"""
cd -- "$1" 2>/dev/null || exit 0
while IFS= read -r -d '' f; do
  if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
done
"""

_HASH_SCRIPT = r"""
cd -- "$1" 2>/dev/null || exit 0
xargs -0 -r sha256sum -z -- 2>/dev/null
exit 0
"""


def _bash(script: str, *args: str) -> str:
    return "bash -c " + shlex.quote(script) + " dpd " + " ".join(shlex.quote(a) for a in args)


class SSHContext(BaseContext):
    """Jobs run under ``remote_root/<submission hash>`` on a host reached over SSH."""

    secret_keys = frozenset({"password", "passphrase", "totp_secret", "jump_password", "jump_passphrase"})

    def __init__(
        self,
        local_root: str | None = None,
        remote_root: str | None = None,
        remote_profile: dict[str, Any] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(local_root, remote_root, remote_profile)
        #: the absolute remote root; a relative or ``~`` one is resolved on the remote host when first needed
        self._base: str | None = None
        self._base_lock = threading.Lock()
        if self.init_remote_root is not None:
            if needs_remote_lookup(self.init_remote_root):
                split_anchor(self.init_remote_root)  # a bad ~user is refused before connecting
                self.remote_root = ""
            else:
                self.init_remote_root = posixpath.normpath(self.init_remote_root)
                self._base = self.remote_root = self.init_remote_root
        profile = self.remote_profile
        self.tar_compress = bool(profile.get("tar_compress", False))
        self.session = _make_session(profile)

    # -- configuration -----------------------------------------------------------

    @classmethod
    def machine_subfields(cls) -> list[Argument]:
        s = [type(None), str]
        fields = [
            Argument("hostname", str, doc="hostname or ip of ssh connection."),
            Argument("username", str, optional=True, doc="username of target linux system"),
            Argument("password", [type(None), str], optional=True, doc="password of linux system"),
            Argument("port", int, optional=True, default=22, doc="ssh connection port."),
            Argument(
                "key_filename",
                [type(None), str, list],
                optional=True,
                default=None,
                doc="key filename used by ssh connection (`~` is expanded). If left `None`, find key in `~/.ssh` "
                "or the ssh-agent, or use password for login",
            ),
            Argument("passphrase", s, optional=True, default=None, doc="passphrase of key used by ssh connection"),
            Argument("timeout", [int, float], optional=True, default=10, doc="timeout of ssh connection"),
            Argument(
                "totp_secret",
                s,
                optional=True,
                default=None,
                doc="Time-based one time password secret. It should be a base32-encoded string extracted from the 2D code.",
            ),
            Argument(
                "look_for_keys", bool, optional=True, default=True, doc="Try the keys in ~/.ssh (id_ed25519, ...)."
            ),
            Argument("allow_agent", bool, optional=True, default=True, doc="Try the keys of the ssh-agent."),
            Argument(
                "known_hosts",
                s,
                optional=True,
                default=None,
                doc="known_hosts file used to verify the host key (default ~/.ssh/known_hosts, plus "
                "/etc/ssh/ssh_known_hosts for reading).",
            ),
            Argument(
                "strict_host_key_checking",
                bool,
                optional=True,
                default=False,
                doc="Refuse hosts not in known_hosts. When false, an unknown host is trusted on first use and remembered. "
                "A changed host key is always refused.",
            ),
            Argument(
                "host_key_policy",
                s,
                optional=True,
                default=None,
                doc="'tofu' (default: trust an unknown host on first use and remember it), 'strict' (refuse unknown "
                "hosts) or 'accept-any' (INSECURE: do not check host keys at all).",
            ),
            Argument(
                "proxy_command",
                s,
                optional=True,
                default=None,
                doc="Command whose stdin/stdout carry the connection, as OpenSSH's ProxyCommand (%h, %p, %r expanded).",
            ),
            Argument("jump_hostname", s, optional=True, default=None, doc="Jump host to connect through (ProxyJump)."),
            Argument("jump_port", int, optional=True, default=22, doc="SSH port of the jump host."),
            Argument("jump_username", s, optional=True, default=None, doc="User on the jump host (default: username)."),
            Argument(
                "jump_key_filename",
                [type(None), str, list],
                optional=True,
                default=None,
                doc="Key for the jump host (default: key_filename).",
            ),
            Argument("jump_password", s, optional=True, default=None, doc="Password on the jump host."),
            Argument("jump_passphrase", s, optional=True, default=None, doc="Passphrase of jump_key_filename."),
            Argument(
                "execute_command",
                s,
                optional=True,
                default=None,
                doc="Command run on the remote host after each (re)connection.",
            ),
            Argument("tar_compress", bool, optional=True, default=False, doc="gzip the tar streams (for slow links)."),
            Argument(
                "keepalive_interval", [int, float], optional=True, default=30, doc="Seconds between SSH keepalives."
            ),
            Argument(
                "reconnect_attempts",
                int,
                optional=True,
                default=8,
                doc="How many times a dropped connection is re-established (with backoff) before the run fails.",
            ),
            Argument(
                "reconnect_max_delay",
                [int, float],
                optional=True,
                default=30,
                doc="Longest wait (seconds) between two reconnection attempts.",
            ),
        ]
        return [
            Argument(
                "remote_profile",
                dict,
                fields,
                optional=False,
                doc="The information used to maintain the connection with remote machine.",
            )
        ]

    def public_profile(self) -> dict[str, Any]:
        return {k: v for k, v in self.remote_profile.items() if k not in self.secret_keys}

    def __repr__(self) -> str:
        return f"SSHContext({self.session.where}, remote_root={self.remote_root or self.init_remote_root!r})"

    @property
    def ssh(self) -> SSHSession:
        return self.session

    # -- commands ------------------------------------------------------------------

    def _base_root(self) -> str:
        """The absolute remote root that job roots go under.

        ``machine/remote_root`` as configured when it is absolute; otherwise resolved on
        the remote host on the first connection (:func:`~dpdispatcher_ssh.remote_root.resolve_on_remote`) and
        kept for the life of the context, reconnections included. The configured text
        stays in ``init_remote_root``: it is part of the submission's identity.
        """
        with self._base_lock:
            if self._base is None:
                if self.init_remote_root is None:
                    raise ConfigError("machine/remote_root is required for SSHContext")
                self._base = resolve_on_remote(self.init_remote_root, self.session)
                logger.info("remote_root %r is %s on %s", self.init_remote_root, self._base, self.session.where)
            return self._base

    def job_root(self, submission_hash: str) -> str:
        return posixpath.join(self._base_root(), submission_hash)

    def _root(self) -> str:
        if not self.remote_root:  # not bound to a submission yet: commands run in the remote root itself
            self.remote_root = self._base_root()
        return self.remote_root

    def run(self, cmd: str, timeout: float | None = None, stdin: str | None = None) -> CommandResult:
        data = stdin.encode() if stdin is not None else None
        result = self.session.exec(cmd, stdin=data, timeout=timeout, cwd=self._root())
        return CommandResult(
            result.returncode, result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace")
        )

    def _checked(self, cmd: str, what: str, **kwargs: Any) -> ExecResult:
        return self._check(self.session.exec(cmd, **kwargs), what)

    def _check(self, result: ExecResult, what: str) -> ExecResult:
        if result.returncode != 0:
            message = result.stderr.decode(errors="replace").strip()
            if result.returncode == _NO_ROOT:
                message = f"cannot enter or create the remote root {self.remote_root}: {message}"
            raise SchedulerError(f"{what} failed on {self.session.where} (exit code {result.returncode}): {message}")
        return result

    def write_file(self, fname: str, write_str: str) -> None:
        self.write_files({fname: write_str})

    def write_files(self, files: dict[str, str]) -> None:
        """All files in one tar stream (one round trip)."""
        if not files:
            return
        entries = [Entry(_rel(name), data=text.encode()) for name, text in files.items()]
        self._send(entries)

    def read_file(self, fname: str) -> str:
        result = self.session.exec(f"cat -- {shlex.quote(_rel(fname))}", cwd=self._root())
        if result.returncode != 0:
            raise FileNotFoundError(
                f"{posixpath.join(self._root(), fname)} on {self.session.where}: "
                f"{result.stderr.decode(errors='replace').strip()}"
            )
        return result.stdout.decode()

    def check_file_exists(self, fname: str) -> bool:
        return fname in self.files_exist([fname])

    def files_exist(self, fnames: list[str]) -> set[str]:
        if not fnames:
            return set()
        listing = b"".join(_rel(f).encode() + b"\0" for f in fnames)
        result = self._checked(_bash(_EXISTS_SCRIPT, self._root()), "checking remote files", stdin=listing)
        present = {p.decode() for p in result.stdout.split(b"\0") if p}
        return {f for f in fnames if _rel(f) in present}

    def clean(self, generated: Collection[str] = ()) -> None:
        """Remove the job root of the bound submission (and nothing above it)."""
        root, base = self.remote_root, self._base
        if not root or base is None or posixpath.normpath(root) in ("/", base):
            return  # only a bound submission's own directory is ever removed
        self._checked(f"rm -rf -- {shlex.quote(root)}", "cleaning the remote root")

    def close(self) -> None:
        self.session.close()

    # -- transfer ------------------------------------------------------------------

    def upload_files(self, files: list[str], dirs: Sequence[str] = ()) -> None:
        """Send files and directory trees as one tar stream; skip files whose content is already remote."""
        candidates: list[tuple[str, str]] = []  # (relative path, local path)
        entries: list[Entry] = [Entry(_rel(d)) for d in dirs]
        for rel in files:
            rel = _rel(rel)
            local = os.path.join(self.local_root, rel)
            if os.path.isdir(local):
                entries.append(Entry(rel))
                for sub_rel, sub_local, is_dir in _walk(local, rel):
                    if is_dir:
                        entries.append(Entry(sub_rel))
                    else:
                        candidates.append((sub_rel, sub_local))
            else:
                candidates.append((rel, local))
        unchanged = self._unchanged(candidates)
        if unchanged:
            logger.info(
                "%d of %d files are already on the remote side; not sending them", len(unchanged), len(candidates)
            )
        entries += [Entry(rel, path=local) for rel, local in candidates if rel not in unchanged]
        if entries or not unchanged:  # else all is there already, remote root included
            self._send(entries)

    def _unchanged(self, candidates: list[tuple[str, str]]) -> set[str]:
        """Candidates whose remote copy has the same SHA-256 (one remote round trip)."""
        if not candidates:
            return set()
        listing = b"".join(b"./" + rel.encode() + b"\0" for rel, _ in candidates)
        result = self.session.exec(_bash(_HASH_SCRIPT, self._root()), stdin=listing)
        remote: dict[str, str] = {}
        for line in result.stdout.split(b"\0"):
            if len(line) > 66 and line[64:66] in (b"  ", b" *"):
                remote[line[66:].decode(errors="surrogateescape")[2:]] = line[:64].decode()
        same = set()
        for rel, local in candidates:
            digest = remote.get(rel)
            if digest is not None and _sha256(local) == digest:
                same.add(rel)
        return same

    def _send(self, entries: list[Entry]) -> None:
        if not entries:
            self._checked(f"mkdir -p -- {shlex.quote(self._root())}", "creating the remote root")
            return
        root = shlex.quote(self._root())
        z = " -z" if self.tar_compress else ""
        cmd = f"{{ mkdir -p -- {root} && cd -- {root}; }} || exit {_NO_ROOT}\ntar -x{z} -f - --no-same-owner"
        result = self.session.exec(cmd, stdin=self._archive(entries))
        full = [line for line in result.stderr.decode(errors="replace").splitlines() if _DISK_FULL.search(line)]
        if result.returncode != 0 and full:
            files = sum(e.path is not None or e.data is not None for e in entries)
            raise SchedulerError(
                f"the remote disk is full: {self.session.where} has no space left under {self._root()} for the "
                f"{human_size(_size(entries))} being sent ({files} files); free space there (or choose another "
                f"remote_root) and run again. The remote tar said: {full[0].strip()}"
            )
        self._check(result, "uploading files")

    def _archive(self, entries: list[Entry]) -> bytes | Callable[[Writable], None]:
        """The tar stream of ``entries``: made here when small (job scripts, records, small inputs), so that it
        goes to the connection's remote shell in one request; else written as it is sent."""
        if _size(entries) + 1024 * len(entries) > SHELL_STDIN_LIMIT:
            return lambda w: write_tar(w, entries, self.tar_compress)
        archive = io.BytesIO()
        write_tar(archive, entries, self.tar_compress)
        return archive.getvalue()

    def download_files(self, patterns: list[str]) -> list[str]:
        """Fetch every match of ``patterns`` (globs expanded remotely) in one tar stream; return the unmatched."""
        if not patterns:
            return []
        listing = b"".join(_rel(p).encode() + b"\0" for p in patterns)
        local_root, root = self.local_root, self._root()
        compress = self.tar_compress
        refused: list[str] = []

        def receive(reader: Readable) -> list[str]:
            refused.clear()  # a retry starts over
            try:
                return safe_extract(reader, local_root, compress, root=root)
            except OutsideRootError as err:  # everything else was extracted: raised after the checks below
                refused.extend(err.entries)
                return []

        result = self.session.exec(
            _bash(_DOWNLOAD_SCRIPT, root, "-z" if compress else ""), stdin=listing, stdout=receive
        )
        lines = result.stderr.decode(errors="replace").splitlines()
        missing_idx = {int(line.split()[1]) for line in lines if line.startswith("DPD_MISSING ")}
        for line in lines:
            if line.startswith("DPD_OUTSIDE "):
                name, _, real = line[len("DPD_OUTSIDE ") :].partition("\t")
                refused.append(f"{name} (its directory leads to {real})")
        others = "\n".join(line for line in lines if not line.startswith(("DPD_MISSING ", "DPD_OUTSIDE ")))
        if result.returncode == _NO_ROOT:
            return list(patterns)
        if result.returncode not in (0, 1):  # tar exits 1 when a file changed while it was read
            raise SchedulerError(f"downloading files from {self.session.where} failed: {others.strip()}")
        if refused:
            raise OutsideRootError(refused, root)
        return [p for i, p in enumerate(patterns) if i in missing_idx]


def _make_session(profile: dict[str, Any]) -> SSHSession:
    policy = normalize_policy(profile.get("host_key_policy"), profile.get("strict_host_key_checking"))
    common = {
        "known_hosts": profile.get("known_hosts"),
        "host_key_policy": policy,
        "timeout": profile.get("timeout", 10),
        "keepalive_interval": profile.get("keepalive_interval", 30),
        "reconnect_attempts": profile.get("reconnect_attempts", 8),
        "reconnect_max_delay": profile.get("reconnect_max_delay", 30),
        "look_for_keys": profile.get("look_for_keys", True),
        "allow_agent": profile.get("allow_agent", True),
    }
    jump = None
    if profile.get("jump_hostname"):
        if profile.get("proxy_command"):
            raise ConfigError("remote_profile: set either proxy_command or jump_hostname, not both")
        jump = SSHSession(
            hostname=profile["jump_hostname"],
            port=profile.get("jump_port") or 22,
            username=profile.get("jump_username") or profile.get("username"),
            key_filename=profile.get("jump_key_filename") or profile.get("key_filename"),
            passphrase=profile.get("jump_passphrase") or profile.get("passphrase"),
            password=profile.get("jump_password"),
            remote_shell=False,  # it only carries the connection to the host
            **common,
        )
    return SSHSession(
        hostname=profile.get("hostname", ""),
        username=profile.get("username"),
        password=profile.get("password"),
        port=profile.get("port") or 22,
        key_filename=profile.get("key_filename"),
        passphrase=profile.get("passphrase"),
        totp_secret=profile.get("totp_secret"),
        proxy_command=profile.get("proxy_command"),
        jump=jump,
        execute_command=profile.get("execute_command"),
        **common,
    )


def _rel(path: str) -> str:
    """A normalized relative POSIX path; refuse one that leaves the root."""
    norm = posixpath.normpath(path.replace(os.sep, "/"))
    if norm.startswith("/") or norm == ".." or norm.startswith("../"):
        raise ConfigError(f"path {path!r} escapes the remote root")
    return norm


def _walk(local_dir: str, rel_dir: str) -> Iterator[tuple[str, str, bool]]:
    """(relative path, local path, is_dir) under a directory, following symlinks without looping."""
    seen = {os.path.realpath(local_dir)}
    for current, dirnames, filenames in os.walk(local_dir, followlinks=True):
        kept = []
        for d in sorted(dirnames):
            real = os.path.realpath(os.path.join(current, d))
            if real not in seen:
                seen.add(real)
                kept.append(d)
        dirnames[:] = kept
        base = posixpath.join(rel_dir, os.path.relpath(current, local_dir).replace(os.sep, "/"))
        for d in kept:
            yield posixpath.normpath(posixpath.join(base, d)), os.path.join(current, d), True
        for name in sorted(filenames):
            path = os.path.join(current, name)
            if os.path.exists(path):  # a dangling symlink has nothing to send
                yield posixpath.normpath(posixpath.join(base, name)), path, False


def _size(entries: list[Entry]) -> int:
    """Bytes of content in ``entries`` (what an upload sends, without the tar headers)."""
    total = 0
    for entry in entries:
        if entry.data is not None:
            total += len(entry.data)
        elif entry.path is not None:
            with contextlib.suppress(OSError):
                total += os.path.getsize(entry.path)
    return total


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
