"""PBS (OpenPBS / PBS Professional): submit with ``qsub``, poll with one ``qstat -f -F json -x``, kill with ``qdel``.

Status, in one poll:

1. one script of ``qstat -f -F json -x id...`` lines (as many ids per line as the
   command budget allows; one line for up to a few thousand jobs) for every job: ``-x``
   keeps finished jobs in the answer with their ``Exit_status`` (a server that keeps no
   history says so once; it is then asked without ``-x`` and ended jobs are unknown ids);
2. ids PBS answers ``Unknown Job Id`` for (the server forgot them: history expired
   or disabled) and jobs that ended (``F``, ``X``) are settled from the tag files
   their script left, in one existence query: finished if tagged, else terminated;
3. an id PBS says nothing about (an answer cut short) is ``unknown`` and asked again.

Every PBS state maps to a :class:`JobStatus` (:mod:`dpdispatcher_pbs.states`); a letter
this module does not know is ``unknown`` (logged once) and asked again. The last
record of each ended job is kept so that :meth:`PBS.describe_failure` can say "timed
out", "ran out of memory", "was killed" from its Exit_status.
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
from dpdispatcher_pbs import commands, header
from dpdispatcher_pbs.parsing import JOB_ID, JobRow, parse_qstat_json, sequence
from dpdispatcher_pbs.states import PBS_ELSEWHERE, PBS_ENDED, PBS_STATES, describe

logger = logging.getLogger(__name__)


def _number(job_id: str) -> int:
    """The sequence number of a job id as a number (-1 for none)."""
    match = re.match(r"\s*([0-9]+)", job_id or "")
    return int(match.group(1)) if match else -1


_ID_IN_LINE = re.compile(r"(?<![\w.\[-])(" + JOB_ID + r")(?![\w\[])")


class PBS(Machine):
    """The PBS batch type (OpenPBS, PBS Professional): one ``qsub`` per job, one ``qstat`` per poll for all jobs."""

    #: ``qsub`` prints ``<sequence>.<server>``
    job_id_pattern = JOB_ID
    #: the scheduler's name in messages
    scheduler = "PBS"
    #: the scheduler's state letters, those of an ended job, and those of a job that left for another server
    state_map = PBS_STATES
    ended_states = PBS_ENDED
    elsewhere_states = PBS_ELSEWHERE

    #: a non-transient qstat error this many polls in a row is raised
    max_query_failures = 3
    #: ask for the subjobs of job arrays too (``qstat -t``)
    query_subjobs = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._final: dict[str, JobRow] = {}  # job hash -> the record of the job when it ended
        self._query_failures = 0
        self._unknown_logged: set[str] = set()
        self._history = True  # False once the server said it keeps no job history

    # -- script --------------------------------------------------------------------

    def gen_script_header(self, job: Job) -> str:
        """Shebang, ``-l select=...``, ``-j oe``, the queue, name and output (see :mod:`dpdispatcher_pbs.header`)."""
        return "\n".join([self.shebang, self.resource_line(job), *header.common_lines(job)])

    def resource_line(self, job: Job) -> str:
        return header.select_line(job.resources)

    # -- submission ----------------------------------------------------------------

    def qsub_args(self, jobs: list[Job]) -> list[list[str]]:
        """Arguments given to qsub before the script name, for each of ``jobs`` (the script's directives suffice)."""
        return [[] for _ in jobs]

    def submit_jobs(self, jobs: list[Job]) -> list[str]:
        """Submit ``jobs`` with one remote command (one qsub each), recording each id where the job runs.

        A limit ("would exceed ... limit", "Maximum number of jobs already in queue") or a
        server that does not answer is retried with backoff for the jobs not yet accepted,
        then left to the next poll (:class:`SchedulerBusyError`); after a lost answer
        ("Request timed out", "End of File") the server is first asked whether it took
        the job anyway (by its name), so no job runs twice. Any other refusal is a
        :class:`SchedulerError` naming the job and PBS's message.
        """
        ids = submit_with_retries(
            self,
            jobs,
            lambda some: [commands.qsub(job.script_file_name, args) for job, args in zip(some, self.qsub_args(some))],
            scheduler=self.scheduler,
            command="qsub",
            refusals=Refusals(commands.is_transient, commands.may_have_landed),
            find_submitted=self._find_submitted,
        )
        for job in jobs:
            self._final.pop(job.job_hash, None)
        return ids

    def output_option(self, job: Job) -> str:
        """What ``-o`` names as the job's output file in the job root (an array's holds ``^array_index^``)."""
        return header.output_file(job)

    def _find_submitted(self, job: Job) -> str:
        """The id of the newest job of this user that writes ``job``'s output file in this job root and is
        newer than its old id, or ''.

        The user's jobs of ``job``'s name are looked up (``qselect -N``), finished ones included (a
        short job may be over by now), and told apart by their ``Output_Path``: the name may be a
        task_name many jobs share, the output file is ``<job hash>.out`` in this job root. Ids grow,
        so the newest such job is this very submission.
        """
        result = self.context.run(commands.named_records(header.job_name(job), self._history))
        physical, _, records = result.stdout.partition("\n")
        if not physical.startswith("/"):
            return ""
        roots = (physical.strip(), self.context.remote_root)
        old = _number(job.job_id)
        found = [
            row.job_id
            for row in parse_qstat_json(records).values()
            if _number(row.job_id) > old and header.output_matches(row.output_path, self.output_option(job), roots)
        ]
        return max(found, key=_number) if found else ""

    # -- status ----------------------------------------------------------------------

    def check_statuses(self, jobs: list[Job]) -> list[JobStatus]:
        ids = list(dict.fromkeys(job.job_id for job in jobs if sequence(job.job_id)))
        answer = self.query(ids)
        if answer is None:  # the server did not answer: ask again at the next poll
            return [JobStatus.unknown] * len(jobs)
        rows, gone = answer
        states: dict[str, JobStatus] = {}
        ended: list[Job] = []
        elsewhere: list[Job] = []
        for job in jobs:
            seq = sequence(job.job_id)
            row = rows.get(seq)
            if row is None:
                if seq and seq not in gone:  # PBS said nothing about it: ask again
                    states[job.job_hash] = JobStatus.unknown
                else:
                    ended.append(job)
                continue
            status = self.state_map.get(row.state)
            if status is None:
                if row.state not in self._unknown_logged:
                    self._unknown_logged.add(row.state)
                    logger.warning(
                        "%s state %r of job %s is not known to dpdispatcher; asking again",
                        self.scheduler,
                        row.state,
                        job.job_id,
                    )
                states[job.job_hash] = JobStatus.unknown
            elif row.state in self.ended_states:
                self._final[job.job_hash] = row
                ended.append(job)
            elif row.state in self.elsewhere_states:
                elsewhere.append(job)
            else:
                states[job.job_hash] = status
        if ended or elsewhere:
            tagged = self._tagged([*ended, *elsewhere])
            for job in ended:
                states[job.job_hash] = JobStatus.finished if job.job_hash in tagged else JobStatus.terminated
            for job in elsewhere:
                states[job.job_hash] = JobStatus.finished if job.job_hash in tagged else JobStatus.waiting
        return [states[job.job_hash] for job in jobs]

    def query(self, ids: list[str]) -> tuple[dict[str, JobRow], set[str]] | None:
        """``({sequence: row}, {sequences the server does not know})`` in ONE remote command; None when
        the server did not answer (the caller asks again at its next poll)."""
        if not ids:
            return {}, set()
        result = self.context.run_script(commands.qstat_json(ids, self._history, self.query_subjobs))
        if self._history and commands.keeps_no_history(result.stderr):
            logger.info("%s keeps no job history (job_history_enable is off): asking without -x", self.scheduler)
            self._history = False  # ended jobs are then unknown to qstat, and settled from their tags
            result = self.context.run_script(commands.qstat_json(ids, self._history, self.query_subjobs))
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if not commands.is_gone_line(line)]
        if errors or (result.returncode != 0 and not lines):
            self._query_failed("\n".join(errors) or f"qstat exited with {result.returncode} and said nothing")
            return None
        self._query_failures = 0
        gone = {sequence(m.group(1)) for line in lines for m in _ID_IN_LINE.finditer(line)}
        return parse_qstat_json(result.stdout), gone

    def _query_failed(self, message: str) -> None:
        if commands.is_transient(message):
            logger.warning("%s did not answer (%s); asking again later", self.scheduler, message)
            return
        self._query_failures += 1
        if self._query_failures >= self.max_query_failures:
            raise SchedulerError(f"qstat failed {self._query_failures} times in a row: {message}")
        logger.warning("qstat failed (%s); asking again later", message)

    def _tagged(self, jobs: list[Job]) -> set[str]:
        """Hashes of ``jobs`` whose finished tag, or every task's finished tag, exists (one existence query)."""
        names = [job.finish_tag for job in jobs] + [task.finish_tag for job in jobs for task in job.job_task_list]
        present = self.context.files_exist(names)
        return {
            job.job_hash
            for job in jobs
            if job.finish_tag in present or all(task.finish_tag in present for task in job.job_task_list)
        }

    # -- kill and failures ---------------------------------------------------------------

    def kill_jobs(self, jobs: list[Job]) -> None:
        """One script of qdel lines for all ``jobs``, each line under the command budget."""
        ids = list(dict.fromkeys(job.job_id for job in jobs if sequence(job.job_id)))
        if ids:
            self.context.run_script(commands.qdel(ids))

    def output_files(self, job: Job) -> list[str]:
        return [header.output_file(job)]

    def describe_failure(self, job: Job) -> str:
        row = self._final.get(job.job_hash)
        if row is None:
            return self._forgotten(job)
        return describe(self.scheduler, job.job_id, row.state, row.exit_status, row.comment)

    def _forgotten(self, job: Job) -> str:
        if not sequence(job.job_id):
            return ""
        return f"{self.scheduler} job {job.job_id} left the scheduler's records without its finished tag"
