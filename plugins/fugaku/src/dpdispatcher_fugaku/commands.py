"""The command lines the plugin runs where the jobs live, and which of their failures pass.

Every job id and file name in these lines is shell-quoted.
"""

from __future__ import annotations

import shlex

from dpdispatcher.commands import chunked_command

#: what pjsub prints on success (1.1.0 read the 6th word of its first line)
SUBMITTED = r"PJM 0000 pjsub Job ([0-9]+) submitted"

#: stderr fragments (lower case) of trouble that passes: retried with backoff, or asked again at the next poll
TRANSIENT_ERRORS = (
    # a job manager that does not answer
    "cannot connect",
    "could not connect",
    "failed to connect",
    "connection refused",
    "connection timed out",
    "connection reset",
    "no route to host",
    "not running",
    "not responding",
    "timed out",
    "timeout",
    "temporarily",
    "try again",
    "busy",
    # limits on the number of jobs: "not now"
    "number of jobs",
    "jobs per user",
    "job count",
    "too many jobs",
    "number of submitted jobs",
)


def is_transient(message: str) -> bool:
    low = message.lower()
    return any(fragment in low for fragment in TRANSIENT_ERRORS)


def pjsub(script: str) -> str:
    """A statement that submits ``script`` (in the job root) and sets ``$dpd_id`` to its id.

    pjsub prints ``[INFO] PJM 0000 pjsub Job 12345 submitted.``; the id is taken from that
    line only: some versions refuse (``[ERR.] PJM ...``) on stdout with exit code 0, and
    that output is passed on, as an error, instead.
    """
    # own variable names: the core's submit step uses dpd_re and dpd_id around this statement
    return (
        f"dpd_id=; dpd_pjsub_re={shlex.quote(SUBMITTED)}; dpd_pjsub_out=$(pjsub {shlex.quote(script)}) "
        "&& [[ $dpd_pjsub_out =~ $dpd_pjsub_re ]] && dpd_id=${BASH_REMATCH[1]} "
        '|| { printf "%s\\n" "$dpd_pjsub_out" >&2; false; }'
    )


#: the user's jobs that have not ended (the default ``pjstat`` table): one command, whatever the number of jobs
PJSTAT = "pjstat"


def pjstat_history(ids: list[str]) -> list[str]:
    """``pjstat -H -S id...`` lines (the details of ended jobs), each under the command budget."""
    return chunked_command(["pjstat", "-H", "-S"], ids)


def pjdel(ids: list[str]) -> list[str]:
    """``pjdel id...`` lines, each under the command budget."""
    return chunked_command(["pjdel"], ids)
