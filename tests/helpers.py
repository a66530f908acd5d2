"""Builders shared by the core, shell and local tests."""

from __future__ import annotations

from pathlib import Path

from dpdispatcher import Machine, Resources, Submission, Task


def local_machine(tmp_path: Path, context: str = "LocalContext", **extra) -> Machine:
    return Machine.load_from_dict(
        {
            "batch_type": "Shell",
            "context_type": context,
            "local_root": str(tmp_path / "local"),
            "remote_root": str(tmp_path / "remote"),
            **extra,
        }
    )


def write_tasks(work_base: Path, n: int, name: str = "in.txt") -> None:
    for i in range(n):
        (work_base / f"t{i}").mkdir(parents=True, exist_ok=True)
        (work_base / f"t{i}" / name).write_text(f"{i}\n")


def copy_submission(
    machine: Machine, n: int = 4, group_size: int = 2, command: str = "cp in.txt out.txt", **resources
) -> Submission:
    work_base = Path(machine.context.init_local_root) / "wb"
    write_tasks(work_base, n)
    tasks = [
        Task(command=command, task_work_path=f"t{i}/", forward_files=["in.txt"], backward_files=["out.txt"])
        for i in range(n)
    ]
    res = Resources.load_from_dict({"group_size": group_size, **resources})
    return Submission("wb", machine=machine, resources=res, task_list=tasks)
