"""JH UniScheduler job states (``jjobs`` STAT) and what an ended job's record says."""

from __future__ import annotations

from dataclasses import dataclass

from dpdispatcher.JobStatus import JobStatus

#: ``jjobs`` STAT words -> JobStatus. The manual names PEND, PSUSP, RUN, USUSP, SSUSP, DONE and
#: EXIT; the others are those of LSF, whose table jjobs prints. The ended words map to
#: terminated: the job's tag files decide.
JH_STATES: dict[str, JobStatus] = {
    "PEND": JobStatus.waiting,  # waiting to be dispatched
    "PSUSP": JobStatus.waiting,  # suspended while pending (jsub -H, jctrl stop): it has not started
    "WAIT": JobStatus.waiting,  # (LSF) a chunk job waiting for its turn
    "PROV": JobStatus.waiting,  # (LSF) its host is being provisioned
    "RUN": JobStatus.running,  # running
    "USUSP": JobStatus.running,  # started, then suspended by its user: it resumes later
    "SSUSP": JobStatus.running,  # started, then suspended by the scheduler (load, preemption)
    "DONE": JobStatus.terminated,  # ended with exit code 0: the tags decide
    "EXIT": JobStatus.terminated,  # ended with a non-zero exit code, or killed
    "ZOMBI": JobStatus.terminated,  # (LSF) killed while its host did not answer
    "UNKWN": JobStatus.unknown,  # (LSF) the scheduler lost contact with its host: ask again
}

#: STAT words of a job that ended
JH_ENDED = frozenset({"DONE", "EXIT", "ZOMBI"})

#: TERM_ reasons (the LSF ones ``jjobs -l`` prints) worth words of their own
TERM_REASONS: dict[str, str] = {
    "TERM_OWNER": "was killed with jctrl kill",
    "TERM_ADMIN": "was killed by an administrator",
    "TERM_RUNLIMIT": "exceeded its run time limit",
    "TERM_CPULIMIT": "exceeded its CPU time limit",
    "TERM_MEMLIMIT": "exceeded its memory limit",
    "TERM_SWAP": "exceeded its swap limit",
    "TERM_PROCESSLIMIT": "exceeded its process limit",
    "TERM_FORCE_OWNER": "was killed with jctrl kill -f",
    "TERM_FORCE_ADMIN": "was killed by an administrator (forced)",
    "TERM_REQUEUE_OWNER": "was requeued by its owner",
    "TERM_PREEMPT": "was preempted",
    "TERM_UNKNOWN": "was ended by the scheduler",
}


@dataclass(frozen=True)
class JobRecord:
    """What ``jjobs -l`` says about an ended job."""

    job_id: str
    status: str = ""
    exit_code: int | None = None
    signal: int | None = None
    term: str = ""  # TERM_OWNER, TERM_RUNLIMIT, ...


def describe(job_id: str, record: JobRecord | None) -> str:
    """What a user is told about a job that ended without its finished tag."""
    if record is None:
        return f"JH_UniScheduler job {job_id} left the scheduler's records without its finished tag"
    words: list[str] = []
    if record.term:
        words.append(TERM_REASONS.get(record.term, "was ended by the scheduler"))
    if record.exit_code:
        words.append(f"exited with code {record.exit_code}" + ("" if record.term else " (a task failed)"))
    if record.signal is not None:
        words.append(f"was killed by signal {record.signal}")
    if not words:
        words.append("ended without its finished tag")
    facts = [f"Status {record.status}" if record.status else "", record.term]
    shown = ", ".join(f for f in facts if f)
    return f"JH_UniScheduler job {job_id} " + " and ".join(words) + (f" ({shown})" if shown else "")
