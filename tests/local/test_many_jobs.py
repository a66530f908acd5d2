"""Thousands of one-task jobs, the commonest workload, complete through Shell with the local contexts.

The job root lies under a 200-character path, so every command that names jobs or files is long.
"""

from __future__ import annotations

import pytest
from helpers import one_task_jobs, one_task_outputs

from dpdispatcher import Machine

LONG = "d" * 200


@pytest.mark.slow
@pytest.mark.parametrize(
    ("context_type", "n"),
    # 10,000 once: past 1,000 a LocalContext run only adds file-system time (the command budget for 100,000
    # jobs is tests/core/test_command_budget.py's)
    [("LocalContext", 1000), ("LazyLocalContext", 1000), ("LazyLocalContext", 10_000)],
)
def test_one_task_jobs_complete_under_a_long_root(tmp_path, context_type, n):
    local_root = tmp_path / LONG / "local"  # LazyLocalContext runs in the work base itself
    remote_root = tmp_path / LONG / "remote"
    submission = one_task_jobs(local_root, n)
    machine = Machine.load_from_dict(
        {
            "batch_type": "Shell",
            "context_type": context_type,
            "local_root": str(local_root),
            "remote_root": str(remote_root),
        }
    )
    submission.bind_machine(machine).run_submission()
    assert one_task_outputs(local_root) == sorted(f"{i}\n" for i in range(n))
    # nothing of the run is left: the job root is gone, or only the user's files remain in the work base
    assert not remote_root.exists() or not any(remote_root.iterdir())
    assert [p.name for p in (local_root / "wb").iterdir() if p.is_file()] == []
