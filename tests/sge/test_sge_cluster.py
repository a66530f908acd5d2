"""The SGE plugin against a real Grid Engine cell (started by tests/services/start-sge.sh)."""

from __future__ import annotations

import glob
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Callable

import pytest
from scheduler_kit import count_polls, make_submission, outputs

from dpdispatcher import Machine, Resources, Submission, Task
from dpdispatcher.errors import SubmissionFailedError
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.testing import MachineContract, wait_until
from dpdispatcher_sge import SGE, SGEJobArray

pytestmark = pytest.mark.sge

CHECK_INTERVAL = 1
#: upper bound for any wait on the cell (seconds)
BOUND = 120
COPY = "cat in.txt > out.txt"


def sge_machine(tmp_path: Path, batch_type: str = "SGE", **extra) -> SGE:
    machine = Machine.load_from_dict(
        {
            "batch_type": batch_type,
            "context_type": "LocalContext",
            "local_root": str(tmp_path / "local"),
            "remote_root": str(tmp_path / "remote"),
            **extra,
        }
    )
    assert isinstance(machine, SGE)
    machine.retry_delay = 0.05  # transient-trouble backoff, kept short for the tests
    return machine


def wait_for(predicate: Callable[[], bool], what: str, bound: float = BOUND) -> None:
    wait_until(predicate, what, bound)


def job_id_files(remote: Path) -> list[str]:
    return glob.glob(str(remote / "*" / "*_job_id"))


def listed(job_id: str) -> bool:
    """Whether qstat still lists the job."""
    out = subprocess.run(["qstat", "-xml"], capture_output=True, text=True, timeout=30).stdout
    return f"<JB_job_number>{job_id}</JB_job_number>" in out


class OutsideDelete:
    """``qdel`` the run's job from another thread, as a user would, once ``ready()`` holds and its id is recorded."""

    def __init__(self, remote: Path, what: str, ready: Callable[[], bool] = lambda: True) -> None:
        self.deleted: list[str] = []
        self._args = (remote, what, ready)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        remote, what, ready = self._args
        wait_for(lambda: ready() and bool(job_id_files(remote)), what)
        job_id = Path(job_id_files(remote)[0]).read_text().strip()
        subprocess.run(["qdel", job_id], check=True, timeout=30, capture_output=True)
        self.deleted.append(job_id)

    def join(self) -> list[str]:
        self.thread.join(timeout=BOUND)
        return self.deleted


# -- contract ------------------------------------------------------------------------------

#: jobs in the contract's many-jobs test: the test cell runs 8 at a time and dispatches every second
SGE_MANY_JOBS = 100


class TestSGEContract(MachineContract):
    many_jobs = SGE_MANY_JOBS

    @pytest.fixture
    def machine(self, sge_cell, tmp_path):
        return sge_machine(tmp_path)


class TestSGEJobArrayContract(MachineContract):
    resources_dict = {**MachineContract.resources_dict, "group_size": 3, "kwargs": {"sge_job_size": 2}}
    many_jobs = SGE_MANY_JOBS

    @pytest.fixture
    def machine(self, sge_cell, tmp_path):
        return sge_machine(tmp_path, "SGEJobArray")


# -- runs ----------------------------------------------------------------------------------


def test_jobs_finish_with_one_qstat_per_poll(sge_commands, tmp_path):
    machine = sge_machine(tmp_path)
    submission = make_submission(machine, ["sleep 1; " + COPY] * 10, kwargs={"pe_name": "smp"})
    polls = count_polls(machine)
    submission.run_submission(check_interval=CHECK_INTERVAL, clean=False)
    assert outputs(machine, 10) == [f"input {i}\n" for i in range(10)]
    assert all(job.job_state == JobStatus.finished for job in submission.belonging_jobs)
    assert max(polls) == 10  # the first poll asked about all jobs at once
    assert sge_commands.count("qstat") == len(polls)
    assert sge_commands.count("qsub") == 10
    assert sge_commands.count("qacct") == 0  # every job left its tag: accounting is not asked
    # Grid Engine's own output went where the header said, and generated_files names it
    remote = Path(machine.context.remote_root)
    for job in submission.belonging_jobs:
        assert (remote / f"{job.job_hash}.out").exists() and (remote / f"{job.job_hash}.err").exists()
        assert f"{job.job_hash}.out" in machine.generated_files(job)
    assert not list(remote.glob("*.o[0-9]*")) and not list(remote.glob("*.e[0-9]*"))


