"""The LSF batch type against the project's LSF TEST DOUBLE (tests/doubles: real jobs, IBM Spectrum LSF's formats).

LSF cannot run here; the double runs each job script in the background and answers
bsub/bjobs/bkill in LSF's documented formats (see tests/doubles/README.md and
tests/doubles/lsf_front.py).
"""

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

import pytest
from doubles.fixture import SchedulerDouble
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

from dpdispatcher import Machine
from dpdispatcher.errors import SchedulerError, SubmissionFailedError
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.testing import MachineContract

pytestmark = pytest.mark.lsf


def lsf_machine(tmp_path: Path, **extra) -> Machine:
    return scheduler_machine(tmp_path, "LSF", **extra)


STATUS_ARGV = ["-json", "-o", "jobid stat exit_code exit_reason"]


def status_calls(double: SchedulerDouble) -> list[list[str]]:
    """The bjobs calls that were status queries (not by-name lookups)."""
    return [argv for argv in double.calls("bjobs") if argv[:3] == STATUS_ARGV]


# -- contract -----------------------------------------------------------------------------------------


class TestLSFContractAgainstTheLSFDouble(MachineContract):
    #: every job is a python runner and a bash script on a 2-core machine
    many_jobs = 100
    wait_bound = BOUND

    @pytest.fixture
    def machine(self, lsf_double, tmp_path):
        return lsf_machine(tmp_path)


# -- runs ------------------------------------------------------------------------------------------------


def test_jobs_run_in_the_double_with_lsf_headers_against_the_lsf_double(lsf_double, tmp_path):
    machine = lsf_machine(tmp_path)
    lsf_double.configure(queues=["normal", "short"])
    command = 'echo "$LSB_JOBID $LSB_DJOB_NUMPROC $LS_SUBCWD" > env.txt; ' + COPY
    submission = make_submission(machine, [command] * 4, group_size=2, cpu_per_node=2, queue_name="short")
    submission.run_submission(check_interval=CHECK_INTERVAL, clean=False)
    assert outputs(machine, 4) == [f"input {i}\n" for i in range(4)]
    assert len(lsf_double.calls("bsub")) == 2
    assert all(argv == [] for argv in lsf_double.calls("bsub"))  # `bsub < script`: everything from #BSUB lines
    remote = Path(machine.context.remote_root)
    for job in submission.belonging_jobs:
        record = lsf_double.job(job.job_id)
        assert record is not None and record.exit_status == 0
        assert record.name == f"dpd_{job.job_hash}"
        assert record.queue == "short"
        assert record.extra["slots"] == 2 and record.extra["requirements"] == ["span[ptile=2]"]
        assert record.output == str(remote / f"{job.job_id}.out")
        assert record.error == str(remote / f"{job.job_id}.err")
        assert (remote / f"{job.job_id}.out").exists()
        env = (remote / job.job_task_list[0].task_work_path / "env.txt").read_text().split()
        assert env == [job.job_id, "2", str(remote)]
        assert {f"{job.job_id}.out", f"{job.job_id}.err"} <= set(machine.generated_files(job))


def test_gpu_request_reaches_the_double_against_the_lsf_double(lsf_double, tmp_path):
    machine = lsf_machine(tmp_path)
    kwargs = {"gpu_usage": True, "gpu_new_syntax": True, "gpu_exclusive": False}
    submission = make_submission(machine, [COPY], gpu_per_node=1, kwargs=kwargs)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    (record,) = lsf_double.jobs()
    assert record.extra["gpu"] == "num=1:mode=shared:j_exclusive=no"


def test_failing_task_is_retried_then_reported_against_the_lsf_double(lsf_double, tmp_path):
    machine = lsf_machine(tmp_path, retry_count=1)
    submission = make_submission(machine, [COPY, "echo broken-input-deck >&2; exit 3", COPY], group_size=3)
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=CHECK_INTERVAL)
    message = str(err.value)
    assert os.path.join(machine.context.local_root, "t1/") in message
    assert "broken-input-deck" in message and "exit code 3" in message
    job_id = submission.belonging_jobs[0].job_id
    assert f"LSF job {job_id} exited with code 1 (a task failed)" in message  # LSF's record of the job
    assert len(lsf_double.calls("bsub")) == 2  # first run + retry_count=1
    assert outputs(machine, 1) == ["input 0\n"]


