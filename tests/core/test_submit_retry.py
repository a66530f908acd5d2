"""submit_with_retries: the one refusal loop every scheduler plugin submits through."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dpdispatcher.errors import SchedulerBusyError, SchedulerError
from dpdispatcher.submit_retry import Refusals, submit_with_retries


class ScriptedScheduler:
    """A machine whose scheduler answers each submit command from a script: per call, how many of the jobs it
    accepts and the error text of the first one it refuses."""

    retry_delay = 0.0
    retry_delay_max = 0.0
    submit_retries = 2

    def __init__(self, answers: list[tuple[int, str]]) -> None:
        self.answers = list(answers)
        self.calls: list[list[str]] = []
        self.recorded: dict[str, str] = {}
        self.context = SimpleNamespace(write_file=self.recorded.__setitem__)
        self._next_id = 100

    def submit_and_record_many(self, jobs, statements, *, sets_id=False):
        self.calls.append(list(statements))
        taken, error = self.answers.pop(0)
        ids = []
        for _ in jobs[:taken]:
            ids.append(str(self._next_id))
            self._next_id += 1
        if taken < len(jobs):
            raise SchedulerError("refused", submitted=ids, output=error)
        return ids


def jobs(n):
    return [
        SimpleNamespace(job_hash=f"h{i}", job_id_file=f"h{i}_job_id", script_file_name=f"h{i}.sub") for i in range(n)
    ]


REFUSALS = Refusals(
    is_transient=lambda e: "busy" in e or "timed out" in e,
    may_have_landed=lambda e: "timed out" in e,
    is_limit=lambda e: "limit" in e,
)


def submit(machine, some, find=None):
    return submit_with_retries(
        machine,  # type: ignore[arg-type]
        some,  # type: ignore[arg-type]
        lambda remaining: [f"qsub {job.script_file_name}" for job in remaining],
        scheduler="Q",
        command="qsub",
        refusals=REFUSALS,
        find_submitted=find,
    )


def test_a_busy_refusal_is_retried_for_the_jobs_not_yet_accepted_only():
    machine = ScriptedScheduler([(1, "busy"), (2, "")])
    assert submit(machine, jobs(3)) == ["100", "101", "102"]
    assert machine.calls == [["qsub h0.sub", "qsub h1.sub", "qsub h2.sub"], ["qsub h1.sub", "qsub h2.sub"]]


def test_a_lost_answer_looks_for_the_job_before_sending_it_again():
    machine = ScriptedScheduler([(0, "timed out"), (1, "")])
    assert submit(machine, jobs(2), find=lambda job: "77" if job.job_hash == "h0" else "") == ["77", "100"]
    assert machine.recorded == {"h0_job_id": "77\n"}  # recorded where the job runs, never submitted twice
    assert machine.calls[1] == ["qsub h1.sub"]


def test_a_final_refusal_names_the_job_and_keeps_the_ids_accepted_before_it():
    machine = ScriptedScheduler([(1, "qsub: Unknown queue")])
    with pytest.raises(SchedulerError, match=r"Q refused job h1: qsub: Unknown queue \(1 job\(s\) before it") as err:
        submit(machine, jobs(3))
    assert not isinstance(err.value, SchedulerBusyError)
    assert err.value.submitted == ["100"] and err.value.output == "qsub: Unknown queue"


def test_a_job_limit_is_left_to_the_next_poll_at_once():
    machine = ScriptedScheduler([(0, "job limit reached")])
    with pytest.raises(SchedulerBusyError, match="Q refused job h0 for now: job limit reached"):
        submit(machine, jobs(2))
    assert len(machine.calls) == 1


def test_refusals_without_progress_end_after_the_retry_budget_and_progress_resets_it():
    machine = ScriptedScheduler([(1, "busy"), (0, "busy"), (1, "busy"), (0, "busy"), (0, "busy")])
    with pytest.raises(SchedulerBusyError, match="Q kept refusing job h2 after 3 attempts: busy") as err:
        submit(machine, jobs(4))
    assert err.value.submitted == ["100", "101"]
    assert len(machine.calls) == 5  # 2 retries after h0, the budget restarted by h1, then 2 more
