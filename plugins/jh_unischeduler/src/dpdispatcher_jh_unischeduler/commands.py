"""The command lines the plugin runs where the jobs live, and which of their failures pass.

Every job id, path and script line in these lines is shell-quoted.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from dpdispatcher.commands import chunked_command

#: what jsub prints on success (1.1.0 read the 2nd word of its first line, without the brackets)
SUBMITTED = r"Job <([0-9]+)> is submitted"

#: stderr fragments (lower case) of trouble that passes: retried with backoff, or asked again at the next poll
TRANSIENT_ERRORS = (
    # a scheduler master that does not answer
    "cannot connect",
    "could not connect",
    "failed to connect",
    "connection refused",
    "connection timed out",
    "connection reset",
    "no route to host",
    "not responding",
    "timed out",
    "timeout",
    "please wait",
    "try again",
    "temporarily",
    "is down",
    # limits on the number of jobs: "not now"
    "job threshold",
    "threshold reached",
    "too many jobs",
    "job limit",
    "reached the limit",
)


def is_transient(message: str) -> bool:
    low = message.lower()
    return any(fragment in low for fragment in TRANSIENT_ERRORS)


def jsub(launcher: Sequence[str]) -> str:
    """A statement that submits the job script ``launcher`` (its lines, given on jsub's standard input,
    as 1.1.0 did with ``jsub < script``) and sets ``$dpd_id`` to the id jsub prints.

    jsub prints ``Job <123> is submitted to queue <normal>.``; the id is taken from that line
    only, and anything else jsub printed is passed on, as an error, instead.
    """
    lines = " ".join(shlex.quote(line) for line in launcher)
    # own variable names: the core's submit step uses dpd_re and dpd_id around this statement
    return (
        f"dpd_id=; dpd_jsub_re={shlex.quote(SUBMITTED)}; dpd_jsub_out=$(printf '%s\\n' {lines} | jsub) "
        "&& [[ $dpd_jsub_out =~ $dpd_jsub_re ]] && dpd_id=${BASH_REMATCH[1]} "
        '|| { printf "%s\\n" "$dpd_jsub_out" >&2; false; }'
    )


def jjobs(ids: list[str]) -> list[str]:
    """``jjobs id...`` lines (the job table, ended jobs included), each under the command budget."""
    return chunked_command(["jjobs"], ids)


def jjobs_long(ids: list[str]) -> list[str]:
    """``jjobs -l id...`` lines (how the jobs ended), each under the command budget."""
    return chunked_command(["jjobs", "-l"], ids)


def jctrl_kill(ids: list[str]) -> list[str]:
    """``jctrl kill id...`` lines, each under the command budget."""
    return chunked_command(["jctrl", "kill"], ids)