def test_one_bjobs_per_poll_against_the_lsf_double(lsf_double, tmp_path):
    machine = lsf_machine(tmp_path)
    submission = make_submission(machine, ["sleep 1; " + COPY] * 12)
    polls = count_polls(machine)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 12) == [f"input {i}\n" for i in range(12)]
    calls = lsf_double.calls("bjobs")
    assert len(calls) == len(polls) >= 2  # one bjobs per poll, and nothing else asked bjobs
    assert max(polls) == 12
    for argv, n in zip(calls, polls):
        assert argv[:3] == STATUS_ARGV and len(argv) == 3 + n
    assert len(lsf_double.calls("bsub")) == 12


def test_bkill_from_outside_is_reported_against_the_lsf_double(lsf_double, tmp_path):
    machine = lsf_machine(tmp_path, retry_count=0)
    submission = make_submission(machine, ["sleep 300"])
    remote = tmp_path / "remote"
    killed: list[str] = []

    def bkill() -> None:
        wait_for(lambda: bool(job_ids(remote)) and lsf_double.job(job_ids(remote)[0]).state == "running", "the job")
        job_id = job_ids(remote)[0]
        out = subprocess.run(["bkill", job_id], check=True, timeout=30, capture_output=True, text=True)
        assert out.stdout == f"Job <{job_id}> is being terminated\n"
        killed.append(job_id)

    thread = threading.Thread(target=bkill, daemon=True)
    thread.start()
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=CHECK_INTERVAL)
    thread.join(BOUND)
    assert killed
    assert f"LSF job {killed[0]} was killed (bkill by its owner): TERM_OWNER, exit code 143" in str(err.value)


def test_bkill_from_outside_is_resubmitted_within_retries_against_the_lsf_double(lsf_double, tmp_path):
    machine = lsf_machine(tmp_path)
    slow_once = "echo run >> runs.txt; if [ $(wc -l < runs.txt) -eq 1 ]; then sleep 300; fi; " + COPY
    submission = make_submission(machine, [COPY, slow_once], group_size=2, para_deg=2)
    remote = tmp_path / "remote"

    def bkill() -> None:
        wait_for(lambda: bool(glob.glob(str(remote / "*" / "t1" / "runs.txt"))) and bool(job_ids(remote)), "start")
        subprocess.run(["bkill", job_ids(remote)[0]], check=True, timeout=30, capture_output=True)

    thread = threading.Thread(target=bkill, daemon=True)
    thread.start()
    submission.run_submission(check_interval=CHECK_INTERVAL, clean=False)
    thread.join(BOUND)
    assert outputs(machine, 2) == ["input 0\n", "input 1\n"]
    assert len(lsf_double.calls("bsub")) == 2 and submission.belonging_jobs[0].fail_count == 1
    assert (remote / submission.submission_hash / "t1" / "runs.txt").read_text() == "run\nrun\n"


@pytest.mark.parametrize("refusal", ["pending_threshold", "not_submitted"])
def test_limit_refusal_is_asked_again_at_the_next_poll_against_the_lsf_double(lsf_double, tmp_path, refusal):
    machine = lsf_machine(tmp_path)
    machine.submit_retries = 1  # two refusals end a submit call: the rest waits for the next poll
    lsf_double.answer("bsub", getattr(lsf_double.front, refusal)(), times=3)
    submission = make_submission(machine, [COPY] * 3)
    polls = count_polls(machine)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 3) == [f"input {i}\n" for i in range(3)]
    assert lsf_double.faults_left("bsub") == 0
    assert len(lsf_double.calls("bsub")) == 3 + 3  # three refused, then each job once
    assert len(lsf_double.jobs()) == 3
    assert polls, "the refused jobs were submitted at a later poll"
    assert [job.fail_count for job in submission.belonging_jobs] == [0, 0, 0]


