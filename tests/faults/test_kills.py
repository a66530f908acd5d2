"""The driver SIGKILLed at points spread over a run, then re-run: every task once, every output whole,
nothing left behind (Shell + LocalContext at 20 points, Shell over SSH at 6, real Slurm at 5).

Each point hooks one phase in the driver child (see faults_kit.KillPoint); the re-run is a fresh
child without a hook, and must exit 0.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from faults_kit import (
    KILLED,
    LOCAL_POINTS,
    SLURM_POINTS,
    SSH_POINTS,
    KillPoint,
    Workload,
    check,
    drive,
    finish,
    scenario,
    start,
    stray_temporaries,
    survive,
)

pytestmark = pytest.mark.faults


def assert_survives(workload: Workload, points: str) -> None:
    result = survive(workload, scenario(points))
    assert result.kills_landed, "the kill point was not reached:\n" + result.report()
    assert result.survived, result.report()


@pytest.mark.parametrize("points", LOCAL_POINTS)
def test_shell_local_driver_killed(tmp_path: Path, points: str) -> None:
    assert_survives(Workload.with_machine(tmp_path), points)


@pytest.mark.ssh
@pytest.mark.parametrize("points", SSH_POINTS)
def test_shell_over_ssh_driver_killed(tmp_path: Path, faults_sshd, points: str) -> None:
    workload = Workload.with_machine(tmp_path, context_type="SSHContext", remote_profile=faults_sshd.profile())
    assert_survives(workload, points)


@pytest.mark.slurm
@pytest.mark.parametrize("points", SLURM_POINTS)
def test_slurm_driver_killed(tmp_path: Path, slurm_cluster: str, points: str) -> None:
    resources = {"number_node": 1, "cpu_per_node": 1, "gpu_per_node": 0, "queue_name": ""}
    workload = Workload.with_machine(tmp_path, batch_type="Slurm", resources=resources, check_interval=1)
    assert_survives(workload, points)


@pytest.mark.parametrize(
    "points",
    [
        "records.atomic_write_text:torn:2",
        "shutil.copyfile:torn:1",  # the first result coming back (inputs are symlinked by default)
    ],
)
def test_a_write_killed_half_way_leaves_no_temporary_file(tmp_path: Path, points: str) -> None:
    workload = Workload.with_machine(tmp_path)
    assert_survives(workload, points)
    assert not stray_temporaries(workload)


def test_a_rerun_waits_for_the_submit_step_the_killed_driver_left_running(tmp_path: Path) -> None:
    """Each Shell job's id is recorded 4 s after its launch (a slow disk, a slow sbatch); the driver dies
    1.5 s into the submit step and the program is run again at once."""
    workload = Workload.with_machine(tmp_path, sleeps=(3, 3, 3, 3)).prepare()
    killed = finish(start(workload, KillPoint.parse("machine.submit_jobs:during"), slow_launch=4))
    assert killed.returncode == KILLED, killed.describe()
    rerun = drive(workload)
    assert rerun.returncode == 0, rerun.describe()
    verdict = check(workload)
    assert verdict.ok, "\n".join(verdict.problems)
