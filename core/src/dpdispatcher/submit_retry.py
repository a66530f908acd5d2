"""Submitting a batch of jobs to a scheduler that may refuse some of them for now.

Every batch type that talks to a real scheduler has the same loop: submit the jobs in order in
one remote command (:meth:`Machine.submit_and_record_many`); when the scheduler refuses one,
decide from its message whether that is final (a :class:`SchedulerError` naming the job), "not
now" (a job limit: :class:`SchedulerBusyError`, the core asks again at its next poll) or
passing trouble (a timeout, a busy controller: retry with backoff, after asking whether the
job got in anyway). A plugin gives its scheduler's readings of the messages
(:class:`Refusals`) and the statements that submit; this module does the rest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dpdispatcher.errors import SchedulerBusyError, SchedulerError

if TYPE_CHECKING:
    from dpdispatcher.job import Job
    from dpdispatcher.machine import Machine

logger = logging.getLogger(__name__)


def _never(error: str) -> bool:
    return False


@dataclass(frozen=True)
class Refusals:
    """How a scheduler's refusal (the error text of the first job it did not accept) is read."""

    #: passing trouble (timeout, controller busy or restarting): retry with backoff
    is_transient: Callable[[str], bool]
    #: the answer was lost, not the request: look for the job (``find_submitted``) before sending it again
    may_have_landed: Callable[[str], bool] = _never
    #: a job limit: leave the rest to the core's next poll at once
    is_limit: Callable[[str], bool] = _never


def submit_with_retries(
    machine: Machine,
    jobs: list[Job],
    statements: Callable[[list[Job]], list[str]],
    *,
    scheduler: str,
    command: str,
    refusals: Refusals,
    find_submitted: Callable[[Job], str] | None = None,
    sets_id: bool = False,
) -> list[str]:
    """Submit ``jobs`` in order and return their ids; see the module docstring.

    ``statements(jobs)`` gives one shell statement per job that submits it (printing its id,
    or setting ``$dpd_id`` with ``sets_id``), as :meth:`Machine.submit_and_record_many` takes
    them. ``find_submitted(job)`` returns the id of a job the scheduler accepted although the
    answer was lost, or "". Backoff: ``machine.retry_delay`` seconds, doubling up to
    ``machine.retry_delay_max``, ``machine.submit_retries`` times after a refusal that made no
    progress. The errors carry the ids accepted before the refusal in ``submitted``.
    """
    ids: list[str] = []
    remaining = list(jobs)
    delay, attempt = machine.retry_delay, 0
    while remaining:
        try:
            accepted, error = machine.submit_and_record_many(remaining, statements(remaining), sets_id=sets_id), ""
        except SchedulerError as err:  # the jobs before the refused one were accepted and recorded
            accepted, error = err.submitted, err.output or str(err)
        ids += accepted
        remaining = remaining[len(accepted) :]
        if not remaining:
            break
        job = remaining[0]
        done = f" ({len(ids)} job(s) before it were submitted and recorded)" if ids else ""
        if refusals.is_limit(error):
            raise SchedulerBusyError(
                f"{scheduler} refused job {job.job_hash} for now: {error}{done}", submitted=ids, output=error
            )
        if not refusals.is_transient(error):
            raise SchedulerError(
                f"{scheduler} refused job {job.job_hash}: {error or 'no job id returned'}{done}",
                submitted=ids,
                output=error,
            )
        landed = find_submitted(job) if find_submitted and refusals.may_have_landed(error) else ""
        if landed:
            logger.info("%s of job %s got no answer but %s accepted it as %s", command, job.job_hash, scheduler, landed)
            machine.context.write_file(job.job_id_file, landed + "\n")
            ids.append(landed)
            remaining.pop(0)
            continue
        if accepted:  # progress: the refusal budget starts over
            attempt, delay = 0, machine.retry_delay
        attempt += 1
        if attempt > machine.submit_retries:  # the core asks again at its next poll
            raise SchedulerBusyError(
                f"{scheduler} kept refusing job {job.job_hash} after {machine.submit_retries + 1} attempts: {error}",
                submitted=ids,
                output=error,
            )
        logger.warning(
            "%s of job %s refused for now (%s); retry %d/%d in %.1f s",
            command,
            job.job_hash,
            error.splitlines()[-1] if error else "",
            attempt,
            machine.submit_retries,
            delay,
        )
        time.sleep(delay)
        delay = min(delay * 2, machine.retry_delay_max)
    return ids
