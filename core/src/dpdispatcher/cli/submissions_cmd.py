"""``dpdisp submissions``: the submissions recorded on this machine, newest first."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dpdispatcher.cli.record_view import age, count_states, machine_label, recorded_jobs, work_base
from dpdispatcher.errors import RecordError
from dpdispatcher.records import dpdispatcher_home
from dpdispatcher.submission_record import read_record


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "submissions",
        help="list the submissions recorded on this machine (running, stopped and finished)",
        description="List the submission records under $DPDISPATCHER_HOME/submission (default "
        "~/.dpdispatcher/submission): hash, age (time since the record was last written), machine, "
        "jobs by state as last saved, work base. `dpdisp submission HASH` asks the scheduler for the live state.",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)


@dataclass
class Listed:
    """One record: for a finished submission ``finished_tasks``, else the number of ``jobs`` in each state."""

    hash: str
    age_seconds: float
    machine: str = "-"
    jobs: dict[str, int] = field(default_factory=dict)
    finished_tasks: int | None = None
    work_base: str = "-"
    problem: str = ""

    def jobs_text(self) -> str:
        if self.finished_tasks is not None:
            return f"finished ({self.finished_tasks} tasks)"
        return ", ".join(f"{n} {state}" for state, n in self.jobs.items()) or "no jobs yet"


def records_dir() -> Path:
    return dpdispatcher_home() / "submission"


def list_submissions(now: float | None = None) -> list[Listed]:
    """Every record in :func:`records_dir`, newest first; a damaged one is listed with its problem."""
    now = time.time() if now is None else now
    listed = []
    for path in records_dir().glob("*.json"):
        submission_hash = path.stem
        try:
            written = path.stat().st_mtime
            record = read_record(path, submission_hash)
        except (OSError, RecordError) as err:
            listed.append(Listed(submission_hash, 0.0, problem=str(err)))
            continue
        if record is None:  # removed while we listed
            continue
        listed.append(_describe(submission_hash, record, now - written, now))
    return sorted(listed, key=lambda item: item.age_seconds)


def _describe(submission_hash: str, record: dict[str, Any], since_written: float, now: float) -> Listed:
    if "finished" in record:
        finished = record["finished"]
        tasks = finished.get("tasks")
        return Listed(
            submission_hash,
            now - finished["at"],
            finished_tasks=tasks if isinstance(tasks, int) else 0,
            work_base=work_base(record),
        )
    return Listed(
        submission_hash,
        since_written,
        machine=machine_label(record),
        jobs=count_states(job.state for job in recorded_jobs(record)),
        work_base=work_base(record),
    )


def print_table(listed: list[Listed]) -> None:
    if not listed:
        print(f"no submissions recorded in {records_dir()}")
        return
    rows = [("HASH", "AGE", "MACHINE", "JOBS", "WORK BASE")]
    for item in listed:
        if item.problem:
            rows.append((item.hash, "-", "-", "DAMAGED", item.problem))
        else:
            rows.append((item.hash, age(item.age_seconds), item.machine, item.jobs_text(), item.work_base))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join([*(cell.ljust(width) for cell, width in zip(row, widths)), row[-1]]))


def run(args: argparse.Namespace) -> int:
    listed = list_submissions()
    if args.json:
        print(json.dumps([asdict(item) for item in listed], indent=2))
    else:
        print_table(listed)
    return 0
