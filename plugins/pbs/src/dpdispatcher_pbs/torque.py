"""Torque: ``#PBS -l nodes=N:ppn=C``, one ``qstat -u "$(id -un)"`` per poll for all jobs.

Torque's ``qstat`` has no JSON, and the Slurm Torque wrappers (Debian's
``slurm-wlm-torque``) take neither ``-x`` nor several ids in one table reliably; the
one listing both understand is the user's table (``qstat -u user``, the ``-a``
layout: job id first, the state letter last but one). Jobs the table no longer
lists, and completed ones (``C``), are settled from their tag files. The output
options (``-N``, ``-o``, ``-j oe``) are also given on the qsub command line: the Slurm
wrapper ignores the script's own ``-o``/``-e`` directives.
"""

from __future__ import annotations

from dpdispatcher.job import Job
from dpdispatcher_pbs import commands, header
from dpdispatcher_pbs.parsing import JobRow, parse_torque_full, parse_torque_table, sequence
from dpdispatcher_pbs.pbs import PBS
from dpdispatcher_pbs.states import TORQUE_ENDED, TORQUE_STATES, describe


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

    def named_jobs(self, name: str) -> list[str]:
        """Ids of the user's listed jobs called ``name`` (from the same table)."""
        result = self.context.run(commands.qstat_mine())
        found = []
        for line in result.stdout.splitlines():
            fields = line.split()
            if len(fields) > 4 and fields[3] == name and sequence(fields[0]):
                found.append(fields[0])
        return found

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
