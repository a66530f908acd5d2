"""Task: one shell command run in its own directory."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from dpdispatcher.arginfo import check_and_normalize, quick_check, task_args
from dpdispatcher.records import load_config_file

#: one encoder for every task hash (``json.dumps(..., sort_keys=True)`` builds a new one per call)
_HASH_ENCODER = json.JSONEncoder(sort_keys=True)


class Task:
    """A command run in ``task_work_path`` (relative to the submission's work base).

    ``forward_files`` are uploaded into the task directory before it runs and
    ``backward_files`` brought back after; globs and directories are allowed.
    ``outlog``/``errlog`` receive stdout/stderr (``None``: not redirected, they go to the job's own output).
    """

    # a submission may hold a million tasks: no per-instance __dict__
    __slots__ = (
        "backward_files",
        "command",
        "errlog",
        "forward_files",
        "outlog",
        "task_hash",
        "task_name",
        "task_work_path",
    )

    def __init__(
        self,
        command: str,
        task_work_path: str,
        forward_files: list[str] | None = None,
        backward_files: list[str] | None = None,
        outlog: str | None = "log",
        errlog: str | None = "err",
        task_name: str | None = None,
    ) -> None:
        self.command = command
        self.task_work_path = task_work_path
        self.forward_files = list(forward_files or [])
        self.backward_files = list(backward_files or [])
        self.outlog = outlog
        self.errlog = errlog
        #: the scheduler's name for a job of this one task (see :meth:`Job.get_scheduler_name`)
        self.task_name = task_name
        data = self.serialize()
        quick_check(task_args, data, "task", self._looks_valid())
        self.task_hash = _hash(data)

    def _looks_valid(self) -> bool:
        """The config loader's checks, without its cost (a submission builds many tasks)."""
        return (
            isinstance(self.command, str)
            and isinstance(self.task_work_path, str)
            and all(isinstance(f, str) for f in (*self.forward_files, *self.backward_files))
            and all(v is None or isinstance(v, str) for v in (self.outlog, self.errlog, self.task_name))
        )

    def __repr__(self) -> str:
        return str(self.serialize())  # as the published package shows a task

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Task) and self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash(self.task_hash)

    @property
    def finish_tag(self) -> str:
        """File the job script leaves in the job root when this task exited 0."""
        return f"{self.task_hash}_task_tag_finished"

    @property
    def fail_file(self) -> str:
        """File the job script leaves in the job root when this task failed: exit code and errlog tail."""
        return f"{self.task_hash}_task_fail"

    def get_hash(self) -> str:
        return _hash(self.serialize())

    def serialize(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "command": self.command,
            "task_work_path": self.task_work_path,
            "forward_files": self.forward_files,
            "backward_files": self.backward_files,
            "outlog": self.outlog,
            "errlog": self.errlog,
        }
        if self.task_name is not None:  # absent otherwise: the hash of a task without a name is unchanged
            data["task_name"] = self.task_name
        return data

    @classmethod
    def deserialize(cls, task_dict: dict[str, Any]) -> Task:
        return cls(**task_dict)

    @classmethod
    def load_from_dict(cls, task_dict: dict[str, Any]) -> Task:
        return cls.deserialize(check_and_normalize(task_args(), task_dict, "task"))

    @classmethod
    def load_from_json(cls, json_file: str | os.PathLike[str]) -> Task:
        return cls.load_from_dict(load_config_file(json_file))

    load_from_yaml = load_from_json

    @staticmethod
    def arginfo() -> Any:
        return task_args()


def _hash(serialized: dict[str, Any]) -> str:
    return hashlib.sha1(_HASH_ENCODER.encode(serialized).encode()).hexdigest()
