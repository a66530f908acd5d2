"""JH UniScheduler: submit with ``jsub``, poll with one ``jjobs id...`` script, kill with ``jctrl kill``.

Submission: jsub reads the job script on its standard input, as 1.1.0 did
(``jsub < script``), but the vendor's manual caps a script given that way at 4096
bytes, which a job of a few dozen tasks exceeds. What jsub reads is therefore the
script's header (its leading ``#`` lines: the ``#JSUB`` directives and the custom
flags) and one line that runs the whole script from the job root; the script
itself is unchanged.

Status, in one poll:

1. one script of ``jjobs id...`` lines for every job (ids chunked under the command
   budget: one line for thousands of jobs); each row's STAT maps to a
   :class:`JobStatus` (:mod:`dpdispatcher_jh_unischeduler.states`), an unknown word is
   ``unknown`` (logged once) and asked again;
2. ids jjobs answers ``Job <id> is not found`` for (the scheduler no longer keeps
   them) and jobs it shows ended (DONE, EXIT) are settled from the tag files their
   script left, in one existence query: finished if tagged, else terminated; an id
   jjobs says nothing about is ``unknown`` and asked again;
3. for the jobs it still knows that ended without their tags, one ``jjobs -l id...``
   records why (exit code, signal, TERM_OWNER, TERM_RUNLIMIT, ...), for
   :meth:`JH_UniScheduler.describe_failure`.
"""

from __future__ import annotations

import logging
import posixpath
import re
import shlex
from typing import Any

from dargs import Argument

from dpdispatcher.errors import ConfigError, SchedulerError
from dpdispatcher.job import Job
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.machine import Machine
from dpdispatcher.submit_retry import Refusals, submit_with_retries
from dpdispatcher_jh_unischeduler import commands, header
from dpdispatcher_jh_unischeduler.parsing import JOB_ID, is_not_found_line, not_found, parse_jjobs, parse_long
from dpdispatcher_jh_unischeduler.states import JH_ENDED, JH_STATES, JobRecord, describe

logger = logging.getLogger(__name__)

DOC_CUSTOM_GPU_LINE = (
    "Custom GPU header line starting with #JSUB. When set, it overrides the default UniScheduler GPU line "
    "generated from gpu_per_node."
)


