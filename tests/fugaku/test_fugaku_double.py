"""The Fugaku batch type against the project's Fugaku TEST DOUBLE (tests/doubles: real jobs, PJM's formats).

Fugaku's job manager (Fujitsu Technical Computing Suite) cannot run here; the double runs each
job script in the background and answers pjsub/pjstat/pjdel in the formats the Fugaku User's
Guide documents (see tests/doubles/fugaku_front.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from scheduler_kit import (
    BOUND,
    CHECK_INTERVAL,
    COPY,
    count_polls,
    job_ids,
    make_submission,
    outputs,
    scheduler_machine,
    wait_for,
)

from dpdispatcher import Machine, Resources, Submission, Task
from dpdispatcher.errors import SchedulerError, SubmissionFailedError
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.testing import MachineContract

pytestmark = pytest.mark.fugaku


def fugaku_machine(tmp_path: Path, **extra) -> Machine:
    return scheduler_machine(tmp_path, "Fugaku", **extra)


def listings(double) -> list[list[str]]:
    """The pjstat calls that asked for the table of jobs (not the history)."""
    return [argv for argv in double.calls("pjstat") if "-H" not in argv]


# -- contract -----------------------------------------------------------------------------------------


class TestFugakuContractAgainstTheFugakuDouble(MachineContract):
    #: every job is a python runner and a bash script on a 2-core machine
    many_jobs = 100
    wait_bound = BOUND

    @pytest.fixture
    def machine(self, fugaku_double, tmp_path):
        return fugaku_machine(tmp_path)


# -- runs ------------------------------------------------------------------------------------------------


def test_the_double_answers_what_1_1_0_reads_against_the_fugaku_double(fugaku_double, tmp_path):
    """dpdispatcher 1.1.0 takes the 6th word of pjsub's first line as the id, and the 4th field of the last
    line of ``pjstat <id>`` (then ``pjstat -H <id>``) as the state: the double's answers read the same."""
    script = tmp_path / "job.sh"
    script.write_text('#!/bin/bash\n#PJM -L "node=1" \n#PJM --mpi "max-proc-per-node=1"\nsleep 1\n')
    submitted = subprocess.run(["pjsub", str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=30)
    job_id = submitted.stdout.splitlines()[0].split()[5]
    assert submitted.stdout == f"[INFO] PJM 0000 pjsub Job {job_id} submitted.\n"
    listed = subprocess.run(["pjstat", job_id], capture_output=True, text=True, timeout=30).stdout
    assert listed.splitlines()[0].split()[:4] == ["JOB_ID", "JOB_NAME", "MD", "ST"]
    assert listed.splitlines()[-1].split()[3] in ("ACC", "QUE", "RUN")
    fugaku_double.wait_idle()
    gone = subprocess.run(["pjstat", job_id], capture_output=True, text=True, timeout=30).stdout
    assert len(gone.splitlines()) == 1  # the header only
    history = subprocess.run(["pjstat", "-H", job_id], capture_output=True, text=True, timeout=30).stdout
    assert history.splitlines()[-1].split()[3] == "EXT"
    assert (tmp_path / f"job.sh.{job_id}.out").exists() and (tmp_path / f"job.sh.{job_id}.err").exists()


def test_jobs_run_in_the_double_with_1_1_0_headers_against_the_fugaku_double(fugaku_double, tmp_path):
    machine = fugaku_machine(tmp_path)
    submission = make_submission(
        machine,
        ['echo "$PJM_JOBID $PJM_O_WORKDIR" > id.txt; ' + COPY] * 4,
        group_size=2,
        cpu_per_node=2,
        queue_name="small",
    )
    submission.run_submission(check_interval=CHECK_INTERVAL, clean=False)
    assert outputs(machine, 4) == [f"input {i}\n" for i in range(4)]
    assert len(fugaku_double.calls("pjsub")) == 2
    remote = Path(machine.context.remote_root)
    for job in submission.belonging_jobs:
        record = fugaku_double.job(job.job_id)
        assert record is not None and record.exit_status == 0
        assert record.extra["resources"] == {"rscgrp": "small", "node": "1"}
        assert record.extra["mpi"] == {"max-proc-per-node": "2"}
        assert record.workdir == str(remote)
        assert Path(record.output) == remote / f"{job.script_file_name}.{job.job_id}.out"
        assert Path(record.output).exists()
        task_dir = remote / job.job_task_list[0].task_work_path
        assert (task_dir / "id.txt").read_text() == f"{job.job_id} {remote}\n"


def test_failing_task_is_retried_then_reported_against_the_fugaku_double(fugaku_double, tmp_path):
    machine = fugaku_machine(tmp_path, retry_count=1)
    submission = make_submission(machine, [COPY, "echo broken-input-deck >&2; exit 3", COPY], group_size=3)
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=CHECK_INTERVAL)
    message = str(err.value)
    assert os.path.join(machine.context.local_root, "t1/") in message
    assert "broken-input-deck" in message and "exit code 3" in message
    assert "exited with code 1 (a task failed) (ST EXT, PJM CODE 0, EXIT CODE 1" in message  # the job manager's record
    assert len(fugaku_double.calls("pjsub")) == 2  # first run + retry_count=1
    assert outputs(machine, 1) == ["input 0\n"]


