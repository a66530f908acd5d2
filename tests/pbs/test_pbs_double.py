"""The PBS batch type against the project's PBS Pro TEST DOUBLE (tests/doubles: real jobs, PBS Pro's formats).

PBS Pro cannot run here; the double runs each job script in the background and answers
qsub/qstat/qdel/qselect in PBS Pro's documented formats (see tests/doubles/README.md).
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

pytestmark = pytest.mark.pbs


def pbs_machine(tmp_path: Path, **extra) -> Machine:
    return scheduler_machine(tmp_path, "PBS", **extra)


class TestPBSContractAgainstThePBSDouble(MachineContract):
    #: every job is a python runner and a bash script on a 2-core machine
    many_jobs = 100
    wait_bound = BOUND

    @pytest.fixture
    def machine(self, pbs_double, tmp_path):
        return pbs_machine(tmp_path)


# -- runs ------------------------------------------------------------------------------------------------


def test_jobs_run_in_the_double_with_pbs_headers_against_the_pbs_double(pbs_double, tmp_path):
    machine = pbs_machine(tmp_path)
    submission = make_submission(machine, ['echo "$PBS_JOBID" > id.txt; ' + COPY] * 4, group_size=2, cpu_per_node=2)
    submission.run_submission(check_interval=CHECK_INTERVAL, clean=False)
    assert outputs(machine, 4) == [f"input {i}\n" for i in range(4)]
    assert len(pbs_double.calls("qsub")) == 2
    for job in submission.belonging_jobs:
        record = pbs_double.job(job.job_id)
        assert record is not None and record.exit_status == 0
        assert record.name == f"dpd_{job.job_hash[:11]}"
        assert record.extra["resources"] == {"select": "1:ncpus=2"}
        assert record.output == os.path.join(machine.context.remote_root, f"{job.job_hash}.out")
        assert Path(record.output).exists()


def test_failing_task_is_retried_then_reported_against_the_pbs_double(pbs_double, tmp_path):
    machine = pbs_machine(tmp_path, retry_count=1)
    submission = make_submission(machine, [COPY, "echo broken-input-deck >&2; exit 3", COPY], group_size=3)
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=CHECK_INTERVAL)
    message = str(err.value)
    assert os.path.join(machine.context.local_root, "t1/") in message
    assert "broken-input-deck" in message and "exit code 3" in message
    assert "exited with status 1 (a task failed) (Exit_status 1)" in message  # PBS's record of the job
    assert len(pbs_double.calls("qsub")) == 2  # first run + retry_count=1
    assert outputs(machine, 1) == ["input 0\n"]


def test_one_qstat_per_poll_against_the_pbs_double(pbs_double, tmp_path):
    machine = pbs_machine(tmp_path)
    submission = make_submission(machine, ["sleep 1; " + COPY] * 12)
    polls = count_polls(machine)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 12) == [f"input {i}\n" for i in range(12)]
    qstats = pbs_double.calls("qstat")
    assert len(qstats) == len(polls) >= 2
    assert max(polls) == 12
    for argv, n in zip(qstats, polls):
        assert argv[:4] == ["-f", "-F", "json", "-x"] and len(argv) == 4 + n
    assert len(pbs_double.calls("qsub")) == 12


def test_qdel_from_outside_is_reported_against_the_pbs_double(pbs_double, tmp_path):
    machine = pbs_machine(tmp_path, retry_count=0)
    submission = make_submission(machine, ["sleep 300"])
    remote = tmp_path / "remote"
    deleted: list[str] = []

    def qdel() -> None:
        wait_for(lambda: bool(job_ids(remote)) and pbs_double.job(job_ids(remote)[0]).state == "running", "the job")
        job_id = job_ids(remote)[0]
        subprocess.run(["qdel", job_id], check=True, timeout=30)
        deleted.append(job_id)

    thread = threading.Thread(target=qdel, daemon=True)
    thread.start()
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=CHECK_INTERVAL)
    thread.join(BOUND)
    assert deleted
    assert f"PBS job {deleted[0]} was killed (SIGTERM" in str(err.value)
    assert "Exit_status 271" in str(err.value)


def test_qdel_from_outside_is_resubmitted_within_retries_against_the_pbs_double(pbs_double, tmp_path):
    machine = pbs_machine(tmp_path)
    slow_once = "echo run >> runs.txt; if [ $(wc -l < runs.txt) -eq 1 ]; then sleep 300; fi; " + COPY
    submission = make_submission(machine, [COPY, slow_once], group_size=2, para_deg=2)
    remote = tmp_path / "remote"

    def qdel() -> None:
        wait_for(lambda: bool(glob.glob(str(remote / "*" / "t1" / "runs.txt"))) and bool(job_ids(remote)), "start")
        subprocess.run(["qdel", job_ids(remote)[0]], check=True, timeout=30)

    thread = threading.Thread(target=qdel, daemon=True)
    thread.start()
    submission.run_submission(check_interval=CHECK_INTERVAL, clean=False)
    thread.join(BOUND)
    assert outputs(machine, 2) == ["input 0\n", "input 1\n"]
    assert len(pbs_double.calls("qsub")) == 2 and submission.belonging_jobs[0].fail_count == 1
    assert (remote / submission.submission_hash / "t1" / "runs.txt").read_text() == "run\nrun\n"


def test_limit_refusal_is_asked_again_at_the_next_poll_against_the_pbs_double(pbs_double, tmp_path):
    machine = pbs_machine(tmp_path)
    machine.submit_retries = 1  # two refusals end a submit call: the rest waits for the next poll
    pbs_double.answer("qsub", pbs_double.front.limit_refusal(), times=3)
    submission = make_submission(machine, [COPY] * 3)
    polls = count_polls(machine)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 3) == [f"input {i}\n" for i in range(3)]
    assert pbs_double.faults_left("qsub") == 0
    assert len(pbs_double.calls("qsub")) == 3 + 3  # three refused, then each job once
    assert len(pbs_double.jobs()) == 3
    assert polls, "the refused jobs were submitted at a later poll"
    assert [job.fail_count for job in submission.belonging_jobs] == [0, 0, 0]


def test_unknown_queue_is_an_error_naming_job_and_message_against_the_pbs_double(pbs_double, tmp_path):
    machine = pbs_machine(tmp_path)
    submission = make_submission(machine, [COPY], queue_name="nosuchqueue")
    with pytest.raises(SchedulerError, match=r"PBS refused job [0-9a-f]{40}: qsub: Unknown queue"):
        submission.run_submission(check_interval=CHECK_INTERVAL)
    assert pbs_double.jobs() == []


def test_server_down_for_a_while_against_the_pbs_double(pbs_double, tmp_path):
    machine = pbs_machine(tmp_path)
    submission = make_submission(machine, ["sleep 2; " + COPY] * 2)
    polls = count_polls(machine)
    original = machine.check_statuses

    def down_at_first_poll(jobs):
        if len(polls) == 1:
            pbs_double.down()
        elif len(polls) == 3:
            pbs_double.down(False)
        return original(jobs)

    machine.check_statuses = down_at_first_poll  # type: ignore[method-assign]
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 2) == ["input 0\n", "input 1\n"]
    assert len(polls) >= 3
    assert len(pbs_double.calls("qsub")) == 2


def test_forgotten_job_is_settled_from_its_tags_against_the_pbs_double(pbs_double, tmp_path):
    machine = pbs_machine(tmp_path)
    submission = make_submission(machine, [COPY] * 2)
    submission.run_submission(exit_on_submit=True)
    jobs = submission.belonging_jobs
    pbs_double.wait_idle()
    assert machine.check_statuses(jobs) == [JobStatus.finished] * 2
    assert sorted(pbs_double.forget()) == sorted(int(job.job_id.split(".")[0]) for job in jobs)
    machine.context.run(f"rm -f {jobs[1].finish_tag} {jobs[1].job_task_list[0].finish_tag}").check("rm")
    before = len(pbs_double.calls("qstat"))
    assert machine.check_statuses(jobs) == [JobStatus.finished, JobStatus.terminated]
    assert len(pbs_double.calls("qstat")) == before + 1
    # what PBS said when it last knew the job
    assert f"PBS job {jobs[1].job_id} ended without its finished tag (Exit_status 0)" in machine.describe_failure(
        jobs[1]
    )
    submission.run_submission(check_interval=CHECK_INTERVAL)  # the untagged job runs again
    assert len(pbs_double.calls("qsub")) == 3


def test_history_expiry_is_settled_from_tags_against_the_pbs_double(pbs_double, tmp_path):
    pbs_double.configure(history=0)  # finished jobs are forgotten at once (job_history_enable off)
    machine = pbs_machine(tmp_path)
    submission = make_submission(machine, [COPY] * 3)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 3) == [f"input {i}\n" for i in range(3)]
    assert len(pbs_double.calls("qsub")) == 3


def test_server_without_job_history_against_the_pbs_double(pbs_double, tmp_path):
    pbs_double.configure(job_history_enable=False)  # OpenPBS's default: qstat -x is refused
    machine = pbs_machine(tmp_path)
    submission = make_submission(machine, ["sleep 1; " + COPY] * 3)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 3) == [f"input {i}\n" for i in range(3)]
    qstats = pbs_double.calls("qstat")
    assert "-x" in qstats[0] and all("-x" not in argv for argv in qstats[1:])
    assert len(pbs_double.calls("qsub")) == 3


def test_walltime_is_reported_as_timed_out_against_the_pbs_double(pbs_double, tmp_path):
    machine = pbs_machine(tmp_path, retry_count=0)
    submission = make_submission(machine, ["sleep 60"], custom_flags=["#PBS -l walltime=00:00:01"])
    started = time.monotonic()
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=CHECK_INTERVAL)
    assert time.monotonic() - started < 30
    assert "timed out (over its walltime: JOB_EXEC_KILL_WALLTIME)" in str(err.value)


def test_lost_qsub_answer_adopts_the_job_against_the_pbs_double(pbs_double, tmp_path):
    machine = pbs_machine(tmp_path)
    pbs_double.answer("qsub", pbs_double.front.Answer(stderr="qsub: End of File\n", code=1), after=True)
    submission = make_submission(machine, [COPY] * 2)
    submission.run_submission(check_interval=CHECK_INTERVAL)
    assert outputs(machine, 2) == ["input 0\n", "input 1\n"]
    assert len(pbs_double.jobs()) == 2  # the job whose answer was lost was adopted, not submitted again
    assert len(pbs_double.calls("qsub")) == 2
    assert len(pbs_double.calls("qselect")) == 1


LOSES_ANSWER_AND_LANDS_A_DECOY = """#!/bin/bash
# qsub of the PBS double; its first call submits the job, then lets another job of the same name (a newer id,
# another output file) land, and loses the answer
real={real}
if [ ! -e {flag} ]; then
  : > {flag}
  "$real" "$@" > /dev/null
  printf '#!/bin/bash\\n#PBS -N relax\\ntrue\\n' > {decoy}
  "$real" -o {decoy}.out {decoy} > /dev/null
  echo "qsub: End of File" >&2
  exit 1