def test_unknown_queue_is_an_error_naming_job_and_message_against_the_lsf_double(lsf_double, tmp_path):
    machine = lsf_machine(tmp_path)
    submission = make_submission(machine, [COPY], queue_name="nosuchqueue")
    with pytest.raises(SchedulerError, match=r"LSF refused job [0-9a-f]{40}: nosuchqueue: No such queue"):
        submission.run_submission(check_interval=CHECK_INTERVAL)
    assert lsf_double.jobs() == []


def test_cluster_down_for_a_while_against_the_lsf_double(lsf_double, tmp_path):
    machine = lsf_machine(tmp_path)
    submission = make_submission(machine, ["sleep 2; " + COPY] * 2)
    polls = count_polls(machine)
    original = machine.check_statuses

    def down_at_first_poll(jobs):
        if len(polls) == 1:
            lsf_double.down()
        elif len(polls) == 3:
            lsf_double.down(False)
        return original(jobs)

    machine.check_statuses = down_at_first_poll  # type: ignore[method-assign]
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 2) == ["input 0\n", "input 1\n"]
    assert len(polls) >= 3
    assert len(lsf_double.calls("bsub")) == 2


def test_cluster_down_at_submission_is_retried_against_the_lsf_double(lsf_double, tmp_path):
    machine = lsf_machine(tmp_path)
    lsf_double.down()
    submission = make_submission(machine, [COPY] * 2)
    original = machine.submit_jobs

    def up_again(jobs):
        if len(lsf_double.calls("bsub")) >= 2:
            lsf_double.down(False)
        return original(jobs)

    machine.submit_retries = 1
    machine.submit_jobs = up_again  # type: ignore[method-assign]
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 2) == ["input 0\n", "input 1\n"]
    assert len(lsf_double.jobs()) == 2


def test_unknwn_state_is_asked_again_against_the_lsf_double(lsf_double, tmp_path):
    machine = lsf_machine(tmp_path)
    submission = make_submission(machine, [COPY])
    submission.run_submission(exit_on_submit=True)
    jobs = submission.belonging_jobs
    lsf_double.wait_idle()
    lsf_double.configure(stat={jobs[0].job_id: "UNKWN"})  # mbatchd lost contact with the execution host
    assert machine.check_statuses(jobs) == [JobStatus.unknown]
    assert machine.check_statuses(jobs) == [JobStatus.unknown]
    lsf_double.configure(stat={})
    assert machine.check_statuses(jobs) == [JobStatus.finished]
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 1) == ["input 0\n"]


def test_bstop_keeps_a_job_running_against_the_lsf_double(lsf_double, tmp_path):
    machine = lsf_machine(tmp_path)
    submission = make_submission(machine, ["sleep 2; " + COPY])
    submission.run_submission(exit_on_submit=True)
    jobs = submission.belonging_jobs
    wait_for(lambda: lsf_double.job(jobs[0].job_id).state == "running", "the job to start")
    subprocess.run(["bstop", jobs[0].job_id], check=True, timeout=30, capture_output=True)
    assert machine.check_statuses(jobs) == [JobStatus.running]  # USUSP: started, resumes later
    assert machine.query([jobs[0].job_id]).rows[jobs[0].job_id][0].state == "USUSP"
    subprocess.run(["bresume", jobs[0].job_id], check=True, timeout=30, capture_output=True)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 1) == ["input 0\n"]


def test_forgotten_job_is_settled_from_its_tags_against_the_lsf_double(lsf_double, tmp_path):
    machine = lsf_machine(tmp_path)
    submission = make_submission(machine, [COPY] * 2)
    submission.run_submission(exit_on_submit=True)
    jobs = submission.belonging_jobs
    lsf_double.wait_idle()
    assert machine.check_statuses(jobs) == [JobStatus.finished] * 2
    assert sorted(lsf_double.forget()) == sorted(int(job.job_id) for job in jobs)
    machine.context.run(f"rm -f {jobs[1].finish_tag} {jobs[1].job_task_list[0].finish_tag}").check("rm")
    before = len(lsf_double.calls("bjobs"))
    assert machine.check_statuses(jobs) == [JobStatus.finished, JobStatus.terminated]
    assert len(lsf_double.calls("bjobs")) == before + 1
    # what LSF said when it last knew the job
    assert f"LSF job {jobs[1].job_id} ended (DONE) without its finished tag" in machine.describe_failure(jobs[1])
    submission.run_submission(check_interval=CHECK_INTERVAL)  # the untagged job runs again
    assert len(lsf_double.calls("bsub")) == 3


