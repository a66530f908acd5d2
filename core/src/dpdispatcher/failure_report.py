"""The message a run ends with when tasks failed for good: what failed, where, why, and what to do."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dpdispatcher.job import Job
    from dpdispatcher.machine import Machine
    from dpdispatcher.task import Task

#: lines of an errlog or of a job's output quoted per failure
ERRLOG_TAIL_LINES = 20


def failure_report(
    machine: Machine,
    submission_hash: str,
    failed_jobs: list[Job],
    failed_tasks: list[Task],
    *,
    n_downloaded: int,
    still_running: list[Job],
) -> str:
    """Each failed task with its directory, exit code and errlog tail (or its job's output), the scheduler's
    reasons, what was downloaded, and the command that lets the jobs be retried."""
    context = machine.context
    lines = [
        f"{len(failed_tasks)} task(s) still failed after {machine.retry_count} retries (submission {submission_hash}):"
    ]
    present = context.files_exist([t.fail_file for t in failed_tasks])
    for task in failed_tasks:
        lines.append(
            f"- task directory {os.path.join(context.local_root, task.task_work_path)} (command: {task.command})"
        )
        lines.append(f"  ran in {os.path.join(context.remote_root, task.task_work_path)}")
        if task.fail_file in present:
            report = context.read_file(task.fail_file).splitlines()
            exit_code = report[0] if report else "failed"
            if task.errlog:
                lines.append(f"  {exit_code}; last lines of {task.errlog}:")
                lines += ["    " + line for line in report[1:][-ERRLOG_TAIL_LINES:]]
            else:
                lines.append(f"  {exit_code} (no errlog: its stderr went to the job's output)")
        else:
            lines.append("  the task did not report back (its job was killed or ended first)")
    lines += _job_outputs(machine, failed_jobs, present)
    reasons = {machine.describe_failure(job) for job in failed_jobs} - {""}
    if reasons:
        lines.append("scheduler: " + "; ".join(sorted(reasons)))
    lines.append(f"The results of the {n_downloaded} task(s) that succeeded were downloaded.")
    if still_running:
        lines.append(
            f"{len(still_running)} other job(s) are still queued or running: the run stopped at the first job "
            "that gave up (continue_on_failure keeps it going); the next run picks them up."
        )
    lines.append(f"Fix the cause and run again after `dpdisp submission {submission_hash} --reset-fail-count`.")
    return "\n".join(lines)


def _job_outputs(machine: Machine, failed_jobs: list[Job], fail_files: set[str]) -> list[str]:
    """The tail of the job's own output, for jobs none of whose tasks reported an errlog: their script failed
    first (a syntax error in a command, a module that does not load), the scheduler ended them, or the failed
    tasks have no errlog (their stderr went to the job's output)."""
    silent = [job for job in failed_jobs if not any(t.fail_file in fail_files and t.errlog for t in job.job_task_list)]
    outputs = {name: job for job in silent for name in machine.output_files(job)}
    lines = []
    for name in sorted(machine.context.files_exist(list(outputs))):
        tail = machine.context.read_file(name).splitlines()[-ERRLOG_TAIL_LINES:]
        if tail:
            lines.append(f"- job {outputs[name].job_hash[:12]} printed, at the end of {name}:")
            lines += ["    " + line for line in tail]
    return lines
