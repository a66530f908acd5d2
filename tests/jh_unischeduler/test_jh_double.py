"""The JH_UniScheduler batch type against the project's JH UniScheduler TEST DOUBLE (tests/doubles: real jobs).

JH UniScheduler cannot run here; the double runs each job script in the background and answers
jsub/jjobs/jctrl in the formats of the vendor's command manual (see tests/doubles/jh_front.py).
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

pytestmark = pytest.mark.jh_unischeduler


def jh_machine(tmp_path: Path, **extra) -> Machine:
    return scheduler_machine(tmp_path, "JH_UniScheduler", **extra)


def tables(double) -> list[list[str]]:
    """The jjobs calls that asked for the job table (not the long form)."""
    return [argv for argv in double.calls("jjobs") if "-l" not in argv]


# -- contract -----------------------------------------------------------------------------------------


class TestJHUniSchedulerContractAgainstTheJHDouble(MachineContract):
    #: every job is a python runner and a bash script on a 2-core machine
    many_jobs = 100
    wait_bound = BOUND

    @pytest.fixture
    def machine(self, jh_double, tmp_path):
        return jh_machine(tmp_path)


# -- runs ------------------------------------------------------------------------------------------------


def test_the_double_answers_what_1_1_0_reads_against_the_jh_double(jh_double, tmp_path):
    """dpdispatcher 1.1.0 submits with ``jsub < script`` and takes the 2nd word of jsub's first line without its
    brackets as the id; it reads STAT as the 3rd field of the 2nd line of ``jjobs <id>`` and looks for
    ``Job <id> is not found`` on stderr: the double's answers read the same."""
    script = tmp_path / "job.sh"
    script.write_text(
        "#!/bin/bash -l\n#JSUB -e %J.err\n#JSUB -o %J.out\n#JSUB -n 1\n#JSUB -R 'span[ptile=1]'\nsleep 1\n"
    )
    with script.open() as stdin:
        submitted = subprocess.run(["jsub"], stdin=stdin, capture_output=True, text=True, cwd=tmp_path, timeout=30)
    job_id = submitted.stdout.splitlines()[0].split()[1][1:-1]
    assert submitted.stdout == f"Job <{job_id}> is submitted to queue <normal>.\n"
    listed = subprocess.run(["jjobs", job_id], capture_output=True, text=True, timeout=30).stdout.splitlines()
    assert listed[0].split() == ["JOBID", "USER", "STAT", "QUEUE", "FROM_HOST", "EXEC_HOST", "JOB_NAME", "SUBMIT_TIME"]
    assert listed[1].split()[2] in ("PEND", "RUN")
    jh_double.wait_idle()
    ended = subprocess.run(["jjobs", job_id], capture_output=True, text=True, timeout=30).stdout.splitlines()
    assert ended[1].split()[2] == "DONE"
    assert (tmp_path / f"{job_id}.out").exists() and (tmp_path / f"{job_id}.err").exists()
    jh_double.forget()
    gone = subprocess.run(["jjobs", job_id], capture_output=True, text=True, timeout=30)
    assert (gone.returncode, gone.stdout, gone.stderr) == (255, "", f"Job <{job_id}> is not found\n")


def test_a_script_over_4096_bytes_on_stdin_is_refused_by_the_double(jh_double, tmp_path):
    """The vendor's limit, which a whole job script of a few dozen tasks passes (1.1.0 gave jsub the script)."""
    long_script = "#!/bin/bash\n#JSUB -n 1\n" + "echo padding\n" * 400
    refused = subprocess.run(["jsub"], input=long_script, capture_output=True, text=True, cwd=tmp_path, timeout=30)
    assert refused.returncode == 255 and "Job not submitted" in refused.stderr
    assert jh_double.jobs() == []


def test_jobs_run_in_the_double_with_1_1_0_headers_against_the_jh_double(jh_double, tmp_path):
    machine = jh_machine(tmp_path)
    submission = make_submission(
        machine,
        ['echo "$JH_JOBID $JH_SUB_CWD" > id.txt; ' + COPY] * 4,
        group_size=2,
        cpu_per_node=2,
        queue_name="normal",
    )
    submission.run_submission(check_interval=CHECK_INTERVAL, clean=False)
    assert outputs(machine, 4) == [f"input {i}\n" for i in range(4)]
    assert len(jh_double.calls("jsub")) == 2
    remote = Path(machine.context.remote_root)
    for job in submission.belonging_jobs:
        record = jh_double.job(job.job_id)
        assert record is not None and record.exit_status == 0
        assert (record.queue, record.extra["slots"], record.extra["ptile"]) == ("normal", 2, 2)
        assert record.workdir == str(remote)
        assert Path(record.output) == remote / f"{job.job_id}.out"
        assert Path(record.error or "") == remote / f"{job.job_id}.err"
        task_dir = remote / job.job_task_list[0].task_work_path
        assert (task_dir / "id.txt").read_text() == f"{job.job_id} {remote}\n"


