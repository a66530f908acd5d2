"""Reading a submission's record safely, and the small record a finished submission leaves.

A record is read only through :func:`read_record`: a file that is not valid JSON, or
not the shape a record has, is a :class:`RecordError` naming the file and the way out,
never a raw traceback. A finished submission replaces its record with a
:func:`finished_record` (no jobs, no remote state), so running the same program again
returns at once while the results are in place.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from dpdispatcher.errors import RecordError

#: keys (and their types) every record of a running or stopped submission has
RECORD_KEYS: dict[str, type | tuple[type, ...]] = {
    "work_base": str,
    "resources": dict,
    "belonging_jobs": list,
}
JOB_KEYS: dict[str, type | tuple[type, ...]] = {"job_task_list": list, "resources": dict}


def way_out(submission_hash: str) -> str:
    return (
        f"run your program again (it rebuilds the state from the job root and submits nothing twice), "
        f"or `dpdisp submission {submission_hash} --repair --machine MACHINE.json`"
    )


def parse_record(text: str, where: str, submission_hash: str) -> dict[str, Any]:
    """The record in ``text`` (read from ``where``), checked; a :class:`RecordError` if it is damaged."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise RecordError(
            f"the record {where} is damaged ({err.msg} at line {err.lineno} column {err.colno}); "
            + way_out(submission_hash)
        ) from None
    problem = _shape_problem(data)
    if problem:
        raise RecordError(f"the record {where} is damaged ({problem}); " + way_out(submission_hash))
    return data  # checked by _shape_problem


def read_record(path: Path, submission_hash: str) -> dict[str, Any] | None:
    """The record at ``path``, checked; None when there is none."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise RecordError(f"cannot read the record {path} ({err}); " + way_out(submission_hash)) from None
    return parse_record(text, str(path), submission_hash)


def _shape_problem(data: Any) -> str:
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__} instead of an object"
    if "finished" in data:
        finished = data["finished"]
        if not isinstance(finished, dict) or not isinstance(finished.get("at"), (int, float)):
            return "a finished record without its time"
        return ""
    for key, kind in RECORD_KEYS.items():
        if not isinstance(data.get(key), kind):
            return f"'{key}' is missing or not a {_names(kind)}"
    for index, job in enumerate(data["belonging_jobs"]):
        if not isinstance(job, dict) or len(job) != 1:
            return f"belonging_jobs[{index}] is not one job"
        ((_, body),) = job.items()
        for key, kind in JOB_KEYS.items():
            if not isinstance(body, dict) or not isinstance(body.get(key), kind):
                return f"belonging_jobs[{index}]/{key} is missing or not a {_names(kind)}"
    return ""


def _names(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join({"dict": "object", "list": "list", "str": "string"}.get(k.__name__, k.__name__) for k in kinds)


def finished_record(submission_hash: str, results: str, n_tasks: int) -> dict[str, Any]:
    """What a finished submission leaves behind: when, where its results are, how many tasks."""
    return {"submission_hash": submission_hash, "finished": {"at": time.time(), "results": results, "tasks": n_tasks}}


def is_finished(record: dict[str, Any] | None) -> bool:
    return record is not None and "finished" in record


def describe_finished(record: dict[str, Any]) -> str:
    finished = record["finished"]
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(finished["at"]))
    return f"finished at {when}, results in {finished.get('results', '?')} ({finished.get('tasks', '?')} task(s))"
