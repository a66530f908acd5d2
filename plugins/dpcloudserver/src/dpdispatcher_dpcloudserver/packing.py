"""What goes into a job's archive and what its result archive brings back (names relative to the job root)."""

from __future__ import annotations

import os

from dpdispatcher.job import Job
from dpdispatcher.paths import expand_local, safe_join


def archive_members(job: Job, job_root: str, common_forward: list[str]) -> list[str]:
    """The job's script, its tasks' forward files, the common forward files, and the finished tags of its
    tasks that already ran (so that a resubmitted job skips them)."""
    members = [job.script_file_name]
    for task in job.job_task_list:
        task_dir = os.path.join(job_root, task.task_work_path)
        members += [safe_join(task.task_work_path, m) for f in task.forward_files for m in expand_local(task_dir, f)]
    members += common_forward
    members += [t.finish_tag for t in job.job_task_list if os.path.exists(os.path.join(job_root, t.finish_tag))]
    return list(dict.fromkeys(members))


def task_dirs(job: Job) -> list[str]:
    """The tasks' directories: in the archive even when empty, since each task starts in its own."""
    return sorted({safe_join(task.task_work_path) for task in job.job_task_list} - {"."})


def result_patterns(job: Job, user_backward: list[str], common_backward: list[str]) -> list[str]:
    """What the platform sends back: the tasks' backward files, their finished tags and failure reports,
    the job's finished tag, and the user's and the submission's extra backward files."""
    patterns = [safe_join(t.task_work_path, f) for t in job.job_task_list for f in t.backward_files]
    patterns += [name for t in job.job_task_list for name in (t.finish_tag, t.fail_file)]
    patterns += [job.finish_tag, *user_backward, *common_backward]
    return list(dict.fromkeys(patterns))


def log_file(job: Job, configured: str | None) -> str | None:
    """The file the platform shows as the job's log: the configured one, else the first task's outlog."""
    if configured:
        return configured
    first = job.job_task_list[0]
    return safe_join(first.task_work_path, first.outlog) if first.outlog else None
