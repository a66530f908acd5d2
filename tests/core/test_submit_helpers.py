"""Machine.submit_and_record_many (dpdispatcher.submit): bad submit output and retries of a partly accepted batch.

The submit commands here are plain shell run in a LocalContext job root; each one
appends to ``launches_<n>`` so the tests can count how often a job was really launched.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dpdispatcher import Job, JobStatus, Machine, Resources, Task
from dpdispatcher.base_context import BaseContext
from dpdispatcher.errors import SchedulerError


class NumericIds(Machine):
    """A batch type whose ids are numbers; only its submit helper is used."""

    job_id_pattern = r"[0-9]+"

    def gen_script_header(self, job: Job) -> str:
        return self.shebang

    def submit_jobs(self, jobs: list[Job]) -> list[str]:
        raise NotImplementedError

    def check_statuses(self, jobs: list[Job]) -> list[JobStatus]:
        return [JobStatus.unknown] * len(jobs)

    def kill_jobs(self, jobs: list[Job]) -> None:
        pass


@pytest.fixture
def machine(tmp_path: Path) -> NumericIds:
    (tmp_path / "local").mkdir()
    context = BaseContext.load_from_dict(
        {"context_type": "LocalContext", "local_root": str(tmp_path / "local"), "remote_root": str(tmp_path / "remote")}
    )
    context.bind(".", "submission")
    return NumericIds(context=context)


def make_jobs(n: int) -> list[Job]:
    return [Job([Task(command=f"echo {i}", task_work_path=f"t{i}/")], resources=Resources()) for i in range(n)]


def launch(n: int, prints: str) -> str:
    """A submit command for job ``n``: count the launch, then print ``prints`` (shell words)."""
    return f"echo launched >> launches_{n}; printf '%s\\n' {prints}"


def launches(machine: Machine, n: int) -> int:
    path = Path(machine.context.remote_root) / f"launches_{n}"
    return len(path.read_text().splitlines()) if path.exists() else 0


def recorded(machine: Machine, job: Job) -> str | None:
    path = Path(machine.context.remote_root) / job.job_id_file
    return path.read_text().strip() if path.exists() else None


@pytest.mark.parametrize(
    ("prints", "shown"),
    [
        ("", "printed nothing instead of one job id"),
        ("41 42", "printed 41\n42 instead of one job id"),
        ("not-an-id", "the submit command printed 'not-an-id', which is not a NumericIds job id"),
    ],
    ids=["nothing", "two-lines", "not-matching-the-pattern"],
)
def test_bad_submit_output_is_an_error_that_shows_it_and_records_nothing(
    machine: NumericIds, prints: str, shown: str
) -> None:
    jobs = make_jobs(3)
    commands = [
        launch(0, "100"),
        launch(1, prints) if prints else "echo launched >> launches_1; true",
        launch(2, "300"),
    ]
    with pytest.raises(SchedulerError) as err:
        machine.submit_and_record_many(jobs, commands)
    message = str(err.value)
    assert shown in message
    assert jobs[1].job_hash in message
    assert err.value.submitted == ["100"]  # the job before it was accepted and is registered
    assert recorded(machine, jobs[0]) == "100"
    assert recorded(machine, jobs[1]) is None  # nothing that is not an id is recorded for the job
    assert launches(machine, 0) == launches(machine, 1) == 1


def test_a_failing_submit_command_shows_its_output_and_stops_the_batch(machine: NumericIds) -> None:
    jobs = make_jobs(3)
    refused = "echo launched >> launches_1; echo 'sbatch: error: QOSMaxSubmitJobPerUserLimit' >&2; exit 1"
    with pytest.raises(SchedulerError) as err:
        machine.submit_and_record_many(jobs, [launch(0, "100"), refused, launch(2, "300")])
    assert "QOSMaxSubmitJobPerUserLimit" in str(err.value)
    assert err.value.submitted == ["100"]
    assert [recorded(machine, job) for job in jobs] == ["100", None, None]
    assert [launches(machine, n) for n in range(3)] == [1, 1, 0]


def test_retrying_a_partly_accepted_batch_submits_no_accepted_job_twice(machine: NumericIds) -> None:
    jobs = make_jobs(4)
    refused = "echo launched >> launches_2; echo 'submit limit reached' >&2; exit 1"
    first = [launch(0, "100"), launch(1, "101"), refused, launch(3, "103")]
    with pytest.raises(SchedulerError) as err:
        machine.submit_and_record_many(jobs, first)
    assert err.value.submitted == ["100", "101"]
    # the retry's commands would print other ids: the accepted jobs keep theirs and are not launched again
    retry = [launch(n, f"90{n}") for n in range(4)]
    assert machine.submit_and_record_many(jobs, retry) == ["100", "101", "902", "903"]
    assert [launches(machine, n) for n in range(4)] == [1, 1, 2, 1]
    # a third call finds every job recorded and launches nothing
    assert machine.submit_and_record_many(jobs, retry) == ["100", "101", "902", "903"]
    assert [launches(machine, n) for n in range(4)] == [1, 1, 2, 1]
    assert machine.adopt_submitted(jobs) == {
        job.job_hash: job_id for job, job_id in zip(jobs, ["100", "101", "902", "903"])
    }


def test_retry_after_a_bad_id_launches_only_the_job_that_printed_it(machine: NumericIds) -> None:
    jobs = make_jobs(3)
    with pytest.raises(SchedulerError):
        machine.submit_and_record_many(jobs, [launch(0, "100"), launch(1, "not-an-id"), launch(2, "300")])
    retry = [launch(n, f"90{n}") for n in range(3)]
    ids = machine.submit_and_record_many(jobs, retry)
    assert ids[:2] == ["100", "901"]
    assert launches(machine, 0) == 1  # accepted before the bad id: never launched again
    assert launches(machine, 1) == 2  # its output named no job: launched again
    assert launches(machine, 2) == 1  # launched once, whichever call did it
    assert ids[2] == recorded(machine, jobs[2])


def test_a_job_whose_known_id_is_recorded_is_submitted_again(machine: NumericIds) -> None:
    """A terminated job is resubmitted: its recorded id is the one the driver knows, so it is not taken."""
    (job,) = make_jobs(1)
    assert machine.submit_and_record_many([job], [launch(0, "100")]) == ["100"]
    job.job_id = "100"
    assert machine.submit_and_record_many([job], [launch(0, "200")]) == ["200"]
    assert launches(machine, 0) == 2
    assert recorded(machine, job) == "200"
