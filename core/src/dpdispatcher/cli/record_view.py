"""What a submission's record says, read from the record alone (no plugin, no connection needed)."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dpdispatcher.JobStatus import JobStatus


@dataclass(frozen=True)
class RecordedJob:
    job_hash: str
    job_id: str
    state: JobStatus
    fail_count: int
    n_tasks: int


def recorded_jobs(record: dict[str, Any]) -> list[RecordedJob]:
    """The jobs of a (checked, unfinished) record, with the states saved in it."""
    jobs = []
    for entry in record["belonging_jobs"]:
        ((job_hash, body),) = entry.items()
        jobs.append(
            RecordedJob(
                job_hash=job_hash,
                job_id=str(body.get("job_id") or ""),
                state=state_of(body.get("job_state", JobStatus.unsubmitted)),
                fail_count=int(body.get("fail_count", 0)),
                n_tasks=len(body["job_task_list"]),
            )
        )
    return jobs


def state_of(value: Any) -> JobStatus:
    try:
        return JobStatus(int(value))
    except (TypeError, ValueError):
        return JobStatus.unknown


def count_states(states: Iterable[JobStatus]) -> dict[str, int]:
    """How many jobs are in each state (by name), most first."""
    counts = Counter(state.name for state in states)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def states_text(states: Iterable[JobStatus]) -> str:
    """``2 finished, 1 waiting``; ``no jobs yet`` when there are none."""
    return ", ".join(f"{n} {name}" for name, n in count_states(states).items()) or "no jobs yet"


def machine_label(record: dict[str, Any]) -> str:
    """``Slurm on SSHContext (login.hpc)``: where the record says the jobs run."""
    machine = record.get("machine") or {}
    if not isinstance(machine, dict) or not machine.get("batch_type"):
        return "-"
    label = f"{machine['batch_type']} on {machine.get('context_type') or '?'}"
    profile = machine.get("remote_profile")
    host = profile.get("hostname") if isinstance(profile, dict) else None
    return f"{label} ({host})" if host else label


def work_base(record: dict[str, Any]) -> str:
    """The work base on this machine: machine/local_root joined with work_base (or where a finished run's results are)."""
    if "finished" in record:
        return str(record["finished"].get("results", "?"))
    machine = record.get("machine") or {}
    local_root = machine.get("local_root") if isinstance(machine, dict) else None
    return os.path.normpath(os.path.join(local_root or ".", record["work_base"]))


def age(seconds: float) -> str:
    """``45s``, ``12m``, ``3h``, ``2d``."""
    seconds = max(seconds, 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))
