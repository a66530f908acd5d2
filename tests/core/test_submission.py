"""Submissions through Shell + LocalContext: grouping, scripts, files, failures, recovery."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from helpers import copy_submission, local_machine, write_tasks

from dpdispatcher import JobStatus, Resources, Submission, Task
from dpdispatcher.errors import MissingForwardFileError, SubmissionFailedError, UnsafePathError
from dpdispatcher.records import record_path


def outputs(machine, n):
    base = Path(machine.context.init_local_root) / "wb"
    return [(base / f"t{i}" / "out.txt").read_text() for i in range(n) if (base / f"t{i}" / "out.txt").exists()]


def test_tasks_run_and_results_come_back_then_remote_is_cleaned(tmp_path):
    machine = local_machine(tmp_path)
    submission = copy_submission(machine, n=5, group_size=2)
    submission.run_submission()
    assert outputs(machine, 5) == [f"{i}\n" for i in range(5)]
    assert len(submission.belonging_jobs) == 3
    assert not Path(machine.context.remote_root).exists()
    # only the small finished record is left: it names when and where, no jobs
    finished = json.loads(record_path(submission.submission_hash).read_text())
    assert set(finished) == {"submission_hash", "finished"} and finished["finished"]["tasks"] == 5


def test_group_size_zero_puts_all_tasks_in_one_job(tmp_path):
    submission = copy_submission(local_machine(tmp_path), n=7, group_size=0)
    submission.generate_jobs()
    assert [len(j.job_task_list) for j in submission.belonging_jobs] == [7]


def test_grouping_is_a_fixed_shuffle_and_leaves_the_global_rng_alone(tmp_path):
    import random

    random.seed(1)
    expected_next = random.random()
    random.seed(1)
    first = copy_submission(local_machine(tmp_path), n=10, group_size=3)
    first.generate_jobs()
    assert random.random() == expected_next
    second = copy_submission(local_machine(tmp_path), n=10, group_size=3)
    second.generate_jobs()
    assert [j.job_hash for j in first.belonging_jobs] == [j.job_hash for j in second.belonging_jobs]


def test_para_deg_runs_tasks_concurrently(tmp_path):
    machine = local_machine(tmp_path, context="LazyLocalContext")
    # each task waits until the other has started: only passes when both run at once
    command = "touch started; for i in $(seq 100); do [ $(ls ../t*/started | wc -l) -ge 2 ] && break; sleep 0.05; done; [ $(ls ../t*/started | wc -l) -ge 2 ] && cp in.txt out.txt"
    submission = copy_submission(machine, n=2, group_size=2, command=command, para_deg=2)
    submission.run_submission()
    assert outputs(machine, 2) == ["0\n", "1\n"]


def test_globs_directories_and_common_files_travel_both_ways(tmp_path):
    machine = local_machine(tmp_path)
    base = tmp_path / "local" / "wb"
    (base / "t0" / "inputs").mkdir(parents=True)
    (base / "t0" / "inputs" / "a.in").write_text("a")
    (base / "t0" / "x.dat").write_text("x")
    (base / "t0" / "y.dat").write_text("y")
    (base / "graph.pb").write_text("g")
    task = Task(
        command="cat inputs/a.in *.dat ../graph.pb > res.out && mkdir -p outdir && echo o > outdir/o.txt && echo c > ../common.out",
        task_work_path="t0",
        forward_files=["inputs", "*.dat"],
        backward_files=["*.out", "outdir"],
    )
    submission = Submission(
        "wb",
        machine=machine,
        resources=Resources(group_size=1),
        task_list=[task],
        forward_common_files=["graph.pb"],
        backward_common_files=["common.out"],
    )
    submission.run_submission()
    assert (base / "t0" / "res.out").read_text() == "axyg"
    assert (base / "t0" / "outdir" / "o.txt").read_text() == "o\n"
    assert (base / "common.out").read_text() == "c\n"


def test_symlink_profile_links_inputs_instead_of_copying(tmp_path):
    machine = local_machine(tmp_path, remote_profile={"symlink": True})
    submission = copy_submission(machine, n=1, group_size=1, command="readlink in.txt > out.txt")
    submission.run_submission()
    assert outputs(machine, 1)[0].strip() == str(tmp_path / "local" / "wb" / "t0" / "in.txt")


def test_lazy_local_runs_in_place_and_cleans_only_its_own_files(tmp_path):
    machine = local_machine(tmp_path, context="LazyLocalContext")
    submission = copy_submission(machine, n=3, group_size=1)
    submission.run_submission()
    base = tmp_path / "local" / "wb"
    assert outputs(machine, 3) == ["0\n", "1\n", "2\n"]
    assert sorted(p.name for p in base.iterdir()) == ["t0", "t1", "t2"]
    assert sorted(p.name for p in (base / "t0").iterdir()) == ["err", "in.txt", "log", "out.txt"]


def test_outlog_and_errlog_none_discard_output(tmp_path):
    machine = local_machine(tmp_path, context="LazyLocalContext")
    write_tasks(tmp_path / "local" / "wb", 1)
    task = Task(command="echo out; echo err >&2; cp in.txt out.txt", task_work_path="t0", outlog=None, errlog=None)
    Submission("wb", machine=machine, resources=Resources(group_size=1), task_list=[task]).run_submission()
    assert sorted(p.name for p in (tmp_path / "local" / "wb" / "t0").iterdir()) == ["in.txt", "out.txt"]


def test_missing_forward_file_is_an_error_before_anything_runs(tmp_path):
    machine = local_machine(tmp_path)
    submission = copy_submission(machine, n=2, command="touch ran")
    submission.belonging_tasks[1].forward_files.append("absent.dat")
    with pytest.raises(MissingForwardFileError) as err:
        submission.run_submission()
    assert str(tmp_path / "local" / "wb" / "t1" / "absent.dat") in str(err.value)
    assert "nothing was submitted" in str(err.value)
    assert not list(tmp_path.rglob("ran"))


@pytest.mark.parametrize(
    "field,value",
    [("task_work_path", "../outside"), ("forward_files", ["../../etc/passwd"]), ("backward_files", ["/etc/passwd"])],
)
def test_paths_escaping_the_work_base_are_refused(tmp_path, field, value):
    machine = local_machine(tmp_path)
    write_tasks(tmp_path / "local" / "wb", 1)
    args = {"command": "touch ran", "task_work_path": "t0", field: value}
    submission = Submission("wb", machine=machine, resources=Resources(group_size=1), task_list=[Task(**args)])
    with pytest.raises(UnsafePathError) as err:
        submission.run_submission()
    assert "escapes the work base" in str(err.value)
    assert not list(tmp_path.rglob("ran"))


def test_task_that_keeps_failing_names_its_directory_and_errlog_tail(tmp_path):
    machine = local_machine(tmp_path, retry_count=2)
    submission = copy_submission(machine, n=3, group_size=1)
    bad = submission.belonging_tasks[2]
    bad.command = "echo attempt >> ../attempts; echo 'segfault in pair_style' >&2; exit 7"
    bad.task_hash = bad.get_hash()
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission()
    message = str(err.value)
    assert f"task directory {tmp_path / 'local' / 'wb' / 't2/'}" in message
    assert "exit code 7" in message and "segfault in pair_style" in message
    assert "after 2 retries" in message
    assert outputs(machine, 2) == ["0\n", "1\n"]  # the others' results arrived
    assert (Path(machine.context.remote_root) / "attempts").read_text().count("attempt") == 3
    # the record keeps the failure, so a re-run does not silently resubmit
    record = json.loads(record_path(submission.submission_hash).read_text())
    fails = [job["fail_count"] for jd in record["belonging_jobs"] for job in jd.values()]
    assert max(fails) == 3


def test_set_e_in_prepend_script_does_not_let_a_failing_task_pass(tmp_path):
    """The published package tags such a job finished and the run succeeds without the task's results."""
    machine = local_machine(tmp_path, retry_count=0)
    submission = copy_submission(machine, n=3, group_size=3, prepend_script=["set -e"])
    bad = submission.belonging_tasks[0]
    bad.command = "exit 3"
    bad.task_hash = bad.get_hash()
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission()
    assert "exit code 3" in str(err.value)
    assert outputs(machine, 3) == ["1\n", "2\n"]  # the other tasks ran (t0 has none), and their results arrived


