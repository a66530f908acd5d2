"""The Slurm plugin against a real Slurm cluster (started by tests/services/start-slurm.sh)."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Callable

import pytest
from scheduler_kit import count_polls, make_submission, outputs, scheduler_machine

from dpdispatcher.errors import SubmissionFailedError
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.testing import MachineContract, wait_until

pytestmark = pytest.mark.slurm

CHECK_INTERVAL = 1
#: upper bound for any wait on the cluster (seconds)
BOUND = 120


def wait_for(predicate: Callable[[], bool], what: str, bound: float = BOUND) -> None:
    wait_until(predicate, what, bound)


def job_id_files(remote: Path) -> list[str]:
    return glob.glob(str(remote / "*" / "*_job_id"))


def slow_task_started(remote: Path, slow: str, quick: str) -> Callable[[], bool]:
    """True once task dir ``slow`` logged its first run and the two task dirs of glob ``quick`` their output."""

    def ready() -> bool:
        return bool(
            glob.glob(str(remote / "*" / slow / "runs.txt"))
            and len(glob.glob(str(remote / "*" / quick / "out.txt"))) == 2
        )

    return ready


class OutsideCancel:
    """``scancel`` the run's job from another thread, as a user would, once ``ready()`` holds and its id is recorded.

    ``target(job_id)`` is what scancel is given (e.g. one array element); :meth:`join` returns it once done.
    """

    def __init__(self, remote: Path, what: str, ready=lambda: True, target=lambda job_id: job_id) -> None:
        self.cancelled: list[str] = []
        self._args = (remote, what, ready, target)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        remote, what, ready, target = self._args
        wait_for(lambda: ready() and job_id_files(remote), what)
        name = target(Path(job_id_files(remote)[0]).read_text().strip())
        subprocess.run(["scancel", name], check=True, timeout=30)
        self.cancelled.append(name)

    def join(self) -> list[str]:
        self.thread.join(timeout=BOUND)
        return self.cancelled


COPY = "cat in.txt > out.txt"


# -- contract ------------------------------------------------------------------------------


#: jobs in the contract's many-jobs test: the single-node test cluster starts a few jobs a second
SLURM_MANY_JOBS = 100


class TestSlurmContract(MachineContract):
    many_jobs = SLURM_MANY_JOBS

    @pytest.fixture
    def machine(self, slurm_cluster, tmp_path):
        return scheduler_machine(tmp_path, "Slurm")


class TestSlurmJobArrayContract(MachineContract):
    resources_dict = {**MachineContract.resources_dict, "group_size": 3, "kwargs": {"slurm_job_size": 2}}
    many_jobs = SLURM_MANY_JOBS

    @pytest.fixture
    def machine(self, slurm_cluster, tmp_path):
        return scheduler_machine(tmp_path, "SlurmJobArray")


# -- runs ----------------------------------------------------------------------------------


def test_several_jobs_finish_and_bring_files_back(slurm_commands, tmp_path):
    machine = scheduler_machine(tmp_path, "Slurm")
    submission = make_submission(machine, [COPY] * 6, group_size=2)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 6) == [f"input {i}\n" for i in range(6)]
    assert all(job.job_state == JobStatus.finished for job in submission.belonging_jobs)
    assert slurm_commands.count("sbatch") == 3


def test_one_squeue_per_poll_whatever_the_number_of_jobs(slurm_commands, tmp_path):
    machine = scheduler_machine(tmp_path, "Slurm")
    submission = make_submission(machine, ["sleep 1; " + COPY] * 16)
    polls = count_polls(machine)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 16) == [f"input {i}\n" for i in range(16)]
    assert max(polls) == 16  # the first poll asked about all jobs at once
    assert slurm_commands.count("squeue") == len(polls)
    assert all(len(call.split("-j ", 1)[1].split(",")) == n for call, n in zip(slurm_commands.calls("squeue"), polls))
    assert slurm_commands.count("sacct") <= 1  # without accounting it is asked once, then never again
    assert slurm_commands.count("sbatch") == 16


def test_job_array_runs_each_slice_once(slurm_commands, tmp_path):
    machine = scheduler_machine(tmp_path, "SlurmJobArray")
    command = 'echo "$SLURM_ARRAY_TASK_ID" >> runs.txt; ' + COPY
    submission = make_submission(machine, [command] * 5, group_size=5, kwargs={"slurm_job_size": 2})
    submission.run_submission(check_interval=CHECK_INTERVAL, clean=False)
    assert outputs(machine, 5) == [f"input {i}\n" for i in range(5)]
    assert slurm_commands.calls("sbatch") == [f"--parsable --array=0-2 {submission.belonging_jobs[0].script_file_name}"]
    (job,) = submission.belonging_jobs
    for index, tasks in enumerate(machine.elements(job)):
        for task in tasks:
            runs = Path(machine.context.remote_root, task.task_work_path, "runs.txt").read_text()
            assert runs == f"{index}\n"


def test_job_array_resubmits_only_unfinished_elements(slurm_commands, tmp_path):
    machine = scheduler_machine(tmp_path, "SlurmJobArray")
    flaky = "echo run >> runs.txt; if [ ! -e ../tried ]; then touch ../tried; exit 1; fi; " + COPY
    commands = ["echo run >> runs.txt; " + COPY] * 5
    commands[3] = flaky
    submission = make_submission(machine, commands, group_size=5, kwargs={"slurm_job_size": 2})
    submission.run_submission(check_interval=CHECK_INTERVAL, clean=False)
    assert outputs(machine, 5) == [f"input {i}\n" for i in range(5)]
    (job,) = submission.belonging_jobs
    flaky_index = next(i for i, tasks in enumerate(machine.elements(job)) if any(t.command == flaky for t in tasks))
    calls = slurm_commands.calls("sbatch")
    assert len(calls) == 2
    assert calls[1].startswith(f"--parsable --array={flaky_index} ")
    for task in job.job_task_list:
        runs = Path(machine.context.remote_root, task.task_work_path, "runs.txt").read_text()
        assert runs == ("run\nrun\n" if task.command == flaky else "run\n")


def test_failing_task_is_retried_then_reported_with_its_errlog(slurm_commands, tmp_path):
    machine = scheduler_machine(tmp_path, "Slurm", retry_count=1)
    bad = "echo broken-input-deck >&2; exit 3"
    submission = make_submission(machine, [COPY, bad, COPY], group_size=3)
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=CHECK_INTERVAL)
    message = str(err.value)
    assert os.path.join(machine.context.local_root, "t1/") in message
    assert "broken-input-deck" in message
    assert "exit code 3" in message
    assert slurm_commands.count("sbatch") == 2  # first run + retry_count=1
    assert outputs(machine, 1) == ["input 0\n"]  # the good tasks' results are downloaded
    assert (Path(machine.context.local_root) / "t2" / "out.txt").exists()


def test_job_cancelled_outside_is_resubmitted_and_only_unfinished_tasks_rerun(slurm_commands, tmp_path):
    machine = scheduler_machine(tmp_path, "Slurm")
    slow_once = "echo run >> runs.txt; if [ $(wc -l < runs.txt) -eq 1 ]; then sleep 300; fi; " + COPY
    quick = "echo run >> runs.txt; " + COPY
    submission = make_submission(machine, [quick, quick, slow_once], group_size=3, para_deg=3)
    remote = tmp_path / "remote"
    canceller = OutsideCancel(remote, "the slow task to start", slow_task_started(remote, "t2", "t[01]"))
    submission.run_submission(check_interval=CHECK_INTERVAL, clean=False)
    assert canceller.join(), "the job was never cancelled"
    assert outputs(machine, 3) == [f"input {i}\n" for i in range(3)]
    assert slurm_commands.count("sbatch") == 2
    runs = [(remote / submission.submission_hash / f"t{i}" / "runs.txt").read_text() for i in range(3)]
    assert runs == ["run\n", "run\n", "run\nrun\n"]
    (job,) = submission.belonging_jobs
    assert job.fail_count == 1


DRIVER = """
import sys
from pathlib import Path
from dpdispatcher import Machine, Resources, Submission, Task

