"""SlurmJobArray: each Job is one Slurm job array; a resubmission runs only the unfinished elements."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dpdispatcher import job_script
from dpdispatcher_slurm import header
from dpdispatcher_slurm.slurm import Slurm

if TYPE_CHECKING:
    from dpdispatcher.job import Job
    from dpdispatcher.task import Task


class SlurmJobArray(Slurm):
    """Each Job is one Slurm job array; element ``i`` runs the ``i``-th slice of ``slurm_job_size`` tasks.

    A resubmission runs only the elements whose tasks did not all finish.
    """

    settle_completed_by_tags = True

    @classmethod
    def kwargs_subfields(cls) -> list:
        from dargs import Argument

        return [
            *super().kwargs_subfields(),
            Argument(
                "slurm_job_size",
                int,
                optional=True,
                default=1,
                doc="Number of tasks in a Slurm job array element",
            ),
        ]

    @staticmethod
    def elements(job: Job) -> list[list[Task]]:
        size = max(int(job.resources.kwargs.get("slurm_job_size") or 1), 1)
        tasks = job.job_task_list
        return [tasks[i : i + size] for i in range(0, len(tasks), size)]

    # -- script --------------------------------------------------------------------

    def gen_script_header(self, job: Job) -> str:
        return super().gen_script_header(job) + "\n" + header.directive(f"--array=0-{len(self.elements(job)) - 1}")

    def gen_output_lines(self, job: Job) -> list[str]:
        return header.output_lines(job, array=True)

    def gen_script_command(self, job: Job) -> str:
        """A ``case`` on the array index: each element runs its own tasks and checks their tags."""
        branches = ['case "${SLURM_ARRAY_TASK_ID:-}" in']
        for index, tasks in enumerate(self.elements(job)):
            part = job_script.task_blocks(job.resources, tasks) + "\n" + job_script.wait_and_check(tasks)
            branches.append(f"{index})\n{part.rstrip()}\n;;")
        branches.append('*)\necho "array index ${SLURM_ARRAY_TASK_ID:-(none)} is not one of this job" >&2\nexit 2\n;;')
        branches.append("esac")
        return "\n".join(branches)

    def gen_script_end(self, job: Job) -> str:
        """The element that sees every task of the array finished leaves the job tag; exit as the element fared."""
        return job_script.finish(job, check_all=True)

    def output_files(self, job: Job) -> list[str]:
        return header.output_files(job, elements=len(self.elements(job)))

    # -- submission ------------------------------------------------------------------

    def unfinished_elements(self, job: Job, finished: set[str] | None = None) -> list[int]:
        """Indices of the elements with a task not finished yet (``finished``: hashes of the finished tasks)."""
        if finished is None:
            finished = {task.task_hash for task in self.finished_tasks(job.job_task_list)}
        return [i for i, tasks in enumerate(self.elements(job)) if not all(t.task_hash in finished for t in tasks)]

    def sbatch_args(self, jobs: list[Job]) -> list[list[str]]:
        """``--array=`` with the unfinished elements of each job (one existence query for all)."""
        finished = {task.task_hash for task in self.finished_tasks([t for job in jobs for t in job.job_task_list])}
        # nothing left: element 0 only leaves the job tag
        return [[f"--array={index_ranges(self.unfinished_elements(job, finished) or [0])}"] for job in jobs]


def index_ranges(indices: list[int]) -> str:
    """[0, 1, 2, 5, 7, 8] -> '0-2,5,7-8'."""
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
