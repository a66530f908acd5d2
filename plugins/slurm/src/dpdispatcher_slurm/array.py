"""SlurmJobArray: each Job is one Slurm job array; a resubmission runs only the unfinished elements."""

from __future__ import annotations

import shlex
from types import SimpleNamespace
from typing import TYPE_CHECKING

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
        lines = super().gen_script_header(job)
        if header.uses_template(job.resources):
            return lines
        return lines + f"\n#SBATCH --array=0-{len(self.elements(job)) - 1}"

    def gen_output_lines(self, job: Job) -> list[str]:
        return header.output_lines(job, array=True)

    def gen_script_command(self, job: Job) -> str:
        """A ``case`` on the array index: each element runs its own tasks and names their tags in ``dpd_mine``."""
        branches = ['case "${SLURM_ARRAY_TASK_ID:-}" in']
        for index, tasks in enumerate(self.elements(job)):
            part = super().gen_script_command(SimpleNamespace(resources=job.resources, job_task_list=tasks))
            mine = shlex.quote(" ".join(task.finish_tag for task in tasks))
            branches.append(f"{index})\ndpd_mine={mine}\n{part.rstrip()}\n;;")
        branches.append('*)\necho "array index ${SLURM_ARRAY_TASK_ID:-(none)} is not one of this job" >&2\nexit 2\n;;')
        branches.append("esac")
        return "\n".join(branches)

    def gen_script_end(self, job: Job) -> str:
        """Exit non-zero if a task of this element failed; the element that sees every task done tags the job."""
        all_tags = " ".join(shlex.quote(task.finish_tag) for task in job.job_task_list)
        lines = [
            "wait",
            'cd "$REMOTE_ROOT" || exit 1',
            "dpd_failed=0",
            "for dpd_f in $dpd_mine; do",
            '  [ -f "$dpd_f" ] || dpd_failed=1',
            "done",
            "# the element that sees every task of the array finished leaves the job tag",
            "dpd_all=1",
            f"for dpd_f in {all_tags}; do",
            '  [ -f "$dpd_f" ] || { dpd_all=0; break; }',
            "done",
            f'if [ "$dpd_all" -eq 1 ]; then touch {shlex.quote(job.finish_tag)}; fi',
            *job.resources.append_script,
            'exit "$dpd_failed"',
        ]
        return "\n".join(lines) + "\n"

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
