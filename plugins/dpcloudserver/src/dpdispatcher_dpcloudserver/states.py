"""The ``status`` numbers of DP cloud jobs and what they mean to dpdispatcher (1.1.0's table)."""

from __future__ import annotations

from dpdispatcher.JobStatus import JobStatus

WAITING = frozenset({0, 3, 9})
RUNNING = frozenset({1, 4, 6})
FINISHED = 2
FAILED = -1
KILLED = 5
#: the job ended; its result archive (if any) and then the tag files decide finished or terminated
ENDED = frozenset({FINISHED, FAILED, KILLED})
#: stands for a record without a status
UNKNOWN_STATUS = -99


def active_state(status: int) -> JobStatus | None:
    """waiting/running for a job that has not ended, None for one that ended, unknown otherwise."""
    if status in WAITING:
        return JobStatus.waiting
    if status in RUNNING:
        return JobStatus.running
    if status in ENDED:
        return None
    return JobStatus.unknown