def test_resubmission_skips_tasks_that_already_finished(tmp_path):
    machine = local_machine(tmp_path, retry_count=1)
    work = tmp_path / "local" / "wb"
    write_tasks(work, 2)
    flaky = "echo run >> ../runs_$(basename $PWD); if [ ! -f ../second ]; then touch ../second; exit 1; fi; cp in.txt out.txt"
    tasks = [
        Task(
            command=flaky if i == 1 else "echo run >> ../runs_$(basename $PWD); cp in.txt out.txt",
            task_work_path=f"t{i}",
            backward_files=["out.txt"],
            forward_files=["in.txt"],
        )
        for i in range(2)
    ]
    submission = Submission("wb", machine=machine, resources=Resources(group_size=0), task_list=tasks)
    submission.run_submission(clean=False)
    remote = Path(machine.context.remote_root)
    assert (remote / "runs_t0").read_text() == "run\n"
    assert (remote / "runs_t1").read_text() == "run\nrun\n"
    assert submission.belonging_jobs[0].fail_count == 1


def test_dry_run_writes_scripts_and_submits_nothing(tmp_path):
    machine = local_machine(tmp_path)
    submission = copy_submission(machine, n=2, group_size=1, command="touch ran")
    submission.run_submission(dry_run=True)
    remote = Path(machine.context.remote_root)
    assert sorted(p.name for p in remote.glob("*.sub")) == sorted(j.script_file_name for j in submission.belonging_jobs)
    assert not list(remote.rglob("ran"))
    assert all(j.job_state == JobStatus.unsubmitted for j in submission.belonging_jobs)


