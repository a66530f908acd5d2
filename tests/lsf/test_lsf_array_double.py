"""The LSFJobArray batch type against the project's LSF TEST DOUBLE (job arrays: ``-J name[1-N]``, $LSB_JOBINDEX)."""

from __future__ import annotations

from pathlib import Path

import pytest
from scheduler_kit import BOUND, CHECK_INTERVAL, make_submission, outputs, scheduler_machine

from dpdispatcher import Machine, Submission
from dpdispatcher.errors import SubmissionFailedError
from dpdispatcher.testing import MachineContract

pytestmark = pytest.mark.lsf


def array_machine(tmp_path: Path, **extra) -> Machine:
    return scheduler_machine(tmp_path, "LSFJobArray", **extra)


def array_submission(machine: Machine, commands: list[str], size: int = 1, **resources) -> Submission:
    """All tasks in one job (group_size 0), ``size`` tasks per array element."""
    return make_submission(machine, commands, group_size=0, kwargs={"lsf_job_size": size}, **resources)


class TestLSFJobArrayContractAgainstTheLSFDouble(MachineContract):
    many_jobs = 100
    wait_bound = BOUND

    @pytest.fixture
    def machine(self, lsf_double, tmp_path):
        return array_machine(tmp_path)


def test_array_elements_run_their_slices_against_the_lsf_double(lsf_double, tmp_path):
    machine = array_machine(tmp_path)
    command = 'echo "$LSB_JOBID $LSB_JOBINDEX" > index.txt; cat in.txt > out.txt'
    submission = array_submission(machine, [command] * 5, size=2)
    submission.run_submission(check_interval=CHECK_INTERVAL, clean=False)
    assert outputs(machine, 5) == [f"input {i}\n" for i in range(5)]
    (job,) = submission.belonging_jobs
    assert lsf_double.calls("bsub") == [["-J", f"dpd_{job.job_hash}[1-3]"]]
    elements = lsf_double.jobs()
    assert sorted(e.extra["index"] for e in elements) == [1, 2, 3]
    assert {e.job_id for e in elements} == {job.job_id}
    remote = Path(machine.context.remote_root)
    for position, task in enumerate(job.job_task_list):
        index_txt = (remote / task.task_work_path / "index.txt").read_text().split()
        assert index_txt == [job.job_id, str(position // 2 + 1)]
    for index in (1, 2, 3):
        assert (remote / f"{job.job_id}_{index}.out").exists()
    present = {p.name for p in remote.iterdir() if p.name.startswith(job.job_id + "_")}
    assert present <= set(machine.generated_files(job))


def test_only_unfinished_elements_are_resubmitted_against_the_lsf_double(lsf_double, tmp_path):
    machine = array_machine(tmp_path)
    fails_once = "echo run >> runs.txt; if [ $(wc -l < runs.txt) -eq 1 ]; then exit 5; fi; cat in.txt > out.txt"
    plain = "echo run >> runs.txt; cat in.txt > out.txt"
    submission = array_submission(machine, [plain, fails_once, plain, plain])
    submission.run_submission(check_interval=CHECK_INTERVAL, clean=False)
    assert outputs(machine, 4) == [f"input {i}\n" for i in range(4)]
    (job,) = submission.belonging_jobs
    failed = next(i for i, t in enumerate(job.job_task_list, start=1) if t.task_work_path == "t1/")
    calls = lsf_double.calls("bsub")
    assert calls == [["-J", f"dpd_{job.job_hash}[1-4]"], ["-J", f"dpd_{job.job_hash}[{failed}]"]]
    assert job.fail_count == 1
    remote = Path(machine.context.remote_root)
    runs = {t.task_work_path: (remote / t.task_work_path / "runs.txt").read_text() for t in job.job_task_list}
    assert runs == {"t0/": "run\n", "t1/": "run\nrun\n", "t2/": "run\n", "t3/": "run\n"}
    assert len(lsf_double.jobs()) == 5  # 4 elements, then 1


def test_failing_element_is_named_against_the_lsf_double(lsf_double, tmp_path):
    machine = array_machine(tmp_path, retry_count=0)
    submission = array_submission(machine, ["cat in.txt > out.txt", "echo bad-deck >&2; exit 4"])
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=CHECK_INTERVAL)
    (job,) = submission.belonging_jobs
    index = next(i for i, t in enumerate(job.job_task_list, start=1) if t.task_work_path == "t1/")
    assert f"LSF job {job.job_id}[{index}] exited with code 1 (a task failed)" in str(err.value)
    assert "bad-deck" in str(err.value)


def test_lost_bsub_answer_adopts_the_array_against_the_lsf_double(lsf_double, tmp_path):
    machine = array_machine(tmp_path)
    lsf_double.answer("bsub", lsf_double.front.lost_answer(), after=True)
    submission = array_submission(machine, ["cat in.txt > out.txt"] * 3)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 3) == [f"input {i}\n" for i in range(3)]
    assert len(lsf_double.calls("bsub")) == 1  # adopted by name (its elements are listed as name[i])
    assert len(lsf_double.jobs()) == 3
    assert [argv[:2] for argv in lsf_double.calls("bjobs") if "-J" in argv] == [["-a", "-J"]]
