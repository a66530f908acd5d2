"""Torque: ``#PBS -l nodes=N:ppn=C``, one ``qstat -u "$(id -un)"`` per poll for all jobs.

Torque's ``qstat`` has no JSON, and the Slurm Torque wrappers (Debian's
``slurm-wlm-torque``) take neither ``-x`` nor several ids in one table reliably; the
one listing both understand is the user's table (``qstat -u user``, the ``-a``
layout: job id first, the state letter last but one). Jobs the table no longer
lists, and completed ones (``C``), are settled from their tag files. The output
options (``-N``, ``-o``, ``-j oe``) are also given on the qsub command line: the Slurm
wrapper ignores the script's own ``-o``/``-e`` directives.

A job whose qsub answer was lost is looked for in that table by name, then told apart
by the ``Output_Path`` ``qstat -f`` shows (``<job hash>.out`` in the job root). Slurm's
wrappers show no path: there a job is adopted by name only when the name is this job's
own (``dpd_<hash>``) or, for a task_name, when one job alone of that name is newer than
the job's last id (two or more: none is adopted, and the qsub is retried).
"""

from __future__ import annotations

import logging

from dpdispatcher.job import Job
from dpdispatcher_pbs import commands, header
from dpdispatcher_pbs.parsing import JobRow, parse_torque_full, parse_torque_table, sequence
from dpdispatcher_pbs.pbs import PBS, _number
from dpdispatcher_pbs.states import TORQUE_ENDED, TORQUE_STATES, describe

logger = logging.getLogger(__name__)


class Torque(PBS):
    """The Torque batch type (also Slurm's Torque wrappers): one qsub per job, one ``qstat -u`` per poll."""

    scheduler = "Torque"
    state_map = TORQUE_STATES
    ended_states = TORQUE_ENDED
    elsewhere_states = frozenset()

    def resource_line(self, job: Job) -> str:
        return header.nodes_line(job.resources)

    def qsub_args(self, jobs: list[Job]) -> list[list[str]]:
        return [["-N", header.job_name(job), "-o", header.output_file(job), "-j", "oe"] for job in jobs]

    def query(self, ids: list[str]) -> tuple[dict[str, JobRow], set[str]] | None:
        """The user's whole table in one call; every id it does not list is gone."""
        if not ids:
            return {}, set()
        result = self.context.run(commands.qstat_mine())
        message = (result.stderr or "").strip()
        if result.returncode != 0 or (message and not all(commands.is_gone_line(m) for m in message.splitlines())):
            self._query_failed(message or result.stdout.strip() or f"qstat exited with {result.returncode}")
            return None
        self._query_failures = 0
        wanted = {sequence(i) for i in ids}
        rows = {seq: row for seq, row in parse_torque_table(result.stdout).items() if seq in wanted}
        return rows, wanted - set(rows)

    def _find_submitted(self, job: Job) -> str:
        """The id of the newest job of this user named like ``job``, newer than its old id and writing
        ``job``'s output file in this job root (when the server shows where jobs write), or ''."""
        name = header.job_name(job)
        result = self.context.run(commands.physical_and_mine())
        physical, _, table = result.stdout.partition("\n")
        old = _number(job.job_id)
        candidates = [
            fields[0]
            for fields in (line.split() for line in table.splitlines())
            if len(fields) > 4 and fields[3] == name and sequence(fields[0]) and _number(fields[0]) > old
        ]
        if not candidates:
            return ""
        records = parse_torque_full(self.context.run(commands.qstat_full_many(candidates)).stdout)
        shown = [row for row in records.values() if row.output_path]
        if shown:  # the server tells where each job writes: only this job's output file counts
            roots = (physical.strip(), self.context.remote_root)
            found = [
                row.job_id for row in shown if header.output_matches(row.output_path, self.output_option(job), roots)
            ]
            return max(found, key=_number) if found else ""
        if name == header.hash_name(job) or len(candidates) == 1:
            return max(candidates, key=_number)
        logger.warning(
            "Torque shows no output paths and %d jobs are named %s: none is adopted for job %s",
            len(candidates),
            name,
            job.job_hash,
        )
        return ""

    def describe_failure(self, job: Job) -> str:
        """From ``qstat -f`` when the server still has the job (real Torque tells its exit status), else the table."""
        row = self._final.get(job.job_hash)
        if not sequence(job.job_id):
            return ""
        full = parse_torque_full(self.context.run(commands.qstat_full(job.job_id)).stdout).get(sequence(job.job_id))
        if full is not None and (full.exit_status is not None or row is None):
            row = full
        if row is None:
            return self._forgotten(job)
        return describe(self.scheduler, job.job_id, row.state, row.exit_status, row.comment)
