"""A real Grid Engine cell for the SGE plugin's tests, and wrappers that count and break scheduler commands.

The session fixture uses the cell named by ``SGE_ROOT`` if ``qstat`` answers there;
otherwise it starts one with ``tests/services/start-sge.sh`` in a temporary
directory (on free ports), exports its environment for the session and stops it
at the end. When neither works the tests skip, or fail if CI listed ``sge`` in
``DPDISPATCHER_REQUIRE_SERVICES``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import CommandWrappers, free_port, skip_or_fail

SERVICES = Path(__file__).resolve().parents[1] / "services"
#: Grid Engine's own binaries (other qsub/qstat, e.g. Torque-style wrappers, may be on PATH)
SGEBIN = "/usr/lib/gridengine"
COMMANDS = ("qsub", "qstat", "qacct", "qdel")
#: bound on one start (the first one may apt-get install gridengine-*)
START_TIMEOUT = 600
EXPORTED = ("SGE_ROOT", "SGE_CELL", "SGE_QMASTER_PORT", "SGE_EXECD_PORT", "PATH")


def _qstat_answers(env: dict[str, str]) -> bool:
    qstat = shutil.which("qstat", path=env.get("PATH"))
    if not qstat or not env.get("SGE_ROOT"):
        return False
    try:
        proc = subprocess.run([qstat, "-xml"], env=env, capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and "<job_info" in proc.stdout


def _exports(stdout: str) -> dict[str, str]:
    """``{name: value}`` of the ``export NAME=value`` lines start-sge.sh printed (``$PATH`` expanded)."""
    found = {}
    for line in stdout.splitlines():
        if line.startswith("export ") and "=" in line:
            name, value = line[len("export ") :].split("=", 1)
            found[name] = value.replace("$PATH", os.environ.get("PATH", ""))
    return found


@pytest.fixture(scope="session")
def sge_cell() -> Iterator[str]:
    """SGE_ROOT of a running cell (its settings exported in os.environ for the whole session)."""
    if _qstat_answers(dict(os.environ)):
        yield os.environ["SGE_ROOT"]
        return
    if os.geteuid() != 0:
        skip_or_fail("sge", "starting a cell needs root: start-sge.sh installs gridengine-* with apt-get")
    state_dir = Path(tempfile.mkdtemp(prefix="dpd-sge-"))
    env = {
        **os.environ,
        "SGE_QMASTER_PORT": str(free_port()),
        "SGE_EXECD_PORT": str(free_port()),
        "SGE_SLOTS": os.environ.get("SGE_SLOTS", "8"),
    }
    try:
        proc = subprocess.run(
            ["bash", str(SERVICES / "start-sge.sh"), str(state_dir)],
            env=env,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        _stop(state_dir)
        skip_or_fail("sge", f"start-sge.sh did not finish: {err}")
    if proc.returncode != 0:
        _stop(state_dir)
        skip_or_fail("sge", f"start-sge.sh failed: {proc.stderr.strip()[-2000:]}")
    exports = _exports(proc.stdout)
    old = {name: os.environ.get(name) for name in EXPORTED}
    os.environ.update({name: exports[name] for name in EXPORTED if name in exports})
    try:
        if not _qstat_answers(dict(os.environ)):
            skip_or_fail("sge", f"the cell started in {state_dir} does not answer qstat")
        yield os.environ["SGE_ROOT"]
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _stop(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)


def _stop(state_dir: Path) -> None:
    try:
        subprocess.run(["bash", str(SERVICES / "stop-sge.sh"), str(state_dir)], capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        pass


class SGECommands(CommandWrappers):
    """Logging, fault-injecting wrappers of qsub/qstat/qacct/qdel (see :class:`helpers.CommandWrappers`)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, {cmd: f"{SGEBIN}/{cmd}" for cmd in COMMANDS})


@pytest.fixture
def sge_commands(sge_cell, tmp_path, monkeypatch) -> SGECommands:
    commands = SGECommands(tmp_path / "wrappers")
    monkeypatch.setenv("PATH", commands.path)
    return commands


@pytest.fixture(scope="session")
def sge_sshd():
    """A private sshd on 127.0.0.1 for the end-to-end SSH run (tests/ssh/conftest.py's server, started for us)."""
    try:
        from ssh.conftest import _running  # tests/ssh: a namespace package under the tests directory
    except ImportError as err:
        pytest.skip(f"the ssh test fixtures cannot be imported: {err}")
    pytest.importorskip("dpdispatcher_ssh", reason="the dpdispatcher-ssh plugin is not installed")
    with _running("sge-sshd", {}) as server:
        yield server