class JH_UniScheduler(Machine):
    """The JH_UniScheduler batch type: one ``jsub`` per job, one ``jjobs`` script per poll for all jobs."""

    #: jsub's job ids are numbers
    job_id_pattern = JOB_ID
    #: the scheduler's name in messages
    scheduler = "JH_UniScheduler"

    #: a non-transient jjobs error this many polls in a row is raised
    max_query_failures = 3

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._final: dict[str, JobRecord | None] = {}  # job hash -> what jjobs -l said when it ended
        self._query_failures = 0
        self._unknown_logged: set[str] = set()

    @classmethod
    def resources_subfields(cls) -> list[Argument]:
        """``kwargs.custom_gpu_line``, as in 1.1.0 (``resources/kwargs/custom_gpu_line``)."""
        return [
            Argument(
                "kwargs",
                dict,
                [Argument("custom_gpu_line", str, optional=True, default=None, doc=DOC_CUSTOM_GPU_LINE)],
                optional=True,
                doc="JH_UniScheduler-specific extra arguments.",
            )
        ]

    # -- script ----------------------------------------------------------------------

    def gen_script_header(self, job: Job) -> str:
        """Shebang, then 1.1.0's ``#JSUB`` lines (see :mod:`dpdispatcher_jh_unischeduler.header`)."""
        return "\n".join([self.shebang, *header.header_lines(job.resources), *header.name_lines(job)])

    def launcher(self, job: Job) -> list[str]:
        """What jsub reads for ``job``: the script's leading ``#`` lines, then a line running the script."""
        head: list[str] = []
        for line in self.gen_script(job).splitlines():
            if line.strip() and not line.startswith("#"):
                break
            head.append(line)
        shebang = head[0][2:].split(None, 1) if head and head[0].startswith("#!") else self.shebang[2:].split(None, 1)
        script = posixpath.join(self.context.remote_root, job.script_file_name)
        lines = [*head, f"exec {shlex.join(shebang)} {shlex.quote(script)}"]
        size = sum(len(line.encode()) + 1 for line in lines)
        if size > header.SCRIPT_LIMIT:
            raise ConfigError(
                f"the #JSUB header of job {job.job_hash} takes {size} bytes; jsub reads at most {header.SCRIPT_LIMIT} "
                "(shorten resources/custom_flags)"
            )
        return lines

    def output_files(self, job: Job) -> list[str]:
        return header.output_files(job)

    # -- submission ------------------------------------------------------------------

    def submit_jobs(self, jobs: list[Job]) -> list[str]:
        """Submit ``jobs`` with one remote command (one jsub each), recording each id where the job runs.

        The pending-job limit or a scheduler that does not answer is retried with backoff for
        the jobs not yet accepted, then left to the next poll (:class:`SchedulerBusyError`).
        Any other refusal is a :class:`SchedulerError` naming the job and jsub's message.
        """
        statements = {job.job_hash: commands.jsub(self.launcher(job)) for job in jobs}
        ids = submit_with_retries(
            self,
            jobs,
            lambda some: [statements[job.job_hash] for job in some],
            scheduler=self.scheduler,
            command="jsub",
            refusals=Refusals(commands.is_transient),
            sets_id=True,
        )
        for job in jobs:
            self._final.pop(job.job_hash, None)
        return ids

    # -- status ----------------------------------------------------------------------

    def check_statuses(self, jobs: list[Job]) -> list[JobStatus]:
        ids = list(dict.fromkeys(job.job_id for job in jobs if re.fullmatch(JOB_ID, job.job_id or "")))
        asked = set(ids)
        answer = self.query(ids)
        if answer is None:  # the scheduler did not answer: ask again at the next poll
            return [JobStatus.unknown] * len(jobs)
        rows, gone = answer
        states: dict[str, JobStatus] = {}
        ended: list[Job] = []
        for job in jobs:
            word = rows.get(job.job_id)
            if word is None:
                if job.job_id in asked and job.job_id not in gone:  # jjobs said nothing about it: ask again
                    states[job.job_hash] = JobStatus.unknown
                else:
                    ended.append(job)
                continue
            if word in JH_ENDED:
                ended.append(job)
                continue
            status = JH_STATES.get(word)
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
            self._record_endings(untagged, known=set(rows))
        return [states[job.job_hash] for job in jobs]

    def query(self, ids: list[str]) -> tuple[dict[str, str], set[str]] | None:
        """``({job id: STAT}, {ids the scheduler does not know})`` in ONE remote command; None when the
        scheduler did not answer (the caller asks again at its next poll)."""
        if not ids:
            return {}, set()
        result = self.context.run_script(commands.jjobs(ids))
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if not is_not_found_line(line)]
        if errors or (result.returncode != 0 and not lines):
            self._query_failed("\n".join(errors) or f"jjobs exited with {result.returncode} and said nothing")
            return None
        self._query_failures = 0
        return parse_jjobs(result.stdout), not_found(result.stderr)

    def _query_failed(self, message: str) -> None:
        if commands.is_transient(message):
            logger.warning("%s did not answer (%s); asking again later", self.scheduler, message)
            return
        self._query_failures += 1
        if self._query_failures >= self.max_query_failures:
            raise SchedulerError(f"jjobs failed {self._query_failures} times in a row: {message}")
        logger.warning("jjobs failed (%s); asking again later", message)

    def _tagged(self, jobs: list[Job]) -> set[str]:
        """Hashes of ``jobs`` whose finished tag, or every task's finished tag, exists (one existence query)."""
        names = [job.finish_tag for job in jobs] + [task.finish_tag for job in jobs for task in job.job_task_list]
        present = self.context.files_exist(names)
        return {
            job.job_hash
            for job in jobs
            if job.finish_tag in present or all(task.finish_tag in present for task in job.job_task_list)
        }

    def _record_endings(self, jobs: list[Job], known: set[str]) -> None:
        """How ``jobs`` (ended without their tags) ended, from one ``jjobs -l`` for those the scheduler still knows."""
        ids = list(dict.fromkeys(job.job_id for job in jobs if job.job_id in known))
        records = parse_long(self.context.run_script(commands.jjobs_long(ids)).stdout) if ids else {}
        for job in jobs:
            self._final[job.job_hash] = records.get(job.job_id)

    # -- kill and failures ---------------------------------------------------------------

    def kill_jobs(self, jobs: list[Job]) -> None:
        """One script of ``jctrl kill`` lines for all ``jobs``, each line under the command budget."""
        ids = list(dict.fromkeys(job.job_id for job in jobs if re.fullmatch(JOB_ID, job.job_id or "")))
        if ids:
            self.context.run_script(commands.jctrl_kill(ids))

    def describe_failure(self, job: Job) -> str:
        if not job.job_id:
            return ""
        record = self._final.get(job.job_hash)
        if record is not None and record.job_id != job.job_id:
            record = None
        return describe(job.job_id, record)
