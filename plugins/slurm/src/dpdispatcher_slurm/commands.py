"""The command lines the plugin runs where the jobs live, and which of their failures pass.

Every job id, path and file name in these lines is shell-quoted; ``"$(id -un)"``
is the one expansion left to the remote shell on purpose.
"""

from __future__ import annotations

import shlex

from dpdispatcher.commands import chunked_command

#: what squeue prints per job (``%i``: id with array index, ``%T``: long state name)
SQUEUE_FORMAT = "%i %T"

#: stderr fragments (lower case) of trouble that passes: retried with backoff
TRANSIENT_ERRORS = (
    "socket timed out",
    "unable to contact slurm controller",
    "slurm temporarily unable",
    "temporarily unavailable",
    "slurmctld not responding",
    "connection refused",
    "connection timed out",
    "zero bytes were transmitted or received",
    "qosmaxsubmitjob",
    "assocmaxsubmitjob",
    "maxsubmitjob",
    "qosmaxjobsperuser",
    "job violates accounting/qos policy",
    "resource temporarily unavailable",
    "try again",
)

#: those of :data:`TRANSIENT_ERRORS` where Slurm answered "no" (a submit limit), so the job surely did not land
LIMIT_REFUSALS = (
    "qosmaxsubmitjob",
    "assocmaxsubmitjob",
    "maxsubmitjob",
    "qosmaxjobsperuser",
    "job violates accounting/qos policy",
)

#: stderr fragments (lower case) of a cluster that keeps no accounting
NO_ACCOUNTING = ("accounting storage is disabled", "slurmdbd")


def is_transient(message: str) -> bool:
    low = message.lower()
    return any(fragment in low for fragment in TRANSIENT_ERRORS)


def may_have_landed(message: str) -> bool:
    """Whether a transient sbatch failure may hide a job the controller accepted (a lost answer, not a "no")."""
    low = message.lower()
    return is_transient(message) and not any(fragment in low for fragment in LIMIT_REFUSALS)


def keeps_no_accounting(message: str) -> bool:
    low = message.lower()
    return any(fragment in low for fragment in NO_ACCOUNTING)


def squeue(ids: list[str]) -> str:
    """One squeue for ``ids`` (every state, array elements one per line)."""
    return shlex.join(["squeue", "-h", "-t", "all", "-r", "-o", SQUEUE_FORMAT, "-j", ",".join(ids)])


def squeue_mine() -> str:
    """One squeue for every job of the user running the command."""
    return shlex.join(["squeue", "-h", "-t", "all", "-r", "-o", SQUEUE_FORMAT]) + ' -u "$(id -un)"'


def sacct(ids: list[str]) -> str:
    return shlex.join(["sacct", "-X", "-P", "-n", "-o", "JobID,State,ExitCode", "-j", ",".join(ids)])


def sbatch(script: str, args: list[str]) -> str:
    """sbatch ``script``, printing the job id (``--parsable`` prints ``id`` or ``id;cluster``)."""
    return f'dpd_out=$(sbatch --parsable {shlex.join([*args, script])}) && echo "${{dpd_out%%;*}}"'


def scancel(ids: list[str]) -> list[str]:
    """scancel lines for ``ids``, each under the command budget."""
    return chunked_command(["scancel"], ids)


def my_jobs_with_scripts() -> str:
    """The physical working directory, then ``array id|state|command`` of each of the user's jobs."""
    return "pwd -P && " + shlex.join(["squeue", "-h", "-o", "%F|%T|%o"]) + ' -u "$(id -un)"'


def stepd_lines(job_hash: str) -> str:
    """The ``slurmstepd`` lines of a job's Slurm output files (arrays: every element's)."""
    stem = shlex.quote(job_hash)
    return f"cat {stem}*.err {stem}*.out 2>/dev/null | grep -a slurmstepd"
