"""The published 1.1.0 Submission keywords: continue_on_failure, previous_submission_hash, async_run_submission."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from helpers import copy_submission, local_machine, write_tasks

from dpdispatcher import Resources, Submission, Task
from dpdispatcher.errors import ConfigError, SubmissionFailedError
from dpdispatcher.job import Job
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.records import record_path


def one_bad_one_slow(tmp_path: Path, **kwargs) -> Submission:
    """t0 fails at once; t1 finishes after a while."""
    machine = local_machine(tmp_path, retry_count=0)
    write_tasks(tmp_path / "local" / "wb", 2)
    tasks = [
        Task(command="exit 3", task_work_path="t0/", forward_files=["in.txt"]),
        Task(
            command="sleep 2; cp in.txt out.txt",
            task_work_path="t1/",
            forward_files=["in.txt"],
            backward_files=["out.txt"],
        ),
    ]
    return Submission("wb", machine=machine, resources=Resources(group_size=1), task_list=tasks, **kwargs)


def test_fail_fast_by_default_leaves_the_others_running_for_the_next_run(tmp_path):
    submission = one_bad_one_slow(tmp_path)
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=0.1)
    assert "other job(s) are still queued or running" in str(err.value)
    assert not (tmp_path / "local" / "wb" / "t1" / "out.txt").exists()


@pytest.mark.parametrize("where", ["constructor", "run_submission"])
def test_continue_on_failure_runs_and_downloads_the_others_then_reports(tmp_path, where):
    submission = one_bad_one_slow(tmp_path, **({"continue_on_failure": True} if where == "constructor" else {}))
    kwargs = {"continue_on_failure": True} if where == "run_submission" else {}
    with pytest.raises(SubmissionFailedError) as err:
        submission.run_submission(check_interval=0.1, **kwargs)
    assert "exit code 3" in str(err.value) and "still queued" not in str(err.value)
    assert (tmp_path / "local" / "wb" / "t1" / "out.txt").read_text() == "1\n"
    record = json.loads(record_path(submission.submission_hash).read_text())
    assert record["continue_on_failure"] is True


def test_continue_on_failure_round_trips_and_old_records_load_as_false(tmp_path):
    submission = copy_submission(local_machine(tmp_path))
    submission.continue_on_failure = True
    submission.generate_jobs()
    data = submission.serialize()
    assert Submission.deserialize(data).continue_on_failure is True
    assert "continue_on_failure" not in submission.serialize(if_static=True)
    del data["continue_on_failure"]
    assert Submission.deserialize(data).continue_on_failure is False


def test_handle_unexpected_job_state_resubmits_or_reports(tmp_path):
    machine = local_machine(tmp_path, retry_count=0)
    submission = copy_submission(machine, n=1, group_size=1)
    submission.run_submission(dry_run=True)
    (job,) = submission.belonging_jobs
    job.job_state = JobStatus.terminated
    job.fail_count = 0
    job.handle_unexpected_job_state(continue_on_failure=True)  # retries exhausted: left alone
    assert job.fail_count == 1 and job.job_state == JobStatus.terminated
    with pytest.raises(SubmissionFailedError, match="giving up"):
        job.handle_unexpected_job_state()
    assert isinstance(job, Job)
    machine.retry_count = 5  # retries left: the job is submitted again and runs
    job.handle_unexpected_job_state()
    assert job.job_state == JobStatus.waiting and job.job_id.isdigit()
    out = Path(machine.context.remote_root) / "t0" / "out.txt"
    deadline = time.monotonic() + 30
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert out.read_text() == "0\n"


def test_previous_submission_hash_reuses_finished_tasks(tmp_path):
    ledger = tmp_path / "ledger"
    machine = local_machine(tmp_path)
    write_tasks(tmp_path / "local" / "wb", 3)

    def tasks(fail_t2: bool) -> list[Task]:
        return [
            Task(
                command=f"echo t{i} >> {ledger}; " + ("exit 1" if fail_t2 and i == 2 else "cp in.txt out.txt"),
                task_work_path=f"t{i}/",
                forward_files=["in.txt"],
                backward_files=["out.txt"],
            )
            for i in range(3)
        ]

    first = Submission("wb", machine=machine, resources=Resources(group_size=3), task_list=tasks(False))
    first.run_submission(exit_on_submit=True)
    deadline = time.monotonic() + 60  # bounded, and not a busy loop
    while not all((Path(machine.context.remote_root) / t.finish_tag).exists() for t in first.belonging_tasks):
        assert time.monotonic() < deadline, "the first submission's tasks did not finish"
        time.sleep(0.05)
    previous = first.submission_hash
    # the same tasks, other resources: a new submission that continues from the first one's job root
    again = Submission(
        "wb",
        machine=local_machine(tmp_path),
        resources=Resources(group_size=1),
        task_list=tasks(False),
        previous_submission_hash=previous,
    )
    assert again.submission_hash != previous
    again.run_submission(check_interval=0.1)
    assert sorted(ledger.read_text().split()) == ["t0", "t1", "t2"]  # nothing ran again
    assert [(tmp_path / "local" / "wb" / f"t{i}" / "out.txt").read_text() for i in range(3)] == ["0\n", "1\n", "2\n"]
    assert Submission.deserialize(again.serialize()).previous_submission_hash == previous


def test_a_previous_submission_hash_without_a_record_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="40 hexadecimal digits"):
        Submission("wb", previous_submission_hash="abc")
    submission = copy_submission(local_machine(tmp_path))
    submission.previous_submission_hash = "0" * 40
    with pytest.raises(ConfigError, match="no record of the previous submission 0000"):
        submission.run_submission()


def test_async_run_submission_does_not_block_the_loop_and_runs_several(tmp_path):
    first = copy_submission(local_machine(tmp_path / "a"), n=2)
    second = copy_submission(local_machine(tmp_path / "b"), n=2)
    ticks = []

    async def ticker() -> None:
        for _ in range(5):
            ticks.append(1)
            await asyncio.sleep(0.01)

    async def main() -> list:
        return await asyncio.gather(
            first.async_run_submission(check_interval=0.1), second.async_run_submission(check_interval=0.1), ticker()
        )

    results = asyncio.run(main())
    assert len(ticks) == 5
    assert all(next(iter(j.values()))["job_state"] == int(JobStatus.finished) for j in results[0]["belonging_jobs"])
    assert (tmp_path / "b" / "local" / "wb" / "t1" / "out.txt").read_text() == "1\n"
