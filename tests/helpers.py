"""Builders shared by the core, shell and local tests."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from dpdispatcher import Machine, Resources, Submission, Task

#: Comma-separated services (e.g. "slurm,ssh") that must be reachable: CI sets it so
#: that tests needing them fail instead of skipping.
REQUIRE_ENV = "DPDISPATCHER_REQUIRE_SERVICES"


def skip_or_fail(service: str, reason: str) -> None:
    """Skip a test whose service is missing, unless CI declared the service required."""
    required = {s.strip() for s in os.environ.get(REQUIRE_ENV, "").split(",") if s.strip()}
    if service in required:
        pytest.fail(f"{service} is required ({REQUIRE_ENV}) but unavailable: {reason}", pytrace=False)
    pytest.skip(f"{service} unavailable: {reason}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def one_task_jobs(local_root: Path, n: int, work_base: str = "wb") -> Submission:
    """``n`` one-task jobs (``echo i > out.txt``, the commonest workload) in ``local_root/work_base``; no machine yet."""
    for i in range(n):
        (local_root / work_base / f"task.{i:05d}").mkdir(parents=True)
    tasks = [
        Task(command=f"echo {i} > out.txt", task_work_path=f"task.{i:05d}/", backward_files=["out.txt"])
        for i in range(n)
    ]
    return Submission(work_base, resources=Resources(group_size=1), task_list=tasks)


def one_task_outputs(local_root: Path, work_base: str = "wb") -> list[str]:
    """The out.txt of every task that came back, sorted."""
    return sorted(p.read_text() for p in (local_root / work_base).glob("task.*/out.txt"))


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


class CommandWrappers:
    """Wrappers first on PATH, one per real command: they log each call and exec the real one.

    ``fail(cmd, n, message)`` makes the next ``n`` calls of ``cmd`` print ``message`` and exit 1.
    """

    def __init__(self, root: Path, real: dict[str, str]) -> None:
        self.bin = root / "bin"
        self.logs = root / "logs"
        self.faults = root / "faults"
        for d in (self.bin, self.logs, self.faults):
            d.mkdir(parents=True)
        for cmd, path in real.items():
            wrapper = self.bin / cmd
            wrapper.write_text(
                "#!/bin/bash\n"
                f'printf "%s\\n" "$*" >> {self.logs / cmd}\n'
                f"fault={self.faults / cmd}\n"
                'if [ -s "$fault" ]; then\n'
                '  n=$(head -1 "$fault"); msg=$(tail -n +2 "$fault")\n'
                '  if [ "$n" -gt 0 ]; then\n'
                '    { echo $((n - 1)); echo "$msg"; } > "$fault"\n'
                '    echo "$msg" >&2; exit 1\n'
                "  fi\n"
                "fi\n"
                f'exec {path} "$@"\n'
            )
            wrapper.chmod(0o755)
        self.path = f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}"

    def calls(self, cmd: str) -> list[str]:
        log = self.logs / cmd
        return log.read_text().splitlines() if log.exists() else []

    def count(self, cmd: str) -> int:
        return len(self.calls(cmd))

    def fail(self, cmd: str, n: int, message: str) -> None:
        (self.faults / cmd).write_text(f"{n}\n{message}\n")

    def faults_left(self, cmd: str) -> int:
        """How many of the failures asked for with :meth:`fail` have not happened yet."""
        fault = self.faults / cmd
        return int(fault.read_text().split("\n", 1)[0]) if fault.exists() else 0


def write_submission_file(tmp_path: Path, **machine: object) -> Path:
    """A submission file of three quick tasks (Shell on LocalContext, two jobs, a common forward file), its
    roots under tmp_path; ``machine`` adds machine keys. Each task writes ``hello <i>`` and the common file
    ``g`` to its ``out.txt``."""
    work = tmp_path / "work"
    for i in range(3):
        (work / f"d{i}").mkdir(parents=True)
        (work / f"d{i}" / "example.txt").write_text(f"hello {i}\n")
    (work / "graph.pb").write_text("g\n")
    data = {
        "work_base": "work/",
        "machine": {
            "batch_type": "Shell",
            "context_type": "LocalContext",
            "local_root": "./",
            "remote_root": str(tmp_path / "remote"),
            **machine,
        },
        "resources": {"number_node": 1, "cpu_per_node": 1, "gpu_per_node": 0, "queue_name": "", "group_size": 2},
        "task_list": [
            {
                "command": "cat example.txt ../graph.pb",
                "task_work_path": f"d{i}/",
                "forward_files": ["example.txt"],
                "backward_files": ["out.txt"],
                "outlog": "out.txt",
            }
            for i in range(3)
        ],
        "forward_common_files": ["graph.pb"],
        "backward_common_files": [],
    }
    path = tmp_path / "submission.json"
    path.write_text(json.dumps(data))
    return path
