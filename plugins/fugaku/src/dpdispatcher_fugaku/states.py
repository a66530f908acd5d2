"""Fugaku (Fujitsu TCS job manager, PJM) job states and what an ended job's record says."""

from __future__ import annotations

from dataclasses import dataclass

from dpdispatcher.JobStatus import JobStatus

#: ``pjstat`` ST words (Job Operation Software End-user's Guide, "pjstat" output) -> JobStatus.
#: The ended words map to terminated: the job's tag files decide.
FUGAKU_STATES: dict[str, JobStatus] = {
    "ACC": JobStatus.waiting,  # submission accepted
    "QUE": JobStatus.waiting,  # waiting to run
    "RNA": JobStatus.waiting,  # acquiring the resources to run
    "RNP": JobStatus.running,  # running its prologue: resources assigned, the job is starting
    "RUN": JobStatus.running,  # running
    "RNE": JobStatus.completing,  # running its epilogue
    "RNO": JobStatus.completing,  # waiting for the end of its termination processing
    "SPP": JobStatus.waiting,  # being suspended
    "SPD": JobStatus.waiting,  # suspended: it resumes later
    "RSM": JobStatus.waiting,  # being resumed
    "HLD": JobStatus.waiting,  # held by a user (pjhold): it runs once released
    "EXT": JobStatus.terminated,  # ended: its exit code and the tags decide
    "CCL": JobStatus.terminated,  # cancelled (pjdel, a deadline, the job manager)
    "ERR": JobStatus.terminated,  # fixed after an error: it does not run again by itself
    "RJT": JobStatus.terminated,  # its submission was rejected
}

#: ST words of a job that will not run (any more): the tag files decide, and pjstat -H says why
FUGAKU_ENDED = frozenset({"EXT", "CCL", "ERR", "RJT"})

#: PJM CODE of an ended job (Fugaku User's Guide, "Checking when a job ends abnormally")
PJM_CODES: dict[int, str] = {
    1: "was cancelled with pjdel",
    2: "was rejected when it was submitted",
    3: "was refused by the job manager's exit function and did not run",
    4: "was held with pjhold",
    6: "was cancelled by its step job dependency and did not run",
    7: "was cancelled at its deadline",
    8: "was cancelled by the job manager's exit function and did not run",
    9: "ended while the job manager rebuilt its jobs (re-execution not allowed)",
    11: "exceeded its elapse time limit",
    12: "was killed for using more memory than allowed",
    13: "was killed for using more disk than allowed",
    16: "could not access its current directory or its standard input, output or error file",
    18: "was stopped so that another job or a deadline schedule could start",
    20: "lost a node (node down)",
    21: "could not start its shell",
    22: "failed on an interconnect (ICC) error",
    23: "was killed by the OOM killer",
    25: "failed on an HA (failover) error",
    26: "failed in its prologue or epilogue",
    27: "failed in the job resource management's exit processing",
}


@dataclass(frozen=True)
class HistoryRecord:
    """What ``pjstat -H -S`` says about an ended job (``-`` fields are None / empty)."""

    job_id: str
    state: str = ""
    pjm_code: int | None = None
    exit_code: int | None = None
    signal: int | None = None
    reason: str = ""


def describe(job_id: str, record: HistoryRecord | None) -> str:
    """What a user is told about a job that ended without its finished tag."""
    if record is None:
        return f"Fugaku job {job_id} left pjstat's listing without its finished tag (pjstat -H knows nothing of it)"
    words: list[str] = []
    if record.pjm_code:
        words.append(PJM_CODES.get(record.pjm_code, "was ended by the job manager"))
    if record.exit_code:
        words.append(f"exited with code {record.exit_code} (a task failed)")
    if record.signal is not None:
        words.append(f"was killed by signal {record.signal}")
    if not words:
        words.append("ended without its finished tag")
    facts = [
        f"ST {record.state}" if record.state else "",
        f"PJM CODE {record.pjm_code}" if record.pjm_code is not None else "",
    ]
    if record.exit_code is not None:
        facts.append(f"EXIT CODE {record.exit_code}")
    if record.reason:
        facts.append(f"REASON {record.reason}")
    shown = ", ".join(f for f in facts if f)
    return f"Fugaku job {job_id} " + " and ".join(words) + (f" ({shown})" if shown else "")