def test_a_job_that_left_qstat_is_settled_on_the_next_poll(sge_commands, tmp_path):
    """dpdispatcher 1.1.0 waits ~70 s (7 x sync + sleep 10) on a job qstat no longer lists; one poll suffices here."""
    machine = sge_machine(tmp_path)
    submission = make_submission(machine, [COPY, "echo broken >&2; exit 5"])
    submission.run_submission(exit_on_submit=True)
    jobs = submission.belonging_jobs
    wait_for(lambda: not any(listed(job.job_id) for job in jobs), "both jobs to leave qstat")
    started = time.monotonic()
    states = machine.check_statuses(jobs)
    elapsed = time.monotonic() - started
    good = next(i for i, job in enumerate(jobs) if job.job_task_list[0].command == COPY)
    assert states[good] == JobStatus.finished and states[1 - good] == JobStatus.terminated
    assert elapsed < 5, elapsed
    # accounting was asked about the failed one only, in one call, and it knew it
    assert sge_commands.count("qacct") == 1 and sge_commands.calls("qacct") == [f"-j {jobs[1 - good].job_id}"]


def test_failing_task_is_retried_then_reported_with_its_errlog(sge_commands, tmp_path):
    machine = sge_machine(tmp_path, retry_count=1)
    bad = "echo broken-input-deck >&2; exit 3"
    submission = make_submission(machine, [COPY, bad, COPY], group_size=3)
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=CHECK_INTERVAL)
    message = str(err.value)
    assert os.path.join(machine.context.local_root, "t1/") in message
    assert "broken-input-deck" in message and "exit code 3" in message
    assert sge_commands.count("qsub") == 2  # first run + retry_count=1
    assert outputs(machine, 1) == ["input 0\n"]  # the good tasks' results are downloaded
    assert (Path(machine.context.local_root) / "t2" / "out.txt").exists()


def test_job_deleted_outside_is_reported_with_its_reason(sge_commands, tmp_path):
    machine = sge_machine(tmp_path, retry_count=0)
    submission = make_submission(machine, ["touch started; sleep 300"])
    remote = tmp_path / "remote"
    deleter = OutsideDelete(remote, "the job to start", lambda: bool(glob.glob(str(remote / "*" / "t0" / "started"))))
    started = time.monotonic()
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=CHECK_INTERVAL)
    assert deleter.join(), "the job was never deleted"
    assert time.monotonic() - started < 60
    assert "qdel" in str(err.value), str(err.value)


def test_job_in_error_state_is_deleted_and_reported(sge_commands, tmp_path):
    """A job SGE cannot start (here: its output file cannot be opened) sits in Eqw for ever; it is deleted and named."""
    machine = sge_machine(tmp_path, retry_count=0)
    submission = make_submission(machine, [COPY], custom_flags=["#$ -o /nonexistent-dir/out"])
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=CHECK_INTERVAL)
    message = str(err.value)
    assert "Eqw" in message and "/nonexistent-dir/out" in message, message
    (job,) = submission.belonging_jobs
    wait_for(lambda: not listed(job.job_id), "the job in error to be deleted", bound=30)


def test_time_limit_is_named_from_accounting(sge_commands, tmp_path):
    """h_rt kills the job; qacct on the real cell says failed 37 / exit 137 and the error says it timed out."""
    machine = sge_machine(tmp_path, retry_count=0)
    submission = make_submission(machine, ["sleep 60"], custom_flags=["#$ -l h_rt=0:0:2"])
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=CHECK_INTERVAL)
    assert "timed out" in str(err.value) and "h_rt" in str(err.value), str(err.value)
    assert sge_commands.count("qacct") >= 1


def test_job_array_runs_each_slice_once(sge_commands, tmp_path):
    machine = sge_machine(tmp_path, "SGEJobArray")
    command = 'echo "$SGE_TASK_ID" >> runs.txt; ' + COPY
    submission = make_submission(machine, [command] * 5, group_size=5, kwargs={"sge_job_size": 2})
    submission.run_submission(check_interval=CHECK_INTERVAL, clean=False)
    assert outputs(machine, 5) == [f"input {i}\n" for i in range(5)]
    (job,) = submission.belonging_jobs
    assert sge_commands.calls("qsub") == [f"-terse -t 1-3 {job.script_file_name}"]
    assert isinstance(machine, SGEJobArray)
    for index, tasks in enumerate(machine.elements(job), start=1):
        for task in tasks:
            runs = Path(machine.context.remote_root, task.task_work_path, "runs.txt").read_text()
            assert runs == f"{index}\n"