fi
exec "$real" "$@"
"""


def test_one_task_jobs_carry_their_task_name_and_a_lost_answer_finds_the_right_one_against_the_pbs_double(
    pbs_double, tmp_path, monkeypatch
):
    """Two one-task jobs named "relax"; the first qsub's answer is lost after a newer job of that name landed:
    the lookup adopts the job that writes this job's output file, not the newest of that name."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "qsub").write_text(
        LOSES_ANSWER_AND_LANDS_A_DECOY.format(
            real=pbs_double.bin_dir / "qsub", flag=tmp_path / "lost", decoy=tmp_path / "decoy.sh"
        )
    )
    (shim / "qsub").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")
    machine = pbs_machine(tmp_path)
    submission = make_submission(machine, [COPY, "sleep 1; " + COPY], task_name="relax")
    submission.run_submission(check_interval=CHECK_INTERVAL, clean=False)
    assert outputs(machine, 2) == ["input 0\n", "input 1\n"]
    assert len(pbs_double.jobs()) == 3  # the two jobs and the decoy: none submitted twice
    for job in submission.belonging_jobs:
        record = pbs_double.job(job.job_id)
        assert record is not None and record.name == "relax"
        assert record.output == os.path.join(machine.context.remote_root, f"{job.job_hash}.out")
    assert "#PBS -N relax" in Path(machine.context.remote_root, job.script_file_name).read_text().splitlines()
    assert len(pbs_double.calls("qselect")) == 1 and pbs_double.calls("qselect")[0][:3] == ["-x", "-N", "relax"]


