"""One measurement of the scale suite, in a child process of ours or of dpdispatcher==1.1.0.

Run by ``bench/scale.py`` as ``PYTHON bench/scale_child.py`` with a JSON spec on standard input; it writes
one JSON result to the file the spec names (the package's own log goes to standard output). It uses only
the API both packages share, so the same file times either of them:

* ``"mode": "run"`` -- ``run_submission()`` with default settings; the result has ``seconds`` (its wall
  time) and ``returned`` (the epoch when it returned, for the lag after the last task);
* ``"mode": "build"`` -- build the tasks, the Submission and its jobs, bind the context and write every
  job script, nothing submitted; the result has ``seconds``, ``peak_mb`` (``ru_maxrss`` of this process)
  and ``scripts`` (files in the job root).

A failure is ``{"error": "<type>: <message>"}``. The tasks are described compactly (count, directory
pattern, command with ``{i}``) so that a million of them cost nothing to send.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from typing import Any


def make_tasks(spec: dict[str, Any]) -> list[Any]:
    from dpdispatcher import Task

    n: int = spec["n"]
    directory: str = spec["dir"]
    command: str = spec["command"]
    return [
        Task(
            command=command.replace("{i}", str(i)),
            task_work_path=directory.replace("{i}", f"{i:06d}"),
            forward_files=list(spec.get("forward_files", [])),
            backward_files=list(spec.get("backward_files", [])),
        )
        for i in range(n)
    ]


def make_machine(case: dict[str, Any]) -> tuple[Any, Any]:
    """The machine and resources (this loads the package's backends: a fixed cost, never timed)."""
    from dpdispatcher import Machine, Resources

    return Machine.load_from_dict(case["machine"]), Resources.load_from_dict(case["resources"])


def make_submission(case: dict[str, Any], machine: Any, resources: Any) -> Any:
    from dpdispatcher import Submission

    tasks = make_tasks(case["tasks"])
    return Submission(work_base="work", machine=machine, resources=resources, task_list=tasks)


def run(case: dict[str, Any]) -> dict[str, Any]:
    submission = make_submission(case, *make_machine(case))
    start = time.perf_counter()
    submission.run_submission()  # default settings in both packages
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "returned": time.time()}


def build(case: dict[str, Any]) -> dict[str, Any]:
    machine, resources = make_machine(case)
    start = time.perf_counter()
    submission = make_submission(case, machine, resources)
    submission.generate_jobs()
    context = machine.context
    context.bind_submission(submission)
    os.makedirs(context.remote_root, exist_ok=True)
    if hasattr(submission, "write_job_scripts"):  # ours: every script in one batched write
        submission.write_job_scripts()
    else:  # 1.1.0: one script at a time
        for job in submission.belonging_jobs:
            context.write_file(job.script_file_name, machine.gen_script(job))
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"seconds": seconds, "peak_mb": peak_mb, "scripts": len(os.listdir(context.remote_root))}


def cap_memory(megabytes: int | None) -> None:
    """Bound the address space, so that a package that needs too much fails here instead of the machine."""
    if megabytes:
        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main() -> None:
    case = json.load(sys.stdin)
    cap_memory(case.get("memory_cap_mb"))
    try:
        result = build(case) if case["mode"] == "build" else run(case)
    except Exception as err:  # MemoryError included: the figure is the failure
        result = {"error": f"{type(err).__name__}: {err}"}
    with open(case["results"], "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
