"""Removing finished jobs' files while the run goes on (``clean=True``).

A job's files may go once its results are back *and* the record written since says so: a
driver killed at any moment then finds in its record every job whose files are gone, and
never looks for them in the job root again. The job's finished tag stays until the end
(one file per job), so a re-run that lost its local record still sees the job finished.

A task directory goes with its job only when removing it cannot touch another job: no other
task uses it, lies inside it or contains it, and no common file is in it.
"""

from __future__ import annotations

import logging
import posixpath
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING

from dpdispatcher.errors import DispatcherError
from dpdispatcher.JobStatus import JobStatus

if TYPE_CHECKING:
    from dpdispatcher.job import Job
    from dpdispatcher.machine import Machine

logger = logging.getLogger(__name__)


def job_files(machine: Machine, job: Job) -> list[str]:
    """Every file ``job`` may have left in the job root besides its tasks' own outputs."""
    return machine.generated_files(job) + task_files(job)


def task_files(job: Job) -> list[str]:
    """The tags and fail files ``job``'s tasks may have left in the job root.

    A finished job's tasks all succeeded, and a task that succeeds removes its fail file: only the
    tags are left (on 100,000 tasks, not asking to remove what cannot be there saves a quarter second).
    """
    if job.job_state == JobStatus.finished:
        return [task.finish_tag for task in job.job_task_list]
    return [name for task in job.job_task_list for name in (task.finish_tag, task.fail_file)]


def separate_task_dirs(task_dirs: Iterable[str], common_files: Iterable[str]) -> set[str]:
    """Those of ``task_dirs`` (relative to the job root) whose removal touches nothing outside one task."""
    counts = Counter(posixpath.normpath(d) for d in task_dirs)
    occupied: set[str] = set()  # every proper parent of a task directory or of a common file
    for path in [*counts, *(posixpath.normpath(f) for f in common_files)]:
        parent = posixpath.dirname(path)
        while parent and parent not in occupied:
            occupied.add(parent)
            parent = posixpath.dirname(parent)
    commons = {posixpath.normpath(f) for f in common_files}
    separate = set()
    for path, count in counts.items():
        if count > 1 or path in ("", ".") or path.startswith("..") or path in occupied or path in commons:
            continue
        parent = posixpath.dirname(path)
        while parent and parent not in counts:
            parent = posixpath.dirname(parent)
        if not parent:
            separate.add(path)
    return separate


class FinishedJobCleaner:
    """Removes the files of jobs whose download a written record notes, a batch per record write."""

    def __init__(self, machine: Machine, jobs: Sequence[Job], common_files: Collection[str]) -> None:
        self._machine = machine
        self._jobs = jobs
        self._common_files = common_files
        self._separate: set[str] | None = None  # worked out at the first removal
        self._recorded: list[Job] = []
        #: hashes of the jobs whose files went (all but their finished tag): the final clean need not name them
        self.cleaned: set[str] = set()

    def record_written(self) -> None:
        """A record was just written: the jobs it notes as downloaded may lose their files."""
        self._recorded = [job for job in self._jobs if job.downloaded and job.job_hash not in self.cleaned]

    def remove_recorded(self) -> None:
        """Remove the files of the jobs the last record noted (one call to the context for all of them).

        A failure is only a warning: whatever is left goes with the job root at the end.
        """
        jobs, self._recorded = self._recorded, []
        if not jobs:
            return
        if self._separate is None:
            self._separate = separate_task_dirs(
                (task.task_work_path for job in self._jobs for task in job.job_task_list), self._common_files
            )
        generated, task_dirs = [], []
        for job in jobs:
            generated += [name for name in job_files(self._machine, job) if name != job.finish_tag]
            for task in job.job_task_list:
                directory = posixpath.normpath(task.task_work_path)
                if directory in self._separate:
                    task_dirs.append(directory)
        try:
            self._machine.context.clean_finished(generated, task_dirs)
        except (DispatcherError, OSError) as err:
            logger.warning(
                "could not remove the files of %d finished job(s) yet (%s); they go at the end", len(jobs), err
            )
            return
        self.cleaned.update(job.job_hash for job in jobs)