def test_job_array_resubmits_only_unfinished_tasks(sge_commands, tmp_path):
    machine = sge_machine(tmp_path, "SGEJobArray")
    flaky = "echo run >> runs.txt; if [ ! -e ../tried ]; then touch ../tried; exit 1; fi; " + COPY
    commands = ["echo run >> runs.txt; " + COPY] * 5
    commands[3] = flaky
    submission = make_submission(machine, commands, group_size=5, kwargs={"sge_job_size": 2})
    submission.run_submission(check_interval=CHECK_INTERVAL, clean=False)
    assert outputs(machine, 5) == [f"input {i}\n" for i in range(5)]
    (job,) = submission.belonging_jobs
    assert isinstance(machine, SGEJobArray)
    flaky_id = next(
        i for i, tasks in enumerate(machine.elements(job), start=1) if any(t.command == flaky for t in tasks)
    )
    calls = sge_commands.calls("qsub")
    assert len(calls) == 2 and calls[1] == f"-terse -t {flaky_id} {job.script_file_name}"
    for task in job.job_task_list:
        runs = Path(machine.context.remote_root, task.task_work_path, "runs.txt").read_text()
        assert runs == ("run\nrun\n" if task.command == flaky else "run\n")


DRIVER = """
import sys
from pathlib import Path
from dpdispatcher import Machine, Resources, Submission, Task

root = Path(sys.argv[1])
machine = Machine.load_from_dict({"batch_type": "SGE", "context_type": "LocalContext",
    "local_root": str(root / "local"), "remote_root": str(root / "remote")})
tasks = []
for i in range(4):
    (root / "local" / "wb" / f"t{i}").mkdir(parents=True, exist_ok=True)
    (root / "local" / "wb" / f"t{i}" / "in.txt").write_text(f"input {i}\\n")
    tasks.append(Task(command="echo run >> runs.txt; sleep 4; cat in.txt > out.txt", task_work_path=f"t{i}/",
                      forward_files=["in.txt"], backward_files=["out.txt", "runs.txt"]))
resources = Resources.load_from_dict({"number_node": 1, "cpu_per_node": 1, "gpu_per_node": 0,
    "queue_name": "", "group_size": 1, "batch_type": "SGE"})
Submission("wb", machine=machine, resources=resources, task_list=tasks).run_submission(check_interval=1)
print("DRIVER DONE")
"""


def test_killed_driver_rerun_adopts_queued_jobs(sge_commands, tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(DRIVER))
    env = dict(os.environ)
    first = subprocess.Popen([sys.executable, str(script), str(tmp_path)], env=env, start_new_session=True)
    try:
        wait_for(lambda: len(job_id_files(tmp_path / "remote")) == 4, "the 4 job ids")
        ids = [Path(p).read_text().strip() for p in job_id_files(tmp_path / "remote")]
        assert all(listed(job_id) for job_id in ids)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    second = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], env=env, capture_output=True, text=True, timeout=BOUND
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert "DRIVER DONE" in second.stdout
    assert sge_commands.count("qsub") == 4  # adopted, not submitted again
    wb = tmp_path / "local" / "wb"
    assert [(wb / f"t{i}" / "out.txt").read_text() for i in range(4)] == [f"input {i}\n" for i in range(4)]
    assert [(wb / f"t{i}" / "runs.txt").read_text() for i in range(4)] == ["run\n"] * 4


def test_qmaster_trouble_is_retried_and_the_run_goes_on(sge_commands, tmp_path):
    machine = sge_machine(tmp_path)
    sge_commands.fail("qsub", 2, "error: failed receiving gdi request response for mid=1 (got no message).")
    submission = make_submission(machine, [COPY] * 3)
    polls = count_polls(machine)
    original_check = machine.check_statuses
    armed: list[int] = []

    def fail_first_qstat(jobs):
        if len(polls) == 1:
            sge_commands.fail("qstat", 1, "error: commlib error: got select error (Connection refused)")
            armed.append(len(polls))
        return original_check(jobs)

    machine.check_statuses = fail_first_qstat  # type: ignore[method-assign]
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert armed, "the run ended before a second poll: the qstat failure was never tried"
    assert sge_commands.faults_left("qstat") == 0 and sge_commands.faults_left("qsub") == 0
    assert outputs(machine, 3) == [f"input {i}\n" for i in range(3)]
    assert sge_commands.count("qsub") == 5  # 2 refused + 3 accepted
    assert all(job.job_state == JobStatus.finished for job in submission.belonging_jobs)


def test_job_limit_refusal_waits_for_the_next_poll(sge_commands, tmp_path):
    machine = sge_machine(tmp_path)
    sge_commands.fail(
        "qsub", 1, "Unable to run job: job rejected: only 2 jobs are allowed per user (current job count: 2)\nExiting."
    )
    submission = make_submission(machine, [COPY] * 2)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 2) == ["input 0\n", "input 1\n"]
    assert sge_commands.count("qsub") == 3
    assert [job.fail_count for job in submission.belonging_jobs] == [0, 0]


