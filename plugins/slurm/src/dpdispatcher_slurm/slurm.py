"""Slurm: submit with ``sbatch``, poll with one ``squeue`` for all jobs, kill with ``scancel``.

Status, in one poll:

1. one ``squeue -h -t all -r -o "%i %T" -j id1,id2,...`` for every active job
   (beyond :attr:`Slurm.query_chunk` ids, the user's whole queue, still one call);
2. the jobs it no longer lists are looked up in one ``sacct`` call, when the
   cluster keeps accounting (without slurmdbd ``sacct`` says "accounting
   storage is disabled"; it is then not asked again);
3. jobs that ended in a state other than COMPLETED, and jobs nobody knows any
   more, are settled from the tag files their script left (one existence query).

Every Slurm state maps to a :class:`JobStatus` (see :mod:`dpdispatcher_slurm.states`);
one this module does not know maps to ``unknown``, which the core queries again.
The last Slurm state of each job is kept so that :meth:`Slurm.describe_failure`
can say "timed out", "out of memory", "cancelled" and so on.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from dpdispatcher.errors import SchedulerError
from dpdispatcher.job import Job
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.machine import Machine
from dpdispatcher.submit_retry import Refusals, submit_with_retries
from dpdispatcher_slurm import commands, header
from dpdispatcher_slurm.commands import is_transient
from dpdispatcher_slurm.states import (
    ACTIVE,
    STATE_MAP,
    base_id,
    describe_state,
    normalize_state,
    parse_rows,
    state_from_stepd,
)

logger = logging.getLogger(__name__)


class Slurm(Machine):
    """The Slurm batch type: one ``sbatch`` per job, one ``squeue`` per poll for all jobs."""

    #: ``sbatch --parsable`` prints ``id`` or ``id;cluster``; the cluster is dropped
    job_id_pattern = r"[0-9]+"

    #: most ids named in one squeue/sacct call (beyond: squeue lists the user's queue, sacct is chunked)
    query_chunk = 500
    #: a non-transient squeue error this many polls in a row is raised
    max_query_failures = 3
    #: settle COMPLETED jobs from tag files too (arrays: early elements may have left the queue unseen)
    settle_completed_by_tags = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._final_state: dict[str, str] = {}  # job hash -> last Slurm state that ended it
        self._seen: dict[str, dict[str, str]] = {}  # job hash -> element -> last state seen
        self._accounting: bool | None = None  # None: not asked yet
        self._query_failures = 0
        self._unknown_logged: set[str] = set()

    # -- resources ---------------------------------------------------------------

    @classmethod
    def resources_subfields(cls) -> list:
        from dargs import Argument

        return [Argument("kwargs", dict, cls.kwargs_subfields(), optional=True, doc="Extra arguments.")]

    @classmethod
    def kwargs_subfields(cls) -> list:
        from dargs import Argument

        return [
            Argument(
                "custom_gpu_line",
                [type(None), str],
                optional=True,
                default=None,
                doc="Custom GPU configuration, starting with #SBATCH",
            )
        ]

    # -- script --------------------------------------------------------------------

    def gen_script_header(self, job: Job) -> str:
        """``#SBATCH`` lines (see :mod:`dpdispatcher_slurm.header`)."""
        lines = [
            self.shebang,
            *header.resource_lines(job.resources),
            header.directive("--job-name", self.job_name(job)),
            *self.gen_output_lines(job),
        ]
        return "\n".join(lines)

    job_name = staticmethod(header.job_name)

    def gen_output_lines(self, job: Job) -> list[str]:
        """Scheduler stdout/stderr in the job root (relative to the submit directory, which is it)."""
        return header.output_lines(job)

    # -- submission ----------------------------------------------------------------

    def sbatch_args(self, jobs: list[Job]) -> list[list[str]]:
        """Arguments given to sbatch before the script name, for each of ``jobs``."""
        return [[] for _ in jobs]

    def submit_jobs(self, jobs: list[Job]) -> list[str]:
        """Submit ``jobs`` with one remote command (one sbatch each), recording each id where the job runs.

        Transient refusals (controller timeouts, QOS/association submit limits) are
        retried with backoff for the jobs not yet accepted; a refusal after a timeout
        first checks whether Slurm accepted the job anyway, so no job runs twice.
        """
        ids = submit_with_retries(
            self,
            jobs,
            lambda some: [
                commands.sbatch(job.script_file_name, args) for job, args in zip(some, self.sbatch_args(some))
            ],
            scheduler="Slurm",
            command="sbatch",
            refusals=Refusals(is_transient, commands.may_have_landed),
            find_submitted=self._find_submitted,
        )
        for job in jobs:
            self._forget(job)
        return ids

    def _find_submitted(self, job: Job) -> str:
        """The id of an active job of this user that runs ``job``'s script (other than its old id), or ''."""
        # sbatch records the script's absolute physical path: compare with the job root as `pwd -P` sees it
        result = self.context.run(commands.my_jobs_with_scripts())
        if result.returncode != 0 or not result.stdout.strip():
            return ""
        physical, *lines = result.stdout.splitlines()
        scripts = {f"{root.rstrip('/')}/{job.script_file_name}" for root in (physical, str(self.context.remote_root))}
        old = base_id(job.job_id)
        for line in lines:
            fields = line.strip().split("|", 2)
            if len(fields) != 3 or fields[2] not in scripts or fields[0] == old:
                continue
            if STATE_MAP.get(normalize_state(fields[1])) in ACTIVE:
                return fields[0]
        return ""

    def _forget(self, job: Job) -> None:
        self._final_state.pop(job.job_hash, None)
        self._seen.pop(job.job_hash, None)

    # -- status ----------------------------------------------------------------------

    def check_statuses(self, jobs: list[Job]) -> list[JobStatus]:
        ids = list(dict.fromkeys(b for b in (base_id(job.job_id) for job in jobs) if b))
        rows = self._squeue(ids)
        if rows is None:  # the controller did not answer: ask again at the next poll
            return [JobStatus.unknown] * len(jobs)
        states: dict[str, JobStatus] = {}
        gone: list[Job] = []
        for job in jobs:
            elements = rows.get(base_id(job.job_id))
            if elements:
                states[job.job_hash] = self._aggregate(job, elements)
            else:
                gone.append(job)
        if gone:
            accounted = self._sacct([base_id(job.job_id) for job in gone])
            for job in gone:
                elements = accounted.get(base_id(job.job_id))
                states[job.job_hash] = self._aggregate(job, elements) if elements else JobStatus.terminated
        # ended other than COMPLETED (or unknown to everyone): the tag files decide
        to_settle = [job for job in jobs if states[job.job_hash] == JobStatus.terminated]
        if to_settle:
            states.update(self._settle_by_tags(to_settle))
        return [states[job.job_hash] for job in jobs]

    def _aggregate(self, job: Job, elements: dict[str, str]) -> JobStatus:
        """One JobStatus for a job (or array) from the Slurm states of its elements."""
        seen = self._seen.setdefault(job.job_hash, {})
        seen.update(elements)
        mapped = []
        for name in elements.values():
            state = STATE_MAP.get(name)
            if state is None:
                if name not in self._unknown_logged:
                    self._unknown_logged.add(name)
                    logger.warning(
                        "Slurm state %r of job %s is not known to dpdispatcher; asking again", name, job.job_id
                    )
                state = JobStatus.unknown
            mapped.append(state)
        for state in (JobStatus.running, JobStatus.completing, JobStatus.waiting, JobStatus.unknown):
            if state in mapped:
                return state
        # every element ended
        bad = [name for name in seen.values() if STATE_MAP.get(name) == JobStatus.terminated]
        self._final_state[job.job_hash] = bad[0] if bad else "COMPLETED"
        if not bad and not self.settle_completed_by_tags:
            return JobStatus.finished
        return JobStatus.terminated  # the tag files decide

    def _squeue(self, ids: list[str]) -> dict[str, dict[str, str]] | None:
        """``{base id: {element: state}}`` for ``ids`` in ONE squeue call; None when Slurm did not answer.

        Up to :attr:`query_chunk` ids are named with ``-j``; beyond that the user's
        whole queue is listed (still one call) and filtered here.
        """
        if not ids:
            return {}
        if len(ids) <= self.query_chunk:
            result = self.context.run(commands.squeue(ids))
        else:
            result = self.context.run(commands.squeue_mine())
        message = (result.stderr or result.stdout).strip()
        # "invalid job id": an id named with -j left the queue; the rows printed for the others still count
        if result.returncode != 0 and "invalid job id" not in message.lower():
            if is_transient(message):
                logger.warning("Slurm did not answer (%s); asking again later", message)
                return None
            self._query_failures += 1
            if self._query_failures >= self.max_query_failures:
                raise SchedulerError(f"squeue failed {self._query_failures} times in a row: {message}")
            logger.warning("squeue failed (%s); asking again later", message)
            return None
        wanted = set(ids)
        rows = {key: value for key, value in parse_rows(result.stdout).items() if key in wanted}
        self._query_failures = 0
        return rows

    def _sacct(self, ids: list[str]) -> dict[str, dict[str, str]]:
        """Final states from accounting, in one call per chunk; {} when the cluster keeps none."""
        ids = [i for i in ids if i]
        if self._accounting is False or not ids:
            return {}
        rows: dict[str, dict[str, str]] = {}
        for start in range(0, len(ids), self.query_chunk):
            result = self.context.run(commands.sacct(ids[start : start + self.query_chunk]))
            if result.returncode != 0:
                message = (result.stderr or result.stdout).strip()
                if commands.keeps_no_accounting(message):
                    logger.info("Slurm keeps no accounting here; settling ended jobs from their tag files")
                    self._accounting = False
                else:
                    logger.warning("sacct failed (%s); settling ended jobs from their tag files", message)
                return {}
            self._accounting = True
            for key, value in parse_rows(result.stdout, sep="|").items():
                rows.setdefault(key, {}).update(value)
        return rows

    def _settle_by_tags(self, jobs: list[Job]) -> dict[str, JobStatus]:
        """Finished if the job's finished tag or every task's tag exists, else terminated (one query)."""
        names = [job.finish_tag for job in jobs]
        names += [task.finish_tag for job in jobs for task in job.job_task_list]
        present = self.context.files_exist(names)
        states = {}
        for job in jobs:
            done = job.finish_tag in present or all(task.finish_tag in present for task in job.job_task_list)
            states[job.job_hash] = JobStatus.finished if done else JobStatus.terminated
        return states

    # -- waiting between polls ----------------------------------------------------------

    #: when the job root is on this machine: how often :meth:`wait` looks at the finished tags,
    #: and how long it lets Slurm register the end once every job left its tag
    local_watch_interval = 0.1
    local_settle_delay = 0.15

    def wait(self, jobs: list[Job], timeout: float) -> None:
        """Sleep until the next poll; with the job root on this machine, return early once every job is done.

        The finished tags are plain files here, so watching them costs no scheduler
        command; returning when all of them exist saves the tail of the last
        ``check_interval`` without adding polls while jobs are still running.
        """
        if not getattr(self.context, "is_local", False) or not jobs:
            return super().wait(jobs, timeout)
        deadline = time.monotonic() + timeout
        tags = [job.finish_tag for job in jobs]
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if len(self.context.files_exist(tags)) == len(tags):
                time.sleep(min(self.local_settle_delay, left))
                return
            time.sleep(min(self.local_watch_interval, left))

    # -- kill and failures ---------------------------------------------------------------

    def kill_jobs(self, jobs: list[Job]) -> None:
        """One script of scancel calls for all ``jobs`` (array jobs: every element), each under the command budget."""
        ids = [b for b in (base_id(job.job_id) for job in jobs) if b]
        if ids:
            self.context.run_script(commands.scancel(ids))

    def output_files(self, job: Job) -> list[str]:
        """The files Slurm writes the job's stdout and stderr to (see :meth:`gen_output_lines`)."""
        return header.output_files(job)

    def describe_failure(self, job: Job) -> str:
        state = self._final_state.get(job.job_hash) or self._state_from_output(job)
        return describe_state(job.job_id, state)

    def _state_from_output(self, job: Job) -> str:
        """What slurmstepd wrote into the job's output when it ended the job, if anything."""
        return state_from_stepd(self.context.run(commands.stepd_lines(job.job_hash)).stdout)
