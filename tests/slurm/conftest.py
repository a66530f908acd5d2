"""A real Slurm cluster for the Slurm plugin's tests, and wrappers that count scheduler commands.

The session fixture uses the cluster named by ``SLURM_CONF`` if ``sinfo`` answers;
otherwise it starts one with ``tests/services/start-slurm.sh`` in a temporary
directory (on free ports) and stops it at the end. When neither works the tests
skip, or fail if CI listed ``slurm`` in ``DPDISPATCHER_REQUIRE_SERVICES``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from helpers import CommandWrappers, free_port, skip_or_fail

SERVICES = Path(__file__).resolve().parents[1] / "services"
COMMANDS = ("sbatch", "squeue", "sacct", "scancel")


def _sinfo_answers(env: dict[str, str]) -> bool:
    if not shutil.which("sinfo"):
        return False
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and any(s.startswith(("idle", "mix", "alloc")) for s in proc.stdout.split())


@pytest.fixture(scope="session")
def slurm_cluster():
    """SLURM_CONF of a running cluster (exported in os.environ for the whole session)."""
    if os.environ.get("SLURM_CONF") and _sinfo_answers(dict(os.environ)):
        yield os.environ["SLURM_CONF"]
        return
    if os.geteuid() != 0:
        skip_or_fail("slurm", "starting a cluster needs root: start-slurm.sh installs slurm-wlm and munge with apt-get")
    # not under pytest's tmp dirs: those are 0700 and munged wants every parent of its socket searchable
    state_dir = Path(tempfile.mkdtemp(prefix="dpd-slurm-"))
    env = {
        **os.environ,
        "SLURMCTLD_PORT": str(free_port()),
        "SLURMD_PORT": str(free_port()),
        "SLURM_CPUS": os.environ.get("SLURM_CPUS", "8"),
    }
    try:
        proc = subprocess.run(
            ["bash", str(SERVICES / "start-slurm.sh"), str(state_dir)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        skip_or_fail("slurm", f"start-slurm.sh did not finish: {err}")
    if proc.returncode != 0:
        _stop(state_dir)
        skip_or_fail("slurm", f"start-slurm.sh failed: {proc.stderr.strip()[-2000:]}")
    conf = next(
        (line.split("=", 1)[1] for line in proc.stdout.splitlines() if line.startswith("export SLURM_CONF=")), ""
    )
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = conf
    try:
        if not conf or not _sinfo_answers(dict(os.environ)):
            skip_or_fail("slurm", f"the cluster started in {state_dir} does not answer sinfo")
        yield conf
    finally:
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old
        _stop(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)


def _stop(state_dir: Path) -> None:
    try:
        subprocess.run(["bash", str(SERVICES / "stop-slurm.sh"), str(state_dir)], capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        pass


class SlurmCommands(CommandWrappers):
    """Logging, fault-injecting wrappers of sbatch/squeue/sacct/scancel (see :class:`helpers.CommandWrappers`)."""

    def __init__(self, root: Path) -> None:
        real = {cmd: shutil.which(cmd) for cmd in COMMANDS}
        missing = sorted(cmd for cmd, path in real.items() if path is None)
        if missing:
            raise RuntimeError(f"the Slurm commands {missing} are not on PATH")
        super().__init__(root, {cmd: str(path) for cmd, path in real.items()})


@pytest.fixture
def slurm_commands(slurm_cluster, tmp_path, monkeypatch) -> SlurmCommands:
    commands = SlurmCommands(tmp_path / "wrappers")
    monkeypatch.setenv("PATH", commands.path)
    return commands