def test_kill_uses_one_qdel(sge_commands, tmp_path):
    machine = sge_machine(tmp_path)
    submission = make_submission(machine, ["sleep 300"] * 3)
    submission.run_submission(exit_on_submit=True)
    jobs = submission.belonging_jobs
    wait_for(lambda: machine.check_statuses(jobs) == [JobStatus.running] * 3, "the jobs to run")
    machine.kill_jobs(jobs)
    assert sge_commands.calls("qdel") == [" ".join(job.job_id for job in jobs)]
    wait_for(lambda: all(s == JobStatus.terminated for s in machine.check_statuses(jobs)), "the jobs to end")
    assert all("qdel" in machine.describe_failure(job) for job in jobs)


def test_over_ssh_end_to_end(sge_cell, sge_sshd, tmp_path):
    """SSHContext to a private sshd on 127.0.0.1: upload, qsub, qstat, download; the SGE settings go with each command."""
    profile = sge_sshd.profile()
    machine = Machine.load_from_dict(
        {
            "batch_type": "SGE",
            "context_type": "SSHContext",
            "local_root": str(tmp_path / "local"),
            "remote_root": str(tmp_path / "remote"),
            "remote_profile": profile,
        }
    )
    context = machine.context
    settings = " ".join(
        f"{name}={shlex.quote(os.environ[name])}"
        for name in ("SGE_ROOT", "SGE_CELL", "SGE_QMASTER_PORT", "SGE_EXECD_PORT", "PATH")
        if name in os.environ
    )
    original_run = context.run
    # a login shell of the test sshd knows nothing of the test cell: tell each remote command where it is
    context.run = lambda cmd, timeout=None, stdin=None: original_run(f"export {settings}\n{cmd}", timeout, stdin)  # type: ignore[method-assign]
    try:
        submission = make_submission(machine, [COPY] * 3)
        submission.run_submission(check_interval=CHECK_INTERVAL)
        assert outputs(machine, 3) == [f"input {i}\n" for i in range(3)]
        assert all(job.job_state == JobStatus.finished for job in submission.belonging_jobs)
    finally:
        context.close()


LOSES_ANSWER_AND_LANDS_A_DECOY = """#!/bin/bash
# qsub (the logging wrapper); its first call submits the job, then lets another job of the same name (still
# queued or running when the plugin looks) land, and loses the answer as a qmaster that did not reply would
real={real}
if [ ! -e {flag} ]; then
  : > {flag}
  "$real" "$@" > /dev/null
  "$real" -terse -N relax -o /dev/null -j y -b y sleep 60 > {decoy}
  echo "error: failed receiving gdi request response for mid=1 (got no message)." >&2
  exit 1
fi
exec "$real" "$@"
"""


def test_task_name_and_a_lost_answer_among_jobs_of_that_name(sge_commands, tmp_path, monkeypatch):
    """Two one-task jobs named by their task_name "relax"; the first qsub's answer is lost after another job of
    that name landed: the plugin adopts the job whose stdout file (qstat -j) is this job's, not the other."""
    shim = tmp_path / "shim"
    shim.mkdir()
    decoy = tmp_path / "decoy"
    (shim / "qsub").write_text(
        LOSES_ANSWER_AND_LANDS_A_DECOY.format(real=sge_commands.bin / "qsub", flag=tmp_path / "lost", decoy=decoy)
    )
    (shim / "qsub").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")
    machine = sge_machine(tmp_path)
    work_base = tmp_path / "local" / "wb"
    tasks = []
    for i in range(2):
        (work_base / f"t{i}").mkdir(parents=True)
        (work_base / f"t{i}" / "in.txt").write_text(f"input {i}\n")
        tasks.append(Task(command="sleep 2; " + COPY, task_work_path=f"t{i}/", forward_files=["in.txt"],
                          backward_files=["out.txt"], task_name="relax"))  # fmt: skip
    res = Resources.load_from_dict(
        {
            "number_node": 1,
            "cpu_per_node": 1,
            "gpu_per_node": 0,
            "queue_name": "",
            "group_size": 1,
            "batch_type": "SGE",
            "kwargs": {"pe_name": "smp"},
        }
    )
    submission = Submission("wb", machine=machine, resources=res, task_list=tasks)
    try:
        submission.run_submission(check_interval=CHECK_INTERVAL)
        assert outputs(machine, 2) == ["input 0\n", "input 1\n"]
        decoy_id = decoy.read_text().strip().split(".", 1)[0]
        ids = [job.job_id for job in submission.belonging_jobs]
        assert decoy_id and decoy_id not in ids and len(set(ids)) == 2
        assert len(sge_commands.calls("qsub")) == 3  # the two jobs and the decoy: none submitted twice
        assert any(call.startswith("-j ") for call in sge_commands.calls("qstat"))  # told apart by qstat -j
    finally:
        if decoy.exists() and decoy.read_text().strip():
            subprocess.run(["qdel", decoy.read_text().strip().split(".", 1)[0]], capture_output=True, timeout=30)
