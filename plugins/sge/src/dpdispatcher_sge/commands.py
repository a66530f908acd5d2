"""The command lines the plugin runs where the jobs live, and which of their failures pass.

Every job id, path and file name in these lines is shell-quoted; ``"$(id -un)"``
is the one expansion left to the remote shell on purpose. Commands about many
jobs are split under :data:`dpdispatcher.commands.COMMAND_BUDGET`.
"""

from __future__ import annotations

import shlex

from dpdispatcher.commands import COMMAND_BUDGET, chunks

#: stderr fragments (lower case) of trouble that passes: retried with backoff, or asked again at the next poll
TRANSIENT_ERRORS = (
    "unable to contact qmaster",
    "failed receiving gdi request",
    "unable to send message to qmaster",
    "commlib error",
    "got send error",
    "got select error",
    "can't connect",
    "connection refused",
    "connection timed out",
    "timed out",
    "qmaster is down",
    "resource temporarily unavailable",
    "try again",
    # limits: "job rejected: only 100 jobs are allowed per user (current job count: 100)" (max_u_jobs),
    # "... per cluster" (max_jobs)
    "jobs are allowed per user",
    "jobs are allowed per cluster",
    "max_u_jobs",
    "max_jobs",
)

#: those of :data:`TRANSIENT_ERRORS` where Grid Engine answered "no" (a job limit): the job surely did not land
LIMIT_REFUSALS = (
    "jobs are allowed per user",
    "jobs are allowed per cluster",
    "max_u_jobs",
    "max_jobs",
)

#: what qacct says where the cluster keeps no accounting file
NO_ACCOUNTING = ("no such file or directory", "no jobs running since startup")


def is_transient(message: str) -> bool:
    low = message.lower()
    return any(fragment in low for fragment in TRANSIENT_ERRORS)


def is_limit(message: str) -> bool:
    """Whether qsub was refused because of a job limit (max_u_jobs, max_jobs): not now, but later."""
    low = message.lower()
    return any(fragment in low for fragment in LIMIT_REFUSALS)


def may_have_landed(message: str) -> bool:
    """Whether a transient qsub failure may hide a job the qmaster accepted (a lost answer, not a "no")."""
    return is_transient(message) and not is_limit(message)


def keeps_no_accounting(message: str) -> bool:
    low = message.lower()
    return any(fragment in low for fragment in NO_ACCOUNTING)


def qstat_mine() -> str:
    """One qstat for every pending and running job of the user running the command, as XML."""
    return 'qstat -xml -u "$(id -un)"'


def qsub(script: str, args: list[str]) -> str:
    """qsub ``script``, printing the job id (``-terse`` prints ``id``, or ``id.1-4:1`` for an array)."""
    return f'dpd_out=$(qsub -terse {shlex.join([*args, script])}) && printf "%s\\n" "${{dpd_out%%.*}}"'


def qdel(ids: list[str]) -> list[str]:
    """qdel lines for ``ids``, each under the command budget; "does not exist" answers are silenced."""
    return _chunked("qdel {}", ids, " ", ">/dev/null 2>&1 || true")


#: a marker line before each job's qacct output, so that a job qacct does not know is told apart
QACCT_MARK = "dpd_qacct"

_QACCT_LOOP = 'for dpd_j in {ids}; do printf "{mark} %s\\n" "$dpd_j"; qacct -j "$dpd_j" 2>&1; done'


def qacct(ids: list[str]) -> list[str]:
    """Script lines asking accounting about each of ``ids`` (one ``qacct -j`` each), every line under the budget."""
    return _chunked(_QACCT_LOOP.replace("{mark}", QACCT_MARK).replace("{ids}", "{}"), ids, " ")


def job_details(ids: list[str]) -> str:
    """The job root's physical path, then ``qstat -j`` of a few jobs (where each runs and writes)."""
    return "pwd -P && qstat -j " + shlex.quote(",".join(ids)) + " 2>/dev/null"


def error_reasons(ids: list[str]) -> list[str]:
    """``qstat -j id,id,...`` lines (why jobs are in state Eqw), each under the budget."""
    return _chunked("qstat -j {} 2>&1", ids, ",")


def _chunked(template: str, ids: list[str], joiner: str, suffix: str = "") -> list[str]:
    """``template`` (one ``{}``) filled with runs of shell-quoted ``ids`` joined by ``joiner``, each line
    (``suffix`` included) under :data:`COMMAND_BUDGET`."""
    line = template + (" " + suffix if suffix else "")
    fixed = len(line.replace("{}", "").encode())
    quoted = [shlex.quote(i) for i in ids]
    return [
        line.replace("{}", joiner.join(run))
        for run in chunks(quoted, fixed=fixed, budget=COMMAND_BUDGET, sep=len(joiner))
    ]
