"""Slurm job states: what each one means to dpdispatcher, and how squeue/sacct print them."""

from __future__ import annotations

import re

from dpdispatcher.JobStatus import JobStatus

#: job states (long names as ``squeue %T`` and ``sacct State`` print them) -> JobStatus.
#: COMPLETED maps to finished; every other ended state to terminated.
STATE_MAP: dict[str, JobStatus] = {
    # not running yet, or held/stopped but still alive
    "PENDING": JobStatus.waiting,
    "CONFIGURING": JobStatus.waiting,
    "REQUEUED": JobStatus.waiting,
    "REQUEUE_FED": JobStatus.waiting,
    "REQUEUE_HOLD": JobStatus.waiting,
    "RESV_DEL_HOLD": JobStatus.waiting,
    "SUSPENDED": JobStatus.waiting,
    "STOPPED": JobStatus.waiting,
    "POWER_UP_NODE": JobStatus.waiting,
    # running
    "RUNNING": JobStatus.running,
    "RESIZING": JobStatus.running,
    "SIGNALING": JobStatus.running,
    "UPDATE_DB": JobStatus.running,
    # finishing
    "COMPLETING": JobStatus.completing,
    "STAGE_OUT": JobStatus.completing,
    # ended
    "COMPLETED": JobStatus.finished,
    "FAILED": JobStatus.terminated,
    "CANCELLED": JobStatus.terminated,
    "TIMEOUT": JobStatus.terminated,
    "OUT_OF_MEMORY": JobStatus.terminated,
    "NODE_FAIL": JobStatus.terminated,
    "PREEMPTED": JobStatus.terminated,
    "BOOT_FAIL": JobStatus.terminated,
    "DEADLINE": JobStatus.terminated,
    "SPECIAL_EXIT": JobStatus.terminated,
    "REVOKED": JobStatus.terminated,
    "LAUNCH_FAILED": JobStatus.terminated,
}

#: the compact codes (``squeue %t``, ``sacct -o State%2``) of the same states
SHORT_STATES = {
    "PD": "PENDING",
    "CF": "CONFIGURING",
    "RQ": "REQUEUED",
    "RF": "REQUEUE_FED",
    "RH": "REQUEUE_HOLD",
    "RD": "RESV_DEL_HOLD",
    "S": "SUSPENDED",
    "ST": "STOPPED",
    "R": "RUNNING",
    "RS": "RESIZING",
    "SI": "SIGNALING",
    "CG": "COMPLETING",
    "SO": "STAGE_OUT",
    "CD": "COMPLETED",
    "F": "FAILED",
    "CA": "CANCELLED",
    "TO": "TIMEOUT",
    "OOM": "OUT_OF_MEMORY",
    "NF": "NODE_FAIL",
    "PR": "PREEMPTED",
    "BF": "BOOT_FAIL",
    "DL": "DEADLINE",
    "SE": "SPECIAL_EXIT",
    "RV": "REVOKED",
}

#: JobStatus values of a job still in the scheduler's hands
ACTIVE = (JobStatus.running, JobStatus.completing, JobStatus.waiting)

#: what a user is told about a job that ended in these states
FAILURE_WORDS = {
    "FAILED": "failed (non-zero exit)",
    "CANCELLED": "was cancelled",
    "TIMEOUT": "timed out (hit its time limit)",
    "OUT_OF_MEMORY": "ran out of memory",
    "NODE_FAIL": "lost its node (node failure)",
    "PREEMPTED": "was preempted",
    "BOOT_FAIL": "could not boot its node",
    "DEADLINE": "passed its deadline",
    "SPECIAL_EXIT": "ended in SPECIAL_EXIT",
    "REVOKED": "was revoked",
    "LAUNCH_FAILED": "failed to launch",
}

#: lines slurmstepd writes into a job's output when it ends it, and what they mean
STEPD_PATTERNS = [
    ("DUE TO TIME LIMIT", "TIMEOUT"),
    ("DUE TO PREEMPTION", "PREEMPTED"),
    ("DUE TO NODE FAILURE", "NODE_FAIL"),
    ("oom-kill", "OUT_OF_MEMORY"),
    ("Out Of Memory", "OUT_OF_MEMORY"),
    ("CANCELLED", "CANCELLED"),
]


def normalize_state(word: str) -> str:
    """``CANCELLED by 0`` -> ``CANCELLED``; ``CD`` -> ``COMPLETED``; ``RUNNING+`` -> ``RUNNING``."""
    word = word.strip().split(" ", 1)[0].rstrip("+").upper()
    return SHORT_STATES.get(word, word)


def state_from_stepd(text: str) -> str:
    """The state a ``slurmstepd`` line of a job's output names (``TIMEOUT``, ...), or ''."""
    for pattern, state in STEPD_PATTERNS:
        if pattern in text:
            return state
    return ""


def describe_state(job_id: str, state: str) -> str:
    """What a user is told about a job that ended in ``state`` ('' for COMPLETED or no state)."""
    if not state or state == "COMPLETED":
        return ""
    words = FAILURE_WORDS.get(state, f"ended in state {state}")
    return f"Slurm job {job_id} {words} ({state})"


def base_id(job_id: str) -> str:
    """The Slurm job id of ``job_id`` as recorded (``123``, ``123;cluster``, ``123_4``, ``123+0``) or ''."""
    match = re.match(r"\s*(\d+)", job_id or "")
    return match.group(1) if match else ""


def parse_rows(text: str, sep: str | None = None) -> dict[str, dict[str, str]]:
    """``{base id: {element: state}}`` from ``ID STATE`` lines of squeue or sacct.

    ``element`` is '' for a plain job, the array index (``4``) or the pending
    range (``[5-9%2]``) for array elements, the component (``0`` of ``14+0``) of a heterogeneous job.
    """
    rows: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        fields = line.strip().split(sep, 2) if sep else line.split(None, 1)
        if len(fields) < 2:
            continue
        match = re.match(r"(\d+)(?:[_+](\S*))?$", fields[0].strip())
        if not match:
            continue
        rows.setdefault(match.group(1), {})[match.group(2) or ""] = normalize_state(fields[1])
    return rows
