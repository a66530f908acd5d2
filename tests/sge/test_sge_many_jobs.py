"""Hundreds of one-task jobs through the real Grid Engine, under a 200-character job root.

400 jobs: Grid Engine's scheduler runs once a second with 8 slots here, so each hundred costs ~15 s of CI.
"""

from __future__ import annotations

import pytest
from helpers import one_task_jobs, one_task_outputs

from dpdispatcher import Machine

pytestmark = [pytest.mark.sge, pytest.mark.slow]

LONG = "s" * 200
N_JOBS = 400


def test_hundreds_of_one_task_jobs_complete_on_sge(sge_cell, tmp_path):
    remote_root = tmp_path / LONG / "remote"
    machine = Machine.load_from_dict(
        {
            "batch_type": "SGE",
            "context_type": "LocalContext",
            "local_root": str(tmp_path / "local"),
            "remote_root": str(remote_root),
        }
    )
    submission = one_task_jobs(tmp_path / "local", N_JOBS)
    submission.bind_machine(machine).run_submission(check_interval=2)
    assert one_task_outputs(tmp_path / "local") == sorted(f"{i}\n" for i in range(N_JOBS))
    assert not any(remote_root.iterdir())
