"""The command lines the plugin runs where the jobs live, and which of their failures pass.

Every job id, path and file name in these lines is shell-quoted; ``"$(id -un)"``
is the one expansion left to the remote shell on purpose.
"""

from __future__ import annotations

import shlex

from dpdispatcher.commands import chunked_command

#: stderr fragments (lower case) of trouble that passes: retried with backoff, or asked again at the next poll
TRANSIENT_ERRORS = (
    # a server that does not answer (PBS Pro, Torque)
    "cannot connect to server",
    "couldn't connect to cluster",
    "connection refused",
    "connection timed out",
    "no route to host",
    "no server to connect to",
    "no free connections",
    "server shutting down",
    "check pbs_server daemon",
    "trqauthd",
    "communication failure",
    "end of file",
    "premature end of message",
    "batch protocol error",
    "request timed out",
    "pbs_iff",
    "resource temporarily unavailable",
    "temporarily unavailable",
    "try again",
    # limits: "not now" (PBS Pro, Torque)
    "would exceed",
    "maximum number of jobs",
    "exceeds the queue limit",
    "max_queued",
    # the Slurm controller behind the Torque wrappers
    "socket timed out",
    "unable to contact slurm controller",
    "slurm temporarily unable",
    "qosmaxsubmitjob",
    "assocmaxsubmitjob",
    "maxsubmitjob",
    "job violates accounting/qos policy",
)

#: those of :data:`TRANSIENT_ERRORS` after which the job may have been accepted all the same (a lost answer)
MAY_HAVE_LANDED = (
    "request timed out",
    "end of file",
    "premature end of message",
    "batch protocol error",
    "communication failure",
    "socket timed out",
)

#: stderr lines of a status query that only say a job is not (or no longer) known
GONE_MARKERS = ("unknown job id", "job has finished", "invalid job id")


def is_transient(message: str) -> bool:
    low = message.lower()
    return any(fragment in low for fragment in TRANSIENT_ERRORS)


def may_have_landed(message: str) -> bool:
    """Whether a transient qsub failure may hide a job the server accepted."""
    low = message.lower()
    return is_transient(message) and any(fragment in low for fragment in MAY_HAVE_LANDED)


def is_gone_line(line: str) -> bool:
    low = line.lower()
    return any(marker in low for marker in GONE_MARKERS)


def qsub(script: str, args: list[str]) -> str:
    """qsub ``script`` (in the job root), printing the job id."""
    return shlex.join(["qsub", *args, script])


#: what PBS Pro says to ``qstat -x`` when job_history_enable is off (PBSE_JOBHISTNOTSET)
NO_HISTORY = "not configured to maintain job history"


def keeps_no_history(message: str) -> bool:
    return NO_HISTORY in message.lower()


def qstat_json(ids: list[str], history: bool = True, subjobs: bool = False) -> list[str]:
    """PBS Pro: ``qstat -f -F json -x id...`` lines (``-x``: finished jobs too; ``subjobs``: ``-t``, the
    subjobs of job arrays too), each under the command budget."""
    options = ["-f", "-F", "json", *(["-x"] if history else []), *(["-t"] if subjobs else [])]
    return chunked_command(["qstat", *options], ids)


def qstat_mine() -> str:
    """Torque: one table of every job of the user running the command (``-a`` layout)."""
    return 'qstat -u "$(id -un)"'


def qstat_full(job_id: str) -> str:
    """Torque: the full record of one job (its exit status, when the server keeps it)."""
    return shlex.join(["qstat", "-f", job_id])


def qselect_named(name: str, history: bool = True) -> str:
    """PBS Pro: ids of the user's jobs named ``name`` (``history``: finished ones included)."""
    return shlex.join(["qselect", *(["-x"] if history else []), "-N", name]) + ' -u "$(id -un)"'


def named_records(name: str, history: bool = True) -> str:
    """PBS Pro: the job root's physical path, then the ``qstat -f -F json`` records of the user's jobs named
    ``name`` (their ``Output_Path`` tells them apart): a lost qsub answer is looked for with this."""
    qstat = shlex.join(["qstat", "-f", "-F", "json", *(["-x"] if history else [])])
    return f"pwd -P && {qselect_named(name, history)} | xargs -r {qstat}"


def physical_and_mine() -> str:
    """Torque: the job root's physical path, then the user's table (``-a`` layout)."""
    return "pwd -P && " + qstat_mine()


def qstat_full_many(ids: list[str]) -> str:
    """Torque: the full records of a few jobs (``Output_Path`` when the server shows it)."""
    return shlex.join(["qstat", "-f", *ids])


def qdel(ids: list[str]) -> list[str]:
    """qdel lines for ``ids``, each under the command budget."""
    return chunked_command(["qdel"], ids)