def test_exit_on_submit_then_rerun_picks_up_the_same_jobs(tmp_path):
    machine = local_machine(tmp_path)
    submission = copy_submission(machine, n=2, group_size=1, command="echo x >> ../count; cp in.txt out.txt")
    submission.run_submission(exit_on_submit=True)
    ids = [j.job_id for j in submission.belonging_jobs]
    assert all(ids)
    again = copy_submission(local_machine(tmp_path), n=2, group_size=1, command="echo x >> ../count; cp in.txt out.txt")
    again.run_submission(clean=False)
    assert [j.job_id for j in again.belonging_jobs] == ids
    assert (Path(again.machine.context.remote_root) / "count").read_text() == "x\nx\n"


def test_identity_ignores_cwd_and_secrets(tmp_path, monkeypatch):
    first = copy_submission(local_machine(tmp_path), n=2)
    monkeypatch.chdir(tmp_path)
    second = copy_submission(local_machine(tmp_path), n=2)
    assert first.submission_hash == second.submission_hash
    second.machine.context.remote_profile["password"] = "hunter2"
    assert "hunter2" not in json.dumps(second.serialize())
    assert first.submission_hash == second.submission_hash


def test_records_are_written_atomically(tmp_path):
    submission = copy_submission(local_machine(tmp_path), n=2)
    submission.run_submission(exit_on_submit=True)
    path = record_path(submission.submission_hash)
    assert json.loads(path.read_text())["submission_hash"] == submission.submission_hash
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left behind


