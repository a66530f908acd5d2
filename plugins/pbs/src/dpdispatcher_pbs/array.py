"""PBSJobArray: each Job is one PBS Pro job array (``qsub -J``); a resubmission runs only the unfinished subjobs.

Subjob ``i`` (``$PBS_ARRAY_INDEX``, from 0) runs the ``i``-th slice of ``pbs_job_size`` tasks;
each writes its own ``<job hash>_<i>.out`` (``-o <job hash>_^array_index^.out``: PBS puts
the index in). The subjob that sees every task of the job finished leaves the job's tag.

PBS Pro's ``-J`` takes one range ``X-Y[:Z]`` with ``Y > X`` (``qsub`` refuses a list or a
single index), so a resubmission asks for the smallest range that covers the unfinished
subjobs: from the first to the last, with the largest step that still hits every one of
them (:func:`subjob_range`). A finished subjob the range covers starts, finds its tasks'
tags and exits at once (the task blocks skip finished tasks); a single subjob ``i`` is
``i-(i+1):2``, a range that holds ``i`` alone. No file maps indices to elements: the
script's ``case`` on ``$PBS_ARRAY_INDEX`` is the same for every submission.

Status: one ``qstat -f -F json -x -t id...`` per poll. The array is waiting (``Q``) until a
subjob starts, running (``B``) while any subjob is queued or running, and once it is
finished (``F``) the tag files decide; the subjobs (``1234[3].pbs01``, ``X`` once ended)
tell :meth:`PBSJobArray.describe_failure` which one failed and how.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from dpdispatcher import job_script
from dpdispatcher_pbs import header
from dpdispatcher_pbs.parsing import JobRow, sequence
from dpdispatcher_pbs.pbs import PBS
from dpdispatcher_pbs.states import describe

if TYPE_CHECKING:
    from dpdispatcher.job import Job
    from dpdispatcher.task import Task

#: what PBS puts in an array's ``-o`` path for the subjob's index
INDEX_TAG = "^array_index^"


def subjob_range(indices: list[int]) -> str:
    """The ``-J`` range of ``indices`` (ascending): first to last, with the largest step that hits them all.

    [0, 1, 2] -> '0-2'; [2, 5, 8] -> '2-8:3'; [1, 2, 5] -> '1-5'; [4] -> '4-5:2' (4 alone).
    """
    first, last = indices[0], indices[-1]
    if first == last:
        return f"{first}-{first + 1}:2"
    step = 0
    for index in indices[1:]:
        step = math.gcd(step, index - first)
    return f"{first}-{last}" + (f":{step}" if step > 1 else "")


class PBSJobArray(PBS):
    """Each Job is one PBS Pro job array; subjob ``i`` (from 0) runs the ``i``-th slice of ``pbs_job_size`` tasks.

    A resubmission runs only the subjobs whose tasks did not all finish.
    """

    query_subjobs = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._subjobs: dict[str, list[JobRow]] = {}  # array sequence ("1234[]") -> its subjobs last seen

    @classmethod
    def resources_subfields(cls) -> list:
        from dargs import Argument

        size = Argument(
            "pbs_job_size",
            int,
            optional=True,
            default=1,
            doc="Number of tasks in one subjob of the PBS job array (PBS caps an array at max_array_size "
            "subjobs, 10000 by default: raise pbs_job_size for larger jobs).",
        )
        return [Argument("kwargs", dict, [size], optional=True, doc="Extra arguments.")]

    @staticmethod
    def elements(job: Job) -> list[list[Task]]:
        """The tasks of each subjob, in index order (subjob ``i`` runs ``elements(job)[i]``)."""
        size = max(int(job.resources.kwargs.get("pbs_job_size") or 1), 1)
        tasks = job.job_task_list
        return [tasks[i : i + size] for i in range(0, len(tasks), size)]

    # -- script --------------------------------------------------------------------

    def gen_script_header(self, job: Job) -> str:
        lines = [self.shebang, self.resource_line(job), *header.common_lines(job, self.output_option(job))]
        lines.append(header.directive(f"-J {subjob_range(list(range(len(self.elements(job)))))}"))
        return "\n".join(lines)

    def output_option(self, job: Job) -> str:
        return f"{job.job_hash}_{INDEX_TAG}.out"

    def gen_script_command(self, job: Job) -> str:
        """A ``case`` on ``$PBS_ARRAY_INDEX``: each subjob runs its own tasks and checks their tags."""
        branches = ['case "${PBS_ARRAY_INDEX:-}" in']
        for index, tasks in enumerate(self.elements(job)):
            part = job_script.task_blocks(job.resources, tasks) + "\n" + job_script.wait_and_check(tasks)
            branches.append(f"{index})\n{part.rstrip()}\n;;")
        branches.append(
            '*)\necho "array index ${PBS_ARRAY_INDEX:-(none)} is not one of this job" >&2\nexit 2\n;;',
        )
        branches.append("esac")
        return "\n".join(branches)

    def gen_script_end(self, job: Job) -> str:
        """The subjob that sees every task of the array finished leaves the job tag; exit as the subjob fared."""
        return job_script.finish(job, check_all=True)

    def output_files(self, job: Job) -> list[str]:
        return [self.output_option(job).replace(INDEX_TAG, str(i)) for i in range(len(self.elements(job)))]

    # -- submission ------------------------------------------------------------------

    def unfinished_elements(self, job: Job, finished: set[str] | None = None) -> list[int]:
        """Indices of the subjobs with a task not finished yet (``finished``: hashes of the finished tasks)."""
        if finished is None:
            finished = {task.task_hash for task in self.finished_tasks(job.job_task_list)}
        return [i for i, tasks in enumerate(self.elements(job)) if not all(t.task_hash in finished for t in tasks)]

    def qsub_args(self, jobs: list[Job]) -> list[list[str]]:
        """``-J`` covering the unfinished subjobs of each job (one existence query for all)."""
        finished = {task.task_hash for task in self.finished_tasks([t for job in jobs for t in job.job_task_list])}
        # nothing left: subjob 0 only leaves the job tag
        return [["-J", subjob_range(self.unfinished_elements(job, finished) or [0])] for job in jobs]

    # -- status ----------------------------------------------------------------------

    def query(self, ids: list[str]) -> tuple[dict[str, JobRow], set[str]] | None:
        """The arrays and their subjobs (``-t``) in one remote command; the subjobs are kept for failures."""
        answer = super().query(ids)
        if answer is not None:
            rows = answer[0]
            for seq in {sequence(i) for i in ids}:
                subjobs = [row for key, row in rows.items() if key.startswith(seq[:-1]) and key != seq]
                if subjobs:
                    self._subjobs[seq] = subjobs
        return answer

    def describe_failure(self, job: Job) -> str:
        """The first subjob that did not exit 0, as PBS recorded it; else what the array's record says."""
        failed = [
            row
            for row in self._subjobs.get(sequence(job.job_id), [])
            if row.exit_status not in (None, 0) or "delet" in row.comment.lower()
        ]
        if failed:
            row = failed[0]
            return describe(self.scheduler, row.job_id, row.state, row.exit_status, row.comment)
        return super().describe_failure(job)