def test_a_job_of_many_tasks_passes_jsubs_4096_bytes_against_the_jh_double(jh_double, tmp_path):
    machine = jh_machine(tmp_path)
    submission = make_submission(machine, [COPY] * 60, group_size=0, para_deg=4)
    submission.generate_jobs()
    assert len(machine.gen_script(submission.belonging_jobs[0]).encode()) > 4096
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 60) == [f"input {i}\n" for i in range(60)]
    assert len(jh_double.calls("jsub")) == 1


def test_failing_task_is_retried_then_reported_against_the_jh_double(jh_double, tmp_path):
    machine = jh_machine(tmp_path, retry_count=1)
    submission = make_submission(machine, [COPY, "echo broken-input-deck >&2; exit 3", COPY], group_size=3)
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=CHECK_INTERVAL)
    message = str(err.value)
    assert os.path.join(machine.context.local_root, "t1/") in message
    assert "broken-input-deck" in message and "exit code 3" in message
    assert "exited with code 1 (a task failed) (Status EXIT)" in message  # the scheduler's record
    assert len(jh_double.calls("jsub")) == 2  # first run + retry_count=1
    assert outputs(machine, 1) == ["input 0\n"]


def test_one_jjobs_per_poll_against_the_jh_double(jh_double, tmp_path):
    machine = jh_machine(tmp_path)
    submission = make_submission(machine, ["sleep 1; " + COPY] * 12)
    polls = count_polls(machine)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 12) == [f"input {i}\n" for i in range(12)]
    assert len(tables(jh_double)) == len(polls) >= 2
    assert max(polls) == 12
    assert [len(argv) for argv in tables(jh_double)] == polls  # every job's id, on one line
    assert [argv for argv in jh_double.calls("jjobs") if "-l" in argv] == []  # no failure: no long form asked
    assert len(jh_double.calls("jsub")) == 12


def test_jctrl_kill_from_outside_is_reported_against_the_jh_double(jh_double, tmp_path):
    machine = jh_machine(tmp_path, retry_count=0)
    submission = make_submission(machine, ["sleep 300"])
    remote = tmp_path / "remote"
    killed: list[str] = []

    def kill() -> None:
        wait_for(lambda: bool(job_ids(remote)) and jh_double.job(job_ids(remote)[0]).state == "running", "the job")
        job_id = job_ids(remote)[0]
        out = subprocess.run(["jctrl", "kill", job_id], check=True, capture_output=True, text=True, timeout=30)
        assert out.stdout == f"Job <{job_id}> is being terminated\n"
        killed.append(job_id)

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=CHECK_INTERVAL)
    thread.join(BOUND)
    assert killed
    assert f"JH_UniScheduler job {killed[0]} was killed with jctrl kill and was killed by signal 15" in str(err.value)
    assert "(Status EXIT, TERM_OWNER)" in str(err.value)


def test_run_limit_is_reported_against_the_jh_double(jh_double, tmp_path):
    jh_double.configure(run_limit=1)  # the queue's run limit, in seconds (jsub -W is not read from scripts)
    machine = jh_machine(tmp_path, retry_count=0)
    submission = make_submission(machine, ["sleep 60"])
    started = time.monotonic()
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=CHECK_INTERVAL)
    assert time.monotonic() - started < 30
    assert "exceeded its run time limit and exited with code 140 (Status EXIT, TERM_RUNLIMIT)" in str(err.value)


def test_limit_refusal_is_asked_again_at_the_next_poll_against_the_jh_double(jh_double, tmp_path):
    machine = jh_machine(tmp_path)
    machine.submit_retries = 1  # two refusals end a submit call: the rest waits for the next poll
    jh_double.answer("jsub", jh_double.front.limit_refusal(), times=3)
    submission = make_submission(machine, [COPY] * 3)
    polls = count_polls(machine)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 3) == [f"input {i}\n" for i in range(3)]
    assert jh_double.faults_left("jsub") == 0
    assert len(jh_double.calls("jsub")) == 3 + 3  # three refused, then each job once
    assert len(jh_double.jobs()) == 3
    assert polls, "the refused jobs were submitted at a later poll"
    assert [job.fail_count for job in submission.belonging_jobs] == [0, 0, 0]


def test_unknown_queue_is_an_error_naming_job_and_message_against_the_jh_double(jh_double, tmp_path):
    machine = jh_machine(tmp_path)
    submission = make_submission(machine, [COPY], queue_name="nosuchqueue")
    with pytest.raises(SchedulerError, match=r"JH_UniScheduler refused job [0-9a-f]{40}: nosuchqueue: No such queue"):
        submission.run_submission(check_interval=CHECK_INTERVAL)
    assert jh_double.jobs() == []
    assert len(jh_double.calls("jsub")) == 1  # not retried


def test_scheduler_down_for_a_while_against_the_jh_double(jh_double, tmp_path):
    machine = jh_machine(tmp_path)
    submission = make_submission(machine, ["sleep 2; " + COPY] * 2)
    polls = count_polls(machine)
    original = machine.check_statuses

    def down_at_first_poll(jobs):
        if len(polls) == 1:
            jh_double.down()
        elif len(polls) == 3:
            jh_double.down(False)
        return original(jobs)

    machine.check_statuses = down_at_first_poll  # type: ignore[method-assign]
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 2) == ["input 0\n", "input 1\n"]
    assert len(polls) >= 3
    assert len(jh_double.calls("jsub")) == 2


