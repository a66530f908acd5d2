"""LSFJobArray: each Job is one LSF job array; a resubmission runs only the unfinished elements.

Element ``i`` (``$LSB_JOBINDEX``, 1-based as LSF numbers them) runs the ``i``-th slice of
``lsf_job_size`` tasks. The script names the array ``#BSUB -J dpd_<hash>[1-N]``; a
resubmission gives ``-J 'dpd_<hash>[1,3,5-7]'`` on the bsub command line (which wins over
the script's line) with the elements whose tasks did not all finish. Each element writes
its own ``<id>_<index>.out`` / ``.err``. The element that sees every task of the job
finished leaves the job's finished tag.

Status: one ``bjobs -json -o "jobid jobindex stat exit_code exit_reason" id...`` per poll;
an array is running while an element runs, waiting while one waits, and once every
element ended the tag files decide (the first element that did not end DONE is what
:meth:`LSF.describe_failure` reports).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dpdispatcher import job_script
from dpdispatcher_lsf import commands, header
from dpdispatcher_lsf.lsf import LSF

if TYPE_CHECKING:
    from dpdispatcher.job import Job
    from dpdispatcher.task import Task


class LSFJobArray(LSF):
    """Each Job is one LSF job array; element ``i`` (1-based) runs the ``i``-th slice of ``lsf_job_size`` tasks."""

    status_fields = commands.ARRAY_STATUS_FIELDS

    @classmethod
    def kwargs_subfields(cls) -> list:
        from dargs import Argument

        return [
            *super().kwargs_subfields(),
            Argument(
                "lsf_job_size",
                int,
                optional=True,
                default=1,
                doc="Number of tasks in an LSF job array element (LSF caps an array at MAX_JOB_ARRAY_SIZE "
                "elements, 1000 by default: raise lsf_job_size for larger jobs).",
            ),
        ]

    @staticmethod
    def elements(job: Job) -> list[list[Task]]:
        """The tasks of each element, in index order (element ``i`` is ``elements(job)[i - 1]``)."""
        size = max(int(job.resources.kwargs.get("lsf_job_size") or 1), 1)
        tasks = job.job_task_list
        return [tasks[i : i + size] for i in range(0, len(tasks), size)]

    # -- script --------------------------------------------------------------------

    def gen_script_header(self, job: Job) -> str:
        lines = [
            self.shebang,
            *header.resource_lines(job.resources, array=True),
            *header.name_lines(job, f"1-{len(self.elements(job))}"),
        ]
        return "\n".join(lines)

    def gen_script_command(self, job: Job) -> str:
        """A ``case`` on ``$LSB_JOBINDEX``: each element runs its own tasks and checks their tags."""
        branches = ['case "${LSB_JOBINDEX:-}" in']
        for index, tasks in enumerate(self.elements(job), start=1):
            part = job_script.task_blocks(job.resources, tasks) + "\n" + job_script.wait_and_check(tasks)
            branches.append(f"{index})\n{part.rstrip()}\n;;")
        branches.append('*)\necho "array index ${LSB_JOBINDEX:-(none)} is not one of this job" >&2\nexit 2\n;;')
        branches.append("esac")
        return "\n".join(branches)

    def gen_script_end(self, job: Job) -> str:
        """The element that sees every task of the array finished leaves the job tag; exit as the element fared."""
        return job_script.finish(job, check_all=True)

    def output_files(self, job: Job) -> list[str]:
        return header.output_files(job, range(1, len(self.elements(job)) + 1))

    # -- submission ------------------------------------------------------------------

    def unfinished_elements(self, job: Job, finished: set[str] | None = None) -> list[int]:
        """Indices (1-based) of the elements with a task not finished yet (``finished``: hashes of finished tasks)."""
        if finished is None:
            finished = {task.task_hash for task in self.finished_tasks(job.job_task_list)}
        return [
            i for i, tasks in enumerate(self.elements(job), start=1) if not all(t.task_hash in finished for t in tasks)
        ]

    def bsub_args(self, jobs: list[Job]) -> list[list[str]]:
        """``-J 'dpd_<hash>[...]'`` with the unfinished elements of each job (one existence query for all)."""
        finished = {task.task_hash for task in self.finished_tasks([t for job in jobs for t in job.job_task_list])}
        # nothing left: element 1 only leaves the job tag
        return [
            ["-J", f"{header.job_name(job)}[{index_ranges(self.unfinished_elements(job, finished) or [1])}]"]
            for job in jobs
        ]


def index_ranges(indices: list[int]) -> str:
    """[1, 2, 3, 5, 7, 8] -> '1-3,5,7-8' (an LSF index list)."""
    parts = []
    start = prev = indices[0]
    for i in [*indices[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ",".join(parts)
