"""SGE: submit with ``qsub``, poll with one ``qstat -xml`` for all jobs, kill with ``qdel``.

Status, in one poll:

1. one ``qstat -xml -u "$(id -un)"`` for every job of the user (its length does not
   depend on the number of jobs); each job's state codes map to a JobStatus
   (see :mod:`dpdispatcher_sge.states`), an unknown code to ``unknown``, which the
   core asks about again;
2. jobs qstat no longer lists, and jobs in error state (``Eqw``), are settled from
   the tag files their script left (one existence query): finished if tagged, else
   terminated — on the poll that first misses them, never after a wait. A job being
   deleted (``dr``) is ``completing`` until its processes are gone (at most
   :attr:`SGE.deletion_grace` seconds), so that it is never resubmitted beside them;
3. for the terminated ones that left qstat, accounting (``qacct -j``, one script for
   all of them) says why, for :meth:`SGE.describe_failure`; a job in state ``Eqw``
   never starts, so it is deleted (``qdel``) after its error reason was read.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from dpdispatcher.errors import SchedulerError
from dpdispatcher.job import Job
from dpdispatcher.JobStatus import JobStatus
from dpdispatcher.machine import Machine
from dpdispatcher.submit_retry import Refusals, submit_with_retries
from dpdispatcher_sge import commands, header
from dpdispatcher_sge.commands import is_transient
from dpdispatcher_sge.lookup import parse_job_details, writes_output
from dpdispatcher_sge.states import (
    ACTIVE,
    QstatEntry,
    deleted,
    describe_code,
    describe_records,
    in_error,
    map_state,
    parse_error_reasons,
    parse_qacct,
    parse_qstat_xml,
    states_by_job,
)

if TYPE_CHECKING:
    from dargs import Argument

logger = logging.getLogger(__name__)


class SGE(Machine):
    """The SGE (Grid Engine) batch type: one ``qsub`` per job, one ``qstat -xml`` per poll for all jobs."""

    #: as dpdispatcher 1.1.0 writes it; Grid Engine runs the script with ``-S /bin/bash`` anyway
    shebang = "#!/bin/bash"
    #: ``qsub -terse`` prints ``id`` (arrays ``id.1-4:1``: the task range is dropped)
    job_id_pattern = r"[0-9]+"

    #: a non-transient qstat error this many polls in a row is raised
    max_query_failures = 3
    #: seconds a job may stay in a deletion state (``dr``: its host must kill it) before it is taken as ended
    deletion_grace = 300.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reasons: dict[str, str] = {}  # job hash -> why it ended (for describe_failure)
        self._query_failures = 0
        self._unknown_logged: set[str] = set()
        self._deleting_since: dict[str, float] = {}  # job hash -> when qstat first showed it being deleted

    # -- resources ---------------------------------------------------------------

    @classmethod
    def resources_subfields(cls) -> list[Argument]:
        from dargs import Argument

        return [Argument("kwargs", dict, cls.kwargs_subfields(), optional=True, doc="SGE-specific extra arguments.")]

    @classmethod
    def kwargs_subfields(cls) -> list[Argument]:
        from dargs import Argument

        return [
            Argument(
                "pe_name",
                str,
                optional=True,
                default=header.DEFAULT_PE,
                alias=["sge_pe_name"],
                doc="Parallel environment name used by SGE, for example `mpi`. "
                "This controls the `#$ -pe ...` header line in SGE mode.",
            ),
            Argument(
                "job_name",
                str,
                optional=True,
                doc="Job name shown by SGE for this submission (characters SGE refuses become `_`). "
                "Default: the task's `task_name` for a one-task job, else `dpd_` and the start of the job's hash.",
            ),
        ]

    # -- script --------------------------------------------------------------------

    def gen_script_header(self, job: Job) -> str:
        """``#$`` lines (see :mod:`dpdispatcher_sge.header`)."""
        lines = [
            self.shebang,
            header.directive("-S", "/bin/bash"),
            header.directive("-cwd"),
            header.directive("-N", header.job_name(job)),
            *header.resource_lines(job.resources),
            *self.output_lines(job),
        ]
        return "\n".join(lines)

    def output_lines(self, job: Job) -> list[str]:
        """Grid Engine's stdout/stderr in the job root."""
        return header.output_lines(job)

    def stdout_name(self, job: Job) -> str:
        """The ``-o`` of the job: its stdout file in the job root (an array's holds ``$TASK_ID``)."""
        return header.output_stem(job) + ".out"

    def output_files(self, job: Job) -> list[str]:
        """The files Grid Engine writes the job's stdout and stderr to (see :meth:`output_lines`)."""
        return header.output_files(job)

    # -- submission ----------------------------------------------------------------

    def qsub_args(self, jobs: list[Job]) -> list[list[str]]:
        """Arguments given to qsub before the script name, for each of ``jobs``."""
        return [[] for _ in jobs]

    def submit_jobs(self, jobs: list[Job]) -> list[str]:
        """Submit ``jobs`` with one remote command (one qsub each), recording each id where the job runs.

        A job limit (max_u_jobs, max_jobs) is a SchedulerBusyError at once: the core asks
        again at its next poll. Connection trouble is retried with backoff for the jobs not
        yet accepted, after checking that the qmaster did not accept the job anyway.
        """
        ids = submit_with_retries(
            self,
            jobs,
            lambda some: [commands.qsub(job.script_file_name, args) for job, args in zip(some, self.qsub_args(some))],
            scheduler="SGE",
            command="qsub",
            refusals=Refusals(is_transient, commands.may_have_landed, commands.is_limit),
            find_submitted=self._find_submitted,
        )
        for job in jobs:
            self._reasons.pop(job.job_hash, None)
            self._deleting_since.pop(job.job_hash, None)
        return ids

    def _find_submitted(self, job: Job) -> str:
        """The id of an active job of this user that is ``job`` (other than its old id), or ''.

        Looked for by name; a name given in kwargs or a task_name may be shared by many jobs, so
        those of such a name are told apart by where they write their stdout (``qstat -j``: this
        job root and ``<job hash>.out``). The default name ``dpd_<hash>`` is the job's own.
        """
        try:
            entries = self._qstat_entries()
        except SchedulerError:  # qstat broken as well: nothing to adopt, the retry goes on
            return ""
        name = header.job_name(job)
        found = list(
            dict.fromkeys(
                entry.job_id
                for entry in entries or []
                if entry.name == name and entry.job_id != job.job_id and map_state(entry.state) in ACTIVE
            )
        )
        if not found or name == header.hash_name(job):
            return found[0] if found else ""
        result = self.context.run(commands.job_details(found))
        physical, _, text = result.stdout.partition("\n")
        roots = (physical.strip(), self.context.remote_root)
        details = parse_job_details(text)
        expected = self.stdout_name(job)
        return next((job_id for job_id in found if writes_output(details.get(job_id, {}), expected, roots)), "")

    # -- status ----------------------------------------------------------------------

    def check_statuses(self, jobs: list[Job]) -> list[JobStatus]:
        entries = self._qstat_entries()
        if entries is None:  # the qmaster did not answer: ask again at the next poll
            return [JobStatus.unknown] * len(jobs)
        listed = states_by_job(entries)
        states: dict[str, JobStatus] = {}
        gone: list[Job] = []
        errored: list[Job] = []
        for job in jobs:
            codes = listed.get(job.job_id) if job.job_id else None
            if not codes:
                gone.append(job)
                continue
            states[job.job_hash] = self._aggregate(job, codes)
            if states[job.job_hash] == JobStatus.terminated and any(in_error(code) for code in codes):
                errored.append(job)
            if any(deleted(code) for code in codes):
                states[job.job_hash] = self._deleting(job, codes, states[job.job_hash])
            else:
                self._deleting_since.pop(job.job_hash, None)
        if errored:
            self._drop_errored(errored, listed)
        ended = gone + [job for job in jobs if states.get(job.job_hash) == JobStatus.terminated]
        if ended:
            settled = self._settle_by_tags(ended)
            states.update(settled)
            failed = [job for job in gone if settled[job.job_hash] == JobStatus.terminated and job.job_id]
            if failed:
                self._account(failed)
        return [states[job.job_hash] for job in jobs]

    def _deleting(self, job: Job, codes: list[str], state: JobStatus) -> JobStatus:
        """The state of a job qstat lists as being deleted (``dr``): completing until its processes are gone,
        terminated once it stayed so for :attr:`deletion_grace` seconds (an unreachable execution host)."""
        code = next(code for code in codes if deleted(code))
        self._reasons[job.job_hash] = f"SGE job {job.job_id} was deleted (qdel; state {code})"
        since = self._deleting_since.setdefault(job.job_hash, time.monotonic())
        if state == JobStatus.completing and time.monotonic() - since > self.deletion_grace:
            logger.warning(
                "SGE job %s stayed in state %s for %.0f s; taking it as ended", job.job_id, code, self.deletion_grace
            )
            return JobStatus.terminated
        return state

    def _aggregate(self, job: Job, codes: list[str]) -> JobStatus:
        """One JobStatus for a job (or array) from the state codes of its listed tasks."""
        mapped = []
        for code in codes:
            state = map_state(code)
            if state == JobStatus.unknown and code not in self._unknown_logged:
                self._unknown_logged.add(code)
                logger.warning("SGE state %r of job %s is not known to dpdispatcher; asking again", code, job.job_id)
            mapped.append(state)
        for state in (JobStatus.running, JobStatus.completing, JobStatus.waiting, JobStatus.unknown):
            if state in mapped:
                return state
        return JobStatus.terminated

    def _qstat_entries(self) -> list[QstatEntry] | None:
        """The user's jobs from ONE ``qstat -xml``; None when the qmaster did not answer (asked again later)."""
        result = self.context.run(commands.qstat_mine())
        message = (result.stderr or result.stdout).strip()
        if result.returncode == 0:
            try:
                entries = parse_qstat_xml(result.stdout)
            except ValueError as err:
                message = str(err)
            else:
                self._query_failures = 0
                return entries
        if is_transient(message):
            logger.warning("SGE did not answer qstat (%s); asking again later", message)
            return None
        self._query_failures += 1
        if self._query_failures >= self.max_query_failures:
            raise SchedulerError(f"qstat failed {self._query_failures} times in a row: {message}")
        logger.warning("qstat failed (%s); asking again later", message)
        return None

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

    def _account(self, jobs: list[Job]) -> None:
        """Why ``jobs`` ended, from accounting (one script of ``qacct -j`` calls); kept for describe_failure.

        A job accounting does not know yet (the qmaster flushes it every ``accounting_flush_time``)
        is looked up again by :meth:`describe_failure`.
        """
        ids = list(dict.fromkeys(job.job_id for job in jobs))
        result = self.context.run_script(commands.qacct(ids))
        records = parse_qacct(result.stdout)
        if not records and commands.keeps_no_accounting(result.stdout + result.stderr):
            logger.info("SGE keeps no accounting file here; ended jobs are settled from their tag files alone")
        for job in jobs:
            # known to accounting (even with nothing to say, e.g. exit 1: a task failed) -> not asked again;
            # a deletion seen in qstat says more than accounting
            if job.job_id in records and job.job_hash not in self._reasons:
                self._reasons[job.job_hash] = describe_records(records[job.job_id])

    def _drop_errored(self, jobs: list[Job], listed: dict[str, list[str]]) -> None:
        """Read why jobs in state Eqw cannot start, then qdel them (they would never run; the core resubmits)."""
        ids = list(dict.fromkeys(job.job_id for job in jobs))
        result = self.context.run_script([*commands.error_reasons(ids), *commands.qdel(ids)])
        reasons = parse_error_reasons(result.stdout)
        for job in jobs:
            code = next(code for code in listed[job.job_id] if in_error(code))
            why = reasons.get(job.job_id, "qstat -j gave no error reason")
            self._reasons[job.job_hash] = (
                f"SGE job {job.job_id} could not start (state {code}: {describe_code(code)}) and was deleted: {why}"
            )
        logger.warning("%s%s", self._reasons[jobs[0].job_hash], f" (and {len(jobs) - 1} more)" if len(jobs) > 1 else "")

    # -- waiting between polls ----------------------------------------------------------

    #: when the job root is on this machine: how often :meth:`wait` looks at the finished tags,
    #: and how long it lets Grid Engine register the end once every job left its tag
    local_watch_interval = 0.1
    local_settle_delay = 0.3

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
        """One script of qdel calls for all ``jobs`` (array jobs: every task), each under the command budget."""
        ids = list(dict.fromkeys(job.job_id for job in jobs if job.job_id))
        if ids:
            self.context.run_script(commands.qdel(ids))

    def describe_failure(self, job: Job) -> str:
        """Why the job ended: its error state, its deletion, or what accounting says (asked now if not known yet)."""
        if job.job_hash not in self._reasons and job.job_id:
            self._account([job])
        return self._reasons.get(job.job_hash, "")
