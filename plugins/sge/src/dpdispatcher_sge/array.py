"""SGEJobArray: each Job is one Grid Engine array job; a resubmission runs only the unfinished tasks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dpdispatcher import job_script
from dpdispatcher_sge import header
from dpdispatcher_sge.sge import SGE

if TYPE_CHECKING:
    from dargs import Argument

    from dpdispatcher.job import Job
    from dpdispatcher.task import Task


class SGEJobArray(SGE):
    """Each Job is one array job; array task ``i`` (1-based, ``$SGE_TASK_ID``) runs the ``i``-th slice
    of ``sge_job_size`` tasks. A resubmission passes ``-t`` with the unfinished array tasks only."""

    @classmethod
    def kwargs_subfields(cls) -> list[Argument]:
        from dargs import Argument

        return [
            *super().kwargs_subfields(),
            Argument(
                "sge_job_size",
                int,
                optional=True,
                default=1,
                doc="Number of tasks in one SGE array task (element)",
            ),
        ]

    @staticmethod
    def elements(job: Job) -> list[list[Task]]:
        """The tasks of each array task, in order (array task ``i + 1`` runs ``elements(job)[i]``)."""
        size = max(int(job.resources.kwargs.get("sge_job_size") or 1), 1)
        tasks = job.job_task_list
        return [tasks[i : i + size] for i in range(0, len(tasks), size)]

    # -- script --------------------------------------------------------------------

    def gen_script_header(self, job: Job) -> str:
        return super().gen_script_header(job) + "\n" + header.directive("-t", f"1-{len(self.elements(job))}")

    def output_lines(self, job: Job) -> list[str]:
        return header.output_lines(job, array=True)

    def stdout_name(self, job: Job) -> str:
        return header.output_stem(job, array=True) + ".out"

    def output_files(self, job: Job) -> list[str]:
        return header.output_files(job, elements=len(self.elements(job)))

    def gen_script_command(self, job: Job) -> str:
        """A ``case`` on ``$SGE_TASK_ID``: each array task runs its own tasks and checks their tags."""
        branches = ['case "${SGE_TASK_ID:-}" in']
        for index, tasks in enumerate(self.elements(job), start=1):
            part = job_script.task_blocks(job.resources, tasks) + "\n" + job_script.wait_and_check(tasks)
            branches.append(f"{index})\n{part.rstrip()}\n;;")
        branches.append('*)\necho "array task ${SGE_TASK_ID:-(none)} is not one of this job" >&2\nexit 2\n;;')
        branches.append("esac")
        return "\n".join(branches)

    def gen_script_end(self, job: Job) -> str:
        """The array task that sees every task of the job finished leaves the job tag; exit as the array task fared."""
        return job_script.finish(job, check_all=True)

    # -- submission ------------------------------------------------------------------

    def unfinished_elements(self, job: Job, finished: set[str] | None = None) -> list[int]:
        """Array task ids (1-based) with a task not finished yet (``finished``: hashes of the finished tasks)."""
        if finished is None:
            finished = {task.task_hash for task in self.finished_tasks(job.job_task_list)}
        return [
            i for i, tasks in enumerate(self.elements(job), start=1) if not all(t.task_hash in finished for t in tasks)
        ]

    def qsub_args(self, jobs: list[Job]) -> list[list[str]]:
        """``-t`` with the unfinished array tasks of each job (one existence query for all)."""
        finished = {task.task_hash for task in self.finished_tasks([t for job in jobs for t in job.job_task_list])}
        # nothing left: array task 1 only leaves the job tag
        return [["-t", task_range(self.unfinished_elements(job, finished) or [1])] for job in jobs]


def task_range(ids: list[int]) -> str:
    """The one ``-t`` range (``n[-m[:s]]``) qsub accepts that covers ``ids`` (sorted, 1-based).

    Grid Engine takes a single range per job: ids in arithmetic progression ([3], [2, 3, 4],
    [2, 5, 8]) are named exactly; otherwise the range from the first to the last id is
    given, and the finished array tasks in it find every tag present and end at once.
    """
    first, last = ids[0], ids[-1]
    if first == last:
        return str(first)
    step = ids[1] - first
    if step > 0 and ids == list(range(first, last + 1, step)):
        return f"{first}-{last}" if step == 1 else f"{first}-{last}:{step}"
    return f"{first}-{last}"
