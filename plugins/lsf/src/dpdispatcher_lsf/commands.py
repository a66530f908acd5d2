"""The command lines the plugin runs where the jobs live, and which of their failures pass.

Every job id, path and name in these lines is shell-quoted.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from dpdispatcher.commands import chunked_command

#: the ``bjobs -o`` fields a status query asks for (``-json`` keys: JOBID, STAT, EXIT_CODE, EXIT_REASON)
STATUS_FIELDS = "jobid stat exit_code exit_reason"
#: those of a job array's query: each element is a record of its own, told apart by its index
ARRAY_STATUS_FIELDS = "jobid jobindex stat exit_code exit_reason"
#: the fields of the by-name lookup after a lost bsub answer (the description tells jobs of one name apart)
NAME_FIELDS = "jobid stat job_name job_description"

#: stderr fragments (lower case) of trouble that passes: retried with backoff, or asked again at the next poll
TRANSIENT_ERRORS = (
    # limits: "not now" ("User <u>: Pending job threshold reached. Job not submitted.", MAX_PEND_JOBS,
    # MAX_PEND_SLOTS, queue and user-group thresholds)
    "threshold reached",
    "pending job threshold",
    "job limit reached",
    "slot limit reached",
    "limit reached",
    "too many jobs",
    # a cluster that does not answer
    "lsf is down",
    "cannot connect to lsf",
    "please wait",
    "batch system not responding",
    "not responding",
    "still trying",
    "lim is down",
    "cannot connect to lim",
    "failed in an lsf library call",
    "communication time out",
    "timed out",
    "timeout",
    "connection refused",
    "connection reset",
    "no route to host",
    "temporarily unavailable",
    "try again",
    "system is busy",
    "too busy",
)

#: those of :data:`TRANSIENT_ERRORS` after which the job may have been accepted all the same (a lost answer)
MAY_HAVE_LANDED = (
    "communication time out",
    "timed out",
    "timeout",
    "connection reset",
    "not responding",
    "end of file",
)

#: a refusal that gives no reason but "Job not submitted." (a limit an esub or the site enforces: "not now")
_BARE_REFUSAL = re.compile(r"^\s*job not submitted\.?\s*$", re.IGNORECASE)


def is_transient(message: str) -> bool:
    """Whether ``message`` (what a command printed) is a "not now": a limit, or a cluster that does not answer."""
    low = message.lower()
    if any(fragment in low for fragment in TRANSIENT_ERRORS):
        return True
    lines = [line for line in message.splitlines() if line.strip()]
    return bool(lines) and all(_BARE_REFUSAL.match(line) for line in lines)


def may_have_landed(message: str) -> bool:
    """Whether a transient bsub failure may hide a job LSF accepted (its answer was lost on the way back)."""
    low = message.lower()
    return is_transient(message) and any(fragment in low for fragment in MAY_HAVE_LANDED)


def bsub(script: str, args: Sequence[str] = ()) -> str:
    """A statement that submits ``script`` (in the job root) with ``bsub [args] < script`` and sets ``$dpd_id``
    to the id. ``args`` override the script's ``#BSUB`` lines (LSF: the command line wins).

    ``bsub`` prints ``Job <1234> is submitted to [default] queue <normal>.``: the id is cut out with
    parameter expansions (no subshell, no sed). On failure the statement fails with ``$dpd_id``
    holding what bsub printed on stdout (its stderr goes to the script's stderr), for the error message.
    """
    command = shlex.join(["bsub", *args])
    return (
        f"dpd_out=$({command} < {shlex.quote(script)}); dpd_rc=$?; "
        'dpd_id=${dpd_out#*"Job <"}; dpd_id=${dpd_id%%">"*}; '
        '[ "$dpd_rc" -eq 0 ] || { dpd_id=$dpd_out; false; }'
    )


def bjobs_status(ids: list[str], fields: str = STATUS_FIELDS) -> list[str]:
    """``bjobs -json -o "jobid stat exit_code exit_reason" id...`` lines, each under the command budget."""
    return chunked_command(["bjobs", "-json", "-o", fields], ids)


def bjobs_named(name: str) -> str:
    """The user's jobs called ``name``, finished ones included (``-a``), as JSON."""
    return shlex.join(["bjobs", "-a", "-J", name, "-json", "-o", NAME_FIELDS])


def bkill(ids: list[str]) -> list[str]:
    """``bkill id...`` lines, each under the command budget."""
    return chunked_command(["bkill"], ids)
