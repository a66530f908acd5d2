"""No command line grows with the work: 100,000 jobs never make a command or script line over the budget.

Each command the core and the shipped schedulers build from N jobs, tasks or files goes through a
context that records it. The command itself and every line of a script sent on stdin must stay
under COMMAND_BUDGET; status queries of 100,000 jobs really run (ps in chunks).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dpdispatcher import Machine, Resources, Submission, Task
from dpdispatcher.base_context import CommandResult
from dpdispatcher.commands import COMMAND_BUDGET, chunked_command, chunks
from dpdispatcher.errors import SchedulerError
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher_local import LocalContext

N_JOBS = 100_000
LONG_ROOT = "r" * 200


class RecordingContext(LocalContext):
    """A LocalContext that records every command and its stdin; with ``execute=False`` it runs nothing."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, str]] = []
        self.execute = True

    def run(self, cmd: str, timeout: float | None = None, stdin: str | None = None) -> CommandResult:
        self.calls.append((cmd, stdin or ""))
        if not self.execute:
            return CommandResult(0, "", "")
        return super().run(cmd, timeout, stdin)

    def longest_line(self) -> int:
        """Bytes of the longest command or script line recorded."""
        lines = [cmd for cmd, _ in self.calls] + [line for _, stdin in self.calls for line in stdin.splitlines()]
        return max(len(line.encode()) for line in lines)


def many_jobs(tmp_path: Path, batch_type: str) -> tuple[Machine, RecordingContext, list]:
    context = RecordingContext(local_root=str(tmp_path / "local"), remote_root=str(tmp_path / LONG_ROOT))
    machine = Machine(batch_type=batch_type, context=context)
    tasks = [Task(command="echo", task_work_path=f"task.{i:06d}/") for i in range(N_JOBS)]
    submission = Submission("wb", machine=machine, resources=Resources(group_size=1), task_list=tasks)
    submission.generate_jobs()
    context.bind(submission.work_base, submission.submission_hash)
    jobs = submission.belonging_jobs
    for index, job in enumerate(jobs):
        job.job_id = str(4_000_000 + index)  # above any pid_max: no such process
        job.job_state = JobStatus.running
    return machine, context, jobs


@pytest.mark.parametrize("batch_type", ["Shell", "Slurm", "SlurmJobArray"])
def test_no_command_exceeds_the_budget_for_100000_jobs(tmp_path, batch_type):
    machine, context, jobs = many_jobs(tmp_path, batch_type)
    context.execute = False
    with pytest.raises(SchedulerError):  # nothing answers the submit script: no ids
        machine.submit_jobs(jobs)
    machine.adopt_submitted(jobs)
    machine.kill_jobs(jobs)
    machine.check_statuses(jobs)
    machine.finished_tasks([task for job in jobs for task in job.job_task_list])
    assert context.calls, "the machine ran no command"
    assert context.longest_line() <= COMMAND_BUDGET
    # a submit script holds one step per job, whatever their number
    submit_script = next(stdin for _, stdin in context.calls if "dpd_job_id" in stdin)
    assert submit_script.count("\n") == N_JOBS + 2  # the running mark, the id pattern, then one step per job


def test_a_status_query_of_100000_shell_jobs_runs_in_chunks_and_answers_each(tmp_path):
    machine, context, jobs = many_jobs(tmp_path, "Shell")
    states = machine.check_statuses(jobs)
    assert states == [JobStatus.terminated] * N_JOBS  # no process, no finished tag
    ps_lines = [line for _, stdin in context.calls for line in stdin.splitlines() if line.startswith("ps ")]
    assert len(ps_lines) > 1
    assert context.longest_line() <= COMMAND_BUDGET


def test_chunks_keep_every_word_and_fit_the_budget():
    words = [f"w{i}" * (i % 7 + 1) for i in range(20_000)]
    runs = list(chunks(words, fixed=100, budget=4096))
    assert [w for run in runs for w in run] == words
    assert all(100 + sum(len(w) + 1 for w in run) <= 4096 for run in runs)
    lines = chunked_command(["rm", "-f", "--"], ["a b", "c'd"] * 5000, joiner=" ")
    assert all(len(line) <= COMMAND_BUDGET for line in lines)
    assert lines[0].startswith("rm -f -- 'a b' 'c'\"'\"'d'")