def test_clean_period_expiry_is_settled_from_tags_against_the_lsf_double(lsf_double, tmp_path):
    lsf_double.configure(history=0)  # finished jobs are forgotten at once (a CLEAN_PERIOD of 0)
    machine = lsf_machine(tmp_path)
    submission = make_submission(machine, [COPY] * 3)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 3) == [f"input {i}\n" for i in range(3)]
    assert len(lsf_double.calls("bsub")) == 3


def test_run_limit_is_reported_as_timed_out_against_the_lsf_double(lsf_double, tmp_path):
    lsf_double.configure(seconds_per_minute=1)  # -W 1 lasts one second in the double
    machine = lsf_machine(tmp_path, retry_count=0)
    submission = make_submission(machine, ["sleep 60"], custom_flags=["#BSUB -W 1"])
    started = time.monotonic()
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=CHECK_INTERVAL)
    assert time.monotonic() - started < 30
    assert "timed out (over its run limit): TERM_RUNLIMIT, exit code 140" in str(err.value)


def test_lost_bsub_answer_adopts_the_job_against_the_lsf_double(lsf_double, tmp_path):
    machine = lsf_machine(tmp_path)
    lsf_double.answer("bsub", lsf_double.front.lost_answer(), after=True)
    submission = make_submission(machine, [COPY] * 2)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 2) == ["input 0\n", "input 1\n"]
    assert len(lsf_double.jobs()) == 2  # the job whose answer was lost was adopted, not submitted again
    assert len(lsf_double.calls("bsub")) == 2
    lookups = [argv for argv in lsf_double.calls("bjobs") if "-J" in argv]
    assert len(lookups) == 1 and lookups[0][:2] == ["-a", "-J"]


LOSES_ANSWER_AND_LANDS_A_DECOY = """#!/bin/bash
# bsub of the LSF double; its first call submits the job, then lets another job of the same name (a newer id,
# another description) land, and loses the answer
real={real}
if [ ! -e {flag} ]; then
  : > {flag}
  "$real" "$@" > /dev/null
  "$real" -J relax-Si -Jd someone-else -o /dev/null true < /dev/null > /dev/null
  printf 'Failed in an LSF library call: Communication time out.\\nJob not submitted.\\n' >&2
  exit 255
fi
exec "$real" "$@"
"""


def test_one_task_jobs_carry_their_task_name_and_a_lost_answer_finds_the_right_one_against_the_lsf_double(
    lsf_double, tmp_path, monkeypatch
):
    """Two one-task jobs named "relax Si" (LSF: relax-Si); the first bsub's answer is lost after a newer job of
    that name landed: the lookup adopts the job with this job's description, not the newest of that name."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "bsub").write_text(
        LOSES_ANSWER_AND_LANDS_A_DECOY.format(real=lsf_double.bin_dir / "bsub", flag=tmp_path / "lost")
    )
    (shim / "bsub").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")
    machine = lsf_machine(tmp_path)
    submission = make_submission(machine, [COPY, "sleep 1; " + COPY], task_name="relax Si")
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 2) == ["input 0\n", "input 1\n"]
    assert len(lsf_double.jobs()) == 3  # the two jobs and the decoy: none submitted twice
    for job in submission.belonging_jobs:
        record = lsf_double.job(job.job_id)
        assert record is not None and record.name == "relax-Si"
        assert record.extra["description"] == f"dpd_{job.job_hash}"
    lookups = [argv for argv in lsf_double.calls("bjobs") if "-J" in argv]
    assert len(lookups) == 1 and lookups[0][:3] == ["-a", "-J", "relax-Si"]


DRIVER = """
import sys
from pathlib import Path
from dpdispatcher import Machine, Resources, Submission, Task

root = Path(sys.argv[1])
machine = Machine.load_from_dict({"batch_type": "LSF", "context_type": "LocalContext",
    "local_root": str(root / "local"), "remote_root": str(root / "remote")})
