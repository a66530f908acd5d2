"""Fugaku (Fujitsu Technical Computing Suite): submit with ``pjsub``, poll with one ``pjstat``, kill with ``pjdel``.

Status, in one poll:

1. one ``pjstat``: the table of the user's jobs that have not ended, one command
   whatever the number of jobs; each row's ST word maps to a :class:`JobStatus`
   (:mod:`dpdispatcher_fugaku.states`), an unknown word is ``unknown`` (logged once)
   and asked again;
2. jobs that left the table, and those it shows ended (EXT, CCL, ERR, RJT), are
   settled from the tag files their script left, in one existence query: finished
   if tagged, else terminated;
3. for the jobs that ended without their tags, one ``pjstat -H -S id...`` (the job
   manager's history, ids chunked under the command budget) records why: PJM CODE,
   exit code, signal, reason; :meth:`Fugaku.describe_failure` words it ("exceeded its
   elapse time limit", "was cancelled with pjdel", "exited with code 3").
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
from dpdispatcher_fugaku import commands, header
from dpdispatcher_fugaku.parsing import JOB_ID, parse_history, parse_pjstat
from dpdispatcher_fugaku.states import FUGAKU_ENDED, FUGAKU_STATES, HistoryRecord, describe

logger = logging.getLogger(__name__)


class Fugaku(Machine):
    """The Fugaku batch type (Fujitsu TCS / PJM): one ``pjsub`` per job, one ``pjstat`` per poll for all jobs."""

    #: pjsub's job ids are numbers
    job_id_pattern = JOB_ID
    #: the scheduler's name in messages
    scheduler = "Fugaku"

    #: a non-transient pjstat error this many polls in a row is raised
    max_query_failures = 3

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._final: dict[str, HistoryRecord | None] = {}  # job hash -> what pjstat -H said when it ended
        self._query_failures = 0
        self._unknown_logged: set[str] = set()

    # -- script ----------------------------------------------------------------------

    def gen_script_header(self, job: Job) -> str:
        """Shebang, then 1.1.0's ``#PJM`` lines and a task's name (see :mod:`dpdispatcher_fugaku.header`)."""
        return "\n".join([self.shebang, *header.header_lines(job.resources), *header.name_lines(job)])

    def output_files(self, job: Job) -> list[str]:
        return header.output_files(job)

    # -- submission ------------------------------------------------------------------

    def submit_jobs(self, jobs: list[Job]) -> list[str]:
        """Submit ``jobs`` with one remote command (one pjsub each), recording each id where the job runs.

        The job count limit or a job manager that does not answer is retried with backoff
        for the jobs not yet accepted, then left to the next poll (:class:`SchedulerBusyError`).
        Any other refusal is a :class:`SchedulerError` naming the job and pjsub's message.
        """
        ids = submit_with_retries(
            self,
            jobs,
            lambda some: [commands.pjsub(job.script_file_name) for job in some],
            scheduler=self.scheduler,
            command="pjsub",
            refusals=Refusals(commands.is_transient),
            sets_id=True,
        )
        for job in jobs:
            self._final.pop(job.job_hash, None)
        return ids

    # -- status ----------------------------------------------------------------------

    def check_statuses(self, jobs: list[Job]) -> list[JobStatus]:
        if not jobs:
            return []
        rows = self.query()
        if rows is None:  # the job manager did not answer: ask again at the next poll
            return [JobStatus.unknown] * len(jobs)
        states: dict[str, JobStatus] = {}
        ended: list[Job] = []
        for job in jobs:
            word = rows.get(job.job_id) if job.job_id else None
            if word is None or word in FUGAKU_ENDED:  # left the table, or ended in it
                ended.append(job)
                continue
            status = FUGAKU_STATES.get(word)
            if status is None:
                if word not in self._unknown_logged:
                    self._unknown_logged.add(word)
                    logger.warning(
                        "%s state %r of job %s is not known to dpdispatcher; asking again",
                        self.scheduler,
                        word,
                        job.job_id,
                    )
                status = JobStatus.unknown
            states[job.job_hash] = status
        if ended:
            tagged = self._tagged(ended)
            for job in ended:
                states[job.job_hash] = JobStatus.finished if job.job_hash in tagged else JobStatus.terminated
            untagged = [job for job in ended if job.job_hash not in tagged and job.job_hash not in self._final]
            self._record_history(untagged)
        return [states[job.job_hash] for job in jobs]

    def query(self) -> dict[str, str] | None:
        """``{job id: ST}`` of the user's jobs that have not ended, in ONE remote command; None when
        the job manager did not answer (the caller asks again at its next poll)."""
        result = self.context.run(commands.PJSTAT)
        message = "\n".join(line for line in result.stderr.splitlines() if line.strip())
        if result.returncode != 0 or (message and "JOB_ID" not in result.stdout):
            self._query_failed(message or result.stdout.strip() or f"pjstat exited with {result.returncode}")
            return None
        if message:  # a warning beside a table
            logger.info("pjstat said: %s", message)
        self._query_failures = 0
        return parse_pjstat(result.stdout)

    def _query_failed(self, message: str) -> None:
        if commands.is_transient(message):
            logger.warning("%s did not answer (%s); asking again later", self.scheduler, message)
            return
        self._query_failures += 1
        if self._query_failures >= self.max_query_failures:
            raise SchedulerError(f"pjstat failed {self._query_failures} times in a row: {message}")
        logger.warning("pjstat failed (%s); asking again later", message)

    def _tagged(self, jobs: list[Job]) -> set[str]:
        """Hashes of ``jobs`` whose finished tag, or every task's finished tag, exists (one existence query)."""
        names = [job.finish_tag for job in jobs] + [task.finish_tag for job in jobs for task in job.job_task_list]
        present = self.context.files_exist(names)
        return {
            job.job_hash
            for job in jobs
            if job.finish_tag in present or all(task.finish_tag in present for task in job.job_task_list)
        }

    def _record_history(self, jobs: list[Job]) -> None:
        """What the job manager's history says about ``jobs`` (ended without their tags), in one command."""
        ids = list(dict.fromkeys(job.job_id for job in jobs if re.fullmatch(JOB_ID, job.job_id or "")))
        if not ids:
            return
        result = self.context.run_script(commands.pjstat_history(ids))
        records = parse_history(result.stdout)
        if not records and result.returncode != 0:
            logger.info("pjstat -H failed (%s); failures will not say why", result.stderr.strip())
            return
        for job in jobs:
            self._final[job.job_hash] = records.get(job.job_id)

    # -- kill and failures ---------------------------------------------------------------

    def kill_jobs(self, jobs: list[Job]) -> None:
        """One script of pjdel lines for all ``jobs``, each line under the command budget."""
        ids = list(dict.fromkeys(job.job_id for job in jobs if re.fullmatch(JOB_ID, job.job_id or "")))
        if ids:
            self.context.run_script(commands.pjdel(ids))

    def describe_failure(self, job: Job) -> str:
        if not job.job_id:
            return ""
        record = self._final.get(job.job_hash)
        if record is not None and record.job_id != job.job_id:
            record = None
        return describe(job.job_id, record)
