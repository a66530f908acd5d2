"""No command line grows with the work: 100,000 jobs never make a command or script line over the budget.

Each command the core and the shipped schedulers build from N jobs, tasks or files goes through a
context that records it. The command itself and every line of a script sent on stdin must stay
under COMMAND_BUDGET; status queries of 100,000 jobs really run (ps in chunks).
"""

from __future__ import annotations

import pytest

from dpdispatcher import Machine, Resources, Submission, Task
from dpdispatcher.base_context import BaseContext
from dpdispatcher.commands import COMMAND_BUDGET, chunked_command, chunks
from dpdispatcher.errors import SchedulerError
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.testing import ScriptedContext, count_commands
from dpdispatcher_local import LocalContext

N_JOBS = 100_000
LONG_ROOT = "r" * 200


def many_jobs(context: BaseContext, batch_type: str) -> tuple[Machine, list]:
    machine = Machine(batch_type=batch_type, context=context)
    tasks = [Task(command="echo", task_work_path=f"task.{i:06d}/") for i in range(N_JOBS)]
    submission = Submission("wb", machine=machine, resources=Resources(group_size=1), task_list=tasks)
    submission.generate_jobs()
    context.bind(submission.work_base, submission.submission_hash)
    jobs = submission.belonging_jobs
    for index, job in enumerate(jobs):
        job.job_id = str(4_000_000 + index)  # above any pid_max: no such process
        job.job_state = JobStatus.running
    return machine, jobs


@pytest.mark.parametrize("batch_type", ["Shell", "Slurm", "SlurmJobArray"])
def test_no_command_exceeds_the_budget_for_100000_jobs(tmp_path, batch_type):
    context = ScriptedContext(tmp_path / LONG_ROOT)  # runs nothing: every command succeeds with no output
    machine, jobs = many_jobs(context, batch_type)
    with count_commands(context) as log:
        with pytest.raises(SchedulerError):  # nothing answers the submit script: no ids
            machine.submit_jobs(jobs)
        machine.adopt_submitted(jobs)
        machine.kill_jobs(jobs)
        machine.check_statuses(jobs)
        machine.finished_tasks([task for job in jobs for task in job.job_task_list])
    assert log.commands, "the machine ran no command"
    assert log.longest_line() <= COMMAND_BUDGET
    # a submit script holds one step per job, whatever their number
    submit_script = next(c.stdin for c in log.commands if c.stdin and "dpd_job_id" in c.stdin)
    assert submit_script.count("\n") == N_JOBS + 2  # the running mark, the id pattern, then one step per job


def test_a_status_query_of_100000_shell_jobs_runs_in_chunks_and_answers_each(tmp_path):
    context = LocalContext(local_root=str(tmp_path / "local"), remote_root=str(tmp_path / LONG_ROOT))
    context.is_local = False  # as over SSH: Shell asks ps (on this machine it reads /proc instead)
    machine, jobs = many_jobs(context, "Shell")
    with count_commands(context) as log:
        states = machine.check_statuses(jobs)
    assert states == [JobStatus.terminated] * N_JOBS  # no process, no finished tag
    assert len([line for line in log.lines() if line.startswith("ps ")]) > 1
    assert log.longest_line() <= COMMAND_BUDGET


def test_chunks_keep_every_word_and_fit_the_budget():
    words = [f"w{i}" * (i % 7 + 1) for i in range(20_000)]
    runs = list(chunks(words, fixed=100, budget=4096))
    assert [w for run in runs for w in run] == words
    assert all(100 + sum(len(w) + 1 for w in run) <= 4096 for run in runs)
    lines = chunked_command(["rm", "-f", "--"], ["a b", "c'd"] * 5000, joiner=" ")
    assert all(len(line) <= COMMAND_BUDGET for line in lines)
    assert lines[0].startswith("rm -f -- 'a b' 'c'\"'\"'d'")