root = Path(sys.argv[1])
machine = Machine.load_from_dict({"batch_type": "Slurm", "context_type": "LocalContext",
    "local_root": str(root / "local"), "remote_root": str(root / "remote")})
tasks = []
for i in range(4):
    (root / "local" / "wb" / f"t{i}").mkdir(parents=True, exist_ok=True)
    (root / "local" / "wb" / f"t{i}" / "in.txt").write_text(f"input {i}\\n")
    tasks.append(Task(command="sleep 4; cat in.txt > out.txt", task_work_path=f"t{i}/",
                      forward_files=["in.txt"], backward_files=["out.txt"]))
resources = Resources.load_from_dict({"number_node": 1, "cpu_per_node": 1, "gpu_per_node": 0,
    "queue_name": "", "group_size": 1, "batch_type": "Slurm"})
Submission("wb", machine=machine, resources=resources, task_list=tasks).run_submission(check_interval=1)
print("DRIVER DONE")
"""


def test_killed_driver_rerun_adopts_queued_jobs(slurm_commands, tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(DRIVER))
    env = dict(os.environ)
    first = subprocess.Popen([sys.executable, str(script), str(tmp_path)], env=env, start_new_session=True)
    try:
        wait_for(lambda: slurm_commands.count("sbatch") == 4, "the 4 jobs to be submitted")
        wait_for(lambda: len(glob.glob(str(tmp_path / "remote" / "*" / "*_job_id"))) == 4, "the 4 job ids")
        ids = [Path(p).read_text().strip() for p in glob.glob(str(tmp_path / "remote" / "*" / "*_job_id"))]
        queued = subprocess.run(
            ["squeue", "-h", "-o", "%i", "-j", ",".join(ids)], capture_output=True, text=True, timeout=30
        )
        assert sorted(queued.stdout.split()) == sorted(ids)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    second = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], env=env, capture_output=True, text=True, timeout=BOUND
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert "DRIVER DONE" in second.stdout
    assert slurm_commands.count("sbatch") == 4  # adopted, not submitted again
    wb = tmp_path / "local" / "wb"
    assert [(wb / f"t{i}" / "out.txt").read_text() for i in range(4)] == [f"input {i}\n" for i in range(4)]


def test_transient_errors_are_retried_and_the_run_goes_on(slurm_commands, tmp_path):
    machine = scheduler_machine(tmp_path, "Slurm")
    slurm_commands.fail(
        "sbatch", 2, "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation"
    )
    submission = make_submission(machine, [COPY] * 3)
    polls = count_polls(machine)
    original_check = machine.check_statuses

    armed: list[int] = []

    def fail_first_squeue(jobs):
        if len(polls) == 1:
            slurm_commands.fail("squeue", 1, "squeue: error: Unable to contact slurm controller (connect failure)")
            armed.append(len(polls))
        return original_check(jobs)

    machine.check_statuses = fail_first_squeue
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert armed, "the run ended before a second poll: the squeue failure was never tried"
    assert slurm_commands.faults_left("squeue") == 0 and slurm_commands.faults_left("sbatch") == 0
    assert outputs(machine, 3) == [f"input {i}\n" for i in range(3)]
    # 2 refused + 3 accepted; the refused ones were checked for a job that landed anyway (squeue -u)
    assert slurm_commands.count("sbatch") == 5
    assert all(job.job_state == JobStatus.finished for job in submission.belonging_jobs)


def test_qos_limit_refusal_is_retried(slurm_commands, tmp_path):
    machine = scheduler_machine(tmp_path, "Slurm")
    slurm_commands.fail(
        "sbatch",
        1,
        "sbatch: error: QOSMaxSubmitJobPerUserLimit\nsbatch: error: Batch job submission failed: "
        "Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)",
    )
    submission = make_submission(machine, [COPY])
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 1) == ["input 0\n"]
    assert slurm_commands.count("sbatch") == 2


def test_cancelled_job_is_named_in_the_error(slurm_commands, tmp_path):
    machine = scheduler_machine(tmp_path, "Slurm", retry_count=0)
    submission = make_submission(machine, ["sleep 300"])
    canceller = OutsideCancel(tmp_path / "remote", "the job id")
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=CHECK_INTERVAL)
    assert canceller.join(), "the job was never cancelled"
    assert "was cancelled" in str(err.value)


def test_kill_uses_scancel(slurm_commands, tmp_path):
    machine = scheduler_machine(tmp_path, "Slurm")
    submission = make_submission(machine, ["sleep 300"] * 2)
    submission.run_submission(exit_on_submit=True)
    jobs = submission.belonging_jobs
    for job in jobs:
        machine.kill(job)
    wait_for(lambda: all(s == JobStatus.terminated for s in machine.check_statuses(jobs)), "the jobs to end")
    assert slurm_commands.count("scancel") == 2
    assert all("cancelled" in machine.describe_failure(job) for job in jobs)


def test_more_jobs_than_a_chunk_still_one_squeue_per_poll(slurm_commands, tmp_path):
    machine = scheduler_machine(tmp_path, "Slurm")
    machine.query_chunk = 3  # 8 jobs: the user's queue is listed instead of naming the ids
    submission = make_submission(machine, [COPY] * 8)
    polls = count_polls(machine)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 8) == [f"input {i}\n" for i in range(8)]
    assert slurm_commands.count("squeue") == len(polls)
    assert any(n > 3 for n in polls)
    for call, n in zip(slurm_commands.calls("squeue"), polls):
        assert ("-u " in call) == (n > 3), call  # named ids up to a chunk, the user's queue beyond


def test_array_element_cancelled_outside_reruns_only_that_element(slurm_commands, tmp_path):
    machine = scheduler_machine(tmp_path, "SlurmJobArray")
    slow_once = "echo run >> runs.txt; if [ $(wc -l < runs.txt) -eq 1 ]; then sleep 300; fi; " + COPY
    quick = "echo run >> runs.txt; " + COPY
    submission = make_submission(machine, [quick, slow_once, quick], group_size=3, kwargs={"slurm_job_size": 1})
    remote = tmp_path / "remote"

    def slow_index() -> int:
        (job,) = submission.belonging_jobs
        return next(i for i, tasks in enumerate(machine.elements(job)) if tasks[0].command == slow_once)

    canceller = OutsideCancel(
        remote,
        "the slow element to start",
        slow_task_started(remote, "t1", "t[02]"),
        target=lambda job_id: f"{job_id}_{slow_index()}",
    )
    submission.run_submission(check_interval=CHECK_INTERVAL, clean=False)
    assert canceller.join(), "the element was never cancelled"
    assert outputs(machine, 3) == [f"input {i}\n" for i in range(3)]
    calls = slurm_commands.calls("sbatch")
    assert len(calls) == 2 and calls[1].startswith(f"--parsable --array={slow_index()} ")
    runs = [(remote / submission.submission_hash / f"t{i}" / "runs.txt").read_text() for i in range(3)]
    assert runs == ["run\n", "run\nrun\n", "run\n"]


def test_ratio_unfinished_scancels_the_stragglers(slurm_commands, tmp_path):
    machine = scheduler_machine(tmp_path, "Slurm")
    submission = make_submission(machine, [COPY, COPY, COPY, "sleep 300"], strategy={"ratio_unfinished": 0.25})
    started = time.monotonic()
    submission.run_submission(check_interval=CHECK_INTERVAL, clean=False)
    assert time.monotonic() - started < BOUND
    assert slurm_commands.count("scancel") == 1
    slow = next(job for job in submission.belonging_jobs if job.job_task_list[0].command == "sleep 300")
    wait_for(lambda: machine.check_statuses([slow]) == [JobStatus.terminated], "the straggler to end")
