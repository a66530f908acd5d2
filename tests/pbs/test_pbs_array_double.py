"""The PBSJobArray batch type against the project's PBS Pro TEST DOUBLE (``qsub -J``, $PBS_ARRAY_INDEX, subjobs)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from scheduler_kit import BOUND, CHECK_INTERVAL, make_submission, outputs, scheduler_machine

from dpdispatcher import Machine, Submission
from dpdispatcher.errors import SubmissionFailedError
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.testing import MachineContract

pytestmark = pytest.mark.pbs


def array_machine(tmp_path: Path, **extra) -> Machine:
    return scheduler_machine(tmp_path, "PBSJobArray", **extra)


def array_submission(machine: Machine, commands: list[str], size: int = 1, **resources) -> Submission:
    """All tasks in one job (group_size 0), ``size`` tasks per array element."""
    return make_submission(machine, commands, group_size=0, kwargs={"pbs_job_size": size}, **resources)


class TestPBSJobArrayContractAgainstThePBSDouble(MachineContract):
    #: every subjob is a python runner and a bash script on a 2-core machine
    many_jobs = 100
    wait_bound = BOUND

    @pytest.fixture
    def machine(self, pbs_double, tmp_path):
        return array_machine(tmp_path)


def test_subjobs_run_their_slices_against_the_pbs_double(pbs_double, tmp_path):
    machine = array_machine(tmp_path)
    command = 'echo "$PBS_JOBID $PBS_ARRAY_INDEX" > index.txt; cat in.txt > out.txt'
    submission = array_submission(machine, [command] * 5, size=2)
    submission.run_submission(check_interval=CHECK_INTERVAL, clean=False)
    assert outputs(machine, 5) == [f"input {i}\n" for i in range(5)]
    (job,) = submission.belonging_jobs
    assert pbs_double.calls("qsub") == [["-J", "0-2", job.script_file_name]]
    assert job.job_id.endswith("[].pbs01")
    subjobs = pbs_double.jobs()
    assert sorted(s.extra["index"] for s in subjobs) == [0, 1, 2]
    assert {s.extra["array_id"] for s in subjobs} == {job.job_id}
    remote = Path(machine.context.remote_root)
    number = job.job_id.split("[", 1)[0]
    for position, task in enumerate(job.job_task_list):
        index = position // 2
        index_txt = (remote / task.task_work_path / "index.txt").read_text().split()
        assert index_txt == [f"{number}[{index}].pbs01", str(index)]
    for index in (0, 1, 2):
        assert (remote / f"{job.job_hash}_{index}.out").exists()
    present = {p.name for p in remote.iterdir() if p.name.startswith(job.job_hash + "_")}
    assert present - {job.finish_tag, job.job_id_file} <= set(machine.generated_files(job))


def test_only_unfinished_subjobs_run_again_against_the_pbs_double(pbs_double, tmp_path):
    machine = array_machine(tmp_path)
    fails_once = "echo run >> runs.txt; if [ $(wc -l < runs.txt) -eq 1 ]; then exit 5; fi; cat in.txt > out.txt"
    plain = "echo run >> runs.txt; cat in.txt > out.txt"
    commands = [plain] * 6
    commands[1] = commands[4] = fails_once
    submission = array_submission(machine, commands)
    submission.run_submission(check_interval=CHECK_INTERVAL, clean=False)
    assert outputs(machine, 6) == [f"input {i}\n" for i in range(6)]
    (job,) = submission.belonging_jobs
    failed = sorted(i for i, t in enumerate(job.job_task_list) if t.task_work_path in ("t1/", "t4/"))
    again = f"{failed[0]}-{failed[1]}" + (f":{failed[1] - failed[0]}" if failed[1] - failed[0] > 1 else "")
    calls = pbs_double.calls("qsub")
    assert calls == [["-J", "0-5", job.script_file_name], ["-J", again, job.script_file_name]]
    assert job.fail_count == 1
    remote = Path(machine.context.remote_root)
    runs = {t.task_work_path: (remote / t.task_work_path / "runs.txt").read_text() for t in job.job_task_list}
    assert runs == {f"t{i}/": "run\nrun\n" if i in (1, 4) else "run\n" for i in range(6)}  # the others not again


def test_one_unfinished_subjob_is_a_range_of_one_against_the_pbs_double(pbs_double, tmp_path):
    machine = array_machine(tmp_path)
    fails_once = "echo run >> runs.txt; if [ $(wc -l < runs.txt) -eq 1 ]; then exit 5; fi; cat in.txt > out.txt"
    plain = "echo run >> runs.txt; cat in.txt > out.txt"
    submission = array_submission(machine, [plain, fails_once, plain])
    submission.run_submission(check_interval=CHECK_INTERVAL, clean=False)
    (job,) = submission.belonging_jobs
    failed = next(i for i, t in enumerate(job.job_task_list) if t.task_work_path == "t1/")
    assert pbs_double.calls("qsub")[1] == ["-J", f"{failed}-{failed + 1}:2", job.script_file_name]
    assert len(pbs_double.jobs()) == 3 + 1  # the resubmitted array has that one subjob
    remote = Path(machine.context.remote_root)
    runs = {t.task_work_path: (remote / t.task_work_path / "runs.txt").read_text() for t in job.job_task_list}
    assert runs == {"t0/": "run\n", "t1/": "run\nrun\n", "t2/": "run\n"}


def test_failing_subjob_is_named_against_the_pbs_double(pbs_double, tmp_path):
    machine = array_machine(tmp_path, retry_count=0)
    submission = array_submission(machine, ["cat in.txt > out.txt", "echo bad-deck >&2; exit 4"])
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=CHECK_INTERVAL)
    (job,) = submission.belonging_jobs
    index = next(i for i, t in enumerate(job.job_task_list) if t.task_work_path == "t1/")
    number = job.job_id.split("[", 1)[0]
    assert f"PBS job {number}[{index}].pbs01 exited with status 1 (a task failed)" in str(err.value), str(err.value)
    assert "bad-deck" in str(err.value)


def test_array_is_running_while_a_subjob_runs_against_the_pbs_double(pbs_double, tmp_path):
    machine = array_machine(tmp_path)
    submission = array_submission(machine, ["cat in.txt > out.txt", "sleep 3; cat in.txt > out.txt"])
    submission.run_submission(exit_on_submit=True)
    jobs = submission.belonging_jobs
    seen = []
    deadline = time.monotonic() + BOUND
    while not seen or seen[-1] != JobStatus.finished:
        assert time.monotonic() < deadline, seen
        seen += machine.check_statuses(jobs)
        time.sleep(0.1)
    assert set(seen) <= {JobStatus.waiting, JobStatus.running, JobStatus.finished}
    # the first subjob ends at once, the array runs on while the other sleeps
    assert JobStatus.running in seen
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 2) == ["input 0\n", "input 1\n"]


def test_lost_qsub_answer_adopts_the_array_against_the_pbs_double(pbs_double, tmp_path):
    machine = array_machine(tmp_path)
    pbs_double.answer("qsub", pbs_double.front.Answer(stderr="qsub: End of File\n", code=1), after=True)
    submission = array_submission(machine, ["cat in.txt > out.txt"] * 3)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 3) == [f"input {i}\n" for i in range(3)]
    assert len(pbs_double.calls("qsub")) == 1  # adopted by its output path (name, then Output_Path)
    assert len(pbs_double.jobs()) == 3
