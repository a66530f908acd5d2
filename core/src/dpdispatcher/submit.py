"""Submitting jobs so that none is ever submitted twice, and reading back what was submitted.

Each job's submit step runs where the job runs, in one script for all jobs, and
records the scheduler's id in the job's id file (:attr:`Job.job_id_file`) in the
same step. Before submitting, a step looks at that file: if it names an id other
than the one the driver knows (the job's previous id, or none), the job was
accepted already — by this very script whose answer was lost with a dropped
connection, by a call that stopped at a later job, or by a driver that was killed
— and that id is taken instead of submitting again.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from dpdispatcher.errors import SchedulerError

if TYPE_CHECKING:
    from dpdispatcher.base_context import BaseContext
    from dpdispatcher.job import Job

ID_LINE = "dpd_job_id"

#: sets ``dpd_re`` to the machine's job id pattern, anchored (steps test ids with ``[[ $dpd_id =~ $dpd_re ]]``)
PATTERN_LINE = "dpd_re={pattern}"

SUBMIT_STEP = (
    "dpd_id=; [ ! -s {id_file} ] || IFS= read -r dpd_id < {id_file}; "
    'if [ -z "$dpd_id" ] || [ "$dpd_id" = {known} ]; then '
    '{launch} || {{ printf "%s\\n" "$dpd_id" >&2; exit 1; }}; fi; '
    'case "$dpd_id" in ""|*[[:space:]]*) printf "printed %s instead of one job id\\n" "${{dpd_id:-nothing}}" >&2; exit 1;; esac; '
    "[[ $dpd_id =~ $dpd_re ]] || {{ printf \"the submit command printed '%s', which is not a %s job id (expected %s)\\n\" "
    '"$dpd_id" {machine} {pattern} >&2; exit 1; }}; '
    'if printf "%s\\n" "$dpd_id" > {id_file}; then printf "{id_line} %s\\n" "$dpd_id"; '
    'else printf "{unrecorded} %s\\n" "$dpd_id"; exit 1; fi'
)
#: A submit script marks itself for as long as it runs; reading the recorded ids first waits (up to 60 s) for
#: such a script left running by a driver that was killed, so a re-run never submits what it is submitting.
MARK_STEP = "printf '%s\\n' $$ > .dpd_submitting.$$ && trap 'rm -f .dpd_submitting.$$' EXIT"
WAIT_STEP = (
    'for dpd_f in .dpd_submitting.*; do [ -e "$dpd_f" ] || continue; dpd_p=${dpd_f##*.}; dpd_n=0; '
    'while kill -0 "$dpd_p" 2>/dev/null && [ "$dpd_n" -lt 600 ]; do sleep 0.1; dpd_n=$((dpd_n + 1)); done; '
    'rm -f -- "$dpd_f"; done'
)

#: printed by a step that submitted a job but could not record its id (a full disk): the job is cancelled
UNRECORDED_LINE = "dpd_unrecorded"

READ_STEP = (
    "[ ! -s {id_file} ] || {{ IFS= read -r dpd_id < {id_file}; "
    '[[ ! $dpd_id =~ $dpd_re ]] || printf "%s %s\\n" {job_hash} "$dpd_id"; }}'
)


def _pattern_line(id_pattern: str) -> str:
    return PATTERN_LINE.format(pattern=shlex.quote(f"^({id_pattern})$"))


def submit_and_record(
    context: BaseContext,
    jobs: Sequence[Job],
    commands: Sequence[str],
    machine_name: str,
    id_pattern: str,
    sets_id: bool = False,
    cancel: Callable[[Job, str], None] | None = None,
) -> list[str]:
    """Run each job's submit ``command`` (it prints the job's id) and record the id, in one script.

    With ``sets_id`` each command is a statement that sets ``$dpd_id`` itself
    (``job & dpd_id=$!``): it saves a subshell per job. A job that was submitted but
    whose id could not be recorded (a full disk) is given to ``cancel``, never left untracked.

    Stops at the first job that fails; the :class:`SchedulerError` then carries the
    ids of the jobs accepted before it (``submitted``), which are recorded too, and
    the command's output. Calling again with the same jobs submits none of those twice.
    """
    steps = [MARK_STEP, _pattern_line(id_pattern)]
    steps += [
        SUBMIT_STEP.format(
            id_file=shlex.quote(job.job_id_file),
            known=shlex.quote(job.job_id),
            launch=cmd if sets_id else f"dpd_id=$({cmd})",
            machine=shlex.quote(machine_name),
            pattern=shlex.quote(id_pattern),
            id_line=ID_LINE,
            unrecorded=UNRECORDED_LINE,
        )
        for job, cmd in zip(jobs, commands)
    ]
    result = context.run_script(steps)
    ids = [line.split(None, 1)[1] for line in result.stdout.splitlines() if line.startswith(ID_LINE + " ")]
    unrecorded = [line.split(None, 1)[1] for line in result.stdout.splitlines() if line.startswith(UNRECORDED_LINE)]
    if unrecorded:
        job = jobs[len(ids)]
        if cancel is not None:
            cancel(job, unrecorded[0])
        raise SchedulerError(
            f"{machine_name} accepted job {job.job_hash} as {unrecorded[0]} but its id could not be recorded in "
            f"{context.remote_root} (is that disk full?); the job was cancelled so that it does not run untracked. "
            "Free some space there and run again.",
            submitted=ids,
        )
    if result.returncode != 0 or len(ids) != len(jobs):
        failed = jobs[min(len(ids), len(jobs) - 1)]
        output = "\n".join(
            line for line in (result.stderr + "\n" + result.stdout).splitlines() if not line.startswith(ID_LINE)
        ).strip()
        output = output or "the submit command printed no job id"
        raise SchedulerError(
            f"{machine_name} could not submit job {failed.job_hash}: {output}"
            + (f" ({len(ids)} job(s) before it were submitted and recorded)" if ids else ""),
            submitted=ids[: len(jobs) - 1],
            output=output,
        )
    return ids


def read_recorded_ids(context: BaseContext, jobs: Sequence[Job], id_pattern: str) -> dict[str, str]:
    """The ids recorded in the job root for ``jobs`` (job hash -> id), read in one script.

    A recorded value that is not a job id (a file damaged by a full disk, say) is ignored.
    """
    if not jobs:
        return {}
    steps = [WAIT_STEP, _pattern_line(id_pattern)]
    steps += [READ_STEP.format(id_file=shlex.quote(job.job_id_file), job_hash=job.job_hash) for job in jobs]
    found = {}
    for line in context.run_script(steps).stdout.splitlines():
        job_hash, _, job_id = line.partition(" ")
        if job_id:
            found[job_hash] = job_id
    return found
