"""Fixtures of the PBS plugin's tests: the PBS Pro TEST DOUBLE, and Slurm's Torque wrappers over a real Slurm.

* ``pbs_double``: the project's PBS Pro double (tests/doubles) first on PATH, with a
  fresh state directory; every job it started is killed when the test ends.
* ``torque``: Debian's ``slurm-wlm-torque`` wrappers (``qsub``/``qstat``/``qdel``) in a
  private bin directory first on PATH, logging each call, over the real Slurm cluster
  of ``slurm_cluster`` (the fixture of tests/slurm/conftest.py, imported from there).
* ``torque_sshd``: a private sshd on 127.0.0.1 (tests/ssh/conftest.py's server) for the
  Torque run over SSHContext.
  The wrappers are unpacked from the package by get-torque-wrappers.sh when missing
  (the package conflicts with gridengine-client); without them the Torque tests skip
  (or fail when CI requires ``slurm``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from doubles.fixture import SchedulerDouble
from helpers import skip_or_fail

_SLURM_CONFTEST = Path(__file__).resolve().parents[1] / "slurm" / "conftest.py"
_spec = importlib.util.spec_from_file_location("dpd_tests_slurm_conftest", _SLURM_CONFTEST)
assert _spec is not None and _spec.loader is not None
_slurm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_slurm)

#: the real Slurm cluster of the Slurm tests (one source: tests/slurm/conftest.py)
slurm_cluster = _slurm.slurm_cluster

HERE = Path(__file__).resolve().parent
#: a directory holding Slurm's Torque wrappers (qsub, qstat, qdel), if not the installed package's
WRAPPERS_ENV = "DPD_TORQUE_WRAPPERS"
#: where get-torque-wrappers.sh unpacks them when neither is there
WRAPPERS_CACHE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dpdispatcher-tests" / "slurm-wlm-torque"
)
TORQUE_COMMANDS = ("qsub", "qstat", "qdel")


@pytest.fixture
def pbs_double(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SchedulerDouble]:
    with SchedulerDouble.started("pbs", tmp_path / "pbs-double") as double:
        double.activate(monkeypatch)
        yield double


def _is_wrapper_dir(directory: Path) -> bool:
    try:
        return "sbatch" in (directory / "qsub").read_text(errors="replace")  # Slurm's wrapper, not a real qsub
    except OSError:
        return False


def find_torque_wrappers() -> Path | None:
    """The directory of Slurm's Torque wrappers: $DPD_TORQUE_WRAPPERS, the installed package, or the test cache."""
    given = os.environ.get(WRAPPERS_ENV)
    candidates = [Path(given)] if given else []
    found = shutil.which("qsub")
    if found:
        candidates.append(Path(found).resolve().parent)
    candidates.append(WRAPPERS_CACHE / "usr" / "bin")
    return next((d for d in candidates if _is_wrapper_dir(d)), None)


@pytest.fixture(scope="session")
def torque_wrappers() -> Path:
    """Slurm's Torque wrappers; fetched into the test cache by get-torque-wrappers.sh when missing.

    The package itself is not installed: slurm-wlm-torque conflicts with gridengine-client,
    which the SGE tests install on the same machine.
    """
    found = find_torque_wrappers()
    if found is None:
        try:
            proc = subprocess.run(
                ["bash", str(HERE / "get-torque-wrappers.sh"), str(WRAPPERS_CACHE)],
                capture_output=True,
                text=True,
                timeout=600,
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            skip_or_fail("slurm", f"get-torque-wrappers.sh did not finish: {err}")
        if proc.returncode != 0:
            skip_or_fail("slurm", f"Slurm's Torque wrappers are missing: {proc.stderr.strip()[-1000:]}")
        found = find_torque_wrappers()
    if found is None:
        skip_or_fail("slurm", "Slurm's Torque wrappers are missing")
        raise AssertionError("unreachable")
    return found


class TorqueCommands:
    """Slurm's qsub/qstat/qdel wrappers first on PATH, each call logged.

    The wrappers find ``sbatch`` next to themselves (perl's ``$FindBin::Bin``), so they are
    linked into a private directory together with the real ``sbatch``; logging shims in
    front of them count the calls.
    """

    def __init__(self, root: Path, wrappers: Path) -> None:
        self.real = root / "real"
        self.bin = root / "bin"
        self.logs = root / "logs"
        for d in (self.real, self.bin, self.logs):
            d.mkdir(parents=True)
        sbatch = shutil.which("sbatch")
        assert sbatch, "sbatch not found"
        (self.real / "sbatch").symlink_to(sbatch)
        for cmd in TORQUE_COMMANDS:
            (self.real / cmd).symlink_to(wrappers / cmd)
            shim = self.bin / cmd
            shim.write_text(f'#!/bin/bash\nprintf "%s\\n" "$*" >> {self.logs / cmd}\nexec {self.real / cmd} "$@"\n')
            shim.chmod(0o755)
        self.path = f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}"

    def calls(self, cmd: str) -> list[str]:
        log = self.logs / cmd
        return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def torque(
    slurm_cluster: str, torque_wrappers: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> TorqueCommands:
    commands = TorqueCommands(tmp_path / "torque", torque_wrappers)
    monkeypatch.setenv("PATH", commands.path)
    return commands


@pytest.fixture(scope="session")
def torque_sshd() -> Iterator[Any]:
    """A private sshd on 127.0.0.1 for the Torque run over SSH (tests/ssh/conftest.py's server, started for us)."""
    try:
        from ssh.conftest import _running  # tests/ssh: a namespace package under the tests directory
    except ImportError as err:
        pytest.skip(f"the ssh test fixtures cannot be imported: {err}")
    pytest.importorskip("dpdispatcher_ssh", reason="the dpdispatcher-ssh plugin is not installed")
    with _running("torque-sshd", {}) as server:
        yield server