def test_one_pjstat_per_poll_against_the_fugaku_double(fugaku_double, tmp_path):
    machine = fugaku_machine(tmp_path)
    submission = make_submission(machine, ["sleep 1; " + COPY] * 12)
    polls = count_polls(machine)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 12) == [f"input {i}\n" for i in range(12)]
    assert len(listings(fugaku_double)) == len(polls) >= 2
    assert max(polls) == 12
    assert all(argv == [] for argv in listings(fugaku_double))  # the user's table: no id on the line
    assert [argv for argv in fugaku_double.calls("pjstat") if "-H" in argv] == []  # no failure: no history asked
    assert len(fugaku_double.calls("pjsub")) == 12


def test_pjdel_from_outside_is_reported_against_the_fugaku_double(fugaku_double, tmp_path):
    machine = fugaku_machine(tmp_path, retry_count=0)
    submission = make_submission(machine, ["sleep 300"])
    remote = tmp_path / "remote"
    deleted: list[str] = []

    def pjdel() -> None:
        wait_for(lambda: bool(job_ids(remote)) and fugaku_double.job(job_ids(remote)[0]).state == "running", "the job")
        job_id = job_ids(remote)[0]
        out = subprocess.run(["pjdel", job_id], check=True, capture_output=True, text=True, timeout=30)
        assert out.stdout == f"[INFO] PJM 0100 pjdel Job {job_id} canceled.\n"
        deleted.append(job_id)

    thread = threading.Thread(target=pjdel, daemon=True)
    thread.start()
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=CHECK_INTERVAL)
    thread.join(BOUND)
    assert deleted
    assert f"Fugaku job {deleted[0]} was cancelled with pjdel and was killed by signal 15 (ST CCL, PJM CODE 1" in str(
        err.value
    )


def test_elapse_limit_is_reported_against_the_fugaku_double(fugaku_double, tmp_path):
    machine = fugaku_machine(tmp_path, retry_count=0)
    submission = make_submission(machine, ["sleep 60"], custom_flags=['#PJM -L "elapse=0:01"'])
    started = time.monotonic()
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=CHECK_INTERVAL)
    assert time.monotonic() - started < 30
    assert "exceeded its elapse time limit" in str(err.value)
    assert "PJM CODE 11, REASON ELAPSE LIMIT EXCEEDED" in str(err.value)


def test_limit_refusal_is_asked_again_at_the_next_poll_against_the_fugaku_double(fugaku_double, tmp_path):
    machine = fugaku_machine(tmp_path)
    machine.submit_retries = 1  # two refusals end a submit call: the rest waits for the next poll
    fugaku_double.answer("pjsub", fugaku_double.front.limit_refusal(), times=3)
    submission = make_submission(machine, [COPY] * 3)
    polls = count_polls(machine)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 3) == [f"input {i}\n" for i in range(3)]
    assert fugaku_double.faults_left("pjsub") == 0
    assert len(fugaku_double.calls("pjsub")) == 3 + 3  # three refused, then each job once
    assert len(fugaku_double.jobs()) == 3
    assert polls, "the refused jobs were submitted at a later poll"
    assert [job.fail_count for job in submission.belonging_jobs] == [0, 0, 0]