def test_scheduler_down_at_submission_is_waited_for_against_the_jh_double(jh_double, tmp_path):
    machine = jh_machine(tmp_path)
    jh_double.down()
    threading.Timer(1.0, jh_double.down, args=(False,)).start()
    submission = make_submission(machine, [COPY] * 2)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 2) == ["input 0\n", "input 1\n"]
    assert len(jh_double.jobs()) == 2
    assert [job.fail_count for job in submission.belonging_jobs] == [0, 0]


def test_forgotten_job_is_settled_from_its_tags_against_the_jh_double(jh_double, tmp_path):
    machine = jh_machine(tmp_path)
    submission = make_submission(machine, [COPY] * 2)
    submission.run_submission(exit_on_submit=True)
    jobs = submission.belonging_jobs
    jh_double.wait_idle()
    assert machine.check_statuses(jobs) == [JobStatus.finished] * 2
    assert sorted(jh_double.forget()) == sorted(int(job.job_id) for job in jobs)
    machine.context.run(f"rm -f {jobs[1].finish_tag} {jobs[1].job_task_list[0].finish_tag}").check("rm")
    before = len(tables(jh_double))
    assert machine.check_statuses(jobs) == [JobStatus.finished, JobStatus.terminated]
    assert len(tables(jh_double)) == before + 1
    assert [argv for argv in jh_double.calls("jjobs") if "-l" in argv] == []  # nothing to ask about a forgotten job
    assert f"JH_UniScheduler job {jobs[1].job_id} left the scheduler's records" in machine.describe_failure(jobs[1])
    submission.run_submission(check_interval=CHECK_INTERVAL)  # the untagged job runs again
    assert len(jh_double.calls("jsub")) == 3


def test_history_expiry_is_settled_from_tags_against_the_jh_double(jh_double, tmp_path):
    jh_double.configure(history=0)  # ended jobs are forgotten at once
    machine = jh_machine(tmp_path)
    submission = make_submission(machine, [COPY] * 3)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 3) == [f"input {i}\n" for i in range(3)]
    assert len(jh_double.calls("jsub")) == 3


DRIVER = """
import sys
from pathlib import Path
from dpdispatcher import Machine, Resources, Submission, Task

root = Path(sys.argv[1])
machine = Machine.load_from_dict({"batch_type": "JH_UniScheduler", "context_type": "LocalContext",
    "local_root": str(root / "local"), "remote_root": str(root / "remote")})
tasks = []
for i in range(4):
    (root / "local" / "wb" / f"t{i}").mkdir(parents=True, exist_ok=True)
    (root / "local" / "wb" / f"t{i}" / "in.txt").write_text(f"input {i}\\n")
    tasks.append(Task(command="echo run >> runs.txt; sleep 3; cat in.txt > out.txt", task_work_path=f"t{i}/",
                      forward_files=["in.txt"], backward_files=["out.txt", "runs.txt"]))
resources = Resources.load_from_dict({"number_node": 1, "cpu_per_node": 1, "gpu_per_node": 0,
    "queue_name": "", "group_size": 1, "batch_type": "JH_UniScheduler"})
Submission("wb", machine=machine, resources=resources, task_list=tasks).run_submission(check_interval=1)
print("DRIVER DONE")
"""


def test_killed_driver_rerun_adopts_jobs_against_the_jh_double(jh_double, tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(DRIVER))
    first = subprocess.Popen([sys.executable, str(script), str(tmp_path)], start_new_session=True)
    try:
        wait_for(lambda: len(job_ids(tmp_path / "remote")) == 4, "the 4 job ids")
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    assert len(jh_double.calls("jsub")) == 4
    second = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=BOUND)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "DRIVER DONE" in second.stdout
    assert len(jh_double.calls("jsub")) == 4  # adopted, not submitted again
    wb = tmp_path / "local" / "wb"
    assert [(wb / f"t{i}" / "out.txt").read_text() for i in range(4)] == [f"input {i}\n" for i in range(4)]
    assert [(wb / f"t{i}" / "runs.txt").read_text() for i in range(4)] == ["run\n"] * 4


def test_a_one_task_job_is_named_by_its_task_name_against_the_jh_double(jh_double, tmp_path):
    """``#JSUB -J <task_name>`` (sanitized, 128 characters at most, 1.1.0's rule for LSF's -J)."""
    machine = jh_machine(tmp_path)
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
    record = jh_double.job(job.job_id)
    assert record is not None and record.name == "relax-Si-rm--rf"
    grouped = make_submission(machine, [COPY] * 2, group_size=2)
    grouped.generate_jobs()
    assert not any(
        line.startswith("#JSUB -J") for line in machine.gen_script_header(grouped.belonging_jobs[0]).splitlines()
    )