DRIVER = """
import sys
from pathlib import Path
from dpdispatcher import Machine, Resources, Submission, Task

root = Path(sys.argv[1])
machine = Machine.load_from_dict({"batch_type": "PBS", "context_type": "LocalContext",
    "local_root": str(root / "local"), "remote_root": str(root / "remote")})
tasks = []
for i in range(4):
    (root / "local" / "wb" / f"t{i}").mkdir(parents=True, exist_ok=True)
    (root / "local" / "wb" / f"t{i}" / "in.txt").write_text(f"input {i}\\n")
    tasks.append(Task(command="echo run >> runs.txt; sleep 3; cat in.txt > out.txt", task_work_path=f"t{i}/",
                      forward_files=["in.txt"], backward_files=["out.txt", "runs.txt"]))
resources = Resources.load_from_dict({"number_node": 1, "cpu_per_node": 1, "gpu_per_node": 0,
    "queue_name": "", "group_size": 1, "batch_type": "PBS"})
Submission("wb", machine=machine, resources=resources, task_list=tasks).run_submission(check_interval=1)
print("DRIVER DONE")
"""


def test_killed_driver_rerun_adopts_jobs_against_the_pbs_double(pbs_double, tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(DRIVER))
    first = subprocess.Popen([sys.executable, str(script), str(tmp_path)], start_new_session=True)
    try:
        wait_for(lambda: len(job_ids(tmp_path / "remote")) == 4, "the 4 job ids")
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    assert len(pbs_double.calls("qsub")) == 4
    second = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=BOUND)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "DRIVER DONE" in second.stdout
    assert len(pbs_double.calls("qsub")) == 4  # adopted, not submitted again
    wb = tmp_path / "local" / "wb"
    assert [(wb / f"t{i}" / "out.txt").read_text() for i in range(4)] == [f"input {i}\n" for i in range(4)]
    assert [(wb / f"t{i}" / "runs.txt").read_text() for i in range(4)] == ["run\n"] * 4


def test_standalone_shims_need_no_environment(pbs_double, tmp_path):
    """The bound shims (for an SSHContext's remote shell) work with an environment that names nothing."""
    bin_dir = pbs_double.standalone_bin()
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\n#PBS -N bound\necho hi\n")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run(["qsub", str(script)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{pbs_double.jobs()[0].seq}.{SchedulerDouble('pbs', tmp_path / 'x').server}"
