"""Two drivers of the same submission started together: one runs, the other is refused with a
SubmissionLockedError naming the holder's host and pid, and nothing runs twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from faults_kit import Workload, pair

pytestmark = pytest.mark.faults

#: tasks long enough that the second driver surely starts while the first one runs
SLEEPS = (1.0, 1.2, 1.4, 1.6)


@pytest.mark.parametrize("attempt", range(5))
def test_two_local_drivers_one_runs_one_is_refused(tmp_path: Path, attempt: int) -> None:
    problems, _ = pair(Workload.with_machine(tmp_path, sleeps=SLEEPS))
    assert not problems, "\n".join(problems)


@pytest.mark.ssh
def test_two_drivers_over_ssh_one_runs_one_is_refused(tmp_path: Path, faults_sshd) -> None:
    workload = Workload.with_machine(tmp_path, context_type="SSHContext", remote_profile=faults_sshd.profile())
    problems, _ = pair(workload)
    assert not problems, "\n".join(problems)


def test_a_lock_whose_owner_is_not_written_yet_is_not_taken_over(tmp_path: Path) -> None:
    """The first driver's lock directory exists 2 s before its owner file (a slow file system, a busy host)."""
    problems, _ = pair(Workload.with_machine(tmp_path, sleeps=SLEEPS), lock_delay=2, stagger=1)
    assert not problems, "\n".join(problems)
