"""Private sshd servers on 127.0.0.1 for the SSH plugin's tests (tests/services/start-sshd.sh).

Three servers per session: ``sshd`` (key and password logins), ``sshd_totp``
(keyboard-interactive Password: + Verification code: through PAM) and
``jump_sshd`` (a jump host). Each is stopped by pid at the end. When a server
cannot start the tests skip, or fail if CI listed ``ssh`` in
``DPDISPATCHER_REQUIRE_SERVICES``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from helpers import free_port, skip_or_fail

SERVICES = Path(__file__).resolve().parents[1] / "services"
#: bound on one start (the first one may apt-get install openssh-server)
START_TIMEOUT = 600


class SSHD:
    """A running private sshd: its exported settings, and restart for the drop tests."""

    def __init__(self, state_dir: Path, port: int, extra_env: dict[str, str]) -> None:
        self.dir = state_dir
        self.port = port
        self.extra_env = extra_env
        self.env: dict[str, str] = {}

    def start(self) -> None:
        proc = subprocess.run(
            ["bash", str(SERVICES / "start-sshd.sh"), str(self.dir), str(self.port)],
            env={**os.environ, **self.extra_env},
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
        )
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.strip()[-2000:])
        for line in proc.stdout.splitlines():
            if line.startswith("export ") and "=" in line:
                name, value = line[len("export ") :].split("=", 1)
                self.env[name] = value.strip("'\"").replace("\\", "")

    def stop(self) -> None:
        subprocess.run(["bash", str(SERVICES / "stop-sshd.sh"), str(self.dir)], capture_output=True, timeout=60)

    def __getattr__(self, name: str) -> str:  # sshd.KEY -> env["SSHD_KEY"]
        try:
            return self.__dict__["env"][f"SSHD_{name}"]
        except KeyError:
            raise AttributeError(name) from None

    def profile(self, user: str = "root", **extra) -> dict:
        """A remote_profile for a key login as ``user``, host keys checked strictly against the server's file."""
        profile = {
            "hostname": "127.0.0.1",
            "port": self.port,
            "username": user,
            "key_filename": self.KEY,
            "known_hosts": self.KNOWN_HOSTS,
            "strict_host_key_checking": True,
            "look_for_keys": False,
            "allow_agent": False,
            "reconnect_attempts": 8,
            "reconnect_max_delay": 4,
        }
        profile.update(extra)
        return {k: v for k, v in profile.items() if v is not None}


@contextlib.contextmanager
def _running(name: str, extra_env: dict[str, str]):
    """A private sshd for the session, stopped and removed afterwards (or a skip/fail if it cannot start)."""
    if os.geteuid() != 0:
        skip_or_fail(
            "ssh",
            "start-sshd.sh needs root: it installs openssh-server with apt-get, creates the system user dpdtest "
            "and writes /etc/pam.d/sshd-dpdtotp",
        )
    if not shutil.which("bash"):
        skip_or_fail("ssh", "bash not found")
    # not under pytest's 0700 tmp dirs: the test user must read its authorized_keys there
    state_dir = Path(tempfile.mkdtemp(prefix=f"dpd-{name}-", dir="/tmp"))
    server = SSHD(state_dir, free_port(), extra_env)
    try:
        try:
            server.start()
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as err:
            skip_or_fail("ssh", f"start-sshd.sh ({name}) failed: {err}")
        yield server
    finally:
        server.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def sshd():
    with _running("sshd", {}) as server:
        yield server


@pytest.fixture(scope="session")
def sshd_totp():
    with _running("sshd-totp", {"SSHD_TOTP": "1"}) as server:
        if not server.env.get("SSHD_TOTP_SECRET"):
            skip_or_fail("ssh", "the TOTP sshd gave no SSHD_TOTP_SECRET")
        yield server


@pytest.fixture(scope="session")
def jump_sshd():
    with _running("jump", {}) as server:
        yield server


@pytest.fixture
def user_remote_root():
    """A remote root the (non-root) test user may write to."""
    path = tempfile.mkdtemp(prefix="dpd-ssh-user-", dir="/tmp")
    os.chmod(path, 0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)