def test_error_printed_with_exit_code_0_is_an_error_against_the_fugaku_double(fugaku_double, tmp_path):
    machine = fugaku_machine(tmp_path)
    fugaku_double.answer("pjsub", fugaku_double.front.staging_error())
    submission = make_submission(machine, [COPY])
    with pytest.raises(
        SchedulerError, match=r"Fugaku refused job [0-9a-f]{40}: \[ERR\.\] PJM 0007 pjsub Staging option"
    ):
        submission.run_submission(check_interval=CHECK_INTERVAL)
    assert fugaku_double.jobs() == []


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"number_node": 1000}, r"PJM 0057 pjsub node=1000 is greater than the upper limit \(384\)"),
        ({"queue_name": "nosuchgroup"}, r"PJM 0041 pjsub rscgrp=nosuchgroup is not a resource group you may use"),
    ],
)
def test_refusal_is_an_error_naming_job_and_message_against_the_fugaku_double(
    fugaku_double, tmp_path, resources, message
):
    machine = fugaku_machine(tmp_path)
    submission = make_submission(machine, [COPY], **resources)
    with pytest.raises(SchedulerError, match=r"Fugaku refused job [0-9a-f]{40}: \[ERR\.\] " + message):
        submission.run_submission(check_interval=CHECK_INTERVAL)
    assert fugaku_double.jobs() == []
    assert len(fugaku_double.calls("pjsub")) == 1  # not retried


def test_job_manager_down_for_a_while_against_the_fugaku_double(fugaku_double, tmp_path):
    machine = fugaku_machine(tmp_path)
    submission = make_submission(machine, ["sleep 2; " + COPY] * 2)
    polls = count_polls(machine)
    original = machine.check_statuses

    def down_at_first_poll(jobs):
        if len(polls) == 1:
            fugaku_double.down()
        elif len(polls) == 3:
            fugaku_double.down(False)
        return original(jobs)

    machine.check_statuses = down_at_first_poll  # type: ignore[method-assign]
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 2) == ["input 0\n", "input 1\n"]
    assert len(polls) >= 3
    assert len(fugaku_double.calls("pjsub")) == 2


def test_job_manager_down_at_submission_is_waited_for_against_the_fugaku_double(fugaku_double, tmp_path):
    machine = fugaku_machine(tmp_path)
    fugaku_double.down()
    threading.Timer(1.0, fugaku_double.down, args=(False,)).start()
    submission = make_submission(machine, [COPY] * 2)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 2) == ["input 0\n", "input 1\n"]
    assert len(fugaku_double.jobs()) == 2
    assert [job.fail_count for job in submission.belonging_jobs] == [0, 0]


def test_forgotten_job_is_settled_from_its_tags_against_the_fugaku_double(fugaku_double, tmp_path):
    machine = fugaku_machine(tmp_path)
    submission = make_submission(machine, [COPY] * 2)
    submission.run_submission(exit_on_submit=True)
    jobs = submission.belonging_jobs
    fugaku_double.wait_idle()
    assert machine.check_statuses(jobs) == [JobStatus.finished] * 2
    assert sorted(fugaku_double.forget()) == sorted(int(job.job_id) for job in jobs)
    machine.context.run(f"rm -f {jobs[1].finish_tag} {jobs[1].job_task_list[0].finish_tag}").check("rm")
    before = len(listings(fugaku_double))
    assert machine.check_statuses(jobs) == [JobStatus.finished, JobStatus.terminated]
    assert len(listings(fugaku_double)) == before + 1
    # the history forgot it too: the message says so
    assert f"Fugaku job {jobs[1].job_id} left pjstat's listing without its finished tag" in machine.describe_failure(
        jobs[1]
    )
    submission.run_submission(check_interval=CHECK_INTERVAL)  # the untagged job runs again
    assert len(fugaku_double.calls("pjsub")) == 3