DRIVER = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from helpers import copy_submission, local_machine
machine = local_machine(Path({tmp!r}))
command = "echo run >> ../runs_$(basename $PWD); while [ ! -f {release!r} ]; do sleep 0.05; done; cp in.txt out.txt"
submission = copy_submission(machine, n=6, group_size=2, command=command, para_deg=2)
submission.run_submission(check_interval=0.2, clean=False)
print("DONE")
"""


def test_kill_9_of_the_driver_then_rerun_submits_nothing_twice(tmp_path):
    import signal
    import subprocess
    import time

    release = tmp_path / "release"
    script = DRIVER.format(tests=str(Path(__file__).parent.parent), tmp=str(tmp_path), release=str(release))
    env = {**os.environ}
    first = subprocess.Popen([sys.executable, "-c", script], env=env)
    deadline = time.monotonic() + 60
    while len(list((tmp_path / "remote").glob("*/runs_t*"))) < 6:  # every task is running
        assert time.monotonic() < deadline and first.poll() is None, "driver did not start the tasks"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    remote = next((tmp_path / "remote").iterdir())
    job_ids_before = sorted(p.read_text() for p in remote.glob("*_job_id"))
    release.touch()
    second = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert outputs(local_machine(tmp_path), 6) == [f"{i}\n" for i in range(6)]
    # each task ran once: nothing was submitted twice or rerun
    assert len(job_ids_before) == 3
    assert sorted(p.read_text() for p in remote.glob("*_job_id")) == job_ids_before
    runs = {p.name: p.read_text() for p in remote.glob("runs_t*")}
    assert runs == {f"runs_t{i}": "run\n" for i in range(6)}


def test_kill_between_submit_and_record_is_adopted(tmp_path):
    """A submit whose record write never happened: the job id file written by the submit command is adopted."""
    machine = local_machine(tmp_path)
    submission = copy_submission(machine, n=2, group_size=2, command="echo run >> ../runs; cp in.txt out.txt")
    submission.run_submission(dry_run=True)
    job = submission.belonging_jobs[0]
    job_id = machine.do_submit(job)  # submitted, but the driver "died" before recording it
    again = copy_submission(
        local_machine(tmp_path), n=2, group_size=2, command="echo run >> ../runs; cp in.txt out.txt"
    )
    again.run_submission(clean=False)
    assert again.belonging_jobs[0].job_id == job_id
    assert (Path(again.machine.context.remote_root) / "runs").read_text() == "run\nrun\n"


def test_submit_command_rerun_after_a_dropped_link_submits_nothing_twice(tmp_path):
    """Contexts re-run a command whose connection dropped; the submit command must be idempotent."""
    machine = local_machine(tmp_path)
    run = machine.context.run

    def run_twice_when_submitting(cmd, timeout=None, stdin=None):
        if "dpd_job_id" in (stdin or ""):
            run(cmd, timeout, stdin)  # the first attempt ran, but its answer was "lost"
        return run(cmd, timeout, stdin)

    machine.context.run = run_twice_when_submitting
    submission = copy_submission(machine, n=2, group_size=1, command="echo run >> ../runs; cp in.txt out.txt")
    submission.run_submission(clean=False)
    assert (Path(machine.context.remote_root) / "runs").read_text() == "run\nrun\n"
    assert outputs(machine, 2) == ["0\n", "1\n"]


def test_a_scheduler_that_refuses_for_now_is_asked_again_at_the_next_poll(tmp_path, caplog):
    from dpdispatcher.errors import SchedulerBusyError

    machine = local_machine(tmp_path)
    submit_jobs = machine.submit_jobs
    refusals = []

    def busy_twice(jobs):
        if len(refusals) < 2:
            refusals.append(len(jobs))
            raise SchedulerBusyError("submit limit reached (QOSMaxSubmitJobPerUserLimit)")
        return submit_jobs(jobs)

    machine.submit_jobs = busy_twice
    submission = copy_submission(machine, n=3, group_size=1)
    submission.run_submission(check_interval=0.1)
    assert refusals == [3, 3]
    assert outputs(machine, 3) == ["0\n", "1\n", "2\n"]
    assert "trying again at the next poll" in caplog.text
    assert all(job.fail_count == 0 for job in submission.belonging_jobs)


def test_jobs_accepted_before_a_refusal_are_registered_not_submitted_again(tmp_path):
    from dpdispatcher.errors import SchedulerBusyError

    machine = local_machine(tmp_path)
    submit_jobs = machine.submit_jobs
    batches = []

    def accept_one_then_refuse(jobs):
        batches.append(len(jobs))
        if len(batches) == 1:
            ids = submit_jobs(jobs[:1])
            raise SchedulerBusyError("submit limit reached", submitted=ids)
        return submit_jobs(jobs)

    machine.submit_jobs = accept_one_then_refuse
    submission = copy_submission(machine, n=3, group_size=1, command="echo run >> ../runs; cp in.txt out.txt")
    submission.run_submission(check_interval=0.1, clean=False)
    assert batches == [3, 2]
    assert (Path(machine.context.remote_root) / "runs").read_text() == "run\n" * 3
    assert outputs(machine, 3) == ["0\n", "1\n", "2\n"]


def test_a_job_whose_script_fails_before_its_tasks_shows_the_scripts_own_output(tmp_path):
    """An unbalanced quote breaks the whole script: the report shows bash's words from the job's output."""
    machine = local_machine(tmp_path, retry_count=0)
    submission = copy_submission(machine, n=1, group_size=1, command="echo 'unbalanced")
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=0.1)
    message = str(err.value)
    assert "the task did not report back" in message
    assert "printed, at the end of" in message and "unexpected EOF" in message


def test_results_stream_back_as_jobs_finish(tmp_path):
    """A quick job's result is in the work base while a slow job still runs; a re-run does not fetch it again."""
    import threading
    import time

    machine = local_machine(tmp_path)
    release = tmp_path / "release"
    submission = copy_submission(
        machine,
        n=2,
        group_size=1,
        command=f"[ $(basename $PWD) = t0 ] || while [ ! -f {release} ]; do sleep 0.05; done; cp in.txt out.txt",
    )
    runner = threading.Thread(target=submission.run_submission, kwargs={"check_interval": 0.2})
    runner.start()
    quick = tmp_path / "local" / "wb" / "t0" / "out.txt"
    deadline = time.monotonic() + 30
    while not quick.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert quick.read_text() == "0\n"  # arrived while the other job still waits
        assert not (tmp_path / "local" / "wb" / "t1" / "out.txt").exists()

        def downloaded() -> int:  # the record is written right after the download
            record = json.loads(record_path(submission.submission_hash).read_text())
            return [next(iter(j.values())).get("downloaded", False) for j in record["belonging_jobs"]].count(True)

        while downloaded() != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert downloaded() == 1
    finally:
        release.touch()
        runner.join(60)
    assert outputs(machine, 2) == ["0\n", "1\n"]