tasks = []
for i in range(4):
    (root / "local" / "wb" / f"t{i}").mkdir(parents=True, exist_ok=True)
    (root / "local" / "wb" / f"t{i}" / "in.txt").write_text(f"input {i}\\n")
    tasks.append(Task(command="echo run >> runs.txt; sleep 3; cat in.txt > out.txt", task_work_path=f"t{i}/",
                      forward_files=["in.txt"], backward_files=["out.txt", "runs.txt"]))
resources = Resources.load_from_dict({"number_node": 1, "cpu_per_node": 1, "gpu_per_node": 0,
    "queue_name": "", "group_size": 1, "batch_type": "LSF"})
Submission("wb", machine=machine, resources=resources, task_list=tasks).run_submission(check_interval=1)
print("DRIVER DONE")
"""


def test_killed_driver_rerun_adopts_jobs_against_the_lsf_double(lsf_double, tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(DRIVER))
    first = subprocess.Popen([sys.executable, str(script), str(tmp_path)], start_new_session=True)
    try:
        wait_for(lambda: len(job_ids(tmp_path / "remote")) == 4, "the 4 job ids")
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    assert len(lsf_double.calls("bsub")) == 4
    second = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=BOUND)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "DRIVER DONE" in second.stdout
    assert len(lsf_double.calls("bsub")) == 4  # adopted, not submitted again
    wb = tmp_path / "local" / "wb"
    assert [(wb / f"t{i}" / "out.txt").read_text() for i in range(4)] == [f"input {i}\n" for i in range(4)]
    assert [(wb / f"t{i}" / "runs.txt").read_text() for i in range(4)] == ["run\n"] * 4


def test_standalone_shims_need_no_environment_against_the_lsf_double(lsf_double, tmp_path):
    """The bound shims (for an SSHContext's remote shell) work with an environment that names nothing."""
    bin_dir = lsf_double.standalone_bin()
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\n#BSUB -J bound\necho hi\n")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    with script.open() as stdin:
        out = subprocess.run(["bsub"], stdin=stdin, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"Job <{lsf_double.jobs()[0].seq}> is submitted to default queue <normal>.\n"


def run(argv: list[str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=30)


def test_bsub_forms_and_directives_against_the_lsf_double(lsf_double, tmp_path):
    """``bsub script`` and ``bsub < script`` both read the #BSUB lines; the command line wins; LSF's answers."""
    lsf_double.configure(queues=["normal", "short"])
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\n#BSUB -J from_script\n#BSUB -q short\n#BSUB -o out.%J\n\necho hi\n#BSUB -n 9\n")
    first = run(["bsub", str(script)], tmp_path)
    assert first.stdout == "Job <1000> is submitted to queue <short>.\n" and first.returncode == 0
    second = run(["bsub", "-J", "from_cli", "-q", "normal"], tmp_path, stdin=script.read_text())
    assert second.stdout == "Job <1001> is submitted to queue <normal>.\n"
    one, two = lsf_double.jobs()
    assert (one.name, one.queue, one.output, one.extra["slots"]) == (
        "from_script",
        "short",
        str(tmp_path / "out.1000"),
        1,
    )
    assert (two.name, two.queue) == ("from_cli", "normal")  # the #BSUB -n after the first command is not read
    lsf_double.wait_idle()
    assert (tmp_path / "out.1000").read_text() == "hi\n"
    refused = run(["bsub", "-q", "long"], tmp_path, stdin="echo hi\n")
    assert (refused.returncode, refused.stderr) == (255, "long: No such queue. Job not submitted.\n")
    named = run(["bjobs", "-a", "-J", "nobody", "-json", "-o", "jobid"], tmp_path)
    assert (named.returncode, named.stdout, named.stderr) == (255, "", "Job <nobody> is not found\n")
    table = run(["bjobs", "-a", "-o", "jobid stat job_name"], tmp_path)
    assert table.stdout.splitlines() == ["JOBID STAT JOB_NAME", "1000  DONE from_script", "1001  DONE from_cli"]
    killed = run(["bkill", "1000", "999"], tmp_path)
    assert killed.stderr == "Job <1000>: Job has already finished\nJob <999>: No matching job found\n"
