"""Thousands of one-task jobs through Shell over SSH (a real sshd), under a 200-character remote root."""

from __future__ import annotations

import pytest
from helpers import one_task_jobs, one_task_outputs
from test_ssh_context import ssh_machine

pytestmark = [pytest.mark.ssh, pytest.mark.slow]

LONG = "r" * 200


@pytest.mark.parametrize("n", [1000, 10_000])
def test_one_task_jobs_complete_over_ssh_under_a_long_root(tmp_path, sshd, n):
    remote_root = tmp_path / LONG / "remote"
    machine = ssh_machine(tmp_path, sshd.profile(), remote_root=str(remote_root))
    submission = one_task_jobs(tmp_path / "local", n)
    submission.bind_machine(machine).run_submission()
    assert one_task_outputs(tmp_path / "local") == sorted(f"{i}\n" for i in range(n))
    assert not any(remote_root.iterdir())  # the job root was removed
    assert machine.context.session.connections_opened == 1
    machine.context.close()
