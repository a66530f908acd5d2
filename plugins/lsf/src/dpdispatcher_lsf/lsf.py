"""LSF (IBM Spectrum LSF): submit with ``bsub < script``, poll with one ``bjobs -json -o ...``, kill with ``bkill``.

Status, in one poll:

1. one script of ``bjobs -json -o "jobid stat exit_code exit_reason" id...`` lines (as
   many ids per line as the command budget allows: one line for thousands of jobs);
   finished jobs stay listed while LSF keeps them (``CLEAN_PERIOD``) with their exit
   code and exit reason;
2. ids LSF answers ``Job <id> is not found`` for (it forgot them) and jobs that ended
   (DONE, EXIT) are settled from the tag files their script left, in one existence
   query (:meth:`Machine.settle_gone`): finished if tagged, else terminated;
3. an id LSF says nothing about (an answer cut short) and a state this module does not
   know (logged once) are ``unknown``, and asked again at the next poll.

The last record of each ended job is kept so that :meth:`LSF.describe_failure` can say
"timed out" (TERM_RUNLIMIT), "ran out of memory" (TERM_MEMLIMIT), "was killed"
(TERM_OWNER) or the exit code.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from dpdispatcher.errors import SchedulerError
from dpdispatcher.job import Job
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.machine import Machine
from dpdispatcher.submit_retry import Refusals, submit_with_retries
from dpdispatcher_lsf import commands, header
from dpdispatcher_lsf.parsing import JOB_ID, BjobsAnswer, JobRow, parse_bjobs_json
from dpdispatcher_lsf.states import ENDED, LSF_STATES, describe

logger = logging.getLogger(__name__)

DOC_GPU_USAGE = "Choosing if GPU is used in the calculation step. If False, no GPU request line is written."
DOC_GPU_NEW_SYNTAX = (
    "For LSF >= 10.1.0.3, new option -gpu for #BSUB could be used. If False, and old syntax would be used."
)
DOC_GPU_EXCLUSIVE = "Only take effect when new syntax enabled. Control whether submit tasks in exclusive way for GPU."
DOC_CUSTOM_GPU_LINE = (
    "Custom GPU configuration, starting with #BSUB. When set, it replaces the GPU line the other kwargs would write."
)


def _number(job_id: str) -> int:
    """A job id as a number (-1 for none)."""
    return int(job_id) if re.fullmatch(JOB_ID, job_id or "") else -1


class LSF(Machine):
    """The LSF batch type: one ``bsub`` per job, one ``bjobs`` per poll for all jobs, ``bkill`` in chunks."""

    #: ``bsub`` prints ``Job <1234> is submitted to queue <normal>.``; the id is the number
    job_id_pattern = JOB_ID
    state_map = LSF_STATES
    #: the ``bjobs -o`` fields of a status query
    status_fields = commands.STATUS_FIELDS

    #: a non-transient bjobs error this many polls in a row is raised
    max_query_failures = 3

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._final: dict[str, JobRow] = {}  # job hash -> the record of the job when it ended
        self._query_failures = 0
        self._unknown_logged: set[str] = set()

    @classmethod
    def resources_subfields(cls) -> list:
        """The kwargs of dpdispatcher 1.1.0's LSF, with its defaults (kwargs itself may be left out)."""
        from dargs import Argument

        return [Argument("kwargs", dict, cls.kwargs_subfields(), optional=True, doc="Extra arguments.")]

    @classmethod
    def kwargs_subfields(cls) -> list:
        from dargs import Argument

        return [
            Argument("gpu_usage", bool, optional=True, default=False, doc=DOC_GPU_USAGE),
            Argument("gpu_new_syntax", bool, optional=True, default=False, doc=DOC_GPU_NEW_SYNTAX),
            Argument("gpu_exclusive", bool, optional=True, default=True, doc=DOC_GPU_EXCLUSIVE),
            Argument("custom_gpu_line", [type(None), str], optional=True, default=None, doc=DOC_CUSTOM_GPU_LINE),
        ]

    # -- script --------------------------------------------------------------------

    def gen_script_header(self, job: Job) -> str:
        """Shebang, 1.1.0's ``#BSUB`` lines and the job name (see :mod:`dpdispatcher_lsf.header`)."""
        return "\n".join([self.shebang, *header.resource_lines(job.resources), *header.name_lines(job)])

    # -- submission ----------------------------------------------------------------

    def submit_jobs(self, jobs: list[Job]) -> list[str]:
        """Submit ``jobs`` with one remote command (one ``bsub < script`` each), recording each id where the job runs.

        A limit ("Pending job threshold reached. Job not submitted.") or a cluster that does
        not answer ("LSF is down. Please wait ...") is retried with backoff for the jobs not
        yet accepted, then left to the next poll (:class:`SchedulerBusyError`); after a lost
        answer (a time-out) LSF is first asked whether it took the job anyway (by its name),
        so no job runs twice. Any other refusal is a :class:`SchedulerError` naming the job
        and LSF's message.
        """
        for job in jobs:  # what LSF said about an earlier run no longer describes the job
            self._final.pop(job.job_hash, None)
        ids = submit_with_retries(
            self,
            jobs,
            lambda some: [commands.bsub(job.script_file_name, args) for job, args in zip(some, self.bsub_args(some))],
            scheduler="LSF",
            command="bsub",
            refusals=Refusals(commands.is_transient, commands.may_have_landed),
            find_submitted=self._find_submitted,
            sets_id=True,
        )
        return ids

    def bsub_args(self, jobs: list[Job]) -> list[list[str]]:
        """Options given to bsub for each of ``jobs`` (the script's ``#BSUB`` lines suffice)."""
        return [[] for _ in jobs]

    def _find_submitted(self, job: Job) -> str:
        """The id of the newest job of this user with ``job``'s name and description, newer than its old id, or ''.

        Finished jobs count (a short job may be over by now). The name may be a task_name
        many jobs share; the description (``-Jd dpd_<job hash>``) is this job's. Ids grow, so
        the newest such job is this very submission.
        """
        old = _number(job.job_id)
        found = [job_id for job_id in self.described_jobs(job) if _number(job_id) > old]
        return max(found, key=_number) if found else ""

    def described_jobs(self, job: Job) -> list[str]:
        """Ids of the user's jobs with ``job``'s name and description, finished ones included (``bjobs -a -J``)."""
        name, marker = header.job_name(job), header.marker(job)
        rows = parse_bjobs_json(self.context.run(commands.bjobs_named(name)).stdout).rows
        # an array element is listed as name[index]
        return [
            job_id
            for job_id, records in rows.items()
            if any(
                row.description == marker and (not row.name or re.sub(r"\[[0-9]+\]$", "", row.name) == name)
                for row in records
            )
        ]

    # -- status ----------------------------------------------------------------------

    def check_statuses(self, jobs: list[Job]) -> list[JobStatus]:
        ids = list(dict.fromkeys(job.job_id for job in jobs if re.fullmatch(JOB_ID, job.job_id or "")))
        answer = self.query(ids)
        if answer is None:  # LSF did not answer: ask again at the next poll
            return [JobStatus.unknown] * len(jobs)
        states: dict[str, JobStatus] = {}
        settle: list[Job] = []
        for job in jobs:
            rows = answer.rows.get(job.job_id)
            if not rows:
                if job.job_id in answer.not_found or not re.fullmatch(JOB_ID, job.job_id or ""):
                    settle.append(job)  # LSF forgot it: the tags decide
                else:  # LSF said nothing about it: ask again
                    states[job.job_hash] = JobStatus.unknown
                continue
            status = self._aggregate(job, rows)
            if status is None:
                settle.append(job)
            else:
                states[job.job_hash] = status
        if settle:
            states.update(self.settle_gone(settle))
        return [states[job.job_hash] for job in jobs]

    def _aggregate(self, job: Job, rows: list[JobRow]) -> JobStatus | None:
        """One state for a job from its records (a job array: one per element); None once every one ended.

        An element still active decides (running, then completing, waiting, unknown); once
        all ended, the record of an element that did not end DONE is kept for
        :meth:`describe_failure` and the tag files decide.
        """
        active: set[JobStatus] = set()
        for row in rows:
            status = self.state_map.get(row.state)
            if status is None:
                if row.state not in self._unknown_logged:
                    self._unknown_logged.add(row.state)
                    logger.warning(
                        "LSF state %r of job %s is not known to dpdispatcher; asking again", row.state, row.element
                    )
                status = JobStatus.unknown
            elif row.state in ENDED:
                continue
            active.add(status)
        for status in (JobStatus.running, JobStatus.completing, JobStatus.waiting, JobStatus.unknown):
            if status in active:
                return status
        failed = [row for row in rows if row.state != "DONE"]
        self._final[job.job_hash] = failed[0] if failed else rows[-1]
        return None

    def query(self, ids: list[str]) -> BjobsAnswer | None:
        """What ``bjobs`` says about ``ids``, in ONE remote command; None when LSF did not answer (the caller
        asks again at its next poll)."""
        if not ids:
            return BjobsAnswer({}, set(), [])
        result = self.context.run_script(commands.bjobs_status(ids, self.status_fields))
        answer = parse_bjobs_json(result.stdout)
        message = result.stderr.strip()
        if answer.documents == 0:
            self._query_failed(message or result.stdout.strip() or f"bjobs exited with {result.returncode}")
            return None
        if message:
            logger.info("bjobs said: %s", message)
        for error in answer.errors:
            logger.warning("bjobs: %s", error)
        self._query_failures = 0
        return answer

    def _query_failed(self, message: str) -> None:
        if commands.is_transient(message):
            logger.warning("LSF did not answer (%s); asking again later", message)
            return
        self._query_failures += 1
        if self._query_failures >= self.max_query_failures:
            raise SchedulerError(f"bjobs failed {self._query_failures} times in a row: {message}")
        logger.warning("bjobs failed (%s); asking again later", message)

    # -- kill and failures ---------------------------------------------------------------

    def kill_jobs(self, jobs: list[Job]) -> None:
        """One script of bkill lines for all ``jobs``, each line under the command budget."""
        ids = list(dict.fromkeys(job.job_id for job in jobs if re.fullmatch(JOB_ID, job.job_id or "")))
        if ids:
            self.context.run_script(commands.bkill(ids))

    def output_files(self, job: Job) -> list[str]:
        """LSF's ``<id>.out`` / ``<id>.err`` of the job's current id."""
        return header.output_files(job)

    def describe_failure(self, job: Job) -> str:
        row = self._final.get(job.job_hash)
        if row is not None:
            return describe(row.element, row.state, row.exit_code, row.exit_reason)
        if re.fullmatch(JOB_ID, job.job_id or ""):
            return f"LSF job {job.job_id} left LSF's records without its finished tag"
        return ""