def test_history_expiry_is_settled_from_tags_against_the_fugaku_double(fugaku_double, tmp_path):
    fugaku_double.configure(history=0)  # ended jobs are forgotten at once
    machine = fugaku_machine(tmp_path)
    submission = make_submission(machine, [COPY] * 3)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 3) == [f"input {i}\n" for i in range(3)]
    assert len(fugaku_double.calls("pjsub")) == 3


DRIVER = """
import sys
from pathlib import Path
from dpdispatcher import Machine, Resources, Submission, Task

root = Path(sys.argv[1])
machine = Machine.load_from_dict({"batch_type": "Fugaku", "context_type": "LocalContext",
    "local_root": str(root / "local"), "remote_root": str(root / "remote")})
tasks = []
for i in range(4):
    (root / "local" / "wb" / f"t{i}").mkdir(parents=True, exist_ok=True)
    (root / "local" / "wb" / f"t{i}" / "in.txt").write_text(f"input {i}\\n")
    tasks.append(Task(command="echo run >> runs.txt; sleep 3; cat in.txt > out.txt", task_work_path=f"t{i}/",
                      forward_files=["in.txt"], backward_files=["out.txt", "runs.txt"]))
resources = Resources.load_from_dict({"number_node": 1, "cpu_per_node": 1, "gpu_per_node": 0,
    "queue_name": "", "group_size": 1, "batch_type": "Fugaku"})
Submission("wb", machine=machine, resources=resources, task_list=tasks).run_submission(check_interval=1)
print("DRIVER DONE")
"""


def test_killed_driver_rerun_adopts_jobs_against_the_fugaku_double(fugaku_double, tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(DRIVER))
    first = subprocess.Popen([sys.executable, str(script), str(tmp_path)], start_new_session=True)
    try:
        wait_for(lambda: len(job_ids(tmp_path / "remote")) == 4, "the 4 job ids")
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    assert len(fugaku_double.calls("pjsub")) == 4
    second = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=BOUND)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "DRIVER DONE" in second.stdout
    assert len(fugaku_double.calls("pjsub")) == 4  # adopted, not submitted again
    wb = tmp_path / "local" / "wb"
    assert [(wb / f"t{i}" / "out.txt").read_text() for i in range(4)] == [f"input {i}\n" for i in range(4)]
    assert [(wb / f"t{i}" / "runs.txt").read_text() for i in range(4)] == ["run\n"] * 4


def test_a_one_task_job_is_named_by_its_task_name_against_the_fugaku_double(fugaku_double, tmp_path):
    """``#PJM -N <task_name>`` (sanitized, 63 bytes at most); pjsub then names the output files after it."""
    machine = fugaku_machine(tmp_path)
    (tmp_path / "local" / "wb" / "t0").mkdir(parents=True)
    (tmp_path / "local" / "wb" / "t0" / "in.txt").write_text("input 0\n")
    task = Task(command=COPY, task_work_path="t0/", forward_files=["in.txt"], backward_files=["out.txt"],
                task_name="relax Si; rm -rf ~")  # fmt: skip
    res = Resources.load_from_dict(
        {"number_node": 1, "cpu_per_node": 1, "gpu_per_node": 0, "queue_name": "", "group_size": 1}
    )
    submission = Submission("wb", machine=machine, resources=res, task_list=[task])
    submission.run_submission(check_interval=CHECK_INTERVAL, clean=False)
    assert outputs(machine, 1) == ["input 0\n"]
    (job,) = submission.belonging_jobs
    record = fugaku_double.job(job.job_id)
    assert record is not None and record.name == "relax-Si-rm--rf"
    remote = Path(machine.context.remote_root)
    assert Path(record.output) == remote / f"relax-Si-rm--rf.{job.job_id}.out"
    assert f"relax-Si-rm--rf.{job.job_id}.out" in machine.generated_files(job)
    assert "#PJM -N relax-Si-rm--rf" in (remote / job.script_file_name).read_text().splitlines()
