"""Builders shared by the tests that run a batch type against a real scheduler or a scheduler double."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any, Callable

from dpdispatcher import Machine, Resources, Submission, Task
from dpdispatcher.testing import wait_until

#: check_interval of the runs against a double
CHECK_INTERVAL = 1
#: seconds any wait against a double may take
BOUND = 60
#: the task command of most runs: its output is its input
COPY = "cat in.txt > out.txt"


def scheduler_machine(tmp_path: Path, batch_type: str, **extra: Any) -> Machine:
    """``batch_type`` on LocalContext under ``tmp_path``, with a short backoff after transient refusals."""
    machine = Machine.load_from_dict(
        {
            "batch_type": batch_type,
            "context_type": "LocalContext",
            "local_root": str(tmp_path / "local"),
            "remote_root": str(tmp_path / "remote"),
            **extra,
        }
    )
    machine.retry_delay = 0.05
    return machine


def make_submission(
    machine: Machine, commands: list[str], group_size: int = 1, task_name: str | None = None, **resources: Any
) -> Submission:
    """One task per command, in ``wb/t<i>/`` with an ``in.txt`` (``input <i>``) to send and an ``out.txt`` to fetch."""
    work_base = Path(machine.context.init_local_root) / "wb"
    tasks = []
    for i, command in enumerate(commands):
        (work_base / f"t{i}").mkdir(parents=True, exist_ok=True)
        (work_base / f"t{i}" / "in.txt").write_text(f"input {i}\n")
        tasks.append(
            Task(
                command=command,
                task_work_path=f"t{i}/",
                forward_files=["in.txt"],
                backward_files=["out.txt"],
                task_name=task_name,
            )
        )
    res = Resources.load_from_dict(
        {
            "number_node": 1,
            "cpu_per_node": 1,
            "gpu_per_node": 0,
            "queue_name": "",
            "group_size": group_size,
            "batch_type": type(machine).__name__,
            **resources,
        }
    )
    return Submission("wb", machine=machine, resources=res, task_list=tasks)


def outputs(machine: Machine, n: int) -> list[str]:
    wb = Path(machine.context.init_local_root) / "wb"
    return [(wb / f"t{i}" / "out.txt").read_text() for i in range(n)]


def wait_for(predicate: Callable[[], bool], what: str, bound: float = BOUND) -> None:
    wait_until(predicate, what, bound, interval=0.05)


def count_polls(machine: Machine) -> list[int]:
    """The number of jobs of each status query from now on."""
    polls: list[int] = []
    original = machine.check_statuses

    def counted(jobs: Any) -> Any:
        polls.append(len(jobs))
        return original(jobs)

    machine.check_statuses = counted  # type: ignore[method-assign]
    return polls


def job_ids(remote: Path) -> list[str]:
    """The job ids recorded under ``remote`` so far (an id file being written is not one yet)."""
    ids = (Path(p).read_text().strip() for p in glob.glob(str(remote / "*" / "*_job_id")))
    return [job_id for job_id in ids if job_id]
